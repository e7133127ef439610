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
use serde::de;
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

mod stored;

#[cfg(test)]
mod tests;
