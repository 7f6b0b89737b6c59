//! `conn_state`, as `scripts/base/protocols/conn/main.zeek` derives it from the endpoints'
//! states, their sizes and the history.

use super::endpoint::{full_seq, F_FIN_SEEN};
use super::{EndpointState, ZeekConn};

/// Zeek's `conn_state` for TCP (`scripts/base/protocols/conn/main.zeek`).
#[allow(clippy::upper_case_acronyms)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnState {
    S0,
    S1,
    SF,
    REJ,
    S2,
    S3,
    RSTO,
    RSTR,
    RSTOS0,
    RSTRH,
    SH,
    SHR,
    OTH,
}

impl ConnState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnState::S0 => "S0",
            ConnState::S1 => "S1",
            ConnState::SF => "SF",
            ConnState::REJ => "REJ",
            ConnState::S2 => "S2",
            ConnState::S3 => "S3",
            ConnState::RSTO => "RSTO",
            ConnState::RSTR => "RSTR",
            ConnState::RSTOS0 => "RSTOS0",
            ConnState::RSTRH => "RSTRH",
            ConnState::SH => "SH",
            ConnState::SHR => "SHR",
            ConnState::OTH => "OTH",
        }
    }
}

impl std::fmt::Display for ConnState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ZeekConn {
    /// `conn_state` as `scripts/base/protocols/conn/main.zeek` computes it, in its order.
    pub fn conn_state(&self) -> ConnState {
        use EndpointState as E;
        let (oi, ri) = (self.orig_idx(), 1 - self.orig_idx());
        let (os, rs) = (self.ep[oi].state, self.ep[ri].state);
        let (o_inactive, r_inactive) = (os.inactive_or_partial(), rs.inactive_or_partial());
        if rs == E::Reset {
            if os == E::SynSent
                || os == E::SynAckSent
                || (os == E::Reset && self.size(oi) == 0 && self.size(ri) == 0)
            {
                ConnState::REJ
            } else if o_inactive {
                ConnState::RSTRH
            } else {
                ConnState::RSTR
            }
        } else if os == E::Reset {
            if !r_inactive {
                ConnState::RSTO
            } else if rstos0_history(self.history_bytes()) {
                ConnState::RSTOS0
            } else {
                // Falls through the script's if-chain to its final "OTH".
                ConnState::OTH
            }
        } else if rs == E::Closed && os == E::Closed {
            ConnState::SF
        } else if os == E::Closed {
            if r_inactive {
                ConnState::SH
            } else {
                ConnState::S2
            }
        } else if rs == E::Closed {
            if o_inactive {
                ConnState::SHR
            } else {
                ConnState::S3
            }
        } else if os == E::SynSent && rs == E::Inactive {
            ConnState::S0
        } else if os == E::Established && rs == E::Established {
            ConnState::S1
        } else {
            ConnState::OTH
        }
    }

    /// `TCP_Endpoint::Size` of endpoint `e`, needed for the REJ test.
    pub(super) fn size(&self, e: usize) -> u64 {
        let (ep, peer) = (&self.ep[e], &self.ep[1 - e]);
        if self.prev_state[e] == EndpointState::SynSent
            && ep.state == EndpointState::Reset
            && peer.state == EndpointState::Inactive
            && !ep.no_data_acked()
        {
            return 0;
        }
        let start = full_seq(ep.start_seq, 0);
        let last = full_seq(ep.last_seq, ep.seq_wraps);
        let ack = full_seq(ep.ack_seq, ep.ack_wraps);
        // Neither the SYN nor the FIN octet is data.
        let mut size = last.max(ack).wrapping_sub(start).saturating_sub(1);
        if ep.has(F_FIN_SEEN) {
            size = size.saturating_sub(1);
        }
        size
    }
}

/// `history` matches `^\^?S[^HAFGIQ]*R.*` — the RSTOS0 test in `conn/main.zeek`.
pub(super) fn rstos0_history(h: &[u8]) -> bool {
    let h = h.strip_prefix(b"^").unwrap_or(h);
    let Some(rest) = h.strip_prefix(b"S") else {
        return false;
    };
    for &c in rest {
        match c {
            b'R' => return true,
            b'H' | b'A' | b'F' | b'G' | b'I' | b'Q' => return false,
            _ => {}
        }
    }
    false
}
