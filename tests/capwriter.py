"""An independent capture writer for tests: pcap, pcapng and the packets inside, in plain ``struct``.

It deliberately shares nothing with rstlab (not its pcapng writer, not its decoder), so a fixture
built here checks rstlab against the format specifications, not against itself:
- pcap: https://www.tcpdump.org/manpages/pcap-savefile.5.html and draft-ietf-opsawg-pcap
- pcapng: draft-ietf-opsawg-pcapng (block layouts §4, options §3.5, if_tsresol / if_tsoffset §4.2)
- link types: https://www.tcpdump.org/linktypes.html (LINKTYPE_LINUX_SLL / SLL2 / NULL / LOOP / PPP /
  PPP_HDLC / C_HDLC / FDDI / IEEE802_11 / IEEE802_11_RADIOTAP / NFLOG); IEEE 802.2 LLC / SNAP (RFC 1042),
  802.1ah, RFC 1661/1662 (PPP), RFC 2516 (PPPoE), RFC 3032 (MPLS)
- tunnels: GRE RFC 1701 / 2784 / 2890 / 2637, VXLAN RFC 7348, Geneve RFC 8926, Teredo RFC 4380,
  GTPv1-U 3GPP TS 29.281, ERSPAN draft-foschiano-erspan
- IPv4 RFC 791, IPv6 RFC 8200 (extension headers §4), TCP RFC 9293 §3.1, UDP RFC 768.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib
from dataclasses import dataclass, field

# --- checksums -----------------------------------------------------------------------------------


def inet_sum(data: bytes) -> int:
    """RFC 1071 one's-complement checksum."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _addr(a: str) -> bytes:
    return ipaddress.ip_address(a).packed


# --- transport -----------------------------------------------------------------------------------

FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80


def tcp(sport: int, dport: int, seq: int, ack: int, flags: int, payload: bytes = b"", *,
        window: int = 64240, options: bytes = b"", data_offset: int | None = None,
        src: str | None = None, dst: str | None = None) -> bytes:
    """A TCP header + payload. With ``src``/``dst`` the checksum is computed (RFC 9293 §3.1)."""
    opts = options + b"\0" * (-len(options) % 4)
    doff = data_offset if data_offset is not None else (20 + len(opts)) // 4
    hdr = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      (doff & 0xF) << 4, flags & 0xFF, window, 0, 0) + opts
    seg = hdr + payload
    if src is not None and dst is not None:
        s, d = _addr(src), _addr(dst)
        if len(s) == 4:
            pseudo = s + d + struct.pack("!BBH", 0, 6, len(seg))
        else:
            pseudo = s + d + struct.pack("!IxxxB", len(seg), 6)
        c = inet_sum(pseudo + seg)
        seg = seg[:16] + struct.pack("!H", c) + seg[18:]
    return seg


def udp(sport: int, dport: int, payload: bytes = b"") -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp_echo(ident: int = 1, seq: int = 1, payload: bytes = b"ping") -> bytes:
    body = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + payload
    c = inet_sum(body)
    return body[:2] + struct.pack("!H", c) + body[4:]


# --- network -------------------------------------------------------------------------------------


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, ident: int = 1, ttl: int = 64,
         df: bool = True, mf: bool = False, frag_offset: int = 0, ihl: int | None = None,
         total_length: int | None = None, options: bytes = b"") -> bytes:
    """An IPv4 header + payload (RFC 791). ``frag_offset`` is in 8-byte units."""
    opts = options + b"\0" * (-len(options) % 4)
    hl = ihl if ihl is not None else 5 + len(opts) // 4
    tot = total_length if total_length is not None else 20 + len(opts) + len(payload)
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag_offset & 0x1FFF)
    hdr = struct.pack("!BBHHHBBH4s4s", 0x40 | (hl & 0xF), 0, tot & 0xFFFF, ident, flags, ttl, proto, 0,
                      _addr(src), _addr(dst)) + opts
    c = inet_sum(hdr)
    return hdr[:10] + struct.pack("!H", c) + hdr[12:] + payload


