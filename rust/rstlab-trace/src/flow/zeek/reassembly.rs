//! Content gaps (`G`): the bookkeeping of Zeek's `TCP_Reassembler`
//! (`src/analyzer/protocol/tcp/TCP_Reassembler.cc`) without the payload: what was delivered,
//! what the peer acknowledged, and one out-of-order block (see [`Endpoint`]).

use super::endpoint::{relative_seq, Endpoint, F_FIN_SEEN, F_SKIP};
use super::history::scaled_hit;
use super::{EndpointState, ZeekConn};

// `init-bare.zeek` defaults: past these the reassembler gives up on a direction.
const TCP_MAX_ABOVE_HOLE_WITHOUT_ANY_ACKS: u64 = 16_384;
const TCP_EXCESSIVE_DATA_WITHOUT_FURTHER_ACKS: u64 = 10 * 1024 * 1024;

impl Endpoint {
    #[inline]
    pub(super) fn r_trim(&self) -> u64 {
        self.r_last.wrapping_sub(self.r_trim_back as i64 as u64)
    }

    pub(super) fn set_r_trim(&mut self, trim: u64) {
        let back = self.r_last.wrapping_sub(trim) as i64;
        self.r_trim_back = back.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
    }

    #[inline]
    pub(super) fn r_block(&self) -> Option<(u64, u64)> {
        (self.r_blk_len != 0).then(|| {
            let lo = self.r_last.wrapping_add(self.r_blk_off as u64);
            (lo, lo.wrapping_add(self.r_blk_len as u64))
        })
    }

    pub(super) fn set_r_block(&mut self, lo: u64, hi: u64) {
        let (off, len) = (lo.wrapping_sub(self.r_last), hi.wrapping_sub(lo));
        if lo <= self.r_last || hi <= lo || off > u32::MAX as u64 || len > u32::MAX as u64 {
            // Far out of line: nothing Zeek would deliver in order either.
            self.r_blk_len = 0;
            return;
        }
        self.r_blk_off = off as u32;
        self.r_blk_len = len as u32;
    }

    /// Moves `last_reassem_seq` to `new_last`, delivering the block when reached
    /// (`BlockInserted`) and keeping the trim point and the block where they are.
    pub(super) fn r_advance(&mut self, new_last: u64) {
        let (trim, blk) = (self.r_trim(), self.r_block());
        self.r_last = new_last;
        self.r_blk_len = 0;
        if let Some((lo, hi)) = blk {
            if lo <= self.r_last {
                self.r_last = self.r_last.max(hi);
            } else {
                self.set_r_block(lo, hi);
            }
        }
        self.set_r_trim(trim);
    }

    /// `TCP_Reassembler::DataSent` + `Reassembler::NewBlock` for `[seq, seq + len)`.
    pub(super) fn r_data_sent(&mut self, mut seq: u64, len: u64) {
        if self.has(F_SKIP) || len == 0 {
            return;
        }
        let ack = self.full_relative(self.ack_seq, self.ack_wraps);
        let upper = seq.wrapping_add(len);
        if seq < ack {
            if upper <= ack {
                return; // delivered and acked already
            }
            seq = ack;
        }
        let trim = self.r_trim();
        if upper <= trim {
            return;
        }
        seq = seq.max(trim);
        if seq <= self.r_last {
            if upper > self.r_last {
                self.r_advance(upper);
            }
        } else {
            let (lo, hi) = match self.r_block() {
                // One slot: keep the span of both blocks.
                Some((blo, bhi)) => (blo.min(seq), bhi.max(upper)),
                None => (seq, upper),
            };
            self.set_r_block(lo, hi);
        }
        let above_hole = self
            .r_block()
            .map_or(0, |(_, hi)| hi.saturating_sub(self.r_last));
        let buffered = self
            .r_block()
            .map_or(self.r_last, |(_, hi)| hi)
            .saturating_sub(self.r_trim());
        if (self.no_data_acked() && above_hole > TCP_MAX_ABOVE_HOLE_WITHOUT_ANY_ACKS)
            || buffered > TCP_EXCESSIVE_DATA_WITHOUT_FURTHER_ACKS
        {
            // "above_hole_data_without_any_acks" / "excessive_data_without_further_acks" (Zeek
            // counts the bytes it still holds: everything since the last ack, less the holes).
            self.r_blk_len = 0;
            self.set(F_SKIP);
        }
    }
}

