//! `Replay`: a book rebuilt from a stream's records, with the feed's rules.
//!
//! - Snapshots: a run of records flagged [`FLAG_SNAPSHOT`] (the last one
//!   also flagged [`FLAG_LAST`]) replaces the book; a snapshot record after
//!   anything but a snapshot record starts a new snapshot (the book is
//!   cleared first). A snapshot makes the book reliable, unless it carries
//!   [`FLAG_UNRELIABLE`] (a snapshot of a book already known to be wrong).
//! - Exchange sequencing (L2 records with update ids): Binance spot drops
//!   diffs with `u <= lastUpdateId`, applies first the diff with
//!   `U <= lastUpdateId + 1 <= u`, then expects each `U` to be the previous
//!   `u` + 1. Binance futures (records with `pu`) drop `u < lastUpdateId`,
//!   apply first the diff with `U <= lastUpdateId <= u` (or `pu ==
//!   lastUpdateId`), then expect each `pu` to be the previous `u`. Anything
//!   else is a gap: it is counted, reported to the caller, and the book is
//!   unreliable until the next snapshot. Records without update ids (Tardis,
//!   LOBSTER, Databento) are applied as they come.
//! - Diffs that arrive before their snapshot (Binance's REST snapshot
//!   arrives after the first diffs) are kept, bounded, and those the
//!   snapshot does not cover are applied right after it.
//! - L3 order events go to an [`L3Book`]; a clear empties it.
//!
//! Callers see what was applied, in the order it was applied, through an
//! `emit(seq, Applied)` callback: the stored records the book took (not
//! dropped duplicates), buffered diffs again after their snapshot, and gaps.

use crate::book::checksum::Checksummer;
use crate::book::l2::{L2Book, Level};
use crate::book::l3::{Anomalies, L3Book};
use crate::records::level::{BookLevel, BookSide, FLAG_CHECKSUM, FLAG_LAST, FLAG_SNAPSHOT};
use crate::records::order::{Action, OrderEvent};
use std::collections::VecDeque;

/// `BookLevel::flags`/`OrderEvent::flags`: the snapshot this record opens
/// is of a book known to be incomplete (taken while it was unreliable).
pub const FLAG_UNRELIABLE: u8 = 4;

/// `BookLevel::flags`: a break in the feed, written by a recorder where it
/// knows the venue's diffs stopped reaching it (a connection lost, a stalled
/// stream, its own restart). The record has no side; its `price` holds the
/// [`Cause`] and its update ids the last id recorded before the break. The
/// book is not known to be right from it until the next snapshot.
pub const FLAG_BREAK: u8 = 32;

/// Diffs kept while waiting for a snapshot, at most.
pub const MAX_PENDING: usize = 200_000;

/// What a stream's records build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BookKind {
    /// Price levels (`book_l2` streams of [`BookLevel`]).
    L2,
    /// Orders by id (`orders_l3` streams of [`OrderEvent`]).
    L3,
}

impl BookKind {
    /// The kind for a `market.json` kind, if it is a book stream.
    pub fn of_stream(kind: crate::records::meta::StreamKind) -> Option<BookKind> {
        use crate::records::meta::StreamKind;
        match kind {
            StreamKind::BookL2 => Some(BookKind::L2),
            StreamKind::OrdersL3 => Some(BookKind::L3),
            StreamKind::Trades | StreamKind::Quotes => None,
        }
    }
}

/// Where the sequencer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No snapshot yet, or a gap since the last one.
    AwaitSnapshot = 0,
    /// A snapshot was applied; the next diff must cover its id.
    AwaitFirst = 1,
    /// Diffs follow each other without a gap.
    Synced = 2,
}

/// What is done with the records of the current exchange event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    Apply = 0,
    Drop = 1,
    /// Apply to the (unreliable) book and keep for after the next snapshot.
    ApplyAndKeep = 2,
}

