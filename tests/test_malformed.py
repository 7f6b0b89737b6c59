"""Bad input: damaged files raise a precise TraceFormatError, damaged packets are counted.

The contract (STYLE.md, crate docs): only "cannot read this file (any further)" raises, as
``TraceFormatError`` (also a ``ValueError``) naming the path, the byte offset of the record that
could not be read and what was wrong, with everything before it in ``.trace``;
``errors="keep"`` returns that partial trace instead. A damaged *packet* is data (the
``malformed`` count), never an exception. Nothing panics into Python on any input.

Offsets below are computed from how each fixture is built (``capwriter``), i.e. from the pcap and
pcapng layouts, not from what rstlab printed.
"""

from __future__ import annotations

import random
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

import rstlab
from capwriter import (
    ACK, PSH, RST, SYN, Conv, Rec, ethernet, ipv4, ipv6, ng_epb, ng_idb, ng_shb, ng_spb, pcap, tcp, udp,
    v6_ext,
)

CONV_FRAMES = [ethernet(0x0800, ip) for ip in Conv("10.0.0.1", "10.0.0.2", 40000, 80).handshake_data_rst()]
PCAP_HDR = 24
REC_HDR = 16


def good_pcap() -> bytes:
    return pcap(1, [Rec(1, i, f) for i, f in enumerate(CONV_FRAMES)])


def pcap_offset(n: int) -> int:
    """Byte offset of record ``n`` (0-based) in ``good_pcap()``."""
    return PCAP_HDR + sum(REC_HDR + len(f) for f in CONV_FRAMES[:n])


SHB = ng_shb()
IDB = ng_idb(1, tsresol=bytes([9]))
EPBS = [ng_epb(0, i, f) for i, f in enumerate(CONV_FRAMES)]


def good_pcapng() -> bytes:
    return SHB + IDB + b"".join(EPBS)


def ng_offset(n: int) -> int:
    """Byte offset of EPB ``n`` (0-based) in ``good_pcapng()``."""
    return len(SHB) + len(IDB) + sum(len(b) for b in EPBS[:n])


def bad_block(kind: int, len1: int, body: int = 20) -> bytes:
    return struct.pack("<II", kind, len1) + b"\0" * body


@dataclass
class Case:
    name: str
    build: Callable[[], bytes]
    offset: int
    frames_kept: int
    says: tuple[str, ...]  # lower-case fragments the message must contain


