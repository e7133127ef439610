//! Chat messages in a room with a membership log: each sealed under a key
//! of its sender's hash ratchet ([`crate::ratchet`]), inside an outer layer
//! under the epoch key that says whose chain and which step.
//!
//! ```text
//! payload = header(kind ChainedMessage, epoch) || postcard(nonce[24], outer)
//! outer   = XChaCha20-Poly1305(epoch_key, nonce, aad, postcard(frame))
//! frame   = sender fingerprint[32] || seq[8, big-endian] || step[8, big-endian]
//!           || inner_nonce[24] || inner
//! inner   = XChaCha20-Poly1305(message_key(sender, step), inner_nonce, aad,
//!                              pad(content || signature[64]))
//! aad     = "sotto/v1/aad" || room_id[16] || header
//! content, signature: as for a message sealed under the epoch key (`message.rs`)
//! ```
//!
//! The broker sees only the header. A member (anyone with the epoch key)
//! reads the frame: who sent it and its numbers, never its text, which
//! only the sender's chain opens. `seq` is the sender's number in the room
//! (the replay window's, across epochs); `step` is the position in the
//! sender's chain of this epoch, from 1. The signed content repeats the
//! sender and `seq`, and they must match the frame. The numbers are fixed
//! width so the payload's length shows the padding bucket, not their size.
//! The inner nonce is random although each message key is used once: a
//! sender whose state was restored from a backup would otherwise reuse a
//! key with the same nonce.

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use super::OpenError;
use super::message::{self, Body, MAX_TEXT_LEN, MESSAGE_LABEL, Message, SealError, SeqRange};
use super::padding::{self, Padding};
use super::sealed::{self, EpochContext, Unverified, aad, sign_content};
use super::wire::{self, Header, Kind, MAX_ENVELOPE_LEN};
use crate::crypto::{self, NONCE_LEN};
use crate::identity::{Fingerprint, Identity};
use crate::ratchet::MessageKey;
use crate::room_id::RoomId;

#[derive(Serialize, Deserialize)]
struct FrameBody {
    sender: Fingerprint,
    seq: [u8; 8],
    step: [u8; 8],
    #[serde(with = "crate::hex::array")]
    nonce: [u8; NONCE_LEN],
    inner: Vec<u8>,
}

/// A chained message with its outer layer opened: whose chain and which
/// step of it, and the inner ciphertext that only that step's key opens.
/// Nothing in it is authenticated by the sender yet, only by the epoch
/// key (any member could have made it).
pub struct Frame {
    /// The fingerprint of the sender the frame claims.
    pub sender: Fingerprint,
    /// The sender's number in the room the frame claims.
    pub seq: u64,
    /// The position in the sender's chain of this epoch.
    pub step: u64,
    /// The payload's epoch (from its header).
    pub epoch: u64,
    header_bytes: Vec<u8>,
    nonce: [u8; NONCE_LEN],
    inner: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("seq", &self.seq)
            .field("step", &self.step)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// Seals a message from `sender`, numbered `seq` in the room, with the key
/// of step `step` of the sender's chain, declaring `skipped` as allocated
/// and never sent (see [`Message::skipped`]).
#[allow(clippy::too_many_arguments)] // each is one field of the layout
pub fn seal<R: CryptoRng + ?Sized>(
    context: EpochContext<'_>,
    sender: &Identity,
    step: u64,
    key: &MessageKey,
    seq: u64,
    skipped: &[SeqRange],
    sent_at_ms: u64,
    body: Body,
    rng: &mut R,
) -> Result<Vec<u8>, SealError> {
    if body.text().len() > MAX_TEXT_LEN {
        return Err(SealError::TooLong);
    }
    message::check_numbers(seq, skipped)?;
    let header_bytes = wire::to_bytes(&Header::new(Kind::ChainedMessage, context.epoch));
    let content = Message {
        sender: sender.public(),
        seq,
        sent_at_ms,
        body,
        skipped: skipped.to_vec(),
    };
    let plaintext = sign_content(
        sender,
        MESSAGE_LABEL,
        context.room_id,
        &header_bytes,
        &content,
    );
    let padded = padding::pad(&plaintext, Padding::of(Kind::ChainedMessage));
    let aad = aad(context.room_id, &header_bytes);
    let (nonce, inner) = crypto::seal(key.as_key(), &aad, &padded, rng);
    let frame = zeroize::Zeroizing::new(wire::to_bytes(&FrameBody {
        sender: sender.fingerprint(),
        seq: seq.to_be_bytes(),
        step: step.to_be_bytes(),
        nonce,
        inner,
    }));
    Ok(sealed::encrypt(context, &header_bytes, &frame, rng))
}

/// Opens the outer layer of a chained message under the epoch key.
pub fn open_frame(context: EpochContext<'_>, bytes: &[u8]) -> Result<Frame, OpenError> {
    let (header_bytes, plaintext) = sealed::decrypt(Kind::ChainedMessage, context, bytes)?;
    let body: FrameBody = wire::decode_exact(&plaintext, MAX_ENVELOPE_LEN)?;
    let seq = u64::from_be_bytes(body.seq);
    let step = u64::from_be_bytes(body.step);
    if seq == 0 || step == 0 {
        return Err(OpenError::Malformed);
    }
    Ok(Frame {
        sender: body.sender,
        seq,
        step,
        epoch: context.epoch,
        header_bytes: header_bytes.to_vec(),
        nonce: body.nonce,
        inner: body.inner,
    })
}

impl Frame {
    /// Opens the inner layer with the key of the frame's step and decodes
    /// the message, leaving its signature to the caller. Refuses a message
    /// whose signed sender or number differ from the frame's.
    pub(crate) fn open(
        &self,
        room_id: &RoomId,
        key: &MessageKey,
    ) -> Result<Unverified<Message>, OpenError> {
        let aad = aad(room_id, &self.header_bytes);
        let padded = crypto::open(key.as_key(), &self.nonce, &aad, &self.inner)?;
        let plaintext = padding::unpad(&padded, Padding::of(Kind::ChainedMessage))?;
        let unverified = sealed::split_signed(
            plaintext,
            MESSAGE_LABEL,
            room_id,
            &self.header_bytes,
            message::decode,
        )?;
        if unverified.content.sender.fingerprint() != self.sender
            || unverified.content.seq != self.seq
        {
            return Err(OpenError::Forged(
                "the message's signed sender or number differ from its frame",
            ));
        }
        Ok(unverified)
    }

