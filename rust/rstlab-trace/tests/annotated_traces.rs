//! The classifier on the annotated public traces (`/work/shared/traces/MANIFEST.md`, "Annotated
//! cases"), plus every RST in the shared traces checked field by field against tshark's view
//! (`REFERENCE_tshark_rst.tsv`) and counted by cause.
//!
//! The shared folder is found through `RSTLAB_SHARED` or at `<repo>/../shared`; without it each
//! test prints why it skips (the traces are reference inputs, not shipped with the project).
//! Expected verdicts come from the manifest's annotations and the RFC 9293 reply / abort shapes
//! the traces show, not from this code's output.

mod common;

use rstlab_trace::capture::{read_frames, FrameSink};
use rstlab_trace::classify::{Acceptability, Cause, ConnMeta, Effect, Origin, Phase, ResetRow, ResetRows, ResetTracker};
use rstlab_trace::flow::zeek::{ZeekConn, ZeekOptions};
use rstlab_trace::flow::{Conn, ConnSink, Dir, Tracker};
use rstlab_trace::wire::{decode, DecodeOptions, Decoded, FrameMeta, Segment};
use std::collections::{BTreeMap, HashMap};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

fn traces_dir() -> Option<PathBuf> {
    common::shared_traces()
}

struct Resets {
    rows: ResetRows,
}

struct State {
    tracker: ResetTracker,
    /// Zeek's role decision for the `sender` column.
    zeek: ZeekConn,
}

impl ConnSink for Resets {
    type State = State;
    fn open(&mut self, _conn: &Conn, first: &Segment) -> State {
        State { tracker: ResetTracker::new(), zeek: ZeekConn::new(first, ZeekOptions { ignore_checksums: true }) }
    }
    fn segment(&mut self, _conn: &Conn, st: &mut State, dir: Dir, seg: &Segment) {
        st.zeek.on_segment(dir, seg);
        st.tracker.on_segment(dir, seg);
    }
    fn close(&mut self, conn: Conn, st: State) {
        let meta = ConnMeta { conn_id: conn.id, orig_is_fwd: st.zeek.orig_is_fwd() };
        st.tracker.finish(&meta, &mut self.rows);
    }
}

struct Frames {
    tracker: Tracker<Resets>,
}

impl FrameSink for Frames {
    fn frame(&mut self, meta: &FrameMeta, data: &[u8]) -> ControlFlow<()> {
        if let Decoded::Tcp(seg) = decode(meta, data, DecodeOptions::default()) {
            self.tracker.push(&seg);
        }
        ControlFlow::Continue(())
    }
}

fn classify(path: &Path) -> Vec<ResetRow> {
    let mut frames = Frames { tracker: Tracker::new(Resets { rows: ResetRows::new() }, 3600, 600) };
    let (_, err) = read_frames(path, &mut frames);
    assert!(err.is_none(), "{}: {err:?}", path.display());
    let mut rows = frames.tracker.finish().rows;
    rows.sort_by_frame();
    rows.rows().to_vec()
}

/// Rows of one annotated trace by frame, or `None` when the shared folder is absent.
fn case(rel: &str) -> Option<BTreeMap<u64, ResetRow>> {
    let p = traces_dir()?.join(rel);
    Some(classify(&p).into_iter().map(|r| (r.frame, r)).collect())
}

fn show(rows: &BTreeMap<u64, ResetRow>) -> String {
    rows.values()
        .map(|r| format!("{} {} {} {} {:.2} | {}", r.frame, r.sender(), r.cause, r.effect.as_str(), r.confidence, r.evidence))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn rst_inject_rae_first_rst_forged_later_genuine() {
    let Some(rows) = case("zeek/tcp/rst-inject-rae.pcap") else { return };
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [2, 7, 9], "{}", show(&rows));
    let forged = &rows[&2];
    assert_eq!(forged.cause, Cause::Injected, "{}", show(&rows));
    assert_eq!(forged.origin, Origin::MiddleboxSuspected);
    // The client was in SYN-SENT and the ACK is not ISS+1: dropped; the handshake went on.
    assert_eq!(forged.acceptability, Acceptability::SynSentAckBad);
    assert_eq!(forged.effect, Effect::Ignored);
    for p in ["ttl_out_of_line", "ip_id_copies_peer", "reserved_bits", "odd_ack"] {
        assert!(forged.evidence.contains(p), "{p}: {}", forged.evidence);
    }
    // Frame 7: RST+ACK at the server's SND.NXT after it acknowledged the request (RFC 9293
    // §3.10.5 abort shape); frame 9: <SEQ=SEG.ACK><CTL=RST> to the client's later data.
    for f in [7, 9] {
        assert_ne!(rows[&f].cause, Cause::Injected, "{}", show(&rows));
        assert_ne!(rows[&f].origin, Origin::MiddleboxSuspected);
        assert_eq!(rows[&f].sender(), "resp");
    }
    assert_eq!(rows[&7].cause, Cause::Abort, "{}", show(&rows));
    assert_eq!(rows[&7].acceptability, Acceptability::Exact);
    assert_eq!(rows[&9].cause, Cause::NoConnection, "{}", show(&rows));
    assert_eq!(rows[&9].trigger, Some(8));
    assert_eq!(rows[&9].phase, Phase::PostClose);
}

