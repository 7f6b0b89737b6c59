"""Format coverage: every container and link type rstlab claims to read, from hand-built files.

Fixtures come from ``capwriter`` (plain ``struct``, nothing shared with rstlab). Expected values
come from the specifications: pcap(5) / draft-ietf-opsawg-pcap for the classic format,
draft-ietf-opsawg-pcapng for pcapng (if_tsresol and if_tsoffset §4.2, SPB §4.4, sections §4.1),
tcpdump.org's LINKTYPE_* pages for the link layers, RFC 791 / 8200 / 9293 for the packets, and
Wireshark (tshark, when installed) for frame numbering and ``tcp.stream``.

Timestamps are checked to the nanosecond with small epoch values: the tables carry seconds as
float64, which cannot hold nanoseconds at today's epoch (about 2**-22 s resolution).
"""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

import rstlab
from rstlab.table import time_ns
from capwriter import (
    ACK, CWR, ECE, FIN, PSH, RST, SYN, Conv, Rec, ethernet, icmp_echo, ipv4, ipv6, loop, ng_epb, ng_idb, ng_nrb,
    ng_shb, ng_spb, null, pcap, sll, sll2, tcp, tsresol_binary, tsresol_decimal, udp, v6_ext, v6_frag,
)

NS = 1_000_000_000

# The standard conversation (Conv.handshake_data_rst, ISNs 1000 / 5000): what RFC 9293 §3.4 says
# each segment's seq / ack are, and Wireshark's relative numbers (base = the ISN).
#          flags  dir     seq   ack   len seq_rel ack_rel
STD = [("S",  "orig", 1000, 0,    0,  0, 0),
       ("S.", "resp", 5000, 1001, 0,  0, 1),
       (".",  "orig", 1001, 5001, 0,  1, 1),
       ("P.", "orig", 1001, 5001, 10, 1, 1),
       ("R.", "resp", 5001, 1011, 0,  1, 11)]
STD_COLS = ("flags", "dir", "seq", "ack", "len", "seq_rel", "ack_rel")


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def segs(t: rstlab.Trace) -> list[dict]:
    return t.segments.to_pylist()


def conns(t: rstlab.Trace) -> list[dict]:
    return t.connections.to_pylist()


def proj(rows: list[dict], cols: tuple[str, ...] = STD_COLS) -> list[tuple]:
    return [tuple(r[c] for c in cols) for r in rows]


def ts_ns(row: dict) -> int:
    return time_ns(row["ts"])


def assert_std_conn(row: dict, conv: Conv, conn_id: int, first_frame: int, frames: list[int]) -> None:
    """The connections-table row of one standard conversation."""
    assert row["conn_id"] == conn_id
    assert (row["orig_addr"], row["orig_port"]) == (conv.client, conv.cport)
    assert (row["resp_addr"], row["resp_port"]) == (conv.server, conv.sport)
    assert row["ip_version"] == (6 if conv.v6 else 4)
    assert (row["first_frame"], row["last_frame"]) == (first_frame, frames[-1])
    assert (row["orig_pkts"], row["resp_pkts"]) == (3, 2)
    assert (row["orig_bytes"], row["resp_bytes"]) == (10, 0)
    assert (row["orig_syn_frame"], row["resp_syn_frame"]) == (frames[0], frames[1])
    assert (row["orig_rst_frame"], row["resp_rst_frame"]) == (None, frames[4])
    assert row["rst_count"] == 1
    # Zeek's conn.log: established, then the responder aborted (RSTR); S h A D r.
    assert row["conn_state"] == "RSTR"
    assert row["history"] == "ShADr"


# --- tshark --------------------------------------------------------------------------------------

TSHARK_FIELDS = ["frame.number", "frame.time_epoch", "tcp.stream", "tcp.len", "tcp.seq_raw", "tcp.ack_raw",
                 "frame.interface_id"]


