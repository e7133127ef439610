//! The sans-IO protocol: what goes on the wire and how it is checked.
//!
//! - [`wire`]: the versioned, size-bounded envelope codec.
//! - [`message`]: chat messages, signed then encrypted under the epoch key.
//! - [`presence`]: presence records, signed then encrypted the same way.
//! - [`epoch_key`]: a new epoch key sealed to one member (for rotation).
//! - [`padding`]: the sizes every sealed plaintext is padded to, so the
//!   broker learns a size class rather than a length.
//!
//! Nothing here touches the network, the disk or the clock: callers pass
//! bytes, keys, the time and an RNG, and get typed results back.

pub mod chained;
pub mod epoch_key;
#[doc(hidden)]
pub mod fuzzing;
pub mod message;
pub mod padding;
pub mod presence;
pub(crate) mod sealed;
pub mod wire;

#[cfg(test)]
pub(crate) use sealed::BAD_SIGNATURE;
pub use sealed::EpochContext;
pub(crate) use sealed::{BAD_SIGNER_KEY, verify_many};
pub(crate) mod sealing {
    //! The sign-then-encrypt scheme, for payload kinds defined outside
    //! this module (the membership log).
    pub(crate) use super::sealed::{open_unverified, seal, seal_keeping_signature, signing_key_of};
}

use crate::crypto::CryptoError;
use wire::{Kind, WireError};

/// Why a received payload was refused. The message is one line meant for a
/// warning shown to the user; none carries plaintext or key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// Larger than [`wire::MAX_ENVELOPE_LEN`]; not parsed.
    #[error("payload too large ({0} bytes)")]
    TooLarge(usize),
    /// Made by a client speaking a wire version we do not know.
    #[error("unknown wire version {0} (a newer sotto?)")]
    UnknownVersion(u8),
    /// Truncated, garbage, fields that do not parse, or (after the AEAD)
    /// padding other than exactly what sealing makes.
    #[error("malformed payload")]
    Malformed,
    /// A payload of another kind arrived where this one was expected.
    #[error("{0} where something else was expected")]
    WrongKind(Kind),
    /// Sealed for another epoch than the room's current one.
    #[error("payload is for epoch {got}, the room is at epoch {current}")]
    WrongEpoch {
        /// The epoch in the payload's header.
        got: u64,
        /// The room's epoch.
        current: u64,
    },
    /// The AEAD refused it: modified in transit, or sealed under another
    /// room's key. (The two cannot be told apart, by design.)
    #[error("tampered or undecryptable payload")]
    Tampered,
    /// Decrypted, but the signature does not match the claimed sender, or
    /// the sender claims an identity that belongs to someone else.
    #[error("forged payload: {0}")]
    Forged(&'static str),
    /// A sequence number seen before (a replay or a duplicate delivery).
    #[error("replayed message (sequence {0} already received)")]
    Replayed(u64),
    /// A sequence number too old to check against the replay window.
    #[error("stale message (sequence {0} is older than the replay window)")]
    Stale(u64),
    /// An X25519 key in the payload is low-order.
    #[error("payload uses a low-order key")]
    LowOrderKey,
    /// A presence record older than the one we have (a rollback attempt or
    /// a late redelivery).
    #[error("outdated presence record (sequence {0})")]
    OutdatedPresence(u64),
    /// A presence record published on a topic other than its signer's own
    /// presence topic: a member trying to fill the member table with
    /// records on made-up topics, or the broker moving records around.
    #[error("a presence record on another member's topic")]
    WrongTopic,
    /// Signed by a key the room's membership log does not list: someone
    /// removed, or someone who never joined.
    #[error("a payload from someone who is not a member of the room")]
    NotMember,
    /// A message in an epoch where we hold no chain for its sender: sent
    /// before we joined, or by a member the epoch did not list.
    #[error("a message sent before you joined, or by someone outside its epoch")]
    NoChain,
    /// The sender's hash ratchet refused the message's step (too far
    /// ahead of what we have received from them).
    #[error("{0}")]
    Chain(crate::ratchet::RatchetError),
    /// A payload from a key the room does not know, when the room already
    /// remembers as many members as it keeps: the key was not added.
    #[error("the room already has {limit} known members; a new key was ignored")]
    RoomFull {
        /// How many members a room keeps (ourselves included).
        limit: usize,
    },
}

impl From<WireError> for OpenError {
    fn from(err: WireError) -> Self {
        match err {
            WireError::TooLarge { len, .. } => Self::TooLarge(len),
            WireError::UnknownVersion(v) => Self::UnknownVersion(v),
            WireError::Malformed => Self::Malformed,
        }
    }
}

impl From<CryptoError> for OpenError {
    fn from(err: CryptoError) -> Self {
        match err {
            CryptoError::Unauthentic => Self::Tampered,
            CryptoError::NonContributory => Self::LowOrderKey,
        }
    }
}
