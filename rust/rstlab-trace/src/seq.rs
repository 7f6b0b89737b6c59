//! TCP sequence-number arithmetic (RFC 9293 §3.4, RFC 1982 serial-number comparison).
//!
//! Sequence numbers live in a 2^32 ring: every comparison and difference here is wrapping, so
//! no caller ever does raw `u32` arithmetic on a sequence number.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, Sub};

/// A 32-bit TCP sequence (or acknowledgement) number with wrapping comparisons.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// Signed distance `self - other` in the ring, in `-2^31 .. 2^31`.
    #[inline]
    pub fn diff(self, other: SeqNumber) -> i64 {
        self.0.wrapping_sub(other.0) as i32 as i64
    }

    /// The distance from `base` forwards to `self` (the "relative" number Wireshark shows).
    #[inline]
    pub fn relative_to(self, base: SeqNumber) -> u32 {
        self.0.wrapping_sub(base.0)
    }

    /// RFC 9293 §3.10.7.4 window test: `start <= self < start + len` in ring arithmetic.
    #[inline]
    pub fn in_window(self, start: SeqNumber, len: u32) -> bool {
        self.0.wrapping_sub(start.0) < len
    }

    #[inline]
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self >= other { self } else { other }
    }
}

impl PartialOrd for SeqNumber {
    #[inline]
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.diff(*other).cmp(&0))
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    #[inline]
    fn sub(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs))
    }
}

impl Sub for SeqNumber {
    type Output = i64;
    #[inline]
    fn sub(self, rhs: SeqNumber) -> i64 {
        self.diff(rhs)
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SeqNumber({})", self.0)
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordering_wraps_across_zero() {
        let a = SeqNumber(u32::MAX - 5);
        let b = a + 10;
        assert_eq!(b.0, 4);
        assert!(b > a);
        assert!(a < b);
        assert_eq!(b - a, 10);
        assert_eq!(a - b, -10);
    }

    #[test]
    fn window_test_wraps() {
        let start = SeqNumber(u32::MAX - 1);
        assert!(SeqNumber(0).in_window(start, 3));
        assert!(!SeqNumber(1).in_window(start, 3));
        assert!(!SeqNumber(u32::MAX - 2).in_window(start, 3));
        // RFC 9293: a zero window accepts nothing by this test.
        assert!(!start.in_window(start, 0));
    }

    #[test]
    fn ordering_is_antisymmetric_for_all_sampled_pairs() {
        // A cheap property check over a deterministic spread of pairs.
        let mut x: u32 = 0x9e37_79b9;
        for _ in 0..10_000 {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let y = x.rotate_left(13) ^ 0x5bd1_e995;
            let (a, b) = (SeqNumber(x), SeqNumber(y));
            if a.diff(b) != i32::MIN as i64 {
                assert_eq!(a < b, b > a);
                assert_eq!(a.diff(b), -b.diff(a));
                assert_eq!((a + 7).diff(a), 7);
            }
        }
    }
}