def tshark_rows(tshark: str, path: Path) -> list[dict[str, str]]:
    out = subprocess.run(
        [tshark, "-n", "-r", str(path), "-o", "tcp.analyze_sequence_numbers:FALSE", "-T", "fields",
         "-E", "separator=\t", *sum((["-e", f] for f in TSHARK_FIELDS), [])],
        capture_output=True, text=True, check=True,
    ).stdout
    return [dict(zip(TSHARK_FIELDS, line.split("\t"))) for line in out.splitlines()]


def epoch_ns(s: str) -> int:
    """tshark's frame.time_epoch ('12.000000001') to integer nanoseconds, without float."""
    whole, _, frac = s.partition(".")
    return int(whole) * NS + int((frac + "000000000")[:9])


def assert_tshark_agrees(tshark: str, path: Path, t: rstlab.Trace, *, timestamps: bool = True) -> None:
    """Frame count, tcp.stream, tcp.len, raw seq/ack and (optionally) ns timestamps per frame."""
    theirs = tshark_rows(tshark, path)
    assert len(theirs) == t.counts["frames"]
    mine = {r["frame"]: r for r in segs(t)}
    tcp_frames = [int(r["frame.number"]) for r in theirs if r["tcp.stream"]]
    assert sorted(mine) == tcp_frames
    for r in theirs:
        if not r["tcp.stream"]:
            continue
        m = mine[int(r["frame.number"])]
        assert m["conn_id"] == int(r["tcp.stream"]), r
        assert m["len"] == int(r["tcp.len"]), r
        assert (m["seq"], m["ack"]) == (int(r["tcp.seq_raw"]), int(r["tcp.ack_raw"])), r
        if timestamps:
            assert ts_ns(m) == epoch_ns(r["frame.time_epoch"]), r


# --- classic pcap --------------------------------------------------------------------------------


@pytest.mark.parametrize("endian", ["<", ">"], ids=["le", "be"])
@pytest.mark.parametrize("nano", [False, True], ids=["usec", "nsec"])
def test_pcap_byte_order_and_precision(tmp_path: Path, endian: str, nano: bool) -> None:
    conv = Conv("10.0.0.1", "10.0.0.2", 40000, 80)
    frames = [ethernet(0x0800, ip) for ip in conv.handshake_data_rst()]
    # Fractions chosen so µs and ns precision both show: the µs file's unit is 1000 ns.
    fracs = [999_999, 1, 123_456, 500_000, 7] if not nano else [999_999_999, 1, 123_456_789, 500_000_000, 7]
    recs = [Rec(sec=10 + i, frac=f, data=d) for i, (f, d) in enumerate(zip(fracs, frames))]
    p = write(tmp_path, f"conv-{endian == '<'}-{nano}.pcap", pcap(1, recs, endian=endian, nano=nano))
    t = rstlab.read(p)
    assert t.counts["frames"] == 5 and t.counts["tcp"] == 5
    rows = segs(t)
    assert proj(rows) == STD
    assert [r["frame"] for r in rows] == [1, 2, 3, 4, 5]
    unit = 1 if nano else 1000
    assert [ts_ns(r) for r in rows] == [(10 + i) * NS + f * unit for i, f in enumerate(fracs)]
    [c] = conns(t)
    assert_std_conn(c, conv, 0, 1, [1, 2, 3, 4, 5])
    assert time_ns(c["first_ts"]) == 10 * NS + fracs[0] * unit


def test_pcap_timestamp_at_todays_epoch_is_exact(tmp_path: Path) -> None:
    conv = Conv("10.0.0.1", "10.0.0.2", 40000, 80)
    recs = [Rec(1_700_000_000, 123_456 + i, ethernet(0x0800, ip)) for i, ip in enumerate(conv.handshake_data_rst())]
    t = rstlab.read(write(tmp_path, "epoch.pcap", pcap(1, recs)))
    assert [ts_ns(r) for r in segs(t)] == [1_700_000_000 * NS + (123_456 + i) * 1000 for i in range(5)]


# --- link types ----------------------------------------------------------------------------------

