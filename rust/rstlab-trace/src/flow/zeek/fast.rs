//! The established fast path: an ACK or data segment between two ESTABLISHED endpoints (nearly
//! every packet of a capture) skips the steps of `TCPSessionAdapter::Process` that cannot
//! apply to it. Checked against the full computation by the unit tests, and on every packet in
//! debug builds.

use super::endpoint::{relative_seq, F_DID_CLOSE};
use super::history::{scaled_hit, HIST_ACK_PKT, HIST_DATA_PKT};
use super::{EndpointState, ZeekConn, C_IGNORE_CHECKSUMS};
use crate::wire::{Checksum, Segment, TcpFlags};

impl ZeekConn {
    /// True if `seg` is the common case that [`ZeekConn::process_established`] handles exactly
    /// as [`ZeekConn::on_segment_full`] would: ACK set and no SYN, FIN or RST; a non-zero window;
    /// a checksum that is not dropped; both endpoints ESTABLISHED and both already seen.
    #[inline]
    pub(super) fn established_fast_path(&self, seg: &Segment) -> bool {
        const CONTROL: u16 = TcpFlags::SYN | TcpFlags::FIN | TcpFlags::RST | TcpFlags::ACK;
        seg.flags.0 & CONTROL == TcpFlags::ACK
            && seg.window != 0
            && self.ep[0].state == EndpointState::Established
            && self.ep[1].state == EndpointState::Established
            && self.first_packet_seen == 3
            && (seg.checksum != Checksum::Bad || self.bit(C_IGNORE_CHECKSUMS))
    }

    /// `TCPSessionAdapter::Process` specialised to a segment accepted by
    /// [`ZeekConn::established_fast_path`]. Step by step, against [`ZeekConn::process`]:
    /// - `ValidateChecksum` keeps the packet; `maybe_flip_after_syn_ack` needs a SYN_ACK_SENT
    ///   originator; `SetPartialStatus`, the first-packet bits and `init_endpoint` (ESTABLISHED,
    ///   no SYN) change nothing;
    /// - `update_history` records `D` (payload) or `A` (pure ACK) once: neither SYN, FIN nor RST
    ///   is set, and ACK is;
    /// - `update_window` needs a zero window;
    /// - `last_time` moves: `F_DID_CLOSE` is only ever set on a CLOSED or RESET endpoint
    ///   (`ConnectionClosed` follows a FIN or RST transition) and such an endpoint never becomes
    ///   ESTABLISHED again, so neither endpoint has it;
    /// - no FIN; the peer is not INACTIVE, so the ack is relative to its numbering and, not
    ///   being a RST's, trusted (`update_ack_seq`);
    /// - `update_last_seq`: neither SYN, RST nor FIN, and the sender is not RESET, so the value
    ///   moves forward or the payload is a retransmission (`T`);
    /// - `UpdateEstablishedState` acts only on SYN, FIN or RST;
    /// - the peer's `AckReceived` and this side's `DataSent` follow, in that order, and there
    ///   is no close.
    ///
    /// The relative sequence number is computed before `update_last_seq`, as `process` does,
    /// and only when the payload is reassembled.
    #[inline]
    pub(super) fn process_established(&mut self, e: usize, seg: &Segment) {
        let p = 1 - e;
        let len = seg.payload_len;
        debug_assert!(!self.ep[0].has(F_DID_CLOSE) && !self.ep[1].has(F_DID_CLOSE));

        // `update_history`
        if len > 0 {
            self.check_history(e, HIST_DATA_PKT, b'D');
        } else {
            self.check_history(e, HIST_ACK_PKT, b'A');
        }

        // The inactivity deadline moves to `ts + timeout` (no other deadline moves here). The
        // cached one was at most `last_time + timeout`, so it stays a lower bound unless time
        // went backwards.
        if seg.ts_ns < self.last_time {
            self.next_deadline_ns = self
                .next_deadline_ns
                .min(seg.ts_ns.saturating_add(self.inactivity_timeout()));
        }
        self.last_time = seg.ts_ns;

        let rel_ack = {
            let peer = &self.ep[p];
            let (r, underflow) = relative_seq(peer, seg.ack, peer.ack_seq, peer.ack_wraps);
            if underflow {
                0
            } else {
                self.update_ack_seq(p, seg.ack);
                r
            }
        };

        // `DataSent` needs the relative number before `update_last_seq` moves `last_seq`.
        let data = len > 0 && seg.captured_payload >= len;
        let rel_seq = if data {
            let ep = &self.ep[e];
            relative_seq(ep, seg.seq, ep.last_seq, ep.seq_wraps)
        } else {
            (0, true)
        };

        // `update_last_seq`
        let one_past = seg.seq + len;
        let ep = &mut self.ep[e];
        if one_past.diff(ep.last_seq) > 0 {
            ep.update_last_seq_value(one_past);
        } else if len > 0 && scaled_hit(&mut self.rare_counters().rxmt_cnt[e]) {
            self.add_history(e, b'T');
        }

        self.ack_received(p, rel_ack);

        if let (rel, false) = rel_seq {
            self.ep[e].r_data_sent(rel, len as u64);
        }
    }

    /// [`ZeekConn::process_established`], checked against the full path on a copy (debug
    /// builds: tests and the fuzz profile).
    #[cold]
    pub(super) fn process_established_checked(&mut self, e: usize, seg: &Segment) {
        let mut full = self.clone();
        full.on_segment_full(e, seg);
        self.process_established(e, seg);
        assert!(
            self.next_deadline_ns <= self.deadline(),
            "cached deadline is late: {self:?}"
        );
        let mut fast = self.clone();
        fast.next_deadline_ns = full.next_deadline_ns;
        assert_eq!(
            format!("{fast:?}"),
            format!("{full:?}"),
            "fast path differs for {seg:?}"
        );
    }
}
