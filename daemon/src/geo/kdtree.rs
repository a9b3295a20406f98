//! Exact nearest-place search: a k-d tree over the places' unit vectors. The chord between
//! two points on the unit sphere grows with their great-circle distance, so the nearest by
//! chord is the nearest by great-circle distance, with no poles, antimeridian or cell size to
//! get wrong, and a query far from every place (at sea) costs no more than one among them.
//!
//! The tree is implicit: the slots are permuted so that each subtree is a contiguous range
//! whose middle slot is the splitting point; only the split axis is stored (one byte per slot).
//! Ranges of up to [`LEAF`] slots are scanned.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::sphere::unit_vector;
use super::Place;

/// Ranges this small are scanned instead of split (fewer branches; one or two cache lines).
const LEAF: usize = 8;

/// One place in tree order: its unit vector, index and population (the tie-break).
#[derive(Debug, Clone, Copy)]
struct Slot {
    at: [f64; 3],
    place: u32,
    population: u32,
}

#[derive(Debug, Default)]
pub(super) struct KdTree {
    slots: Vec<Slot>,
    /// The split axis (0, 1, 2) of the subtree whose middle slot this is; unused in leaves.
    axes: Vec<u8>,
}

/// How candidates compare: nearer first, then more populous (so two places at one spot name
/// the town, not the hamlet), then lower place index, so the answer is deterministic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Rank {
    /// Squared chord; the bits of a non-negative f64 order like the number.
    chord2_bits: u64,
    population: Reverse<u32>,
    pub(super) place: u32,
}

impl Rank {
    fn chord2(&self) -> f64 {
        f64::from_bits(self.chord2_bits)
    }
}

impl KdTree {
    pub(super) fn build(places: &[Place]) -> KdTree {
        let mut slots: Vec<Slot> = (0u32..)
            .zip(places)
            .map(|(place, p)| Slot {
                at: unit_vector(p.lat, p.lon),
                place,
                population: p.population,
            })
            .collect();
        let mut axes = vec![0u8; slots.len()];
        split(&mut slots, &mut axes);
        KdTree { slots, axes }
    }

    /// The nearest place to a unit vector.
    pub(super) fn nearest(&self, q: [f64; 3]) -> Option<Rank> {
        let mut best = Best(None);
        self.search(q, 0, self.slots.len(), &mut best);
        best.0
    }

    /// The `n` nearest places to a unit vector, nearest first.
    pub(super) fn nearest_n(&self, q: [f64; 3], n: usize) -> Vec<Rank> {
        let n = n.min(self.slots.len());
        if n == 0 {
            return Vec::new();
        }
        let mut best = KBest {
            n,
            heap: BinaryHeap::with_capacity(n + 1),
        };
        self.search(q, 0, self.slots.len(), &mut best);
        best.heap.into_sorted_vec()
    }

    fn search(&self, q: [f64; 3], lo: usize, hi: usize, found: &mut impl Collector) {
        if hi - lo <= LEAF {
            for slot in &self.slots[lo..hi] {
                self.offer(q, slot, found);
            }
            return;
        }
        let mid = lo + (hi - lo) / 2;
        let axis = usize::from(self.axes[mid]);
        let slot = &self.slots[mid];
        let diff = q[axis] - slot.at[axis];
        let (near, far) = if diff < 0.0 {
            ((lo, mid), (mid + 1, hi))
        } else {
            ((mid + 1, hi), (lo, mid))
        };
        self.search(q, near.0, near.1, found);
        self.offer(q, slot, found);
        // `<=`, not `<`: a place exactly as far may still win the tie on population.
        if diff * diff <= found.bound() {
            self.search(q, far.0, far.1, found);
        }
    }

    fn offer(&self, q: [f64; 3], slot: &Slot, found: &mut impl Collector) {
        let d2 = chord2(q, slot.at);
        if d2 <= found.bound() {
            found.offer(Rank {
                chord2_bits: d2.to_bits(),
                population: Reverse(slot.population),
                place: slot.place,
            });
        }
    }
}

/// Permutes `slots` into an implicit k-d tree, splitting each range on its widest axis.
fn split(slots: &mut [Slot], axes: &mut [u8]) {
    if slots.len() <= LEAF {
        return;
    }
    let axis = widest_axis(slots);
    let mid = slots.len() / 2;
    slots.select_nth_unstable_by(mid, |a, b| a.at[axis].total_cmp(&b.at[axis]));
    axes[mid] = axis as u8;
    let (left, right) = slots.split_at_mut(mid);
    let (left_axes, right_axes) = axes.split_at_mut(mid);
    split(left, left_axes);
    split(&mut right[1..], &mut right_axes[1..]);
}

fn widest_axis(slots: &[Slot]) -> usize {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for s in slots {
        for k in 0..3 {
            lo[k] = lo[k].min(s.at[k]);
            hi[k] = hi[k].max(s.at[k]);
        }
    }
    (0..3)
        .max_by(|&a, &b| (hi[a] - lo[a]).total_cmp(&(hi[b] - lo[b])))
        .unwrap_or(0)
}

fn chord2(a: [f64; 3], b: [f64; 3]) -> f64 {
    let (x, y, z) = (a[0] - b[0], a[1] - b[1], a[2] - b[2]);
    x * x + y * y + z * z
}

/// What a search keeps: the best one, or the best `n`.
trait Collector {
    /// Candidates farther than this (squared chord) cannot be kept.
    fn bound(&self) -> f64;
    fn offer(&mut self, rank: Rank);
}

struct Best(Option<Rank>);

impl Collector for Best {
    fn bound(&self) -> f64 {
        self.0.map_or(f64::INFINITY, |r| r.chord2())
    }
    fn offer(&mut self, rank: Rank) {
        if self.0.is_none_or(|best| rank < best) {
            self.0 = Some(rank);
        }
    }
}

/// The best `n` so far in a max-heap: the worst kept is on top, to be displaced.
struct KBest {
    n: usize,
    heap: BinaryHeap<Rank>,
}

impl Collector for KBest {
    fn bound(&self) -> f64 {
        match self.heap.peek() {
            Some(worst) if self.heap.len() == self.n => worst.chord2(),
            _ => f64::INFINITY,
        }
    }
    fn offer(&mut self, rank: Rank) {
        if self.heap.len() < self.n {
            self.heap.push(rank);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if rank < *worst {
                *worst = rank;
            }
        }
    }
}
