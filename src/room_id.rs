//! What names a room: its secret id and the rules for its local label.
//!
//! Kept apart from [`crate::room`] so the wire format ([`crate::protocol`])
//! and invites ([`crate::invite`]) can name a room without depending on the
//! room state that is built on top of them.

use std::fmt;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

/// Longest room name, in bytes.
pub const MAX_ROOM_NAME_LEN: usize = 64;

/// A room's secret 128-bit id. Only members know it; topics are derived
/// from it (and from the epoch key) so the broker never sees it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RoomId(#[serde(with = "crate::hex::array")] pub [u8; 16]);

impl RoomId {
    /// A fresh random id.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        Self(id)
    }

    /// Hex form, used for the state file name.
    pub fn to_hex(&self) -> String {
        crate::hex::encode(&self.0)
    }
}

impl fmt::Debug for RoomId {
    /// Shows only a prefix: the id is a room secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RoomId({}…)", crate::hex::encode(&self.0[..3]))
    }
}

/// Why a room name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "room names are 1 to {MAX_ROOM_NAME_LEN} characters without spaces at the ends or control characters"
)]
pub struct RoomNameError;

/// Checks a room name: printable, trimmed, short.
pub fn validate_room_name(name: &str) -> Result<(), RoomNameError> {
    let ok = !name.is_empty()
        && name.len() <= MAX_ROOM_NAME_LEN
        && name.trim() == name
        && !name.chars().any(char::is_control);
    if ok { Ok(()) } else { Err(RoomNameError) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_validated() {
        assert!(validate_room_name("ops").is_ok());
        assert!(validate_room_name("").is_err());
        assert!(validate_room_name("a\nb").is_err());
        assert!(validate_room_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn debug_output_shows_only_a_prefix_of_the_id() {
        let shown = format!("{:?}", RoomId([0xab; 16]));
        assert_eq!(shown, "RoomId(ababab…)");
    }
}