/// Why a book is not known to be right: the cause of a [`Gap`], or of a
/// book not reliable yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Cause {
    /// No snapshot yet: the book was never known whole.
    NoSnapshot = 0,
    /// An update id that does not follow the one before.
    MissingUpdate = 1,
    /// The book after an update does not give the venue's checksum.
    ChecksumMismatch = 2,
    /// The best bid reached the best ask after a whole exchange event.
    CrossedBook = 3,
    /// A snapshot run ended without its last record.
    SnapshotCutShort = 4,
    /// The snapshot was of a book already known to be wrong
    /// ([`FLAG_UNRELIABLE`]).
    UnreliableSnapshot = 5,
    /// The recorder lost its connection to the venue.
    ConnectionLost = 6,
    /// The venue sent nothing for longer than the recorder waits.
    Stalled = 7,
    /// The recorder was not running (it stopped or was killed).
    RecorderDown = 8,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::NoSnapshot => "no snapshot yet",
            Cause::MissingUpdate => "missing update",
            Cause::ChecksumMismatch => "checksum mismatch",
            Cause::CrossedBook => "crossed book",
            Cause::SnapshotCutShort => "snapshot cut short",
            Cause::UnreliableSnapshot => "snapshot of an unreliable book",
            Cause::ConnectionLost => "connection lost",
            Cause::Stalled => "feed stalled",
            Cause::RecorderDown => "recorder down",
        }
    }

    pub(crate) fn from_u8(v: u8) -> Option<Cause> {
        Some(match v {
            0 => Cause::NoSnapshot,
            1 => Cause::MissingUpdate,
            2 => Cause::ChecksumMismatch,
            3 => Cause::CrossedBook,
            4 => Cause::SnapshotCutShort,
            5 => Cause::UnreliableSnapshot,
            6 => Cause::ConnectionLost,
            7 => Cause::Stalled,
            8 => Cause::RecorderDown,
            _ => return None,
        })
    }
}

/// Whether a book is known to be right, since when, and why not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookState {
    pub reliable: bool,
    /// Receive time of the record that made the book reliable or not
    /// (0: from the start of the stream).
    pub since: i64,
    /// Why it is not reliable (meaningless while it is).
    pub cause: Cause,
}

/// A point from which the book is not known to be right: a break in the
/// venue's update ids, a checksum that does not match, a crossed book, a
/// snapshot cut short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Sequence number of the record where the break was seen.
    pub seq: u64,
    /// Its receive time.
    pub local_ts: i64,
    /// The update id that should have come next (`U`, or `pu` for futures).
    pub expected: u64,
    /// The ids that came: `U` and `u` (and `pu`).
    pub first_update_id: u64,
    pub last_update_id: u64,
    pub prev_update_id: u64,
    pub cause: Cause,
}

/// One thing the book applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Level(BookLevel),
    Order(OrderEvent),
    Gap(Gap),
}

/// The book a replay builds: by price level or by order, never both.
#[derive(Clone, Debug)]
pub enum Book {
    L2(L2Book),
    L3(L3Book),
}

/// A book and the state of the feed that builds it.
#[derive(Clone, Debug)]
pub struct Replay {
    pub(crate) book: Book,
    pub(crate) reliable: bool,
    pub(crate) phase: Phase,
    /// The last update id applied (or the snapshot's id, awaiting the first diff).
    pub(crate) last_id: u64,
    pub(crate) in_snapshot: bool,
    pub(crate) snapshot_id: u64,
    pub(crate) snapshot_unreliable: bool,
    /// The next record starts an exchange event.
    pub(crate) event_start: bool,
    pub(crate) decision: Decision,
    pub(crate) pending: VecDeque<(u64, BookLevel)>,
    pub(crate) gaps: u64,
    /// Receive time of the last record seen (0 before any).
    pub(crate) last_ts: i64,
    /// When `reliable` last changed, and why the book is not reliable.
    pub(crate) since: i64,
    pub(crate) cause: Cause,
    /// Venue checksums verified so far: (matched, failed).
    pub(crate) checksums: (u64, u64),
    /// How to verify the venue's checksums, for streams that carry them.
    pub(crate) checksummer: Option<Checksummer>,
    /// Levels a side the venue keeps (price-level books whose venue
    /// truncates them without removals: Kraken).
    pub(crate) truncate: Option<usize>,
}