def ipv6(src: str, dst: str, next_header: int, payload: bytes, *, hop_limit: int = 64,
         payload_length: int | None = None) -> bytes:
    plen = payload_length if payload_length is not None else len(payload)
    return struct.pack("!IHBB16s16s", 0x6 << 28, plen, next_header, hop_limit, _addr(src), _addr(dst)) + payload


def v6_ext(next_header: int, body: bytes = b"") -> bytes:
    """A hop-by-hop or destination-options header (RFC 8200 §4.3, §4.6), padded with PadN."""
    raw = bytes([next_header, 0]) + body
    pad = -len(raw) % 8
    if pad == 1:
        raw += b"\x00"  # Pad1
    elif pad:
        raw += bytes([1, pad - 2]) + b"\0" * (pad - 2)  # PadN
    return bytes([next_header, len(raw) // 8 - 1]) + raw[2:]


def v6_frag(next_header: int, offset: int = 0, more: bool = False, ident: int = 0x1234) -> bytes:
    """An IPv6 fragment header (RFC 8200 §4.5); offset in 8-byte units."""
    return struct.pack("!BBHI", next_header, 0, (offset << 3) | int(more), ident)


# --- link layers ---------------------------------------------------------------------------------

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def ethernet(ethertype: int, payload: bytes, *, vlans: list[tuple[int, int]] = (), dst: bytes = MAC_B,
             src: bytes = MAC_A) -> bytes:
    """Ethernet II; ``vlans`` is a list of (TPID, VID) tags, outermost first (IEEE 802.1Q/ad)."""
    tags = b""
    for tpid, vid in vlans:
        tags += struct.pack("!HH", tpid, vid)
    return dst + src + tags + struct.pack("!H", ethertype) + payload


def sll(proto: int, payload: bytes, *, pkttype: int = 0) -> bytes:
    """LINKTYPE_LINUX_SLL: pkttype, ARPHRD, addr len, 8 addr bytes, protocol (16 bytes)."""
    return struct.pack("!HHH8sH", pkttype, 1, 6, MAC_A + b"\0\0", proto) + payload


def sll2(proto: int, payload: bytes, *, ifindex: int = 2, pkttype: int = 0) -> bytes:
    """LINKTYPE_LINUX_SLL2: protocol, reserved, ifindex, ARPHRD, pkttype, addr len, 8 addr bytes."""
    return struct.pack("!HHIHBB8s", proto, 0, ifindex, 1, pkttype, 6, MAC_A + b"\0\0") + payload


def null(af: int, payload: bytes, *, byteorder: str = "<") -> bytes:
    """LINKTYPE_NULL: the address family in the capturing host's byte order."""
    return struct.pack(f"{byteorder}I", af) + payload


def loop(af: int, payload: bytes) -> bytes:
    """LINKTYPE_LOOP: the address family in network byte order."""
    return struct.pack("!I", af) + payload


# IEEE 802.2 / 802.3 and the link layers that carry it.


def llc_snap(ethertype: int, payload: bytes, *, oui: int = 0) -> bytes:
    """802.2 LLC U-frame to the SNAP SAP (0xaa 0xaa 0x03), then OUI + EtherType (RFC 1042)."""
    return b"\xaa\xaa\x03" + oui.to_bytes(3, "big") + struct.pack("!H", ethertype) + payload


def llc_ip(ip: bytes) -> bytes:
    """802.2 LLC to the IP SAP 0x06 (a UI frame: control 0x03), then the IPv4 packet."""
    return b"\x06\x06\x03" + ip


def ieee8023(payload: bytes, *, dst: bytes = MAC_B, src: bytes = MAC_A, vlans: list[tuple[int, int]] = ()) -> bytes:
    """An IEEE 802.3 frame: a length (<= 1500) where Ethernet II has its type, padded to 60 bytes
    (the padding is not counted in the length, IEEE 802.3 clause 3.2.6)."""
    tags = b"".join(struct.pack("!HH", tpid, vid) for tpid, vid in vlans)
    f = dst + src + tags + struct.pack("!H", len(payload)) + payload
    return f + b"\0" * max(0, 60 - len(f))


def fddi(llc: bytes) -> bytes:
    """LINKTYPE_FDDI: frame control (0x50: asynchronous LLC frame), destination, source, then LLC."""
    return b"\x50" + MAC_B + MAC_A + llc


def ppp(proto: int, payload: bytes, *, framed: bool = True, compressed: bool = False) -> bytes:
    """PPP (RFC 1661 §2): with ``framed`` the RFC 1662 address/control bytes 0xff 0x03 first;
    ``compressed`` sends a one-byte protocol (§6.5, odd values only)."""
    head = b"\xff\x03" if framed else b""
    return head + (bytes([proto]) if compressed else struct.pack("!H", proto)) + payload


def cisco_hdlc(ethertype: int, payload: bytes, *, address: int = 0x0F) -> bytes:
    """Cisco HDLC (LINKTYPE_C_HDLC, RFC 1547 §4.3.1): address, control 0, EtherType."""
    return struct.pack("!BBH", address, 0, ethertype) + payload


def pppoe_session(ppp_payload: bytes, *, session: int = 0x1234) -> bytes:
    """PPPoE session stage (RFC 2516 §4): ver/type 0x11, code 0, session id, length, PPP payload."""
    return struct.pack("!BBHH", 0x11, 0, session, len(ppp_payload)) + ppp_payload


def ieee80211_data(payload_llc: bytes, *, qos: bool = False, to_ds: bool = True, from_ds: bool = False,
                   protected: bool = False) -> bytes:
    """An IEEE 802.11 data frame (subtype 0 data, 8 QoS data): frame control, duration, three
    addresses (four with ToDS and FromDS), sequence control, QoS control; then LLC/SNAP."""
    fc0 = 0x08 | (0x80 if qos else 0)
    fc1 = (0x01 if to_ds else 0) | (0x02 if from_ds else 0) | (0x40 if protected else 0)
    h = bytes([fc0, fc1]) + b"\0\0" + MAC_B + MAC_A + bytes.fromhex("020000000003") + b"\x10\x00"
    if to_ds and from_ds:
        h += bytes.fromhex("020000000004")
    if qos:
        h += b"\x00\x00"
    return h + payload_llc


def radiotap(frame80211: bytes) -> bytes:
    """A radiotap header (version 0, little-endian length) with one field, Flags (bit 1; 0 =
    no FCS), then the 802.11 frame."""
    return struct.pack("<BBHIB", 0, 0, 9, 0x2, 0) + frame80211


def nflog(family: int, ip: bytes, *, endian: str = "<") -> bytes:
    """LINKTYPE_NFLOG: family, version 0, resource id (big-endian), then TLVs in host byte order
    (``endian``): NFULA_PACKET_HDR (1), NFULA_PREFIX (10, padded to 4 bytes), NFULA_PAYLOAD (9)."""
    def tlv(kind: int, value: bytes) -> bytes:
        raw = struct.pack(f"{endian}HH", 4 + len(value), kind) + value
        return raw + b"\0" * (-len(raw) % 4)
    proto = 0x0800 if family == 2 else 0x86DD
    return (struct.pack("!BBH", family, 0, 7) + tlv(1, struct.pack("!HBB", proto, 3, 0))
            + tlv(10, b"rstlab\0") + tlv(9, ip))


def pbb(ethertype: int, payload: bytes, *, isid: int = 0x10203) -> bytes:
    """IEEE 802.1ah: the I-TAG (priority/flags byte, 24-bit I-SID), then the customer's
    destination, source and EtherType. The outer (B-)Ethernet header says 0x88e7."""
    return struct.pack("!I", isid & 0xFFFFFF) + MAC_B + MAC_A + struct.pack("!H", ethertype) + payload


def vntag(ethertype: int, payload: bytes) -> bytes:
    """Cisco VN-Tag (EtherType 0x8926): 4 bytes of tag (direction, pointer, vif ids), then the
    EtherType of what follows."""
    return struct.pack("!IH", 0x00010002, ethertype) + payload


def fabricpath(inner_frame: bytes) -> bytes:
    """Cisco FabricPath: outer destination / source (hierarchical MACs), EtherType 0x8903 with
    the FTag and TTL (2 bytes), the original Ethernet frame, and the FabricPath frame's own FCS
    (IEEE 802.3 CRC-32, least significant byte first), which Wireshark's dissector expects."""
    f = bytes.fromhex("010fffc1015a") + bytes.fromhex("020102030405") + struct.pack("!HH", 0x8903, 0x0041) + inner_frame
    return f + struct.pack("<I", zlib.crc32(f))


def mpls(labels: list[int], payload: bytes) -> bytes:
    """An MPLS label stack (RFC 3032 §2.1): label, TC 0, S on the last, TTL 64."""
    out = b""
    for i, label in enumerate(labels):
        out += struct.pack("!I", (label << 12) | ((i == len(labels) - 1) << 8) | 64)
    return out + payload


# Tunnels.


def gre(proto: int, payload: bytes, *, checksum: bool = False, key: int | None = None, seq: int | None = None,
        routing: list[bytes] | None = None, version: int = 0, ack: int | None = None) -> bytes:
    """GRE (RFC 2784, keys and sequence numbers RFC 2890, RFC 1701's routing: ``routing`` is a list
    of SRE bodies, each sent with address family 0x0800; version 1 is PPTP's, RFC 2637 §4.1, with
    ``key`` as payload length << 16 | call id and an optional ``ack``)."""
    flags = (0x8000 if checksum else 0) | (0x4000 if routing is not None else 0) | (0x2000 if key is not None else 0) \
        | (0x1000 if seq is not None else 0) | (0x0080 if ack is not None else 0) | version
    h = struct.pack("!HH", flags, proto)
    if checksum or routing is not None:
        h += b"\0\0\0\0"  # checksum (0: not verified by readers) + offset
    if key is not None:
        h += struct.pack("!I", key)
    if seq is not None:
        h += struct.pack("!I", seq)
    if ack is not None:
        h += struct.pack("!I", ack)
    if routing is not None:
        for sre in routing:
            h += struct.pack("!HBB", 0x0800, 0, len(sre)) + sre
        h += struct.pack("!HBB", 0, 0, 0)
    return h + payload


def erspan2(frame: bytes, *, session: int = 5) -> bytes:
    """ERSPAN type II header (version 1, VLAN, COS/En/T, session id, index): 8 bytes."""
    return struct.pack("!HHI", 0x1000 | 10, session & 0x3FF, 0) + frame


def erspan3(frame: bytes, *, platform: bool = False) -> bytes:
    """ERSPAN type III (version 2): 12 bytes ending with the O bit; with ``platform`` an 8-byte
    platform-specific sub-header follows."""
    h = struct.pack("!HHIHH", 0x2000 | 10, 5, 0x12345678, 0, 1 if platform else 0)
    return h + (struct.pack("!II", 0x08000000, 0) if platform else b"") + frame


def vxlan(frame: bytes, *, vni: int = 42) -> bytes:
    """VXLAN (RFC 7348 §5): flags 0x08 (I), reserved, the 24-bit VNI, reserved."""
    return struct.pack("!II", 0x08000000, vni << 8) + frame


def geneve(proto: int, payload: bytes, *, options: bytes = b"", vni: int = 42) -> bytes:
    """Geneve (RFC 8926 §3.4): version 0, options length in 4-byte words, protocol, VNI."""
    assert len(options) % 4 == 0
    return struct.pack("!BBHI", len(options) // 4, 0, proto, vni << 8) + options + payload


def geneve_option(cls: int, kind: int, data: bytes) -> bytes:
    """One Geneve option (RFC 8926 §3.5): class, type, length in 4-byte words, data."""
    assert len(data) % 4 == 0
    return struct.pack("!HBB", cls, kind, len(data) // 4) + data


def teredo(ip6: bytes, *, origin: tuple[int, str] | None = None, auth: tuple[bytes, bytes] | None = None) -> bytes:
    """Teredo (RFC 4380 §5.1.1): optional authentication (indicator 0x0001, client id and auth
    value lengths, the values, 8-byte nonce, confirmation byte), optional origin indication
    (0x0000, port and IPv4 address, both obfuscated by XOR with all ones), then IPv6."""
    out = b""
    if auth is not None:
        cid, val = auth
        out += struct.pack("!HBB", 1, len(cid), len(val)) + cid + val + b"\x01" * 8 + b"\x00"
    if origin is not None:
        port, addr = origin
        out += struct.pack("!HH", 0, port ^ 0xFFFF) + bytes(b ^ 0xFF for b in _addr(addr))
    return out + ip6


def ayiya(next_header: int, ip: bytes, *, identity: bytes = b"\0" * 16, signature: bytes = b"\0" * 20) -> bytes:
    """AYIYA (SixXS): id length as log2 (16 bytes: 4) and type (1: integer), signature length in
    4-byte words and hash (SHA-1), auth method 2 and opcode 1 (forward), next header, epoch."""
    idlen = {1: 0, 2: 1, 4: 2, 8: 3, 16: 4}[len(identity)]
    return struct.pack("!BBBBI", (idlen << 4) | 1, ((len(signature) // 4) << 4) | 2, 0x21, next_header, 1_700_000_000) \
        + identity + signature + ip


def gtpu(ip: bytes, *, teid: int = 0x1234, ext: bool = False) -> bytes:
    """GTPv1-U G-PDU (3GPP TS 29.281 §5.1): version 1, PT 1, message type 255, length, TEID; with
    ``ext`` the sequence number and a PDU Session Container extension header (type 0x85)."""
    if not ext:
        return struct.pack("!BBHI", 0x30, 0xFF, len(ip), teid) + ip
    extension = struct.pack("!BBBB", 1, 0x00, 0x09, 0x00)  # 4 bytes, QFI 9, next type 0
    body = struct.pack("!HBB", 7, 0, 0x85) + extension + ip
    return struct.pack("!BBHI", 0x34, 0xFF, len(body), teid) + body


# --- pcap ----------------------------------------------------------------------------------------

PCAP_US = 0xA1B2C3D4
PCAP_NS = 0xA1B23C4D


@dataclass
class Rec:
    """One pcap record: ``frac`` is µs or ns depending on the file's magic."""
    sec: int
    frac: int
    data: bytes
    orig_len: int | None = None


def pcap(linktype: int, records: list[Rec], *, endian: str = "<", nano: bool = False,
         snaplen: int = 65535, cut: bool = True) -> bytes:
    """A classic pcap file. With ``cut``, data longer than ``snaplen`` is cut (orig_len kept)."""
    out = [struct.pack(f"{endian}IHHiIII", PCAP_NS if nano else PCAP_US, 2, 4, 0, 0, snaplen, linktype)]
    for r in records:
        data = r.data[:snaplen] if cut else r.data
        orig = r.orig_len if r.orig_len is not None else len(r.data)
        out += [struct.pack(f"{endian}IIII", r.sec, r.frac, len(data), orig), data]
    return b"".join(out)  # joined once: `bytes +=` per record is quadratic in the file size


# --- pcapng --------------------------------------------------------------------------------------

SHB, IDB, SPB, NRB, ISB, EPB = 0x0A0D0D0A, 1, 3, 4, 5, 6


def ng_option(code: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(f"{endian}HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def ng_options(opts: list[tuple[int, bytes]], endian: str = "<") -> bytes:
    if not opts:
        return b""
    return b"".join(ng_option(c, v, endian) for c, v in opts) + ng_option(0, b"", endian)


def ng_block(kind: int, body: bytes, endian: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    total = 12 + len(body)
    return struct.pack(f"{endian}II", kind, total) + body + struct.pack(f"{endian}I", total)


def ng_shb(endian: str = "<", options: list[tuple[int, bytes]] = ()) -> bytes:
    body = struct.pack(f"{endian}IHHq", 0x1A2B3C4D, 1, 0, -1) + ng_options(list(options), endian)
    return ng_block(SHB, body, endian)


def tsresol_decimal(exp: int) -> bytes:
    return bytes([exp])


def tsresol_binary(exp: int) -> bytes:
    return bytes([0x80 | exp])


def ng_idb(linktype: int, *, snaplen: int = 0, tsresol: bytes | None = None, tsoffset: int | None = None,
           name: str | None = None, endian: str = "<") -> bytes:
    opts: list[tuple[int, bytes]] = []
    if name is not None:
        opts.append((2, name.encode()))
    if tsresol is not None:
        opts.append((9, tsresol))
    if tsoffset is not None:
        opts.append((14, struct.pack(f"{endian}q", tsoffset)))
    body = struct.pack(f"{endian}HHI", linktype, 0, snaplen) + ng_options(opts, endian)
    return ng_block(IDB, body, endian)


def ng_epb(if_id: int, ts_units: int, data: bytes, *, orig_len: int | None = None,
           caplen: int | None = None, endian: str = "<", comment: str | None = None) -> bytes:
    """Enhanced Packet Block; ``ts_units`` is in the interface's if_tsresol units."""
    cap = caplen if caplen is not None else len(data)
    orig = orig_len if orig_len is not None else len(data)
    body = struct.pack(f"{endian}IIIII", if_id, ts_units >> 32, ts_units & 0xFFFFFFFF, cap, orig)
    body += data + b"\0" * (-len(data) % 4)
    if comment is not None:
        body += ng_options([(1, comment.encode())], endian)
    return ng_block(EPB, body, endian)


def ng_spb(data: bytes, *, orig_len: int | None = None, endian: str = "<") -> bytes:
    """Simple Packet Block: original length, then the packet (cut to the interface's snaplen)."""
    orig = orig_len if orig_len is not None else len(data)
    return ng_block(SPB, struct.pack(f"{endian}I", orig) + data, endian)


def ng_nrb(endian: str = "<") -> bytes:
    """A Name Resolution Block with one IPv4 record (readers that do not use it must skip it)."""
    rec = struct.pack(f"{endian}HH", 1, 4 + 10) + bytes([10, 0, 0, 1]) + b"host.test\0"
    rec += b"\0" * (-len(rec) % 4)
    return ng_block(NRB, rec + struct.pack(f"{endian}HH", 0, 0), endian)


# --- conversations -------------------------------------------------------------------------------


@dataclass
class Conv:
    """A client/server pair that writes the frames of one connection, tracking seq/ack."""
    client: str
    server: str
    cport: int
    sport: int
    c_isn: int = 1000
    s_isn: int = 5000
    v6: bool = False
    c_next: int = field(init=False)
    s_next: int = field(init=False)

    def __post_init__(self) -> None:
        self.c_next = self.c_isn
        self.s_next = self.s_isn

    @property
    def proto_ethertype(self) -> int:
        return 0x86DD if self.v6 else 0x0800

    def ip(self, from_client: bool, seg: bytes, **kw: object) -> bytes:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        if self.v6:
            return ipv6(src, dst, 6, seg, **kw)
        return ipv4(src, dst, 6, seg, **kw)

    def seg(self, from_client: bool, flags: int, payload: bytes = b"", **kw: object) -> bytes:
        """The IP packet of the next segment in that direction (seq/ack follow RFC 9293 §3.4)."""
        return self.ip(from_client, self.tcp_seg(from_client, flags, payload), **kw)

    def tcp_seg(self, from_client: bool, flags: int, payload: bytes = b"") -> bytes:
        """The TCP segment alone (header + payload) of the next segment in that direction."""
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        sp, dp = (self.cport, self.sport) if from_client else (self.sport, self.cport)
        seq = self.c_next if from_client else self.s_next
        ack = (self.s_next if from_client else self.c_next) if flags & ACK else 0
        t = tcp(sp, dp, seq, ack, flags, payload, src=src, dst=dst)
        used = len(payload) + (1 if flags & SYN else 0) + (1 if flags & FIN else 0)
        if from_client:
            self.c_next += used
        else:
            self.s_next += used
        return t

    def handshake_data_rst(self, data: bytes = b"hello rst!") -> list[bytes]:
        """SYN, SYN-ACK, ACK, PSH-ACK with data from the client, RST-ACK from the server."""
        return [
            self.seg(True, SYN),
            self.seg(False, SYN | ACK),
            self.seg(True, ACK),
            self.seg(True, PSH | ACK, data),
            self.seg(False, RST | ACK),
        ]
