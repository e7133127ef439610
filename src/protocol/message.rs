//! Chat messages: sign-then-encrypt under the epoch key (layout in
//! `sealed.rs`), with the sender's public identity, a per-sender sequence
//! number and a timestamp inside the encryption.

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use super::wire::Kind;
use super::{EpochContext, OpenError, sealed};
use crate::identity::{Identity, PublicIdentity};

const MESSAGE_LABEL: &[u8] = b"sotto/v1/message";

/// Longest message text, in bytes: well inside the envelope limit once
/// identity, signature, nonce and tag are added.
pub const MAX_TEXT_LEN: usize = 32 * 1024;

/// What a message says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Body {
    /// Ordinary text.
    Text(String),
    /// An action, as sent by `/me`: shown as "* alice waves".
    Action(String),
}

impl Body {
    /// The text, whatever the kind.
    pub fn text(&self) -> &str {
        match self {
            Body::Text(text) | Body::Action(text) => text,
        }
    }
}

/// A message's signed content, as the receiver sees it after verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who signed it (verified against the signature, not yet against the
    /// room's member list: that is [`crate::room::Room`]'s job).
    pub sender: PublicIdentity,
    /// The sender's sequence number in this room, from 1.
    pub seq: u64,
    /// When the sender says it was sent, in milliseconds since the epoch.
    pub sent_at_ms: u64,
    /// The text.
    pub body: Body,
}

/// Why a message could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The text is over [`MAX_TEXT_LEN`].
    #[error("the message is longer than {MAX_TEXT_LEN} bytes")]
    TooLong,
}

/// Seals a message from `sender` for the room and epoch in `context`.
pub fn seal<R: CryptoRng + ?Sized>(
    context: EpochContext<'_>,
    sender: &Identity,
    seq: u64,
    sent_at_ms: u64,
    body: Body,
    rng: &mut R,
) -> Result<Vec<u8>, SealError> {
    if body.text().len() > MAX_TEXT_LEN {
        return Err(SealError::TooLong);
    }
    let message = Message {
        sender: sender.public(),
        seq,
        sent_at_ms,
        body,
    };
    Ok(sealed::seal(
        Kind::Message,
        MESSAGE_LABEL,
        context,
        sender,
        &message,
        rng,
    ))
}

