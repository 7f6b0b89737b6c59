//! Per-packet processing: `TCPSessionAdapter::Process` (`src/packet_analysis/protocol/tcp/
//! TCPSessionAdapter.cc`) step by step, the endpoint state machine (`UpdateStateMachine` and
//! the `Update*State` functions), `ConnectionClosed`, and the late role flip of PR #2191.

use super::endpoint::{relative_seq, segment_len, F_DID_CLOSE, F_FIN_SEEN};
use super::history::{scaled_hit, HIST_SYN_PKT};
use super::timers::{NO_TIMER, TCP_ATTEMPT_DELAY, TCP_CLOSE_DELAY, TCP_RESET_DELAY, TCP_SESSION_TIMER};
use super::{EndpointState, ZeekConn, C_ACTIVE, C_TCP_INACTIVITY};
use crate::seq::SeqNumber;
use crate::wire::{Segment, TcpFlags};

/// `TOO_LARGE_SEQ_DELTA` in `TCPSessionAdapter.cc`: a jump this far is not believed.
const TOO_LARGE_SEQ_DELTA: i64 = 1_048_576;

impl ZeekConn {
    /// zeek/zeek PR #2191: a connection whose first packet was a SYN-ACK from the originator is
    /// flipped when an ACK or data segment follows it (in either direction), since stealth scans
    /// never send those. The connection then reads as if the flip had been made at the start:
    /// `H` becomes `^h`, and the SYN-ACK sender, now the responder, is ESTABLISHED (as a
    /// responder's SYN-ACK makes it in `UpdateInactiveState`), so the originator's ACK
    /// establishes rather than goes partial (krb/optional-service-name.pcap under `zeek -b`:
    /// `^hADd` / S1).
    pub(super) fn maybe_flip_after_syn_ack(&mut self, seg: &Segment) {
        let f = seg.flags;
        if f.syn() || f.fin() || f.rst() || !(f.ack() || seg.payload_len > 0) {
            return;
        }
        if self.orig_state() != EndpointState::SynAckSent
            || self.resp_state() != EndpointState::Inactive
            || self.history_bytes() != b"H"
        {
            return;
        }
        self.orig_is_fwd = !self.orig_is_fwd;
        let fps = self.first_packet_seen;
        self.first_packet_seen = ((fps & 1) << 1) | ((fps >> 1) & 1);
        self.set_partial(false);
        self.hist_seen = (self.hist_seen & !HIST_SYN_PKT) | (HIST_SYN_PKT << 8);
        self.history.set(&mut self.rare, b"^h");
        let resp = 1 - self.orig_idx();
        self.set_state(resp, EndpointState::Established);
    }

    pub(super) fn process(&mut self, e: usize, seg: &Segment) {
        let p = 1 - e;
        let f = seg.flags;
        let len = seg.payload_len;
        let base = seg.seq;
        let ack = seg.ack;
        let t = seg.ts_ns;

        self.set_partial_status(e, f);

        let seg_len = segment_len(len, f);
        let one_past = base + seg_len;
        self.init_endpoint(e, f, base, one_past);

        let (rel_seq, seq_underflow) = {
            let ep = &self.ep[e];
            relative_seq(ep, base, ep.last_seq, ep.seq_wraps)
        };

        self.update_history(e, f, rel_seq, len);

        // `update_window`: a zero window is interesting unless it comes with or after this side's
        // RST, or after the peer's FIN. (Scaling cannot turn zero into anything else.)
        if seg.window == 0
            && !f.rst()
            && self.ep[p].state != EndpointState::Closed
            && self.ep[e].state != EndpointState::Reset
            && scaled_hit(&mut self.rare_counters().win0_cnt[e])
        {
            self.add_history(e, b'W');
        }

        if !(self.ep[0].has(F_DID_CLOSE) && self.ep[1].has(F_DID_CLOSE)) {
            self.last_time = t;
        }

        if f.fin() {
            self.ep[e].set(F_FIN_SEEN);
            self.cold[e].fin_end = one_past;
        }

        let mut rel_ack = 0u64;
        if f.ack() {
            if self.ep[p].state == EndpointState::Inactive {
                rel_ack = 1;
                // `init_peer`: number the peer as if its SYN had been seen.
                let a = ack - 1;
                self.ep[p].init_seqs(a, a, a);
            } else {
                let peer = &self.ep[p];
                let (r, underflow) = relative_seq(peer, ack, peer.ack_seq, peer.ack_wraps);
                if underflow {
                    rel_ack = 0;
                } else {
                    rel_ack = r;
                    // Zeek never trusts the ack of a RST.
                    if !f.rst() {
                        self.update_ack_seq(p, ack);
                    }
                }
            }
        }

        self.update_last_seq(e, one_past, f, len);

        let (do_close, gen_event) = self.update_state_machine(t, e, base, len, f);

        if f.ack() {
            // After the state machine, so that a gap revealed by the final FIN or RST is judged
            // with the connection's closing state.
            self.ack_received(p, rel_ack);
        }

        // First packet seen from this side (`CheckPIA_FirstPacket`).
        self.first_packet_seen |= if self.is_orig(e) { 1 } else { 2 };

        let rel_data_seq = if f.syn() {
            rel_seq.wrapping_add(1)
        } else {
            rel_seq
        };
        if len > 0 && !f.rst() && !seq_underflow && seg.captured_payload >= len {
            // `TCP_Endpoint::DataSent`: a payload cut by the snap length is not reassembled
            // ("truncated_tcp_payload"), so an ack covering it reveals a gap.
            self.ep[e].r_data_sent(rel_data_seq, len as u64);
        }

        if do_close {
            self.connection_closed(e, gen_event);
        }
    }

