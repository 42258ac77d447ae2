//! The one retry backoff of EventStore, shared by the uploader and the
//! poller (a failed request to the remote) and by the client (a lost
//! connection): delays that double from `initial` up to `max`, each with
//! up to a quarter of itself taken off at random, so that many clients
//! that failed together do not retry together.
//!
//! ```
//! use eventstore_backoff::Backoff;
//! use std::time::Duration;
//! let mut b = Backoff::new(Duration::from_millis(20), Duration::from_secs(1));
//! let first = b.next_delay();
//! assert!(first <= Duration::from_millis(20) && first >= Duration::from_millis(15));
//! b.reset(); // after a success
//! ```

#![deny(unsafe_code)]

use std::time::Duration;

/// Exponential delays with a cap and jitter.
#[derive(Clone, Debug)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    /// State of the jitter's generator (xorshift), seeded per value.
    seed: u64,
}

impl Backoff {
    /// Delays from `initial`, doubling up to `max`.
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            // A per-process random seed from the standard library's keys.
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(initial.as_nanos() as u64);
            h.finish() | 1
        };
        Backoff {
            initial,
            max: max.max(initial),
            next: initial,
            seed,
        }
    }

    /// For a remote's requests: from 100 ms up to 10 s.
    pub fn remote() -> Backoff {
        Backoff::new(Duration::from_millis(100), Duration::from_secs(10))
    }

    /// For a client's reconnects: from 20 ms up to 1 s.
    pub fn reconnect() -> Backoff {
        Backoff::new(Duration::from_millis(20), Duration::from_secs(1))
    }

    /// The delay before the next attempt; the one after it is twice as
    /// long (up to the cap).
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        self.seed ^= self.seed << 13;
        self.seed ^= self.seed >> 7;
        self.seed ^= self.seed << 17;
        // Take off up to a quarter, at random.
        let quarter = d.as_nanos() as u64 / 4;
        d - Duration::from_nanos(if quarter == 0 {
            0
        } else {
            self.seed % (quarter + 1)
        })
    }

    /// Start again from `initial` (after a success).
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap_with_at_most_a_quarter_off() {
        let ms = Duration::from_millis;
        let mut b = Backoff::new(ms(100), ms(1000));
        let nominal = [100, 200, 400, 800, 1000, 1000, 1000];
        for n in nominal {
            let d = b.next_delay();
            assert!(d <= ms(n) && d >= ms(n) * 3 / 4, "{d:?} for {n} ms");
        }
        b.reset();
        assert!(b.next_delay() <= ms(100));
    }

    #[test]
    fn a_cap_below_the_start_is_the_start() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(1));
        assert!(b.next_delay() <= Duration::from_secs(2));
        assert!(b.next_delay() <= Duration::from_secs(2));
    }
}
