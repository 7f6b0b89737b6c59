//! Zeek-compatible per-connection TCP state: the endpoint state machine, `conn_state` and
//! `history`, computed with Zeek's own rules (`notes/zeek-conn-state.md`) so users can check
//! rstlab against the tool they trust.
//!
//! The rules are Zeek's, transcribed and cited function by function (paths are relative to the
//! zeek/zeek repository):
//! - `src/packet_analysis/protocol/tcp/TCPSessionAdapter.cc` — `Process`, `update_history`,
//!   `update_window`, `update_last_seq`, the `Update*State` machine, `ConnectionClosed`, the
//!   timers and `IsReuse`;
//! - `src/packet_analysis/protocol/tcp/TCP.cc` — `ValidateChecksum`;
//! - `src/packet_analysis/protocol/ip/IPBasedAnalyzer.cc` and `TCP.cc` — `NewConn` /
//!   `WantConnection` (roles of a new connection, `likely_server_ports`);
//! - `src/analyzer/protocol/tcp/TCP_Endpoint.cc` and `src/Conn.cc` — `CheckHistory`,
//!   `ScaledHistoryEntry`, `FlipRoles`, `CheckEncapsulation`;
//! - `src/analyzer/protocol/tcp/TCP_Reassembler.cc` — content gaps (`AckReceived`,
//!   `Undelivered`, `Gap`), approximated without buffering payload (see `Endpoint`);
//! - `scripts/base/protocols/conn/main.zeek` — `conn_state`.
//!
//! Every letter Zeek writes for TCP, with its repeat rule: `S H F R` again only at a new
//! sequence number, `A D I Q` once per side, `C T W G` at the 1st, 10th, 100th ... event per
//! side (`ScaledHistoryEntry`), `^` at each flip, `X` once per connection (`tunnel`).
//!
//! Known approximations, all documented where they are made: the reassembler keeps one
//! out-of-order block per direction (several holes acked at once count as one gap); closing is
//! never deferred for undelivered data (`ConnectionClosed`'s `DataPending`); timers fire at
//! their own time, not at the next packet of the whole capture (nor held back by Zeek's
//! `max_timer_expires` per packet); the scaled letters stop at the 10^9th event (Zeek's u32
//! threshold wraps past it); of the limits behind the analysis-partial letter `X`, only the
//! tunnel changes one applies to TCP's own view (the others are application analyzers'); a
//! tunnel is told apart by a 16-bit fingerprint (`Segment::encap`). The first-packet and late
//! (PR #2191) role flips and the PR's `H` → `^h` rewrite follow Zeek's baselines.
//!
//! A [`ZeekConn`] is 184 bytes, the per-packet state first. It allocates only for what few
//! connections need (a history longer than 15 letters, bad-checksum, retransmission or
//! zero-window counts, a tunnel, a reset timer), once, and never per packet.
//!
//! Two fast paths, both checked against the full computation (by the unit tests, and on every
//! packet in debug builds): [`ZeekConn::timed_out`] compares with a cached lower bound of its
//! deadlines, and an ACK or data segment between two ESTABLISHED endpoints skips the steps of
//! `TCPSessionAdapter::Process` that cannot apply to it (`process_established`).
//!
//! One file per seam, each using only the ones before it (and what is declared here):
//! `endpoint` (one side's state and numbering), `history` (the letters), `reassembly` (content
//! gaps), `timers`, `tunnel` (the encapsulation and its change limit), `machine` (per-packet
//! processing and the state machine), `fast` (the established fast path); `state`
//! (`conn_state`) reads `endpoint` only.

mod endpoint;
mod fast;
mod history;
mod machine;
mod reassembly;
mod state;
mod timers;
mod tunnel;
#[cfg(test)]
mod tests;

pub use state::ConnState;

use self::endpoint::{Endpoint, EndpointCold, F_DID_CLOSE};
use self::history::{scaled_hit, History, Rare};
use self::timers::{ms_ceil, NO_TIMER, TCP_SYN_TIMEOUT};
use super::Dir;
use crate::wire::{Checksum, Segment};
use std::net::IpAddr;

/// How Zeek is run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ZeekOptions {
    /// Zeek's `-C`: keep packets whose checksum is bad. Without it, a segment whose checksum was
    /// verified bad ([`Checksum::Bad`]) is dropped from all analysis and only records `C`/`c`.
    pub ignore_checksums: bool,
}

