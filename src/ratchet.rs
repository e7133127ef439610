//! A per-sender hash ratchet: forward secrecy inside an epoch.
//!
//! Each member sends on a chain of its own (one per epoch). A chain key
//! steps forward with HMAC-SHA-256, as Signal's sender keys do:
//!
//! ```text
//! seed(n)        = HMAC-SHA-256(chain_key(n), 0x01)
//! chain_key(n+1) = HMAC-SHA-256(chain_key(n), 0x02)
//! message_key(n) = HKDF-SHA-256(ikm = seed(n), salt = "", info = MESSAGE_KEY_LABEL), 32 bytes
//! ```
//!
//! `chain_key(1)` is the chain key a chain starts from; message numbers
//! start at 1, as sotto's do. A step replaces the chain key, so whoever
//! steals a chain's state later learns nothing about the messages it has
//! already sent or received. Unlike Megolm, a receiver does not keep the
//! chain's initial state (which would let a thief decrypt everything back
//! to the start of the epoch): the only earlier keys a state holds are the
//! skipped ones, for messages that have not arrived yet.
//!
//! - [`SenderChain`]: our own chain; [`SenderChain::next`] hands out the
//!   next number and its key, and forgets the chain key it came from.
//! - [`ReceiverChain`]: one other sender's chain. A message ahead of the
//!   chain is reachable up to [`MAX_FORWARD_JUMP`] numbers away; the keys
//!   jumped over are kept (at most [`MAX_SKIPPED_KEYS`], oldest dropped
//!   first) for messages that arrive late, and each is deleted when used.
//!
//! Receiving is two steps, so that garbage cannot burn keys or move the
//! chain: [`ReceiverChain::key_for`] computes a key without changing
//! anything and returns a [`Staged`] advance, and [`ReceiverChain::commit`]
//! applies it once the caller has checked the AEAD tag and the signature.
//!
//! Both chains are serde types so the store can keep them (it seals what it
//! writes). Decoding refuses inconsistent states and more than
//! [`MAX_SKIPPED_KEYS`] skipped keys. Sans-IO: no clock, no RNG, no disk.
//! Primitives come from the `hmac`, `sha2` and `hkdf` crates.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;

use hmac::{Hmac, KeyInit, Mac};
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::crypto;
use crate::secret::SymmetricKey;

/// How far past a receiver chain's next number a message may be: at most
/// this many keys are skipped (computed and kept) for one message. Bounds
/// the work and memory one payload can cause; Olm uses 2000 as well.
pub const MAX_FORWARD_JUMP: u64 = 2000;

/// How many skipped message keys one receiver chain keeps. Beyond it the
/// oldest are dropped first, and their messages can no longer be opened.
/// libsignal keeps as many.
pub const MAX_SKIPPED_KEYS: usize = 2000;

/// HKDF info that turns a step's seed into the message key: one label for
/// this one use, so the key cannot equal any other derived key.
pub const MESSAGE_KEY_LABEL: &str = "sotto/v1/ratchet/message-key";

/// HMAC input for the step's seed (as in Signal's sender keys).
const SEED_INPUT: u8 = 0x01;
/// HMAC input for the next chain key.
const CHAIN_INPUT: u8 = 0x02;

/// Why a ratchet operation was refused. None carries key material.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RatchetError {
    /// Message numbers start at 1.
    #[error("message number 0 is invalid")]
    ZeroSequence,
    /// Further ahead of the chain than [`MAX_FORWARD_JUMP`]; nothing was
    /// computed or changed.
    #[error(
        "message {seq} is too far ahead of the chain (next is {next}, at most {MAX_FORWARD_JUMP} may be skipped)"
    )]
    TooFarAhead {
        /// The number asked for.
        seq: u64,
        /// The chain's next number.
        next: u64,
    },
    /// The key for this number was used already: a replay or a duplicate.
    #[error("the key for message {0} was already used")]
    AlreadyUsed(u64),
    /// The key for this number is gone: dropped when the skipped-key store
    /// was full (or used; the two are not told apart this far back).
    #[error("the key for message {0} is no longer kept (too old)")]
    TooOld(u64),
    /// The chain has handed out every number a `u64` holds.
    #[error("the chain has no message numbers left")]
    Exhausted,
    /// A staged advance that does not fit this chain: it came from a later
    /// state than this one (another chain, or a state restored since).
    #[error("the staged key does not belong to this chain's state")]
    Mismatch,
    /// A stored chain that is inconsistent or over the limits.
    #[error("the stored ratchet state is invalid: {0}")]
    BadState(&'static str),
}

/// 32 secret bytes, wiped when dropped: the stored form of chain keys and
/// skipped message keys.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
struct Secret([u8; 32]);

