//! One endpoint (`TCP_Endpoint`, `src/analyzer/protocol/tcp/TCP_Endpoint.cc`): its state,
//! sequence numbering and flags, and the fields its reassembler keeps for content gaps.

use super::EndpointState;
use crate::seq::SeqNumber;
use crate::wire::TcpFlags;

pub(super) const F_DID_CLOSE: u8 = 1;
pub(super) const F_FIN_SEEN: u8 = 2;
/// The reassembler's `skip_deliveries`: it gave up on this direction.
pub(super) const F_SKIP: u8 = 4;

/// One endpoint: the part of `TCP_Endpoint` and its reassembler that (nearly) every packet
/// reads or writes; the rest is [`EndpointCold`], `ZeekConn::prev_state` and the
/// connection's rare counters (`history::Rare`).
///
/// Content gaps: Zeek's `TCP_Reassembler` keeps every out-of-order block; without payload
/// only its bookkeeping is needed: the next undelivered relative sequence number
/// (`last_reassem_seq`), the trim point (`trim_seq`, the highest ack processed) and the
/// blocks above the hole. One block slot is kept: two disjoint blocks are merged into their
/// span, so holes acked together count as one gap (only the log-scaled count can differ,
/// never the first `G`). The bookkeeping itself is in `reassembly`.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(super) struct Endpoint {
    /// `last_reassem_seq` (relative): everything below was delivered or reported missing.
    pub(super) r_last: u64,
    pub(super) start_seq: SeqNumber,
    pub(super) last_seq: SeqNumber,
    /// How far the peer has acknowledged this endpoint's data.
    pub(super) ack_seq: SeqNumber,
    /// `r_last - trim_seq` (negative only after Zeek's partial-connection quirk in
    /// `Undelivered`).
    pub(super) r_trim_back: i32,
    /// The out-of-order block `[r_last + r_blk_off, ... + r_blk_len)`; `r_blk_len == 0`: none.
    pub(super) r_blk_off: u32,
    pub(super) r_blk_len: u32,
    /// The counter behind the logarithmic `G` (a letter at 1, 10, 100, ...).
    pub(super) gap_cnt: u32,
    pub(super) state: EndpointState,
    pub(super) seq_wraps: u8,
    pub(super) ack_wraps: u8,
    pub(super) flags: u8,
}

/// The rest of an endpoint, read only by SYN, FIN and RST packets.
#[derive(Clone, Copy, Debug)]
pub(super) struct EndpointCold {
    /// Just past this endpoint's FIN (Zeek keeps it relative: `FIN_seq`).
    pub(super) fin_end: SeqNumber,
    // Zeek compares full 64-bit relative numbers; the low 32 bits differ whenever they do,
    // short of a jump of exactly 4 GiB.
    pub(super) hist_last_syn: u32,
    pub(super) hist_last_fin: u32,
    pub(super) hist_last_rst: u32,
}

impl EndpointCold {
    pub(super) fn new() -> Self {
        EndpointCold {
            fin_end: SeqNumber(0),
            hist_last_syn: 0,
            hist_last_fin: 0,
            hist_last_rst: 0,
        }
    }
}

impl Endpoint {
    pub(super) fn new() -> Self {
        Endpoint {
            // `Reassembler(1, ...)`: relative sequence numbers start at 1, after the SYN.
            r_last: 1,
            start_seq: SeqNumber(0),
            last_seq: SeqNumber(0),
            ack_seq: SeqNumber(0),
            r_trim_back: 0,
            r_blk_off: 0,
            r_blk_len: 0,
            gap_cnt: 0,
            state: EndpointState::Inactive,
            seq_wraps: 0,
            ack_wraps: 0,
            flags: 0,
        }
    }

    #[inline]
    pub(super) fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    #[inline]
    pub(super) fn set(&mut self, f: u8) {
        self.flags |= f;
    }

    /// `ToFullSeqSpace(seq, wraps) - StartSeqI64()`: the 64-bit relative sequence space.
    #[inline]
    pub(super) fn full_relative(&self, seq: SeqNumber, wraps: u8) -> u64 {
        full_seq(seq, wraps).wrapping_sub(full_seq(self.start_seq, 0))
    }

    pub(super) fn update_last_seq_value(&mut self, seq: SeqNumber) {
        // `UpdateLastSeq`: a numerically smaller value means the 32-bit space wrapped.
        if seq.0 < self.last_seq.0 {
            self.seq_wraps = self.seq_wraps.saturating_add(1);
        }
        self.last_seq = seq;
    }

    pub(super) fn update_ack_seq_value(&mut self, seq: SeqNumber) {
        if seq.0 < self.ack_seq.0 {
            self.ack_wraps = self.ack_wraps.saturating_add(1);
        }
        self.ack_seq = seq;
    }

    pub(super) fn init_seqs(&mut self, start: SeqNumber, ack: SeqNumber, last: SeqNumber) {
        self.start_seq = start;
        self.ack_seq = ack;
        self.last_seq = last;
    }

    /// `NoDataAcked`.
    pub(super) fn no_data_acked(&self) -> bool {
        let d = self.ack_seq.relative_to(self.start_seq);
        self.ack_wraps == 0 && (d == 0 || d == 1)
    }
}

#[inline]
pub(super) fn full_seq(seq: SeqNumber, wraps: u8) -> u64 {
    ((wraps as u64) << 32) | seq.0 as u64
}

/// `get_segment_len`: SYN and FIN take one octet each; a RST's payload is not stream data.
#[inline]
pub(super) fn segment_len(len: u32, f: TcpFlags) -> u32 {
    let mut n = len + f.syn() as u32 + f.fin() as u32;
    if f.rst() {
        n -= len;
    }
    n
}

/// `get_relative_seq`: the 64-bit relative number of `cur` for endpoint `ep`, given the last
/// value seen and its wrap count; `underflow` when it lies before the endpoint's start.
#[inline]
pub(super) fn relative_seq(ep: &Endpoint, cur: SeqNumber, last: SeqNumber, wraps: u8) -> (u64, bool) {
    let mut wraps = wraps;
    let delta = cur.diff(last);
    if delta < 0 {
        if wraps > 0 && cur.0 > last.0 {
            wraps -= 1; // part of the previous 32-bit space
        }
    } else if delta > 0 && cur.0 < last.0 {
        wraps = wraps.saturating_add(1); // wrapped around
    }
    if wraps == 0 {
        let d = cur.diff(ep.start_seq);
        // Zeek stores the signed 32-bit distance in a uint64.
        return (d as u64, d < 0);
    }
    (ep.full_relative(cur, wraps), false)
}