    /// Opens the payload with `key`, then checks the signature against the
    /// identity the message claims (the room checks that identity
    /// against its members).
    pub fn open_verified(&self, room_id: &RoomId, key: &MessageKey) -> Result<Message, OpenError> {
        let unverified = self.open(room_id, key)?;
        let signer = sealed::signing_key_of(&unverified.content.sender)?;
        unverified.verify(&signer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratchet::{ChainKey, ReceiverChain, SenderChain};
    use crate::secret::SymmetricKey;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    struct Fixture {
        alice: Identity,
        room: RoomId,
        key: SymmetricKey,
        rng: ChaCha20Rng,
    }

    fn fixture() -> Fixture {
        let mut rng = ChaCha20Rng::seed_from_u64(21);
        Fixture {
            alice: Identity::generate("alice", &mut rng).unwrap(),
            room: RoomId([4; 16]),
            key: SymmetricKey::from_bytes([5; 32]),
            rng,
        }
    }

    impl Fixture {
        fn context(&self) -> EpochContext<'_> {
            EpochContext {
                room_id: &self.room,
                epoch: 2,
                key: &self.key,
            }
        }

        fn seal(&mut self, chain: &mut SenderChain, seq: u64, text: &str) -> Vec<u8> {
            let (step, key) = chain.next().unwrap();
            let mut rng = self.rng.clone();
            let bytes = seal(
                self.context(),
                &self.alice,
                step,
                &key,
                seq,
                &[],
                1_000,
                Body::Text(text.into()),
                &mut rng,
            )
            .unwrap();
            self.rng = rng;
            bytes
        }
    }

    #[test]
    fn a_message_opens_with_its_step_key_and_no_other() {
        let mut f = fixture();
        let mut chain = SenderChain::new(ChainKey::from_bytes([6; 32]));
        let receiver = ReceiverChain::new(ChainKey::from_bytes([6; 32]), 1);
        let first = f.seal(&mut chain, 41, "one");
        let second = f.seal(&mut chain, 42, "two");
        let frame = open_frame(f.context(), &second).unwrap();
        assert_eq!(
            (frame.sender, frame.seq, frame.step),
            (f.alice.fingerprint(), 42, 2)
        );
        let staged = receiver.key_for(2).unwrap();
        let message = frame.open(&f.room, staged.key()).unwrap();
        let message = message
            .verify(&f.alice.public().verifying_key().unwrap())
            .unwrap();
        assert_eq!(message.body.text(), "two");
        let wrong = receiver.key_for(1).unwrap();
        assert_eq!(
            frame.open(&f.room, wrong.key()).err(),
            Some(OpenError::Tampered)
        );
        let frame = open_frame(f.context(), &first).unwrap();
        assert!(frame.open(&f.room, staged.key()).is_err());
    }

    #[test]
    fn the_outer_layer_needs_the_epoch_key_and_the_right_epoch() {
        let mut f = fixture();
        let mut chain = SenderChain::new(ChainKey::from_bytes([6; 32]));
        let bytes = f.seal(&mut chain, 1, "hi");
        let other = SymmetricKey::from_bytes([9; 32]);
        let wrong_key = EpochContext {
            key: &other,
            ..f.context()
        };
        assert_eq!(
            open_frame(wrong_key, &bytes).err(),
            Some(OpenError::Tampered)
        );
        let later = EpochContext {
            epoch: 3,
            ..f.context()
        };
        assert!(matches!(
            open_frame(later, &bytes),
            Err(OpenError::WrongEpoch { got: 2, current: 3 })
        ));
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert_eq!(
            open_frame(f.context(), &flipped).err(),
            Some(OpenError::Tampered)
        );
    }

    #[test]
    fn a_one_byte_and_a_hundred_byte_text_are_the_same_length() {
        let mut f = fixture();
        let mut chain = SenderChain::new(ChainKey::from_bytes([6; 32]));
        let short = f.seal(&mut chain, 1, "x");
        let long = f.seal(&mut chain, 300, &"y".repeat(100));
        assert_eq!(short.len(), long.len());
    }
}
