//! Classic pcap: files built by hand from the format (draft-ietf-opsawg-pcap §4 file header,
//! §5 record header), read from memory, from a `Read` in small pieces into a small buffer, and
//! from a file.

use super::super::timestamps::ts_ns;
use super::super::{read_frames, read_frames_from, read_input, BUFFER, PCAP_BUFFER};
use super::*;
use std::ops::ControlFlow;

const ETHERNET: u32 = 1;

/// §4: magic (0xa1b2c3d4 µs, 0xa1b23c4d ns), version 2.4, thiszone, sigfigs, snaplen,
/// link type, all in the writer's byte order.
fn file_header(be: bool, nanos: bool, snaplen: u32, linktype: u32) -> Vec<u8> {
    let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let magic = if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
    [&w32(magic)[..], &w16(2), &w16(4), &w32(0), &w32(0), &w32(snaplen), &w32(linktype)].concat()
}

/// §5: ts seconds, ts fraction, captured length, original length, then the captured bytes.
fn record(be: bool, sec: u32, frac: u32, data: &[u8], orig_len: u32) -> Vec<u8> {
    let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    [&w32(sec)[..], &w32(frac), &w32(data.len() as u32), &w32(orig_len), data].concat()
}

fn packet(n: usize, fill: u8) -> Vec<u8> {
    (0..n).map(|i| fill.wrapping_add(i as u8)).collect()
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Frames {
    /// (frame, ts_ns, orig_len, interface, data)
    frames: Vec<(u64, i64, u32, u32, Vec<u8>)>,
    interfaces: Vec<(u32, Interface)>,
    progress: Vec<(u64, u64)>,
    break_after: Option<usize>,
}
impl FrameSink for Frames {
    fn frame(&mut self, meta: &FrameMeta, data: &[u8]) -> ControlFlow<()> {
        self.frames.push((meta.frame, meta.ts_ns, meta.orig_len, meta.interface, data.to_vec()));
        if Some(self.frames.len()) == self.break_after {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
    fn interface(&mut self, index: u32, iface: &Interface) {
        self.interfaces.push((index, iface.clone()));
    }
    fn progress(&mut self, bytes: u64, total: u64) -> ControlFlow<()> {
        self.progress.push((bytes, total));
        ControlFlow::Continue(())
    }
}

type Outcome = (Frames, ReadStats, Option<String>);

fn from_memory(bytes: &[u8], sink: Frames) -> Outcome {
    let mut sink = sink;
    let (stats, err) = read_frames_from(Path::new("t.pcap"), bytes, &mut sink);
    (sink, stats, err.map(|e| e.to_string()))
}

/// Hands out at most `.1` bytes per read.
struct Pieces<'a>(&'a [u8], usize);
impl Read for Pieces<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.1.min(buf.len()).min(self.0.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Read through the buffered path with a `capacity`-byte buffer, `piece` bytes per read.
fn streamed(bytes: &[u8], capacity: usize, piece: usize, sink: Frames) -> Outcome {
    let mut sink = sink;
    let mut stats = ReadStats { file_size: bytes.len() as u64, ..Default::default() };
    let err = read_input(Path::new("t.pcap"), Pieces(bytes, piece), capacity, BUFFER, &mut sink, &mut stats);
    (sink, stats, err.map(|e| e.to_string()))
}

/// The same outcome from memory and through small buffers and short reads.
fn read_all_ways(bytes: &[u8], sink: Frames) -> Outcome {
    let want = from_memory(bytes, sink.clone());
    for (capacity, piece) in [(24, 1), (40, 7), (64, 64), (100, 3), (1000, 1000), (PCAP_BUFFER, usize::MAX)] {
        assert_eq!(streamed(bytes, capacity, piece, sink.clone()), want, "capacity {capacity}, {piece} bytes a read");
    }
    want
}

fn at(offset: usize, what: &str) -> Option<String> {
    Some(format!("t.pcap: at byte offset {offset}: {what}"))
}

#[test]
fn records_split_across_refills_are_read_whole() {
    let data: Vec<Vec<u8>> = (0..20).map(|i| packet(10 + 7 * i, i as u8)).collect();
    let mut f = file_header(false, false, 65535, ETHERNET);
    for (i, d) in data.iter().enumerate() {
        f.extend(record(false, 1_000 + i as u32, 999_999 - i as u32, d, d.len() as u32 + 4));
    }
    let (sink, stats, err) = read_all_ways(&f, Frames::default());
    assert_eq!(err, None);
    let want: Vec<_> = (0..20)
        .map(|i| {
            let ts = (1_000 + i as i64) * 1_000_000_000 + (999_999 - i as i64) * 1_000;
            (i as u64 + 1, ts, data[i].len() as u32 + 4, 0, data[i].clone())
        })
        .collect();
    assert_eq!(sink.frames, want);
    assert_eq!(stats.frames, 20);
    assert_eq!(stats.bytes_read, f.len() as u64);
    assert_eq!(stats.file_size, f.len() as u64);
    let iface = &stats.interfaces[0];
    assert_eq!((iface.linktype, iface.snaplen, iface.units_per_sec), (LinkType(ETHERNET), 65535, 1_000_000));
    assert_eq!(sink.interfaces, vec![(0, iface.clone())]);
    assert!(stats.unsupported_linktypes.is_empty());
}

#[test]
fn a_record_larger_than_the_buffer_grows_it() {
    let big = packet(5000, 7);
    let f = [
        file_header(false, false, 0, ETHERNET),
        record(false, 1, 2, &[1, 2, 3], 3),
        record(false, 3, 4, &big, 6000),
        record(false, 5, 6, &[4], 1),
    ]
    .concat();
    // read_all_ways reads it with buffers of 24 to 1000 bytes.
    let (sink, stats, err) = read_all_ways(&f, Frames::default());
    assert_eq!(err, None);
    let lens: Vec<_> = sink.frames.iter().map(|f| (f.2, f.4.len())).collect();
    assert_eq!(lens, vec![(3, 3), (6000, 5000), (1, 1)]);
    assert_eq!(sink.frames[1].4, big);
    assert_eq!(stats.bytes_read, f.len() as u64);
}

#[test]
fn a_header_with_no_records_is_an_empty_capture() {
    let f = file_header(false, false, 262_144, ETHERNET);
    let (sink, stats, err) = read_all_ways(&f, Frames::default());
    assert_eq!(err, None);
    assert!(sink.frames.is_empty());
    assert_eq!((stats.frames, stats.bytes_read), (0, 24));
    assert_eq!(sink.interfaces.len(), 1);
    assert_eq!(stats.interfaces.len(), 1);
}

#[test]
fn a_truncated_record_header_names_its_offset() {
    let mut f = [file_header(false, false, 65535, ETHERNET), record(false, 1, 0, &packet(60, 0), 60)].concat();
    let offset = f.len();
    f.extend_from_slice(&record(false, 2, 0, &packet(60, 0), 60)[..9]);
    let (sink, stats, err) = read_all_ways(&f, Frames::default());
    assert_eq!(err, at(offset, "file ends inside a record header: 9 of 16 bytes present (truncated capture)"));
    assert_eq!(sink.frames.len(), 1);
    assert_eq!((stats.frames, stats.bytes_read), (1, offset as u64));
}

#[test]
fn a_truncated_record_body_names_its_offset() {
    let mut f = [file_header(false, false, 65535, ETHERNET), record(false, 1, 0, &packet(60, 0), 60)].concat();
    let offset = f.len();
    // The header claims 100 captured bytes; 30 follow it.
    f.extend_from_slice(&record(false, 2, 0, &packet(100, 0), 100)[..16 + 30]);
    let (sink, stats, err) = read_all_ways(&f, Frames::default());
    assert_eq!(err, at(offset, "file ends inside a record: its header claims 100 captured bytes, 30 present (truncated capture)"));
    assert_eq!(sink.frames.len(), 1);
    assert_eq!(stats.bytes_read, offset as u64);
}

#[test]
fn an_implausible_caplen_is_refused_at_its_record() {
    let mut f = [file_header(false, false, 65535, ETHERNET), record(false, 1, 0, &packet(60, 0), 60)].concat();
    let offset = f.len();
    f.extend([1u32, 0, 0x7fff_ffff, 0x7fff_ffff].iter().flat_map(|v| v.to_le_bytes()));
    f.extend(packet(200, 0));
    let (sink, stats, err) = read_all_ways(&f, Frames::default());
    let why = "record header claims 2147483647 captured bytes (snap length 65535): the length field is corrupt, or this is not the start of a record";
    assert_eq!(err, at(offset, why));
    assert_eq!((sink.frames.len(), stats.bytes_read), (1, offset as u64));
}

#[test]
fn a_short_file_header_is_explained() {
    let f = file_header(false, false, 65535, ETHERNET);
    let (_, _, err) = from_memory(&f[..20], Frames::default());
    assert_eq!(err, at(0, "file ends inside the pcap file header: 20 of 24 bytes present (truncated capture)"));
}

#[test]
fn big_endian_and_nanosecond_files() {
    for be in [false, true] {
        for nanos in [false, true] {
            let frac = if nanos { 123_456_789 } else { 123_456 };
            let f = [
                file_header(be, nanos, 65535, ETHERNET),
                record(be, 1_700_000_000, frac, &packet(40, 1), 1514),
                record(be, u32::MAX, if nanos { 999_999_999 } else { 999_999 }, &packet(2, 9), 2),
            ]
            .concat();
            let (sink, stats, err) = read_all_ways(&f, Frames::default());
            assert_eq!(err, None, "be {be} ns {nanos}");
            let ts = |sec: u32, frac: u32| sec as i64 * 1_000_000_000 + frac as i64 * if nanos { 1 } else { 1_000 };
            let got: Vec<_> = sink.frames.iter().map(|f| (f.1, f.2, f.4.clone())).collect();
            let want = vec![
                (ts(1_700_000_000, frac), 1514, packet(40, 1)),
                (ts(u32::MAX, if nanos { 999_999_999 } else { 999_999 }), 2, packet(2, 9)),
            ];
            assert_eq!(got, want, "be {be} ns {nanos}");
            assert_eq!(stats.interfaces[0].units_per_sec, if nanos { 1_000_000_000 } else { 1_000_000 });
            // A truncated record is described in the file's byte order.
            let cut = &f[..f.len() - 1];
            let (_, _, err) = from_memory(cut, Frames::default());
            let offset = 24 + 16 + 40;
            assert_eq!(err, at(offset, "file ends inside a record: its header claims 2 captured bytes, 1 present (truncated capture)"));
        }
    }
}

#[test]
fn pcap_timestamps_match_ts_ns() {
    for nanos in [false, true] {
        let units = if nanos { 1_000_000_000 } else { 1_000_000 };
        let iface = Interface { linktype: LinkType(1), name: None, snaplen: 0, units_per_sec: units, offset_sec: 0, supported: true };
        // A fraction of a second or more is carried into the seconds the same way.
        for (sec, frac) in [(0, 0), (1, 1), (1_700_000_000, 999_999), (7, 1_000_000), (7, 2_500_000_000), (u32::MAX, u32::MAX)] {
            let old = ts_ns(sec as u64 * units + frac as u64, &iface);
            let new = if nanos { pcap_ts_ns::<true>(sec, frac) } else { pcap_ts_ns::<false>(sec, frac) };
            assert_eq!(new, old, "{sec} {frac} ns {nanos}");
        }
    }
}

#[test]
fn caplen_above_snaplen_is_delivered_as_recorded() {
    // The record's own caplen decides how many bytes are captured (§5), whatever the snaplen.
    let f = [file_header(false, false, 64, ETHERNET), record(false, 1, 0, &packet(100, 3), 1000)].concat();
    let (sink, _, err) = read_all_ways(&f, Frames::default());
    assert_eq!(err, None);
    assert_eq!(sink.frames[0].4, packet(100, 3));
    assert_eq!(sink.frames[0].2, 1000);
}

#[test]
fn unsupported_link_types_are_counted() {
    let f = [file_header(false, false, 0, 147), record(false, 1, 0, &[0; 4], 4), record(false, 2, 0, &[0; 4], 4)].concat();
    let (_, stats, err) = read_all_ways(&f, Frames::default());
    assert_eq!(err, None);
    assert_eq!(stats.unsupported_linktypes, vec![(147, 2)]);
}

#[test]
fn break_stops_after_the_frame() {
    let f = [
        file_header(false, false, 0, ETHERNET),
        record(false, 1, 0, &[1; 10], 10),
        record(false, 2, 0, &[2; 10], 10),
        record(false, 3, 0, &[3; 10], 10),
    ]
    .concat();
    let (sink, stats, err) = read_all_ways(&f, Frames { break_after: Some(2), ..Default::default() });
    assert_eq!(err, Some(TraceError::Interrupted.to_string()));
    assert_eq!(sink.frames.len(), 2);
    assert_eq!((stats.frames, stats.bytes_read), (2, 24 + 2 * 26));
}

#[test]
fn progress_is_reported_every_8_mib_and_at_the_end() {
    // 16 KiB records: progress after the first record to end at or past 8 MiB and 16 MiB, and
    // once more at the last byte (without it a bar stops short of 100 %).
    let rec = record(false, 1, 0, &packet(16 << 10, 0), 16 << 10);
    let n = 1100;
    let mut f = file_header(false, false, 0, ETHERNET);
    for _ in 0..n {
        f.extend_from_slice(&rec);
    }
    let end_of = |k: u64| 24 + k * rec.len() as u64;
    let first = (1..).map(end_of).find(|&e| e >= 8 << 20).unwrap_or(0);
    let second = (1..).map(end_of).find(|&e| e >= first + (8 << 20)).unwrap_or(0);
    let total = f.len() as u64;
    let (sink, stats, err) = from_memory(&f, Frames::default());
    assert_eq!(err, None);
    assert_eq!(stats.frames, n);
    assert_eq!(sink.progress, vec![(first, total), (second, total), (total, total)]);
    let (sink2, _, _) = streamed(&f, 100_000, 65536, Frames::default());
    assert_eq!(sink2.progress, sink.progress);
}

#[test]
fn read_errors_and_interrupted_reads() {
    /// Every other read is interrupted; once only `fail_at` bytes are left, reads fail.
    struct Flaky<'a> {
        data: &'a [u8],
        calls: u32,
        fail_at: Option<usize>,
    }
    impl Read for Flaky<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.calls += 1;
            if self.calls & 1 == 0 {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            let keep = self.fail_at.unwrap_or(0);
            if self.fail_at.is_some() && self.data.len() <= keep {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = 20.min(buf.len()).min(self.data.len() - keep);
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }
    let f = [file_header(false, false, 0, ETHERNET), record(false, 1, 0, &[1; 30], 30), record(false, 2, 0, &[2; 30], 30)].concat();
    // Interrupted reads are retried; an error is reported at the record being read.
    let mut sink = Frames::default();
    let mut stats = ReadStats::default();
    let input = Flaky { data: &f, calls: 0, fail_at: Some(10) };
    let err = read_input(Path::new("t.pcap"), input, 64, BUFFER, &mut sink, &mut stats).map(|e| e.to_string());
    assert_eq!(err, at(24 + 46, "read error in record"));
    assert_eq!(sink.frames.len(), 1);
    let mut sink = Frames::default();
    let input = Flaky { data: &f, calls: 0, fail_at: None };
    let err = read_input(Path::new("t.pcap"), input, 64, BUFFER, &mut sink, &mut ReadStats::default());
    assert!(err.is_none());
    assert_eq!(sink.frames.len(), 2);
}

#[test]
fn a_file_and_a_dyn_sink() {
    let f = [file_header(true, true, 0, ETHERNET), record(true, 5, 6, &[9; 12], 12)].concat();
    let path = std::env::temp_dir().join(format!("rstlab-reader-test-{}.pcap", std::process::id()));
    std::fs::write(&path, &f).expect("write temp file");
    let mut sink = Frames::default();
    let dynamic: &mut dyn FrameSink = &mut sink;
    let (stats, err) = read_frames(&path, dynamic);
    let _ = std::fs::remove_file(&path);
    assert!(err.is_none());
    assert_eq!((stats.frames, stats.bytes_read, stats.file_size), (1, f.len() as u64, f.len() as u64));
    assert_eq!(sink.frames, vec![(1, 5_000_000_006, 12, 0, vec![9; 12])]);
}

/// Reader cost with a sink that does nothing: run under cachegrind with
/// `RSTLAB_READ_BENCH=FILE target/release/deps/rstlab_trace-* --ignored --exact capture::reader::pcap::tests::read_bench`.
#[test]
#[ignore]
fn read_bench() {
    struct Null(u64);
    impl FrameSink for Null {
        fn frame(&mut self, meta: &FrameMeta, data: &[u8]) -> ControlFlow<()> {
            std::hint::black_box((meta, data));
            self.0 += 1;
            ControlFlow::Continue(())
        }
    }
    let Some(path) = std::env::var_os("RSTLAB_READ_BENCH") else { return };
    let mut sink = Null(0);
    let (stats, err) = read_frames(Path::new(&path), &mut sink);
    println!("{} frames, {} bytes, {:?}", stats.frames, stats.bytes_read, err);
}