    /// `SetPartialStatus`.
    pub(super) fn set_partial_status(&mut self, e: usize, f: TcpFlags) {
        if self.is_orig(e) {
            if self.first_packet_seen & 1 == 0 {
                self.set_partial(!f.syn() || f.ack());
            }
        } else if self.first_packet_seen & 2 == 0 && !self.is_partial() {
            self.set_partial(!f.syn());
        }
    }

    /// `init_endpoint`.
    pub(super) fn init_endpoint(&mut self, e: usize, f: TcpFlags, first_seq: SeqNumber, last: SeqNumber) {
        use EndpointState as E;
        let prev_state = self.prev_state[e];
        let ep = &mut self.ep[e];
        match ep.state {
            E::Inactive => {
                if f.syn() {
                    ep.init_seqs(first_seq, first_seq, last);
                } else {
                    // A partial connection: number as though a SYN had been seen, and make sure
                    // the first packet is not taken for a retransmission.
                    let s = first_seq - 1;
                    ep.init_seqs(s, s, first_seq);
                }
            }
            E::SynSent | E::SynAckSent => {
                if f.syn() && first_seq != ep.start_seq {
                    // "SYN_seq_jump"
                    ep.init_seqs(first_seq, first_seq, last);
                }
            }
            E::Established | E::Partial => {
                if f.syn() {
                    // Guess that this SYN is the one that really sets the connection up.
                    ep.init_seqs(first_seq, first_seq, last);
                }
            }
            E::Reset => {
                if f.syn() && prev_state == E::Inactive {
                    // The RST that initialised the numbering may have been injected.
                    ep.init_seqs(first_seq, first_seq, last);
                }
            }
            E::Closed => {}
        }
    }

    /// `update_ack_seq`.
    pub(super) fn update_ack_seq(&mut self, p: usize, ack: SeqNumber) {
        let ep = &mut self.ep[p];
        let delta = ack.diff(ep.ack_seq);
        if ack.0 == 0 && delta > TOO_LARGE_SEQ_DELTA {
            // More likely a broken ack than a connection landing on 0.
        } else if delta > 0 {
            ep.update_ack_seq_value(ack);
        }
    }