impl Replay {
    /// An empty book, waiting for a snapshot.
    pub fn new(kind: BookKind) -> Replay {
        Replay {
            book: match kind {
                BookKind::L2 => Book::L2(L2Book::new()),
                BookKind::L3 => Book::L3(L3Book::new()),
            },
            reliable: false,
            phase: Phase::AwaitSnapshot,
            last_id: 0,
            in_snapshot: false,
            snapshot_id: 0,
            snapshot_unreliable: false,
            event_start: true,
            decision: Decision::Apply,
            pending: VecDeque::new(),
            gaps: 0,
            last_ts: 0,
            since: 0,
            cause: Cause::NoSnapshot,
            checksums: (0, 0),
            checksummer: None,
            truncate: None,
        }
    }

    /// Keep a price-level book to the best `n` levels a side after every
    /// exchange event, as a venue that publishes only `n` and sends no
    /// removal for the levels that fall out (Kraken's `book-N`).
    pub fn truncate_to(&mut self, n: usize) {
        self.truncate = Some(n);
    }

    /// The end of an exchange event: truncate to the venue's depth.
    fn event_end(&mut self) {
        if let (Some(n), Book::L2(b)) = (self.truncate, &mut self.book) {
            b.truncate(n);
        }
    }

    /// Verify the venue checksums that records carry ([`FLAG_CHECKSUM`]):
    /// after the event a record ends, while the book is reliable, the book
    /// must give the venue's number, or the book is wrong from there (a
    /// gap of cause [`Cause::ChecksumMismatch`]) until the next snapshot.
    pub fn verify_checksums(&mut self, c: Checksummer) {
        self.checksummer = Some(c);
    }

    /// Check the checksum `l` carries against the book.
    fn check(&mut self, seq: u64, l: &BookLevel, emit: &mut impl FnMut(u64, Applied)) {
        let (Some(c), Book::L2(book)) = (&self.checksummer, &self.book) else {
            return;
        };
        if l.flags & FLAG_CHECKSUM == 0 || !self.reliable {
            return;
        }
        if c.of(book) == l.checksum {
            self.checksums.0 += 1;
        } else {
            self.checksums.1 += 1;
            let ids = (l.first_update_id, l.last_update_id, l.prev_update_id);
            self.broken(seq, l.local_ts, Cause::ChecksumMismatch, ids, 0, emit);
        }
    }

    /// Venue checksums verified since this replay started: (matched,
    /// failed).
    pub fn checksums(&self) -> (u64, u64) {
        self.checksums
    }

    /// Whether the book is known to be right, since when, and why not.
    pub fn state(&self) -> BookState {
        BookState {
            reliable: self.reliable,
            since: self.since,
            cause: self.cause,
        }
    }

    /// The book is (not) known to be right from the record received at `ts`.
    fn mark(&mut self, reliable: bool, cause: Cause, ts: i64) {
        if reliable != self.reliable {
            self.since = ts;
        }
        self.reliable = reliable;
        if !reliable {
            self.cause = cause;
        }
    }

    /// The end of a snapshot run (at its last record, or at `ts`, the record
    /// after it): reliable unless it was of an unreliable book.
    fn snapshot_done(&mut self, ts: i64) {
        self.in_snapshot = false;
        let ok = !self.snapshot_unreliable;
        self.mark(ok, Cause::UnreliableSnapshot, ts);
    }

    /// The book is wrong from record `seq`: counted, reported, and the
    /// sequencer waits for the next snapshot.
    fn broken(
        &mut self,
        seq: u64,
        ts: i64,
        cause: Cause,
        ids: (u64, u64, u64),
        expected: u64,
        emit: &mut impl FnMut(u64, Applied),
    ) {
        self.gaps += 1;
        self.mark(false, cause, ts);
        self.phase = Phase::AwaitSnapshot;
        emit(
            seq,
            Applied::Gap(Gap {
                seq,
                local_ts: ts,
                expected,
                first_update_id: ids.0,
                last_update_id: ids.1,
                prev_update_id: ids.2,
                cause,
            }),
        );
    }

    pub fn kind(&self) -> BookKind {
        match self.book {
            Book::L2(_) => BookKind::L2,
            Book::L3(_) => BookKind::L3,
        }
    }

