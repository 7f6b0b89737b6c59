"""IP fragment reassembly (issue #14): a TCP segment carried in IPv4 or IPv6 fragments is one
packet of its connection, on the frame that completed it — as Wireshark numbers it.

Captures are written with ``capwriter`` (plain ``struct``, nothing shared with rstlab). Expected
values come from RFC 791 §3.2 / RFC 8200 §4.5 (what the datagram is), RFC 9293 §3.4 (seq / ack of
the conversation) and tshark run on the same file (``tcp.stream``, raw seq / ack, length, on which
frame). The overlap policy is Wireshark's (``epan/reassemble.c``: fragments laid out in offset
order, a byte comes from the covering fragment that starts lowest); the timeout (60 s, RFC 8200
§4.5) is rstlab's own bound — tshark waits forever, so that case is checked against the RFC only.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest

import rstlab
from capwriter import ACK, PSH, RST, SYN, Conv, Rec, ethernet, ipv4, ipv6, pcap, udp, v6_ext, v6_frag

DATA = bytes(range(256)) * 2  # 512 bytes: the client's one data segment
US = 1_000  # record µs per frame


def v4_fragments(src: str, dst: str, proto: int, payload: bytes, cuts: list[int], *, ident: int,
                 ttl: int = 64) -> list[bytes]:
    """``payload`` split at ``cuts`` (byte offsets, multiples of 8) into IPv4 fragments, in order."""
    edges = [0, *cuts, len(payload)]
    return [ipv4(src, dst, proto, payload[a:b], ident=ident, ttl=ttl, df=False, mf=b < len(payload),
                 frag_offset=a // 8) for a, b in pairwise(edges)]


def v6_fragments(src: str, dst: str, unfrag: bytes, first_next: int, fragmentable: bytes, next_after: int,
                 cuts: list[int], *, ident: int) -> list[bytes]:
    """RFC 8200 §4.5: the unfragmentable part (``unfrag``, whose last Next Header is 44) repeated in
    each fragment, then a fragment header, then a piece of the fragmentable part."""
    edges = [0, *cuts, len(fragmentable)]
    out = []
    for a, b in pairwise(edges):
        fh = v6_frag(next_after, a // 8, b < len(fragmentable), ident)
        out.append(ipv6(src, dst, first_next, unfrag + fh + fragmentable[a:b]))
    return out


def conversation(conv: Conv, split: Callable[[bytes], list[bytes]]) -> tuple[list[bytes], int]:
    """SYN, SYN-ACK, ACK, the client's data segment (as the IP packets ``split`` makes of its TCP
    bytes), RST-ACK. Returns the IP packets and how many carry the data segment."""
    syn, synack, ack = conv.seg(True, SYN), conv.seg(False, SYN | ACK), conv.seg(True, ACK)
    data = split(conv.tcp_seg(True, PSH | ACK, DATA))
    rst = conv.seg(False, RST | ACK)
    return [syn, synack, ack, *data, rst], len(data)


def capture(packets: list[bytes], *, linktype: int = 1, gaps_s: dict[int, int] | None = None) -> bytes:
    """Ethernet (or raw, linktype 101) pcap; ``gaps_s`` puts frame i (0-based) that many seconds on."""
    recs, sec = [], 0
    for i, p in enumerate(packets):
        sec += (gaps_s or {}).get(i, 0)
        frame = ethernet(0x86DD if p[0] >> 4 == 6 else 0x0800, p) if linktype == 1 else p
        recs.append(Rec(sec, i * US, frame))
    return pcap(linktype, recs)


FIELDS = ["frame.number", "tcp.stream", "tcp.seq_raw", "tcp.ack_raw", "tcp.len", "tcp.srcport"]


def tshark_tcp(tshark: str, path: Path) -> dict[int, tuple[int, int, int, int, int]]:
    """Per frame carrying TCP (for tshark): stream, raw seq, raw ack, length, source port."""
    out = subprocess.run(
        [tshark, "-n", "-r", str(path), "-o", "tcp.analyze_sequence_numbers:FALSE", "-T", "fields",
         "-E", "separator=\t", "-E", "occurrence=l", *sum((["-e", f] for f in FIELDS), [])],
        capture_output=True, text=True, check=True,
    ).stdout
    rows = {}
    for line in out.splitlines():
        f, stream, seq, ack, ln, sport = line.split("\t")
        if stream:
            rows[int(f)] = (int(stream), int(seq), int(ack), int(ln), int(sport))
    return rows


def ours(t: rstlab.Trace) -> dict[int, tuple[int, int, int, int, int]]:
    return {r["frame"]: (r["conn_id"], r["seq"], r["ack"], r["len"], r["sport"]) for r in t.segments.to_pylist()}


def check_against_tshark(tshark: str, path: Path, t: rstlab.Trace) -> None:
    assert ours(t) == tshark_tcp(tshark, path)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def std_v4(order: list[int] | None = None, cuts: tuple[int, ...] = (192, 400),
           extra: tuple[int, ...] = ()) -> tuple[list[bytes], int]:
    """The standard IPv4 conversation, its data segment in fragments sent in ``order`` (indices
    into the fragments; ``extra`` indices are sent again after them)."""
    conv = Conv("10.0.0.1", "10.0.0.2", 40000, 80)

    def split(seg: bytes) -> list[bytes]:
        fr = v4_fragments(conv.client, conv.server, 6, seg, list(cuts), ident=0x4242)
        return [fr[i] for i in (order or range(len(fr)))] + [fr[i] for i in extra]

    return conversation(conv, split)


# (name, fragment order, the 1-based frame that completes the datagram)
ORDERS = [("in_order", [0, 1, 2], 6), ("reversed", [2, 1, 0], 6), ("out_of_order", [1, 2, 0], 6)]


@pytest.mark.parametrize(("name", "order", "completes"), ORDERS, ids=[o[0] for o in ORDERS])
def test_a_fragmented_segment_is_one_packet_on_the_frame_that_completes_it(
        tmp_path: Path, name: str, order: list[int], completes: int) -> None:
    packets, _ = std_v4(order)
    t = rstlab.read(write(tmp_path, f"{name}.pcap", capture(packets)))
    c = t.counts
    assert (c["frames"], c["fragments"], c["tcp"], c["reassembled"]) == (7, 3, 5, 1)
    rows = t.segments.to_pylist()
    assert [r["frame"] for r in rows] == [1, 2, 3, completes, 7]
    data = rows[3]
    # RFC 9293 §3.4: the data segment follows the ACK at ISN+1 (1001) and carries all 512 bytes.
    assert (data["conn_id"], data["seq"], data["len"], data["flags"]) == (0, 1001, len(DATA), "P.")
    # The frame's own time (the completing fragment's record).
    assert round(data["ts"].timestamp() * 1e6) == (completes - 1) * US
    [conn] = t.connections.to_pylist()
    assert (conn["orig_pkts"], conn["resp_pkts"], conn["orig_bytes"]) == (3, 2, len(DATA))
    assert conn["history"] == "ShADr"  # Zeek's: the data (D) was seen


@pytest.mark.parametrize(("name", "order", "completes"), ORDERS, ids=[o[0] for o in ORDERS])
def test_fragment_orders_against_tshark(tmp_path: Path, tshark: str, name: str, order: list[int], completes: int) -> None:
    p = write(tmp_path, f"{name}.pcap", capture(std_v4(order)[0]))
    check_against_tshark(tshark, p, rstlab.read(p))
    assert completes in tshark_tcp(tshark, p)


def test_duplicates_before_and_after_completion(tmp_path: Path, tshark: str) -> None:
    # Fragment 0 twice before the datagram completes; then fragment 1 again after it: that one
    # starts a new datagram (the first is done) which never completes.
    packets, _ = std_v4([0, 0, 1, 2], extra=(1,))
    p = write(tmp_path, "dups.pcap", capture(packets))
    t = rstlab.read(p)
    c = t.counts
    assert (c["fragments"], c["reassembled"], c["reassembled_conflicting"], c["reassembly_incomplete"]) == (5, 1, 0, 1)
    assert [r["frame"] for r in t.segments.to_pylist()] == [1, 2, 3, 7, 9]
    check_against_tshark(tshark, p, t)


def overlap_capture() -> tuple[bytes, int]:
    """The data segment as fragments [8, 32) first, then [0, 16) whose bytes 8..12 (the TCP
    acknowledgment number) differ, then the rest. Returns the capture and the ack the
    lower-offset fragment carries."""
    conv = Conv("10.0.0.1", "10.0.0.2", 40000, 80)
    forged_ack = 0x0BADF00D

    def split(seg: bytes) -> list[bytes]:
        src, dst = conv.client, conv.server
        low = bytearray(seg[:16])
        low[8:12] = forged_ack.to_bytes(4, "big")
        mk = lambda b, off, more: ipv4(src, dst, 6, b, ident=7, df=False, mf=more, frag_offset=off // 8)
        return [mk(seg[8:32], 8, True), mk(bytes(low), 0, True), mk(seg[32:], 32, False)]

    packets, _ = conversation(conv, split)
    return capture(packets), forged_ack


def test_overlapping_fragments_follow_wiresharks_policy(tmp_path: Path, tshark: str) -> None:
    data, forged_ack = overlap_capture()
    p = write(tmp_path, "overlap.pcap", data)
    t = rstlab.read(p)
    assert (t.counts["reassembled"], t.counts["reassembled_conflicting"]) == (1, 1)
    seg = next(r for r in t.segments.to_pylist() if r["frame"] == 6)
    # Policy (module docs): the overlapped bytes come from the fragment starting lowest.
    assert seg["ack"] == forged_ack
    check_against_tshark(tshark, p, t)


def test_a_missing_fragment_never_makes_a_segment(tmp_path: Path, tshark: str) -> None:
    packets, _ = std_v4([0, 2])
    p = write(tmp_path, "missing.pcap", capture(packets))
    t = rstlab.read(p)
    c = t.counts
    assert (c["fragments"], c["reassembled"], c["reassembly_incomplete"], c["tcp"]) == (2, 0, 1, 4)
    [conn] = t.connections.to_pylist()
    assert (conn["orig_pkts"], conn["resp_pkts"], conn["orig_bytes"]) == (2, 2, 0)
    check_against_tshark(tshark, p, t)


def test_fragments_past_the_timeout_are_given_up(tmp_path: Path) -> None:
    # RFC 8200 §4.5 (and rstlab's bound for IPv4 too): 60 s after the first fragment the datagram
    # is abandoned. tshark has no timeout, so this is checked against the stated bound only.
    # Past it, the first two fragments' datagram times out and the late last fragment starts a
    # datagram of its own, incomplete at the end of the capture.
    for gap, want in ((59, (1, 0, 0, 5)), (61, (0, 1, 1, 4))):
        packets, _ = std_v4()
        data = capture(packets, gaps_s={5: gap})  # the last fragment `gap` s after the others
        c = rstlab.read(write(tmp_path, f"gap{gap}.pcap", data)).counts
        assert (c["reassembled"], c["reassembly_timed_out"], c["reassembly_incomplete"], c["tcp"]) == want, gap


def v6_conversation() -> list[bytes]:
    """IPv6: hop-by-hop (unfragmentable) → fragment header → destination options → TCP: the
    fragment header in the middle of the chain (RFC 8200 §4.1 order), the dest-options header in
    the fragmentable part, so the reassembled datagram's chain goes on past it."""
    conv = Conv("2001:db8::1", "2001:db8::2", 40001, 443, v6=True)

    def split(seg: bytes) -> list[bytes]:
        fragmentable = v6_ext(6, b"\x01\x02\0\0") + seg  # dest options (60) then TCP
        return v6_fragments(conv.client, conv.server, v6_ext(44, b"\x01\x02\0\0"), 0, fragmentable, 60,
                            [256], ident=0xDEADBEEF)[::-1]

    return conversation(conv, split)[0]