    /// `update_last_seq`; counts retransmissions (`T`).
    pub(super) fn update_last_seq(&mut self, e: usize, last: SeqNumber, f: TcpFlags, len: u32) {
        let ep = &mut self.ep[e];
        let delta = last.diff(ep.last_seq);
        if (f.syn() || f.rst()) && !(-TOO_LARGE_SEQ_DELTA..=TOO_LARGE_SEQ_DELTA).contains(&delta) {
            // Outlandish SYN/RST sequence numbers are not trusted.
        } else if f.fin() && ep.last_seq == ep.start_seq + 1 {
            // Only the SYN and the FIN seen (possibly a > 2 GB connection): trust the FIN.
            ep.update_last_seq_value(last);
        } else if ep.state == EndpointState::Reset {
            // Nothing after a RST is trusted.
        } else if delta > 0 {
            ep.update_last_seq_value(last);
        } else if len > 0 && scaled_hit(&mut self.rare_counters().rxmt_cnt[e]) {
            self.add_history(e, b'T');
        }
    }

    /// `TCP_Endpoint::SetState`, with the switch to the TCP inactivity timeout once the
    /// handshake is over.
    pub(super) fn set_state(&mut self, e: usize, new: EndpointState) {
        let (old, peer_state) = (self.ep[e].state, self.ep[1 - e].state);
        if new != old {
            if !new.is_handshake() && old.is_handshake() && peer_state.is_handshake() {
                self.bits |= C_TCP_INACTIVITY;
            }
            self.prev_state[e] = old;
            self.ep[e].state = new;
        }
    }

    /// `UpdateStateMachine`: returns `(do_close, gen_event)`. (Zeek also passes the ack and
    /// the last-sequence delta, for weirds only.)
    pub(super) fn update_state_machine(
        &mut self,
        t: i64,
        e: usize,
        base: SeqNumber,
        len: u32,
        f: TcpFlags,
    ) -> (bool, bool) {
        use EndpointState as E;
        match self.ep[e].state {
            E::Inactive => self.update_inactive_state(t, e, base, len, f),
            E::SynSent | E::SynAckSent => self.update_syn_sent_state(e, f),
            E::Established | E::Partial => self.update_established_state(e, f),
            E::Closed => self.update_closed_state(t, e, f),
            E::Reset => (false, false), // only weirds: SYN/FIN/data after reset
        }
    }

    /// `UpdateInactiveState`.
    pub(super) fn update_inactive_state(
        &mut self,
        t: i64,
        e: usize,
        base: SeqNumber,
        len: u32,
        f: TcpFlags,
    ) -> (bool, bool) {
        use EndpointState as E;
        let p = 1 - e;
        let is_orig = self.is_orig(e);
        let (mut do_close, mut gen_event) = (false, false);

        if f.syn() {
            if is_orig {
                // A SYN-ACK from the originator: "connection_originator_SYN_ack".
                self.set_state(e, if f.ack() { E::SynAckSent } else { E::SynSent });
                if self.attempt_at == NO_TIMER {
                    self.attempt_at = self.timer_at(t.saturating_add(TCP_ATTEMPT_DELAY));
                }
            } else {
                if !f.ack() && self.ep[p].state == E::SynAckSent && base == self.ep[e].start_seq {
                    // SYN/SYN-ACK reversal (see `is_reuse`): flip and establish.
                    self.flip_roles();
                    self.set_partial(false);
                    self.set_state(p, E::Established);
                    self.first_packet_seen |= 1;
                }
                if self.ep[p].state == E::SynSent {
                    self.set_state(p, E::Established);
                }
                self.set_state(e, E::Established);
            }
        }

        if f.fin() {
            self.set_state(e, E::Closed);
            do_close = true;
            gen_event = true;
        }

        if f.rst() {
            self.set_state(e, E::Reset);
            let peer = self.ep[p].state;
            let is_reject = if is_orig {
                // A SYN-ACK without a SYN, then our RST: a reverse scan.
                peer == E::Established
            } else {
                // Rejecting an initial SYN.
                peer == E::SynSent || peer == E::SynAckSent
            };
            do_close = true;
            gen_event = !is_reject;
        }

        if self.ep[e].state == E::Inactive {
            // No control flags changed the state.
            let orig_state = self.orig_state();
            if !is_orig && len == 0 && orig_state == E::SynSent {
                // Some stacks ACK a SYN before sending their SYN-ACK: not a partial connection.
            } else if f.ack() && self.ep[p].state == E::Established {
                // SYN-ACK seen from the peer, SYN missed: establish rather than go partial.
                self.set_state(e, E::Established);
                self.set_partial(false);
                self.first_packet_seen |= if is_orig { 1 } else { 2 };
            } else {
                self.set_state(e, E::Partial);
            }
        }
        (do_close, gen_event)
    }

