//! The cause registry: every cause declared once, with its id, meaning, rule family, the Linux
//! `sk_rst_reason`s that imply it and the lab scenarios that produce it. The [`Cause`] enum,
//! [`Cause::ALL`] and every per-cause lookup are generated from it, and the rule families'
//! order is [`Family::ALL`]'s.
//!
//! Kernel reasons are the names of `enum sk_rst_reason` (include/net/rstreason.h) without the
//! `SK_RST_REASON_` prefix: the reasons for which [`super::cause_for_kernel_reason`] can give
//! this cause (a test holds the two together). Scenarios are the lab's scenario names whose
//! kernel-labelled captures contain a RST of this cause (tests/fixtures/lab/classification.tsv;
//! a test holds the two together).

use std::fmt;

macro_rules! families {
    ($( $(#[$doc:meta])* $variant:ident = $id:literal, )*) => {
        /// A rule family: one file under `rules/`, deciding one or more causes.
        ///
        /// [`Family::ALL`] is the order the rules are asked; the first that answers wins.
        /// Injection comes first because forged evidence overrides any shape a forger copied;
        /// `unsolicited` before the context rules because they all need context; when no rule
        /// answers the verdict is `unknown`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Family { $( $(#[$doc])* $variant, )* }

        impl Family {
            pub const ALL: [Family; [$($id),*].len()] = [$(Family::$variant),*];

            /// The rule file's name (`rules/<id>.rs`).
            pub const fn as_str(self) -> &'static str {
                match self { $(Family::$variant => $id,)* }
            }
        }
    };
}

families! {
    Injection = "injection",
    Unsolicited = "unsolicited",
    Handshake = "handshake",
    Close = "close",
    Timeout = "timeout",
    Violation = "violation",
    NoConnection = "no_connection",
    Abort = "abort",
}

macro_rules! causes {
    ($(
        $variant:ident {
            id: $id:literal,
            family: $family:ident,
            meaning: $meaning:literal,
            kernel: [$($reason:literal),* $(,)?],
            scenarios: [$($scenario:literal),* $(,)?] $(,)?
        }
    ),* $(,)?) => {
        /// Why a RST was sent. Stable snake_case ids ([`Cause::as_str`]); `unknown` is an honest
        /// answer.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Cause {
            $( #[doc = $meaning] $variant, )*
        }

        impl Cause {
            /// Every cause, in declaration order.
            pub const ALL: [Cause; [$($id),*].len()] = [$(Cause::$variant),*];

            /// The stable id used in tables, JSON and `end_reason`.
            pub const fn as_str(self) -> &'static str {
                match self { $(Cause::$variant => $id,)* }
            }

            /// One-line meaning (DESIGN.md §3).
            pub const fn description(self) -> &'static str {
                match self { $(Cause::$variant => $meaning,)* }
            }

            /// The rule family that decides this cause.
            pub const fn rule_family(self) -> Family {
                match self { $(Cause::$variant => Family::$family,)* }
            }

            /// `"rst:<id>"`, as the connection's `end_reason` reports it.
            pub const fn end_reason(self) -> &'static str {
                match self { $(Cause::$variant => concat!("rst:", $id),)* }
            }

            /// The Linux `sk_rst_reason` names (no `SK_RST_REASON_` prefix) that can imply this
            /// cause in [`super::cause_for_kernel_reason`].
            pub const fn kernel_reasons(self) -> &'static [&'static str] {
                match self { $(Cause::$variant => &[$($reason),*],)* }
            }

            /// The lab scenarios whose captures contain a RST of this cause.
            pub const fn scenarios(self) -> &'static [&'static str] {
                match self { $(Cause::$variant => &[$($scenario),*],)* }
            }
        }
    };
}