impl Secret {
    fn ct_eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Serialize for Secret {
    /// Hex in human-readable formats (the store's JSON), raw in binary
    /// ones; the hex text is wiped after writing.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            let text = Zeroizing::new(crate::hex::encode(&self.0));
            return serializer.serialize_str(&text);
        }
        crate::hex::array::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = Zeroizing::new(String::deserialize(deserializer)?);
            return crate::hex::decode_array(&text)
                .map(Secret)
                .ok_or_else(|| de::Error::custom("expected 64 hex digits"));
        }
        crate::hex::array::deserialize(deserializer).map(Secret)
    }
}

/// A chain key: the state a chain steps from. Wiped when dropped, never
/// printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ChainKey(Secret);

impl ChainKey {
    /// Wraps raw chain key bytes. The caller should wipe its own copy.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Secret(bytes))
    }

    /// Draws a fresh random chain key.
    pub fn random<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(&mut bytes[..]);
        Self::from_bytes(*bytes)
    }

    /// The key bytes, to hand the chain to a new receiver (sealed).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0.0
    }

    /// One step of the ratchet: this position's message key and the next
    /// chain key. `self` stays as it is; callers replace it.
    pub fn step(&self) -> (MessageKey, ChainKey) {
        let seed = hmac_sha256(self.as_bytes(), SEED_INPUT);
        let message = MessageKey(crypto::derive_key(&seed[..], &[], MESSAGE_KEY_LABEL, &[]));
        let next = ChainKey(Secret(*hmac_sha256(self.as_bytes(), CHAIN_INPUT)));
        (message, next)
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey(<redacted>)")
    }
}

/// HMAC-SHA-256 of one byte under a 32-byte key.
fn hmac_sha256(key: &[u8; 32], input: u8) -> Zeroizing<[u8; 32]> {
    // `KeyInit::new` takes a block-sized (64-byte) key and cannot fail,
    // unlike `new_from_slice`. HMAC (RFC 2104) pads a shorter key with
    // zeros to the block size, so the 32-byte key zero-padded to 64 is the
    // same HMAC key; tests/vectors.rs checks against `new_from_slice`.
    let mut block = Zeroizing::new([0u8; 64]);
    block[..32].copy_from_slice(key);
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&(*block).into());
    mac.update(&[input]);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(&mac.finalize().into_bytes());
    out
}

/// The key for one message (for XChaCha20-Poly1305 through
/// [`crypto::seal`] and [`crypto::open`]). Wiped when dropped; not `Clone`,
/// so a used key is gone once its holder drops it.
pub struct MessageKey(SymmetricKey);

impl MessageKey {
    /// The key, for the AEAD.
    pub fn as_key(&self) -> &SymmetricKey {
        &self.0
    }

    /// The key bytes (for known-answer tests).
    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    fn to_secret(&self) -> Box<Secret> {
        Box::new(Secret(*self.0.as_bytes()))
    }

    fn from_secret(secret: &Secret) -> Self {
        Self(SymmetricKey::from_bytes(secret.0))
    }
}

impl fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MessageKey(<redacted>)")
    }
}

/// Our own chain in one epoch: hands out message numbers and keys in
/// order. `Clone` only so a room can be changed inside a store
/// transaction (a copy changed, then saved or dropped): two copies that
/// both send would hand out the same keys twice.
#[derive(Clone)]
pub struct SenderChain {
    next_seq: u64,
    chain_key: ChainKey,
}

impl SenderChain {
    /// A chain whose first message is number 1, keyed by `chain_key`.
    pub fn new(chain_key: ChainKey) -> Self {
        Self {
            next_seq: 1,
            chain_key,
        }
    }

    /// The number the next message will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// A receiver for this chain from its current position: what a member
    /// joining now is given. It cannot open anything sent before.
    pub fn receiver(&self) -> ReceiverChain {
        ReceiverChain::new(self.chain_key.clone(), self.next_seq)
    }

    /// The next message's number and key. The chain key steps forward and
    /// the old one is wiped, so this state can never give the key again.
    /// (Store the chain before publishing what the key seals.)
    #[allow(clippy::should_implement_trait)] // not an iterator: it can fail
    pub fn next(&mut self) -> Result<(u64, MessageKey), RatchetError> {
        let seq = self.next_seq;
        let following = seq.checked_add(1).ok_or(RatchetError::Exhausted)?;
        let (key, chain_key) = self.chain_key.step();
        // The assignment drops (and so wipes) the previous chain key.
        self.chain_key = chain_key;
        self.next_seq = following;
        Ok((seq, key))
    }
}

impl fmt::Debug for SenderChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SenderChain")
            .field("next_seq", &self.next_seq)
            .field("chain_key", &"<redacted>")
            .finish()
    }
}