/// The TCP ports Zeek's default scripts put in `likely_server_ports` (each base protocol
/// analyzer's `redef likely_server_ports += { ports }`: conn, dce-rpc, dnp3, dns, finger, ftp,
/// http, imap, irc, krb, ldap, modbus, mqtt, postgresql, rdp, redis, smb, smtp, socks, ssh, ssl,
/// xmpp). MySQL registers 1434/3306 for its analyzer but does not add them here. Sorted.
pub const ZEEK_LIKELY_SERVER_PORTS: &[u16] = &[
    21, 22, 25, 53, 79, 80, 81, 88, 135, 139, 143, 389, 443, 445, 502, 563, 585, 587, 614, 631,
    636, 989, 990, 992, 993, 995, 1080, 1883, 2811, 3128, 3268, 3389, 5222, 5223, 5269, 5432, 6379,
    6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000,
];

/// One endpoint's state, Zeek's `TCP_ENDPOINT_*` (`TCP_Endpoint.h`), in script land
/// `TCP_INACTIVE` … `TCP_RESET`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum EndpointState {
    Inactive = 0,
    SynSent = 1,
    SynAckSent = 2,
    /// Data seen without a SYN.
    Partial = 3,
    Established = 4,
    /// FIN seen.
    Closed = 5,
    /// RST seen.
    Reset = 6,
}

impl EndpointState {
    pub fn as_str(self) -> &'static str {
        match self {
            EndpointState::Inactive => "TCP_INACTIVE",
            EndpointState::SynSent => "TCP_SYN_SENT",
            EndpointState::SynAckSent => "TCP_SYN_ACK_SENT",
            EndpointState::Partial => "TCP_PARTIAL",
            EndpointState::Established => "TCP_ESTABLISHED",
            EndpointState::Closed => "TCP_CLOSED",
            EndpointState::Reset => "TCP_RESET",
        }
    }

    /// "Inactive" in `conn_state`'s sense: INACTIVE or PARTIAL.
    #[inline]
    fn inactive_or_partial(self) -> bool {
        matches!(self, EndpointState::Inactive | EndpointState::Partial)
    }

    /// `is_handshake` in `TCP_Endpoint.cc`.
    #[inline]
    fn is_handshake(self) -> bool {
        matches!(
            self,
            EndpointState::Inactive | EndpointState::SynSent | EndpointState::SynAckSent
        )
    }
}

/// Zeek's view of one TCP connection. Feed it every segment with [`ZeekConn::on_segment`];
/// read [`ZeekConn::conn_state`] and [`ZeekConn::history`] at any time.
///
/// Zeek splits a 5-tuple into several connections where a plain tracker sees one: a SYN that
/// starts a new connection on a closed or reset tuple ([`ZeekConn::is_reuse`]) and expiry by
/// its timers ([`ZeekConn::timed_out`]). A tracker that wants Zeek's rows asks both before
/// feeding a segment, and starts a new `ZeekConn` with that segment when either says so.
///
/// Layout: the fields (nearly) every packet touches come first, together (101 bytes), the
/// ones only control packets, timers and the final report need after them.
#[derive(Clone, Debug)]
#[repr(C)]
pub struct ZeekConn {
    /// A lower bound of the earliest time [`ZeekConn::timed_out`] can act at: the inactivity
    /// deadline and the four timers below. Before it, `timed_out` is one comparison.
    next_deadline_ns: i64,
    /// `Connection::last_time`, capture nanoseconds.
    last_time: i64,
    /// Endpoints by physical direction ([`Dir::idx`]): `ep[0]` sent the first packet.
    ep: [Endpoint; 2],
    /// `Connection::hist_seen`, by role: originator bits low, responder bits `<< 8`.
    hist_seen: u16,
    orig_is_fwd: bool,
    /// `first_packet_seen`, by role: bit 0 originator, bit 1 responder.
    first_packet_seen: u8,
    /// `C_*` bits: `is_partial`, `Connection::is_active`, the TCP inactivity timeout in force,
    /// `-C`, tunnelled.
    bits: u8,
    // ----- cold
    /// `TCP_Endpoint::prev_state`, by physical direction.
    prev_state: [EndpointState; 2],
    history: History,
    cold: [EndpointCold; 2],
    // Pending timers, milliseconds after `created_at` (rounded up), or NO_TIMER.
    attempt_at: u32,
    expire_at: u32,
    close_expire_at: u32,
    delete_at: u32,
    created_at: i64,
    rare: Option<Box<Rare>>,
}