causes! {
    Refused {
        id: "refused",
        family: Handshake,
        meaning: "answer to a connection's initial SYN: nothing accepts connections there (closed port, bound-not-listening, host firewall reject)",
        kernel: ["NO_SOCKET", "TCP_FLAGS"],
        scenarios: ["s1_closed_port", "s2_bound_not_listening", "firewall_reject", "router_reject_syn", "tfo_cookie_request_refused", "tfo_syn_data_refused"],
    },
    HandshakeAbort {
        id: "handshake_abort",
        family: Handshake,
        meaning: "the responder completed or half-completed the handshake, then reset before its application ever had the connection",
        kernel: ["NO_SOCKET", "TCP_FLAGS", "INVALID_SYN", "TCP_STATE"],
        scenarios: ["accept_overflow", "write_after_reset"],
    },
    ConnectAbandoned {
        id: "connect_abandoned",
        family: Handshake,
        meaning: "the originator answers a SYN-ACK with a RST: it no longer wants (or has) that connection",
        kernel: ["NO_SOCKET", "TCP_FLAGS"],
        scenarios: ["s4_late_synack"],
    },
    SynSentBadAck {
        id: "syn_sent_bad_ack",
        family: Handshake,
        meaning: "a connecting endpoint resets because the reply acknowledges something else (a stale connection on the same ports)",
        kernel: ["TCP_INVALID_ACK_SEQUENCE"],
        scenarios: ["client_reboot_reconnect"],
    },
    Abort {
        id: "abort",
        family: Abort,
        meaning: "an endpoint with a live connection resets instead of closing with FIN",
        kernel: [
            "TCP_ABORT_ON_CLOSE", "TCP_ABORT_ON_MEMORY", "TCP_DISCONNECT_WITH_DATA", "TCP_STATE",
            "MPTCP_RST_EUNSPEC", "MPTCP_RST_ERESOURCE", "MPTCP_RST_EPROHIBIT", "MPTCP_RST_EWQ2BIG", "MPTCP_RST_EBADPERF",
        ],
        scenarios: [
            "s11_linger_zero", "close_with_unread_data", "s9_shutdown_unread_data", "listener_closed_with_queue", "s12_release",
            "reuseport_listener_close", "disconnect_unread_data", "disconnect_with_unsent_data", "proxy_resets_client",
        ],
    },
    AfterClose {
        id: "after_close",
        family: Close,
        meaning: "an endpoint that had already sent its FIN resets when the peer sends more (its first RST; after it the endpoint holds no connection)",
        kernel: [
            "NO_SOCKET", "TCP_FLAGS", "TCP_ABORT_ON_DATA", "TCP_TIMEWAIT_SOCKET", "TCP_ABORT_ON_LINGER", "TCP_STATE",
            "TCP_ABORT_ON_CLOSE", "TCP_ABORT_ON_MEMORY", "TCP_DISCONNECT_WITH_DATA",
            "MPTCP_RST_EUNSPEC", "MPTCP_RST_ERESOURCE", "MPTCP_RST_EPROHIBIT", "MPTCP_RST_EWQ2BIG", "MPTCP_RST_EBADPERF",
        ],
        scenarios: ["data_after_close", "s7_finwait2_timeout", "finwait2_linger2_negative", "half_duplex_close_then_data", "data_then_half_duplex_close", "reset_then_peer_sends"],
    },
    NoConnection {
        id: "no_connection",
        family: NoConnection,
        meaning: "a reply RST to a mid-connection segment from a host that has no state for the connection: it never closed it, or a RST (its own or the peer's) already ended it",
        kernel: ["NO_SOCKET", "TCP_FLAGS"],
        scenarios: ["s10_crash_reboot", "router_reject_midstream", "nat_state_lost", "reset_then_peer_sends", "inject_exact", "inject_burst", "inject_race"],
    },
    KeepaliveTimeout {
        id: "keepalive_timeout",
        family: Timeout,
        meaning: "the prober resets after its keepalive probes went unanswered",
        kernel: ["TCP_KEEPALIVE_TIMEOUT"],
        scenarios: ["s6_keepalive_timeout", "user_timeout_keepalive"],
    },
    RetransmissionTimeout {
        id: "retransmission_timeout",
        family: Timeout,
        meaning: "an endpoint resets after its retransmissions went unanswered",
        // Linux gives up silently (tcp_write_err): no reason, and no lab scenario can make it.
        kernel: [],
        scenarios: [],
    },
    ProtocolViolation {
        id: "protocol_violation",
        family: Violation,
        meaning: "a reply RST to a segment the stack found invalid",
        kernel: [
            "TCP_INVALID_ACK_SEQUENCE", "TCP_RFC7323_PAWS", "TCP_TOO_OLD_ACK", "TCP_ACK_UNSENT_DATA", "TCP_OLD_ACK",
            "TCP_FLAGS", "INVALID_SYN", "MPTCP_RST_EMPTCP", "MPTCP_RST_EMIDDLEBOX",
        ],
        scenarios: ["paws_synack_bad_tsecr"],
    },
    Injected {
        id: "injected",
        family: Injection,
        meaning: "not sent by the endpoint it claims to come from",
        kernel: [],
        scenarios: [
            "forged_rst_exact", "forged_rst_in_window", "forged_rst_out_of_window", "router_reject_midstream", "rst_with_data",
            "inject_exact", "inject_in_window", "inject_out_of_window", "inject_burst", "inject_race",
        ],
    },
    Unsolicited {
        id: "unsolicited",
        family: Unsolicited,
        meaning: "a lone RST with no context to judge",
        kernel: [],
        scenarios: [],
    },
    Unknown {
        id: "unknown",
        family: Unsolicited,
        meaning: "evidence insufficient",
        kernel: [],
        scenarios: [],
    },
}

impl Cause {
    /// Inverse of [`Cause::as_str`].
    pub fn from_id(id: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.as_str() == id)
    }

    /// The rule file that decides this cause (`rules/<family>.rs`).
    pub const fn family(self) -> &'static str {
        self.rule_family().as_str()
    }
}

/// A set of causes, one bit each (a RST's `alternatives`): two bytes a row, so the resets
/// table stays as cheap as its other enum columns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CauseSet(u16);

const _: () = assert!(Cause::ALL.len() <= 16, "CauseSet holds one bit per cause in a u16");

impl CauseSet {
    pub const EMPTY: CauseSet = CauseSet(0);

    pub fn insert(&mut self, c: Cause) {
        self.0 |= 1 << c as u16;
    }
    pub fn contains(self, c: Cause) -> bool {
        self.0 & (1 << c as u16) != 0
    }
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    pub fn len(self) -> usize {
        self.0.count_ones() as usize
    }
    /// The bits (bit `c as u16` for cause `c`).
    pub fn bits(self) -> u16 {
        self.0
    }
    /// The set of [`CauseSet::bits`] (bits of no cause dropped).
    pub fn from_bits(bits: u16) -> CauseSet {
        CauseSet(bits & ((1u32 << Cause::ALL.len()) - 1) as u16)
    }
    /// The causes in the order their rules are asked ([`Family::ALL`]), then declared.
    pub fn iter(self) -> impl Iterator<Item = Cause> {
        Family::ALL
            .into_iter()
            .flat_map(move |f| Cause::ALL.into_iter().filter(move |c| c.rule_family() == f && self.contains(*c)))
    }
}

impl fmt::Display for CauseSet {
    /// The ids, comma-separated (empty for the empty set).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(c.as_str())?;
        }
        Ok(())
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests;
