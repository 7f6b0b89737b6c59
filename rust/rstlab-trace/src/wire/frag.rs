//! IP fragment reassembly — IPv4 (RFC 791 §3.2) and IPv6 (RFC 8200 §4.5) — as Wireshark
//! (`epan/reassemble.c`, `packet-ip.c`, `packet-ipv6.c`) and Zeek (`src/Frag.cc`) do, so a TCP
//! segment that travelled in fragments is one packet of its connection.
//!
//! - **Key**: source, destination, identification and protocol (IPv4); source, destination and
//!   identification (IPv6) — [`FragKey`]. Fragments inside a tunnel are keyed by the inner header;
//!   a fragmented outer packet is reassembled first and its inside decoded (and reassembled again
//!   if it holds fragments itself, at most [`MAX_NESTING`] deep).
//! - **Attribution**: a datagram is decoded when the fragment that makes it whole arrives, as that
//!   frame: its frame number, its timestamp, its IP header's TTL, identification and DF bit.
//!   That is the frame tshark gives the reassembled TCP segment (`tcp.stream` and all).
//! - **Completion**: the first fragment with More Fragments clear sets the datagram's length (a
//!   later one claiming another length is ignored, as Wireshark does); the datagram is whole when
//!   the fragments cover it from 0 without a hole. Bytes past that length are dropped. For IPv6
//!   the protocol after the fragment header is the offset-zero fragment's (RFC 8200 §4.5).
//! - **Overlap policy — Wireshark's**: the datagram is laid out from its fragments in offset
//!   order (equal offsets in arrival order), each adding only the bytes past those already laid
//!   out; so an overlapped byte comes from the covering fragment that starts lowest, the earliest
//!   of those that start at the same offset. Zeek keeps the earliest arrival instead; the two
//!   differ only when a later fragment starts lower and overlaps with *different* bytes. Such a
//!   datagram is still decoded (Wireshark does too, flagging it) and counted in
//!   [`FragCounts::conflicting`].
//! - **Bounded memory**: a datagram not completed [`FragLimits::timeout_ns`] (capture time) after
//!   its first fragment is given up (60 s: RFC 8200 §4.5's reassembly timeout, also Linux's
//!   `ip6frag_time`; Wireshark and Zeek by default wait forever); at most
//!   [`FragLimits::max_datagrams`] datagrams and [`FragLimits::max_bytes`] bytes of fragment data
//!   in flight, the oldest datagram evicted to make room (the byte cap is Linux's default
//!   `ipfrag_high_thresh`, 4 MiB); a datagram of more than [`MAX_PIECES`] fragments or past the
//!   largest possible size is given up. Each is counted ([`FragCounts`]).
//!
//! The reassembler is reached only from a frame the decoder already called a fragment
//! ([`super::reassemble_into`]): frames that are not fragments never touch it. Buffers are
//! recycled: a completed datagram is laid out in a buffer reused from one datagram to the next.

use super::{FragKey, Fragment, Fragments, FrameMeta};
use std::collections::HashMap;

/// How deep reassembled datagrams may nest (a fragmented packet inside a reassembled one).
pub const MAX_NESTING: u8 = 4;
/// Fragments one datagram may have: 64 KiB in 8-byte pieces is 8,192, but real stacks send tens;
/// past this the datagram is given up (counted as evicted).
pub const MAX_PIECES: usize = 1024;
/// The end of the largest datagram an offset can describe: 13-bit offset × 8 plus a 16-bit
/// length (IPv4 and IPv6 alike).
const MAX_END: u32 = 8191 * 8 + 65535;

/// Limits of the reassembler (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FragLimits {
    pub timeout_ns: i64,
    pub max_datagrams: usize,
    pub max_bytes: usize,
}

impl Default for FragLimits {
    fn default() -> Self {
        FragLimits { timeout_ns: 60_000_000_000, max_datagrams: 1024, max_bytes: 4 << 20 }
    }
}

/// What became of the datagrams that arrived in fragments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragCounts {
    /// Made whole and decoded (any protocol).
    pub reassembled: u64,
    /// Of those, laid out from overlapping fragments that disagreed (the overlap policy chose).
    pub conflicting: u64,
    /// Given up: not whole within the timeout.
    pub timed_out: u64,
    /// Given up: evicted for room (datagram or byte cap), or too many fragments.
    pub evicted: u64,
    /// Still incomplete when the capture ended.
    pub incomplete: u64,
}