/// `ZeekConn::bits`: the session adapter's `is_partial`.
const C_PARTIAL: u8 = 1;
/// `Connection::is_active`: cleared by `ConnectionFinished` / `ConnectionReset`.
const C_ACTIVE: u8 = 2;
/// The handshake is over: `tcp_inactivity_timeout` applies (`TCP_Endpoint::SetState`).
const C_TCP_INACTIVITY: u8 = 4;
/// Zeek's `-C` ([`ZeekOptions::ignore_checksums`]).
const C_IGNORE_CHECKSUMS: u8 = 8;
/// The connection is tunnelled: its encapsulation is in `Rare::encap` (`tunnel`).
const C_TUNNELLED: u8 = 16;

impl ZeekConn {
    /// Called with the connection's first packet (before [`ZeekConn::on_segment`] is called
    /// with it): decides roles with Zeek's rules, using Zeek's default `likely_server_ports`.
    pub fn new(first: &Segment, opts: ZeekOptions) -> Self {
        Self::with_server_ports(first, opts, ZEEK_LIKELY_SERVER_PORTS)
    }

    /// As [`ZeekConn::new`], with another `likely_server_ports` set (sorted). Zeek run with
    /// `-b` loads no protocol scripts unless told to, so its set is empty.
    pub fn with_server_ports(first: &Segment, opts: ZeekOptions, server_ports: &[u16]) -> Self {
        let mut c = ZeekConn {
            next_deadline_ns: i64::MIN,
            last_time: first.ts_ns,
            ep: [Endpoint::new(), Endpoint::new()],
            hist_seen: 0,
            orig_is_fwd: true,
            first_packet_seen: 0,
            bits: C_ACTIVE
                | if opts.ignore_checksums {
                    C_IGNORE_CHECKSUMS
                } else {
                    0
                },
            prev_state: [EndpointState::Inactive; 2],
            history: History::new(),
            cold: [EndpointCold::new(), EndpointCold::new()],
            attempt_at: NO_TIMER,
            // The adapter's first ExpireTimer (`tcp_SYN_timeout`).
            expire_at: ms_ceil(TCP_SYN_TIMEOUT),
            close_expire_at: NO_TIMER,
            delete_at: NO_TIMER,
            created_at: first.ts_ns,
            rare: None,
        };
        // `IPBasedAnalyzer::NewConn` → `TCPAnalyzer::WantConnection`: a connection that does not
        // start with a pure SYN is flipped when its source port looks like a server's.
        let f = first.flags;
        if !f.syn() || f.ack() {
            let likely = |p: u16| server_ports.binary_search(&p).is_ok();
            let flip = if likely(first.sport) {
                if likely(first.dport) {
                    // Both plausible: flip only non-SYNs, towards the lower port being the server.
                    !f.syn() && first.sport < first.dport
                } else {
                    true
                }
            } else {
                false
            };
            if flip && !is_broadcast(first.dst) {
                c.flip_roles();
            }
        }
        c.init_encapsulation(first.encap);
        c.next_deadline_ns = c.deadline();
        c
    }

    /// True when the originator (Zeek's role) is the first packet's sender; false if roles were
    /// flipped.
    #[inline]
    pub fn orig_is_fwd(&self) -> bool {
        self.orig_is_fwd
    }

    /// The history string (`conn.log`'s `history`).
    pub fn history(&self) -> &str {
        self.history.as_str(&self.rare)
    }

    fn history_bytes(&self) -> &[u8] {
        self.history.as_bytes(&self.rare)
    }

    pub fn orig_state(&self) -> EndpointState {
        self.ep[self.orig_idx()].state
    }

    pub fn resp_state(&self) -> EndpointState {
        self.ep[1 - self.orig_idx()].state
    }

    /// `TCPSessionAdapter::IsReuse`: true if Zeek would end this connection and start a new one
    /// with `seg` (a SYN on a closed tuple, or a SYN whose sequence number differs from the one
    /// the connection started with).
    #[inline]
    pub fn is_reuse(&self, seg: &Segment) -> bool {
        // Every segment is asked; only a SYN can be a reuse, so that test comes first.
        seg.flags.syn() && seg.header_len >= 20 && self.is_reuse_syn(seg)
    }

