//! What a membership change did, as receiving or making one reports it.

use crate::identity::Fingerprint;
use crate::log::{Change, LogError};
use crate::protocol::OpenError;

/// What a commit did, for the people in the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MembershipChange {
    /// Someone joined; `inviter` let them in.
    Joined {
        /// The newcomer's name.
        name: String,
        /// Their fingerprint.
        fingerprint: Fingerprint,
        /// Who made the invite.
        inviter: String,
    },
    /// An admin removed someone.
    Removed {
        /// Who was removed.
        name: String,
        /// By whom.
        by: String,
    },
    /// Someone left.
    Left {
        /// Who.
        name: String,
    },
    /// An admin made someone an admin.
    Admin {
        /// The new admin.
        name: String,
        /// By whom.
        by: String,
    },
    /// A member moved to a new key of theirs (`init --force`).
    KeyChanged {
        /// Their name.
        name: String,
        /// The new key.
        fingerprint: Fingerprint,
    },
    /// A new key with the same members.
    Rotated {
        /// By whom.
        by: String,
    },
    /// The creator of a room made before the log moved it onto one.
    MovedToLog {
        /// By whom.
        by: String,
    },
    /// The room's first commit.
    Created {
        /// By whom.
        by: String,
    },
}

/// What receiving a commit or a key slot led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Membership {
    /// The room moved to a new epoch.
    Moved {
        /// The new epoch.
        epoch: u64,
        /// What changed.
        change: MembershipChange,
        /// A change of ours that lost to this one (on the same parent) and
        /// should be made again if still wanted.
        replaced_ours: Option<Box<Change>>,
    },
    /// We were removed (or our leave took effect).
    Removed {
        /// Who removed us (our own name for a leave).
        by: String,
    },
    /// A valid piece that waits for its other half (commit or key).
    Waiting,
    /// Our invite no longer names the head (the room moved on, or another
    /// joiner's add won over ours): we must ask a member to let us in.
    MustRequest,
    /// A member let us in: the room is at a new epoch, and waits for its
    /// log state.
    Admitted {
        /// The new epoch.
        epoch: u64,
    },
    /// Nothing to do: a copy of what we have, or a commit that lost.
    Nothing,
}

/// Why a received commit or slot was refused. One line for a warning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommitRefused {
    /// It did not open or verify.
    #[error(transparent)]
    Open(#[from] OpenError),
    /// It breaks the log's rules.
    #[error("refused a membership change: {0}")]
    Log(#[from] LogError),
}

/// A commit of ours, ready to publish: the key slots first, then the
/// commit (both retained, on the topics of the epoch it leaves).
#[derive(Debug)]
pub struct Rotation {
    /// The epoch left; its topics carry everything below.
    pub from_epoch: u64,
    /// The new epoch.
    pub epoch: u64,
    /// The commit, sealed under the old epoch's key.
    pub commit: Vec<u8>,
    /// One key slot per member of the new epoch but us.
    pub slots: Vec<(Fingerprint, Vec<u8>)>,
    /// What it did.
    pub change: MembershipChange,
}

impl Rotation {
    /// What goes to the broker: the commit and its key slots.
    pub fn to_publish(&self) -> super::UnpublishedCommit {
        super::UnpublishedCommit {
            from_epoch: self.from_epoch,
            commit: self.commit.clone(),
            slots: self.slots.clone(),
        }
    }
}