    /// The book.
    pub fn book(&self) -> &Book {
        &self.book
    }

    /// The price-level book being built, if it is one.
    pub(crate) fn l2_mut(&mut self) -> Option<&mut L2Book> {
        match &mut self.book {
            Book::L2(b) => Some(b),
            Book::L3(_) => None,
        }
    }

    /// The order book being built, if it is one.
    pub(crate) fn l3_mut(&mut self) -> Option<&mut L3Book> {
        match &mut self.book {
            Book::L3(b) => Some(b),
            Book::L2(_) => None,
        }
    }

    /// The book is known to be complete: a snapshot (or a clear) was applied
    /// and no gap was seen since.
    pub fn is_reliable(&self) -> bool {
        self.reliable
    }

    /// Gaps seen so far (since the start of the stream, when the replay
    /// started from a stored snapshot).
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// The last update id applied (Binance `u`), 0 without one.
    pub fn last_update_id(&self) -> u64 {
        self.last_id
    }

    /// Receive time of the last record applied or seen.
    pub fn last_ts(&self) -> i64 {
        self.last_ts
    }

    /// The price-level book (L2 streams; `None` for an order book).
    pub fn l2(&self) -> Option<&L2Book> {
        match &self.book {
            Book::L2(b) => Some(b),
            Book::L3(_) => None,
        }
    }

    /// The order book (L3 streams; `None` for a price-level book).
    pub fn l3(&self) -> Option<&L3Book> {
        match &self.book {
            Book::L3(b) => Some(b),
            Book::L2(_) => None,
        }
    }

    /// What order events could not do as told (L3 streams; none for L2).
    pub fn anomalies(&self) -> Anomalies {
        match &self.book {
            Book::L3(b) => b.anomalies(),
            Book::L2(_) => Anomalies::default(),
        }
    }

    pub fn best_bid(&self) -> Option<Level> {
        match &self.book {
            Book::L2(b) => b.best_bid(),
            Book::L3(b) => b.best_bid(),
        }
    }

    pub fn best_ask(&self) -> Option<Level> {
        match &self.book {
            Book::L2(b) => b.best_ask(),
            Book::L3(b) => b.best_ask(),
        }
    }

    /// The best `n` levels of each side (L3 books aggregated by price).
    pub fn depth(&self, n: usize) -> (Vec<Level>, Vec<Level>) {
        match &self.book {
            Book::L2(b) => b.depth(n),
            Book::L3(b) => (
                b.levels(BookSide::Bid).take(n).collect(),
                b.levels(BookSide::Ask).take(n).collect(),
            ),
        }
    }

    pub fn is_crossed(&self) -> bool {
        match &self.book {
            Book::L2(b) => b.is_crossed(),
            Book::L3(b) => b.is_crossed(),
        }
    }

    /// Apply one stored record (a 64-byte level update or order event).
    pub fn apply_payload(
        &mut self,
        seq: u64,
        payload: &[u8],
        emit: &mut impl FnMut(u64, Applied),
    ) -> std::result::Result<(), String> {
        match self.kind() {
            BookKind::L2 => self.apply_level(seq, &BookLevel::decode(payload)?, emit),
            BookKind::L3 => self.apply_order(seq, &OrderEvent::decode(payload)?, emit),
        }
        Ok(())
    }