V4 = ("192.0.2.10", "198.51.100.20", 51000, 443)
V6 = ("2001:db8::10", "2001:db8:1::20", 51000, 443)

# name, LINKTYPE_*, IPv6?, frame builder (IP packet -> frame)
LINKS = [
    ("ethernet", 1, False, lambda ip: ethernet(0x0800, ip)),
    ("ethernet_v6", 1, True, lambda ip: ethernet(0x86DD, ip)),
    ("ethernet_8021q", 1, False, lambda ip: ethernet(0x0800, ip, vlans=[(0x8100, 10)])),
    ("ethernet_qinq_88a8", 1, False, lambda ip: ethernet(0x0800, ip, vlans=[(0x88A8, 100), (0x8100, 10)])),
    ("ethernet_qinq_9100_v6", 1, True, lambda ip: ethernet(0x86DD, ip, vlans=[(0x9100, 7), (0x8100, 8)])),
    ("sll", 113, False, lambda ip: sll(0x0800, ip)),
    ("sll_v6", 113, True, lambda ip: sll(0x86DD, ip, pkttype=4)),
    ("sll2", 276, False, lambda ip: sll2(0x0800, ip)),
    ("sll2_v6", 276, True, lambda ip: sll2(0x86DD, ip, pkttype=4)),
    ("raw101_v4", 101, False, lambda ip: ip),
    ("raw101_v6", 101, True, lambda ip: ip),
    ("raw12_v4", 12, False, lambda ip: ip),
    ("ipv4_228", 228, False, lambda ip: ip),
    ("ipv6_229", 229, True, lambda ip: ip),
    ("null_le_inet", 0, False, lambda ip: null(2, ip, byteorder="<")),
    ("null_be_inet", 0, False, lambda ip: null(2, ip, byteorder=">")),
    ("null_le_inet6_macos", 0, True, lambda ip: null(30, ip, byteorder="<")),
    ("null_be_inet6_netbsd", 0, True, lambda ip: null(24, ip, byteorder=">")),
    ("null_le_inet6_freebsd", 0, True, lambda ip: null(28, ip, byteorder="<")),
    ("loop_inet", 108, False, lambda ip: loop(2, ip)),
    ("loop_inet6", 108, True, lambda ip: loop(24, ip)),
]


@pytest.mark.parametrize("name,linktype,v6,build", LINKS, ids=[x[0] for x in LINKS])
def test_link_type(tmp_path: Path, name: str, linktype: int, v6: bool, build) -> None:
    a = V6 if v6 else V4
    conv = Conv(*a, v6=v6)
    recs = [Rec(100 + i, 0, build(ip)) for i, ip in enumerate(conv.handshake_data_rst())]
    t = rstlab.read(write(tmp_path, f"{name}.pcap", pcap(linktype, recs)))
    assert (t.counts["frames"], t.counts["tcp"], t.counts["malformed"], t.counts["not_tcp"]) == (5, 5, 0, 0)
    assert proj(segs(t)) == STD
    [c] = conns(t)
    assert_std_conn(c, conv, 0, 1, [1, 2, 3, 4, 5])


def test_link_types_agree_with_tshark(tmp_path: Path, tshark: str) -> None:
    # One pcapng, one interface per link type, so a single tshark run checks them all.
    body = ng_shb()
    frames: list[bytes] = []
    for i, (_, linktype, v6, build) in enumerate(LINKS):
        body += ng_idb(linktype, tsresol=tsresol_decimal(9))
        conv = Conv(*(V6 if v6 else V4), v6=v6)
        conv.cport += i  # a distinct connection per interface
        for j, ip in enumerate(conv.handshake_data_rst()):
            frames.append(ng_epb(i, (1000 + 10 * i + j) * NS + i, build(ip)))
    p = write(tmp_path, "links.pcapng", body + b"".join(frames))
    t = rstlab.read(p)
    assert t.counts["tcp"] == 5 * len(LINKS)
    assert [c["conn_id"] for c in conns(t)] == list(range(len(LINKS)))
    assert_tshark_agrees(tshark, p, t)


