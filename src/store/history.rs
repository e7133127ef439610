//! Message history: every message shown in a room, ours included, sealed
//! at rest, with a "not yet shown" mark between being saved and being
//! shown. A message is saved (with the room state it changes) before it is
//! shown, and acknowledged to the broker only after its mark is cleared;
//! so after a crash the broker delivers it again and the mark says it must
//! be shown, not dropped as a replay.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use super::rows::Sealer;
use super::{Store, StoreError};
use crate::identity::Fingerprint;
use crate::protocol::message::Body;
use crate::room::{Delivery, RoomId, Trust};
use crate::when::Retention;

/// One message as the history keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredMessage {
    /// The sender's name when it arrived.
    pub from: String,
    /// The sender's fingerprint.
    pub fingerprint: Fingerprint,
    /// How far the sender was trusted when it arrived.
    pub trust: Trust,
    /// The sender's sequence number.
    pub seq: u64,
    /// When the sender says it was sent.
    pub sent_at_ms: u64,
    /// When it arrived here (or was sent, for ours).
    pub received_ms: u64,
    /// The text.
    pub body: Body,
    /// Whether we sent it.
    pub own: bool,
}

impl StoredMessage {
    /// A received message, as saved when it arrives.
    pub fn received(delivery: &Delivery, received_ms: u64) -> Self {
        Self {
            from: delivery.from.clone(),
            fingerprint: delivery.fingerprint,
            trust: delivery.trust,
            seq: delivery.seq,
            sent_at_ms: delivery.sent_at_ms,
            received_ms,
            body: delivery.body.clone(),
            own: false,
        }
    }

    /// The message as something to show again (without the notices that
    /// came with it the first time).
    pub fn to_delivery(&self) -> Delivery {
        Delivery {
            from: self.from.clone(),
            fingerprint: self.fingerprint,
            trust: self.trust,
            seq: self.seq,
            sent_at_ms: self.sent_at_ms,
            body: self.body.clone(),
            notices: Vec::new(),
            // Recalled, not arriving: history is never "delayed".
            warning: None,
            received_ms: self.received_ms,
            delayed: false,
        }
    }
}

/// The row key of one message: room, sender and number, hashed.
fn message_row(sealer: &Sealer, room: &RoomId, sender: &Fingerprint, seq: u64) -> Vec<u8> {
    let mut row = sealer.member_key(room, sender);
    row.extend_from_slice(&seq.to_be_bytes());
    row
}

/// Saves messages in a transaction, marked shown or not yet shown. A
/// message already saved keeps its row (a redelivery).
pub(super) fn insert(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    room: &RoomId,
    messages: &[StoredMessage],
    shown: bool,
) -> Result<(), rusqlite::Error> {
    let room_key = sealer.room_key(room);
    let mut statement = tx.prepare_cached(
        "INSERT INTO messages (room, sender, seq, at_ms, shown, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (room, sender, seq) DO NOTHING",
    )?;
    for message in messages {
        let sender = sealer.member_key(room, &message.fingerprint);
        let row = message_row(sealer, room, &message.fingerprint, message.seq);
        statement.execute(params![
            room_key,
            sender,
            message.seq as i64,
            message.received_ms as i64,
            shown,
            sealer.seal("messages", &row, message),
        ])?;
    }
    Ok(())
}

/// Clears the "not yet shown" mark of these messages.
pub(super) fn mark_shown(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    room: &RoomId,
    shown: &[(Fingerprint, u64)],
) -> Result<(), rusqlite::Error> {
    let room_key = sealer.room_key(room);
    let mut statement = tx.prepare_cached(
        "UPDATE messages SET shown = 1 WHERE room = ?1 AND sender = ?2 AND seq = ?3",
    )?;
    for (sender, seq) in shown {
        statement.execute(params![
            room_key,
            sealer.member_key(room, sender),
            *seq as i64
        ])?;
    }
    Ok(())
}

/// A saved message, if there is one with this sender and number; with
/// `only_unshown`, only one that has not been shown yet.
pub(super) fn saved(
    conn: &rusqlite::Connection,
    sealer: &Sealer,
    room: &RoomId,
    sender: &Fingerprint,
    seq: u64,
    only_unshown: bool,
) -> Result<Option<StoredMessage>, rusqlite::Error> {
    let record: Option<Vec<u8>> = conn
        .query_row(
            "SELECT record FROM messages
             WHERE room = ?1 AND sender = ?2 AND seq = ?3 AND (shown = 0 OR NOT ?4)",
            params![
                sealer.room_key(room),
                sealer.member_key(room, sender),
                seq as i64,
                only_unshown
            ],
            |row| row.get(0),
        )
        .optional()?;
    Ok(record.and_then(|record| {
        sealer
            .open("messages", &message_row(sealer, room, sender, seq), &record)
            .ok()
    }))
}