    /// Apply one price-level update.
    #[inline]
    pub fn apply_level(&mut self, seq: u64, l: &BookLevel, emit: &mut impl FnMut(u64, Applied)) {
        self.last_ts = l.local_ts;
        if l.flags & FLAG_BREAK != 0 {
            self.feed_break(seq, l, emit);
            return;
        }
        if l.flags & FLAG_SNAPSHOT != 0 {
            self.event_start = l.flags & FLAG_LAST != 0;
            if !self.in_snapshot {
                if let Some(b) = self.l2_mut() {
                    b.clear();
                }
                self.in_snapshot = true;
                self.snapshot_id = l.last_update_id;
                self.snapshot_unreliable = l.flags & FLAG_UNRELIABLE != 0;
            }
            if let Some(b) = self.l2_mut() {
                b.set(l.side, l.price, l.size);
            }
            emit(seq, Applied::Level(*l));
            if l.flags & FLAG_LAST != 0 {
                self.end_snapshot(l.local_ts, emit);
                self.event_end();
                self.check(seq, l, emit);
            }
            return;
        }
        if self.in_snapshot {
            // The run ended without its last record: cut short.
            self.in_snapshot = false;
            self.pending.clear();
            let ids = (l.first_update_id, l.last_update_id, l.prev_update_id);
            self.broken(seq, l.local_ts, Cause::SnapshotCutShort, ids, 0, emit);
        }
        self.diff(seq, l, emit);
        if l.flags & FLAG_LAST != 0 {
            self.event_end();
            if self.decision == Decision::Apply {
                self.check(seq, l, emit);
            }
        }
        // A whole exchange event that leaves the book crossed.
        if l.flags & FLAG_LAST != 0 && self.reliable && self.is_crossed() {
            let ids = (l.first_update_id, l.last_update_id, l.prev_update_id);
            self.broken(seq, l.local_ts, Cause::CrossedBook, ids, 0, emit);
        }
    }

    /// A break in the feed: a gap with its cause, whatever the book's state
    /// (a snapshot it interrupts is cut short). Diffs after it are kept for
    /// the next snapshot.
    fn feed_break(&mut self, seq: u64, l: &BookLevel, emit: &mut impl FnMut(u64, Applied)) {
        let cause = u8::try_from(l.price)
            .ok()
            .and_then(Cause::from_u8)
            .unwrap_or(Cause::ConnectionLost);
        if self.in_snapshot {
            self.in_snapshot = false;
            self.pending.clear();
        }
        self.event_start = true;
        let ids = (l.first_update_id, l.last_update_id, l.prev_update_id);
        let expected = if l.last_update_id == 0 {
            0
        } else {
            l.last_update_id + 1
        };
        self.broken(seq, l.local_ts, cause, ids, expected, emit);
    }

    fn diff(&mut self, seq: u64, l: &BookLevel, emit: &mut impl FnMut(u64, Applied)) {
        if self.event_start {
            self.decision = self.decide(seq, l, emit);
        }
        self.event_start = l.flags & FLAG_LAST != 0;
        match self.decision {
            Decision::Apply => {
                if let Some(b) = self.l2_mut() {
                    b.set(l.side, l.price, l.size);
                }
                emit(seq, Applied::Level(*l));
            }
            Decision::ApplyAndKeep => {
                if let Some(b) = self.l2_mut() {
                    b.set(l.side, l.price, l.size);
                }
                emit(seq, Applied::Level(*l));
                self.pending.push_back((seq, *l));
                if self.pending.len() > MAX_PENDING {
                    // Forget the oldest event whole.
                    while let Some((_, r)) = self.pending.pop_front() {
                        if r.flags & FLAG_LAST != 0 {
                            break;
                        }
                    }
                }
            }
            Decision::Drop => {}
        }
    }

    /// The fate of the exchange event that `l` starts.
    fn decide(&mut self, seq: u64, l: &BookLevel, emit: &mut impl FnMut(u64, Applied)) -> Decision {
        let (first, last, prev) = (l.first_update_id, l.last_update_id, l.prev_update_id);
        if first == 0 && last == 0 {
            return Decision::Apply;
        }
        let futures = prev != 0;
        let id = self.last_id;
        let expected = match self.phase {
            Phase::AwaitSnapshot => return Decision::ApplyAndKeep,
            Phase::AwaitFirst => {
                if last < id || (!futures && last == id) {
                    return Decision::Drop;
                }
                let covers = if futures {
                    (first <= id && id <= last) || prev == id
                } else {
                    first <= id + 1 && id < last
                };
                if covers {
                    self.phase = Phase::Synced;
                    self.last_id = last;
                    return Decision::Apply;
                }
                if futures {
                    id
                } else {
                    id + 1
                }
            }
            Phase::Synced => {
                if last <= id {
                    return Decision::Drop;
                }
                let follows = if futures { prev == id } else { first == id + 1 };
                if follows {
                    self.last_id = last;
                    return Decision::Apply;
                }
                if futures {
                    id
                } else {
                    id + 1
                }
            }
        };
        self.broken(
            seq,
            l.local_ts,
            Cause::MissingUpdate,
            (first, last, prev),
            expected,
            emit,
        );
        self.last_id = last;
        Decision::ApplyAndKeep
    }