/// Another member's chain in one epoch, as we receive it.
///
/// Holds the chain key for the next number and the keys skipped on the way
/// (messages that have not arrived yet). Every number below the next one
/// that is not among the skipped keys was used or dropped.
#[derive(Clone)]
pub struct ReceiverChain {
    /// The number `chain_key` gives the key for.
    next_seq: u64,
    chain_key: ChainKey,
    /// Every number at or below it is gone: the highest number whose key
    /// was dropped to keep the store within [`MAX_SKIPPED_KEYS`] (0 if
    /// none). Used to tell "too old" from "already used".
    floor: u64,
    /// Keys for numbers in `floor + 1 .. next_seq` not received yet.
    /// Boxed, so that the tree moving its entries around (on inserts and
    /// removals) moves pointers, not key bytes: each key lives in one
    /// place, wiped when dropped, with no stale copies left in freed nodes.
    skipped: BTreeMap<u64, Box<Secret>>,
}

impl ReceiverChain {
    /// A receiver whose chain key `chain_key` gives the key for message
    /// `next_seq` (1 for a chain from its start); numbers below it can
    /// never be opened. A `next_seq` of 0 is taken as 1.
    pub fn new(chain_key: ChainKey, next_seq: u64) -> Self {
        let next_seq = next_seq.max(1);
        Self {
            next_seq,
            chain_key,
            floor: next_seq - 1,
            skipped: BTreeMap::new(),
        }
    }

    /// The number the chain key gives the key for: the next one beyond
    /// everything received or skipped.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// How many skipped keys are kept (messages still awaited).
    pub fn skipped_len(&self) -> usize {
        self.skipped.len()
    }

    /// The key for message `seq`, staged: nothing changes until the
    /// caller [commits](Self::commit) it, which it should do only after
    /// the AEAD and the signature both passed. Dropping the [`Staged`]
    /// instead leaves the chain as it was.
    ///
    /// A number ahead of the chain costs one HMAC step per number (at most
    /// [`MAX_FORWARD_JUMP`] + 1); one behind it is looked up among the
    /// skipped keys.
    pub fn key_for(&self, seq: u64) -> Result<Staged, RatchetError> {
        if seq == 0 {
            return Err(RatchetError::ZeroSequence);
        }
        if seq < self.next_seq {
            let key = self.skipped.get(&seq).ok_or(self.gone(seq))?;
            return Ok(Staged {
                seq,
                key: MessageKey::from_secret(key),
                advance: None,
            });
        }
        if seq - self.next_seq > MAX_FORWARD_JUMP {
            return Err(RatchetError::TooFarAhead {
                seq,
                next: self.next_seq,
            });
        }
        let next_seq = seq.checked_add(1).ok_or(RatchetError::Exhausted)?;
        let mut skipped = VecDeque::new();
        let mut dropped_through = 0;
        let mut chain_key = self.chain_key.clone();
        for skipped_seq in self.next_seq..seq {
            let (key, next) = chain_key.step();
            chain_key = next;
            if skipped.len() == MAX_SKIPPED_KEYS {
                // Only the newest MAX_SKIPPED_KEYS could survive the commit
                // anyway (only reachable if the jump limit is raised).
                if let Some((old, _)) = skipped.pop_front() {
                    dropped_through = old;
                }
            }
            skipped.push_back((skipped_seq, key.to_secret()));
        }
        let (key, chain_key) = chain_key.step();
        Ok(Staged {
            seq,
            key,
            advance: Some(Advance {
                base_seq: self.next_seq,
                next_seq,
                chain_key,
                skipped,
                dropped_through,
            }),
        })
    }

    /// Applies a key staged by [`key_for`](Self::key_for) on this chain (or
    /// on a copy of the chain it was staged from; a staging from another
    /// sender's chain is a caller bug that this cannot always detect):
    /// the message's key is deleted (a skipped one from the store; a new
    /// one by stepping the chain past it, keeping the keys jumped over).
    ///
    /// Stagings from one state may be committed in any order (a batch
    /// staged at once, then committed as its messages check out). Fails,
    /// changing nothing, if the key was used meanwhile (the same message
    /// twice: a replay), or if the staging came from a later state of the
    /// chain than this one.
    pub fn commit(&mut self, staged: Staged) -> Result<(), RatchetError> {
        let seq = staged.seq;
        if seq < self.next_seq {
            // Staged from the store, or staged ahead and overtaken since by
            // a later number: either way the key is in the store now, if it
            // has not been used.
            return match self.skipped.remove(&seq) {
                Some(_) => Ok(()),
                None => Err(self.gone(seq)),
            };
        }
        let Some(advance) = staged.advance else {
            return Err(RatchetError::Mismatch);
        };
        if advance.base_seq > self.next_seq {
            return Err(RatchetError::Mismatch);
        }
        // Keys below our next number were already handled (stored, used
        // or dropped) by the commit that overtook this staging.
        for (skipped_seq, key) in advance.skipped.into_iter() {
            if skipped_seq >= self.next_seq {
                self.skipped.insert(skipped_seq, key);
            }
        }
        self.floor = self.floor.max(advance.dropped_through);
        self.chain_key = advance.chain_key;
        self.next_seq = advance.next_seq;
        while self.skipped.len() > MAX_SKIPPED_KEYS {
            if let Some((old, _)) = self.skipped.pop_first() {
                self.floor = self.floor.max(old);
            }
        }
        Ok(())
    }

