//! Zeek's timers for a connection: the inactivity timeout (`Connection`), and the
//! connection-attempt, expire, reset and close-delay timers (`TCPSessionAdapter::AttemptTimer`,
//! `ExpireTimer`, `ResetTimer`, `ConnDeleteTimer`), with their defaults from `init-bare.zeek`.
//! The partial-close timer (`tcp_partial_close_delay`) is set only when a script handles
//! `connection_partial_close`, which none of Zeek's own scripts do.

use super::endpoint::F_DID_CLOSE;
use super::{EndpointState, ZeekConn, C_ACTIVE, C_TCP_INACTIVITY};

// `init-bare.zeek` defaults.
pub(super) const SEC: i64 = 1_000_000_000;
pub(super) const TCP_SYN_TIMEOUT: i64 = 5 * SEC;
pub(super) const TCP_SESSION_TIMER: i64 = 6 * SEC;
pub(super) const TCP_CONNECTION_LINGER: i64 = 5 * SEC;
pub(super) const TCP_ATTEMPT_DELAY: i64 = 5 * SEC;
pub(super) const TCP_CLOSE_DELAY: i64 = 5 * SEC;
pub(super) const TCP_RESET_DELAY: i64 = 5 * SEC;
pub(super) const TCP_INACTIVITY_TIMEOUT: i64 = 300 * SEC;
/// The TCP session adapter starts a connection on `udp_inactivity_timeout` and switches to
/// `tcp_inactivity_timeout` when the handshake completes (`TCP_Endpoint::SetState`).
pub(super) const UDP_INACTIVITY_TIMEOUT: i64 = 60 * SEC;
/// No timer pending.
pub(super) const NO_TIMER: u32 = u32::MAX;

impl ZeekConn {
    /// Advances Zeek's timers for this connection to `now_ns` (the time of the next packet on
    /// its 5-tuple) and returns true if Zeek would have removed the connection by then, so that
    /// packet starts a new one. Zeek's timers: the inactivity timeout (`Connection`), the
    /// connection-attempt, expire and close-delay timers (`TCPSessionAdapter::AttemptTimer`,
    /// `ExpireTimer`, `ConnDeleteTimer`). Zeek dispatches a timer when the capture's clock
    /// passes it; here it is evaluated at its own time.
    #[inline]
    pub fn timed_out(&mut self, now_ns: i64) -> bool {
        // Before every deadline below nothing can fire and nothing changes.
        if now_ns < self.next_deadline_ns {
            return false;
        }
        let out = self.timed_out_full(now_ns);
        self.next_deadline_ns = self.deadline();
        out
    }

    /// [`ZeekConn::timed_out`] without the cached deadline: Zeek's timers, one by one.
    #[inline(never)]
    pub(super) fn timed_out_full(&mut self, now_ns: i64) -> bool {
        let timeout = self.inactivity_timeout();
        if now_ns >= self.last_time.saturating_add(timeout)
            || now_ns >= self.timer_ns(self.delete_at)
        {
            return true;
        }
        let reset_at = self.rare.as_ref().and_then(|r| r.reset_at).unwrap_or(NO_TIMER);
        if self.timer_ns(reset_at) <= now_ns {
            // `ResetTimer`: the connection ends unless it already finished or was reset.
            self.rare_counters().reset_at = None;
            if self.bit(C_ACTIVE) {
                return true;
            }
        }
        if self.timer_ns(self.attempt_at) <= now_ns {
            self.attempt_at = NO_TIMER;
            let (o, r) = (self.orig_state(), self.resp_state());
            if self.bit(C_ACTIVE)
                && matches!(o, EndpointState::SynSent | EndpointState::SynAckSent)
                && r == EndpointState::Inactive
            {
                return true;
            }
        }
        let mut chains = [self.expire_at, self.close_expire_at];
        for t in chains.iter_mut() {
            while self.timer_ns(*t) <= now_ns {
                if !self.bit(C_ACTIVE) {
                    *t = NO_TIMER;
                    break;
                }
                if self.expire_removes(self.timer_ns(*t)) {
                    return true;
                }
                *t = t
                    .saturating_add(ms_ceil(TCP_SESSION_TIMER))
                    .min(NO_TIMER - 1);
            }
        }
        [self.expire_at, self.close_expire_at] = chains;
        false
    }

    /// The inactivity timeout in force (`Connection::inactivity_timeout`).
    #[inline]
    pub(super) fn inactivity_timeout(&self) -> i64 {
        if self.bit(C_TCP_INACTIVITY) {
            TCP_INACTIVITY_TIMEOUT
        } else {
            UDP_INACTIVITY_TIMEOUT
        }
    }

    /// The earliest time at which [`ZeekConn::timed_out_full`] does anything: the inactivity
    /// deadline, the delete timer, the attempt timer, the reset timer and the two expire
    /// chains.
    pub(super) fn deadline(&self) -> i64 {
        let timers = self
            .delete_at
            .min(self.attempt_at)
            .min(self.expire_at)
            .min(self.close_expire_at)
            .min(self.rare.as_ref().and_then(|r| r.reset_at).unwrap_or(NO_TIMER));
        // `timer_ns` is monotonic in its argument (NO_TIMER, the largest, maps to i64::MAX).
        self.last_time
            .saturating_add(self.inactivity_timeout())
            .min(self.timer_ns(timers))
    }

    #[inline]
    pub(super) fn timer_ns(&self, ms: u32) -> i64 {
        if ms == NO_TIMER {
            i64::MAX
        } else {
            self.created_at.saturating_add(ms as i64 * 1_000_000)
        }
    }

    /// A timer due at capture time `ns`.
    #[inline]
    pub(super) fn timer_at(&self, ns: i64) -> u32 {
        ms_ceil(ns.saturating_sub(self.created_at).max(0)).min(NO_TIMER - 1)
    }

    /// The removal test of `TCPSessionAdapter::ExpireTimer` at time `t`.
    pub(super) fn expire_removes(&self, t: i64) -> bool {
        use EndpointState as E;
        if self.last_time.saturating_add(TCP_CONNECTION_LINGER) >= t {
            return false;
        }
        let oi = self.orig_idx();
        let (o, r) = (&self.ep[oi], &self.ep[1 - oi]);
        let (oc, rc) = (o.has(F_DID_CLOSE), r.has(F_DID_CLOSE));
        if (oc || rc)
            && ((oc && rc)
                || o.state == E::Reset
                || r.state == E::Reset
                || o.state == E::Inactive
                || r.state == E::Inactive)
        {
            return true;
        }
        r.state == E::Inactive && o.state == E::Inactive
    }
}

/// Nanoseconds to whole milliseconds, rounded up.
#[inline]
pub(super) fn ms_ceil(ns: i64) -> u32 {
    ((ns.max(0) as u64).div_ceil(1_000_000)).min(u32::MAX as u64) as u32
}