    fn end_snapshot(&mut self, ts: i64, emit: &mut impl FnMut(u64, Applied)) {
        self.snapshot_done(ts);
        let pending = std::mem::take(&mut self.pending);
        if self.snapshot_id == 0 || self.snapshot_unreliable {
            if self.snapshot_unreliable {
                // The producer's book had these applied: keep them for the
                // next snapshot, as it did.
                self.pending = pending;
            }
            self.phase = Phase::AwaitSnapshot;
            return;
        }
        self.last_id = self.snapshot_id;
        self.phase = Phase::AwaitFirst;
        // Diffs that arrived before the snapshot, in their order.
        let saved = self.event_start;
        self.event_start = true;
        for (seq, r) in pending {
            self.diff(seq, &r, emit);
        }
        self.event_start = saved;
    }

    /// Apply one order event.
    #[inline]
    pub fn apply_order(&mut self, seq: u64, e: &OrderEvent, emit: &mut impl FnMut(u64, Applied)) {
        self.last_ts = e.local_ts;
        if e.flags & FLAG_SNAPSHOT != 0 {
            if !self.in_snapshot {
                if let Some(b) = self.l3_mut() {
                    b.clear();
                }
                self.in_snapshot = true;
                self.snapshot_unreliable = e.flags & FLAG_UNRELIABLE != 0;
            }
            if let Some(b) = self.l3_mut() {
                b.apply(e);
            }
            emit(seq, Applied::Order(*e));
            if e.flags & FLAG_LAST != 0 {
                self.snapshot_done(e.local_ts);
            }
            return;
        }
        if self.in_snapshot {
            // The run ended without its last record: cut short.
            self.in_snapshot = false;
            let ids = (e.sequence, e.sequence, 0);
            self.broken(seq, e.local_ts, Cause::SnapshotCutShort, ids, 0, emit);
        }
        if e.action == Action::Clear {
            self.mark(true, Cause::NoSnapshot, e.local_ts);
        }
        if let Some(b) = self.l3_mut() {
            b.apply(e);
        }
        emit(seq, Applied::Order(*e));
        // A whole exchange event that leaves the book crossed.
        if e.flags & FLAG_LAST != 0 && self.reliable && self.is_crossed() {
            let ids = (e.sequence, e.sequence, 0);
            self.broken(seq, e.local_ts, Cause::CrossedBook, ids, 0, emit);
        }
    }

