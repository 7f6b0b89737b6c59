//! The live connections' storage: a vector in fixed chunks.
//!
//! A connection's state is a few hundred bytes aligned to cache lines. In one `Vec`, every
//! doubling copies all of it (an over-aligned buffer is never grown in place: a million
//! connections is half a gigabyte moved), and none of it is given back as connections retire
//! until the whole vector shrinks — by copying again. In chunks of [`CHUNK`] entries, growing
//! adds a chunk and copies nothing, and an emptied chunk at the end is freed at once.

/// Entries per chunk: 2^16, so a chunk of connection states (tens of megabytes) is its own
/// mapping, returned to the system when freed.
pub const CHUNK_BITS: u32 = 16;
const CHUNK: usize = 1 << CHUNK_BITS;
const MASK: usize = CHUNK - 1;
/// The first chunk's entries until it fills.
const FIRST: usize = 1024;

/// A growable array in chunks of [`CHUNK`] entries; each chunk's `Vec` is allocated at its
/// full capacity and never reallocated.
pub struct Slab<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { chunks: Vec::new(), len: 0 }
    }
}

impl<T> Slab<T> {
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }
    #[inline]
    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i >> CHUNK_BITS)?.get(i & MASK)
    }
    /// Appends `v`. The first chunk starts small (most captures hold a few thousand
    /// connections at once) and is grown whole, once, when it fills; every later chunk is
    /// allocated whole.
    #[inline]
    pub fn push(&mut self, v: T) {
        let c = self.len >> CHUNK_BITS;
        if c == self.chunks.len() {
            self.chunks.push(Vec::with_capacity(if c == 0 { FIRST } else { CHUNK }));
        }
        let chunk = &mut self.chunks[c];
        if chunk.len() == chunk.capacity() {
            chunk.reserve_exact(CHUNK - chunk.len());
        }
        chunk.push(v);
        self.len += 1;
    }
    /// Removes the last entry; an emptied last chunk is freed (one spare is kept, so a table
    /// hovering at a chunk's edge does not allocate and free over and over).
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        let c = self.len >> CHUNK_BITS;
        let v = self.chunks[c].pop();
        if self.chunks.len() > c + 2 {
            self.chunks.truncate(c + 2);
        }
        v
    }
    /// Removes entry `i`; the last entry takes its place.
    pub fn swap_remove(&mut self, i: usize) -> T {
        assert!(i < self.len, "swap_remove index {i} out of {}", self.len);
        let last = self.pop().expect("not empty");
        if i == self.len {
            last
        } else {
            std::mem::replace(&mut self[i], last)
        }
    }
    /// Every entry in order, each chunk freed once its entries are taken.
    pub fn into_entries(self) -> impl Iterator<Item = T> {
        self.chunks.into_iter().flatten()
    }
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.chunks.iter_mut().flat_map(|c| c.iter_mut())
    }
}

impl<T> std::ops::Index<usize> for Slab<T> {
    type Output = T;
    #[inline]
    fn index(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_BITS][i & MASK]
    }
}

impl<T> std::ops::IndexMut<usize> for Slab<T> {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i >> CHUNK_BITS][i & MASK]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_as_a_vec_through_growth_swap_remove_and_pops() {
        let mut s: Slab<u64> = Slab::default();
        let mut v: Vec<u64> = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..400_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Grow past three chunks, then shrink, then grow again.
            let grow = if round < 250_000 { x % 4 != 0 } else if round < 330_000 { x % 4 == 0 } else { x % 3 != 0 };
            if grow || v.is_empty() {
                s.push(round);
                v.push(round);
            } else if x % 2 == 0 {
                let i = (x >> 8) as usize % v.len();
                assert_eq!(s.swap_remove(i), v.swap_remove(i));
            } else {
                assert_eq!(s.pop(), v.pop());
            }
            assert_eq!(s.len(), v.len());
        }
        for (i, want) in v.iter().enumerate() {
            assert_eq!(s[i], *want);
            assert_eq!(s.get(i), Some(want));
        }
        assert_eq!(s.get(v.len()), None);
        assert_eq!(s.iter_mut().map(|x| *x).collect::<Vec<_>>(), v);
        let mut t: Slab<u64> = Slab::default();
        v.iter().for_each(|&x| t.push(x));
        assert_eq!(t.into_entries().collect::<Vec<_>>(), v);
        while let Some(x) = s.pop() {
            assert_eq!(Some(x), v.pop());
        }
        assert!(v.is_empty() && s.len() == 0);
        assert!(s.chunks.len() <= 2, "emptied chunks are freed");
    }

    #[test]
    fn chunks_are_never_reallocated_once_whole() {
        let mut s: Slab<u32> = Slab::default();
        for i in 0..(3 * CHUNK as u32) {
            s.push(i);
        }
        let at: Vec<*const u32> = s.chunks.iter().map(|c| c.as_ptr()).collect();
        for i in 0..(2 * CHUNK as u32) {
            s.push(i);
        }
        assert!(s.chunks.iter().zip(&at).all(|(c, p)| c.as_ptr() == *p));
        assert!(s.chunks.iter().all(|c| c.capacity() == CHUNK));
    }
}
