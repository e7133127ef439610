//! Scheduled rotation: a room with a log moves to a fresh epoch after we
//! sent so many messages in one, or once the epoch is so old, so a stolen
//! chain state reads little of what follows it (forward secrecy is per
//! message, healing after a theft is per rotation).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Room;
use crate::when::{DAY, parse_duration_ms};

/// When a room rotates on its own (`sotto room rotate-after`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RotateAfter {
    /// After we sent this many messages in one epoch.
    Messages(u64),
    /// Once the epoch is this old (ms).
    Age(u64),
    /// Only when membership changes.
    Never,
}

/// The default: a week, as Megolm's default session lifetime, or 1000
/// messages of ours, whichever comes first.
pub const DEFAULT_ROTATE_AFTER_MESSAGES: u64 = 1000;
/// See [`DEFAULT_ROTATE_AFTER_MESSAGES`].
pub const DEFAULT_ROTATE_AFTER_AGE_MS: u64 = 7 * DAY;

/// How far apart members' scheduled rotations of one epoch are spread (by
/// fingerprint), so they rarely commit one at the same moment.
const SPREAD_MS: u64 = 10 * 60 * 1000;

/// Why a rotation schedule was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not a rotation schedule; write a number of messages (1000), a duration (7d) or never"
)]
pub struct BadRotateAfter(pub String);

impl FromStr for RotateAfter {
    type Err = BadRotateAfter;

    fn from_str(text: &str) -> Result<Self, BadRotateAfter> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("never") {
            return Ok(Self::Never);
        }
        let bad = || BadRotateAfter(text.to_owned());
        if text.chars().all(|c| c.is_ascii_digit()) {
            return match text.parse() {
                Ok(0) | Err(_) => Err(bad()),
                Ok(count) => Ok(Self::Messages(count)),
            };
        }
        match parse_duration_ms(text) {
            Ok(0) | Err(_) => Err(bad()),
            Ok(ms) => Ok(Self::Age(ms)),
        }
    }
}

impl fmt::Display for RotateAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Messages(count) => write!(f, "after {count} messages of yours"),
            Self::Age(ms) => write!(f, "every {}", crate::when::describe_span(*ms)),
            Self::Never => f.write_str("only when membership changes"),
        }
    }
}

impl Room {
    /// The room's rotation schedule; `None` for the default (see
    /// [`DEFAULT_ROTATE_AFTER_MESSAGES`]).
    pub fn rotate_after(&self) -> Option<RotateAfter> {
        self.log.rotate_after
    }

    /// Sets the rotation schedule (local to this member; any member may
    /// rotate).
    pub fn set_rotate_after(&mut self, schedule: RotateAfter) {
        self.log.rotate_after = Some(schedule);
    }

    /// Whether we should commit a rotation now: a full member of a room
    /// with a log whose schedule says the epoch has served its time.
    pub fn rotation_due(&self, now_ms: u64) -> bool {
        let Some(state) = self.log.state.as_ref() else {
            return false;
        };
        if !self.is_member_now() {
            return false;
        }
        let sent = (self.log.sending.iter())
            .find(|(epoch, _)| *epoch == self.epoch)
            .map_or(0, |(_, chain)| chain.next_seq().saturating_sub(1));
        let spread = u64::from_be_bytes(self.own.0[..8].try_into().unwrap_or([0; 8])) % SPREAD_MS;
        let old_after =
            |age: u64| now_ms >= state.head_ms.saturating_add(age).saturating_add(spread);
        match self.log.rotate_after {
            None => sent >= DEFAULT_ROTATE_AFTER_MESSAGES || old_after(DEFAULT_ROTATE_AFTER_AGE_MS),
            Some(RotateAfter::Messages(count)) => sent >= count,
            Some(RotateAfter::Age(age)) => old_after(age),
            Some(RotateAfter::Never) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use crate::protocol::message::Body;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn schedules_parse_from_a_count_a_duration_or_never() {
        assert_eq!("1000".parse(), Ok(RotateAfter::Messages(1000)));
        assert_eq!("7d".parse(), Ok(RotateAfter::Age(7 * DAY)));
        assert_eq!("never".parse(), Ok(RotateAfter::Never));
        for bad in ["0", "0d", "soon", "", "-3"] {
            assert!(bad.parse::<RotateAfter>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_room_is_due_after_its_count_or_its_age() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let alice = Identity::generate("alice", &mut rng).unwrap();
        let mut room = Room::found("ops", &alice, 1_000, &mut rng).unwrap();
        assert!(!room.rotation_due(1_000));
        assert!(room.rotation_due(1_000 + DEFAULT_ROTATE_AFTER_AGE_MS + SPREAD_MS));
        room.set_rotate_after(RotateAfter::Messages(2));
        room.seal_message(&alice, Body::Text("a".into()), 2_000, &mut rng)
            .unwrap();
        assert!(!room.rotation_due(2_000));
        room.seal_message(&alice, Body::Text("b".into()), 2_000, &mut rng)
            .unwrap();
        assert!(room.rotation_due(2_000));
        room.set_rotate_after(RotateAfter::Never);
        assert!(!room.rotation_due(u64::MAX));
        let legacy = Room::create("old", &alice.public(), 0, &mut rng).unwrap();
        assert!(!legacy.rotation_due(u64::MAX));
    }
}
