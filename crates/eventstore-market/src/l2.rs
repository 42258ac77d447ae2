//! The price-level order book (L2): the size resting at each price, per
//! side. Pure data structure, no I/O; the rules of a venue's feed
//! (sequencing, snapshots) live in [`crate::replay`].
//!
//! Each side is a sorted array of prices with the best price last, so the
//! updates that dominate real feeds (at or near the top of the book) touch
//! the end of the array: they are found by a short linear scan from the
//! end and inserted or removed with a short move. Deeper levels are found
//! by binary search.

use crate::book::BookSide;

/// Levels nearer the top than this are found by a linear scan.
const NEAR_TOP: usize = 8;

/// One side of the book. Keys are prices for bids and negated prices for
/// asks, so that on both sides the best level is the largest key, kept last.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ladder {
    keys: Vec<i64>,
    sizes: Vec<i64>,
}

impl Ladder {
    /// The index of the first key not below `key`.
    #[inline]
    fn lower_bound(&self, key: i64) -> usize {
        let k = &self.keys;
        let stop = k.len().saturating_sub(NEAR_TOP);
        let mut j = k.len();
        while j > stop {
            if k[j - 1] < key {
                return j;
            }
            j -= 1;
        }
        k[..stop].partition_point(|&x| x < key)
    }

    /// Set the size at `key` (0 removes the level).
    #[inline]
    fn set(&mut self, key: i64, size: i64) {
        let i = self.lower_bound(key);
        if i < self.keys.len() && self.keys[i] == key {
            if size == 0 {
                self.keys.remove(i);
                self.sizes.remove(i);
            } else {
                self.sizes[i] = size;
            }
        } else if size != 0 {
            self.keys.insert(i, key);
            self.sizes.insert(i, size);
        }
    }

    fn get(&self, key: i64) -> i64 {
        let i = self.lower_bound(key);
        if i < self.keys.len() && self.keys[i] == key {
            self.sizes[i]
        } else {
            0
        }
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn clear(&mut self) {
        self.keys.clear();
        self.sizes.clear();
    }

    /// (key, size) from the best level down.
    fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.keys
            .iter()
            .rev()
            .copied()
            .zip(self.sizes.iter().rev().copied())
    }
}

/// A price-level book.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct L2Book {
    bids: Ladder,
    asks: Ladder,
}

/// One price level: (price, size).
pub type Level = (i64, i64);

impl L2Book {
    pub fn new() -> L2Book {
        L2Book::default()
    }

    /// Set the size at `price` on `side` (0 removes the level). A level
    /// without a side changes nothing.
    #[inline]
    pub fn set(&mut self, side: BookSide, price: i64, size: i64) {
        match side {
            BookSide::Bid => self.bids.set(price, size),
            BookSide::Ask => self.asks.set(price.wrapping_neg(), size),
            BookSide::None => {}
        }
    }

    /// The size at `price` on `side` (0 if there is no level).
    pub fn size_at(&self, side: BookSide, price: i64) -> i64 {
        match side {
            BookSide::Bid => self.bids.get(price),
            BookSide::Ask => self.asks.get(price.wrapping_neg()),
            BookSide::None => 0,
        }
    }

    /// Remove every level.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
    }

    pub fn best_bid(&self) -> Option<Level> {
        self.bids.iter().next()
    }

    pub fn best_ask(&self) -> Option<Level> {
        self.asks.iter().next().map(|(k, s)| (k.wrapping_neg(), s))
    }

    /// Bids from the best (highest) price down.
    pub fn bids(&self) -> impl Iterator<Item = Level> + '_ {
        self.bids.iter()
    }

    /// Asks from the best (lowest) price up.
    pub fn asks(&self) -> impl Iterator<Item = Level> + '_ {
        self.asks.iter().map(|(k, s)| (k.wrapping_neg(), s))
    }

    /// The best `n` levels of each side: (bids, asks).
    pub fn depth(&self, n: usize) -> (Vec<Level>, Vec<Level>) {
        (self.bids().take(n).collect(), self.asks().take(n).collect())
    }

    /// Numbers of bid and ask levels.
    pub fn len(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }

    /// The best bid is at or above the best ask: the book is crossed (or
    /// locked), which a consistent book never is.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some((b, _)), Some((a, _))) if b >= a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synth::Rng;
    use std::collections::BTreeMap;

    #[test]
    fn levels_are_set_replaced_and_removed() {
        let mut b = L2Book::new();
        b.set(BookSide::Bid, 100, 5);
        b.set(BookSide::Bid, 101, 1);
        b.set(BookSide::Bid, 99, 2);
        b.set(BookSide::Ask, 103, 4);
        b.set(BookSide::Ask, 102, 3);
        assert_eq!(b.best_bid(), Some((101, 1)));
        assert_eq!(b.best_ask(), Some((102, 3)));
        assert_eq!(b.bids().collect::<Vec<_>>(), [(101, 1), (100, 5), (99, 2)]);
        assert_eq!(b.asks().collect::<Vec<_>>(), [(102, 3), (103, 4)]);
        b.set(BookSide::Bid, 101, 0);
        b.set(BookSide::Ask, 102, 7);
        b.set(BookSide::Ask, 104, 0); // removing a missing level is nothing
        b.set(BookSide::None, 1, 1);
        assert_eq!(b.depth(1), (vec![(100, 5)], vec![(102, 7)]));
        assert_eq!(b.len(), (2, 2));
        assert!(!b.is_crossed());
        b.set(BookSide::Bid, 102, 1);
        assert!(b.is_crossed());
        assert_eq!(b.size_at(BookSide::Ask, 103), 4);
        assert_eq!(b.size_at(BookSide::Ask, 105), 0);
        b.clear();
        assert!(b.is_empty());
    }

    /// Random updates, near and far from the top, against a BTreeMap model.
    #[test]
    fn matches_a_sorted_map_model() {
        let mut rng = Rng::new(7);
        let mut b = L2Book::new();
        let mut bids = BTreeMap::new();
        let mut asks = BTreeMap::new();
        for i in 0..200_000 {
            let side = if rng.below(2) == 0 {
                BookSide::Bid
            } else {
                BookSide::Ask
            };
            let far = rng.below(10) == 0;
            let off = if far { rng.below(3000) } else { rng.below(12) } as i64;
            let price = match side {
                BookSide::Bid => 10_000 - off,
                _ => 10_001 + off,
            };
            let size = if rng.below(3) == 0 {
                0
            } else {
                1 + rng.below(100) as i64
            };
            b.set(side, price, size);
            let m = if side == BookSide::Bid {
                &mut bids
            } else {
                &mut asks
            };
            if size == 0 {
                m.remove(&price);
            } else {
                m.insert(price, size);
            }
            if i % 997 == 0 {
                let want_b: Vec<_> = bids.iter().rev().map(|(p, s)| (*p, *s)).collect();
                let want_a: Vec<_> = asks.iter().map(|(p, s)| (*p, *s)).collect();
                assert_eq!(b.bids().collect::<Vec<_>>(), want_b);
                assert_eq!(b.asks().collect::<Vec<_>>(), want_a);
            }
        }
    }
}
