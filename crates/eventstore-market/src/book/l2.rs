//! The price-level order book (L2): the size resting at each price, per
//! side. Pure data structure, no I/O; the rules of a venue's feed
//! (sequencing, snapshots) live in [`crate::book::replay`].
//!
//! Each side is a sorted sequence of prices kept in blocks of at most 64
//! levels (a two-level B+ tree): finding a level is a binary search over
//! the blocks' largest keys, then over one block; adding or removing a
//! level moves at most one block's entries, however deep the book. The
//! best level is the last one, and updates at the top of the book (the
//! most frequent in real feeds) are checked against the last block first.

use crate::records::level::BookSide;

/// Levels per block, at most.
const BLOCK: usize = 64;

#[derive(Clone, Debug, PartialEq, Eq)]
struct Block {
    len: usize,
    keys: [i64; BLOCK],
    sizes: [i64; BLOCK],
}

impl Block {
    fn new() -> Box<Block> {
        Box::new(Block {
            len: 0,
            keys: [0; BLOCK],
            sizes: [0; BLOCK],
        })
    }

    /// The index of the first key not below `key`.
    #[inline]
    fn lower_bound(&self, key: i64) -> usize {
        self.keys[..self.len].partition_point(|&x| x < key)
    }
}

/// One side of the book. Keys are prices for bids and negated prices for
/// asks, so that on both sides the best level is the largest key, kept last.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ladder {
    /// Blocks in key order; none is empty. Boxed so that a split moves
    /// pointers, not kilobytes.
    #[allow(clippy::vec_box)]
    blocks: Vec<Box<Block>>,
    /// The largest key of each block.
    maxes: Vec<i64>,
    len: usize,
}

impl Ladder {
    /// The block where `key` is or would go.
    #[inline]
    fn block_for(&self, key: i64) -> usize {
        let n = self.maxes.len();
        // The top of the book first.
        if n > 1 && key > self.maxes[n - 2] {
            return n - 1;
        }
        self.maxes
            .partition_point(|&m| m < key)
            .min(n.saturating_sub(1))
    }

    /// Set the size at `key` (0 removes the level).
    #[inline]
    fn set(&mut self, key: i64, size: i64) {
        if self.blocks.is_empty() {
            if size == 0 {
                return;
            }
            self.blocks.push(Block::new());
            self.maxes.push(key);
        }
        let bi = self.block_for(key);
        let b = &mut self.blocks[bi];
        let i = b.lower_bound(key);
        if i < b.len && b.keys[i] == key {
            if size != 0 {
                b.sizes[i] = size;
                return;
            }
            b.keys.copy_within(i + 1..b.len, i);
            b.sizes.copy_within(i + 1..b.len, i);
            b.len -= 1;
            self.len -= 1;
            if b.len == 0 {
                self.blocks.remove(bi);
                self.maxes.remove(bi);
            } else {
                self.maxes[bi] = b.keys[b.len - 1];
            }
            return;
        }
        if size == 0 {
            return;
        }
        if b.len == BLOCK {
            // Split the full block in two, then insert into the right half.
            let mut right = Block::new();
            let half = BLOCK / 2;
            right.keys[..BLOCK - half].copy_from_slice(&b.keys[half..]);
            right.sizes[..BLOCK - half].copy_from_slice(&b.sizes[half..]);
            right.len = BLOCK - half;
            b.len = half;
            let left_max = b.keys[half - 1];
            let right_max = right.keys[right.len - 1];
            self.maxes[bi] = left_max;
            self.blocks.insert(bi + 1, right);
            self.maxes.insert(bi + 1, right_max);
            return self.set(key, size);
        }
        b.keys.copy_within(i..b.len, i + 1);
        b.sizes.copy_within(i..b.len, i + 1);
        b.keys[i] = key;
        b.sizes[i] = size;
        b.len += 1;
        self.len += 1;
        if key > self.maxes[bi] {
            self.maxes[bi] = key;
        }
    }

    fn get(&self, key: i64) -> i64 {
        if self.blocks.is_empty() {
            return 0;
        }
        let b = &self.blocks[self.block_for(key)];
        let i = b.lower_bound(key);
        if i < b.len && b.keys[i] == key {
            b.sizes[i]
        } else {
            0
        }
    }

    /// Number of levels.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn clear(&mut self) {
        self.blocks.clear();
        self.maxes.clear();
        self.len = 0;
    }

    /// Keep the best `n` levels only.
    fn truncate(&mut self, n: usize) {
        while self.len > n {
            let Some(key) = self.blocks.first().map(|b| b.keys[0]) else {
                return;
            };
            self.set(key, 0);
        }
    }

    /// (key, size) from the best level down.
    fn iter(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.blocks.iter().rev().flat_map(|b| {
            b.keys[..b.len]
                .iter()
                .rev()
                .copied()
                .zip(b.sizes[..b.len].iter().rev().copied())
        })
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

    /// Keep the best `n` levels of each side (a venue that publishes only
    /// so many, and sends no removal for levels that fall out of them).
    pub fn truncate(&mut self, n: usize) {
        self.bids.truncate(n);
        self.asks.truncate(n);
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
