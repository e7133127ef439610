//! The secret behind one epoch of a room with a membership log, and the
//! keys derived from it.
//!
//! ```text
//! epoch_key(e)      = HKDF-SHA-256(ikm = secret, salt = room_id, info = EPOCH_KEY_LABEL || e)
//! chain_key(e, fp)  = HKDF-SHA-256(ikm = secret, salt = room_id, info = CHAIN_KEY_LABEL || e || fp)
//! ```
//!
//! The secret is what a key slot carries. A member derives the epoch key
//! (kept for the epoch and a few after it: topics, presence, commits, the
//! outer layer of messages) and one chain key per member of the epoch
//! (the start of each sender's hash ratchet, see [`crate::ratchet`]), then
//! drops the secret. Nothing kept derives a chain's start, so whoever
//! steals a member's state later opens no message that member already
//! received: that is forward secrecy inside an epoch.

use rand_core::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::crypto;
use crate::identity::Fingerprint;
use crate::ratchet::ChainKey;
use crate::room_id::RoomId;
use crate::secret::SymmetricKey;

/// HKDF info for an epoch's key.
pub const EPOCH_KEY_LABEL: &str = "sotto/v1/epoch/key";
/// HKDF info for a member's chain key in an epoch.
pub const CHAIN_KEY_LABEL: &str = "sotto/v1/epoch/chain";

/// The secret a commit's key slots carry for the epoch it starts. Wiped
/// when dropped; never written to the store once its keys are derived.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct EpochSecret([u8; 32]);

impl EpochSecret {
    /// A fresh secret, for a commit of ours.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// A secret from its bytes (as a key slot carries them).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw bytes, for sealing into a key slot.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The key of epoch `epoch` of room `room_id`.
    pub fn epoch_key(&self, room_id: &RoomId, epoch: u64) -> SymmetricKey {
        crypto::derive_key(&self.0, &room_id.0, EPOCH_KEY_LABEL, &epoch.to_be_bytes())
    }

    /// Where `member`'s hash ratchet starts in epoch `epoch`.
    pub fn chain_key(&self, room_id: &RoomId, epoch: u64, member: &Fingerprint) -> ChainKey {
        let context = [&epoch.to_be_bytes()[..], &member.0].concat();
        let key = crypto::derive_key(&self.0, &room_id.0, CHAIN_KEY_LABEL, &context);
        ChainKey::from_bytes(*key.as_bytes())
    }
}

impl std::fmt::Debug for EpochSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EpochSecret(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_derived_key_differs_by_use_epoch_and_member() {
        let secret = EpochSecret::from_bytes([7; 32]);
        let room = RoomId([1; 16]);
        let alice = Fingerprint([2; 32]);
        let bob = Fingerprint([3; 32]);
        let keys = [
            *secret.epoch_key(&room, 4).as_bytes(),
            *secret.epoch_key(&room, 5).as_bytes(),
            *secret.epoch_key(&RoomId([9; 16]), 4).as_bytes(),
            *secret.chain_key(&room, 4, &alice).as_bytes(),
            *secret.chain_key(&room, 4, &bob).as_bytes(),
            *secret.chain_key(&room, 5, &alice).as_bytes(),
        ];
        for (i, a) in keys.iter().enumerate() {
            for b in &keys[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert_ne!(keys[0], *secret.as_bytes());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let shown = format!("{:?}", EpochSecret::from_bytes([0xab; 32]));
        assert!(!shown.contains("ab"), "{shown}");
    }
}