# --- pcapng --------------------------------------------------------------------------------------


def multi_interface_capture() -> tuple[bytes, list[int], dict]:
    """Three interfaces (Ethernet µs, SLL2 ns + offset, raw IPv4 2^-10 s + offset), frames of three
    connections interleaved, and a Name Resolution Block in the middle (to be skipped)."""
    a = Conv("10.9.9.9", "10.0.0.2", 50000, 80)          # first seen -> conn 0
    b = Conv("2001:db8::1", "2001:db8::2", 40000, 22, v6=True)  # conn 1
    c = Conv("10.0.0.1", "10.0.0.3", 1024, 8080)         # conn 2 (lowest tuple, seen last)
    blocks = [
        ng_shb(),
        ng_idb(1, snaplen=65535, tsresol=tsresol_decimal(6), name="eth0"),
        ng_idb(276, snaplen=65535, tsresol=tsresol_decimal(9), tsoffset=1000, name="any"),
        ng_idb(228, snaplen=65535, tsresol=tsresol_binary(10), tsoffset=-5, name="tun0"),
    ]
    expect_ns: list[int] = []
    fa, fb, fc = a.handshake_data_rst(), b.handshake_data_rst(), c.handshake_data_rst()
    for i in range(5):
        # Ethernet, microseconds: 20 s + i ms + 1 µs.
        units = (20 + i) * 1_000_000 + 1
        blocks.append(ng_epb(0, units, ethernet(0x0800, fa[i])))
        expect_ns.append((20 + i) * NS + 1000)
        # SLL2, nanoseconds, +1000 s offset.
        units = (30 + i) * NS + 999_999_999
        blocks.append(ng_epb(1, units, sll2(0x86DD, fb[i])))
        expect_ns.append((1030 + i) * NS + 999_999_999)
        # Raw IPv4, 1/1024 s units, -5 s offset: 40 s + (i*256 + 1)/1024 s.
        units = 40 * 1024 + i * 256 + 1
        blocks.append(ng_epb(2, units, fc[i]))
        expect_ns.append(35 * NS + (i * 256 + 1) * NS // 1024)
        if i == 1:
            blocks.append(ng_nrb())
    return b"".join(blocks), expect_ns, {"a": a, "b": b, "c": c}


def test_pcapng_interfaces_resolutions_and_offsets(tmp_path: Path) -> None:
    data, expect_ns, cv = multi_interface_capture()
    t = rstlab.read(write(tmp_path, "multi.pcapng", data))
    assert (t.counts["frames"], t.counts["tcp"]) == (15, 15)
    rows = segs(t)
    assert [r["frame"] for r in rows] == list(range(1, 16))
    # Binary resolution is not a whole number of ns: truncation or rounding, within 1 ns.
    for r, want in zip(rows, expect_ns):
        assert abs(ts_ns(r) - want) <= 1, (r["frame"], ts_ns(r), want)
    # Interleaved frames 3k+1, 3k+2, 3k+3 belong to connections 0, 1, 2 (first-seen order,
    # like tcp.stream), whatever their addresses.
    assert [r["conn_id"] for r in rows] == [0, 1, 2] * 5
    by_conn = {k: [r for r in rows if r["conn_id"] == k] for k in range(3)}
    for k in range(3):
        assert proj(by_conn[k]) == STD
    cs = conns(t)
    assert_std_conn(cs[0], cv["a"], 0, 1, [1, 4, 7, 10, 13])
    assert_std_conn(cs[1], cv["b"], 1, 2, [2, 5, 8, 11, 14])
    assert_std_conn(cs[2], cv["c"], 2, 3, [3, 6, 9, 12, 15])


def test_pcapng_interfaces_agree_with_tshark(tmp_path: Path, tshark: str) -> None:
    data, _, _ = multi_interface_capture()
    p = write(tmp_path, "multi.pcapng", data)
    t = rstlab.read(p)
    # Nanosecond timestamps too: tshark applies if_tsoffset (negative included) and truncates
    # the 2^-10 s units to whole nanoseconds.
    assert_tshark_agrees(tshark, p, t)
    theirs = tshark_rows(tshark, p)
    assert [int(r["frame.interface_id"]) for r in theirs] == [0, 1, 2] * 5


def test_pcapng_simple_packet_blocks_and_snaplen(tmp_path: Path) -> None:
    # Interface snaplen 80: an SPB's captured length is min(original length, snaplen) (§4.4).
    conv = Conv("10.0.0.1", "10.0.0.2", 40000, 80)
    payload = bytes(range(256)) * 2  # 512 bytes
    ips = [conv.seg(True, SYN), conv.seg(False, SYN | ACK), conv.seg(True, ACK),
           conv.seg(True, PSH | ACK, payload), conv.seg(False, ACK), conv.seg(False, RST | ACK)]
    frames = [ethernet(0x0800, ip) for ip in ips]
    blocks = [ng_shb(), ng_idb(1, snaplen=80, tsresol=tsresol_decimal(9))]
    blocks += [ng_epb(0, (5 + i) * NS + 42, f) for i, f in enumerate(frames[:3])]
    for f in frames[3:]:
        blocks.append(ng_spb(f[:80], orig_len=len(f)))
    t = rstlab.read(write(tmp_path, "spb.pcapng", b"".join(blocks)))
    assert (t.counts["frames"], t.counts["tcp"]) == (6, 6)
    rows = segs(t)
    assert [ts_ns(r) for r in rows[:3]] == [5 * NS + 42, 6 * NS + 42, 7 * NS + 42]
    # The cut frame keeps the length its IP header declares (payload_len), not the 26 captured.
    assert proj(rows, ("frame", "flags", "dir", "seq", "ack", "len")) == [
        (1, "S", "orig", 1000, 0, 0), (2, "S.", "resp", 5000, 1001, 0), (3, ".", "orig", 1001, 5001, 0),
        (4, "P.", "orig", 1001, 5001, 512), (5, ".", "resp", 5001, 1513, 0), (6, "R.", "resp", 5001, 1513, 0)]
    [c] = conns(t)
    assert (c["orig_bytes"], c["resp_bytes"]) == (512, 0)


@pytest.mark.parametrize("endian", ["<", ">"], ids=["le", "be"])
def test_pcapng_section_byte_order(tmp_path: Path, endian: str) -> None:
    conv = Conv("10.0.0.1", "10.0.0.2", 40000, 80)
    blocks = [ng_shb(endian), ng_idb(1, tsresol=tsresol_decimal(9), tsoffset=3, endian=endian)]
    blocks += [ng_epb(0, 0x1_0000_0000 + i, ethernet(0x0800, ip), endian=endian, comment="c")
               for i, ip in enumerate(conv.handshake_data_rst())]
    t = rstlab.read(write(tmp_path, f"sec-{endian == '<'}.pcapng", b"".join(blocks)))
    rows = segs(t)
    assert proj(rows) == STD
    # The 64-bit timestamp is (high << 32) | low in the section's byte order.
    assert [ts_ns(r) for r in rows] == [3 * NS + 0x1_0000_0000 + i for i in range(5)]


def two_section_capture() -> tuple[bytes, list[Conv]]:
    """Section 1 (little-endian): Ethernet + raw. Section 2 (big-endian): SLL as interface 0 —
    interface numbering restarts with each section (§4.1), so if_id 0 means SLL there."""
    a = Conv("10.0.0.1", "10.0.0.2", 40000, 80)
    b = Conv("10.0.1.1", "10.0.1.2", 40001, 80)
    c = Conv("10.0.2.1", "10.0.2.2", 40002, 80)
    fa, fb, fc = a.handshake_data_rst(), b.handshake_data_rst(), c.handshake_data_rst()
    s1 = [ng_shb("<"), ng_idb(1, tsresol=tsresol_decimal(6)), ng_idb(101, tsresol=tsresol_decimal(6))]
    for i in range(5):
        s1.append(ng_epb(0, (50 + i) * 1_000_000, ethernet(0x0800, fa[i])))
        s1.append(ng_epb(1, (50 + i) * 1_000_000 + 1, fb[i]))
    s2 = [ng_shb(">"), ng_idb(113, tsresol=tsresol_decimal(9), endian=">")]
    s2 += [ng_epb(0, (60 + i) * NS + 5, sll(0x0800, fc[i]), endian=">") for i in range(5)]
    return b"".join(s1 + s2), [a, b, c]


def test_pcapng_two_sections(tmp_path: Path) -> None:
    data, (a, b, c) = two_section_capture()
    t = rstlab.read(write(tmp_path, "two.pcapng", data))
    assert (t.counts["frames"], t.counts["tcp"], t.counts["malformed"]) == (15, 15, 0)
    rows = segs(t)
    assert [r["conn_id"] for r in rows] == [0, 1] * 5 + [2] * 5
    assert [ts_ns(r) for r in rows[10:]] == [(60 + i) * NS + 5 for i in range(5)]
    cs = conns(t)
    assert_std_conn(cs[0], a, 0, 1, [1, 3, 5, 7, 9])
    assert_std_conn(cs[1], b, 1, 2, [2, 4, 6, 8, 10])
    assert_std_conn(cs[2], c, 2, 11, [11, 12, 13, 14, 15])


def test_pcapng_two_sections_agree_with_tshark(tmp_path: Path, tshark: str) -> None:
    data, _ = two_section_capture()
    p = write(tmp_path, "two.pcapng", data)
    assert_tshark_agrees(tshark, p, rstlab.read(p))


# --- IPv6 extension headers, fragments, other protocols, snap length ----------------------------


def test_ipv6_extension_headers_before_tcp(tmp_path: Path) -> None:
    conv = Conv("2001:db8::a", "2001:db8::b", 33000, 443, v6=True)
    hbh_router_alert = bytes([5, 2, 0, 0])  # RFC 2711 option, padded to 8 by v6_ext
    frames = []
    for from_client, flags, payload in [(True, SYN, b""), (False, SYN | ACK, b""), (True, ACK, b""),
                                        (True, PSH | ACK, b"hello rst!"), (False, RST | ACK, b"")]:
        seg = conv.tcp_seg(from_client, flags, payload)
        src, dst = (conv.client, conv.server) if from_client else (conv.server, conv.client)
        # Hop-by-hop (0) -> destination options (60) -> atomic fragment (44, RFC 6946) -> TCP.
        chain = v6_ext(60, hbh_router_alert) + v6_ext(44) + v6_frag(6, offset=0, more=False) + seg
        frames.append(ethernet(0x86DD, ipv6(src, dst, 0, chain)))
    p = write(tmp_path, "v6ext.pcap", pcap(1, [Rec(1, i, f) for i, f in enumerate(frames)]))
    t = rstlab.read(p)
    assert (t.counts["tcp"], t.counts["fragments"], t.counts["malformed"]) == (5, 0, 0)
    assert proj(segs(t)) == STD
    assert_std_conn(conns(t)[0], conv, 0, 1, [1, 2, 3, 4, 5])


def test_ipv6_extension_headers_agree_with_tshark(tmp_path: Path, tshark: str) -> None:
    conv = Conv("2001:db8::a", "2001:db8::b", 33000, 443, v6=True)
    frames = []
    for i, ip_seg in enumerate([conv.tcp_seg(True, SYN), conv.tcp_seg(False, SYN | ACK)]):
        src, dst = (conv.client, conv.server) if i == 0 else (conv.server, conv.client)
        chain = v6_ext(60) + v6_ext(44) + v6_frag(6) + ip_seg
        frames.append(ethernet(0x86DD, ipv6(src, dst, 0, chain)))
    p = write(tmp_path, "v6ext.pcap", pcap(1, [Rec(1, i, f) for i, f in enumerate(frames)]))
    assert_tshark_agrees(tshark, p, rstlab.read(p))


def fragments_and_other_protocols() -> tuple[bytes, Conv]:
    conv = Conv("10.0.0.1", "10.0.0.2", 40000, 80)
    # A TCP segment of *another* connection, in two IPv4 fragments: reassembled, it is that
    # connection's one packet, on the frame of the last fragment (never one per fragment).
    inner = tcp(41000, 81, 7, 0, SYN, b"x" * 40, src="10.0.0.1", dst="10.0.0.2")
    frag1 = ipv4("10.0.0.1", "10.0.0.2", 6, inner[:24], ident=77, df=False, mf=True)
    frag2 = ipv4("10.0.0.1", "10.0.0.2", 6, inner[24:], ident=77, df=False, frag_offset=3)
    # IPv6: first fragment (offset 0, M=1) and a later one (offset 3, M=0) of a TCP segment.
    inner6 = tcp(41001, 82, 7, 0, SYN, b"y" * 40, src="2001:db8::1", dst="2001:db8::2")
    v6f1 = ipv6("2001:db8::1", "2001:db8::2", 44, v6_frag(6, 0, True, 9) + inner6[:24])
    v6f2 = ipv6("2001:db8::1", "2001:db8::2", 44, v6_frag(6, 3, False, 9) + inner6[24:])
    dns = ipv4("10.0.0.1", "10.0.0.53", 17, udp(5353, 53, b"\x12\x34\x01\x00" + b"\0" * 8))
    ping = ipv4("10.0.0.1", "10.0.0.2", 1, icmp_echo())
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, bytes(6), bytes([10, 0, 0, 1]), bytes(6),
                      bytes([10, 0, 0, 2]))
    std = conv.handshake_data_rst()
    frames = [
        ethernet(0x0800, std[0]),   # 1 tcp
        ethernet(0x0800, frag1),    # 2 fragment
        ethernet(0x0800, frag2),    # 3 fragment
        ethernet(0x0800, dns),      # 4 not_tcp (UDP)
        ethernet(0x0800, std[1]),   # 5 tcp
        ethernet(0x0800, ping),     # 6 not_tcp (ICMP)
        ethernet(0x0806, arp),      # 7 not_tcp (ARP)
        ethernet(0x86DD, v6f1),     # 8 fragment
        ethernet(0x86DD, v6f2),     # 9 fragment
        ethernet(0x0800, std[2]),   # 10 tcp
        ethernet(0x0800, std[3]),   # 11 tcp
        ethernet(0x0800, std[4]),   # 12 tcp
    ]
    return pcap(1, [Rec(3, i, f) for i, f in enumerate(frames)]), conv