#[test]
fn qi_synack_client_resets_late_genuine_data_after_its_fin() {
    let Some(rows) = case("zeek/tcp/qi_internet_SYNACK_curl_jsonip.pcap") else { return };
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [10, 12, 14], "{}", show(&rows));
    // Each answers the segment before it with SEQ = SEG.ACK, after the client's FIN (frame 6).
    // The first is data after close (RFC 1122 §4.2.2.13); that RST deleted the client's TCB
    // (RFC 9293 §3.10.5), so the next two answer from CLOSED (§3.10.7.1; Linux NO_SOCKET).
    for (f, trig, cause) in [(10, 9, Cause::AfterClose), (12, 11, Cause::NoConnection), (14, 13, Cause::NoConnection)] {
        let r = &rows[&f];
        assert_eq!(r.cause, cause, "{}", show(&rows));
        assert_eq!(r.sender(), "orig");
        assert_eq!(r.origin, Origin::EndpointStackReply);
        assert_eq!(r.trigger, Some(trig));
        assert!(matches!(r.phase, Phase::Closing | Phase::PostClose), "{:?}", r.phase);
        assert_eq!(r.flags.tcpdump(), "R");
    }
    // Nothing had ended the connection before the first of them.
    assert_eq!(rows[&10].phase, Phase::Closing);
    assert_eq!(rows[&14].effect, Effect::Terminated);
}

#[test]
fn ctu_server_resets_the_fin_after_its_own_fin() {
    let Some(rows) = case("zeek/tcp/ctu-64702-888.pcap") else { return };
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [15, 16], "{}", show(&rows));
    for r in rows.values() {
        assert_eq!(r.cause, Cause::AfterClose, "{}", show(&rows));
        // The capture starts at the SYN-ACK: Zeek makes the client the originator.
        assert_eq!(r.sender(), "resp");
        assert_eq!(r.origin, Origin::EndpointStackReply);
        assert!(matches!(r.trigger, Some(13 | 14)), "{:?}", r.trigger);
        assert_eq!(r.acceptability, Acceptability::Exact);
        assert!(r.evidence.contains("the peer's FIN"), "{}", r.evidence);
    }
}

#[test]
fn refuseconnection_syn_to_closed_port() {
    let Some(rows) = case("chrissanders-packets/tcp_refuseconnection.pcapng") else { return };
    let r = &rows[&2];
    assert_eq!(r.cause, Cause::Refused, "{}", show(&rows));
    assert_eq!(r.origin, Origin::EndpointStackReply);
    assert_eq!(r.trigger, Some(1));
    assert_eq!(r.acceptability, Acceptability::SynSentAckOk);
    assert_eq!(r.phase, Phase::Handshake);
    assert!(r.evidence.contains("reject with tcp reset"), "{}", r.evidence);
}

#[test]
fn synscan_closed_ports_refuse() {
    let Some(rows) = case("chrissanders-packets/synscan.pcapng") else { return };
    assert_eq!(rows.len(), 5, "{}", show(&rows));
    for r in rows.values() {
        assert_eq!(r.cause, Cause::Refused, "{}", show(&rows));
        assert_eq!(r.sender(), "resp");
    }
}

#[test]
fn nowebaccess2_each_syn_retry_refused() {
    let Some(rows) = case("chrissanders-packets/nowebaccess2.pcapng") else { return };
    assert_eq!(rows.len(), 3, "{}", show(&rows));
    let triggers: Vec<_> = rows.values().map(|r| r.trigger).collect();
    assert_eq!(triggers, [Some(3), Some(5), Some(7)]);
    assert!(rows.values().all(|r| r.cause == Cause::Refused), "{}", show(&rows));
}

