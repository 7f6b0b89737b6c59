use super::super::timestamps::MAX_TS_NS;
use super::super::read_frames_from;
use super::*;
use std::ops::ControlFlow;

/// Frames' (interface, ts_ns) as the reader hands them out.
#[derive(Default)]
struct Seen(Vec<(u32, i64)>);
impl FrameSink for Seen {
    fn frame(&mut self, meta: &FrameMeta, _: &[u8]) -> ControlFlow<()> {
        self.0.push((meta.interface, meta.ts_ns));
        ControlFlow::Continue(())
    }
}

fn block(be: bool, kind: u32, body: &[u8]) -> Vec<u8> {
    let w = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let total = 12 + body.len() as u32;
    [&w(kind)[..], &w(total), body, &w(total)].concat()
}

fn shb(be: bool) -> Vec<u8> {
    let (bom, major) = if be { (0x1a2b_3c4du32.to_be_bytes(), 1u16.to_be_bytes()) } else { (0x1a2b_3c4du32.to_le_bytes(), 1u16.to_le_bytes()) };
    block(be, 0x0a0d_0d0a, &[&bom[..], &major, &[0, 0], &[0xff; 8]].concat())
}

/// IDB for raw IP with if_tsresol and if_tsoffset (pcapng §4.2).
fn idb(be: bool, tsresol: u8, tsoffset: i64) -> Vec<u8> {
    let h16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut b = [&h16(101)[..], &h16(0), &[0; 4]].concat();
    b.extend_from_slice(&[&h16(9)[..], &h16(1), &[tsresol, 0, 0, 0]].concat());
    let off = if be { tsoffset.to_be_bytes() } else { tsoffset.to_le_bytes() };
    b.extend_from_slice(&[&h16(14)[..], &h16(8), &off].concat());
    b.extend_from_slice(&[0; 4]);
    block(be, 1, &b)
}

fn epb(be: bool, ts: u64) -> Vec<u8> {
    let w = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let b = [&w(0)[..], &w((ts >> 32) as u32), &w(ts as u32), &w(4), &w(4), &[0x45, 0, 0, 0]].concat();
    block(be, 6, &b)
}

fn read(bytes: &[u8]) -> (Vec<(u32, i64)>, Option<String>) {
    let mut seen = Seen::default();
    let (_, err) = read_frames_from(Path::new("t.pcapng"), bytes, &mut seen);
    (seen.0, err.map(|e| e.to_string()))
}

/// An EPB with `len` bytes of packet data (pcapng §4.3: padded to 32 bits).
fn epb_sized(len: usize) -> Vec<u8> {
    let mut b = [&0u32.to_le_bytes()[..], &0u32.to_le_bytes(), &1u32.to_le_bytes(), &(len as u32).to_le_bytes(), &(len as u32).to_le_bytes()].concat();
    b.resize(b.len() + len.div_ceil(4) * 4, 0x45);
    block(false, 6, &b)
}

#[test]
fn pcapng_blocks_each_larger_than_the_last_grown_buffer_are_read() {
    // 5 MiB then 9 MiB: the second needs more than twice the original 4 MiB buffer, but
    // less than twice the buffer as grown for the first.
    let f = [shb(false), idb(false, 6, 0), epb_sized(5 << 20), epb_sized(9 << 20)].concat();
    let (frames, err) = read(&f);
    assert_eq!(err, None);
    assert_eq!(frames.len(), 2);
}

#[test]
fn if_tsresol_binary_resolutions_are_accepted() {
    assert_eq!(units_per_sec(6), Some(1_000_000));
    assert_eq!(units_per_sec(19), Some(10_000_000_000_000_000_000));
    assert_eq!(units_per_sec(20), None);
    assert_eq!(units_per_sec(0x8a), Some(1024));
    assert_eq!(units_per_sec(0x80 | 63), Some(1 << 63));
    assert_eq!(units_per_sec(0x80 | 64), None);
    // 2^-10 s units: 5 s + 512/1024 s.
    let f = [shb(false), idb(false, 0x8a, 0), epb(false, 5 * 1024 + 512)].concat();
    assert_eq!(read(&f), (vec![(0, 5_500_000_000)], None));
}

#[test]
fn if_tsoffset_is_read_in_the_sections_byte_order() {
    for be in [false, true] {
        let f = [shb(be), idb(be, 9, -3), epb(be, 10_000_000_001)].concat();
        assert_eq!(read(&f), (vec![(0, 7_000_000_001)], None), "big-endian {be}");
    }
}

#[test]
fn extreme_timestamps_are_clamped_so_differences_fit() {
    // Found by the fuzzer: a 2^64-unit timestamp and a large negative if_tsoffset made a
    // connection's duration overflow.
    let f = [shb(false), idb(false, 0, i64::MIN), epb(false, u64::MAX), epb(false, 0)].concat();
    let (frames, err) = read(&f);
    assert_eq!(err, None);
    let (a, b) = (frames[0].1, frames[1].1);
    assert!(a.checked_sub(b).is_some() && b.checked_sub(a).is_some());
    assert_eq!(b, -MAX_TS_NS);
}

#[test]
fn unusable_if_tsresol_names_the_block_offset() {
    let s = shb(false);
    let f = [s.clone(), idb(false, 20, 0), epb(false, 1)].concat();
    let (frames, err) = read(&f);
    assert!(frames.is_empty());
    let err = err.unwrap_or_default();
    assert!(err.contains(&format!("t.pcapng: at byte offset {}: ", s.len())), "{err}");
    assert!(err.contains("if_tsresol 0x14"), "{err}");
}
