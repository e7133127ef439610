//! The room's membership log: an ordered, signed, hash-chained list of
//! membership changes, the only thing that says who is in a room.
//!
//! Each [`Commit`] moves the room from epoch N to N + 1, names the hash of
//! the commit that made epoch N, is signed by its committer and sealed
//! under epoch N's key (so only members of epoch N read it). Every commit
//! brings a fresh epoch key, sealed to each member of the new epoch in a
//! key slot of its own (`protocol::epoch_key`), so a member removed by the
//! commit never learns the new key.
//!
//! [`LogState`] holds the head of the chain and the [`Roster`] it leads to,
//! and decides whether a commit may follow the head ([`LogState::check`]):
//! it alone applies the policy below, from the log and never from anyone's
//! clock, so every member reaches the same verdict.
//!
//! Policy (who may commit what):
//! - the creator is the first admin ([`Change::Create`]);
//! - a joiner commits its own [`Change::Add`], carrying an invite
//!   ([`Ticket`]) signed by a member of the room at that point of the log;
//!   the add is valid when its signed time is no later than the invite's
//!   expiry and no earlier than its parent's, and while the invite has
//!   uses left, counted along the chain;
//! - any member may commit a [`Change::Rotate`] or its own
//!   [`Change::Leave`];
//! - only admins commit a [`Change::Remove`] or a [`Change::Admin`] grant.
//!
//! Concurrent commits (several on the same parent, which MQTT cannot
//! order) are resolved by [`rank`]: the lowest rank wins on every client.

mod commit;
mod request;
mod state;
mod ticket;

pub use commit::{
    COMMIT_LABEL, Change, Commit, CommitHash, HAND_OVER_LABEL, SignedCommit, hand_over_consent,
    hand_over_consented, open, seal,
};
pub use request::{
    JoinRefusal, JoinRequest, MAX_REFUSAL_REASON_LEN, REFUSAL_LABEL, REQUEST_LABEL, open_refusal,
    open_request, seal_refusal, seal_request,
};

/// The signature label of the log state kept on the broker for joiners.
pub const STATE_LABEL: &[u8] = b"sotto/v1/log-state";
pub use state::{LogError, LogState, MAX_ROSTER, Rank, Roster, RosterEntry, rank};
pub use ticket::{MAX_INVITE_USES, Ticket, TicketError};