def test_ipv6_fragment_header_inside_the_extension_chain(tmp_path: Path, tshark: str) -> None:
    p = write(tmp_path, "v6.pcap", capture(v6_conversation()))
    t = rstlab.read(p)
    assert (t.counts["fragments"], t.counts["reassembled"], t.counts["tcp"]) == (2, 1, 5)
    rows = t.segments.to_pylist()
    assert [r["frame"] for r in rows] == [1, 2, 3, 5, 6]
    assert (rows[3]["seq"], rows[3]["len"], rows[3]["conn_id"]) == (1001, len(DATA), 0)
    check_against_tshark(tshark, p, t)


def tunnel_capture() -> list[bytes]:
    """Two connections over IP-in-IP (RFC 2003): the first's data segment fragmented *inside* the
    tunnel (whole outer packets, inner fragments), the second's data segment whole inside an
    outer packet that is itself fragmented. Plus a UDP datagram in fragments sharing the first's
    addresses and IP ID: the protocol is part of the IPv4 key, so the two never mix."""
    outer = ("192.0.2.1", "192.0.2.2")
    a = Conv("10.0.0.1", "10.0.0.2", 40000, 80)
    b = Conv("10.0.0.1", "10.0.0.2", 40002, 80)

    def inner_split(seg: bytes) -> list[bytes]:
        fr = v4_fragments(a.client, a.server, 6, seg, [200], ident=99)
        noise = v4_fragments(a.client, a.server, 17, udp(5000, 5001, b"u" * 300), [160], ident=99)
        return [ipv4(*outer, 4, f, ident=500 + i) for i, f in enumerate([noise[0], fr[1], noise[1], fr[0]])]

    def outer_split(seg: bytes) -> list[bytes]:
        whole = ipv4(b.client, b.server, 6, seg, ident=3)
        return v4_fragments(*outer, 4, whole, [104, 304], ident=777)

    pa, _ = conversation(a, inner_split)
    pb, _ = conversation(b, outer_split)
    wrap = lambda p: ipv4(*outer, 4, p, ident=1)
    tunneled = lambda ps, n: [wrap(p) for p in ps[:3]] + ps[3:3 + n] + [wrap(ps[-1])]
    return tunneled(pa, 4) + tunneled(pb, 3)


def test_fragments_inside_a_tunnel_and_a_fragmented_tunnel(tmp_path: Path, tshark: str) -> None:
    p = write(tmp_path, "tunnel.pcap", capture(tunnel_capture()))
    t = rstlab.read(p)
    c = t.counts
    # Datagrams made whole: the inner TCP one, the inner UDP one, the outer one of connection 1.
    assert (c["fragments"], c["reassembled"], c["tcp"], c["reassembly_incomplete"]) == (7, 3, 10, 0)
    conns = t.connections.to_pylist()
    assert [(r["orig_port"], r["orig_pkts"], r["resp_pkts"], r["orig_bytes"]) for r in conns] == [
        (40000, 3, 2, len(DATA)), (40002, 3, 2, len(DATA))]
    check_against_tshark(tshark, p, t)
