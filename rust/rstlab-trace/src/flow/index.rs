//! The live connections' index: a key's hash → the connection's slot in the tracker's table.
//!
//! Open addressing with linear probing, and deletion by shifting the following entries back
//! instead of leaving tombstones (Knuth, TAOCP vol. 3, §6.4, Algorithms L and R). Each place is
//! eight bytes: the hash's high half (the *tag*, compared before any connection is touched)
//! and the slot number. A probe starts at a place given by the tag alone, so it is one cache
//! line in the usual case, and that line can be loaded ahead ([`Index::prefetch`]): a
//! SwissTable (hashbrown) probe reads a control group and then its entry, two lines the
//! caller cannot name in advance, so neither load could start before the packet is tracked.

/// One place: `slot == EMPTY` when free.
#[derive(Clone, Copy, Debug)]
struct Place {
    tag: u32,
    slot: u32,
}

const EMPTY: u32 = u32::MAX;
const FREE: Place = Place { tag: 0, slot: EMPTY };
const MIN_PLACES: usize = 16;

pub struct Index {
    places: Vec<Place>,
    /// `places.len() - 1` (a power of two minus one).
    mask: usize,
    len: usize,
}

impl Default for Index {
    fn default() -> Self {
        Index::with_places(MIN_PLACES)
    }
}

/// The tag of a 64-bit hash (its high half).
#[inline]
pub fn tag(hash: u64) -> u32 {
    (hash >> 32) as u32
}

impl Index {
    fn with_places(n: usize) -> Index {
        debug_assert!(n.is_power_of_two());
        Index { places: vec![FREE; n], mask: n - 1, len: 0 }
    }

    /// Where the probe for `tag` starts.
    #[inline]
    fn home(&self, tag: u32) -> usize {
        tag as usize & self.mask
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Starts loading the line a probe for `hash` begins with (a hint: no effect on state).
    #[inline(always)]
    pub fn prefetch(&self, hash: u64) {
        super::prefetch::prefetch(&self.places[self.home(tag(hash))]);
    }

    /// The occupied places a probe for `tag` visits, in order, with their positions: the run
    /// from the tag's home up to the first free place.
    #[inline]
    fn probe(&self, tag: u32) -> impl Iterator<Item = (usize, Place)> + '_ {
        let mut i = self.home(tag);
        std::iter::from_fn(move || {
            let p = self.places[i];
            (p.slot != EMPTY).then(|| {
                let at = i;
                i = (i + 1) & self.mask;
                (at, p)
            })
        })
    }

    /// The first slot, in probe order, whose tag is `hash`'s and for which `is(slot)` holds.
    #[inline]
    pub fn find(&self, hash: u64, mut is: impl FnMut(u32) -> bool) -> Option<u32> {
        let t = tag(hash);
        self.probe(t).find(|&(_, p)| p.tag == t && is(p.slot)).map(|(_, p)| p.slot)
    }

    /// Adds `slot` under `hash` (the caller keeps slots unique).
    pub fn insert(&mut self, hash: u64, slot: u32) {
        debug_assert_ne!(slot, EMPTY);
        // At most three quarters full: probes stay a line or two long.
        if (self.len + 1) * 4 > self.places.len() * 3 {
            self.resize(self.places.len() * 2);
        }
        self.put(Place { tag: tag(hash), slot });
        self.len += 1;
    }

    fn put(&mut self, p: Place) {
        let mut i = self.home(p.tag);
        while self.places[i].slot != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.places[i] = p;
    }

    /// The place holding `slot`, found from `hash`.
    fn position(&self, hash: u64, slot: u32) -> Option<usize> {
        self.probe(tag(hash)).find(|&(_, p)| p.slot == slot).map(|(i, _)| i)
    }

    /// Removes `slot` (stored under `hash`); returns whether it was there.
    pub fn remove(&mut self, hash: u64, slot: u32) -> bool {
        let Some(mut gap) = self.position(hash, slot) else {
            return false;
        };
        // Algorithm R: move back every later entry of the run whose probe would otherwise
        // have to cross the new gap, so no probe ever stops early at it.
        let mut j = gap;
        loop {
            j = (j + 1) & self.mask;
            let p = self.places[j];
            if p.slot == EMPTY {
                break;
            }
            let home = self.home(p.tag);
            // `p` may move to `gap` unless its home lies cyclically in (gap, j].
            let stays = if gap <= j { gap < home && home <= j } else { gap < home || home <= j };
            if !stays {
                self.places[gap] = p;
                gap = j;
            }
        }
        self.places[gap] = FREE;
        self.len -= 1;
        true
    }

