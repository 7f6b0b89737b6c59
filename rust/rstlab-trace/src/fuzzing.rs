//! The body of the `read_and_track` fuzz target, shared by the cargo-fuzz harness
//! (`fuzz/fuzz_targets/read_and_track.rs`) and the stable-toolchain driver
//! (`examples/fuzz_smoke.rs`).
//!
//! Arbitrary bytes go through the in-memory reader and the whole analysis (decoding, connection
//! tracking, Zeek state, RST classification, table building). Beyond "no panic", the result must
//! be self-consistent; a failed assertion here is a bug the fuzzer found.

use crate::analyze::{analyze_bytes, AnalyzeOptions, SegmentFilter};
use crate::TraceError;
use std::path::Path;

/// Run one input. Panics (assertion failure) if the analysis is inconsistent.
pub fn read_and_track(data: &[u8]) {
    // Two option sets, so checksum verification, Zeek's checksum handling, bare Zeek roles and
    // the per-connection segment filter are all exercised.
    let full = AnalyzeOptions {
        verify_checksums: true,
        zeek_drop_bad_checksums: true,
        segments: SegmentFilter::All,
        ..AnalyzeOptions::default()
    };
    let a = analyze_bytes(Path::new("fuzz.pcap"), data, &full);
    let c = &a.counts;
    assert_eq!(c.frames, a.read.frames, "every frame read is counted once");
    assert_eq!(c.tcp + c.fragments + c.not_tcp + c.malformed + c.unsupported_link, c.frames);
    assert_eq!(a.tables.segments.num_rows() as u64, c.tcp, "one segment row per TCP frame");
    assert!(c.bad_checksum <= c.tcp);
    assert!(a.read.bytes_read <= data.len() as u64);
    let pkts: u64 = a.tables.conn_rows.iter().map(|r| r.orig_pkts + r.resp_pkts).sum();
    assert_eq!(pkts, c.tcp, "every TCP segment belongs to exactly one connection");
    // conn_id is numbered like tcp.stream: 0, 1, 2, ... in order of first appearance.
    for (i, r) in a.tables.conn_rows.iter().enumerate() {
        assert_eq!(r.conn_id, i as u64);
        assert!(r.first_frame <= r.last_frame && r.last_frame <= c.frames);
    }
    let rsts: u64 = a.tables.conn_rows.iter().map(|r| r.rsts as u64).sum();
    assert_eq!(a.tables.reset_rows.len() as u64, rsts, "one resets row per RST segment");
    match &a.error {
        Some(TraceError::Format { offset, what, .. }) => {
            assert!(*offset <= data.len() as u64, "error offset {offset} past the input ({what})");
            assert!(!what.is_empty());
        }
        Some(TraceError::UnsupportedLinkType { .. }) => assert_eq!(c.unsupported_link, c.frames),
        Some(TraceError::Io { .. }) | Some(TraceError::Interrupted) => panic!("no I/O in memory: {:?}", a.error),
        None => {}
    }

    let drill = AnalyzeOptions { zeek_bare: true, segments: SegmentFilter::Conn(0), ..AnalyzeOptions::default() };
    let b = analyze_bytes(Path::new("fuzz.pcap"), data, &drill);
    assert_eq!(b.counts.tcp, c.tcp, "options do not change what is decoded");
    assert_eq!(b.tables.conn_rows.len(), a.tables.conn_rows.len());
    let first = a.tables.conn_rows.first().map_or(0, |r| r.orig_pkts + r.resp_pkts);
    assert_eq!(b.tables.segments.num_rows() as u64, first, "the drill-down holds conn 0's segments");
}
