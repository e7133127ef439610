//! A sliding window over one sender's sequence numbers: accepts each number
//! once, remembers the last [`WINDOW`] numbers, and reports how many were
//! skipped (messages the broker dropped or never delivered).
//!
//! Serialisable, so the window survives restarts of the receiver and a
//! captured payload replayed tomorrow is still refused.

use serde::{Deserialize, Serialize};

/// How many sequence numbers behind the highest one are still tracked.
/// Later numbers arrive in order on one MQTT topic, so reordering is rare;
/// the window only has to cover QoS 1 redeliveries and retries.
pub const WINDOW: u64 = 256;

/// Why a sequence number was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    /// This number was accepted before.
    #[error("sequence number {0} was already received")]
    Duplicate(u64),
    /// Too far behind the newest number to tell; refused to be safe.
    #[error("sequence number {0} is older than the replay window")]
    TooOld(u64),
    /// Zero is never used by senders (they start at 1).
    #[error("sequence number 0 is invalid")]
    Zero,
}

/// What accepting a sequence number revealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accepted {
    /// How many numbers between the previous highest and this one were
    /// never seen (0 when the sender's messages arrive without gaps).
    pub skipped: u64,
}

/// The window: the highest number accepted and a bitmap of the
/// [`WINDOW`] numbers at and below it (bit 0 is `highest`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayWindow {
    highest: u64,
    seen: [u64; 4],
}

impl ReplayWindow {
    /// The highest sequence number accepted so far (0 before any).
    pub fn highest(&self) -> u64 {
        self.highest
    }

    /// Checks `seq` without recording it.
    pub fn check(&self, seq: u64) -> Result<(), ReplayError> {
        if seq == 0 {
            return Err(ReplayError::Zero);
        }
        if seq > self.highest {
            return Ok(());
        }
        let behind = self.highest - seq;
        if behind >= WINDOW {
            return Err(ReplayError::TooOld(seq));
        }
        if self.bit(behind) {
            Err(ReplayError::Duplicate(seq))
        } else {
            Ok(())
        }
    }

    /// Records `seq` if [`check`](Self::check) allows it.
    pub fn accept(&mut self, seq: u64) -> Result<Accepted, ReplayError> {
        self.check(seq)?;
        if seq <= self.highest {
            // A late arrival inside the window: it was counted as skipped
            // when the gap opened, which is the honest report at that time.
            self.set_bit(self.highest - seq);
            return Ok(Accepted::default());
        }
        let skipped = if self.highest == 0 {
            0
        } else {
            seq - self.highest - 1
        };
        self.shift(seq - self.highest);
        self.highest = seq;
        self.set_bit(0);
        Ok(Accepted { skipped })
    }

    fn bit(&self, behind: u64) -> bool {
        let (word, bit) = ((behind / 64) as usize, behind % 64);
        self.seen[word] >> bit & 1 == 1
    }

    fn set_bit(&mut self, behind: u64) {
        let (word, bit) = ((behind / 64) as usize, behind % 64);
        self.seen[word] |= 1 << bit;
    }

    /// Moves every bit `by` places towards "older", dropping what falls out.
    fn shift(&mut self, by: u64) {
        if by >= WINDOW {
            self.seen = [0; 4];
            return;
        }
        let (words, bits) = ((by / 64) as usize, (by % 64) as u32);
        let old = self.seen;
        for i in (0..4).rev() {
            let mut value = 0;
            if i >= words {
                value = old[i - words] << bits;
                if bits > 0 && i > words {
                    value |= old[i - words - 1] >> (64 - bits);
                }
            }
            self.seen[i] = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    #[test]
    fn in_order_numbers_are_accepted_once() {
        let mut window = ReplayWindow::default();
        for seq in 1..=1000 {
            assert_eq!(window.accept(seq), Ok(Accepted { skipped: 0 }));
            assert_eq!(window.accept(seq), Err(ReplayError::Duplicate(seq)));
        }
    }

    #[test]
    fn replay_inside_the_window_is_a_duplicate() {
        let mut window = ReplayWindow::default();
        for seq in 1..=100 {
            window.accept(seq).unwrap();
        }
        assert_eq!(window.accept(50), Err(ReplayError::Duplicate(50)));
        assert_eq!(window.accept(100), Err(ReplayError::Duplicate(100)));
    }

    #[test]
    fn replay_outside_the_window_is_refused_as_too_old() {
        let mut window = ReplayWindow::default();
        window.accept(1).unwrap();
        window.accept(1000).unwrap();
        assert_eq!(window.accept(1), Err(ReplayError::TooOld(1)));
        assert_eq!(
            window.accept(1000 - WINDOW),
            Err(ReplayError::TooOld(1000 - WINDOW))
        );
        assert_eq!(window.accept(1001 - WINDOW), Ok(Accepted::default()));
    }

    #[test]
    fn gaps_are_counted_and_late_arrivals_still_accepted_once() {
        let mut window = ReplayWindow::default();
        window.accept(1).unwrap();
        assert_eq!(window.accept(5), Ok(Accepted { skipped: 3 }));
        assert_eq!(window.accept(3), Ok(Accepted::default()));
        assert_eq!(window.accept(3), Err(ReplayError::Duplicate(3)));
        assert_eq!(window.accept(0), Err(ReplayError::Zero));
    }

    #[test]
    fn the_window_survives_serialisation() {
        let mut window = ReplayWindow::default();
        for seq in [1, 2, 3, 70, 200] {
            window.accept(seq).unwrap();
        }
        let json = serde_json::to_string(&window).unwrap();
        let mut back: ReplayWindow = serde_json::from_str(&json).unwrap();
        for seq in [1, 2, 3, 70, 200] {
            assert_eq!(back.accept(seq), Err(ReplayError::Duplicate(seq)));
        }
        assert!(back.accept(4).is_ok());
    }

    proptest! {
        /// Against a model that remembers everything: the window never
        /// accepts a number twice, and accepts every new number that is
        /// within WINDOW of the highest.
        #[test]
        fn matches_a_set_model(seqs in proptest::collection::vec(1u64..600, 1..400)) {
            let mut window = ReplayWindow::default();
            let mut seen = BTreeSet::new();
            let mut highest = 0;
            for seq in seqs {
                let fresh = !seen.contains(&seq);
                let in_range = seq + WINDOW > highest;
                let result = window.accept(seq);
                prop_assert_eq!(result.is_ok(), fresh && in_range, "seq {}", seq);
                if result.is_ok() {
                    seen.insert(seq);
                    highest = highest.max(seq);
                }
            }
        }
    }
}