def test_fragments_and_other_protocols_are_counted_and_skipped(tmp_path: Path) -> None:
    data, conv = fragments_and_other_protocols()
    t = rstlab.read(write(tmp_path, "mixed.pcap", data))
    c = t.counts
    # Fragment frames are counted as such; the two segments they carried count as TCP.
    assert (c["frames"], c["tcp"], c["fragments"], c["not_tcp"], c["malformed"]) == (12, 7, 4, 3, 0)
    assert c["reassembled"] == 2
    rows = segs(t)
    assert [r["frame"] for r in rows] == [1, 3, 5, 9, 10, 11, 12]
    std = [r for r in rows if r["conn_id"] == 0]
    assert proj(std) == STD
    first, v4, v6 = conns(t)
    assert_std_conn(first, conv, 0, 1, [1, 5, 10, 11, 12])
    # The reassembled SYNs: 40 bytes of payload each (RFC 9293 §3.1: SYN may carry data).
    assert [(r["orig_port"], r["first_frame"], r["orig_pkts"], r["orig_bytes"]) for r in (v4, v6)] == [
        (41000, 3, 1, 40), (41001, 9, 1, 40)]


def test_fragments_and_other_protocols_against_tshark(tmp_path: Path, tshark: str) -> None:
    data, _ = fragments_and_other_protocols()
    p = write(tmp_path, "mixed.pcap", data)
    t = rstlab.read(p)
    theirs = tshark_rows(tshark, p)
    assert len(theirs) == t.counts["frames"]
    # Both reassemble the fragments and show the TCP on the last one: the same frames, the same
    # tcp.stream.
    streams = {int(r["frame.number"]): r["tcp.stream"] for r in theirs}
    assert {f: str(r["conn_id"]) for r in segs(t) for f in [r["frame"]]} == {f: s for f, s in streams.items() if s}


