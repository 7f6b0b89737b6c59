//! The look-ahead between decoding and tracking: the one place the tracker's memory is asked
//! for ahead of time.
//!
//! Each connection's state is a few hundred bytes at a random place in memory, found through
//! an index line at another, so tracking a segment the moment it is decoded would wait for two
//! cache misses in a row on every packet. Instead decoded segments wait in a short ring: when a
//! segment enters it, its index line is asked into the cache ([`Tracker::look_up`]); half the
//! wait later, that line names the slot whose state is asked in ([`Tracker::guess`]); at the
//! end of the wait, the segment is tracked ([`Tracker::push_looked_up`]). Segments are still
//! tracked one by one in capture order, so the result is exactly that of [`Tracker::push`] on
//! each (a guess is checked against the key, however stale).

use super::tracker::LookedUp;
use super::{ConnSink, Dir, Tracker};
use crate::wire::Segment;

/// How many decoded segments wait between decoding and tracking; each of the two loads a
/// segment starts (index line, then connection state) has half of the wait to arrive.
const LOOKAHEAD: usize = 8;

/// A [`Tracker`] fed through the look-ahead ring.
///
/// Per frame: [`Pipeline::place`] lends the ring's free place (tracking the segment that held
/// it), the caller decodes into it, and [`Pipeline::queue`] enqueues it if it is a segment.
/// Every tracked segment is reported to the `tracked` callback with its `conn_id` and direction,
/// in capture order.
pub struct Pipeline<K: ConnSink> {
    tracker: Tracker<K>,
    /// Decoded segments not yet tracked, oldest at `head`, with their look-up state.
    ahead: [(Segment, LookedUp); LOOKAHEAD],
    head: usize,
    /// Bit `i` set: `ahead[i]` holds a segment waiting to be tracked (all of them once
    /// `LOOKAHEAD` segments have been queued).
    full: u32,
}

impl<K: ConnSink> Pipeline<K> {
    pub fn new(tracker: Tracker<K>) -> Self {
        Pipeline { tracker, ahead: [(Segment::default(), LookedUp::default()); LOOKAHEAD], head: 0, full: 0 }
    }

    /// The tracker behind the ring (segments still in the ring are not in it yet).
    #[inline]
    pub fn tracker(&self) -> &Tracker<K> {
        &self.tracker
    }

    /// The tracker behind the ring, to change.
    #[inline]
    pub fn tracker_mut(&mut self) -> &mut Tracker<K> {
        &mut self.tracker
    }

    /// The place the next frame is decoded into. The segment that waited there longest is
    /// tracked first. What is written into the place counts only once [`Pipeline::queue`]d:
    /// a frame that is not a segment leaves it free for the next one.
    #[inline]
    pub fn place(&mut self, tracked: impl FnOnce(&Tracker<K>, &Segment, u64, Dir)) -> &mut Segment {
        let h = self.head;
        if self.full & (1 << h) != 0 {
            let (seg, l) = &self.ahead[h];
            let (id, dir) = self.tracker.push_looked_up(seg, l);
            tracked(&self.tracker, seg, id, dir);
            self.full &= !(1 << h);
        }
        &mut self.ahead[h].0
    }

    /// Enqueues the segment just decoded into [`Pipeline::place`]: its index line is asked in
    /// now, and the slot of the segment queued half the ring earlier is guessed.
    #[inline]
    pub fn queue(&mut self) {
        let h = self.head;
        let place = &mut self.ahead[h];
        place.1 = self.tracker.look_up(&place.0);
        self.full |= 1 << h;
        self.head = (h + 1) % LOOKAHEAD;
        // Halfway through its wait, a segment's index line is in: guess its slot.
        let m = (h + LOOKAHEAD / 2) % LOOKAHEAD;
        if self.full & (1 << m) != 0 {
            self.tracker.guess(&mut self.ahead[m].1);
        }
    }

    /// Tracks every segment still waiting in the ring, oldest first.
    pub fn drain(&mut self, mut tracked: impl FnMut(&Tracker<K>, &Segment, u64, Dir)) {
        let head = self.head;
        for i in (0..LOOKAHEAD).map(|k| (head + k) % LOOKAHEAD) {
            if self.full & (1 << i) != 0 {
                let (seg, l) = &self.ahead[i];
                let (id, dir) = self.tracker.push_looked_up(seg, l);
                tracked(&self.tracker, seg, id, dir);
            }
        }
        self.full = 0;
    }

    /// Tracks `s` now, after every segment waiting in the ring (no look-ahead for it).
    pub fn push(&mut self, s: &Segment, mut tracked: impl FnMut(&Tracker<K>, &Segment, u64, Dir)) {
        self.drain(&mut tracked);
        let (id, dir) = self.tracker.push(s);
        tracked(&self.tracker, s, id, dir);
    }

    /// Tracks every segment still waiting, then retires the connections idle as of `now`
    /// ([`Tracker::sweep_at`]).
    pub fn sweep_at(&mut self, now: i64, tracked: impl FnMut(&Tracker<K>, &Segment, u64, Dir)) {
        self.drain(tracked);
        self.tracker.sweep_at(now);
    }

    /// Tracks what is still waiting and gives back the tracker.
    pub fn finish(mut self, tracked: impl FnMut(&Tracker<K>, &Segment, u64, Dir)) -> Tracker<K> {
        self.drain(tracked);
        self.tracker
    }
}