/// One fragment's place: `len` bytes at `offset` of the datagram, kept at `at` in the arena.
#[derive(Clone, Copy, Debug)]
struct Piece {
    offset: u32,
    len: u32,
    at: u32,
}

/// A datagram in flight.
struct Pending {
    /// Arrival order (the oldest is evicted first).
    seq: u64,
    first_ns: i64,
    /// Sorted by offset, equal offsets in arrival order (the layout order).
    pieces: Vec<Piece>,
    /// The fragments' bytes, appended as they come.
    arena: Vec<u8>,
    /// The datagram's length, once a fragment without More Fragments said it.
    total: Option<u32>,
    /// Next protocol: the offset-zero fragment's, once seen.
    next: Option<u8>,
}

impl Pending {
    /// Whether the pieces cover `0..total` without a hole.
    fn whole(&self) -> bool {
        let Some(total) = self.total else { return false };
        let mut reach = 0u32;
        for p in &self.pieces {
            if p.offset > reach {
                break;
            }
            reach = reach.max(p.offset + p.len);
        }
        reach >= total
    }
}

/// The reassembler: fragments in, whole datagrams out (see the module docs).
pub struct Reassembler {
    limits: FragLimits,
    pending: HashMap<FragKey, Pending>,
    /// Fragment bytes held over all pending datagrams.
    bytes: usize,
    seq: u64,
    /// No pending datagram times out before this capture time.
    next_expiry: i64,
    /// Reassembled datagrams being decoded right now (nesting).
    nesting: u8,
    /// The reusable buffer a whole datagram is laid out in.
    buf: Vec<u8>,
    /// Arenas of finished datagrams, for the next ones.
    spare: Vec<Vec<u8>>,
    counts: FragCounts,
}

impl Default for Reassembler {
    fn default() -> Self {
        Self::new(FragLimits::default())
    }
}

impl Reassembler {
    pub fn new(limits: FragLimits) -> Self {
        Reassembler {
            limits,
            pending: HashMap::new(),
            bytes: 0,
            seq: 0,
            next_expiry: i64::MAX,
            nesting: 0,
            buf: Vec::new(),
            spare: Vec::new(),
            counts: FragCounts::default(),
        }
    }

    /// The counts so far; `incomplete` is the number of datagrams in flight now.
    pub fn counts(&self) -> FragCounts {
        FragCounts { incomplete: self.pending.len() as u64, ..self.counts }
    }

    /// Datagrams in flight.
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Fragment bytes held.
    pub fn bytes_held(&self) -> usize {
        self.bytes
    }

    /// Gives up every datagram whose first fragment is older than the timeout at `now`.
    pub fn expire(&mut self, now: i64) {
        if now < self.next_expiry {
            return;
        }
        let timeout = self.limits.timeout_ns;
        let mut next = i64::MAX;
        let mut gone = Vec::new();
        for (k, p) in &self.pending {
            let due = p.first_ns.saturating_add(timeout);
            if due <= now {
                gone.push(*k);
            } else {
                next = next.min(due);
            }
        }
        for k in gone {
            self.drop_pending(&k);
            self.counts.timed_out += 1;
        }
        self.next_expiry = next;
    }

    fn drop_pending(&mut self, k: &FragKey) {
        if let Some(p) = self.pending.remove(k) {
            self.bytes -= p.arena.len();
            self.recycle(p.arena);
        }
    }

    fn recycle(&mut self, mut v: Vec<u8>) {
        if self.spare.len() < 16 && v.capacity() <= 1 << 17 {
            v.clear();
            self.spare.push(v);
        }
    }

    /// Evicts the oldest datagram other than `keep`; false if there is none.
    fn evict_oldest(&mut self, keep: &FragKey) -> bool {
        let oldest = self.pending.iter().filter(|(k, _)| *k != keep).min_by_key(|(_, p)| p.seq).map(|(k, _)| *k);
        match oldest {
            Some(k) => {
                self.drop_pending(&k);
                self.counts.evicted += 1;
                true
            }
            None => false,
        }
    }