CASES = [
    Case("empty", lambda: b"", 0, 0, ("empty",)),
    Case("three_bytes", lambda: b"\xd4\xc3\xb2", 0, 0, ("3 bytes",)),
    Case("wrong_magic", lambda: b"GIF89a" + bytes(40), 0, 0, ("not a pcap or pcapng file", "47494638")),
    Case("text_file", lambda: b"hello, this is not a capture\n" * 4, 0, 0, ("not a pcap or pcapng file",)),
    Case("truncated_global_header", lambda: good_pcap()[:10], 0, 0, ("pcap file header", "10 of 24")),
    Case("truncated_record_header", lambda: good_pcap()[:pcap_offset(1) + 8], pcap_offset(1), 1,
         ("record header", "8 of 16", "truncated")),
    Case("record_past_eof", lambda: good_pcap()[:-10], pcap_offset(4), 4,
         (f"claims {len(CONV_FRAMES[4])} captured bytes", f"{len(CONV_FRAMES[4]) - 10} present", "truncated")),
    Case("absurd_caplen", lambda: good_pcap()[:pcap_offset(2)] + struct.pack("<IIII", 1, 0, 0x7FFFFFFF, 0x7FFFFFFF)
         + bytes(200), pcap_offset(2), 2, ("2147483647", "corrupt")),
    Case("absurd_caplen_big_endian",
         lambda: pcap(1, [Rec(1, 0, CONV_FRAMES[0])], endian=">") + struct.pack(">IIII", 1, 0, 0x7FFFFFFF, 60)
         + bytes(200), PCAP_HDR + REC_HDR + len(CONV_FRAMES[0]), 1, ("2147483647", "corrupt")),
    Case("garbage_after_pcap", lambda: good_pcap() + b"\xff" * 7, pcap_offset(5), 5, ("7 of 16", "truncated")),
    Case("garbage_after_pcap_long", lambda: good_pcap() + bytes(range(100)), pcap_offset(5), 5,
         ("claims", "corrupt")),
    Case("ng_block_length_13", lambda: SHB + IDB + EPBS[0] + bad_block(6, 13) + b"".join(EPBS[1:]), ng_offset(1), 1,
         ("enhanced packet block", "invalid length 13")),
    Case("ng_block_length_8", lambda: SHB + IDB + EPBS[0] + bad_block(6, 8) + b"".join(EPBS[1:]), ng_offset(1), 1,
         ("invalid length 8",)),
    Case("ng_block_length_0", lambda: SHB + IDB + EPBS[0] + bad_block(6, 0) + b"".join(EPBS[1:]), ng_offset(1), 1,
         ("invalid length 0",)),
    Case("ng_block_length_huge", lambda: SHB + IDB + EPBS[0] + bad_block(6, 0x7FFFFFF0) + b"".join(EPBS[1:]),
         ng_offset(1), 1, ("2147483632", "corrupt")),
    Case("ng_block_length_mismatch",
         lambda: SHB + IDB + EPBS[0] + EPBS[1][:-4] + struct.pack("<I", len(EPBS[1]) + 4) + b"".join(EPBS[2:]),
         ng_offset(1), 1, ("length mismatch", f"starts with length {len(EPBS[1])}", f"ends with {len(EPBS[1]) + 4}")),
    Case("ng_epb_undescribed_interface", lambda: SHB + IDB + EPBS[0] + ng_epb(3, 0, CONV_FRAMES[1]),
         ng_offset(1), 1, ("interface 3", "only 1")),
    Case("ng_epb_caplen_past_block", lambda: SHB + IDB + EPBS[0] + ng_epb(0, 0, CONV_FRAMES[1], caplen=500)
         + b"".join(EPBS[2:]), ng_offset(1), 1, ("captured length 500",)),
    Case("ng_idb_tsresol_10e-20", lambda: SHB + ng_idb(1, tsresol=bytes([20])) + EPBS[0], len(SHB), 0,
         ("timestamp resolution", "if_tsresol 0x14")),
    Case("ng_idb_tsresol_2e-64", lambda: SHB + ng_idb(1, tsresol=bytes([0x80 | 64])) + EPBS[0], len(SHB), 0,
         ("timestamp resolution", "if_tsresol 0xc0")),
    Case("ng_spb_before_idb", lambda: SHB + ng_spb(CONV_FRAMES[0]), len(SHB), 0, ("simple packet block",)),
    Case("ng_truncated_mid_block", lambda: good_pcapng()[:ng_offset(3) + 30], ng_offset(3), 3,
         (f"30 of its {len(EPBS[3])} bytes", "truncated")),
    Case("ng_truncated_section_header", lambda: SHB[:20], 0, 0, ("section header", "truncated")),
    Case("ng_section_header_bad_byte_order", lambda: SHB[:8] + b"\x11\x22\x33\x44" + SHB[12:] + IDB, 0, 0,
         ("byte-order magic 11223344",)),
    Case("garbage_after_pcapng", lambda: good_pcapng() + b"\xff" * 7, ng_offset(5), 5, ("7 of 8", "truncated")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_damaged_file_raises_precisely(tmp_path: Path, case: Case) -> None:
    p = tmp_path / f"{case.name}.cap"
    p.write_bytes(case.build())
    with pytest.raises(rstlab.TraceFormatError) as info:
        rstlab.read(p)
    e = info.value
    assert isinstance(e, ValueError) and not isinstance(e, rstlab.UnsupportedLinkTypeError)
    assert e.path == str(p)
    assert e.offset == case.offset
    msg = str(e)
    assert msg == f"{p}: at byte offset {case.offset}: {e.what}", msg
    for frag in case.says:
        assert frag in msg.lower(), f"{frag!r} not in {msg!r}"
    assert e.trace is not None and e.trace.counts["frames"] == case.frames_kept


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_damaged_file_keep_returns_what_was_readable(tmp_path: Path, case: Case) -> None:
    p = tmp_path / f"{case.name}.cap"
    p.write_bytes(case.build())
    t = rstlab.read(p, errors="keep")
    assert isinstance(t.error, rstlab.TraceFormatError) and t.error.offset == case.offset
    assert t.counts["frames"] == case.frames_kept
    # Every frame before the damage is analysed: here, the first frames_kept of one conversation.
    rows = t.segments.to_pylist()
    assert [r["frame"] for r in rows] == list(range(1, case.frames_kept + 1))
    flags = ["S", "S.", ".", "P.", "R."][: case.frames_kept]
    assert [r["flags"] for r in rows] == flags
    assert len(t.connections) == (1 if case.frames_kept else 0)
    assert "damaged" in repr(t)


def test_truncated_capture_keeps_every_earlier_connection(tmp_path: Path) -> None:
    # Twenty complete connections, then the file is cut inside the next record: all twenty are in
    # the partial trace, with their resets classified.
    recs = []
    for k in range(20):
        conv = Conv("10.0.0.1", "10.0.0.2", 30000 + k, 80)
        recs += [Rec(10 + k, i, ethernet(0x0800, ip)) for i, ip in enumerate(conv.handshake_data_rst())]
    data = pcap(1, recs)
    cut = len(data) - 20
    p = tmp_path / "cut.pcap"
    p.write_bytes(data[:cut])
    with pytest.raises(rstlab.TraceFormatError) as info:
        rstlab.read(p)
    e = info.value
    last = len(data) - REC_HDR - len(recs[-1].data)
    assert e.offset == last
    t = e.trace
    assert t.counts["frames"] == 99
    assert len(t.connections) == 20
    assert len(t.resets) == 19  # the 20th connection lost its RST with the cut record
    assert [c["orig_port"] for c in t.connections] == [30000 + k for k in range(20)]


# --- link types rstlab does not decode ----------------------------------------------------------


def test_unsupported_link_type_only(tmp_path: Path) -> None:
    p = tmp_path / "user0.pcap"
    p.write_bytes(pcap(147, [Rec(1, 0, b"\x01\x02\x03\x04"), Rec(2, 0, b"\x05\x06")]))
    with pytest.raises(rstlab.UnsupportedLinkTypeError) as info:
        rstlab.read(p)
    e = info.value
    assert isinstance(e, rstlab.TraceFormatError) and isinstance(e, ValueError)
    assert e.linktype == 147 and e.interface == 0 and e.path == str(p)
    assert "147" in str(e) and str(p) in str(e)
    t = rstlab.read(p, errors="keep")
    assert isinstance(t.error, rstlab.UnsupportedLinkTypeError)
    assert (t.counts["frames"], t.counts["unsupported_link"], len(t.connections)) == (2, 2, 0)


def test_unsupported_link_type_beside_a_supported_one_is_counted_not_raised(tmp_path: Path) -> None:
    blocks = [ng_shb(), ng_idb(147), ng_idb(1)]
    blocks += [ng_epb(0, 0, b"opaque")]
    blocks += [ng_epb(1, i, f) for i, f in enumerate(CONV_FRAMES)]
    p = tmp_path / "mixed.pcapng"
    p.write_bytes(b"".join(blocks))
    t = rstlab.read(p)
    assert t.error is None
    assert (t.counts["frames"], t.counts["unsupported_link"], t.counts["tcp"]) == (6, 1, 5)
    assert [r["frame"] for r in t.segments.to_pylist()] == [2, 3, 4, 5, 6]


# --- I/O errors ----------------------------------------------------------------------------------


def test_missing_file_is_an_oserror_with_the_filename(tmp_path: Path) -> None:
    p = tmp_path / "nope.pcap"
    with pytest.raises(FileNotFoundError) as info:
        rstlab.read(p)
    assert info.value.filename == str(p)


def test_directory_is_an_oserror_with_the_filename(tmp_path: Path) -> None:
    with pytest.raises(OSError) as info:
        rstlab.read(tmp_path)
    assert not isinstance(info.value, rstlab.TraceFormatError)
    assert info.value.filename == str(tmp_path)


# --- damaged packets: counted, never raised ------------------------------------------------------

C, S = "10.0.0.1", "10.0.0.2"
A6, B6 = "2001:db8::1", "2001:db8::2"


def syn(sport: int, **kw: object) -> bytes:
    return tcp(sport, 80, 1, 0, SYN, src=C, dst=S, **kw)


def nest_ipip(levels: int, sport: int) -> bytes:
    p = ipv4(C, S, 6, syn(sport))
    for _ in range(levels):
        p = ipv4("192.0.2.1", "192.0.2.2", 4, p)
    return ethernet(0x0800, p)


def nest_gre(levels: int, sport: int) -> bytes:
    p = ipv4(C, S, 6, syn(sport))
    for _ in range(levels):
        p = ipv4("192.0.2.1", "192.0.2.2", 47, struct.pack("!HH", 0, 0x0800) + p)
    return ethernet(0x0800, p)


def nest_vxlan(levels: int, sport: int) -> bytes:
    p = ethernet(0x0800, ipv4(C, S, 6, syn(sport)))
    for _ in range(levels):
        p = ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 17, udp(1234, 4789, bytes([8, 0, 0, 0, 0, 0, 1, 0]) + p)))
    return p


