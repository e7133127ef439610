//! What a session tells its front end, and why it stops.

use super::MembershipError;
use crate::protocol::OpenError;
use crate::room::{Delivery, Notice, PresenceUpdate, RoomError};
use crate::store::StoreError;
use crate::transport::{BrokerUrl, TransportError};

/// Why a session could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// State on disk.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The room refused (blocked by a key change, text too long).
    #[error(transparent)]
    Room(#[from] RoomError),
    /// Our own membership change could not be made.
    #[error(transparent)]
    Membership(#[from] MembershipError),
    /// Another process of this home is connected to the room.
    #[error(
        "another sotto process (chat or listen) is already connected to room {0:?} from this home; close it first"
    )]
    Busy(String),
}

/// What happened in the room, for the front end to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A message from another member, checked. It counts as shown, and is
    /// saved and acknowledged, at the next call to
    /// [`RoomSession::next_event`](super::RoomSession::next_event) or [`RoomSession::delivered`](super::RoomSession::delivered).
    Message(Delivery),
    /// The room moved to a new epoch through a membership change.
    Membership {
        /// What changed.
        change: crate::room::MembershipChange,
        /// The new epoch.
        epoch: u64,
    },
    /// A member answered our join request: the log refuses it (a used-up
    /// or expired invite, a name taken), and why.
    JoinRefused {
        /// Who answered.
        by: String,
        /// Why, in the log's words.
        reason: String,
    },
    /// A commit removed us from the room; the session has nothing more to
    /// show.
    Removed {
        /// Who removed us (our own name if we left).
        by: String,
    },
    /// A member came online or went offline (or announced a new key).
    Presence(PresenceUpdate),
    /// Things to tell the user that came with no message (messages a
    /// member sent that never arrived).
    Notices(Vec<Notice>),
    /// A payload was refused; show as a warning, never as a message.
    Dropped(OpenError),
    /// More payloads were refused than are worth one line each.
    DroppedMore {
        /// How many were not shown one by one.
        count: usize,
    },
    /// A publish larger than any sotto payload was thrown away.
    Discarded {
        /// Its size in bytes.
        bytes: usize,
    },
    /// QoS 0 publishes on the message topic were ignored.
    Unacknowledged {
        /// How many.
        count: usize,
    },
    /// Connected or reconnected.
    Connected {
        /// Whether this follows a lost connection.
        reconnect: bool,
        /// The broker (of the list) that took the connection.
        node: BrokerUrl,
    },
    /// The connection dropped; the session keeps retrying.
    Disconnected {
        /// Why, in a few words.
        reason: String,
        /// The broker that was lost.
        node: BrokerUrl,
        /// The broker tried next, when it is another one of the list.
        next: Option<BrokerUrl>,
    },
    /// A message of ours came back from the broker: it is in the room.
    /// Sent by this session, or by another process of this home (`sotto
    /// send`), whose copy is in the history.
    OwnEcho {
        /// Its number.
        seq: u64,
    },
    /// Something the user should know that does not stop the session.
    Warning(String),
    /// Detail for `--verbose` (protocol version, client ids).
    Note(String),
}

/// A message of ours on its way to the broker.
#[derive(Debug)]
pub struct Outgoing {
    /// Its number in the room.
    pub seq: u64,
    /// Resolves once the broker acknowledged it (`Ok(Ok(()))`), refused
    /// it, or lost it with our session.
    pub acked: tokio::sync::oneshot::Receiver<Result<(), TransportError>>,
}
