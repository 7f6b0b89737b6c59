//! What the Linux kernel's own label for a RST implies: the `reason` of the `tcp:tcp_send_reset`
//! tracepoint (`enum sk_rst_reason`, include/net/rstreason.h) plus the socket state it printed,
//! mapped to a [`Cause`] — so lab runs can check the classifier against the kernel.
//!
//! Several reasons need the wire to pick a cause (NO_SOCKET answering an initial SYN is
//! `refused`, answering mid-connection data is `no_connection`); [`KernelRstContext`] carries
//! those few facts, and [`super::Judgement::wire`] gives them for a classified RST.
//!
//! Each cause's registry row ([`Cause::kernel_reasons`]) lists the reasons that can give it;
//! a test holds this mapping and the registry together.

use super::Cause;

/// What a RST answered, as the wire shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TriggerKind {
    /// Not a reply to any captured segment.
    #[default]
    None,
    /// The opener's SYN.
    InitialSyn,
    /// The responder's SYN-ACK.
    SynAck,
    /// The opener's ACK (or first data) completing the handshake, to a responder that had sent
    /// nothing but its SYN-ACK.
    HandshakeAck,
    /// Any other segment.
    Segment,
}

/// The wire facts [`cause_for_kernel_reason`] needs besides the reason and socket state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct KernelRstContext {
    pub trigger: TriggerKind,
    /// The resetting endpoint had sent its FIN before the RST.
    pub sender_sent_fin: bool,
    /// The resetting endpoint is the responder and had sent nothing past its SYN-ACK nor
    /// acknowledged anything past the opener's SYN.
    pub responder_handshake_only: bool,
    /// The answered segment's ACK was unacceptable for the resetting endpoint's state
    /// (SYN-SENT or SYN-RECEIVED, RFC 9293 §3.10.7.3–4).
    pub trigger_ack_invalid: bool,
    /// The resetting endpoint had already sent a RST of its own before the segment it answers
    /// (it holds no connection since: RFC 9293 §3.10.5 ABORT).
    pub sender_reset_before: bool,
    /// The peer had sent a RST the resetting endpoint had to accept (SEG.SEQ = RCV.NXT) before
    /// the segment it answers: that RST deleted its TCB (RFC 9293 §3.10.7.4).
    pub peer_reset_before: bool,
}

impl KernelRstContext {
    /// What a RST the stack sends without a socket for the connection means. The kernel finds
    /// no socket (NO_SOCKET) or, on a port that still has a listener, hands the segment to it
    /// and the listener refuses it (TCP_FLAGS, `tcp_rcv_state_process` in LISTEN): which of
    /// the two depends on a listener the wire cannot see, so both read alike.
    fn no_socket(&self) -> Cause {
        match self.trigger {
            TriggerKind::InitialSyn => Cause::Refused,
            TriggerKind::SynAck => Cause::ConnectAbandoned,
            TriggerKind::HandshakeAck if self.responder_handshake_only => Cause::HandshakeAbort,
            _ => self.socketless_reply(),
        }
    }

    /// What a reply from an endpoint with no socket for the connection means: nothing there
    /// at all (`no_connection`), unless it had closed with a FIN and its socket is gone since
    /// (`after_close`, RFC 1122 §4.2.2.13) — a RST that ended the connection before makes it
    /// `no_connection` again, FIN or not.
    fn socketless_reply(&self) -> Cause {
        if self.sender_sent_fin && !(self.sender_reset_before || self.peer_reset_before) {
            Cause::AfterClose
        } else {
            Cause::NoConnection
        }
    }
}