def vlan_stack(n: int, sport: int) -> bytes:
    tags = b"".join(struct.pack("!HH", 0x8100, i & 0xFFF) for i in range(n))
    return bytes(12) + tags + struct.pack("!H", 0x0800) + ipv4(C, S, 6, syn(sport))


# (name, frame, what rstlab makes of it). "tcp" rows also say what tshark does: a tcp.stream.
BAD_PACKETS: list[tuple[str, bytes, str]] = [
    ("ipv4_ihl_4", ethernet(0x0800, ipv4(C, S, 6, syn(1001), ihl=4)), "malformed"),
    ("ipv4_ihl_15_cut", ethernet(0x0800, ipv4(C, S, 6, b"", ihl=15)), "malformed"),
    ("ipv4_total_length_below_header", ethernet(0x0800, ipv4(C, S, 6, syn(1002), total_length=10)), "malformed"),
    ("ipv4_cut_at_12", ethernet(0x0800, ipv4(C, S, 6, syn(1003)))[: 14 + 12], "malformed"),
    ("tcp_data_offset_4", ethernet(0x0800, ipv4(C, S, 6, syn(1004, data_offset=4))), "malformed"),
    # Data offset past the segment (nmap's "short segment"): the fixed header is whole, so the
    # segment is kept with its options marked malformed, as Wireshark keeps it in its stream.
    ("tcp_data_offset_past_end", ethernet(0x0800, ipv4(C, S, 6, syn(1005, data_offset=15))), "tcp"),
    ("tcp_options_off_the_end", ethernet(0x0800, ipv4(C, S, 6, syn(1006, options=bytes([2, 10, 0, 0])))), "tcp"),
    ("tcp_header_cut", ethernet(0x0800, ipv4(C, S, 6, syn(1007), total_length=40)[:30]), "malformed"),
    ("ipv6_cut", ethernet(0x86DD, ipv6(A6, B6, 6, tcp(1008, 80, 1, 0, SYN, src=A6, dst=B6))[:20]), "malformed"),
    ("ipv6_ext_chain_off_the_end", ethernet(0x86DD, ipv6(A6, B6, 0, bytes([6, 5]) + bytes(14))), "malformed"),
    ("ipv6_20_ext_headers", ethernet(0x86DD, ipv6(A6, B6, 60, b"".join(v6_ext(60) for _ in range(19)) + v6_ext(6)
                                                  + tcp(1009, 80, 1, 0, SYN, src=A6, dst=B6))), "tcp"),
    ("vlan_10_tags", vlan_stack(10, 1010), "tcp"),
    # Wireshark gives up too ("Too many nested VLAN tags", undecoded): not TCP.
    ("vlan_100_tags", vlan_stack(100, 1011), "not_tcp"),
    ("ipip_3_deep", nest_ipip(3, 1012), "tcp"),
    # Deeper than rstlab's tunnel limit (4): not looked into. Wireshark does look (see below).
    ("ipip_10_deep", nest_ipip(10, 1013), "not_tcp"),
    ("gre_8_deep", nest_gre(8, 1014), "not_tcp"),
    ("vxlan_8_deep", nest_vxlan(8, 1015), "not_tcp"),
    ("ipip_300_deep", nest_ipip(300, 1016), "not_tcp"),
    ("ethernet_10_bytes", bytes(10), "malformed"),
    ("ethernet_empty", b"", "malformed"),
    ("mpls_cut", ethernet(0x8847, b"\0\0"), "malformed"),
    ("pppoe_cut", ethernet(0x8864, b"\x11\0"), "malformed"),
    ("gtpu_zero_extension", ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 17, udp(
        2152, 2152, bytes([0x34, 0xFF, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0x85, 0])))), "malformed"),
]
# Frames where tshark and rstlab knowingly differ on "is this a TCP segment of a stream":
# - a data offset below 5: Wireshark still files it under a tcp.stream; rstlab (like Zeek, which
#   drops it as bad_TCP_header_len) does not.
# - tunnels deeper than 4: Wireshark keeps dissecting; rstlab stops.
TSHARK_DIFFERS = {"tcp_data_offset_4", "ipip_10_deep", "gre_8_deep", "vxlan_8_deep", "ipip_300_deep"}


