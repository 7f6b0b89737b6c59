//! Tunnels: `Connection::CheckEncapsulation` (`src/Conn.cc`), which follows a connection's
//! encapsulation from packet to packet and counts its changes up to
//! `Tunnel::max_changes_per_connection` (`init-bare.zeek`, 5; zeek/zeek PR #2190). Past the
//! limit Zeek stops reporting changes and marks the connection's analysis partial: `X` in the
//! history, once (`CheckHistory(HIST_UNKNOWN_PKT, 'X')`, zeek/zeek PR #3480 for the letter and
//! PR #5699 for the configurable limits that set it). A connection whose two directions travel
//! in different tunnels — GTP with distinct uplink and downlink ports
//! (`tunnels/gtp/gtp2_different_udp_port.pcap`) — changes tunnel at every turn of the
//! conversation and reaches the limit within a few round trips.

use super::history::HIST_UNKNOWN_PKT;
use super::{ZeekConn, C_TUNNELLED};

/// `Tunnel::max_changes_per_connection`'s default.
pub(super) const TUNNEL_MAX_CHANGES_PER_CONNECTION: u32 = 5;

impl ZeekConn {
    /// The encapsulation a new connection starts with (`Connection::Init`: `pkt->encap`).
    pub(super) fn init_encapsulation(&mut self, encap: u16) {
        if encap != 0 {
            self.rare_counters().encap = encap;
            self.bits |= C_TUNNELLED;
        }
    }

    /// `Connection::CheckEncapsulation` for a packet that came through `encap`, called only
    /// when the packet or the connection is tunnelled. Every packet is checked, before its
    /// checksum is (the IP-based analyzer calls it before the TCP analyzer sees the packet).
    #[inline(never)]
    pub(super) fn check_encapsulation(&mut self, encap: u16) {
        let was = if self.bit(C_TUNNELLED) { self.rare_counters().encap } else { 0 };
        // Only a change from one tunnel to another counts; losing or gaining a tunnel is
        // reported without counting.
        if was != 0 && encap != 0 && was != encap {
            let r = self.rare_counters();
            if r.tunnel_changes < TUNNEL_MAX_CHANGES_PER_CONNECTION {
                r.tunnel_changes += 1;
            } else {
                self.check_conn_history(HIST_UNKNOWN_PKT, b'X');
            }
        }
        self.rare_counters().encap = encap;
        self.set_bit(C_TUNNELLED, encap != 0);
    }
}