    /// Why a number below the chain has no key.
    fn gone(&self, seq: u64) -> RatchetError {
        if seq <= self.floor {
            RatchetError::TooOld(seq)
        } else {
            RatchetError::AlreadyUsed(seq)
        }
    }

    /// Whether two chains hold the same state (constant time in the keys;
    /// for tests and for checking a stored copy).
    pub fn same_state(&self, other: &Self) -> bool {
        self.next_seq == other.next_seq
            && self.floor == other.floor
            && self.chain_key.0.ct_eq(&other.chain_key.0)
            && self.skipped.len() == other.skipped.len()
            && (self.skipped.iter())
                .zip(other.skipped.iter())
                .all(|((a, ka), (b, kb))| a == b && ka.ct_eq(kb))
    }
}

impl PartialEq for ReceiverChain {
    fn eq(&self, other: &Self) -> bool {
        self.same_state(other)
    }
}

impl Eq for ReceiverChain {}

impl PartialEq for SenderChain {
    fn eq(&self, other: &Self) -> bool {
        self.next_seq == other.next_seq && self.chain_key.0.ct_eq(&other.chain_key.0)
    }
}

impl Eq for SenderChain {}

impl fmt::Debug for ReceiverChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverChain")
            .field("next_seq", &self.next_seq)
            .field("floor", &self.floor)
            .field("skipped", &self.skipped.len())
            .field("chain_key", &"<redacted>")
            .finish()
    }
}

/// A message key computed by [`ReceiverChain::key_for`], with the change
/// to the chain that using it implies. Commit it with
/// [`ReceiverChain::commit`] once the message checked out, or drop it.
#[must_use = "a staged key changes nothing until it is committed"]
pub struct Staged {
    seq: u64,
    key: MessageKey,
    /// `None` for a key taken from the skipped store.
    advance: Option<Advance>,
}

/// The chain stepped past a message ahead of it.
struct Advance {
    /// The chain's next number when this was staged.
    base_seq: u64,
    /// The chain's next number after the message.
    next_seq: u64,
    chain_key: ChainKey,
    /// The keys jumped over, oldest first.
    skipped: VecDeque<(u64, Box<Secret>)>,
    /// The highest number jumped over whose key was not kept (0 if none).
    dropped_through: u64,
}

impl Staged {
    /// The message number the key is for.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The message key, to open the message with.
    pub fn key(&self) -> &MessageKey {
        &self.key
    }
}

impl fmt::Debug for Staged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Staged")
            .field("seq", &self.seq)
            .field("from_skipped", &self.advance.is_none())
            .field("key", &"<redacted>")
            .finish()
    }
}

// ---------------------------------------------------------------------------
// Storage form
// ---------------------------------------------------------------------------

impl Serialize for SenderChain {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("SenderChain", 2)?;
        state.serialize_field("next_seq", &self.next_seq)?;
        state.serialize_field("chain_key", &self.chain_key.0)?;
        state.end()
    }
}

#[derive(Deserialize)]
#[serde(rename = "SenderChain")]
struct SenderState {
    next_seq: u64,
    chain_key: Secret,
}

impl<'de> Deserialize<'de> for SenderChain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let state = SenderState::deserialize(deserializer)?;
        if state.next_seq == 0 {
            return Err(de::Error::custom(RatchetError::BadState(
                "message numbers start at 1",
            )));
        }
        Ok(Self {
            next_seq: state.next_seq,
            chain_key: ChainKey(state.chain_key),
        })
    }
}

impl Serialize for ReceiverChain {
    /// The skipped keys as a list of `(number, key)` pairs, in order.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("ReceiverChain", 4)?;
        state.serialize_field("next_seq", &self.next_seq)?;
        state.serialize_field("chain_key", &self.chain_key.0)?;
        state.serialize_field("floor", &self.floor)?;
        state.serialize_field("skipped", &SkippedList(&self.skipped))?;
        state.end()
    }
}

struct SkippedList<'a>(&'a BTreeMap<u64, Box<Secret>>);

impl Serialize for SkippedList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

