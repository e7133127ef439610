//! Chat messages: sign-then-encrypt under the epoch key (layout in
//! `sealed.rs`), with the sender's public identity, a per-sender sequence
//! number, a timestamp, and the numbers the sender allocated but never
//! sent, all inside the encryption.

use std::fmt;

use rand_core::CryptoRng;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::sealed::Unverified;
use super::wire::{self, Kind, MAX_ENVELOPE_LEN};
use super::{EpochContext, OpenError, sealed};
use crate::identity::{Identity, MAX_NAME_LEN, PublicIdentity};
pub use crate::replay::SeqRange;

pub(crate) const MESSAGE_LABEL: &[u8] = b"sotto/v1/message";

/// Longest message text, in bytes: well inside the envelope limit once
/// identity, signature, nonce and tag are added.
pub const MAX_TEXT_LEN: usize = 32 * 1024;

/// The most ranges of skipped numbers one message may declare. Numbers
/// are allocated in bursts and abandoned rarely (a crash, a failed send),
/// so a sender has few ranges to declare at a time; one with more carries
/// the rest in its following messages. A bound keeps what a member can
/// make every receiver do per message small (the work is per range, and
/// at most one replay window's worth of numbers is marked).
pub const MAX_SKIPPED_RANGES: usize = 32;

/// The longest signed plaintext a valid message can have, before padding:
/// its content at the largest (a sender with the longest name, a
/// [`MAX_TEXT_LEN`] text, [`MAX_SKIPPED_RANGES`] ranges, every number at
/// `u64::MAX`) plus the signature. The largest padding bucket is exactly
/// this plus one byte, so the largest message fits and nothing larger is
/// ever sent (see [`super::padding`]).
pub const MAX_SIGNED_LEN: usize = {
    // postcard: a string or list is a varint length then its items, an
    // enum a varint variant index, a u64 a varint of at most 10 bytes,
    // a key 32 raw bytes.
    const U64: usize = 10;
    let sender = varint_len(MAX_NAME_LEN) + MAX_NAME_LEN + 32 + 32;
    let body = 1 + varint_len(MAX_TEXT_LEN) + MAX_TEXT_LEN;
    let skipped = varint_len(MAX_SKIPPED_RANGES) + MAX_SKIPPED_RANGES * 2 * U64;
    sender + U64 + U64 + body + skipped + sealed::SIGNATURE_LEN
};

/// How many bytes postcard's LEB128 varint takes for `n`.
const fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

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
    /// Numbers below `seq` that the sender allocated and will never send
    /// (sorted, disjoint, at most [`MAX_SKIPPED_RANGES`] ranges): the
    /// receiver does not count them as missed, and refuses them later.
    #[serde(deserialize_with = "bounded_ranges")]
    pub skipped: Vec<SeqRange>,
}

/// A message as sotto 0.1 wrote it, before `skipped` existed: still
/// accepted, so a room keeps working while its members upgrade. The two
/// layouts never parse as each other (the newer one has one more field at
/// the end, and decoding refuses trailing bytes).
#[derive(Deserialize)]
struct MessageV01 {
    sender: PublicIdentity,
    seq: u64,
    sent_at_ms: u64,
    body: Body,
}

/// Why a message could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The text is over [`MAX_TEXT_LEN`].
    #[error("the message is longer than {MAX_TEXT_LEN} bytes")]
    TooLong,
    /// Sequence numbers start at 1.
    #[error("message sequence number 0 is invalid")]
    ZeroSequence,
    /// More than [`MAX_SKIPPED_RANGES`] ranges of skipped numbers.
    #[error("a message can declare at most {MAX_SKIPPED_RANGES} ranges of skipped numbers")]
    TooManySkipped,
    /// A range of skipped numbers is empty, includes 0, is not below the
    /// message's own number, or is out of order with or overlaps another.
    #[error("the skipped numbers must be sorted, disjoint ranges below the message's own number")]
    BadSkipped,
}