    /// `UpdateSYN_SentState`.
    pub(super) fn update_syn_sent_state(&mut self, e: usize, f: TcpFlags) -> (bool, bool) {
        let (mut do_close, mut gen_event) = (false, false);
        if f.fin() {
            self.set_state(e, EndpointState::Closed);
            do_close = true;
            gen_event = true;
        }
        if f.rst() {
            self.set_state(e, EndpointState::Reset);
            self.bits &= !C_ACTIVE; // ConnectionReset
            do_close = true;
        }
        (do_close, gen_event)
    }

    /// `UpdateEstablishedState`.
    pub(super) fn update_established_state(&mut self, e: usize, f: TcpFlags) -> (bool, bool) {
        use EndpointState as E;
        let p = 1 - e;
        let (mut do_close, mut gen_event) = (false, false);
        if f.syn() && self.ep[e].state == E::Partial && self.ep[p].state == E::Inactive && !f.ack()
        {
            // "SYN_after_partial"
            self.set_state(e, E::SynSent);
        }
        if f.fin() && !f.rst() {
            self.set_state(e, E::Closed);
            if self.ep[p].state == E::Reset && self.prev_state[p] == E::Closed {
                // The peer sent FIN then RST: that was a normal termination after all.
                self.set_state(p, E::Closed);
            }
            do_close = true;
            gen_event = true;
        }
        if f.rst() {
            self.set_state(e, E::Reset);
            do_close = true;
            if self.ep[p].state != E::Reset || self.prev_state[p] != E::Established {
                self.bits &= !C_ACTIVE; // ConnectionReset
            }
        }
        (do_close, gen_event)
    }

    /// `UpdateClosedState`: after a full FIN exchange, a RST does not change the state. A RST
    /// after this side's own FIN (the peer still open) sets the `ResetTimer`: the connection
    /// ends `tcp_reset_delay` later, however busy the peer (Zeek used to set it only when a
    /// script handled `connection_reset`; its core.tcp.fin-rst-timeout test pins the timer as
    /// unconditional).
    pub(super) fn update_closed_state(&mut self, t: i64, e: usize, f: TcpFlags) -> (bool, bool) {
        let mut do_close = false;
        if f.rst() && self.ep[1 - e].state != EndpointState::Closed {
            self.set_state(e, EndpointState::Reset);
            if !self.ep[e].has(F_DID_CLOSE) {
                do_close = true;
            }
            let at = self.timer_at(t.saturating_add(TCP_RESET_DELAY));
            let r = self.rare_counters();
            r.reset_at = Some(r.reset_at.map_or(at, |was| was.min(at)));
        }
        (do_close, false)
    }

    /// `ConnectionClosed` (without the deferral while reassembled data is pending).
    pub(super) fn connection_closed(&mut self, e: usize, gen_event: bool) {
        use EndpointState as E;
        let p = 1 - e;
        if self.ep[e].has(F_DID_CLOSE) {
            return;
        }
        self.ep[e].set(F_DID_CLOSE);
        let (ep, peer, ep_prev) = (&self.ep[e], &self.ep[p], self.prev_state[e]);
        let close_complete =
            ep.state == E::Reset || peer.has(F_DID_CLOSE) || peer.state == E::Inactive;
        if close_complete {
            if (ep_prev != E::Inactive || peer.state != E::Inactive) && gen_event {
                self.bits &= !C_ACTIVE; // ConnectionFinished
            }
            // CancelTimers, then the delete timer.
            self.attempt_at = NO_TIMER;
            self.expire_at = NO_TIMER;
            self.close_expire_at = NO_TIMER;
            if let Some(r) = self.rare.as_mut() {
                r.reset_at = None;
            }
            let at = self.timer_at(self.last_time.saturating_add(TCP_CLOSE_DELAY));
            self.delete_at = self.delete_at.min(at);
        } else if ep_prev != E::Inactive {
            // Look for the other side closing too.
            let at = self.timer_at(self.last_time.saturating_add(TCP_SESSION_TIMER));
            self.close_expire_at = self.close_expire_at.min(at);
        }
    }
}
