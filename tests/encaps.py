"""The link layers and encapsulations rstlab reads, each as a frame builder around the IP packets
of the standard conversation (``Conv.handshake_data_rst``): one table shared by the tests
(``test_links.py``) and the fuzz seeds (``rust/rstlab-trace/fuzz/make_seeds.py``).

Pure ``capwriter`` (plain ``struct`` from the specifications), nothing from rstlab.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from capwriter import (
    Conv,
    ayiya,
    cisco_hdlc,
    erspan2,
    erspan3,
    ethernet,
    fabricpath,
    fddi,
    geneve,
    geneve_option,
    gre,
    gtpu,
    ieee8023,
    ieee80211_data,
    ipv4,
    ipv6,
    llc_ip,
    llc_snap,
    mpls,
    nflog,
    pbb,
    ppp,
    pppoe_session,
    radiotap,
    sll,
    sll2,
    teredo,
    udp,
    vntag,
    vxlan,
)

V4 = ("192.0.2.10", "198.51.100.20", 51000, 443)
V6 = ("2001:db8::10", "2001:db8:1::20", 51000, 443)
# Who sends each segment of Conv.handshake_data_rst: client, server, client, client, server.
DIRS = [True, False, True, True, False]
# Tunnel endpoints (the outer header), swapped for the server's segments.
T4 = ("203.0.113.1", "203.0.113.2")
T6 = ("2001:db8:ffff::1", "2001:db8:ffff::2")

Build = Callable[[bytes, bool], bytes]


def out4(proto: int, payload: bytes, c: bool) -> bytes:
    a, b = T4 if c else T4[::-1]
    return ipv4(a, b, proto, payload)


def out6(proto: int, payload: bytes, c: bool) -> bytes:
    a, b = T6 if c else T6[::-1]
    return ipv6(a, b, proto, payload)


def eth4(proto: int, payload: bytes, c: bool) -> bytes:
    """Ethernet, outer IPv4 between the tunnel endpoints, then ``payload`` as protocol ``proto``."""
    return ethernet(0x0800, out4(proto, payload, c))


def udp4(port: int, payload: bytes, c: bool, *, both: bool = False) -> bytes:
    """A UDP datagram to ``port`` from an ephemeral port (both ends ``port`` with ``both``)."""
    eph = port if both else 50123
    sp, dp = (eph, port) if c else (port, eph)
    return eth4(17, udp(sp, dp, payload), c)


def eth_ip(ip: bytes) -> bytes:
    return ethernet(0x86DD if ip[0] >> 4 == 6 else 0x0800, ip)


def et(ip: bytes) -> int:
    return 0x86DD if ip[0] >> 4 == 6 else 0x0800


# name, LINKTYPE_*, IPv6 inside?, frame builder (IP packet, from client?) -> frame
CASES: list[tuple[str, int, bool, Build]] = [
    # IEEE 802.3 length frames: 802.2 LLC / SNAP.
    ("8023_snap", 1, False, lambda ip, c: ieee8023(llc_snap(0x0800, ip))),
    ("8023_snap_v6", 1, True, lambda ip, c: ieee8023(llc_snap(0x86DD, ip))),
    ("8023_snap_8021h_oui", 1, False, lambda ip, c: ieee8023(llc_snap(0x0800, ip, oui=0xF8))),
    ("8023_llc_ip_sap", 1, False, lambda ip, c: ieee8023(llc_ip(ip))),
    ("8023_vlan_snap", 1, False, lambda ip, c: ieee8023(llc_snap(0x0800, ip), vlans=[(0x8100, 5)])),
    # Linux cooked captures of 802.2 frames (protocol ETH_P_802_2, not an EtherType).
    ("sll_llc_snap", 113, False, lambda ip, c: sll(0x0004, llc_snap(0x0800, ip))),
    ("sll2_llc_snap_v6", 276, True, lambda ip, c: sll2(0x0004, llc_snap(0x86DD, ip))),
    # FDDI with 802.2 SNAP.
    ("fddi", 10, False, lambda ip, c: fddi(llc_snap(0x0800, ip))),
    ("fddi_v6", 10, True, lambda ip, c: fddi(llc_snap(0x86DD, ip))),
    # PPP (RFC 1661 / 1662), PPP serial, Cisco HDLC, PPPoE.
    ("ppp", 9, False, lambda ip, c: ppp(0x0021, ip)),
    ("ppp_unframed_v6", 9, True, lambda ip, c: ppp(0x0057, ip, framed=False)),
    ("ppp_compressed_protocol", 9, False, lambda ip, c: ppp(0x21, ip, compressed=True)),
    ("ppp_mpls", 9, False, lambda ip, c: ppp(0x0281, mpls([100], ip))),
    ("ppp_serial", 50, False, lambda ip, c: ppp(0x0021, ip)),
    ("ppp_serial_v6", 50, True, lambda ip, c: ppp(0x0057, ip)),
    ("ppp_serial_cisco_hdlc", 50, False, lambda ip, c: cisco_hdlc(0x0800, ip)),
    ("c_hdlc_v6", 104, True, lambda ip, c: cisco_hdlc(0x86DD, ip)),
    ("pppoe", 1, False, lambda ip, c: ethernet(0x8864, pppoe_session(ppp(0x0021, ip, framed=False)))),
    ("pppoe_v6_in_vlan", 1, True,
     lambda ip, c: ethernet(0x8864, pppoe_session(ppp(0x0057, ip, framed=False)), vlans=[(0x8100, 9)])),
    # IEEE 802.11 data frames, bare and under radiotap.
    ("ieee80211", 105, False, lambda ip, c: ieee80211_data(llc_snap(0x0800, ip))),
    ("ieee80211_qos_from_ds_v6", 105, True,
     lambda ip, c: ieee80211_data(llc_snap(0x86DD, ip), qos=True, to_ds=False, from_ds=True)),
    ("ieee80211_wds", 105, False, lambda ip, c: ieee80211_data(llc_snap(0x0800, ip), to_ds=True, from_ds=True)),
    ("radiotap", 127, False, lambda ip, c: radiotap(ieee80211_data(llc_snap(0x0800, ip)))),
    ("radiotap_qos_v6", 127, True, lambda ip, c: radiotap(ieee80211_data(llc_snap(0x86DD, ip), qos=True))),
    # NFLOG (its TLVs in the little-endian capturing host's order; big-endian below).
    ("nflog", 239, False, lambda ip, c: nflog(2, ip)),
    ("nflog_v6", 239, True, lambda ip, c: nflog(10, ip)),
    # Tags and frames inside frames.
    ("vlan_mpls", 1, False, lambda ip, c: ethernet(0x8847, mpls([16, 17], ip), vlans=[(0x8100, 3)])),
    ("mpls_v6", 1, True, lambda ip, c: ethernet(0x8847, mpls([16], ip))),
    ("pbb", 1, False, lambda ip, c: ethernet(0x88E7, pbb(0x0800, ip))),
    ("pbb_in_qinq_v6", 1, True, lambda ip, c: ethernet(0x88E7, pbb(0x86DD, ip), vlans=[(0x88A8, 20)])),
    ("vntag", 1, False, lambda ip, c: ethernet(0x8926, vntag(0x0800, ip))),
    ("vntag_vlan_v6", 1, True, lambda ip, c: ethernet(0x8926, vntag(0x8100, struct.pack("!HH", 7, 0x86DD) + ip))),
    ("fabricpath", 1, False, lambda ip, c: fabricpath(ethernet(0x0800, ip))),
    ("fabricpath_vlan_v6", 1, True, lambda ip, c: fabricpath(ethernet(0x86DD, ip, vlans=[(0x8100, 11)]))),
    # IP in IP.
    ("ipip", 1, False, lambda ip, c: eth4(4, ip, c)),
    ("6in4", 1, True, lambda ip, c: eth4(41, ip, c)),
    ("4in6", 1, False, lambda ip, c: ethernet(0x86DD, out6(4, ip, c))),
    # GRE in its forms.
    ("gre", 1, False, lambda ip, c: eth4(47, gre(0x0800, ip), c)),
    ("gre_csum_key_seq_v6", 1, True, lambda ip, c: eth4(47, gre(0x86DD, ip, checksum=True, key=7, seq=1), c)),
    ("gre_rfc1701_routing", 1, False, lambda ip, c: eth4(47, gre(0x0800, ip, routing=[bytes([10, 0, 0, 1])]), c)),
    ("gre_over_ipv6", 1, False, lambda ip, c: ethernet(0x86DD, out6(47, gre(0x0800, ip), c))),
    ("gre_teb", 1, False, lambda ip, c: eth4(47, gre(0x6558, eth_ip(ip)), c)),
    ("gre_mpls", 1, False, lambda ip, c: eth4(47, gre(0x8847, mpls([30], ip)), c)),
    ("erspan_i", 1, False, lambda ip, c: eth4(47, gre(0x88BE, eth_ip(ip)), c)),
    ("erspan_ii", 1, False, lambda ip, c: eth4(47, gre(0x88BE, erspan2(eth_ip(ip)), seq=3), c)),
    ("erspan_iii", 1, False, lambda ip, c: eth4(47, gre(0x22EB, erspan3(eth_ip(ip)), seq=4), c)),
    ("erspan_iii_platform_v6", 1, True, lambda ip, c: eth4(47, gre(0x22EB, erspan3(eth_ip(ip), platform=True), seq=5), c)),
    ("pptp_enhanced_gre", 1, False,
     lambda ip, c: eth4(47, gre(0x880B, ppp(0x0021, ip), version=1, key=((len(ip) + 4) << 16) | 9, seq=1, ack=1), c)),
    ("aruba_gre_80211", 1, False, lambda ip, c: eth4(47, gre(0x8210, ieee80211_data(llc_snap(0x0800, ip))), c)),
    ("gre_in_udp", 1, False, lambda ip, c: udp4(4754, gre(0x0800, ip), c)),
    # UDP tunnels.
    ("vxlan", 1, False, lambda ip, c: udp4(4789, vxlan(eth_ip(ip)), c)),
    ("geneve", 1, False, lambda ip, c: udp4(6081, geneve(0x6558, eth_ip(ip)), c)),
    ("geneve_options_v6", 1, True,
     lambda ip, c: udp4(6081, geneve(0x6558, eth_ip(ip), options=geneve_option(0x0102, 0x80, b"\0\0\0\x07")
                                     + geneve_option(0xFFFF, 3, b"")), c)),
    ("geneve_ip", 1, False, lambda ip, c: udp4(6081, geneve(0x0800, ip), c)),
    ("teredo", 1, True, lambda ip, c: udp4(3544, teredo(ip), c)),
    ("teredo_origin_indication", 1, True, lambda ip, c: udp4(3544, teredo(ip, origin=(40000, "192.0.2.99")), c)),
    ("teredo_authentication", 1, True, lambda ip, c: udp4(3544, teredo(ip, auth=(b"client", b"0123456789abcdef")), c)),
    ("teredo_auth_and_origin", 1, True,
     lambda ip, c: udp4(3544, teredo(ip, auth=(b"", b""), origin=(3544, "198.51.100.7")), c)),
    ("ayiya", 1, True, lambda ip, c: udp4(5072, ayiya(41, ip), c, both=True)),
    ("ayiya_v4", 1, False, lambda ip, c: udp4(5072, ayiya(4, ip, identity=b"\0" * 4, signature=b""), c, both=True)),
    ("gtpu", 1, False, lambda ip, c: udp4(2152, gtpu(ip), c, both=True)),
    ("gtpu_extension_header_v6", 1, True, lambda ip, c: udp4(2152, gtpu(ip, ext=True), c, both=True)),
]

NOT_TCP: list[tuple[str, int, Build]] = [
    # Novell raw 802.3: IPX straight after the length (its checksum field is 0xffff).
    ("novell_raw_8023", 1, lambda ip, c: ieee8023(b"\xff\xff" + ip)),
    # SNAP with an OUI that is not an EtherType space (Cisco's 0x00000c).
    ("snap_cisco_oui", 1, lambda ip, c: ieee8023(llc_snap(0x2000, ip, oui=0x0C))),
    # Encrypted 802.11 (the protected bit): nothing to read.
    ("ieee80211_protected", 105, lambda ip, c: ieee80211_data(llc_snap(0x0800, ip), protected=True)),
    # GRE version 2 does not exist (RFC 2784 §2.3.1: discard).
    ("gre_version_2", 1, lambda ip, c: eth4(47, gre(0x0800, ip, version=2), c)),
    # Geneve version 1 is not defined (RFC 8926 §3.4).
    ("geneve_version_1", 1, lambda ip, c: udp4(6081, bytes([0x40]) + geneve(0x0800, ip)[1:], c)),
    # AYIYA opcodes other than 1 (forward) carry no packet.
    ("ayiya_echo_request", 1, lambda ip, c: udp4(5072, ayiya(4, ip)[:2] + b"\x22" + ayiya(4, ip)[3:], c, both=True)),
]


def frames_of(conv: Conv, build: Build) -> list[bytes]:
    return [build(ip, c) for ip, c in zip(conv.handshake_data_rst(), DIRS)]


def conv_for(v6: bool, i: int = 0) -> Conv:
    conv = Conv(*(V6 if v6 else V4), v6=v6)
    conv.cport += i
    return conv


USER0 = 147  # LINKTYPE_USER0 (https://www.tcpdump.org/linktypes.html): private, nobody decodes it
