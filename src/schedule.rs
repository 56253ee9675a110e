//! The timer heap: what is due when. Time is always passed in, never read here.
//!
//! Entries due at the same instant come out in the order they were pushed, so a run of
//! the daemon is deterministic for a given sequence of clock readings.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

#[derive(Debug)]
pub struct Schedule<T> {
    heap: BinaryHeap<Reverse<(Instant, u64, Slot<T>)>>,
    seq: u64,
}

/// Wraps the payload so that the heap orders by (instant, sequence) only.
#[derive(Debug)]
struct Slot<T>(T);

impl<T> PartialEq for Slot<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T> Default for Schedule<T> {
    fn default() -> Self {
        Schedule {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }
}

impl<T> Schedule<T> {
    pub fn push(&mut self, at: Instant, what: T) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, Slot(what))));
    }

    /// When the earliest entry is due; `None` when nothing is scheduled.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The earliest entry if it is due at `now`, with the instant it was due.
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, T)> {
        if self.next_deadline()? > now {
            return None;
        }
        self.heap.pop().map(|Reverse((at, _, Slot(t)))| (at, t))
    }

    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    pub fn clear(&mut self) {
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_then_push_order() {
        let t0 = Instant::now();
        let s = |n| t0 + Duration::from_secs(n);
        let mut h = Schedule::default();
        assert_eq!(h.next_deadline(), None);
        h.push(s(5), "c");
        h.push(s(1), "a");
        h.push(s(1), "b");
        h.push(s(9), "d");
        assert_eq!(h.len(), 4);
        assert_eq!(h.next_deadline(), Some(s(1)));
        assert_eq!(h.pop_due(s(0)), None);
        assert_eq!(h.pop_due(s(5)), Some((s(1), "a")));
        assert_eq!(h.pop_due(s(5)), Some((s(1), "b")));
        assert_eq!(h.pop_due(s(5)), Some((s(5), "c")));
        assert_eq!(h.pop_due(s(5)), None);
        assert_eq!(h.next_deadline(), Some(s(9)));
        h.clear();
        assert!(h.is_empty());
    }

    #[test]
    fn many_entries_come_out_sorted() {
        let t0 = Instant::now();
        let mut h = Schedule::default();
        for i in (0..1000u64).rev() {
            h.push(t0 + Duration::from_millis((i * 7919) % 1000), i);
        }
        let mut last = t0;
        let mut n = 0;
        while let Some((at, _)) = h.pop_due(t0 + Duration::from_secs(1)) {
            assert!(at >= last);
            last = at;
            n += 1;
        }
        assert_eq!(n, 1000);
    }
}
