//! Resets around the three-way handshake (RFC 9293 §3.5, §3.10.7.1–3.10.7.4):
//! `refused`, `handshake_abort`, `connect_abandoned`, `syn_sent_bad_ack`.

use super::facts::{Facts, ReplyRule};
use crate::classify::record::DirBits;
use crate::classify::{Cause, Origin, Verdict};
use crate::classify::evidence::{tpl};

const FIREWALL_NOTE: &str =
    "a host firewall's `reject with tcp reset` builds the same RST as a closed port: the wire cannot tell them apart";

pub(crate) fn judge(f: &Facts) -> Option<Verdict> {
    let opener = f.opener?;
    // Both sides sent a SYN (a simultaneous open, RFC 9293 §3.5 figure 7, or a forged one): a
    // RST answering a SYN-ACK that acknowledges the sender's own SYN comes from an opener.
    let s = f.s();
    let answers_own_syn_ack = s.has(DirBits::SYN)
        && f.trigger.is_some_and(|t| t.seg.flags.syn() && t.seg.flags.ack() && t.seg.ack == s.isn + 1);
    if f.sender == opener || answers_own_syn_ack {
        from_opener(f)
    } else {
        from_responder(f)
    }
}

fn from_responder(f: &Facts) -> Option<Verdict> {
    let rst = f.rst();
    let o = f.before().d(f.receiver);
    let resp = f.s();

    // RFC 9293 §3.10.7.1 / §3.10.7.2: a SYN reaching CLOSED (or a port whose listener turns it
    // away) is answered <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>.
    if !resp.has(DirBits::SYNACK) && o.has(DirBits::SYN) {
        if let Some(t) = f.trigger.filter(|t| t.rule == ReplyRule::AckIsEnd && t.seg.flags.syn() && t.seg.seq == o.isn) {
            let seq0 = rst.seq.0 == 0;
            let conf = if seq0 && f.stack_reply_shape() { 0.9 } else if seq0 || rst.window == 0 { 0.8 } else { 0.7 };
            let mut v = Verdict::new(Cause::Refused, Origin::EndpointStackReply, conf)
                .ev("answers_initial_syn", tpl!("frame {} (ACK = SYN SEQ + 1, RFC 9293 §3.10.7.1)", t.frame));
            if !seq0 {
                v = v.ev("seq_not_zero", tpl!("SEQ {} (RFC 9293 and Linux use 0; another stack or a middlebox built it)", rst.seq));
            }
            return Some(v.ev("firewall", FIREWALL_NOTE));
        }
        // The SYN was answered but the RST does not match the latest copy of it (e.g. it
        // answers an earlier retransmission).
        if rst.flags.ack() && rst.ack == o.isn + 1 && !resp.seen() {
            return Some(
                Verdict::new(Cause::Refused, Origin::EndpointStackReply, 0.6)
                    .ev("acks_initial_syn", tpl!("ACK {} = ISS+1 of the SYN at frame {}", rst.ack, f.frame(o.syn_frame_off).unwrap_or(0)))
                    .ev("firewall", FIREWALL_NOTE),
            );
        }
        return None;
    }

    if !f.responder_handshake_only() {
        return None;
    }
    // The responder never got past its SYN-ACK. A reply to the opener's (correct) handshake ACK
    // is Linux's accept-queue overflow with tcp_abort_on_overflow = 1 (tcp_check_req); a RST at
    // SND.NXT = ISS+1 of its own is a listener closed with the connection still queued
    // (inet_csk_listen_stop → tcp_disconnect).
    if let Some(t) = f.trigger.filter(|t| t.rule == ReplyRule::SeqIsAck) {
        if t.seg.ack == resp.isn + 1 && !t.seg.flags.syn() {
            return Some(
                Verdict::new(Cause::HandshakeAbort, Origin::EndpointStackReply, 0.8)
                    .ev("answers_handshake_ack", tpl!("frame {} (its ACK {} = ISS+1 is valid)", t.frame, t.seg.ack))
                    .ev("responder_sent", "only its SYN-ACK")
                    .ev("likely", "accept queue full with tcp_abort_on_overflow = 1"),
            );
        }
        return None;
    }
    // A socket sending keep-alive probes (RFC 9293 §3.8.4) is past the accept queue.
    if rst.seq == resp.isn + 1 && resp.probes == 0 && f.sender_last_probe().is_none() {
        let conf = if f.handshake_complete() { 0.65 } else { 0.55 };
        return Some(
            Verdict::new(Cause::HandshakeAbort, Origin::EndpointActiveReset, conf)
                .ev("seq_eq_snd_nxt", tpl!("SEQ {} = ISS+1: the responder never sent data", rst.seq))
                .ev("responder_acked", "nothing past the opener's SYN")
                .ev("likely", "listener closed with the connection in its accept queue (an accept-then-abort looks the same)"),
        );
    }
    None
}