def snaplen_capture() -> bytes:
    conv = Conv("10.0.0.1", "10.0.0.2", 40000, 80)
    big = b"z" * 1000
    ips = [conv.seg(True, SYN), conv.seg(False, SYN | ACK), conv.seg(True, ACK),
           conv.seg(True, PSH | ACK, big), conv.seg(False, PSH | ACK, big[:300]), conv.seg(True, RST | ACK)]
    frames = [ethernet(0x0800, ip) for ip in ips]
    recs = [Rec(1, i, f) for i, f in enumerate(frames)]
    # A frame cut inside the TCP header (14 + 20 + 6 bytes captured) is malformed, not a segment.
    cut_hdr = ethernet(0x0800, conv.seg(True, ACK))
    recs.append(Rec(2, 0, cut_hdr[:40], orig_len=len(cut_hdr)))
    return pcap(1, recs, snaplen=68)


def test_snaplen_cut_frames_keep_declared_payload_length(tmp_path: Path) -> None:
    t = rstlab.read(write(tmp_path, "snap.pcap", snaplen_capture()))
    assert (t.counts["frames"], t.counts["tcp"], t.counts["malformed"]) == (7, 6, 1)
    rows = segs(t)
    # 68 captured bytes hold 14 of the 1000 payload bytes; len is what the IP header declares.
    assert proj(rows, ("frame", "flags", "seq", "ack", "len")) == [
        (1, "S", 1000, 0, 0), (2, "S.", 5000, 1001, 0), (3, ".", 1001, 5001, 0),
        (4, "P.", 1001, 5001, 1000), (5, "P.", 5001, 2001, 300), (6, "R.", 2001, 5301, 0)]
    [c] = conns(t)
    assert (c["orig_bytes"], c["resp_bytes"]) == (1000, 300)
    assert c["orig_rst_frame"] == 6 and c["conn_state"] == "RSTO"