    /// The rest of `IsReuse`, for a SYN.
    #[inline(never)]
    fn is_reuse_syn(&self, seg: &Segment) -> bool {
        let f = seg.flags;
        let oi = self.orig_idx();
        let (orig, resp) = (&self.ep[oi], &self.ep[1 - oi]);
        let conn_orig = if f.ack() {
            // Only a half-open connection can be reused by a SYN-ACK.
            if orig.state != EndpointState::Inactive {
                return false;
            }
            resp
        } else {
            orig
        };
        if !(orig.has(F_DID_CLOSE) || resp.has(F_DID_CLOSE)) {
            if seg.seq == conn_orig.start_seq {
                return false;
            }
            // A SYN arriving after its SYN-ACK (reordered capture): not a reuse, the state
            // machine flips the roles instead.
            if !f.ack()
                && conn_orig.state == EndpointState::SynAckSent
                && resp.state == EndpointState::Inactive
                && seg.seq == resp.start_seq
            {
                return false;
            }
        }
        true
    }

    /// Every packet of the connection, including the first. `dir` is relative to the first
    /// packet's sender.
    #[inline]
    pub fn on_segment(&mut self, dir: Dir, seg: &Segment) {
        let e = dir.idx();
        // `CheckEncapsulation`, for tunnelled packets and connections only: untunnelled traffic
        // pays two tests.
        if seg.encap != 0 || self.bit(C_TUNNELLED) {
            self.check_encapsulation(seg.encap);
        }
        if !self.established_fast_path(seg) {
            self.on_segment_full(e, seg);
        } else if cfg!(debug_assertions) {
            self.process_established_checked(e, seg);
        } else {
            self.process_established(e, seg);
        }
    }

    /// [`ZeekConn::on_segment`] for any segment: `TCPAnalyzer::ValidateChecksum`, then
    /// `TCPSessionAdapter::Process`.
    #[inline(never)]
    fn on_segment_full(&mut self, e: usize, seg: &Segment) {
        // `TCPAnalyzer::ValidateChecksum`: Zeek checks only fully captured segments (the decoder
        // leaves the others unverified) and drops a bad one after recording it.
        if !self.bit(C_IGNORE_CHECKSUMS) && seg.checksum == Checksum::Bad {
            if scaled_hit(&mut self.rare_counters().chk_cnt[e]) {
                self.add_history(e, b'C');
            }
            return;
        }
        self.maybe_flip_after_syn_ack(seg);
        self.process(e, seg);
        // The packet may have moved `last_time`, set or cancelled timers, or ended the
        // handshake (`tcp_inactivity`).
        self.next_deadline_ns = self.deadline();
    }

    // ----- connection bits and endpoint helpers --------------------------------------------

    #[inline]
    fn bit(&self, b: u8) -> bool {
        self.bits & b != 0
    }

    #[inline]
    fn set_bit(&mut self, b: u8, on: bool) {
        if on {
            self.bits |= b;
        } else {
            self.bits &= !b;
        }
    }

    #[inline]
    fn is_partial(&self) -> bool {
        self.bit(C_PARTIAL)
    }

    #[inline]
    fn set_partial(&mut self, on: bool) {
        self.set_bit(C_PARTIAL, on);
    }

    // ----- roles -------------------------------------------------------------------------------

    #[inline]
    fn orig_idx(&self) -> usize {
        if self.orig_is_fwd {
            0
        } else {
            1
        }
    }

    #[inline]
    fn is_orig(&self, e: usize) -> bool {
        e == self.orig_idx()
    }

    /// `Connection::FlipRoles` (+ `TCPSessionAdapter::FlipRoles`): the endpoints swap roles and
    /// `^` is appended. `hist_seen` is the connection's and is not swapped.
    fn flip_roles(&mut self) {
        self.orig_is_fwd = !self.orig_is_fwd;
        let f = self.first_packet_seen;
        self.first_packet_seen = ((f & 1) << 1) | ((f >> 1) & 1);
        self.set_partial(false);
        self.history.push(&mut self.rare, b'^');
    }
}

fn is_broadcast(a: IpAddr) -> bool {
    matches!(a, IpAddr::V4(v4) if v4.is_broadcast())
}