/// The cause a `tcp:tcp_send_reset` event implies.
///
/// `reason` is the tracepoint's symbolic reason with or without the `SK_RST_REASON_` prefix;
/// `sk_state` its `state=` field (`TCP_LISTEN`, `LISTEN`, `UNKNOWN` when no socket, ...).
/// Unknown names give [`Cause::Unknown`].
pub fn cause_for_kernel_reason(reason: &str, sk_state: &str, wire: &KernelRstContext) -> Cause {
    let reason = reason.trim();
    let reason = reason.strip_prefix("SK_RST_REASON_").unwrap_or(reason);
    let state = sk_state.trim();
    let state = state.strip_prefix("TCP_").unwrap_or(state);
    let after_fin_or = |c: Cause| if wire.sender_sent_fin { Cause::AfterClose } else { c };
    match reason {
        // tcp_v4_rcv found no socket: the RFC 9293 §3.10.7.1 CLOSED reply.
        "NO_SOCKET" => wire.no_socket(),
        // tcp_rcv_synsent_state_process: SEG.ACK outside (SND.UNA, SND.NXT] in SYN-SENT.
        "TCP_INVALID_ACK_SEQUENCE" => {
            if state == "SYN_SENT" || wire.trigger == TriggerKind::SynAck {
                Cause::SynSentBadAck
            } else {
                Cause::ProtocolViolation
            }
        }
        "TCP_RFC7323_PAWS" | "TCP_TOO_OLD_ACK" | "TCP_ACK_UNSENT_DATA" | "TCP_OLD_ACK" => Cause::ProtocolViolation,
        // tcp_rcv_state_process in LISTEN: an ACK no request socket claims (RFC 9293 §3.10.7.2),
        // which is also where tcp_check_req sends a handshake ACK it finds unacceptable. Past
        // the handshake it is the NO_SOCKET reply of a port that has a listener.
        "TCP_FLAGS" => {
            if state == "LISTEN" && !wire.trigger_ack_invalid {
                wire.no_socket()
            } else {
                Cause::ProtocolViolation
            }
        }
        // Data reaching FIN-WAIT with the receive side shut, or TCP_LINGER2 < 0 on the way to
        // FIN-WAIT-2; a TIME_WAIT socket answering data.
        "TCP_ABORT_ON_DATA" | "TCP_TIMEWAIT_SOCKET" | "TCP_ABORT_ON_LINGER" => Cause::AfterClose,
        // tcp_check_req's embryonic reset: accept-queue overflow with tcp_abort_on_overflow, or
        // a bad SYN / RST to a request socket.
        "INVALID_SYN" => {
            if wire.trigger == TriggerKind::HandshakeAck && wire.responder_handshake_only && !wire.trigger_ack_invalid {
                Cause::HandshakeAbort
            } else {
                Cause::ProtocolViolation
            }
        }
        "TCP_ABORT_ON_CLOSE" | "TCP_ABORT_ON_MEMORY" | "TCP_DISCONNECT_WITH_DATA" => after_fin_or(Cause::Abort),
        // tcp_disconnect (SO_LINGER 0 close, connect(AF_UNSPEC), a listener closed with its
        // accept queue) and the FIN-WAIT-2 timer.
        "TCP_STATE" => {
            if wire.sender_sent_fin {
                Cause::AfterClose
            } else if wire.responder_handshake_only {
                Cause::HandshakeAbort
            } else {
                Cause::Abort
            }
        }
        "TCP_KEEPALIVE_TIMEOUT" => Cause::KeepaliveTimeout,
        // RFC 8684 MP_TCPRST reasons: an endpoint closing a subflow on purpose, or on bad
        // MPTCP signalling.
        "MPTCP_RST_EMPTCP" | "MPTCP_RST_EMIDDLEBOX" => Cause::ProtocolViolation,
        "MPTCP_RST_EUNSPEC" | "MPTCP_RST_ERESOURCE" | "MPTCP_RST_EPROHIBIT" | "MPTCP_RST_EWQ2BIG" | "MPTCP_RST_EBADPERF" => {
            after_fin_or(Cause::Abort)
        }
        _ => Cause::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn ctx(trigger: TriggerKind) -> KernelRstContext {
        KernelRstContext { trigger, ..Default::default() }
    }

    #[test]
    fn no_socket_depends_on_what_it_answers() {
        assert_eq!(cause_for_kernel_reason("NO_SOCKET", "UNKNOWN", &ctx(TriggerKind::InitialSyn)), Cause::Refused);
        assert_eq!(cause_for_kernel_reason("NO_SOCKET", "UNKNOWN", &ctx(TriggerKind::SynAck)), Cause::ConnectAbandoned);
        assert_eq!(cause_for_kernel_reason("NO_SOCKET", "UNKNOWN", &ctx(TriggerKind::Segment)), Cause::NoConnection);
        let fin = KernelRstContext { sender_sent_fin: true, ..ctx(TriggerKind::Segment) };
        assert_eq!(cause_for_kernel_reason("NO_SOCKET", "UNKNOWN", &fin), Cause::AfterClose);
        // RFC 9293 §3.10.5: the side that reset deleted its TCB; what it answers later finds
        // none, whether or not it had sent a FIN before.
        let reset = KernelRstContext { sender_reset_before: true, ..fin };
        assert_eq!(cause_for_kernel_reason("NO_SOCKET", "UNKNOWN", &reset), Cause::NoConnection);
        // RFC 9293 §3.10.7.4: the peer's acceptable RST deleted it just the same.
        let was_reset = KernelRstContext { peer_reset_before: true, ..fin };
        assert_eq!(cause_for_kernel_reason("NO_SOCKET", "UNKNOWN", &was_reset), Cause::NoConnection);
    }

    #[test]
    fn a_listener_answering_past_the_handshake_is_a_socketless_reply() {
        // The same story on a port with a listener: TCP_FLAGS in LISTEN instead of NO_SOCKET.
        let c = ctx(TriggerKind::Segment);
        for (wire, want) in [
            (c, Cause::NoConnection),
            (KernelRstContext { sender_sent_fin: true, ..c }, Cause::AfterClose),
            (KernelRstContext { sender_sent_fin: true, peer_reset_before: true, ..c }, Cause::NoConnection),
            (KernelRstContext { sender_sent_fin: true, sender_reset_before: true, ..c }, Cause::NoConnection),
        ] {
            assert_eq!(cause_for_kernel_reason("TCP_FLAGS", "TCP_LISTEN", &wire), want, "{wire:?}");
            assert_eq!(cause_for_kernel_reason("NO_SOCKET", "UNKNOWN", &wire), want, "{wire:?}");
        }
        // A listener that turns a SYN away, or a SYN-ACK answered on a port with a listener.
        assert_eq!(cause_for_kernel_reason("TCP_FLAGS", "TCP_LISTEN", &ctx(TriggerKind::InitialSyn)), Cause::Refused);
        assert_eq!(cause_for_kernel_reason("TCP_FLAGS", "TCP_LISTEN", &ctx(TriggerKind::SynAck)), Cause::ConnectAbandoned);
    }

    #[test]
    fn prefix_and_state_spellings_are_accepted() {
        let c = ctx(TriggerKind::SynAck);
        assert_eq!(cause_for_kernel_reason("SK_RST_REASON_TCP_INVALID_ACK_SEQUENCE", "TCP_SYN_SENT", &c), Cause::SynSentBadAck);
        assert_eq!(cause_for_kernel_reason(" TCP_INVALID_ACK_SEQUENCE ", "SYN_SENT", &ctx(TriggerKind::None)), Cause::SynSentBadAck);
    }

    #[test]
    fn listener_flags_reset_is_no_connection_unless_the_ack_was_bad() {
        let c = ctx(TriggerKind::Segment);
        assert_eq!(cause_for_kernel_reason("TCP_FLAGS", "TCP_LISTEN", &c), Cause::NoConnection);
        let bad = KernelRstContext { trigger_ack_invalid: true, ..c };
        assert_eq!(cause_for_kernel_reason("TCP_FLAGS", "TCP_LISTEN", &bad), Cause::ProtocolViolation);
        assert_eq!(cause_for_kernel_reason("TCP_FLAGS", "TCP_SYN_RECV", &c), Cause::ProtocolViolation);
    }

    #[test]
    fn accept_queue_overflow_is_handshake_abort() {
        let c = KernelRstContext { responder_handshake_only: true, ..ctx(TriggerKind::HandshakeAck) };
        assert_eq!(cause_for_kernel_reason("INVALID_SYN", "TCP_LISTEN", &c), Cause::HandshakeAbort);
        assert_eq!(cause_for_kernel_reason("INVALID_SYN", "TCP_LISTEN", &ctx(TriggerKind::Segment)), Cause::ProtocolViolation);
    }

    #[test]
    fn active_resets() {
        let none = ctx(TriggerKind::None);
        assert_eq!(cause_for_kernel_reason("TCP_STATE", "TCP_CLOSE", &none), Cause::Abort);
        assert_eq!(cause_for_kernel_reason("TCP_ABORT_ON_CLOSE", "TCP_CLOSE", &none), Cause::Abort);
        assert_eq!(cause_for_kernel_reason("TCP_ABORT_ON_LINGER", "TCP_FIN_WAIT2", &none), Cause::AfterClose);
        assert_eq!(cause_for_kernel_reason("TCP_KEEPALIVE_TIMEOUT", "TCP_ESTABLISHED", &none), Cause::KeepaliveTimeout);
        let fin = KernelRstContext { sender_sent_fin: true, ..none };
        assert_eq!(cause_for_kernel_reason("TCP_STATE", "TCP_FIN_WAIT2", &fin), Cause::AfterClose);
        let queued = KernelRstContext { responder_handshake_only: true, ..none };
        assert_eq!(cause_for_kernel_reason("TCP_STATE", "TCP_CLOSE", &queued), Cause::HandshakeAbort);
    }

    #[test]
    fn data_after_close_reasons() {
        let c = ctx(TriggerKind::Segment);
        assert_eq!(cause_for_kernel_reason("TCP_ABORT_ON_DATA", "TCP_FIN_WAIT2", &c), Cause::AfterClose);
        assert_eq!(cause_for_kernel_reason("TCP_TIMEWAIT_SOCKET", "TCP_TIME_WAIT", &c), Cause::AfterClose);
    }

    #[test]
    fn unknown_names_are_unknown() {
        let c = ctx(TriggerKind::None);
        assert_eq!(cause_for_kernel_reason("NOT_SPECIFIED", "TCP_ESTABLISHED", &c), Cause::Unknown);
        assert_eq!(cause_for_kernel_reason("SOMETHING_NEW", "", &c), Cause::Unknown);
    }

    /// `enum sk_rst_reason` of include/net/rstreason.h (Linux 6.18), without the prefix.
    const SK_RST_REASONS: [&str; 25] = [
        "NOT_SPECIFIED",
        "NO_SOCKET",
        "TCP_INVALID_ACK_SEQUENCE",
        "TCP_RFC7323_PAWS",
        "TCP_TOO_OLD_ACK",
        "TCP_ACK_UNSENT_DATA",
        "TCP_FLAGS",
        "TCP_OLD_ACK",
        "TCP_ABORT_ON_DATA",
        "TCP_TIMEWAIT_SOCKET",
        "INVALID_SYN",
        "TCP_ABORT_ON_CLOSE",
        "TCP_ABORT_ON_LINGER",
        "TCP_ABORT_ON_MEMORY",
        "TCP_STATE",
        "TCP_KEEPALIVE_TIMEOUT",
        "TCP_DISCONNECT_WITH_DATA",
        "MPTCP_RST_EUNSPEC",
        "MPTCP_RST_EMPTCP",
        "MPTCP_RST_ERESOURCE",
        "MPTCP_RST_EPROHIBIT",
        "MPTCP_RST_EWQ2BIG",
        "MPTCP_RST_EBADPERF",
        "MPTCP_RST_EMIDDLEBOX",
        "ERROR",
    ];

    /// The `state=` values the tracepoint prints (include/net/tcp_states.h), and no socket.
    const STATES: [&str; 14] = [
        "UNKNOWN",
        "TCP_ESTABLISHED",
        "TCP_SYN_SENT",
        "TCP_SYN_RECV",
        "TCP_FIN_WAIT1",
        "TCP_FIN_WAIT2",
        "TCP_TIME_WAIT",
        "TCP_CLOSE",
        "TCP_CLOSE_WAIT",
        "TCP_LAST_ACK",
        "TCP_LISTEN",
        "TCP_CLOSING",
        "TCP_NEW_SYN_RECV",
        "TCP_BOUND_INACTIVE",
    ];

    /// Every combination of the wire facts.
    fn contexts() -> impl Iterator<Item = KernelRstContext> {
        use TriggerKind::*;
        [None, InitialSyn, SynAck, HandshakeAck, Segment].into_iter().flat_map(|trigger| {
            (0..32u8).map(move |b| KernelRstContext {
                trigger,
                sender_sent_fin: b & 1 != 0,
                responder_handshake_only: b & 2 != 0,
                trigger_ack_invalid: b & 4 != 0,
                sender_reset_before: b & 8 != 0,
                peer_reset_before: b & 16 != 0,
            })
        })
    }

    #[test]
    fn each_cause_lists_exactly_the_kernel_reasons_that_can_give_it() {
        let mut given: BTreeSet<(Cause, &str)> = BTreeSet::new();
        for reason in SK_RST_REASONS {
            for state in STATES {
                for wire in contexts() {
                    let cause = cause_for_kernel_reason(reason, state, &wire);
                    if cause != Cause::Unknown {
                        assert!(cause.kernel_reasons().contains(&reason), "{reason} in {state} with {wire:?} gives {cause}, whose row does not list it");
                        given.insert((cause, reason));
                    }
                }
            }
        }
        for cause in Cause::ALL {
            for &reason in cause.kernel_reasons() {
                assert!(SK_RST_REASONS.contains(&reason), "{cause} lists {reason}, not a kernel reason");
                assert!(given.contains(&(cause, reason)), "{cause} lists {reason}, but no state or wire context gives it");
            }
        }
        // Reasons that say nothing about why.
        for reason in ["NOT_SPECIFIED", "ERROR"] {
            assert!(Cause::ALL.iter().all(|c| !c.kernel_reasons().contains(&reason)), "{reason}");
        }
    }
}