impl ZeekConn {
    /// `TCP_Reassembler::AckReceived` after endpoint `d`'s FIN: the FIN's octet is not data.
    #[inline(never)]
    pub(super) fn below_fin(&self, d: usize, seq: u64) -> u64 {
        let ep = &self.ep[d];
        let (fin_seq, _) = relative_seq(ep, self.cold[d].fin_end, ep.last_seq, ep.seq_wraps);
        if seq >= fin_seq {
            fin_seq.wrapping_sub(1)
        } else {
            seq
        }
    }

    /// `is_clean` in `TCP_Reassembler.cc`, for endpoint `e`.
    #[inline]
    pub(super) fn is_clean(&self, e: usize) -> bool {
        let state = self.ep[e].state;
        state == EndpointState::Established
            || (state == EndpointState::Closed && self.prev_state[e] == EndpointState::Established)
    }

    /// `TCP_Endpoint::AckReceived` → `TCP_Reassembler::AckReceived` on the endpoint `d` whose
    /// data is acknowledged up to relative `seq`.
    #[inline(always)]
    pub(super) fn ack_received(&mut self, d: usize, mut seq: u64) {
        if self.ep[d].has(F_FIN_SEEN) {
            seq = self.below_fin(d, seq);
        }
        let ep = &self.ep[d];
        if seq <= ep.r_trim() {
            return;
        }
        // `TrimToSeq`
        if seq > ep.r_last {
            self.undelivered(d, seq);
        }
        self.ep[d].set_r_trim(seq);
    }

    /// `TCP_Reassembler::Undelivered`: data acked but never seen is a content gap.
    #[inline(always)]
    pub(super) fn undelivered(&mut self, d: usize, up_to: u64) {
        if up_to <= 2 && self.is_partial() {
            // A partial connection's faked initial numbering (or a keep-alive): ignored, and
            // Zeek does not move `last_reassem_seq` either.
            return;
        }
        if self.ep[d].r_blk_len != 0 {
            self.undelivered_below_block(d, up_to);
            return;
        }
        // No block above the hole (the usual case: a headers-only capture, or a plain gap):
        // one gap up to `up_to`, then `r_advance` keeps the trim point.
        if up_to > self.ep[d].r_last {
            if !self.ep[d].has(F_SKIP) {
                self.gap(d);
            }
            let ep = &mut self.ep[d];
            let trim = ep.r_trim();
            ep.r_last = up_to;
            ep.set_r_trim(trim);
        }
    }

    /// [`ZeekConn::undelivered`] with a block above the hole: a gap below the block, the block
    /// delivered, then a gap above it if the ack goes further.
    #[inline(never)]
    pub(super) fn undelivered_below_block(&mut self, d: usize, up_to: u64) {
        if !self.ep[d].has(F_SKIP) {
            if let Some((lo, _)) = self.ep[d].r_block() {
                if lo < up_to {
                    self.gap(d);
                    self.ep[d].r_advance(lo);
                }
            }
            if up_to > self.ep[d].r_last {
                self.gap(d);
            }
        }
        let ep = &mut self.ep[d];
        if up_to > ep.r_last {
            ep.r_advance(up_to);
        }
    }

    /// `TCP_Reassembler::Gap`: recorded only while both sides are cleanly established or
    /// closing; elsewhere gaps arise falsely (RST sequence numbers, partial connections).
    #[inline(always)]
    pub(super) fn gap(&mut self, d: usize) {
        if self.is_clean(d) && self.is_clean(1 - d) && scaled_hit(&mut self.ep[d].gap_cnt) {
            self.add_history(d, b'G');
        }
    }
}
