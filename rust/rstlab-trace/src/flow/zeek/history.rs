//! The `history` string (`conn.log`): Zeek's letters (`CheckHistory`, `AddHistory`,
//! `ScaledHistoryEntry` in `src/Conn.cc` and `TCP_Endpoint.cc`; `update_history` in
//! `TCPSessionAdapter.cc`), kept inline until it grows long.

use super::ZeekConn;
use crate::wire::TcpFlags;

// `TCP_Endpoint.h` history masks; the responder's are shifted left (by 16 in Zeek, 8 here).
pub(super) const HIST_SYN_PKT: u16 = 0x01;
pub(super) const HIST_FIN_PKT: u16 = 0x02;
pub(super) const HIST_RST_PKT: u16 = 0x04;
pub(super) const HIST_FIN_RST_PKT: u16 = 0x08;
pub(super) const HIST_DATA_PKT: u16 = 0x10;
pub(super) const HIST_ACK_PKT: u16 = 0x20;
pub(super) const HIST_MULTI_FLAG_PKT: u16 = 0x40;
/// The connection-level `HIST_UNKNOWN_PKT` (`session::detail` in Zeek): `X` once per connection,
/// upper case whichever side caused it. Kept in the originator's byte, where no endpoint mask
/// reaches, and never shifted.
pub(super) const HIST_UNKNOWN_PKT: u16 = 0x80;

pub(super) const HIST_INLINE: usize = 15;
/// `History::len` once the history has moved to [`Rare::history`].
pub(super) const HIST_SPILLED: u8 = u8::MAX;

/// The history's first [`HIST_INLINE`] letters, kept inline; a longer history lives in
/// [`Rare::history`].
#[derive(Clone, Debug)]
pub(super) struct History {
    /// Letters in `buf`, or [`HIST_SPILLED`].
    pub(super) len: u8,
    pub(super) buf: [u8; HIST_INLINE],
}

impl History {
    pub(super) fn new() -> Self {
        History {
            len: 0,
            buf: [0; HIST_INLINE],
        }
    }

    #[inline]
    pub(super) fn push(&mut self, rare: &mut Option<Box<Rare>>, c: u8) {
        let n = self.len as usize;
        if n < HIST_INLINE {
            self.buf[n] = c;
            self.len += 1;
        } else {
            self.push_spilled(rare, c);
        }
    }

    #[inline(never)]
    pub(super) fn push_spilled(&mut self, rare: &mut Option<Box<Rare>>, c: u8) {
        let r = rare.get_or_insert_with(Default::default);
        if self.len != HIST_SPILLED {
            r.history.reserve(2 * HIST_INLINE);
            r.history.extend(self.buf.iter().map(|&b| b as char));
            self.len = HIST_SPILLED;
        }
        r.history.push(c as char);
    }

    pub(super) fn as_bytes<'a>(&'a self, rare: &'a Option<Box<Rare>>) -> &'a [u8] {
        match (self.len, rare) {
            (HIST_SPILLED, Some(r)) => r.history.as_bytes(),
            (HIST_SPILLED, None) => &[],
            (n, _) => &self.buf[..n as usize],
        }
    }

    pub(super) fn as_str<'a>(&'a self, rare: &'a Option<Box<Rare>>) -> &'a str {
        // Only ASCII letters are ever pushed.
        std::str::from_utf8(self.as_bytes(rare)).unwrap_or("")
    }

    pub(super) fn set(&mut self, rare: &mut Option<Box<Rare>>, s: &[u8]) {
        self.len = 0;
        if let Some(r) = rare.as_mut() {
            r.history.clear();
        }
        for &c in s {
            self.push(rare, c);
        }
    }
}

/// What few connections need, allocated on first use: a history longer than the inline
/// buffer, the counters behind the rarer logarithmic letters (bad checksums,
/// retransmissions, zero windows), by physical direction, a tunnel, and the reset timer.
/// (`G`'s counter is not rare: in a headers-only capture every acked segment is a content gap;
/// it stays in the endpoint.)
#[derive(Clone, Debug, Default)]
pub(super) struct Rare {
    /// The whole history once it is longer than [`HIST_INLINE`]; empty until then.
    pub(super) history: String,
    pub(super) chk_cnt: [u32; 2],
    pub(super) rxmt_cnt: [u32; 2],
    pub(super) win0_cnt: [u32; 2],
    /// The encapsulation the connection last saw ([`crate::wire::Segment::encap`]), while it is
    /// tunnelled (`Connection::encapsulation`).
    pub(super) encap: u16,
    /// `Connection::tunnel_changes`: changes from one tunnel to another, up to the limit.
    pub(super) tunnel_changes: u32,
    /// `TCPSessionAdapter::ResetTimer` (a RST after this side's FIN), in the other timers'
    /// units (`ZeekConn::attempt_at`), if set.
    pub(super) reset_at: Option<u32>,
}


