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
//!
//! A message may also declare numbers its sender allocated and then never
//! sent ([`ReplayWindow::accept_declaring`]): those are never counted as
//! missed, and they are marked as received, so a payload claiming one of
//! them later is refused as a duplicate.

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

/// An inclusive range of sequence numbers, `first..=last`: on the wire,
/// the numbers a message declares its sender skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqRange {
    /// The lowest number in the range.
    pub first: u64,
    /// The highest number in the range (at least `first`).
    pub last: u64,
}

impl SeqRange {
    /// How many numbers of this range lie in `low..=high` (0 for an empty
    /// intersection, or a malformed range).
    pub(crate) fn count_within(self, low: u64, high: u64) -> u64 {
        let (from, to) = (self.first.max(low), self.last.min(high));
        if from > to { 0 } else { to - from + 1 }
    }
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
        self.accept_declaring(seq, &[])
    }

    /// Records `seq` if [`check`](Self::check) allows it, together with
    /// the numbers its sender declares it allocated and never sent.
    ///
    /// `declared` must be sorted, disjoint and below `seq` (as
    /// [`crate::protocol::message::open`] guarantees); a list that is not
    /// can only make the reported gap smaller, never mark `seq` itself.
    /// Declared numbers are not counted in [`Accepted::skipped`], and
    /// those inside the window are marked received, so a later payload
    /// claiming one is a duplicate. A declaration that arrives after its
    /// gap was reported (a late message, or one after
    /// [`skip_to`](Self::skip_to)) only marks the numbers: a gap is never
    /// counted twice, and never taken back.
    pub fn accept_declaring(
        &mut self,
        seq: u64,
        declared: &[SeqRange],
    ) -> Result<Accepted, ReplayError> {
        self.check(seq)?;
        let mut skipped = 0;
        if seq > self.highest {
            if self.highest > 0 {
                // The gap is every number strictly between the old top
                // and `seq`, less the ones the sender says it never used.
                let gap = seq - self.highest - 1;
                let excused: u64 = declared
                    .iter()
                    .map(|range| range.count_within(self.highest + 1, seq - 1))
                    .sum();
                skipped = gap.saturating_sub(excused);
            }
            self.shift(seq - self.highest);
            self.highest = seq;
        }
        // A number at or below the old top is a late arrival inside the
        // window: it was counted as skipped when the gap opened, which is
        // the honest report at that time.
        self.set_bit(self.highest - seq);
        let oldest = self.highest.saturating_sub(WINDOW - 1).max(1);
        for range in declared {
            let (from, to) = (range.first.max(oldest), range.last.min(self.highest));
            for number in from..=to {
                self.set_bit(self.highest - number);
            }
        }
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

    fn range(first: u64, last: u64) -> SeqRange {
        SeqRange { first, last }
    }

    #[test]
    fn declared_numbers_are_not_missed_and_cannot_be_claimed_later() {
        let mut window = ReplayWindow::default();
        window.accept(1).unwrap();
        // 2 and 3 were allocated and abandoned; 4 was really lost.
        assert_eq!(
            window.accept_declaring(5, &[range(2, 3)]),
            Ok(Accepted { skipped: 1 })
        );
        assert_eq!(window.accept(2), Err(ReplayError::Duplicate(2)));
        assert_eq!(window.accept(3), Err(ReplayError::Duplicate(3)));
        // The lost one may still turn up late, once.
        assert_eq!(window.accept(4), Ok(Accepted::default()));
        assert_eq!(window.accept(4), Err(ReplayError::Duplicate(4)));
        // A whole gap declared: nothing missed.
        assert_eq!(
            window.accept_declaring(9, &[range(6, 6), range(7, 8)]),
            Ok(Accepted { skipped: 0 })
        );
    }

    #[test]
    fn the_first_message_may_declare_numbers_and_ranges_may_reach_past_the_window() {
        let mut window = ReplayWindow::default();
        assert_eq!(
            window.accept_declaring(3, &[range(1, 2)]),
            Ok(Accepted::default())
        );
        assert_eq!(window.accept(1), Err(ReplayError::Duplicate(1)));
        assert_eq!(
            window.accept_declaring(1000, &[range(4, 998)]),
            Ok(Accepted { skipped: 1 })
        );
        assert_eq!(window.accept(998), Err(ReplayError::Duplicate(998)));
        assert_eq!(
            window.accept(1001 - WINDOW),
            Err(ReplayError::Duplicate(1001 - WINDOW))
        );
        assert_eq!(
            window.accept(1000 - WINDOW),
            Err(ReplayError::TooOld(1000 - WINDOW))
        );
        assert_eq!(window.accept(999), Ok(Accepted::default()));
    }

    #[test]
    fn a_declaration_arriving_after_its_gap_was_reported_counts_nothing_twice() {
        // Message 6 revealed 2..=5 as missing; 5, late, says 2 and 3 were
        // never sent. The report stands; the numbers are closed.
        let mut window = ReplayWindow::default();
        window.accept(1).unwrap();
        assert_eq!(window.accept(6), Ok(Accepted { skipped: 4 }));
        assert_eq!(
            window.accept_declaring(5, &[range(2, 3)]),
            Ok(Accepted::default())
        );
        assert_eq!(window.accept(2), Err(ReplayError::Duplicate(2)));
        assert_eq!(window.accept(4), Ok(Accepted::default()));
        assert_eq!(window.accept(7), Ok(Accepted::default()));

        // The same after an announced gap was passed over with skip_to.
        let mut window = ReplayWindow::default();
        window.accept(1).unwrap();
        assert_eq!(window.skip_to(4), 3);
        assert_eq!(
            window.accept_declaring(5, &[range(2, 4)]),
            Ok(Accepted::default())
        );
        assert_eq!(window.accept(3), Err(ReplayError::Duplicate(3)));
    }

    proptest! {
        /// Against a model that remembers everything, with declarations:
        /// a jump reports exactly the numbers between the old top and the
        /// new one that were not declared, declared numbers are never
        /// accepted afterwards, and nothing is accepted twice.
        #[test]
        fn declarations_match_the_set_model(
            steps in proptest::collection::vec(
                (1u64..600, proptest::collection::vec((0u64..600, 0u64..8), 0..4)),
                1..300,
            )
        ) {
            let mut window = ReplayWindow::default();
            let mut seen = BTreeSet::new();
            let mut top = 0;
            for (seq, raw) in steps {
                // Sorted, disjoint ranges below seq, as the decoder allows.
                let mut declared: Vec<SeqRange> = Vec::new();
                let mut starts: Vec<(u64, u64)> = raw;
                starts.sort();
                for (first, len) in starts {
                    let first = first.max(1);
                    let last = (first + len).min(seq.saturating_sub(1));
                    let after = declared.last().map_or(0, |r| r.last);
                    if first > after && first <= last {
                        declared.push(range(first, last));
                    }
                }
                let fresh = !seen.contains(&seq);
                let in_range = seq + WINDOW > top;
                let result = window.accept_declaring(seq, &declared);
                prop_assert_eq!(result.is_ok(), fresh && in_range, "seq {}", seq);
                let Ok(accepted) = result else { continue };
                let expected = if top == 0 || seq <= top {
                    0
                } else {
                    (top + 1..seq)
                        .filter(|n| !declared.iter().any(|r| r.first <= *n && *n <= r.last))
                        .count() as u64
                };
                prop_assert_eq!(accepted.skipped, expected);
                seen.insert(seq);
                for r in &declared {
                    seen.extend(r.first..=r.last);
                }
                top = top.max(seq);
                prop_assert_eq!(window.highest(), top);
            }
        }

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
