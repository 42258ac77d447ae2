//! The order-level book (L3): every resting order by id, in queue priority
//! at its price. Pure data structure, no I/O.
//!
//! Orders live in a slab and each price level keeps a doubly linked queue
//! of them (oldest first), so adding, cancelling and filling an order are
//! O(1) after the level is found; levels are kept sorted like
//! [`crate::book::l2::L2Book`]'s, best last. A level may also hold size that no
//! known order accounts for ("unattributed"): a book seeded from aggregate
//! levels (LOBSTER's orderbook file), where cancels and fills of orders
//! placed before the seed reduce that size.

use crate::book::l2::Level;
use crate::records::level::BookSide;
use crate::records::order::{Action, OrderEvent};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

const NIL: u32 = u32::MAX;

/// A fast hasher for order ids (venue ids are already well spread).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ *b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        let x = v.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        self.0 = x ^ (x >> 29);
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// A resting order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Order {
    pub id: u64,
    pub side: BookSide,
    pub price: i64,
    pub size: i64,
}

#[derive(Clone, Copy, Debug)]
struct Node {
    order: Order,
    prev: u32,
    next: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Queue {
    total: i64,
    unattributed: i64,
    head: u32,
    tail: u32,
    orders: u32,
}

impl Queue {
    const EMPTY: Queue = Queue {
        total: 0,
        unattributed: 0,
        head: NIL,
        tail: NIL,
        orders: 0,
    };
}

/// One side's levels, best (largest key) last; keys as in `l2::Ladder`.
#[derive(Clone, Debug, Default)]
struct Side {
    keys: Vec<i64>,
    queues: Vec<Queue>,
}

impl Side {
    fn find(&self, key: i64) -> Result<usize, usize> {
        let k = &self.keys;
        let stop = k.len().saturating_sub(8);
        let mut j = k.len();
        while j > stop {
            if k[j - 1] == key {
                return Ok(j - 1);
            }
            if k[j - 1] < key {
                return Err(j);
            }
            j -= 1;
        }
        let i = k[..stop].partition_point(|&x| x < key);
        if i < stop && k[i] == key {
            Ok(i)
        } else {
            Err(i)
        }
    }

    fn queue_mut(&mut self, key: i64) -> &mut Queue {
        let i = match self.find(key) {
            Ok(i) => i,
            Err(i) => {
                self.keys.insert(i, key);
                self.queues.insert(i, Queue::EMPTY);
                i
            }
        };
        &mut self.queues[i]
    }

    /// Drop the level at `key` if nothing rests there any more.
    fn prune(&mut self, key: i64) {
        if let Ok(i) = self.find(key) {
            let q = self.queues[i];
            if q.orders == 0 && q.total <= 0 {
                self.keys.remove(i);
                self.queues.remove(i);
            }
        }
    }
}

/// What an order event did that the book could not do as told.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Anomalies {
    /// Cancels, fills or modifies of an order the book does not hold, and
    /// no unattributed size at its price to take them from.
    pub unknown_order: u64,
    /// Cancels or fills larger than what the order had left.
    pub over_cancel: u64,
    /// Adds of an id already resting (the old order was replaced).
    pub duplicate_add: u64,
}

/// An order-level book.
#[derive(Clone, Debug, Default)]
pub struct L3Book {
    slab: Vec<Node>,
    free: Vec<u32>,
    ids: IdMap<u32>,
    bids: Side,
    asks: Side,
    anomalies: Anomalies,
}

fn key(side: BookSide, price: i64) -> i64 {
    if side == BookSide::Ask {
        price.wrapping_neg()
    } else {
        price
    }
}

impl L3Book {
    pub fn new() -> L3Book {
        L3Book::default()
    }

    fn side_mut(&mut self, side: BookSide) -> Option<&mut Side> {
        match side {
            BookSide::Bid => Some(&mut self.bids),
            BookSide::Ask => Some(&mut self.asks),
            BookSide::None => None,
        }
    }

    /// Remove every order and level.
    pub fn clear(&mut self) {
        self.slab.clear();
        self.free.clear();
        self.ids.clear();
        self.bids = Side::default();
        self.asks = Side::default();
    }

    /// What the book could not apply as told, since it was created.
    pub fn anomalies(&self) -> Anomalies {
        self.anomalies
    }

    /// Carry anomaly counts over (a book restored from a snapshot).
    pub fn set_anomalies(&mut self, a: Anomalies) {
        self.anomalies = a;
    }

    /// Number of resting orders.
    pub fn orders(&self) -> usize {
        self.ids.len()
    }

    /// The order with this id.
    pub fn order(&self, id: u64) -> Option<Order> {
        self.ids.get(&id).map(|&i| self.slab[i as usize].order)
    }

    /// Size at a level no known order accounts for (set by [`Self::seed_level`]).
    pub fn seed_level(&mut self, side: BookSide, price: i64, size: i64) {
        let Some(s) = self.side_mut(side) else { return };
        let q = s.queue_mut(key(side, price));
        q.total += size - q.unattributed;
        q.unattributed = size;
        s.prune(key(side, price));
    }