def bad_packet_capture() -> tuple[bytes, list[int]]:
    """The standard conversation with a damaged packet after each of its frames."""
    frames: list[bytes] = []
    good: list[int] = []
    for i, (_, frame, _) in enumerate(BAD_PACKETS):
        if i < len(CONV_FRAMES):
            frames.append(CONV_FRAMES[i])
            good.append(len(frames))
        frames.append(frame)
    return pcap(1, [Rec(1, i, f) for i, f in enumerate(frames)]), good


def test_damaged_packets_are_counted_not_raised(tmp_path: Path) -> None:
    data, good = bad_packet_capture()
    p = tmp_path / "bad-packets.pcap"
    p.write_bytes(data)
    t = rstlab.read(p)
    assert t.error is None
    want = {k: sum(1 for _, _, v in BAD_PACKETS if v == k) for k in ("tcp", "malformed", "not_tcp")}
    c = t.counts
    assert c["frames"] == len(BAD_PACKETS) + 5
    assert (c["tcp"], c["malformed"], c["not_tcp"]) == (want["tcp"] + 5, want["malformed"], want["not_tcp"])
    rows = t.segments.to_pylist()
    # The conversation is intact around the damage.
    assert [r["frame"] for r in rows if r["conn_id"] == 0] == good
    assert [r["flags"] for r in rows if r["conn_id"] == 0] == ["S", "S.", ".", "P.", "R."]
    by_port = {r["sport"]: r for r in rows}
    assert "malformed" in by_port[1005]["options"] and by_port[1005]["len"] == 0
    assert "malformed" in by_port[1006]["options"]