def test_snaplen_against_tshark(tmp_path: Path, tshark: str) -> None:
    p = write(tmp_path, "snap.pcap", snaplen_capture())
    t = rstlab.read(p)
    theirs = tshark_rows(tshark, p)
    assert len(theirs) == 7
    # tshark reports the cut-header frame without a tcp.stream ("[Packet size limited during
    # capture]") — same as rstlab leaving it out.
    mine = {r["frame"]: r for r in segs(t)}
    for r in theirs:
        f = int(r["frame.number"])
        if f in mine:
            assert mine[f]["conn_id"] == int(r["tcp.stream"])
            assert mine[f]["len"] == int(r["tcp.len"])
        else:
            assert f == 7


def test_fin_and_flags_columns(tmp_path: Path) -> None:
    # Flags in tcpdump notation for FIN, URG, ECE/CWR (RFC 3168) on an orderly close.
    conv = Conv("10.0.0.1", "10.0.0.2", 40000, 80)
    ips = [conv.seg(True, SYN | ECE | CWR), conv.seg(False, SYN | ACK | ECE), conv.seg(True, ACK),
           conv.seg(True, FIN | ACK), conv.seg(False, FIN | ACK), conv.seg(True, ACK)]
    t = rstlab.read(write(tmp_path, "fin.pcap", pcap(101, [Rec(1, i, ip) for i, ip in enumerate(ips)])))
    assert [r["flags"] for r in segs(t)] == ["SEW", "S.E", ".", "F.", "F.", "."]
    [c] = conns(t)
    assert (c["orig_fin_frame"], c["resp_fin_frame"], c["rst_count"]) == (4, 5, 0)
    assert c["conn_state"] == "SF"