#[derive(Deserialize)]
#[serde(rename = "ReceiverChain")]
struct ReceiverState {
    next_seq: u64,
    chain_key: Secret,
    floor: u64,
    #[serde(deserialize_with = "bounded_skipped")]
    skipped: Vec<(u64, Box<Secret>)>,
}

impl<'de> Deserialize<'de> for ReceiverChain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let state = ReceiverState::deserialize(deserializer)?;
        Self::try_from(state).map_err(de::Error::custom)
    }
}

impl TryFrom<ReceiverState> for ReceiverChain {
    type Error = RatchetError;

    /// Checks what the rest of the module relies on: numbers from 1, the
    /// floor below the next number, skipped keys strictly between the two
    /// and in order (so no number has two keys).
    fn try_from(state: ReceiverState) -> Result<Self, RatchetError> {
        if state.next_seq == 0 {
            return Err(RatchetError::BadState("message numbers start at 1"));
        }
        if state.floor >= state.next_seq {
            return Err(RatchetError::BadState("floor not below the next number"));
        }
        let mut skipped = BTreeMap::new();
        let mut previous = state.floor;
        for (seq, key) in state.skipped {
            if seq <= previous || seq >= state.next_seq {
                return Err(RatchetError::BadState(
                    "skipped keys out of order or out of range",
                ));
            }
            previous = seq;
            skipped.insert(seq, key);
        }
        Ok(Self {
            next_seq: state.next_seq,
            chain_key: ChainKey(state.chain_key),
            floor: state.floor,
            skipped,
        })
    }
}

