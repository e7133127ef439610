//! What a room with a membership log keeps between runs besides its
//! header: the log's state, the past epochs whose keys are still kept, the
//! parent epoch a better concurrent commit may still go back to, and the
//! commits and keys that wait for each other.

use serde::{Deserialize, Serialize};

use crate::epoch_secret::EpochSecret;
use crate::identity::Fingerprint;
use crate::log::{Change, CommitHash, LogState, Rank, Ticket};
use crate::ratchet::SenderChain;
use crate::secret::SymmetricKey;

/// How many past epochs' keys a room keeps, for messages sent before the
/// sender saw a commit, and for members who were away.
pub const MAX_PAST_EPOCHS: usize = 3;

/// How long a past epoch's key is kept after the epoch ended.
pub const PAST_EPOCH_TTL_MS: u64 = 7 * 24 * 3600 * 1000;

/// Commits and keys waiting for each other, at most this many each.
pub(super) const MAX_PENDING: usize = 16;

/// An epoch the room has left, whose key is still kept.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PastEpoch {
    /// Its number.
    pub epoch: u64,
    #[serde(with = "super::stored_key")]
    pub(super) key: SymmetricKey,
    /// When the room left it.
    pub ended_ms: u64,
}

impl PastEpoch {
    pub(super) fn new(epoch: u64, key: SymmetricKey, ended_ms: u64) -> Self {
        Self {
            epoch,
            key,
            ended_ms,
        }
    }
}

/// The epoch the room is leaving when a commit of ours or a better one
/// arrives: kept until the next commit, so a better concurrent commit on
/// the same parent can still replace the one taken.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Parent {
    pub(super) state: LogState,
    pub(super) epoch: u64,
    #[serde(with = "super::stored_key")]
    pub(super) key: SymmetricKey,
    /// The rank of the commit taken on it.
    pub(super) taken: Rank,
    /// Who made the commit taken, and whether it was us.
    pub(super) taken_by_us: Option<Change>,
}

/// An epoch secret from a slot, waiting for its commit.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct GrantedKey {
    pub(super) epoch: u64,
    pub(super) commit: CommitHash,
    #[serde(with = "super::stored_key")]
    pub(super) key: SymmetricKey,
}

/// The secret of an epoch a member let us into, kept until the epoch's
/// log state says whose chains to start.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct PendingSecret {
    pub(super) epoch: u64,
    #[serde(with = "super::stored_key")]
    secret: SymmetricKey,
}

impl PendingSecret {
    pub(super) fn new(epoch: u64, secret: &EpochSecret) -> Self {
        Self {
            epoch,
            secret: SymmetricKey::from_bytes(*secret.as_bytes()),
        }
    }

    pub(super) fn secret(&self) -> EpochSecret {
        EpochSecret::from_bytes(*self.secret.as_bytes())
    }
}

/// What the log part of a room keeps between runs.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogParts {
    pub(super) state: Option<LogState>,
    #[serde(default)]
    pub(super) past: Vec<PastEpoch>,
    #[serde(default)]
    pub(super) parent: Option<Box<Parent>>,
    #[serde(default)]
    pub(super) keys: Vec<GrantedKey>,
    /// Commits (as received) waiting for our key slot.
    #[serde(default)]
    pub(super) commits: Vec<Vec<u8>>,
    /// The ticket to redeem on the first connection, for a room joined
    /// with an invite and not yet added.
    #[serde(default)]
    pub(super) joining: Option<Ticket>,
    /// The hash of the log state the invite named, while we wait for the
    /// state itself.
    #[serde(default, with = "optional_hash")]
    pub(super) expected_state: Option<[u8; 32]>,
    /// Set once a commit removed us: who did it.
    #[serde(default)]
    pub(super) removed_by: Option<String>,
    /// The ticket our own add carried, until a later commit confirms it
    /// (a concurrent commit may still win over it).
    #[serde(default)]
    pub(super) joined_with: Option<Ticket>,
    /// Whether we asked a member to let us in (see `joining.rs`).
    #[serde(default)]
    pub(super) requesting: bool,
    /// After a member let us in: the commit whose log state we wait for,
    /// and who sealed us the key.
    #[serde(default)]
    pub(super) admitted_by: Option<(CommitHash, Fingerprint)>,
    /// Our own hash ratchet in each epoch whose key is kept (see
    /// `chains.rs`); we send on the current epoch's.
    #[serde(default)]
    pub(super) sending: Vec<(u64, SenderChain)>,
    /// See [`PendingSecret`].
    #[serde(default)]
    pub(super) pending_secret: Option<PendingSecret>,
    /// When the room rotates on its own; `None` for the default.
    #[serde(default)]
    pub(super) rotate_after: Option<super::RotateAfter>,
    /// When each of the last epochs started, by its commit's signed time
    /// (at most [`EPOCH_STARTS_KEPT`]).
    #[serde(default)]
    pub(super) epoch_starts: Vec<(u64, u64)>,
    /// A commit of ours made offline (the hand-over `init --force` makes),
    /// to publish on the room's next connection.
    #[serde(default)]
    pub(super) unpublished: Option<UnpublishedCommit>,
}

/// A commit of ours and its key slots, made while offline.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnpublishedCommit {
    /// The epoch it leaves, on whose topics it goes.
    pub from_epoch: u64,
    /// The sealed commit.
    pub commit: Vec<u8>,
    /// The key slots, by recipient.
    pub slots: Vec<(Fingerprint, Vec<u8>)>,
}

/// How many epoch start times a room keeps: enough to say when a member
/// back after more than [`MAX_PAST_EPOCHS`] rotations stopped being
/// reached.
pub(super) const EPOCH_STARTS_KEPT: usize = 2 * MAX_PAST_EPOCHS + 2;

impl std::fmt::Debug for LogParts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogParts")
            .field("head", &self.state.as_ref().map(|s| s.head))
            .field(
                "past",
                &self.past.iter().map(|p| p.epoch).collect::<Vec<_>>(),
            )
            .field("pending_commits", &self.commits.len())
            .field("joining", &self.joining.is_some())
            .finish_non_exhaustive()
    }
}

mod optional_hash {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<[u8; 32]>, s: S) -> Result<S::Ok, S::Error> {
        v.map(|h| crate::hex::encode(&h)).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<[u8; 32]>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|h| {
                crate::hex::decode_array::<32>(&h)
                    .ok_or_else(|| serde::de::Error::custom("bad state hash"))
            })
            .transpose()
    }
}
