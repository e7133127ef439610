//! A sliding window over one sender's sequence numbers: accepts each number
//! once, remembers the last [`WINDOW`] numbers, and reports how many were
//! skipped (messages the broker dropped or never delivered).
//!
//! Serialisable, so the window survives restarts of the receiver and a
//! captured payload replayed tomorrow is still refused.
//!
//! The window can also be moved forward past numbers that never arrived
//! ([`ReplayWindow::skip_to`]), when the sender announces having used them:
//! the gap is then reported once, and the numbers stay acceptable while
//! they are inside the window in case they were only late.

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

/// The window: its top (the highest number accepted or skipped to) and a
/// bitmap of which of the [`WINDOW`] numbers at and below the top were
/// accepted (bit 0 is the top itself).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayWindow {
    highest: u64,
    seen: [u64; 4],
}

impl ReplayWindow {
    /// The top of the window: the highest sequence number accepted or
    /// skipped to so far (0 before any). Every number above it is new;
    /// every gap below it has been counted once already.
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

    /// Moves the top of the window up to `seq` without recording `seq` as
    /// received: the sender says it used the numbers up to `seq`, and the
    /// ones above the old top never arrived. Returns how many numbers that
    /// passes over (0 when `seq` is not above the top, which changes
    /// nothing).
    ///
    /// The numbers passed over are not marked seen, so one that was only
    /// late is still accepted once while it is inside the window (like any
    /// late arrival after a gap); a later number is judged against `seq`,
    /// so the same gap is never counted twice.
    pub fn skip_to(&mut self, seq: u64) -> u64 {
        if seq <= self.highest {
            return 0;
        }
        let passed = seq - self.highest;
        self.shift(passed);
        self.highest = seq;
        passed
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

    #[test]
    fn skipping_counts_a_gap_once_and_keeps_late_numbers_acceptable() {
        let mut window = ReplayWindow::default();
        window.accept(1).unwrap();
        window.accept(2).unwrap();
        assert_eq!(window.skip_to(10), 8);
        assert_eq!(window.skip_to(10), 0);
        assert_eq!(window.skip_to(4), 0);
        assert_eq!(window.highest(), 10);
        // Late arrivals at and below the new top are still taken, once.
        assert_eq!(window.accept(10), Ok(Accepted::default()));
        assert_eq!(window.accept(5), Ok(Accepted::default()));
        assert_eq!(window.accept(5), Err(ReplayError::Duplicate(5)));
        assert_eq!(window.accept(2), Err(ReplayError::Duplicate(2)));
        // The next number is judged against the skipped-to top.
        assert_eq!(window.accept(11), Ok(Accepted { skipped: 0 }));
        assert_eq!(window.accept(14), Ok(Accepted { skipped: 2 }));
        // A skip beyond the window forgets everything below it.
        assert_eq!(window.skip_to(14 + WINDOW), WINDOW);
        assert_eq!(window.accept(14), Err(ReplayError::TooOld(14)));
        assert_eq!(window.accept(15), Ok(Accepted::default()));
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

        /// The same model with skips mixed in: a skip raises the top and
        /// marks nothing, and every number up to the final top is counted
        /// exactly once, as received, skipped over by a message, or passed
        /// over by a skip.
        #[test]
        fn skips_match_the_set_model(
            steps in proptest::collection::vec((any::<bool>(), 1u64..600), 1..400)
        ) {
            let mut window = ReplayWindow::default();
            let mut seen = BTreeSet::new();
            let mut top = 0;
            let mut counted = 0;
            for (skip, seq) in steps {
                if skip {
                    let passed = window.skip_to(seq);
                    prop_assert_eq!(passed, seq.saturating_sub(top));
                    counted += passed;
                    top = top.max(seq);
                    continue;
                }
                let fresh = !seen.contains(&seq);
                let in_range = seq + WINDOW > top;
                let result = window.accept(seq);
                prop_assert_eq!(result.is_ok(), fresh && in_range, "seq {}", seq);
                if let Ok(accepted) = result {
                    seen.insert(seq);
                    if seq > top {
                        // The very first number is a starting point, not
                        // the end of a gap.
                        counted += if top == 0 { seq } else { accepted.skipped + 1 };
                        top = seq;
                    }
                }
                prop_assert_eq!(window.highest(), top);
            }
            prop_assert_eq!(counted, top);
        }
    }
}