/// `ScaledHistoryEntry` with base 10: true on the 1st, 10th, 100th, ... event.
/// (The counter saturates at `u32::MAX`, so the last entry is at 10^9; Zeek's u32 threshold
/// wraps past it — entries at 1,410,065,408 events and every that many after — which no
/// capture of one connection reaches.)
#[inline(always)]
// `u32::is_multiple_of` is newer than the crate's MSRV (1.80).
#[allow(clippy::manual_is_multiple_of)]
pub(super) fn scaled_hit(counter: &mut u32) -> bool {
    *counter = counter.saturating_add(1);
    let n = *counter;
    // Most counts are not multiples of 10 (one division by a constant: a multiply).
    (n == 1 || n % 10 == 0)
        && matches!(
            n,
            1 | 10
                | 100
                | 1_000
                | 10_000
                | 100_000
                | 1_000_000
                | 10_000_000
                | 100_000_000
                | 1_000_000_000
        )
}

impl ZeekConn {
    /// The counters behind the rarer letters, allocated on first use.
    #[inline(never)]
    pub(super) fn rare_counters(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Default::default)
    }

    /// `AddHistory` through an endpoint: upper case for the originator.
    pub(super) fn add_history(&mut self, e: usize, code: u8) {
        let c = if self.is_orig(e) {
            code
        } else {
            code.to_ascii_lowercase()
        };
        self.history.push(&mut self.rare, c);
    }

    /// `CheckHistory`: records `code` the first time `mask` is seen for this side. Returns true
    /// if it had been seen before.
    pub(super) fn check_history(&mut self, e: usize, mask: u16, code: u8) -> bool {
        let m = if self.is_orig(e) { mask } else { mask << 8 };
        if self.hist_seen & m == 0 {
            self.hist_seen |= m;
            self.add_history(e, code);
            false
        } else {
            true
        }
    }

    /// `Connection::CheckHistory` at the connection level: `code` as given, once.
    pub(super) fn check_conn_history(&mut self, mask: u16, code: u8) {
        if self.hist_seen & mask == 0 {
            self.hist_seen |= mask;
            self.history.push(&mut self.rare, code);
        }
    }

    /// `update_history` in `TCPSessionAdapter.cc`.
    pub(super) fn update_history(&mut self, e: usize, f: TcpFlags, rel_seq: u64, len: u32) {
        let bits = f.syn() as u8 + f.fin() as u8 + f.rst() as u8;
        let rel = rel_seq as u32;
        if bits > 1 {
            if f.fin() && f.rst() {
                self.check_history(e, HIST_FIN_RST_PKT, b'I');
            } else {
                self.check_history(e, HIST_MULTI_FLAG_PKT, b'Q');
            }
        } else if bits == 1 {
            if f.syn() {
                let code = if f.ack() { b'H' } else { b'S' };
                if self.check_history(e, HIST_SYN_PKT, code) && rel != self.cold[e].hist_last_syn {
                    self.add_history(e, code);
                }
                self.cold[e].hist_last_syn = rel;
            }
            if f.fin() {
                // A FIN's position is at the end of its data.
                let pos = rel.wrapping_add(len);
                if self.check_history(e, HIST_FIN_PKT, b'F') && pos != self.cold[e].hist_last_fin {
                    self.add_history(e, b'F');
                }
                self.cold[e].hist_last_fin = pos;
            }
            if f.rst() {
                if self.check_history(e, HIST_RST_PKT, b'R') && rel != self.cold[e].hist_last_rst {
                    self.add_history(e, b'R');
                }
                self.cold[e].hist_last_rst = rel;
            }
        } else if len > 0 {
            self.check_history(e, HIST_DATA_PKT, b'D');
        } else if f.ack() {
            self.check_history(e, HIST_ACK_PKT, b'A');
        }
    }
}