/// Checks a message's own number and its declared skipped ranges: what
/// [`seal_numbered`] requires and [`open`] enforces.
pub fn check_numbers(seq: u64, skipped: &[SeqRange]) -> Result<(), SealError> {
    if seq == 0 {
        return Err(SealError::ZeroSequence);
    }
    if skipped.len() > MAX_SKIPPED_RANGES {
        return Err(SealError::TooManySkipped);
    }
    let mut floor = 0;
    for range in skipped {
        if range.first <= floor || range.first > range.last || range.last >= seq {
            return Err(SealError::BadSkipped);
        }
        floor = range.last;
    }
    Ok(())
}

/// Seals a message from `sender` for the room and epoch in `context`,
/// declaring no skipped numbers.
pub fn seal<R: CryptoRng + ?Sized>(
    context: EpochContext<'_>,
    sender: &Identity,
    seq: u64,
    sent_at_ms: u64,
    body: Body,
    rng: &mut R,
) -> Result<Vec<u8>, SealError> {
    seal_numbered(context, sender, seq, &[], sent_at_ms, body, rng)
}

/// Seals a message numbered `seq` that also declares the numbers in
/// `skipped` as allocated and never sent (see [`Message::skipped`]).
pub fn seal_numbered<R: CryptoRng + ?Sized>(
    context: EpochContext<'_>,
    sender: &Identity,
    seq: u64,
    skipped: &[SeqRange],
    sent_at_ms: u64,
    body: Body,
    rng: &mut R,
) -> Result<Vec<u8>, SealError> {
    if body.text().len() > MAX_TEXT_LEN {
        return Err(SealError::TooLong);
    }
    check_numbers(seq, skipped)?;
    let message = Message {
        sender: sender.public(),
        seq,
        sent_at_ms,
        body,
        skipped: skipped.to_vec(),
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
    let unverified = open_unverified(context, bytes)?;
    let key = sealed::signing_key_of(&unverified.content.sender)?;
    unverified.verify(&key)
}

/// Decrypts and decodes a message (checking its text length and numbers)
/// but leaves the signature for the caller: [`crate::room::Room`] checks
/// it with a cached key, or many at once.
pub(crate) fn open_unverified(
    context: EpochContext<'_>,
    bytes: &[u8],
) -> Result<Unverified<Message>, OpenError> {
    sealed::open_unverified(Kind::Message, MESSAGE_LABEL, context, bytes, decode)
}

pub(super) fn decode(content: &[u8]) -> Result<Message, OpenError> {
    let message = match wire::decode_exact::<Message>(content, MAX_ENVELOPE_LEN) {
        Ok(message) => message,
        Err(_) => {
            let old: MessageV01 = wire::decode_exact(content, MAX_ENVELOPE_LEN)?;
            Message {
                sender: old.sender,
                seq: old.seq,
                sent_at_ms: old.sent_at_ms,
                body: old.body,
                skipped: Vec::new(),
            }
        }
    };
    if message.body.text().len() > MAX_TEXT_LEN {
        return Err(OpenError::Malformed);
    }
    check_numbers(message.seq, &message.skipped).map_err(|_| OpenError::Malformed)?;
    Ok(message)
}

/// Seals `message` with whatever signature `sign` makes over the signed
/// bytes: forged and malformed signatures for tests elsewhere in the crate.
#[cfg(test)]
pub(crate) fn seal_signed_with<R: CryptoRng + ?Sized>(
    context: EpochContext<'_>,
    message: &Message,
    sign: impl FnOnce(&[u8]) -> [u8; 64],
    rng: &mut R,
) -> Vec<u8> {
    let header = wire::Header::new(Kind::Message, context.epoch);
    let header_bytes = wire::to_bytes(&header);
    let mut plaintext = wire::to_bytes(message);
    let signature = sign(&sealed::signed_bytes(
        MESSAGE_LABEL,
        context.room_id,
        &header_bytes,
        &plaintext,
    ));
    plaintext.extend_from_slice(&signature);
    sealed::encrypt_signed(Kind::Message, context, &header_bytes, &plaintext, rng)
}

/// Decodes the skipped ranges, refusing more than [`MAX_SKIPPED_RANGES`]
/// before reading (or allocating for) any beyond the limit.
fn bounded_ranges<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<SeqRange>, D::Error> {
    struct Bounded;

    impl<'de> Visitor<'de> for Bounded {
        type Value = Vec<SeqRange>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "at most {MAX_SKIPPED_RANGES} ranges")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            if seq.size_hint().is_some_and(|n| n > MAX_SKIPPED_RANGES) {
                return Err(de::Error::invalid_length(MAX_SKIPPED_RANGES + 1, &self));
            }
            let mut ranges = Vec::new();
            while let Some(range) = seq.next_element()? {
                if ranges.len() == MAX_SKIPPED_RANGES {
                    return Err(de::Error::invalid_length(MAX_SKIPPED_RANGES + 1, &self));
                }
                ranges.push(range);
            }
            Ok(ranges)
        }
    }

    deserializer.deserialize_seq(Bounded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{padding, wire};
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
            skipped: Vec::new(),
        };
        let plaintext = sealed::sign_content(signer, label, &f.room, &header_bytes, &claim);
        sealed::encrypt_signed(
            Kind::Message,
            f.context(3),
            &header_bytes,
            &plaintext,
            &mut ChaCha20Rng::seed_from_u64(1),
        )
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

    fn range(first: u64, last: u64) -> SeqRange {
        SeqRange { first, last }
    }

    /// Seals any content as a message signed by alice, bypassing the
    /// checks `seal_numbered` makes: what a buggy or hostile sender could
    /// put on the wire.
    fn seal_raw<T: Serialize>(f: &Fixture, content: &T) -> Vec<u8> {
        sealed::seal(
            Kind::Message,
            MESSAGE_LABEL,
            f.context(3),
            &f.alice,
            content,
            &mut ChaCha20Rng::seed_from_u64(8),
        )
    }

    fn message_with(f: &Fixture, seq: u64, skipped: Vec<SeqRange>) -> Message {
        Message {
            sender: f.alice.public(),
            seq,
            sent_at_ms: 5,
            body: Body::Text("hi".into()),
            skipped,
        }
    }

    #[test]
    fn skipped_ranges_round_trip() {
        let f = fixture();
        let skipped = [range(2, 4), range(7, 7), range(9, 20)];
        let bytes = seal_numbered(
            f.context(3),
            &f.alice,
            21,
            &skipped,
            9,
            Body::Action("waves".into()),
            &mut ChaCha20Rng::seed_from_u64(5),
        )
        .unwrap();
        let message = open(f.context(3), &bytes).unwrap();
        assert_eq!(message.seq, 21);
        assert_eq!(message.skipped, skipped);
        assert_eq!(message.body, Body::Action("waves".into()));
        assert_eq!(open(f.context(3), &f.sealed()).unwrap().skipped, vec![]);
    }

    #[test]
    fn malformed_numbers_are_refused_when_sealing_and_when_opening() {
        let f = fixture();
        let too_many: Vec<SeqRange> = (1..=33).map(|i| range(2 * i, 2 * i)).collect();
        let cases = [
            (0, vec![], SealError::ZeroSequence),
            (100, too_many.clone(), SealError::TooManySkipped),
            (5, vec![range(0, 2)], SealError::BadSkipped),
            (5, vec![range(3, 2)], SealError::BadSkipped),
            (5, vec![range(2, 5)], SealError::BadSkipped),
            (5, vec![range(6, 7)], SealError::BadSkipped),
            (9, vec![range(4, 5), range(2, 3)], SealError::BadSkipped),
            (9, vec![range(2, 4), range(4, 5)], SealError::BadSkipped),
            (9, vec![range(2, 4), range(2, 4)], SealError::BadSkipped),
        ];
        for (seq, skipped, error) in cases {
            let sealed = seal_numbered(
                f.context(3),
                &f.alice,
                seq,
                &skipped,
                0,
                Body::Text("x".into()),
                &mut ChaCha20Rng::seed_from_u64(1),
            );
            assert_eq!(sealed, Err(error), "seq {seq}, {skipped:?}");
            // The same content signed by its sender anyway is malformed.
            let raw = seal_raw(&f, &message_with(&f, seq, skipped.clone()));
            assert_eq!(
                open(f.context(3), &raw),
                Err(OpenError::Malformed),
                "seq {seq}, {skipped:?}"
            );
        }
        // The limit itself is fine, and adjacent ranges too.
        let at_limit: Vec<SeqRange> = too_many[..MAX_SKIPPED_RANGES].to_vec();
        let raw = seal_raw(&f, &message_with(&f, 100, at_limit.clone()));
        assert_eq!(open(f.context(3), &raw).unwrap().skipped, at_limit);
        let adjacent = vec![range(1, 2), range(3, 4)];
        let raw = seal_raw(&f, &message_with(&f, 5, adjacent.clone()));
        assert_eq!(open(f.context(3), &raw).unwrap().skipped, adjacent);
    }

    #[test]
    fn a_huge_declared_count_is_refused_before_reading_the_ranges() {
        // A content whose range count says a million, with nothing after:
        // the decoder stops at the count.
        #[derive(Serialize)]
        struct Header<'a> {
            sender: PublicIdentity,
            seq: u64,
            sent_at_ms: u64,
            body: &'a Body,
        }
        let f = fixture();
        let header = Header {
            sender: f.alice.public(),
            seq: 9,
            sent_at_ms: 0,
            body: &Body::Text("x".into()),
        };
        let mut content = wire::to_bytes(&header);
        content.extend_from_slice(&wire::to_bytes(&1_000_000u32));
        assert_eq!(decode(&content), Err(OpenError::Malformed));
    }

    #[test]
    fn messages_in_the_0_1_layout_still_open() {
        #[derive(Serialize)]
        struct Old {
            sender: PublicIdentity,
            seq: u64,
            sent_at_ms: u64,
            body: Body,
        }
        let f = fixture();
        let old = Old {
            sender: f.alice.public(),
            seq: 4,
            sent_at_ms: 6,
            body: Body::Text("from 0.1".into()),
        };
        let message = open(f.context(3), &seal_raw(&f, &old)).unwrap();
        assert_eq!(message.seq, 4);
        assert_eq!(message.body, Body::Text("from 0.1".into()));
        assert!(message.skipped.is_empty());
        // The new layout is the old one plus the list: never the same
        // bytes, and decoding refuses trailing bytes, so neither parses as
        // the other.
        let new = Message {
            skipped: Vec::new(),
            ..message
        };
        assert_eq!(
            wire::to_bytes(&new),
            [wire::to_bytes(&old), vec![0]].concat()
        );
    }

    /// The payload length of a text message from alice.
    fn sealed_len(f: &Fixture, text: &str) -> usize {
        seal(
            f.context(3),
            &f.alice,
            7,
            1_700_000_000_000,
            Body::Text(text.into()),
            &mut ChaCha20Rng::seed_from_u64(5),
        )
        .unwrap()
        .len()
    }

    #[test]
    fn a_one_byte_and_a_hundred_byte_message_have_the_same_length() {
        let f = fixture();
        let short = sealed_len(&f, "k");
        let long = sealed_len(&f, &"k".repeat(100));
        assert_eq!(short, long);
        // header 3 | nonce 24 | length 2 | smallest bucket | tag 16
        assert_eq!(short, 3 + 24 + 2 + padding::MIN_BUCKET + 16);
        // Past the smallest bucket, the next one.
        assert_eq!(sealed_len(&f, &"k".repeat(300)), 3 + 24 + 2 + 512 + 16);
    }

    #[test]
    fn the_largest_message_fills_the_largest_bucket_inside_the_envelope() {
        let f = fixture();
        let longest_name = "n".repeat(MAX_NAME_LEN);
        let sender = Identity::generate(&longest_name, &mut ChaCha20Rng::seed_from_u64(4)).unwrap();
        // Every number as long as a varint gets, the most ranges.
        let skipped: Vec<SeqRange> = (0..MAX_SKIPPED_RANGES as u64)
            .map(|i| range(u64::MAX - 100 + 2 * i, u64::MAX - 100 + 2 * i))
            .collect();
        let body = Body::Action("x".repeat(MAX_TEXT_LEN));
        assert_eq!(body.text().len(), MAX_TEXT_LEN);
        let content = Message {
            sender: sender.public(),
            seq: u64::MAX,
            sent_at_ms: u64::MAX,
            body: body.clone(),
            skipped: skipped.clone(),
        };
        let header_bytes = wire::to_bytes(&wire::Header::new(Kind::Message, u64::MAX));
        let signed = sealed::sign_content(&sender, MESSAGE_LABEL, &f.room, &header_bytes, &content);
        assert_eq!(signed.len(), MAX_SIGNED_LEN);
        assert_eq!(signed.len() + 1, padding::LARGEST_BUCKET);

        let context = EpochContext {
            epoch: u64::MAX,
            ..f.context(3)
        };
        let rng = &mut ChaCha20Rng::seed_from_u64(6);
        let bytes =
            seal_numbered(context, &sender, u64::MAX, &skipped, u64::MAX, body, rng).unwrap();
        // header 12 | nonce 24 | length 3 | largest bucket | tag 16
        assert_eq!(bytes.len(), 12 + 24 + 3 + padding::LARGEST_BUCKET + 16);
        assert!(bytes.len() <= MAX_ENVELOPE_LEN);
        assert_eq!(open(context, &bytes).unwrap(), content);
    }

    /// Encrypts `padded` as a message payload, as a member holding the key
    /// could with any padding at all.
    fn seal_padded(f: &Fixture, key: &SymmetricKey, padded: &[u8]) -> Vec<u8> {
        let header_bytes = wire::to_bytes(&wire::Header::new(Kind::Message, 3));
        let (nonce, ciphertext) = crate::crypto::seal(
            key,
            &sealed::aad(&f.room, &header_bytes),
            padded,
            &mut ChaCha20Rng::seed_from_u64(2),
        );
        [header_bytes, wire::to_bytes(&(nonce, ciphertext))].concat()
    }

    #[test]
    fn malformed_padding_is_refused_after_the_aead() {
        let f = fixture();
        let header_bytes = wire::to_bytes(&wire::Header::new(Kind::Message, 3));
        let signed = sealed::sign_content(
            &f.alice,
            MESSAGE_LABEL,
            &f.room,
            &header_bytes,
            &message_with(&f, 1, Vec::new()),
        );
        let padded_with = |marker: u8, tail: &[u8], len: usize| {
            let mut padded = [&signed[..], &[marker], tail].concat();
            padded.resize(len, 0);
            padded
        };
        // The helper pads correctly: the same construction opens.
        let good = padded_with(0x80, &[], padding::MIN_BUCKET);
        assert_eq!(
            open(f.context(3), &seal_padded(&f, &f.key, &good))
                .unwrap()
                .seq,
            1
        );

        let cases = [
            ("no padding (the layout before padding)", signed.to_vec()),
            (
                "0x01 as the marker",
                padded_with(0x01, &[], padding::MIN_BUCKET),
            ),
            (
                "no marker, zeros only",
                padded_with(0x00, &[], padding::MIN_BUCKET),
            ),
            (
                "a stray byte after the marker",
                padded_with(0x80, &[0, 7], padding::MIN_BUCKET),
            ),
            ("a larger bucket than needed", padded_with(0x80, &[], 512)),
            ("a size that is no bucket", padded_with(0x80, &[], 300)),
        ];
        let other_key = SymmetricKey::from_bytes([3; 32]);
        for (what, padded) in cases {
            let bytes = seal_padded(&f, &f.key, &padded);
            assert_eq!(
                open(f.context(3), &bytes),
                Err(OpenError::Malformed),
                "{what}"
            );
            // The AEAD comes first: under another key, or modified in
            // transit, the same padding is never looked at.
            let foreign = seal_padded(&f, &other_key, &padded);
            assert_eq!(
                open(f.context(3), &foreign),
                Err(OpenError::Tampered),
                "{what}"
            );
            let mut flipped = bytes.clone();
            let last = flipped.len() - 1;
            flipped[last] ^= 1;
            assert_eq!(
                open(f.context(3), &flipped),
                Err(OpenError::Tampered),
                "{what}"
            );
        }
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