/// The last `limit` messages of a room received at or after `since_ms`,
/// oldest first. Records that no longer open are skipped and counted.
pub(super) fn recent(
    conn: &rusqlite::Connection,
    sealer: &Sealer,
    room: &RoomId,
    limit: usize,
    since_ms: u64,
) -> Result<(Vec<StoredMessage>, usize), rusqlite::Error> {
    let mut statement = conn.prepare_cached(
        "SELECT record, seq, sender FROM messages
         WHERE room = ?1 AND at_ms >= ?2
         ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = statement.query_map(
        params![
            sealer.room_key(room),
            since_ms.min(i64::MAX as u64) as i64,
            limit.min(i64::MAX as usize) as i64
        ],
        |row| {
            Ok((
                row.get::<_, Vec<u8>>(0)?,
                row.get::<_, i64>(1)?,
                row.get::<_, Vec<u8>>(2)?,
            ))
        },
    )?;
    let mut messages = Vec::new();
    let mut unreadable = 0;
    for row in rows {
        let (record, seq, sender) = row?;
        let mut key = sender;
        key.extend_from_slice(&(seq as u64).to_be_bytes());
        match sealer.open::<StoredMessage>("messages", &key, &record) {
            Ok(message) => messages.push(message),
            Err(_) => unreadable += 1,
        }
    }
    messages.reverse();
    Ok((messages, unreadable))
}

/// Deletes a room's history older than `before_ms`, or beyond the newest
/// `keep` messages; returns how many went.
pub(super) fn prune(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    room: &RoomId,
    before_ms: Option<u64>,
    keep: Option<usize>,
) -> Result<usize, rusqlite::Error> {
    let room_key = sealer.room_key(room);
    let mut gone = 0;
    if let Some(before) = before_ms {
        gone += tx.execute(
            "DELETE FROM messages WHERE room = ?1 AND at_ms < ?2 AND shown = 1",
            params![room_key, before.min(i64::MAX as u64) as i64],
        )?;
    }
    if let Some(keep) = keep {
        gone += tx.execute(
            "DELETE FROM messages WHERE room = ?1 AND shown = 1 AND id NOT IN
             (SELECT id FROM messages WHERE room = ?1 ORDER BY id DESC LIMIT ?2)",
            params![room_key, keep.min(i64::MAX as usize) as i64],
        )?;
    }
    Ok(gone)
}

/// How much history a room keeps (`default` unless set for the room).
pub(super) fn retention(
    conn: &rusqlite::Connection,
    sealer: &Sealer,
    room: &RoomId,
    default: Retention,
) -> Result<Retention, rusqlite::Error> {
    let keep: Option<String> = conn
        .query_row(
            "SELECT keep FROM retention WHERE room = ?1",
            params![sealer.room_key(room)],
            |row| row.get(0),
        )
        .optional()?;
    Ok(keep.and_then(|keep| keep.parse().ok()).unwrap_or(default))
}

/// Sets how much history a room keeps.
pub(super) fn set_retention(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    room: &RoomId,
    keep: Retention,
) -> Result<(), rusqlite::Error> {
    tx.execute(
        "INSERT INTO retention (room, keep) VALUES (?1, ?2)
         ON CONFLICT (room) DO UPDATE SET keep = excluded.keep",
        params![sealer.room_key(room), keep.to_string()],
    )?;
    Ok(())
}

impl Store {
    /// Clears the "not yet shown" mark of messages once they are shown.
    pub fn mark_shown(&self, id: &RoomId, shown: &[(Fingerprint, u64)]) -> Result<(), StoreError> {
        if shown.is_empty() {
            return Ok(());
        }
        let db = self.db()?;
        db.write(|tx, sealer| mark_shown(tx, sealer, id, shown).map_err(|err| db.error(err)))
    }

    /// A saved message still marked not yet shown, if this is one.
    pub fn unshown_message(
        &self,
        id: &RoomId,
        sender: &Fingerprint,
        seq: u64,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let db = self.db()?;
        db.read(|conn, sealer| {
            saved(conn, sealer, id, sender, seq, true).map_err(|err| db.error(err))
        })
    }

    /// A saved message by sender and number, shown or not.
    pub fn saved_message(
        &self,
        id: &RoomId,
        sender: &Fingerprint,
        seq: u64,
    ) -> Result<Option<StoredMessage>, StoreError> {
        let db = self.db()?;
        db.read(|conn, sealer| {
            saved(conn, sealer, id, sender, seq, false).map_err(|err| db.error(err))
        })
    }

    /// The last `limit` messages of a room that arrived at or after
    /// `since_ms`, oldest first, and how many records would not open.
    pub fn history(
        &self,
        id: &RoomId,
        limit: usize,
        since_ms: u64,
    ) -> Result<(Vec<StoredMessage>, usize), StoreError> {
        let db = self.db()?;
        db.read(|conn, sealer| {
            recent(conn, sealer, id, limit, since_ms).map_err(|err| db.error(err))
        })
    }

    /// Deletes a room's history older than `before_ms` and beyond the
    /// newest `keep` messages; returns how many messages went.
    pub fn prune_history(
        &self,
        id: &RoomId,
        before_ms: Option<u64>,
        keep: Option<usize>,
    ) -> Result<usize, StoreError> {
        let db = self.db()?;
        db.write(|tx, sealer| prune(tx, sealer, id, before_ms, keep).map_err(|err| db.error(err)))
    }

    /// How much history a room keeps: its own setting, or the store's
    /// default.
    pub fn retention(&self, id: &RoomId) -> Result<Retention, StoreError> {
        let db = self.db()?;
        db.read(|conn, sealer| {
            retention(conn, sealer, id, self.default_retention).map_err(|err| db.error(err))
        })
    }

    /// Sets how much history a room keeps and prunes what is beyond it
    /// now; returns how many messages went.
    pub fn set_retention(&self, id: &RoomId, keep: Retention) -> Result<usize, StoreError> {
        let db = self.db()?;
        db.write(|tx, sealer| {
            set_retention(tx, sealer, id, keep).map_err(|err| db.error(err))?;
            let (before, count) = keep.limits(crate::session::now_ms());
            prune(tx, sealer, id, before, count).map_err(|err| db.error(err))
        })
    }
}