#[test]
fn no_3whs_midstream_data_gets_seq_eq_seg_ack_rst() {
    let Some(rows) = case("suricata-verify/alert-no-3whs-established/no-3whs.pcap") else { return };
    assert_eq!(rows.keys().copied().collect::<Vec<_>>(), [2, 4], "{}", show(&rows));
    for (f, trig) in [(2, 1), (4, 3)] {
        let r = &rows[&f];
        assert_eq!(r.cause, Cause::NoConnection, "{}", show(&rows));
        assert_eq!(r.trigger, Some(trig));
        assert_eq!(r.acceptability, Acceptability::Exact);
    }
    assert_eq!(rows[&2].phase, Phase::Midstream);
}

#[test]
fn single_rst_is_unsolicited() {
    let Some(rows) = case("zeek/tcp/single-rst.pcap") else { return };
    assert_eq!(rows.len(), 1);
    let r = &rows[&1];
    assert_eq!(r.cause, Cause::Unsolicited);
    assert_eq!(r.acceptability, Acceptability::Unknown);
}

#[test]
fn syn_then_rst_originator_gives_up() {
    let Some(rows) = case("zeek/tcp/syn-then-rst.pcap") else { return };
    let r = &rows[&2];
    assert_eq!(r.sender(), "orig");
    assert_eq!(r.phase, Phase::Handshake);
    assert_eq!(r.cause, Cause::ConnectAbandoned);
}

#[test]
fn nmap_vsn_targets_refuse_and_scanner_aborts() {
    let Some(rows) = case("zeek/nmap-vsn.pcap") else { return };
    assert_eq!(rows.len(), 9, "{}", show(&rows));
    for f in [11, 80, 257, 478, 479, 480] {
        assert_eq!(rows[&f].cause, Cause::Refused, "{}", show(&rows));
    }
    // The scanner completes the handshake, then resets at its SND.NXT (connect scan).
    for f in [116, 152, 492] {
        assert_eq!(rows[&f].sender(), "orig");
        assert_eq!(rows[&f].cause, Cause::Abort, "{}", show(&rows));
    }
}

/// tshark's TSV: (file, frame) → the fields a row repeats.
fn tshark_reference(traces: &Path) -> HashMap<(String, u64), Vec<String>> {
    let text = std::fs::read_to_string(traces.join("REFERENCE_tshark_rst.tsv")).expect("reference tsv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (fi, fr) = (col("file"), col("frame"));
    let want = ["seq_raw", "ack_raw", "ttl_or_hlim", "ip_id", "window"].map(col);
    lines
        .map(|l| l.split('\t').collect::<Vec<_>>())
        // Inside tunnels tshark lists every IP header's value, outermost first: keep the inner one.
        .map(|v| {
            let inner = |i: usize| v[i].rsplit('|').next().unwrap_or("").to_string();
            ((v[fi].to_string(), v[fr].parse().unwrap()), want.iter().map(|&i| inner(i)).collect())
        })
        .collect()
}

fn all_traces(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            all_traces(&p, out);
        } else if p.extension().is_some_and(|e| e == "pcap" || e == "pcapng") {
            out.push(p);
        }
    }
}

/// Every RST of every shared trace: the same frames and header fields as tshark, and the cause
/// counts printed (`cargo test -p rstlab-trace --test annotated_traces -- --nocapture`).
#[test]
fn all_shared_traces_match_tshark_and_count_causes() {
    let Some(dir) = traces_dir() else { return };
    let reference = tshark_reference(&dir);
    let mut files = Vec::new();
    all_traces(&dir, &mut files);
    let mut counts: BTreeMap<Cause, usize> = BTreeMap::new();
    let mut effects: BTreeMap<&str, usize> = BTreeMap::new();
    let mut seen = 0;
    for p in &files {
        let rel = p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned();
        for r in classify(p) {
            let key = (rel.clone(), r.frame);
            let Some(t) = reference.get(&key) else { panic!("{rel} frame {}: a RST tshark does not list", r.frame) };
            let ip_id = r.ip_id.map(|i| format!("{i:#06x}")).unwrap_or_default();
            let ours = [r.seq.to_string(), r.ack.to_string(), r.ttl.to_string(), ip_id, r.window.to_string()];
            assert_eq!(&ours[..], &t[..], "{rel} frame {}", r.frame);
            assert!((0.0..=1.0).contains(&r.confidence));
            *counts.entry(r.cause).or_default() += 1;
            *effects.entry(r.effect.as_str()).or_default() += 1;
            seen += 1;
        }
    }
    assert_eq!(seen, reference.len(), "RSTs found vs tshark's");
    println!("{seen} RSTs in {} traces", files.len());
    for (c, n) in &counts {
        println!("{:>24} {n}", c.as_str());
    }
    println!("effects: {effects:?}");
}