    /// Lays out the whole datagram `k` in the reusable buffer (Wireshark's order, see the module
    /// docs) and forgets it.
    fn assemble(&mut self, k: &FragKey) -> Option<(Vec<u8>, u8)> {
        let p = self.pending.remove(k)?;
        self.bytes -= p.arena.len();
        let total = p.total.unwrap_or(0) as usize;
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        buf.resize(total, 0);
        let mut laid = 0usize;
        let mut conflict = false;
        for piece in &p.pieces {
            let (start, end) = (piece.offset as usize, (piece.offset + piece.len) as usize);
            // Whole means no hole below `total`: a piece starting past `laid` is past it too.
            if laid >= total || start > laid {
                break;
            }
            let data = &p.arena[piece.at as usize..piece.at as usize + piece.len as usize];
            // The part already laid out: it stays; note whether this fragment disagrees.
            let over = laid.min(end).min(total);
            if start < over && buf[start..over] != data[..over - start] {
                conflict = true;
            }
            if end > laid {
                let to = end.min(total);
                buf[laid..to].copy_from_slice(&data[laid - start..to - start]);
                laid = to;
            }
        }
        self.counts.reassembled += 1;
        self.counts.conflicting += conflict as u64;
        let next = p.next.unwrap_or(0);
        self.recycle(p.arena);
        Some((buf, next))
    }
}

impl Fragments for Reassembler {
    const REASSEMBLES: bool = true;

    fn add(&mut self, meta: &FrameMeta, f: &Fragment<'_>) -> Option<(Vec<u8>, u8)> {
        if self.nesting >= MAX_NESTING {
            return None;
        }
        let end = f.offset as u64 + f.data.len() as u64;
        if end > MAX_END as u64 {
            // Past any datagram an IP header can describe: the fragment is nonsense; drop it.
            return None;
        }
        let end = end as u32;
        let len = f.data.len();
        if !self.pending.contains_key(&f.key) {
            while self.pending.len() >= self.limits.max_datagrams.max(1) && self.evict_oldest(&f.key) {}
            let arena = self.spare.pop().unwrap_or_default();
            self.seq += 1;
            let first_ns = meta.ts_ns;
            self.next_expiry = self.next_expiry.min(first_ns.saturating_add(self.limits.timeout_ns));
            self.pending.insert(f.key, Pending { seq: self.seq, first_ns, pieces: Vec::new(), arena, total: None, next: None });
        }
        while self.bytes + len > self.limits.max_bytes && self.evict_oldest(&f.key) {}
        let too_many = self.pending.get(&f.key).is_some_and(|p| p.pieces.len() >= MAX_PIECES);
        if too_many || self.bytes + len > self.limits.max_bytes {
            self.drop_pending(&f.key);
            self.counts.evicted += 1;
            return None;
        }
        let p = self.pending.get_mut(&f.key).expect("inserted above");
        let at = p.arena.len() as u32;
        p.arena.extend_from_slice(f.data);
        self.bytes += len;
        // After every piece at the same or a lower offset: the layout order.
        let i = p.pieces.partition_point(|q| q.offset <= f.offset);
        p.pieces.insert(i, Piece { offset: f.offset, len: len as u32, at });
        if !f.more && p.total.is_none() {
            p.total = Some(end);
        }
        if f.offset == 0 && p.next.is_none() {
            p.next = Some(f.next);
        }
        if !p.whole() {
            return None;
        }
        let whole = self.assemble(&f.key);
        self.nesting += 1;
        whole
    }