/// Decrypts a message and checks its signature; the inverse of [`seal`].
///
/// Replay and membership checks come after, in [`crate::room::Room`].
pub fn open(context: EpochContext<'_>, bytes: &[u8]) -> Result<Message, OpenError> {
    let message: Message = sealed::open(
        Kind::Message,
        MESSAGE_LABEL,
        context,
        bytes,
        |m: &Message| &m.sender,
    )?;
    if message.body.text().len() > MAX_TEXT_LEN {
        return Err(OpenError::Malformed);
    }
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::wire;
    use crate::room_id::RoomId;
    use crate::secret::SymmetricKey;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    struct Fixture {
        alice: Identity,
        mallory: Identity,
        room: RoomId,
        key: SymmetricKey,
    }

    fn fixture() -> Fixture {
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        Fixture {
            alice: Identity::generate("alice", &mut rng).unwrap(),
            mallory: Identity::generate("mallory", &mut rng).unwrap(),
            room: RoomId([1; 16]),
            key: SymmetricKey::from_bytes([2; 32]),
        }
    }

    impl Fixture {
        fn context(&self, epoch: u64) -> EpochContext<'_> {
            EpochContext {
                room_id: &self.room,
                epoch,
                key: &self.key,
            }
        }

        fn sealed(&self) -> Vec<u8> {
            seal(
                self.context(3),
                &self.alice,
                1,
                1_700_000_000_000,
                Body::Text("hello bob".into()),
                &mut ChaCha20Rng::seed_from_u64(5),
            )
            .unwrap()
        }
    }

    #[test]
    fn round_trips_with_sender_and_sequence() {
        let f = fixture();
        let message = open(f.context(3), &f.sealed()).unwrap();
        assert_eq!(message.sender, f.alice.public());
        assert_eq!(message.seq, 1);
        assert_eq!(message.body, Body::Text("hello bob".into()));
    }

    #[test]
    fn ciphertext_does_not_contain_the_text_or_name() {
        let f = fixture();
        let bytes = f.sealed();
        for needle in [&b"hello bob"[..], b"alice", &f.alice.public().signing] {
            assert!(!bytes.windows(needle.len()).any(|w| w == needle));
        }
    }

    #[test]
    fn every_single_byte_flip_is_rejected() {
        let f = fixture();
        let bytes = f.sealed();
        for position in 0..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut tampered = bytes.clone();
                tampered[position] ^= flip;
                assert!(
                    open(f.context(3), &tampered).is_err(),
                    "flip {flip:#x} at byte {position} was accepted"
                );
            }
        }
    }

    #[test]
    fn truncations_and_extensions_are_rejected() {
        let f = fixture();
        let bytes = f.sealed();
        for len in 0..bytes.len() {
            assert!(open(f.context(3), &bytes[..len]).is_err());
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(open(f.context(3), &longer), Err(OpenError::Malformed));
    }

    #[test]
    fn another_epoch_or_room_cannot_open_it() {
        let f = fixture();
        let bytes = f.sealed();
        assert_eq!(
            open(f.context(4), &bytes),
            Err(OpenError::WrongEpoch { got: 3, current: 4 })
        );
        let other_room = RoomId([9; 16]);
        let moved = EpochContext {
            room_id: &other_room,
            ..f.context(3)
        };
        assert_eq!(open(moved, &bytes), Err(OpenError::Tampered));
    }

    /// A payload sealed under the room key whose content claims `claimed`
    /// but whose signature is made by `signer` under `label`.
    fn forge(f: &Fixture, claimed: &Identity, signer: &Identity, label: &[u8]) -> Vec<u8> {
        let header_bytes = wire::to_bytes(&wire::Header::new(Kind::Message, 3));
        let claim = Message {
            sender: claimed.public(),
            seq: 1,
            sent_at_ms: 0,
            body: Body::Text("send money".into()),
        };
        let plaintext = sealed::sign_content(signer, label, &f.room, &header_bytes, &claim);
        let (nonce, ciphertext) = crate::crypto::seal(
            &f.key,
            &sealed::aad(&f.room, &header_bytes),
            &plaintext,
            &mut ChaCha20Rng::seed_from_u64(1),
        );
        [header_bytes, wire::to_bytes(&(nonce, ciphertext))].concat()
    }

    #[test]
    fn a_members_key_cannot_sign_as_another_member() {
        // Mallory holds the room key and signs with her own key while
        // claiming alice's public identity.
        let f = fixture();
        let forged = forge(&f, &f.alice, &f.mallory, MESSAGE_LABEL);
        assert!(matches!(
            open(f.context(3), &forged),
            Err(OpenError::Forged(_))
        ));
        // The same construction signed by alice herself opens, so the test
        // fails for the right reason.
        assert!(open(f.context(3), &forge(&f, &f.alice, &f.alice, MESSAGE_LABEL)).is_ok());
    }

    #[test]
    fn a_signature_from_another_kind_does_not_verify_as_a_message() {
        let f = fixture();
        let forged = forge(&f, &f.alice, &f.alice, b"sotto/v1/presence");
        assert!(matches!(
            open(f.context(3), &forged),
            Err(OpenError::Forged(_))
        ));
    }

    #[test]
    fn overlong_text_is_refused_when_sealing() {
        let f = fixture();
        let result = seal(
            f.context(3),
            &f.alice,
            1,
            0,
            Body::Text("x".repeat(MAX_TEXT_LEN + 1)),
            &mut ChaCha20Rng::seed_from_u64(1),
        );
        assert_eq!(result, Err(SealError::TooLong));
    }

    proptest! {
        #[test]
        fn opening_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let f = fixture();
            prop_assert!(open(f.context(3), &bytes).is_err());
        }

        #[test]
        fn random_flips_anywhere_are_rejected(position in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let f = fixture();
            let mut bytes = f.sealed();
            let at = position.index(bytes.len());
            bytes[at] ^= flip;
            prop_assert!(open(f.context(3), &bytes).is_err());
        }
    }
}
