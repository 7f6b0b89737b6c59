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

/// The header length of `fuzz/seeds/user0-skip.pcap` (written by `fuzz/make_seeds.py`).
const SKIP_SEED_HEADER: u32 = 6;

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
    // Every frame is counted once by what it is on the wire; a TCP segment reassembled from
    // fragments is counted in `tcp` too (its frame, the last fragment, in `fragments`).
    let r = &c.reassembly;
    let whole_tcp = c.tcp + c.fragments + c.not_tcp + c.malformed + c.unsupported_link - c.frames;
    assert!(whole_tcp <= r.reassembled && r.reassembled <= c.fragments, "{c:?}");
    assert!(r.conflicting <= r.reassembled);
    // Each datagram given up or left over holds at least one fragment no completed one used.
    assert!(r.reassembled + r.timed_out + r.evicted + r.incomplete <= c.fragments, "{c:?}");
    assert_eq!(a.tables.segments.num_rows() as u64, c.tcp, "one segment row per TCP segment");
    assert!(c.bad_checksum <= c.tcp);
    assert!(a.read.bytes_read <= data.len() as u64);
    let conns = &a.tables.connections;
    let u64col = |n: &str| {
        conns.column_by_name(n).and_then(|c| c.as_any().downcast_ref::<arrow_array::UInt64Array>()).expect("u64 column").clone()
    };
    let (ids, op, rp) = (u64col("conn_id"), u64col("orig_pkts"), u64col("resp_pkts"));
    let (ff, lf) = (u64col("first_frame"), u64col("last_frame"));
    let pkts: u64 = (0..conns.num_rows()).map(|i| op.value(i) + rp.value(i)).sum();
    assert_eq!(pkts, c.tcp, "every TCP segment belongs to exactly one connection");
    // conn_id is numbered like tcp.stream: 0, 1, 2, ... in order of first appearance.
    for i in 0..conns.num_rows() {
        assert_eq!(ids.value(i), i as u64);
        assert!(ff.value(i) <= lf.value(i) && lf.value(i) <= c.frames);
    }
    let rst_count = conns.column_by_name("rst_count").and_then(|c| c.as_any().downcast_ref::<arrow_array::UInt32Array>()).expect("u32 column");
    let rsts: u64 = (0..conns.num_rows()).map(|i| rst_count.value(i) as u64).sum();
    assert_eq!(a.tables.resets.num_rows() as u64, rsts, "one resets row per RST segment");
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
    assert_eq!(b.tables.connections.num_rows(), conns.num_rows());
    let first = if conns.num_rows() > 0 { op.value(0) + rp.value(0) } else { 0 };
    assert_eq!(b.tables.segments.num_rows() as u64, first, "the drill-down holds conn 0's segments");

    // Split by flow over three threads (analyze::shard), the tables are the single pass's.
    let one = AnalyzeOptions::default();
    let single = analyze_bytes(Path::new("fuzz.pcap"), data, &one);
    let split = analyze_bytes(Path::new("fuzz.pcap"), data, &AnalyzeOptions { workers: 3, ..one });
    assert_eq!(split.tables.connections, single.tables.connections, "sharded connections");
    assert_eq!(split.tables.resets, single.tables.resets, "sharded resets");
    assert_eq!(split.tables.zeek_conns.batch(), single.tables.zeek_conns.batch(), "sharded zeek_conns");
    assert_eq!(split.counts.tcp, single.counts.tcp);
    assert_eq!(split.counts.frames, single.counts.frames);
    // Zeek's skip rule for link types rstlab does not read (at the offset of the user0 seed's
    // header): it may only turn unsupported frames into decoded ones.
    let skip = AnalyzeOptions { skip_link_bytes: Some(SKIP_SEED_HEADER), ..AnalyzeOptions::default() };
    let s = analyze_bytes(Path::new("fuzz.pcap"), data, &skip);
    assert_eq!(s.counts.frames, c.frames);
    assert_eq!(s.counts.unsupported_link, 0, "the skip rule reads every link type");
    assert!(s.counts.tcp >= c.tcp);
    assert_eq!(s.notes.len(), a.notes.len(), "one note per unread link type either way");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(name: &str) -> Vec<u8> {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("seeds").join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn every_seed_passes_the_fuzz_body() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("seeds");
        let mut n = 0;
        for e in std::fs::read_dir(dir).expect("seeds") {
            read_and_track(&std::fs::read(e.expect("entry").path()).expect("seed"));
            n += 1;
        }
        assert!(n >= 12);
    }

    #[test]
    fn the_encapsulation_seeds_reach_every_decoder() {
        // Every frame of the link-layer / tunnel seeds decodes to TCP, so the fuzzer starts
        // from inputs inside each decoder (tests/test_links.py checks the same frames against
        // tshark).
        for name in ["encaps-1.pcapng", "encaps-2.pcapng", "nflog-be.pcap"] {
            let a = analyze_bytes(Path::new(name), &seed(name), &AnalyzeOptions::default());
            assert!(a.counts.frames > 0 && a.counts.tcp == a.counts.frames, "{name}: {:?}", a.counts);
        }
        let data = seed("user0-skip.pcap");
        let opts = AnalyzeOptions { skip_link_bytes: Some(SKIP_SEED_HEADER), ..AnalyzeOptions::default() };
        let a = analyze_bytes(Path::new("user0-skip.pcap"), &data, &opts);
        assert!(a.counts.frames > 0 && a.counts.tcp == a.counts.frames, "{:?}", a.counts);
    }
}
