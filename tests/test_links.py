"""Every link layer and encapsulation rstlab reads (issue #14: at least what Zeek's packet
analysis reads, plus Cisco FabricPath as Wireshark reads it), each from a hand-built capture.

Frames come from ``capwriter`` (plain ``struct`` from the specifications it cites, nothing shared
with rstlab). Each case frames the standard conversation (handshake, data, RST from the server)
in one link layer or tunnel; the expected connection is the one framed (RFC 9293 §3.4 for seq /
ack, Zeek's conn.log rules for ``RSTR`` / ``ShADr``), and tshark, reading the same file, must
agree frame by frame where Wireshark decodes the encapsulation by default.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import rstlab
from capwriter import (
    Rec,
    ethernet,
    nflog,
    ng_epb,
    ng_idb,
    ng_shb,
    pcap,
    tsresol_decimal,
)
from encaps import CASES, NOT_TCP, USER0, Build, conv_for, frames_of
from test_formats import (
    NS,
    STD,
    assert_std_conn,
    assert_tshark_agrees,
    conns,
    proj,
    segs,
)
from test_tshark_parity import policy_reason, tshark_frames


@pytest.mark.parametrize("name,linktype,v6,build", CASES, ids=[c[0] for c in CASES])
def test_link_layer_or_encapsulation(tmp_path: Path, name: str, linktype: int, v6: bool, build: Build) -> None:
    conv = conv_for(v6)
    recs = [Rec(100 + i, 0, f) for i, f in enumerate(frames_of(conv, build))]
    p = tmp_path / f"{name}.pcap"
    p.write_bytes(pcap(linktype, recs))
    t = rstlab.read(p)
    assert (t.counts["frames"], t.counts["tcp"], t.counts["malformed"], t.counts["not_tcp"]) == (5, 5, 0, 0)
    assert t.notes == []
    assert proj(segs(t)) == STD
    [c] = conns(t)
    assert_std_conn(c, conv, 0, 1, [1, 2, 3, 4, 5])


def test_nflog_from_a_big_endian_host(tmp_path: Path, tshark: str) -> None:
    # NFLOG's TLV lengths and types are in the capturing host's byte order, which is the
    # file's: a big-endian host writes a big-endian pcap (tcpdump.org LINKTYPE_NFLOG; libpcap and
    # Wireshark swap them by the file header).
    conv = conv_for(True)
    recs = [Rec(100 + i, 0, nflog(10, ip, endian=">")) for i, ip in enumerate(conv.handshake_data_rst())]
    p = tmp_path / "nflog-be.pcap"
    p.write_bytes(pcap(239, recs, endian=">"))
    t = rstlab.read(p)
    assert proj(segs(t)) == STD
    [c] = conns(t)
    assert_std_conn(c, conv, 0, 1, [1, 2, 3, 4, 5])
    assert_tshark_agrees(tshark, p, t)


def all_cases_pcapng(tmp_path: Path) -> Path:
    """One pcapng, an interface per case and a distinct connection on each, so one tshark run
    checks them all."""
    body = ng_shb()
    frames: list[bytes] = []
    for i, (_, linktype, v6, build) in enumerate(CASES):
        body += ng_idb(linktype, tsresol=tsresol_decimal(9))
        for j, f in enumerate(frames_of(conv_for(v6, i), build)):
            frames.append(ng_epb(i, (1000 + 10 * i + j) * NS + i, f))
    p = tmp_path / "all-links.pcapng"
    p.write_bytes(body + b"".join(frames))
    return p


def test_every_case_agrees_with_tshark(tmp_path: Path, tshark: str) -> None:
    p = all_cases_pcapng(tmp_path)
    t = rstlab.read(p)
    assert t.counts["tcp"] == 5 * len(CASES)
    assert [c["conn_id"] for c in conns(t)] == list(range(len(CASES)))
    assert_tshark_agrees(tshark, p, t)


# --- what is not TCP, or not read ----------------------------------------------------------------



@pytest.mark.parametrize("name,linktype,build", NOT_TCP, ids=[c[0] for c in NOT_TCP])
def test_not_tcp(tmp_path: Path, name: str, linktype: int, build: Build) -> None:
    recs = [Rec(100 + i, 0, f) for i, f in enumerate(frames_of(conv_for(False), build))]
    p = tmp_path / f"{name}.pcap"
    p.write_bytes(pcap(linktype, recs))
    t = rstlab.read(p)
    assert (t.counts["frames"], t.counts["not_tcp"], t.counts["tcp"]) == (5, 5, 0)
    assert len(t.connections) == 0


# Where Wireshark 4.0 reads on and rstlab, with the RFCs and Zeek, does not: GRE version 2
# (RFC 2784 §2.3.1: a receiver MUST discard it; Zeek: unknown_gre_version) and Geneve version 1
# (RFC 8926 §3.4: MUST be dropped; Zeek: geneve_invalid_version).
TSHARK_READS_ANYWAY = {"gre_version_2", "geneve_version_1"}


def test_not_tcp_agrees_with_tshark(tmp_path: Path, tshark: str) -> None:
    body = ng_shb()
    frames: list[bytes] = []
    for i, (_, linktype, build) in enumerate(NOT_TCP):
        body += ng_idb(linktype, tsresol=tsresol_decimal(9))
        frames += [ng_epb(i, (10 * i + j) * NS, f) for j, f in enumerate(frames_of(conv_for(False, i), build))]
    p = tmp_path / "not-tcp.pcapng"
    p.write_bytes(body + b"".join(frames))
    out = subprocess.run([tshark, "-n", "-r", str(p), "-Y", "tcp", "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, check=True).stdout
    expected = [5 * i + j + 1 for i, (name, _, _) in enumerate(NOT_TCP) if name in TSHARK_READS_ANYWAY for j in range(5)]
    assert [int(x) for x in out.split()] == expected
    assert rstlab.read(p).counts["tcp"] == 0


def test_unsupported_interface_is_a_note_and_the_rest_is_read(tmp_path: Path) -> None:
    conv = conv_for(False)
    blocks = [ng_shb(), ng_idb(USER0, name="usb0"), ng_idb(1, name="eth0")]
    blocks += [ng_epb(0, 0, b"\x01\x02\x03"), ng_epb(0, 1, b"\x04")]
    blocks += [ng_epb(1, 2 + i, ethernet(0x0800, ip)) for i, ip in enumerate(conv.handshake_data_rst())]
    p = tmp_path / "one-bad-interface.pcapng"
    p.write_bytes(b"".join(blocks))
    t = rstlab.read(p)
    assert t.error is None
    assert (t.counts["frames"], t.counts["unsupported_link"], t.counts["tcp"]) == (7, 2, 5)
    [c] = conns(t)
    assert_std_conn(c, conv, 0, 3, [3, 4, 5, 6, 7])
    [note] = t.notes
    assert "2 frames" in note and f"link type {USER0}" in note and "interface 0 (usb0)" in note
    assert "eth0" not in note and "ETHERNET" in note


def test_a_fully_readable_file_has_no_notes(tmp_path: Path) -> None:
    p = tmp_path / "fine.pcap"
    p.write_bytes(pcap(1, [Rec(1, 0, ethernet(0x0800, ip)) for ip in conv_for(False).handshake_data_rst()]))
    assert rstlab.read(p).notes == []


def test_skip_link_bytes_reads_an_unknown_link_type_like_zeeks_skip_analyzer(tmp_path: Path) -> None:
    # A private link type with a 6-byte header of its own: Zeek reads it with
    # `redef PacketAnalyzer::SKIP::skip_bytes = 6` and the link type mapped to SKIP.
    conv = conv_for(True)
    recs = [Rec(1 + i, 0, b"HDR" + bytes([i, 0, 0]) + ip) for i, ip in enumerate(conv.handshake_data_rst())]
    p = tmp_path / "user0.pcap"
    p.write_bytes(pcap(USER0, recs))
    t = rstlab.read(p, skip_link_bytes=6)
    assert (t.counts["tcp"], t.counts["unsupported_link"]) == (5, 0)
    assert proj(segs(t)) == STD  # the lazy second pass reads with the same rule
    [c] = conns(t)
    assert_std_conn(c, conv, 0, 1, [1, 2, 3, 4, 5])
    [note] = t.notes
    assert "5 frames" in note and f"link type {USER0}" in note and "skipping 6 bytes" in note
    # Without the rule the file cannot be read at all.
    with pytest.raises(rstlab.UnsupportedLinkTypeError):
        rstlab.read(p)
    # An offset past the frame's end makes it malformed, not a panic.
    t = rstlab.read(p, skip_link_bytes=10_000)
    assert (t.counts["malformed"], t.counts["tcp"]) == (5, 0)


# --- public captures that use these encapsulations -----------------------------------------------

PUBLIC = ["zeek/mpls-in-vlan.pcap", "zeek/tunnels/gre-sample.pcap", "zeek/tunnels/gre-over-udp-4754.pcap",
          "zeek/tunnels/gre-aruba.pcap", "zeek/tunnels/gre-aruba-amsdu.pcap",
          "zeek/tunnels/vxlan-encapsulated-http.pcap", "zeek/tunnels/gtp/gtp2_different_udp_port.pcap"]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_encapsulated_capture_agrees_with_tshark(traces: Path, tshark: str, name: str) -> None:
    # The parity rule of test_tshark_parity on these files alone: every frame tshark files under
    # a tcp.stream has that conn_id, IP fragments (which tshark reassembles) excepted.
    p = traces / name
    if not p.exists():
        pytest.skip(f"{p} not in the shared traces")
    t = rstlab.read(p)
    ours = {r["frame"]: r["conn_id"] for r in segs(t)}
    theirs = tshark_frames(tshark, p)
    compared = 0
    for frame, row in theirs.items():
        stream = row["tcp.stream"].split(",")[0]
        if stream == "" and frame not in ours:
            continue
        if stream != "" and frame not in ours and policy_reason(row) == "ip_fragment":
            continue
        assert ours.get(frame) == int(stream), (frame, row)
        compared += 1
    assert compared > 0