    fn done(&mut self, buf: Vec<u8>) {
        self.nesting = self.nesting.saturating_sub(1);
        if buf.capacity() >= self.buf.capacity() {
            self.buf = buf;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::LinkType;
    use std::net::{IpAddr, Ipv4Addr};

    fn meta(ts_ns: i64) -> FrameMeta {
        FrameMeta { frame: 1, ts_ns, linktype: LinkType::RAW, orig_len: 0, interface: 0 }
    }

    fn key(id: u32) -> FragKey {
        FragKey { src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), dst: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)), id, proto: 6 }
    }

    fn frag(id: u32, offset: u32, more: bool, data: &[u8]) -> Fragment<'_> {
        Fragment { key: key(id), offset, more, next: 6, data }
    }

    /// Adds the fragments in order; the datagram the last one completed, if any.
    fn feed(r: &mut Reassembler, frags: &[Fragment<'_>]) -> Option<Vec<u8>> {
        let mut out = None;
        for f in frags {
            if let Some((buf, _)) = r.add(&meta(0), f) {
                out = Some(buf.clone());
                r.done(buf);
            }
        }
        out
    }

    #[test]
    fn fragments_in_any_order_make_the_datagram() {
        // RFC 791 §3.2: fragments may arrive in any order; the datagram is the bytes by offset.
        let data: Vec<u8> = (0..40).collect();
        let (a, b, c) = (&data[..16], &data[16..32], &data[32..]);
        for order in [[0, 1, 2], [2, 0, 1], [1, 2, 0]] {
            let mut r = Reassembler::default();
            let fs = [frag(1, 0, true, a), frag(1, 16, true, b), frag(1, 32, false, c)];
            let picked: Vec<_> = order.iter().map(|&i| fs[i]).collect();
            assert_eq!(feed(&mut r, &picked).as_deref(), Some(&data[..]), "order {order:?}");
            assert_eq!((r.counts().reassembled, r.in_flight(), r.bytes_held()), (1, 0, 0));
        }
    }

    #[test]
    fn an_overlap_keeps_the_lower_offset_fragment_bytes() {
        // Wireshark's policy: [8, 24) arrives first with 'B', then [0, 16) with 'A' — the bytes
        // 8..16 come from the fragment starting lower ('A'); Zeek's would keep 'B'.
        let mut r = Reassembler::default();
        let out = feed(&mut r, &[frag(1, 8, true, &[b'B'; 16]), frag(1, 0, true, &[b'A'; 16]), frag(1, 24, false, &[b'C'; 8])]);
        let want: Vec<u8> = [[b'A'; 16].as_slice(), &[b'B'; 8], &[b'C'; 8]].concat();
        assert_eq!(out.as_deref(), Some(&want[..]));
        assert_eq!(r.counts().conflicting, 1);
    }

    #[test]
    fn a_duplicate_at_the_same_offset_keeps_the_first() {
        let mut r = Reassembler::default();
        let out = feed(&mut r, &[frag(1, 0, true, &[1; 8]), frag(1, 0, true, &[2; 8]), frag(1, 8, false, &[3; 8])]);
        assert_eq!(out.as_deref(), Some(&[1, 1, 1, 1, 1, 1, 1, 1, 3, 3, 3, 3, 3, 3, 3, 3][..]));
        assert_eq!(r.counts().conflicting, 1);
        // Identical duplicates are no conflict.
        let out = feed(&mut r, &[frag(2, 0, true, &[1; 8]), frag(2, 0, true, &[1; 8]), frag(2, 8, false, &[3; 8])]);
        assert!(out.is_some());
        assert_eq!(r.counts().conflicting, 1);
    }

    #[test]
    fn a_missing_fragment_times_out_in_capture_time() {
        let mut r = Reassembler::new(FragLimits { timeout_ns: 1_000, ..FragLimits::default() });
        assert!(r.add(&meta(0), &frag(1, 0, true, &[0; 8])).is_none());
        r.expire(999);
        assert_eq!(r.in_flight(), 1);
        r.expire(1_000);
        assert_eq!((r.in_flight(), r.bytes_held(), r.counts().timed_out), (0, 0, 1));
        // The late fragment starts a new datagram, which stays incomplete.
        assert!(r.add(&meta(1_001), &frag(1, 8, false, &[0; 8])).is_none());
        assert_eq!(r.counts().incomplete, 1);
    }

    #[test]
    fn the_caps_evict_the_oldest_datagram() {
        let mut r = Reassembler::new(FragLimits { max_datagrams: 2, max_bytes: 24, ..FragLimits::default() });
        r.add(&meta(0), &frag(1, 0, true, &[0; 8]));
        r.add(&meta(0), &frag(2, 0, true, &[0; 8]));
        r.add(&meta(0), &frag(3, 0, true, &[0; 8]));
        assert_eq!((r.in_flight(), r.counts().evicted), (2, 1));
        assert!(!r.pending.contains_key(&key(1)), "the oldest went");
        r.add(&meta(0), &frag(3, 8, true, &[0; 16])); // 8 + 8 + 16 > 24: datagram 2 goes
        assert_eq!((r.in_flight(), r.bytes_held(), r.counts().evicted), (1, 24, 2));
        // A fragment bigger than the whole cap gives up its own datagram.
        r.add(&meta(0), &frag(3, 24, true, &[0; 8]));
        assert_eq!((r.in_flight(), r.bytes_held(), r.counts().evicted), (0, 0, 3));
    }

    #[test]
    fn a_second_last_fragment_does_not_move_the_end() {
        // Wireshark keeps the first "last fragment"'s length; bytes beyond it are dropped.
        let mut r = Reassembler::default();
        assert!(r.add(&meta(0), &frag(1, 8, false, &[2; 8])).is_none());
        assert!(r.add(&meta(0), &frag(1, 8, false, &[3; 16])).is_none());
        let out = feed(&mut r, &[frag(1, 0, true, &[1; 8])]);
        assert_eq!(out.as_deref(), Some(&[1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2][..]));
    }
}