    /// The entry for `old` (under `hash`) now names `new`; returns whether it was found.
    pub fn rename(&mut self, hash: u64, old: u32, new: u32) -> bool {
        match self.position(hash, old) {
            Some(i) => {
                self.places[i].slot = new;
                true
            }
            None => false,
        }
    }

    /// Gives back memory when the index holds far fewer entries than it has places for,
    /// keeping room for `keep` entries.
    pub fn shrink_to(&mut self, keep: usize) {
        let want = (keep.max(self.len) * 2).next_power_of_two().max(MIN_PLACES);
        if want < self.places.len() {
            self.resize(want);
        }
    }

    fn resize(&mut self, n: usize) {
        let old = std::mem::replace(self, Index::with_places(n));
        self.len = old.len;
        for p in old.places.into_iter().filter(|p| p.slot != EMPTY) {
            self.put(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A deterministic stream of pseudo-random numbers (xorshift64*).
    fn rng(mut s: u64) -> impl FnMut() -> u64 {
        move || {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            s.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    /// The index against a HashMap model under random inserts, removals and renames, with
    /// hashes drawn from a small set of tags so runs and wrap-around collide all the time.
    #[test]
    fn agrees_with_a_model_through_collisions_removals_and_resizes() {
        for seed in 1..20u64 {
            let mut next = rng(seed);
            let mut ix = Index::default();
            let mut model: HashMap<u32, u64> = HashMap::new(); // slot -> hash
            let mut next_slot = 0u32;
            for step in 0..4000 {
                let r = next();
                match r % 7 {
                    0..=2 => {
                        // Few distinct tags, many equal ones; some near the top of the table.
                        let h = ((r >> 8) % 23) << 32 | (r >> 40);
                        let h = if r & 0x100 != 0 { h | 0xffff_fff0 << 32 } else { h };
                        ix.insert(h, next_slot);
                        model.insert(next_slot, h);
                        next_slot += 1;
                    }
                    3 | 4 if !model.is_empty() => {
                        let &s = model.keys().nth((r >> 8) as usize % model.len()).unwrap();
                        let h = model.remove(&s).unwrap();
                        assert!(ix.remove(h, s), "seed {seed} step {step}: slot {s} not removed");
                    }
                    5 if !model.is_empty() => {
                        let &s = model.keys().nth((r >> 8) as usize % model.len()).unwrap();
                        let h = model.remove(&s).unwrap();
                        assert!(ix.rename(h, s, next_slot));
                        model.insert(next_slot, h);
                        next_slot += 1;
                    }
                    6 => ix.shrink_to(model.len()),
                    _ => {}
                }
                assert_eq!(ix.len(), model.len());
                if step % 61 != 0 {
                    continue;
                }
                // Every entry is found under its hash, and only entries with its tag are.
                for (&s, &h) in &model {
                    assert_eq!(ix.find(h, |x| x == s), Some(s), "seed {seed} step {step}: slot {s} lost");
                    let mut seen = Vec::new();
                    ix.find(h, |x| {
                        seen.push(x);
                        false
                    });
                    let mut want: Vec<u32> = model.iter().filter(|(_, &g)| tag(g) == tag(h)).map(|(&x, _)| x).collect();
                    seen.sort_unstable();
                    want.sort_unstable();
                    assert_eq!(seen, want, "seed {seed} step {step}: entries with tag {:#x}", tag(h));
                }
            }
        }
    }

    #[test]
    fn removing_or_renaming_what_is_not_there_changes_nothing() {
        let mut ix = Index::default();
        ix.insert(7 << 32, 1);
        assert!(!ix.remove(7 << 32, 2));
        assert!(!ix.remove(8 << 32, 1));
        assert!(!ix.rename(7 << 32, 3, 4));
        assert_eq!(ix.len(), 1);
        assert_eq!(ix.find(7 << 32, |_| true), Some(1));
    }

    #[test]
    fn stays_at_most_three_quarters_full_and_shrinks_back() {
        let mut ix = Index::default();
        for s in 0..10_000u32 {
            ix.insert((s as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15), s);
            assert!(ix.len() * 4 <= ix.places.len() * 3);
        }
        for s in 0..9_900u32 {
            assert!(ix.remove((s as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15), s));
        }
        ix.shrink_to(ix.len());
        assert!(ix.places.len() <= 256, "{} places for {} entries", ix.places.len(), ix.len());
        for s in 9_900..10_000u32 {
            assert_eq!(ix.find((s as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15), |x| x == s), Some(s));
        }
    }
}