/// Decodes the skipped keys, refusing more than [`MAX_SKIPPED_KEYS`]
/// before reading (or allocating for) any beyond the limit.
fn bounded_skipped<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(u64, Box<Secret>)>, D::Error> {
    struct Bounded;

    impl<'de> Visitor<'de> for Bounded {
        type Value = Vec<(u64, Box<Secret>)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "at most {MAX_SKIPPED_KEYS} skipped keys")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            if seq.size_hint().is_some_and(|n| n > MAX_SKIPPED_KEYS) {
                return Err(de::Error::invalid_length(MAX_SKIPPED_KEYS + 1, &self));
            }
            let mut keys = Vec::new();
            while let Some(entry) = seq.next_element()? {
                if keys.len() == MAX_SKIPPED_KEYS {
                    return Err(de::Error::invalid_length(MAX_SKIPPED_KEYS + 1, &self));
                }
                keys.push(entry);
            }
            Ok(keys)
        }
    }

    deserializer.deserialize_seq(Bounded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain_key() -> ChainKey {
        ChainKey::from_bytes([7; 32])
    }

    /// The first `n` message keys of the chain, as the sender makes them.
    fn sent(n: u64) -> Vec<[u8; 32]> {
        let mut sender = SenderChain::new(chain_key());
        (1..=n)
            .map(|expected| {
                let (seq, key) = sender.next().unwrap();
                assert_eq!(seq, expected);
                *key.as_bytes()
            })
            .collect()
    }

    /// Stages and commits `seq`, returning its key.
    fn receive(chain: &mut ReceiverChain, seq: u64) -> Result<[u8; 32], RatchetError> {
        let staged = chain.key_for(seq)?;
        let key = *staged.key().as_bytes();
        chain.commit(staged)?;
        Ok(key)
    }

    fn receiver() -> ReceiverChain {
        ReceiverChain::new(chain_key(), 1)
    }

    #[test]
    fn the_zero_padded_hmac_key_is_plain_hmac() {
        let key = [0x5a; 32];
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
        mac.update(&[CHAIN_INPUT]);
        assert_eq!(
            &hmac_sha256(&key, CHAIN_INPUT)[..],
            &mac.finalize().into_bytes()[..]
        );
    }

    #[test]
    fn sender_and_receiver_agree_in_order() {
        let keys = sent(20);
        let mut chain = receiver();
        for (i, key) in keys.iter().enumerate() {
            assert_eq!(&receive(&mut chain, i as u64 + 1).unwrap(), key);
        }
        assert_eq!(chain.next_seq(), 21);
        assert_eq!(chain.skipped_len(), 0);
        // Every key differs from every other.
        let mut unique = keys.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), keys.len());
    }

    #[test]
    fn numbers_start_at_1_and_a_joiner_starts_where_the_sender_is() {
        let mut sender = SenderChain::new(chain_key());
        assert_eq!(sender.next_seq(), 1);
        sender.next().unwrap();
        sender.next().unwrap();
        let mut joiner = sender.receiver();
        let (seq, key) = sender.next().unwrap();
        assert_eq!(seq, 3);
        assert_eq!(&receive(&mut joiner, 3).unwrap(), key.as_bytes());
        assert_eq!(joiner.key_for(2).unwrap_err(), RatchetError::TooOld(2));
        assert_eq!(joiner.key_for(0).unwrap_err(), RatchetError::ZeroSequence);
    }

    #[test]
    fn out_of_order_within_the_window_opens() {
        let keys = sent(10);
        let mut chain = receiver();
        for seq in [5, 2, 9, 1, 10, 3, 4, 8, 6, 7] {
            assert_eq!(receive(&mut chain, seq).unwrap(), keys[seq as usize - 1]);
        }
        assert_eq!(chain.skipped_len(), 0);
        assert_eq!(chain.next_seq(), 11);
    }

    #[test]
    fn a_key_cannot_be_obtained_twice() {
        let mut chain = receiver();
        receive(&mut chain, 3).unwrap();
        assert_eq!(receive(&mut chain, 3), Err(RatchetError::AlreadyUsed(3)));
        receive(&mut chain, 1).unwrap();
        assert_eq!(chain.key_for(1).unwrap_err(), RatchetError::AlreadyUsed(1));
        // Two stagings of one message (a duplicate inside a batch): the
        // second commit is refused.
        let first = chain.key_for(2).unwrap();
        let second = chain.key_for(2).unwrap();
        chain.commit(first).unwrap();
        assert_eq!(chain.commit(second), Err(RatchetError::AlreadyUsed(2)));
        let first = chain.key_for(4).unwrap();
        let second = chain.key_for(4).unwrap();
        chain.commit(first).unwrap();
        assert_eq!(chain.commit(second), Err(RatchetError::AlreadyUsed(4)));
    }

    #[test]
    fn the_forward_jump_is_bounded_and_a_refusal_changes_nothing() {
        let mut chain = receiver();
        let before = chain.clone();
        let too_far = 1 + MAX_FORWARD_JUMP + 1;
        assert_eq!(
            chain.key_for(too_far).unwrap_err(),
            RatchetError::TooFarAhead {
                seq: too_far,
                next: 1
            }
        );
        assert!(chain.same_state(&before));
        assert_eq!(
            chain.key_for(u64::MAX).unwrap_err(),
            RatchetError::TooFarAhead {
                seq: u64::MAX,
                next: 1
            }
        );
        // The largest jump allowed works and fills the store exactly.
        let key = receive(&mut chain, too_far - 1).unwrap();
        let mut sender = SenderChain::new(chain_key());
        let expected = (0..too_far - 1).map(|_| sender.next().unwrap().1).last();
        assert_eq!(&key, expected.unwrap().as_bytes());
        assert_eq!(chain.skipped_len(), MAX_FORWARD_JUMP as usize);
    }

    #[test]
    fn the_skipped_store_drops_the_oldest_first() {
        let mut chain = receiver();
        // 2000 skipped by the first jump, 10 more by the second: 1..=10
        // are dropped.
        let first = MAX_SKIPPED_KEYS as u64 + 1;
        receive(&mut chain, first).unwrap();
        assert_eq!(chain.skipped_len(), MAX_SKIPPED_KEYS);
        receive(&mut chain, first + 11).unwrap();
        assert_eq!(chain.skipped_len(), MAX_SKIPPED_KEYS);
        for seq in 1..=10 {
            assert_eq!(chain.key_for(seq).unwrap_err(), RatchetError::TooOld(seq));
        }
        let keys = sent(first + 11);
        for seq in [11, 500, first - 1, first + 1, first + 10] {
            assert_eq!(receive(&mut chain, seq).unwrap(), keys[seq as usize - 1]);
        }
        assert_eq!(chain.skipped_len(), MAX_SKIPPED_KEYS - 5);
        // Used keys above the floor are reported as used, not too old.
        assert_eq!(
            chain.key_for(11).unwrap_err(),
            RatchetError::AlreadyUsed(11)
        );
    }

    #[test]
    fn a_staged_key_not_committed_leaves_the_chain_unchanged() {
        let mut chain = receiver();
        receive(&mut chain, 3).unwrap();
        let before = chain.clone();
        for seq in [1, 2, 4, 50, MAX_FORWARD_JUMP + 4] {
            let staged = chain.key_for(seq).unwrap();
            assert_eq!(staged.seq(), seq);
            drop(staged);
            assert!(chain.same_state(&before), "staging {seq} changed the chain");
        }
        // And the keys are still there afterwards.
        let keys = sent(4);
        assert_eq!(receive(&mut chain, 1).unwrap(), keys[0]);
        assert_eq!(receive(&mut chain, 4).unwrap(), keys[3]);
    }

    #[test]
    fn stagings_from_one_state_commit_in_any_order() {
        let keys = sent(6);
        let mut chain = receiver();
        let staged: Vec<Staged> = [4, 2, 6, 5]
            .iter()
            .map(|&s| chain.key_for(s).unwrap())
            .collect();
        for staged in staged {
            assert_eq!(staged.key().as_bytes(), &keys[staged.seq() as usize - 1]);
            chain.commit(staged).unwrap();
        }
        assert_eq!(chain.next_seq(), 7);
        // 1 and 3 are still awaited; nothing else is kept.
        assert_eq!(chain.skipped_len(), 2);
        assert_eq!(receive(&mut chain, 3).unwrap(), keys[2]);
        assert_eq!(receive(&mut chain, 1).unwrap(), keys[0]);
    }

    #[test]
    fn a_staging_from_a_later_state_is_refused() {
        let mut ahead = receiver();
        receive(&mut ahead, 5).unwrap();
        let staged = ahead.key_for(9).unwrap();
        let mut behind = receiver();
        let before = behind.clone();
        assert_eq!(behind.commit(staged), Err(RatchetError::Mismatch));
        assert!(behind.same_state(&before));
    }

    #[test]
    fn a_stolen_chain_state_cannot_open_earlier_messages() {
        let keys = sent(8);
        let mut chain = receiver();
        for seq in 1..=5 {
            receive(&mut chain, seq).unwrap();
        }
        // The thief has the state itself, and its storage form.
        let stolen = chain.clone();
        let json = serde_json::to_vec(&stolen).unwrap();
        let wire = postcard::to_stdvec(&stolen).unwrap();
        for seq in 1..=5 {
            assert!(stolen.key_for(seq).is_err(), "message {seq}");
        }
        // Nothing the state can derive from here on is an earlier key, and
        // no earlier key, seed or chain key appears in its bytes.
        let mut earlier: Vec<[u8; 32]> = keys[..5].to_vec();
        let mut ck = chain_key();
        for _ in 0..5 {
            earlier.push(*ck.as_bytes());
            earlier.push(*hmac_sha256(ck.as_bytes(), SEED_INPUT));
            ck = ck.step().1;
        }
        let mut thief = stolen.clone();
        for seq in 6..=8 {
            let key = receive(&mut thief, seq).unwrap();
            assert_eq!(key, keys[seq as usize - 1]);
            assert!(!earlier.contains(&key));
        }
        for secret in &earlier {
            let hex = crate::hex::encode(secret);
            assert!(!json.windows(hex.len()).any(|w| w == hex.as_bytes()));
            assert!(!wire.windows(32).any(|w| w == secret));
        }
        // The sender's side: after sending 5, its state gives 6 onwards.
        let mut sender = SenderChain::new(chain_key());
        for _ in 0..5 {
            sender.next().unwrap();
        }
        let wire = postcard::to_stdvec(&sender).unwrap();
        for secret in &earlier {
            assert!(!wire.windows(32).any(|w| w == secret));
        }
        assert_eq!(sender.next().unwrap().1.as_bytes(), &keys[5]);
    }

    #[test]
    fn states_round_trip_through_json_and_postcard() {
        let mut chain = receiver();
        receive(&mut chain, 4).unwrap();
        receive(&mut chain, 2).unwrap();
        let json = serde_json::to_string(&chain).unwrap();
        let back: ReceiverChain = serde_json::from_str(&json).unwrap();
        assert!(back.same_state(&chain));
        let wire = postcard::to_stdvec(&chain).unwrap();
        let back: ReceiverChain = postcard::from_bytes(&wire).unwrap();
        assert!(back.same_state(&chain));

        let mut sender = SenderChain::new(chain_key());
        sender.next().unwrap();
        let json = serde_json::to_string(&sender).unwrap();
        let mut back: SenderChain = serde_json::from_str(&json).unwrap();
        assert_eq!(back.next_seq(), 2);
        assert_eq!(
            back.next().unwrap().1.as_bytes(),
            sender.next().unwrap().1.as_bytes()
        );
    }

    fn state_json(next_seq: u64, floor: u64, skipped: &[u64]) -> String {
        let key = format!("\"{}\"", "07".repeat(32));
        let pairs: Vec<String> = skipped.iter().map(|s| format!("[{s},{key}]")).collect();
        format!(
            "{{\"next_seq\":{next_seq},\"chain_key\":{key},\"floor\":{floor},\"skipped\":[{}]}}",
            pairs.join(",")
        )
    }

    #[test]
    fn inconsistent_or_oversized_states_are_refused() {
        let ok = state_json(10, 2, &[3, 5, 9]);
        assert!(serde_json::from_str::<ReceiverChain>(&ok).is_ok());
        for bad in [
            state_json(0, 0, &[]),
            state_json(5, 5, &[]),
            state_json(10, 2, &[2]),
            state_json(10, 2, &[10]),
            state_json(10, 2, &[5, 3]),
            state_json(10, 2, &[5, 5]),
        ] {
            assert!(
                serde_json::from_str::<ReceiverChain>(&bad).is_err(),
                "{bad}"
            );
        }
        let many: Vec<u64> = (1..=MAX_SKIPPED_KEYS as u64 + 1).collect();
        let over = state_json(MAX_SKIPPED_KEYS as u64 + 5, 0, &many);
        assert!(serde_json::from_str::<ReceiverChain>(&over).is_err());
        let at = state_json(MAX_SKIPPED_KEYS as u64 + 5, 0, &many[1..]);
        assert!(serde_json::from_str::<ReceiverChain>(&at).is_ok());
        // Postcard states its length first: refused before reading on.
        // next_seq 10, the chain key, floor 2, then 65535 skipped keys.
        let mut wire = vec![10];
        wire.extend_from_slice(&[7; 32]);
        wire.extend_from_slice(&[2, 0xff, 0xff, 0x03]);
        assert!(postcard::from_bytes::<ReceiverChain>(&wire).is_err());
        let sender = format!("{{\"next_seq\":0,\"chain_key\":\"{}\"}}", "07".repeat(32));
        assert!(serde_json::from_str::<SenderChain>(&sender).is_err());
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let mut chain = receiver();
        receive(&mut chain, 3).unwrap();
        let staged = chain.key_for(1).unwrap();
        let sender = SenderChain::new(chain_key());
        let shown = format!(
            "{chain:?} {staged:?} {sender:?} {:?} {:?}",
            chain_key(),
            staged.key()
        );
        for secret in [*chain_key().as_bytes(), *staged.key().as_bytes()] {
            assert!(!shown.contains(&crate::hex::encode(&secret)));
            assert!(!shown.contains(&format!("{:?}", &secret[..4])[1..]));
        }
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn an_exhausted_chain_refuses_instead_of_wrapping() {
        let mut sender: SenderChain = serde_json::from_str(&format!(
            "{{\"next_seq\":{},\"chain_key\":\"{}\"}}",
            u64::MAX,
            "07".repeat(32)
        ))
        .unwrap();
        assert_eq!(sender.next().unwrap_err(), RatchetError::Exhausted);
        assert_eq!(sender.next_seq(), u64::MAX);
        let chain = ReceiverChain::new(chain_key(), u64::MAX);
        assert_eq!(
            chain.key_for(u64::MAX).unwrap_err(),
            RatchetError::Exhausted
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_delivery_order_opens_every_message_once(
            order in Just((1..=40u64).collect::<Vec<_>>()).prop_shuffle(),
            duplicates in proptest::collection::vec(1..=40u64, 0..10),
        ) {
            let keys = sent(40);
            let mut chain = receiver();
            for &seq in &order {
                prop_assert_eq!(receive(&mut chain, seq).unwrap(), keys[seq as usize - 1]);
            }
            for seq in duplicates {
                prop_assert_eq!(receive(&mut chain, seq), Err(RatchetError::AlreadyUsed(seq)));
            }
            prop_assert_eq!(chain.skipped_len(), 0);
            prop_assert_eq!(chain.next_seq(), 41);
        }

        #[test]
        fn a_batch_staged_at_once_commits_in_any_order(
            batch in proptest::collection::btree_set(1..=60u64, 1..30)
                .prop_map(|set| set.into_iter().collect::<Vec<_>>())
                .prop_shuffle(),
            before in 0..10u64,
        ) {
            let keys = sent(70);
            let mut chain = receiver();
            // Some history first, so stagings start from the store too.
            if before > 0 {
                receive(&mut chain, before).unwrap();
            }
            let mut sequential = chain.clone();
            let staged: Vec<Staged> =
                batch.iter().filter_map(|&seq| chain.key_for(seq).ok()).collect();
            for staged in staged {
                let seq = staged.seq();
                prop_assert_eq!(staged.key().as_bytes(), &keys[seq as usize - 1]);
                chain.commit(staged).unwrap();
                receive(&mut sequential, seq).unwrap();
            }
            prop_assert!(chain.same_state(&sequential));
        }

        #[test]
        fn lost_messages_leave_exactly_their_keys(
            delivered in proptest::collection::btree_set(1..=60u64, 1..60),
        ) {
            let keys = sent(60);
            let mut chain = receiver();
            for &seq in &delivered {
                prop_assert_eq!(receive(&mut chain, seq).unwrap(), keys[seq as usize - 1]);
            }
            let highest = *delivered.iter().next_back().unwrap();
            prop_assert_eq!(chain.next_seq(), highest + 1);
            prop_assert_eq!(chain.skipped_len() as u64, highest - delivered.len() as u64);
        }
    }
}