fn from_opener(f: &Facts) -> Option<Verdict> {
    let rst = f.rst();
    let o = f.s();
    let resp = f.r();
    if !o.has(DirBits::SYN) {
        return None;
    }
    let syn_sent = f.in_syn_sent(f.sender);

    if let Some(t) = f.trigger.filter(|t| t.rule == ReplyRule::SeqIsAck) {
        // RFC 9293 §3.10.7.3: in SYN-SENT, "If SEG.ACK =< ISS or SEG.ACK > SND.NXT, send a reset
        // <SEQ=SEG.ACK><CTL=RST>".
        if syn_sent && t.seg.ack != o.isn + 1 {
            let what = if t.seg.flags.syn() { "SYN-ACK" } else { "segment" };
            return Some(
                Verdict::new(Cause::SynSentBadAck, Origin::EndpointStackReply, 0.9)
                    .ev("answers", tpl!("{} at frame {} acknowledging {}", what, t.frame, t.seg.ack))
                    .ev("expected_ack", tpl!("ISS+1 = {} (RFC 9293 §3.10.7.3)", o.isn + 1))
                    .ev("likely", "the peer still holds an older connection on these ports (TIME_WAIT, half-open)"),
            );
        }
        // An opener that resets a SYN-ACK acknowledging its SYN and then sends that SYN again
        // still wants the connection: the SYN-ACK failed a check (rules/violation.rs).
        if syn_sent && t.seg.flags.syn() && t.seg.ack == o.isn + 1 && f.sender_kept_connecting() {
            return None;
        }
        // A good SYN-ACK answered with <SEQ=SEG.ACK><CTL=RST>: the opener has no socket for it
        // any more (connect timed out) or never had one (half-open scan). Past SYN-SENT a
        // socket would answer a SYN-ACK again with an ACK (RFC 9293 §3.10.7.4 "If the SYN bit
        // is on ... send an ACK" in synchronized states, RFC 5961 §4): a reply RST means the
        // socket is gone, and the SYN-ACK is a late copy.
        if t.seg.flags.syn() && t.seg.flags.ack() && t.seg.ack == o.isn + 1 {
            let v = Verdict::new(Cause::ConnectAbandoned, Origin::EndpointStackReply, if syn_sent { 0.85 } else { 0.8 })
                .ev("answers_syn_ack", tpl!("frame {} (+{} ms before)", t.frame, f.ms_before_text(t.seg.ts_ns)));
            return Some(if syn_sent {
                v.ev("likely", "connect timed out before the SYN-ACK came, or a half-open (SYN) scan")
            } else {
                v.ev("likely", "a late or repeated SYN-ACK reaching an opener whose connection is gone")
            });
        }
        return None;
    }
    if !syn_sent {
        return None;
    }
    // A RST of the opener's own while still in SYN-SENT.
    if resp.has(DirBits::SYNACK) {
        return Some(
            Verdict::new(Cause::ConnectAbandoned, Origin::EndpointActiveReset, 0.6)
                .ev("after_syn_ack", tpl!("frame {}, not acknowledged", f.frame(resp.syn_frame_off).unwrap_or(0)))
                .ev("rst_form", tpl!("{} SEQ {}: not a reply to it", rst.flags, rst.seq)),
        );
    }
    Some(
        Verdict::new(Cause::ConnectAbandoned, Origin::Unknown, 0.3)
            .ev("no_syn_ack", "the opener resets its own SYN; no SYN-ACK in the capture (Zeek: RSTOS0)"),
    )
}