def test_damaged_packets_against_tshark(tmp_path: Path, tshark: str) -> None:
    data, _ = bad_packet_capture()
    p = tmp_path / "bad-packets.pcap"
    p.write_bytes(data)
    out = subprocess.run([tshark, "-n", "-r", str(p), "-T", "fields", "-e", "frame.number", "-e", "tcp.stream",
                          "-E", "occurrence=l"], capture_output=True, text=True, check=True).stdout
    theirs = {int(f): s for f, s in (line.split("\t") for line in out.splitlines())}
    mine = {r["frame"] for r in rstlab.read(p).segments.to_pylist()}
    names = {}
    frame = 0
    for i, (name, _, _) in enumerate(BAD_PACKETS):
        frame += 2 if i < len(CONV_FRAMES) else 1
        names[frame] = name
    for f, stream in theirs.items():
        name = names.get(f, "conversation")
        if name in TSHARK_DIFFERS:
            assert (stream != "") and f not in mine, name
        else:
            assert (stream != "") == (f in mine), name


# --- random damage: never a panic ----------------------------------------------------------------


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.random()
        if op < 0.5 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op < 0.65 and b:
            at = rng.randrange(len(b))
            b[at:at + 4] = struct.pack("<I", rng.choice([0, 1, 11, 12, 13, 0x7FFFFFFF, 0xFFFFFFFF, rng.randrange(1 << 32)]))
        elif op < 0.8:
            del b[rng.randrange(len(b) + 1):]
        elif op < 0.9 and b:
            at = rng.randrange(len(b))
            b[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif b:
            at = rng.randrange(len(b))
            del b[at:at + rng.randint(1, 16)]
    return bytes(b)


@pytest.mark.parametrize("seed_name", ["pcap", "pcapng", "bad_packets"])
def test_random_damage_never_panics(tmp_path: Path, seed_name: str) -> None:
    seed = {"pcap": good_pcap, "pcapng": good_pcapng, "bad_packets": lambda: bad_packet_capture()[0]}[seed_name]()
    rng = random.Random(seed_name)
    p = tmp_path / "m.cap"
    outcomes = {"ok": 0, "format": 0}
    for _ in range(300):
        p.write_bytes(mutate(rng, seed))
        # PanicException derives from BaseException: it would escape these clauses and fail.
        try:
            t = rstlab.read(p)
            outcomes["ok"] += 1
        except rstlab.TraceFormatError as e:
            assert e.offset is None or 0 <= e.offset <= p.stat().st_size
            t = e.trace
            outcomes["format"] += 1
        assert t is not None
        t.segments.to_pylist()
    assert outcomes["ok"] and outcomes["format"]