    /// Put an order at the back of its level's queue. Order id 0 stands for
    /// size no known order accounts for: it is added to the level's
    /// unattributed size (this is how a snapshot carries it).
    pub fn add(&mut self, o: Order) {
        if o.side == BookSide::None || o.size <= 0 {
            return;
        }
        if o.id == 0 {
            if let Some(s) = self.side_mut(o.side) {
                let q = s.queue_mut(key(o.side, o.price));
                q.unattributed += o.size;
                q.total += o.size;
            }
            return;
        }
        if self.ids.contains_key(&o.id) {
            self.anomalies.duplicate_add += 1;
            self.remove(o.id);
        }
        let idx = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slab.push(Node {
                    order: o,
                    prev: NIL,
                    next: NIL,
                });
                (self.slab.len() - 1) as u32
            }
        };
        let Some(side) = (match o.side {
            BookSide::Bid => Some(&mut self.bids),
            BookSide::Ask => Some(&mut self.asks),
            BookSide::None => None,
        }) else {
            return;
        };
        let q = side.queue_mut(key(o.side, o.price));
        let tail = q.tail;
        q.tail = idx;
        if tail == NIL {
            q.head = idx;
        }
        q.total += o.size;
        q.orders += 1;
        self.slab[idx as usize] = Node {
            order: o,
            prev: tail,
            next: NIL,
        };
        if tail != NIL {
            self.slab[tail as usize].next = idx;
        }
        self.ids.insert(o.id, idx);
    }

    /// Take an order out of the book; returns it.
    pub fn remove(&mut self, id: u64) -> Option<Order> {
        let idx = self.ids.remove(&id)?;
        let Node { order, prev, next } = self.slab[idx as usize];
        if prev != NIL {
            self.slab[prev as usize].next = next;
        }
        if next != NIL {
            self.slab[next as usize].prev = prev;
        }
        let k = key(order.side, order.price);
        if let Some(side) = self.side_mut(order.side) {
            if let Ok(i) = side.find(k) {
                let q = &mut side.queues[i];
                if q.head == idx {
                    q.head = next;
                }
                if q.tail == idx {
                    q.tail = prev;
                }
                q.total -= order.size;
                q.orders -= 1;
            }
            side.prune(k);
        }
        self.free.push(idx);
        Some(order)
    }

    /// Take `size` off an order (its queue position is kept); the order
    /// leaves the book when nothing is left. An unknown order's size comes
    /// off the unattributed size at `price`.
    pub fn reduce(&mut self, id: u64, side: BookSide, price: i64, size: i64) {
        let Some(&idx) = self.ids.get(&id) else {
            let Some(s) = self.side_mut(side) else {
                self.anomalies.unknown_order += 1;
                return;
            };
            let k = key(side, price);
            match s.find(k) {
                Ok(i) if s.queues[i].unattributed > 0 => {
                    let q = &mut s.queues[i];
                    let take = size.min(q.unattributed);
                    q.unattributed -= take;
                    q.total -= take;
                    let over = size > take;
                    s.prune(k);
                    if over {
                        self.anomalies.over_cancel += 1;
                    }
                }
                _ => self.anomalies.unknown_order += 1,
            }
            return;
        };
        let o = self.slab[idx as usize].order;
        if size >= o.size || size <= 0 {
            if size > o.size {
                self.anomalies.over_cancel += 1;
            }
            self.remove(id);
            return;
        }
        self.slab[idx as usize].order.size -= size;
        if let Some(s) = self.side_mut(o.side) {
            if let Ok(i) = s.find(key(o.side, o.price)) {
                s.queues[i].total -= size;
            }
        }
    }

    /// Change an order to `price` and `size`, with the venues' queue
    /// priority: at the same price an order whose size went down or stayed
    /// the same keeps its place (CME iceberg orders refill to the same
    /// displayed size with such a modify), one whose size went up or whose
    /// price changed goes to the back of its queue. An unknown order is
    /// added.
    pub fn modify(&mut self, o: Order) {
        match self.order(o.id) {
            Some(old) if old.price == o.price && old.side == o.side && o.size <= old.size => {
                if o.size <= 0 {
                    self.remove(o.id);
                } else if o.size < old.size {
                    self.reduce(o.id, o.side, o.price, old.size - o.size);
                }
            }
            Some(_) => {
                self.remove(o.id);
                self.add(o);
            }
            None => self.add(o),
        }
    }

    /// Apply one order event's effect on the book (trade prints, hidden
    /// fills and other venue events change nothing).
    #[inline]
    pub fn apply(&mut self, e: &OrderEvent) {
        let o = Order {
            id: e.order_id,
            side: e.side,
            price: e.price,
            size: e.size,
        };
        match e.action {
            Action::Add => self.add(o),
            Action::Modify => self.modify(o),
            Action::Cancel | Action::Reduce | Action::Fill => {
                self.reduce(e.order_id, e.side, e.price, e.size)
            }
            Action::Clear => self.clear(),
            Action::HiddenFill | Action::Other | Action::Trade => {}
        }
    }

    fn side(&self, side: BookSide) -> &Side {
        if side == BookSide::Ask {
            &self.asks
        } else {
            &self.bids
        }
    }

    /// Aggregate levels of `side`, best first: (price, total size).
    pub fn levels(&self, side: BookSide) -> impl Iterator<Item = Level> + '_ {
        let s = self.side(side);
        s.keys
            .iter()
            .rev()
            .zip(s.queues.iter().rev())
            .map(move |(k, q)| (key(side, *k), q.total))
    }

    /// The orders at one price, in queue priority (first to fill first).
    pub fn queue(&self, side: BookSide, price: i64) -> Vec<Order> {
        let s = self.side(side);
        let mut out = Vec::new();
        if let Ok(i) = s.find(key(side, price)) {
            let mut at = s.queues[i].head;
            while at != NIL {
                let n = &self.slab[at as usize];
                out.push(n.order);
                at = n.next;
            }
        }
        out
    }

    /// Unattributed size at each level of `side`, best first, where there is any.
    pub fn unattributed(&self, side: BookSide) -> Vec<Level> {
        let s = self.side(side);
        s.keys
            .iter()
            .rev()
            .zip(s.queues.iter().rev())
            .filter(|(_, q)| q.unattributed != 0)
            .map(|(k, q)| (key(side, *k), q.unattributed))
            .collect()
    }

    pub fn best_bid(&self) -> Option<Level> {
        self.levels(BookSide::Bid).next()
    }

    pub fn best_ask(&self) -> Option<Level> {
        self.levels(BookSide::Ask).next()
    }

    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some((b, _)), Some((a, _))) if b >= a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(id: u64, side: BookSide, price: i64, size: i64) -> Order {
        Order {
            id,
            side,
            price,
            size,
        }
    }

    #[test]
    fn queue_priority_is_kept() {
        let mut b = L3Book::new();
        b.add(o(1, BookSide::Bid, 100, 5));
        b.add(o(2, BookSide::Bid, 100, 3));
        b.add(o(3, BookSide::Bid, 100, 2));
        b.add(o(4, BookSide::Ask, 101, 1));
        assert_eq!(b.best_bid(), Some((100, 10)));
        // A size decrease keeps the place; an increase goes to the back.
        b.modify(o(1, BookSide::Bid, 100, 4));
        b.modify(o(2, BookSide::Bid, 100, 6));
        let ids: Vec<u64> = b.queue(BookSide::Bid, 100).iter().map(|o| o.id).collect();
        assert_eq!(ids, [1, 3, 2]);
        assert_eq!(b.best_bid(), Some((100, 12)));
        // An unchanged size keeps the order and its place.
        b.modify(o(1, BookSide::Bid, 100, 4));
        let ids: Vec<u64> = b.queue(BookSide::Bid, 100).iter().map(|o| o.id).collect();
        assert_eq!(ids, [1, 3, 2]);
        assert_eq!(b.best_bid(), Some((100, 12)));
        // Fill part of the first order, then cancel the middle one.
        b.reduce(1, BookSide::Bid, 100, 3);
        b.reduce(3, BookSide::Bid, 100, 2);
        let q = b.queue(BookSide::Bid, 100);
        assert_eq!(
            q,
            [o(1, BookSide::Bid, 100, 1), o(2, BookSide::Bid, 100, 6)]
        );
        // A price change moves the order.
        b.modify(o(1, BookSide::Bid, 99, 1));
        assert_eq!(
            b.levels(BookSide::Bid).collect::<Vec<_>>(),
            [(100, 6), (99, 1)]
        );
        assert_eq!(b.anomalies(), Anomalies::default());
        // Over-cancel and unknown orders are counted.
        b.reduce(2, BookSide::Bid, 100, 7);
        b.reduce(77, BookSide::Bid, 100, 1);
        assert_eq!(b.anomalies().over_cancel, 1);
        assert_eq!(b.anomalies().unknown_order, 1);
        assert_eq!(b.orders(), 2);
        b.clear();
        assert_eq!(b.orders(), 0);
        assert_eq!(b.best_ask(), None);
    }

    #[test]
    fn unattributed_size_takes_unknown_orders() {
        let mut b = L3Book::new();
        b.seed_level(BookSide::Ask, 200, 10);
        b.add(o(9, BookSide::Ask, 200, 5));
        assert_eq!(b.best_ask(), Some((200, 15)));
        b.reduce(1234, BookSide::Ask, 200, 4);
        assert_eq!(b.best_ask(), Some((200, 11)));
        b.reduce(9, BookSide::Ask, 200, 5);
        b.reduce(1235, BookSide::Ask, 200, 6);
        assert_eq!(b.best_ask(), None);
        assert_eq!(b.anomalies(), Anomalies::default());
    }
}
