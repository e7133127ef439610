//! The crypto floor: the per-message work that any chat which signs and
//! encrypts every message must do, and nothing more. The sender signs the
//! text (bound to a room, an epoch and a sequence number, as sotto binds
//! them) with Ed25519 and seals text and signature with
//! XChaCha20-Poly1305 under a random nonce; the receiver opens, checks the
//! signature with `verify_strict` and acknowledges.
//!
//! No storage, replay window, ratchet, membership or encoding library: the
//! payload is laid out by hand, and the sender's verifying key is
//! decompressed once, not per message. Not a protocol (nothing here is
//! checked against replay); only a yardstick.
//!
//! ```text
//! epoch (8 bytes) | nonce (24) | ciphertext of [seq (8) | text | signature (64)] + tag (16)
//! ```

use ed25519_dalek::{Signature, VerifyingKey};

use super::BenchError;
use crate::crypto::{self, NONCE_LEN};
use crate::identity::Identity;
use crate::secret::SymmetricKey;

const LABEL: &[u8] = b"sotto-bench/floor";
const EPOCH: u64 = 0;
const SIGNATURE_LEN: usize = 64;

/// What the room's members share: its id and key.
#[derive(Clone)]
struct Shared {
    room_id: [u8; 16],
    key: SymmetricKey,
}

impl Shared {
    fn aad(&self, header: &[u8]) -> Vec<u8> {
        [LABEL, &self.room_id, header].concat()
    }
}

/// The sending side.
pub(super) struct FloorSealer {
    shared: Shared,
    identity: Identity,
}

/// The receiving side: the key it checks signatures with is the sender's.
#[derive(Clone)]
pub(super) struct FloorOpener {
    shared: Shared,
    sender: VerifyingKey,
}

/// A sender and a receiver of one fresh room.
pub(super) fn pair() -> Result<(FloorSealer, FloorOpener), BenchError> {
    let mut rng = rand::rng();
    let identity = Identity::generate("floor", &mut rng)
        .map_err(|err| BenchError::Failed(format!("cannot make the floor's sender: {err}")))?;
    let sender = identity.public().verifying_key().ok_or_else(|| {
        BenchError::Failed("the floor's sender has an invalid verifying key".into())
    })?;
    let mut room_id = [0u8; 16];
    rand::Rng::fill_bytes(&mut rng, &mut room_id);
    let shared = Shared {
        room_id,
        key: SymmetricKey::random(&mut rng),
    };
    let opener = FloorOpener {
        shared: shared.clone(),
        sender,
    };
    Ok((FloorSealer { shared, identity }, opener))
}

impl FloorSealer {
    /// Signs and seals message `seq`.
    pub fn seal(&self, seq: u64, text: &[u8]) -> Vec<u8> {
        let header = EPOCH.to_be_bytes();
        let aad = self.shared.aad(&header);
        let mut plaintext = Vec::with_capacity(8 + text.len() + SIGNATURE_LEN);
        plaintext.extend_from_slice(&seq.to_be_bytes());
        plaintext.extend_from_slice(text);
        let signature = self.identity.sign(&[&aad, &plaintext[..]].concat());
        plaintext.extend_from_slice(&signature.to_bytes());
        let (nonce, ciphertext) =
            crypto::seal(&self.shared.key, &aad, &plaintext, &mut rand::rng());
        [&header[..], &nonce, &ciphertext].concat()
    }
}

impl FloorOpener {
    /// Opens and checks a payload; its sequence number and text.
    pub fn open(&self, payload: &[u8]) -> Result<(u64, Vec<u8>), BenchError> {
        let refused = |why: &str| BenchError::Failed(format!("the floor refused a message: {why}"));
        let (header, rest) = payload
            .split_at_checked(8)
            .ok_or_else(|| refused("too short"))?;
        let (nonce, ciphertext) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or_else(|| refused("too short"))?;
        let nonce: &[u8; NONCE_LEN] = nonce.try_into().map_err(|_| refused("too short"))?;
        let aad = self.shared.aad(header);
        let plaintext = crypto::open(&self.shared.key, nonce, &aad, ciphertext)
            .map_err(|_| refused("it does not decrypt"))?;
        let split = plaintext
            .len()
            .checked_sub(SIGNATURE_LEN)
            .ok_or_else(|| refused("too short"))?;
        let (signed, signature) = plaintext.split_at(split);
        let signature = Signature::from_slice(signature).map_err(|_| refused("bad signature"))?;
        self.sender
            .verify_strict(&[&aad, signed].concat(), &signature)
            .map_err(|_| refused("the signature does not match"))?;
        let (seq, text) = signed
            .split_at_checked(8)
            .ok_or_else(|| refused("too short"))?;
        let seq = u64::from_be_bytes(seq.try_into().map_err(|_| refused("too short"))?);
        Ok((seq, text.to_vec()))
    }
}