    /// The whole book as one snapshot batch, as of `ts`: a clear, then every
    /// level (bids best first, then asks) or every order (in queue
    /// priority), each flagged snapshot, the last one also flagged last;
    /// [`FLAG_UNRELIABLE`] on them all when the book is unreliable. Diffs
    /// kept for a coming snapshot follow the batch, as stored.
    pub fn snapshot_batch(&self, ts: i64, mut out: impl FnMut(Applied)) {
        let flags = FLAG_SNAPSHOT
            | if self.reliable && !self.in_snapshot {
                0
            } else {
                FLAG_UNRELIABLE
            };
        match &self.book {
            Book::L2(book) => {
                let id = self.last_id;
                let level = |side, price, size, flags| BookLevel {
                    exchange_ts: ts,
                    local_ts: ts,
                    side,
                    flags,
                    price,
                    size,
                    first_update_id: id,
                    last_update_id: id,
                    prev_update_id: 0,
                    checksum: 0,
                };
                let all: Vec<(BookSide, Level)> = book
                    .bids()
                    .map(|l| (BookSide::Bid, l))
                    .chain(book.asks().map(|l| (BookSide::Ask, l)))
                    .collect();
                let last = |i: usize| if i + 1 == all.len() { FLAG_LAST } else { 0 };
                out(Applied::Level(level(
                    BookSide::None,
                    0,
                    0,
                    flags | if all.is_empty() { FLAG_LAST } else { 0 },
                )));
                for (i, (side, (p, s))) in all.iter().enumerate() {
                    out(Applied::Level(level(*side, *p, *s, flags | last(i))));
                }
                for (_, r) in &self.pending {
                    out(Applied::Level(*r));
                }
            }
            Book::L3(book) => {
                let ev = |action, side, price, size, order_id, flags| OrderEvent {
                    exchange_ts: ts,
                    local_ts: ts,
                    action,
                    side,
                    flags,
                    price,
                    size,
                    order_id,
                    sequence: 0,
                };
                let mut all = Vec::new();
                for side in [BookSide::Bid, BookSide::Ask] {
                    for (price, _) in book.levels(side) {
                        for o in book.queue(side, price) {
                            all.push(ev(Action::Add, side, price, o.size, o.id, 0));
                        }
                    }
                }
                // Size no known order accounts for goes out as order id 0,
                // which `L3Book::add` takes as unattributed size.
                for side in [BookSide::Bid, BookSide::Ask] {
                    for (price, size) in book.unattributed(side) {
                        all.push(ev(Action::Add, side, price, size, 0, 0));
                    }
                }
                out(Applied::Order(ev(
                    Action::Clear,
                    BookSide::None,
                    0,
                    0,
                    0,
                    flags | if all.is_empty() { FLAG_LAST } else { 0 },
                )));
                let n = all.len();
                for (i, mut e) in all.into_iter().enumerate() {
                    e.flags = flags | if i + 1 == n { FLAG_LAST } else { 0 };
                    out(Applied::Order(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(ids: (u64, u64, u64), price: i64, flags: u8) -> BookLevel {
        BookLevel {
            exchange_ts: 1,
            local_ts: 1,
            side: BookSide::Bid,
            flags: flags | FLAG_LAST,
            price,
            size: price,
            first_update_id: ids.0,
            last_update_id: ids.1,
            prev_update_id: ids.2,
            checksum: 0,
        }
    }

    fn run(recs: &[BookLevel]) -> (Replay, Vec<Applied>) {
        let mut r = Replay::new(BookKind::L2);
        let mut out = Vec::new();
        for (i, l) in recs.iter().enumerate() {
            r.apply_level(i as u64, l, &mut |_, a| out.push(a));
        }
        (r, out)
    }

    #[test]
    fn spot_diffs_before_the_snapshot_are_kept_and_the_covering_one_applied() {
        let (r, out) = run(&[
            diff((1, 5, 0), 10, 0),
            diff((6, 9, 0), 11, 0),
            diff((10, 14, 0), 12, 0),
            diff((10, 10, 0), 50, FLAG_SNAPSHOT), // lastUpdateId 10
            diff((15, 20, 0), 13, 0),
        ]);
        assert!(r.is_reliable());
        assert_eq!(r.phase(), Phase::Synced);
        assert_eq!(r.last_update_id(), 20);
        // The snapshot replaced the book; 10..14 covered 11 and was applied after it.
        assert_eq!(
            r.l2().unwrap().bids().collect::<Vec<_>>(),
            [(50, 50), (13, 13), (12, 12)]
        );
        assert_eq!(r.gaps(), 0);
        assert!(out.iter().all(|a| !matches!(a, Applied::Gap(_))));
    }

    #[test]
    fn spot_gap_is_reported_and_the_next_snapshot_heals_it() {
        let (r, out) = run(&[
            diff((10, 10, 0), 50, FLAG_SNAPSHOT),
            diff((11, 12, 0), 11, 0),
            diff((12, 12, 0), 99, 0), // a duplicate: dropped
            diff((15, 16, 0), 13, 0), // 13 and 14 are missing
        ]);
        assert_eq!(r.gaps(), 1);
        assert!(!r.is_reliable());
        assert!(out.contains(&Applied::Gap(Gap {
            seq: 3,
            local_ts: 1,
            expected: 13,
            first_update_id: 15,
            last_update_id: 16,
            prev_update_id: 0,
            cause: Cause::MissingUpdate,
        })));
        assert_eq!(r.state().cause, Cause::MissingUpdate);
        assert_eq!(r.l2().unwrap().size_at(BookSide::Bid, 99), 0);
        let (r, _) = run(&[
            diff((10, 10, 0), 50, FLAG_SNAPSHOT),
            diff((15, 16, 0), 13, 0),
            diff((20, 20, 0), 60, FLAG_SNAPSHOT),
            diff((21, 21, 0), 14, 0),
        ]);
        assert!(r.is_reliable());
        assert_eq!(r.gaps(), 1);
        assert_eq!(
            r.l2().unwrap().bids().collect::<Vec<_>>(),
            [(60, 60), (14, 14)]
        );
    }

    #[test]
    fn futures_diffs_chain_by_previous_id() {
        let (r, _) = run(&[
            diff((10, 10, 0), 50, FLAG_SNAPSHOT),
            diff((3, 8, 2), 1, 0),     // u < lastUpdateId: dropped
            diff((9, 12, 8), 11, 0),   // U <= 10 <= u: the first applied
            diff((14, 15, 12), 12, 0), // pu == previous u (U may skip)
        ]);
        assert!(r.is_reliable());
        assert_eq!(r.gaps(), 0);
        assert_eq!(r.last_update_id(), 15);
        assert_eq!(r.l2().unwrap().size_at(BookSide::Bid, 1), 0);
        let (r, out) = run(&[
            diff((10, 10, 0), 50, FLAG_SNAPSHOT),
            diff((9, 12, 8), 11, 0),
            diff((16, 18, 14), 12, 0), // pu 14 is not 12
        ]);
        assert_eq!(r.gaps(), 1);
        assert!(matches!(out.last(), Some(Applied::Level(_))));
        assert!(out
            .iter()
            .any(|a| matches!(a, Applied::Gap(g) if g.expected == 12)));
    }

    fn level(side: BookSide, price: i64, flags: u8, ts: i64) -> BookLevel {
        BookLevel {
            exchange_ts: ts,
            local_ts: ts,
            side,
            flags,
            price,
            size: 1,
            first_update_id: 0,
            last_update_id: 0,
            prev_update_id: 0,
            checksum: 0,
        }
    }

    #[test]
    fn a_crossed_book_and_a_snapshot_cut_short_are_gaps_with_their_cause() {
        let mut gaps = Vec::new();
        let mut r = Replay::new(BookKind::L2);
        assert_eq!(r.state().cause, Cause::NoSnapshot);
        let mut emit = |_, a| {
            if let Applied::Gap(g) = a {
                gaps.push(g.cause);
            }
        };
        r.apply_level(0, &level(BookSide::Bid, 100, FLAG_SNAPSHOT, 5), &mut emit);
        r.apply_level(
            1,
            &level(BookSide::Ask, 101, FLAG_SNAPSHOT | FLAG_LAST, 5),
            &mut emit,
        );
        assert_eq!(
            r.state(),
            BookState {
                reliable: true,
                since: 5,
                cause: Cause::NoSnapshot
            }
        );
        // A bid above the best ask, at the end of an event.
        r.apply_level(2, &level(BookSide::Bid, 102, FLAG_LAST, 7), &mut emit);
        assert!(!r.is_reliable());
        assert_eq!((r.state().since, r.state().cause), (7, Cause::CrossedBook));
        // A new snapshot heals it; one cut short (no last record) does not.
        r.apply_level(3, &level(BookSide::Bid, 100, FLAG_SNAPSHOT, 8), &mut emit);
        r.apply_level(
            4,
            &level(BookSide::Ask, 101, FLAG_SNAPSHOT | FLAG_LAST, 8),
            &mut emit,
        );
        assert!(r.is_reliable());
        r.apply_level(5, &level(BookSide::Bid, 99, FLAG_SNAPSHOT, 9), &mut emit);
        r.apply_level(6, &level(BookSide::Bid, 98, FLAG_LAST, 10), &mut emit);
        assert_eq!(
            (r.is_reliable(), r.state().cause),
            (false, Cause::SnapshotCutShort)
        );
        assert_eq!(r.gaps(), 2);
        assert_eq!(gaps, [Cause::CrossedBook, Cause::SnapshotCutShort]);
    }
}
