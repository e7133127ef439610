//! A new epoch key sealed to one member: what `kick` publishes to each
//! remaining member's key slot.
//!
//! ```text
//! payload    = header(kind EpochKey, new epoch) || postcard(ephemeral[32], nonce[24], ciphertext)
//! ciphertext = seal_to_member(recipient X25519, aad, pad(content || signature[64]))
//! aad        = "sotto/v1/aad" || room_id[16] || header
//! content    = postcard(rotator public identity, recipient fingerprint, epoch key)
//! signature  = Ed25519(rotator, "sotto/v1/epoch-key" || room_id || header || content)
//! ```
//!
//! Only the recipient can open it (ephemeral-static X25519 with a
//! contributory check), and the signature shows which member rotated.
//! `pad` fills every slot to the same size (`padding.rs`), so the
//! broker cannot tell rotators apart by the length of their names.

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use super::OpenError;
use super::padding::{self, Padding};
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
    /// The hash of the commit that starts the epoch, so a slot cannot be
    /// paired with another commit for the same epoch number.
    #[serde(with = "crate::hex::array")]
    commit: [u8; 32],
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
    /// The hash of the commit that starts it.
    pub commit: [u8; 32],
    /// The new epoch's key.
    pub key: SymmetricKey,
}

/// Seals `key` for epoch `epoch` of `room_id`, started by the commit whose
/// hash is `commit`, to `recipient`, signed by `rotator`.
pub fn seal<R: CryptoRng + ?Sized>(
    room_id: &RoomId,
    epoch: u64,
    commit: [u8; 32],
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
        commit,
        epoch_key: *key.as_bytes(),
    };
    let plaintext = sign_content(rotator, EPOCH_KEY_LABEL, room_id, &header_bytes, &content);
    let padded = padding::pad(&plaintext, Padding::of(Kind::EpochKey));
    let sealed = crypto::seal_to_member(
        &recipient.agreement_key(),
        &aad(room_id, &header_bytes),
        &padded,
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
    let padded = crypto::open_from_member(
        own.agreement_secret(),
        &sealed,
        &aad(room_id, framed.header_bytes),
    )?;
    let plaintext = padding::unpad(&padded, Padding::of(Kind::EpochKey))?;
    let content: SlotContent = verify_content(
        plaintext,
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
        commit: content.commit,
        key: SymmetricKey::from_bytes(content.epoch_key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::MAX_NAME_LEN;
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
        let slot = seal(&room, 2, [3; 32], &key, &alice, &bob.public(), &mut rng).unwrap();
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
            [3; 32],
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
            [3; 32],
            &SymmetricKey::from_bytes([6; 32]),
            &alice,
            &bad,
            &mut ChaCha20Rng::seed_from_u64(1),
        );
        assert_eq!(result.unwrap_err(), CryptoError::NonContributory);
    }

    #[test]
    fn slots_have_one_length_whatever_the_rotators_name() {
        let (_, bob, _) = people();
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let short = Identity::generate("a", &mut rng).unwrap();
        let longest = Identity::generate(&"r".repeat(MAX_NAME_LEN), &mut rng).unwrap();
        let key = SymmetricKey::from_bytes([6; 32]);
        let room = RoomId([4; 16]);
        let lengths: Vec<usize> = [(&short, 1), (&longest, u64::MAX)]
            .into_iter()
            .map(|(rotator, epoch)| {
                let slot = seal(
                    &room,
                    epoch,
                    [1; 32],
                    &key,
                    rotator,
                    &bob.public(),
                    &mut rng,
                )
                .unwrap();
                assert_eq!(open(&room, &bob, &slot).unwrap().epoch, epoch);
                // The epoch is in the clear header: compare the rest.
                slot.len() - wire::frame(&slot).unwrap().header_bytes.len()
            })
            .collect();
        // ephemeral 32 | nonce 24 | length 2 | fixed size | tag 16
        let expected = 32 + 24 + 2 + padding::KEY_SLOT_PADDED_LEN + 16;
        assert_eq!(lengths, [expected; 2]);
    }

    #[test]
    fn a_slot_without_its_padding_is_malformed() {
        let (alice, bob, _) = people();
        let room = RoomId([4; 16]);
        let header = Header::new(Kind::EpochKey, 2);
        let header_bytes = wire::to_bytes(&header);
        let content = SlotContent {
            rotator: alice.public(),
            recipient: bob.fingerprint(),
            commit: [1; 32],
            epoch_key: [6; 32],
        };
        let signed = sign_content(&alice, EPOCH_KEY_LABEL, &room, &header_bytes, &content);
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let mut slot_of = |plaintext: &[u8]| {
            let sealed = crypto::seal_to_member(
                &bob.public().agreement_key(),
                &aad(&room, &header_bytes),
                plaintext,
                &mut rng,
            )
            .unwrap();
            let body = SlotBody {
                ephemeral: sealed.ephemeral,
                nonce: sealed.nonce,
                ciphertext: sealed.ciphertext,
            };
            wire::encode(&header, &body)
        };
        let padded = padding::pad(&signed, Padding::of(Kind::EpochKey));
        assert!(open(&room, &bob, &slot_of(&padded)).is_ok());
        let unpadded = slot_of(&signed);
        assert_eq!(
            open(&room, &bob, &unpadded).unwrap_err(),
            OpenError::Malformed
        );
        let bucketed = slot_of(&padding::pad(&signed, Padding::Bucket));
        assert_eq!(
            open(&room, &bob, &bucketed).unwrap_err(),
            OpenError::Malformed
        );
    }

    proptest! {
        #[test]
        fn opening_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (_, bob, _) = people();
            prop_assert!(open(&RoomId([4; 16]), &bob, &bytes).is_err());
        }
    }
}
