"""Write the fuzz seed captures (small, valid, covering every format and link layer rstlab reads).

    python3 rust/rstlab-trace/fuzz/make_seeds.py

Built with the tests' independent writer (tests/capwriter.py); deterministic, so re-running it
changes nothing unless capwriter or this file changed.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2] / "tests"))

from capwriter import (  # noqa: E402
    ACK, FIN, PSH, RST, SYN, Conv, Rec, ethernet, icmp_echo, ipv4, ipv6, loop, ng_epb, ng_idb, ng_nrb, ng_shb,
    ng_spb, null, pcap, sll, sll2, tcp, tsresol_binary, tsresol_decimal, udp, v6_ext, v6_frag,
)

from encaps import CASES, NOT_TCP, USER0  # noqa: E402
from capwriter import nflog  # noqa: E402

NS = 10**9


def conv_frames(v6: bool = False, port: int = 40000) -> tuple[Conv, list[bytes]]:
    c = Conv("2001:db8::1", "2001:db8::2", port, 80, v6=True) if v6 else Conv("10.0.0.1", "10.0.0.2", port, 80)
    return c, c.handshake_data_rst()


def rst_scenarios() -> list[bytes]:
    """IP packets of several ways a connection meets a RST (handshake refused, after FIN,
    out of window, to an unknown connection, duplicate RSTs)."""
    out: list[bytes] = []
    a = Conv("10.1.0.1", "10.1.0.2", 41000, 443)
    out += [a.seg(True, SYN), a.seg(False, RST | ACK)]
    b = Conv("10.1.0.1", "10.1.0.2", 41001, 443)
    out += [b.seg(True, SYN), b.seg(False, SYN | ACK), b.seg(True, ACK), b.seg(True, FIN | ACK),
            b.seg(False, ACK), b.seg(False, PSH | ACK, b"late"), b.seg(True, RST)]
    c = Conv("10.1.0.1", "10.1.0.2", 41002, 443)
    out += [c.seg(True, SYN), c.seg(False, SYN | ACK), c.seg(True, ACK)]
    c.c_next += 1_000_000
    out += [c.seg(True, RST), c.seg(False, PSH | ACK, b"x" * 100), c.seg(True, RST | ACK), c.seg(True, RST | ACK)]
    out.append(ipv4("10.1.0.9", "10.1.0.2", 6, tcp(5555, 443, 77, 0, RST, src="10.1.0.9", dst="10.1.0.2")))
    return out


def fragments() -> list[bytes]:
    """Ethernet frames exercising reassembly (RFC 791 §3.2, RFC 8200 §4.5): an IPv4 data segment
    in fragments out of order with a duplicate and a conflicting overlap; an IPv6 one with the
    fragment header between hop-by-hop and destination options; an IP-in-IP packet whose outer
    header is fragmented (its last fragment stamped 70 s late: past the timeout); a datagram
    whose middle fragment comes last."""
    c = Conv("10.2.0.1", "10.2.0.2", 42000, 80)
    syn, synack = c.seg(True, SYN), c.seg(False, SYN | ACK)
    seg = c.tcp_seg(True, PSH | ACK, bytes(range(48)))
    fr = lambda b, off, more, ident=9, src=c.client, dst=c.server, proto=6: ipv4(
        src, dst, proto, b, ident=ident, df=False, mf=more, frag_offset=off // 8)
    low = bytearray(seg[:16])
    low[12] ^= 0xFF
    out = [syn, synack, fr(seg[8:40], 8, True), fr(bytes(low), 0, True), fr(seg[8:40], 8, True), fr(seg[40:], 40, False)]
    c6 = Conv("2001:db8::c", "2001:db8::d", 42001, 80, v6=True)
    s6 = v6_ext(6) + c6.tcp_seg(True, SYN, b"q" * 16)
    for off, more in ((16, False), (0, True)):
        part = s6[off:off + 16] if more else s6[off:]
        out.append(ipv6(c6.client, c6.server, 0, v6_ext(44) + v6_frag(60, off // 8, more, 5) + part))
    whole = ipv4("10.2.0.3", "10.2.0.4", 6, tcp(7, 8, 9, 0, SYN, b"w" * 24, src="10.2.0.3", dst="10.2.0.4"))
    out += [fr(whole[:32], 0, True, 4, "192.0.2.1", "192.0.2.2", 4), fr(whole[32:], 32, False, 4, "192.0.2.1", "192.0.2.2", 4)]
    out += [fr(seg[:16], 0, True, 10), fr(seg[32:], 32, False, 10), fr(seg[16:32], 16, True, 10)]
    return [ethernet(0x86DD if p[0] >> 4 == 6 else 0x0800, p) for p in out]


def main() -> None:
    seeds: dict[str, bytes] = {}
    _, f = conv_frames()
    eth = [ethernet(0x0800, ip) for ip in f]
    seeds["conv-le-usec.pcap"] = pcap(1, [Rec(1, i, x) for i, x in enumerate(eth)])
    seeds["conv-be-nsec.pcap"] = pcap(1, [Rec(1, i, x) for i, x in enumerate(eth)], endian=">", nano=True)
    seeds["rst-scenarios.pcap"] = pcap(101, [Rec(2, i * 1000, x) for i, x in enumerate(rst_scenarios())])

    links = [
        (1, lambda ip, v6: ethernet(0x86DD if v6 else 0x0800, ip, vlans=[(0x88A8, 1), (0x8100, 2)])),
        (113, lambda ip, v6: sll(0x86DD if v6 else 0x0800, ip)),
        (276, lambda ip, v6: sll2(0x86DD if v6 else 0x0800, ip)),
        (0, lambda ip, v6: null(30 if v6 else 2, ip)),
        (108, lambda ip, v6: loop(24 if v6 else 2, ip)),
        (228, lambda ip, v6: ip),
        (229, lambda ip, v6: ip),
        (12, lambda ip, v6: ip),
    ]
    blocks = [ng_shb()]
    for i, (lt, _) in enumerate(links):
        resol = [tsresol_decimal(6), tsresol_decimal(9), tsresol_binary(10)][i % 3]
        blocks.append(ng_idb(lt, snaplen=262144, tsresol=resol, tsoffset=i - 2))
    blocks.append(ng_nrb())
    for i, (lt, build) in enumerate(links):
        v6 = lt == 229 or i % 2 == 1
        _, fr = conv_frames(v6, 40000 + i)
        blocks += [ng_epb(i, 1000 * i + j, build(ip, v6), comment="c" if j == 4 else None) for j, ip in enumerate(fr)]
    seeds["links.pcapng"] = b"".join(blocks)

    _, f1 = conv_frames(port=40100)
    _, f2 = conv_frames(v6=True, port=40101)
    s1 = [ng_shb("<"), ng_idb(1, snaplen=64), ng_epb(0, 5, ethernet(0x0800, f1[0]))]
    s1 += [ng_spb(ethernet(0x0800, x)[:64], orig_len=len(x) + 14) for x in f1[1:]]
    s2 = [ng_shb(">"), ng_idb(101, tsresol=tsresol_decimal(9), endian=">")]
    s2 += [ng_epb(0, NS + j, x, endian=">") for j, x in enumerate(f2)]
    seeds["two-sections-spb.pcapng"] = b"".join(s1 + s2)

    c6 = Conv("2001:db8::a", "2001:db8::b", 33000, 443, v6=True)
    v6f = []
    for fc, fl, pl in [(True, SYN, b""), (False, SYN | ACK, b""), (True, PSH | ACK, b"abc"), (False, RST, b"")]:
        seg = c6.tcp_seg(fc, fl, pl)
        src, dst = (c6.client, c6.server) if fc else (c6.server, c6.client)
        v6f.append(ethernet(0x86DD, ipv6(src, dst, 0, v6_ext(60, bytes([5, 2, 0, 0])) + v6_ext(44) + v6_frag(6) + seg)))
    v6f.append(ethernet(0x86DD, ipv6("2001:db8::1", "2001:db8::2", 44, v6_frag(6, 0, True) + b"y" * 24)))
    seeds["ipv6-ext.pcap"] = pcap(1, [Rec(3, i, x) for i, x in enumerate(v6f)])

    inner = ipv4("10.0.0.1", "10.0.0.2", 6, tcp(1, 2, 3, 0, SYN, src="10.0.0.1", dst="10.0.0.2"))
    tunnels = [
        ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 4, inner)),
        ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 47, struct.pack("!HH", 0, 0x0800) + inner)),
        ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 17, udp(1, 4789, bytes([8, 0, 0, 0, 0, 0, 1, 0])
                                                                + ethernet(0x0800, inner)))),
        ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 17, udp(2152, 2152, bytes([0x30, 0xFF, 0, len(inner), 0, 0, 0, 1])
                                                                + inner))),
        ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 17, udp(1, 6081, bytes([0, 0, 0x08, 0x00, 0, 0, 1, 0]) + inner))),
        ethernet(0x8847, struct.pack("!I", (100 << 12) | 0x100 | 64) + inner),
        ethernet(0x8864, bytes([0x11, 0, 0, 1]) + struct.pack("!H", len(inner) + 2) + b"\x00\x21" + inner),
        ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.53", 17, udp(5353, 53, bytes(12)))),
        ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 1, icmp_echo())),
        ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 6, b"z" * 24, mf=True, df=False)),
        ethernet(0x0806, bytes(28)),
    ]
    seeds["tunnels-and-others.pcap"] = pcap(1, [Rec(4, i, x) for i, x in enumerate(tunnels)], snaplen=262144)

    # Every link layer and encapsulation of tests/encaps.py: an interface per case, its SYN and
    # its RST (the two frames that reach the classifier); the not-TCP cases one frame each; a
    # big-endian NFLOG file; a private link type for the skip rule.
    # Two files, each under `make fuzz`'s -max_len.
    half = len(CASES) // 2
    for name, cases in (("encaps-1.pcapng", CASES[:half]), ("encaps-2.pcapng", CASES[half:])):
        blocks = [ng_shb()]
        frames = []
        for i, (_, lt, v6, build) in enumerate(cases):
            blocks.append(ng_idb(lt, snaplen=262144, tsresol=tsresol_decimal(9)))
            conv = (Conv("2001:db8::1", "2001:db8::2", 30000 + i, 80, v6=True) if v6
                    else Conv("10.0.0.1", "10.0.0.2", 30000 + i, 80))
            syn, rst = conv.seg(True, SYN), conv.seg(False, RST | ACK)
            frames += [ng_epb(i, 2 * i, build(syn, True)), ng_epb(i, 2 * i + 1, build(rst, False))]
        seeds[name] = b"".join(blocks + frames)
    _, f = conv_frames(port=40200)
    seeds["not-tcp-encapsulations.pcap"] = pcap(1, [Rec(5, i, b(f[0], True)) for i, (_, lt, b) in enumerate(NOT_TCP) if lt == 1])
    _, f = conv_frames(v6=True, port=40201)
    seeds["nflog-be.pcap"] = pcap(239, [Rec(6, i, nflog(10, x, endian=">")) for i, x in enumerate(f[:2])], endian=">")
    seeds["user0-skip.pcap"] = pcap(USER0, [Rec(7, i, b"HDR" + bytes([i, 0, 0]) + x) for i, x in enumerate(f[:2])])
    seeds["fragments.pcap"] = pcap(1, [Rec(5 + 70 * (i == 9), i, x) for i, x in enumerate(fragments())])

    for name, data in seeds.items():
        (HERE / "seeds" / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
