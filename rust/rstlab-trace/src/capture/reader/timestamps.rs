//! Capture timestamps to nanoseconds since the epoch: each interface's units and offset
//! (pcapng §4.2 `if_tsresol`, `if_tsoffset`; classic pcap's µs or ns, draft-ietf-opsawg-pcap §5).

use super::Interface;
use pcap_parser::pcapng::{OptionCode, PcapNGOption};

/// Timestamps are kept within ±2^62 ns of the epoch (years 1824 to 2116, beyond any pcap's
/// 32-bit seconds) so that the difference of any two, and a timeout added to one, fit in an i64.
pub(super) const MAX_TS_NS: i64 = (1 << 62) - 1;

#[inline]
pub(super) fn ts_ns(ts: u64, iface: &Interface) -> i64 {
    let u = iface.units_per_sec.max(1);
    // Constant divisors for the two common resolutions: the compiler turns them into
    // multiplications, where a division by a run-time value costs tens of cycles per packet.
    let (secs, frac) = match u {
        1_000_000 => (ts / 1_000_000, ts % 1_000_000),
        1_000_000_000 => (ts / 1_000_000_000, ts % 1_000_000_000),
        _ => (ts / u, ts % u),
    };
    let secs = i64::try_from(secs).unwrap_or(i64::MAX);
    let nanos = if u == 1_000_000 {
        (frac * 1000) as i64
    } else if u == 1_000_000_000 {
        frac as i64
    } else if 1_000_000_000 % u == 0 {
        // The usual decimal resolutions (s, ms, µs, ns): an exact integer scale.
        (frac * (1_000_000_000 / u)) as i64
    } else {
        // Binary or finer-than-ns resolutions; frac < u, so the product fits in u128.
        ((frac as u128 * 1_000_000_000u128) / u as u128) as i64
    };
    secs.saturating_add(iface.offset_sec)
        .saturating_mul(1_000_000_000)
        .saturating_add(nanos)
        .clamp(-MAX_TS_NS, MAX_TS_NS)
}

/// Timestamp units per second for an `if_tsresol` value (pcapng §4.2): most significant bit
/// clear, 10^-n s; set, 2^-n s. `None` when the count does not fit in 64 bits.
///
/// (pcap-parser 0.17's `build_ts_resolution` rejects every binary resolution: it compares the
/// byte, flag bit included, with 63.)
pub(super) fn units_per_sec(resol: u8) -> Option<u64> {
    let n = u32::from(resol & 0x7f);
    if resol & 0x80 == 0 {
        10u64.checked_pow(n)
    } else {
        1u64.checked_shl(n)
    }
}

/// `if_tsresol` (default 6, microseconds) and `if_tsoffset` (default 0) of an interface, the
/// offset read in the section's byte order (pcap-parser 0.17 always reads it little-endian).
pub(super) fn ts_options(options: &[PcapNGOption<'_>], big_endian: bool) -> (u8, i64) {
    let (mut resol, mut offset) = (6u8, 0i64);
    for o in options {
        let Ok(v) = o.as_bytes() else { continue };
        match o.code {
            OptionCode::IfTsresol => {
                if let Some(&b) = v.first() {
                    resol = b;
                }
            }
            OptionCode::IfTsoffset => {
                if let Some(b) = v.get(..8).and_then(|b| <[u8; 8]>::try_from(b).ok()) {
                    offset = if big_endian { i64::from_be_bytes(b) } else { i64::from_le_bytes(b) };
                }
            }
            _ => {}
        }
    }
    (resol, offset)
}

/// `ts_ns` of a classic pcap record. pcap timestamps are 32-bit seconds and a 32-bit fraction in
/// µs or ns (§5), so `ts_ns(sec * units + frac)` is exactly `sec * 10^9 + frac * (10^9 / units)`:
/// at most (2^32 - 1) * (10^9 + 10^3) < 2^62 = `MAX_TS_NS`, so it never needs the clamp, and the
/// divisions `ts_ns` makes to split the units back into seconds are not needed.
#[inline(always)]
pub(super) fn pcap_ts_ns<const NANOS: bool>(sec: u32, frac: u32) -> i64 {
    sec as i64 * 1_000_000_000 + frac as i64 * if NANOS { 1 } else { 1_000 }
}
