//! A new epoch key sealed to one member: what `kick` publishes to each
//! remaining member's key slot.
//!
//! ```text
//! payload    = header(kind EpochKey, new epoch) || postcard(ephemeral[32], nonce[24], ciphertext)
//! ciphertext = seal_to_member(recipient X25519, aad, content || signature[64])
//! aad        = "sotto/v1/aad" || room_id[16] || header
//! content    = postcard(rotator public identity, recipient fingerprint, epoch key)
//! signature  = Ed25519(rotator, "sotto/v1/epoch-key" || room_id || header || content)
//! ```
//!
//! Only the recipient can open it (ephemeral-static X25519 with a
//! contributory check), and the signature shows which member rotated.

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::OpenError;
use super::sealed::{aad, sign_content, verify_content};
use super::wire::{self, Header, Kind, MAX_ENVELOPE_LEN};
use crate::crypto::{self, CryptoError, NONCE_LEN, SealedToMember};
use crate::identity::{Fingerprint, Identity, PublicIdentity};
use crate::room_id::RoomId;
use crate::secret::SymmetricKey;

pub(crate) const EPOCH_KEY_LABEL: &[u8] = b"sotto/v1/epoch-key";

#[derive(Serialize, Deserialize)]
struct SlotBody {
    #[serde(with = "crate::hex::array")]
    ephemeral: [u8; 32],
    #[serde(with = "crate::hex::array")]
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
struct SlotContent {
    rotator: PublicIdentity,
    recipient: Fingerprint,
    #[serde(with = "crate::hex::array")]
    epoch_key: [u8; 32],
}

impl Drop for SlotContent {
    fn drop(&mut self) {
        self.epoch_key.zeroize();
    }
}

/// An opened key slot: who rotated the room, and the new epoch's key.
#[derive(Debug)]
pub struct EpochKeyGrant {
    /// The member who made the new epoch (signature verified).
    pub rotator: PublicIdentity,
    /// The new epoch number.
    pub epoch: u64,
    /// The new epoch's key.
    pub key: SymmetricKey,
}

/// Seals `key` for epoch `epoch` of `room_id` to `recipient`, signed by
/// `rotator`.
pub fn seal<R: CryptoRng + ?Sized>(
    room_id: &RoomId,
    epoch: u64,
    key: &SymmetricKey,
    rotator: &Identity,
    recipient: &PublicIdentity,
    rng: &mut R,
) -> Result<Vec<u8>, CryptoError> {
    let header = Header::new(Kind::EpochKey, epoch);
    let header_bytes = wire::to_bytes(&header);
    let content = SlotContent {
        rotator: rotator.public(),
        recipient: recipient.fingerprint(),
        epoch_key: *key.as_bytes(),
    };
    let plaintext = sign_content(rotator, EPOCH_KEY_LABEL, room_id, &header_bytes, &content);
    let sealed = crypto::seal_to_member(
        &recipient.agreement_key(),
        &aad(room_id, &header_bytes),
        &plaintext,
        rng,
    )?;
    Ok(wire::encode(
        &header,
        &SlotBody {
            ephemeral: sealed.ephemeral,
            nonce: sealed.nonce,
            ciphertext: sealed.ciphertext,
        },
    ))
}

/// Opens a key slot sealed to `own`; the inverse of [`seal`].
pub fn open(room_id: &RoomId, own: &Identity, bytes: &[u8]) -> Result<EpochKeyGrant, OpenError> {
    let framed = wire::frame(bytes)?;
    if framed.header.kind != Kind::EpochKey {
        return Err(OpenError::WrongKind(framed.header.kind));
    }
    let body: SlotBody = wire::decode_exact(framed.body, MAX_ENVELOPE_LEN)?;
    let sealed = SealedToMember {
        ephemeral: body.ephemeral,
        nonce: body.nonce,
        ciphertext: body.ciphertext,
    };
    let plaintext = crypto::open_from_member(
        own.agreement_secret(),
        &sealed,
        &aad(room_id, framed.header_bytes),
    )?;
    let content: SlotContent = verify_content(
        &plaintext,
        EPOCH_KEY_LABEL,
        room_id,
        framed.header_bytes,
        |c: &SlotContent| &c.rotator,
    )?;
    if content.recipient != own.fingerprint() {
        return Err(OpenError::Forged("the key slot names another recipient"));
    }
    Ok(EpochKeyGrant {
        rotator: content.rotator.clone(),
        epoch: framed.header.epoch,
        key: SymmetricKey::from_bytes(content.epoch_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn people() -> (Identity, Identity, Identity) {
        let mut rng = ChaCha20Rng::seed_from_u64(21);
        (
            Identity::generate("alice", &mut rng).unwrap(),
            Identity::generate("bob", &mut rng).unwrap(),
            Identity::generate("carol", &mut rng).unwrap(),
        )
    }

    #[test]
    fn only_the_recipient_opens_it_and_learns_the_rotator() {
        let (alice, bob, carol) = people();
        let room = RoomId([4; 16]);
        let key = SymmetricKey::from_bytes([6; 32]);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let slot = seal(&room, 2, &key, &alice, &bob.public(), &mut rng).unwrap();
        assert!(!slot.windows(32).any(|w| w == key.as_bytes()));
        let grant = open(&room, &bob, &slot).unwrap();
        assert_eq!((grant.epoch, &grant.key), (2, &key));
        assert_eq!(grant.rotator, alice.public());
        assert_eq!(open(&room, &carol, &slot).unwrap_err(), OpenError::Tampered);
        assert_eq!(
            open(&RoomId([5; 16]), &bob, &slot).unwrap_err(),
            OpenError::Tampered
        );
    }

    #[test]
    fn every_single_byte_flip_is_rejected() {
        let (alice, bob, _) = people();
        let room = RoomId([4; 16]);
        let key = SymmetricKey::from_bytes([6; 32]);
        let slot = seal(
            &room,
            2,
            &key,
            &alice,
            &bob.public(),
            &mut ChaCha20Rng::seed_from_u64(1),
        )
        .unwrap();
        for position in 0..slot.len() {
            let mut tampered = slot.clone();
            tampered[position] ^= 0x01;
            assert!(open(&room, &bob, &tampered).is_err(), "byte {position}");
        }
    }

    #[test]
    fn a_low_order_recipient_key_is_refused() {
        let (alice, bob, _) = people();
        let mut bad = bob.public();
        bad.agreement = [0; 32];
        let result = seal(
            &RoomId([4; 16]),
            2,
            &SymmetricKey::from_bytes([6; 32]),
            &alice,
            &bad,
            &mut ChaCha20Rng::seed_from_u64(1),
        );
        assert_eq!(result.unwrap_err(), CryptoError::NonContributory);
    }

    proptest! {
        #[test]
        fn opening_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (_, bob, _) = people();
            prop_assert!(open(&RoomId([4; 16]), &bob, &bytes).is_err());
        }
    }
}
