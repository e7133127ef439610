//! Message numbers of ours allocated but not yet handed to the broker.
//! One counter per room serves every process of the home (it lives in the
//! room's row); a number whose message never went out is declared skipped
//! in our next message, so nobody counts it as missed.

use std::collections::BTreeSet;

use rusqlite::{Transaction, params};

use super::rows::Sealer;
use super::{Store, StoreError, StoredMessage, existing_room};
use crate::replay::SeqRange;
use crate::room::{Room, RoomId};

/// Most numbers declared in one message (a message carries at most 32
/// ranges; older abandoned numbers wait for the next message).
const MAX_DECLARED: usize = 256;

/// Numbers allocated before `cutoff_ms` and still waiting: abandoned.
pub(super) fn abandoned(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    room: &RoomId,
    cutoff_ms: u64,
) -> Result<Vec<u64>, rusqlite::Error> {
    let mut statement = tx.prepare_cached(
        "SELECT seq FROM outbox WHERE room = ?1 AND allocated_ms < ?2 ORDER BY seq LIMIT ?3",
    )?;
    let rows = statement.query_map(
        params![
            sealer.room_key(room),
            cutoff_ms.min(i64::MAX as u64) as i64,
            MAX_DECLARED as i64
        ],
        |row| row.get::<_, i64>(0),
    )?;
    rows.map(|row| row.map(|seq| seq as u64)).collect()
}

/// Every number still waiting.
pub(super) fn waiting(
    conn: &rusqlite::Connection,
    sealer: &Sealer,
    room: &RoomId,
) -> Result<BTreeSet<u64>, rusqlite::Error> {
    let mut statement = conn.prepare_cached("SELECT seq FROM outbox WHERE room = ?1")?;
    let rows = statement.query_map(params![sealer.room_key(room)], |row| row.get::<_, i64>(0))?;
    rows.map(|row| row.map(|seq| seq as u64)).collect()
}

/// Sorted numbers as inclusive ranges, at most as many as a message may
/// declare (the rest wait for a later message).
pub(super) fn ranges(numbers: &[u64]) -> Vec<SeqRange> {
    let mut ranges: Vec<SeqRange> = Vec::new();
    for &seq in numbers {
        match ranges.last_mut() {
            Some(range) if range.last + 1 == seq => range.last = seq,
            _ => {
                if ranges.len() == crate::protocol::message::MAX_SKIPPED_RANGES {
                    break;
                }
                ranges.push(SeqRange {
                    first: seq,
                    last: seq,
                });
            }
        }
    }
    ranges
}

/// After sealing `seq`: the declared numbers leave the outbox, `seq`
/// enters it.
pub(super) fn settle(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    room: &RoomId,
    declared: &[u64],
    seq: u64,
    now_ms: u64,
) -> Result<(), rusqlite::Error> {
    let key = sealer.room_key(room);
    let declared_ranges = ranges(declared);
    for number in declared {
        if declared_ranges
            .iter()
            .any(|r| (r.first..=r.last).contains(number))
        {
            tx.execute(
                "DELETE FROM outbox WHERE room = ?1 AND seq = ?2",
                params![key, *number as i64],
            )?;
        }
    }
    tx.execute(
        "INSERT OR REPLACE INTO outbox (room, seq, allocated_ms) VALUES (?1, ?2, ?3)",
        params![key, seq as i64, now_ms.min(i64::MAX as u64) as i64],
    )?;
    Ok(())
}

/// A number certainly never delivered: declared in our next message.
pub(super) fn abandon(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    room: &RoomId,
    seq: u64,
) -> Result<(), rusqlite::Error> {
    tx.execute(
        "UPDATE outbox SET allocated_ms = 0 WHERE room = ?1 AND seq = ?2",
        params![sealer.room_key(room), seq as i64],
    )?;
    Ok(())
}

/// A number handed over: no longer ours to declare.
pub(super) fn remove(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    room: &RoomId,
    seq: u64,
) -> Result<(), rusqlite::Error> {
    tx.execute(
        "DELETE FROM outbox WHERE room = ?1 AND seq = ?2",
        params![sealer.room_key(room), seq as i64],
    )?;
    Ok(())
}

impl Store {
    /// Takes the next message number of ours for a room and seals a
    /// message with it, in one transaction with the history, declaring the
    /// numbers allocated earlier and abandoned (allocated more than
    /// `abandoned_after_ms` ago and never handed over: a crash, a failed
    /// `send`). The number stays in the outbox until [`Store::handed_over`].
    pub fn allocate_and_seal<T, E>(
        &self,
        id: &RoomId,
        now_ms: u64,
        abandoned_after_ms: u64,
        seal: impl FnOnce(&mut Room, u64, &[SeqRange]) -> Result<(T, StoredMessage), E>,
    ) -> Result<Result<(T, u64), E>, StoreError> {
        let db = self.db()?;
        db.write(|tx, sealer| {
            let (old, version) = existing_room(db, tx, id)?;
            let cutoff = now_ms.saturating_sub(abandoned_after_ms);
            let abandoned = abandoned(tx, sealer, id, cutoff).map_err(|err| db.error(err))?;
            let mut room = old.clone();
            let seq = room.allocate_seq();
            match seal(&mut room, seq, &ranges(&abandoned)) {
                Ok((bytes, own)) => {
                    super::db::save_room(tx, sealer, Some(old), &room)
                        .map_err(|err| db.error(err))?;
                    super::history::insert(tx, sealer, id, &[own], true)
                        .map_err(|err| db.error(err))?;
                    settle(tx, sealer, id, &abandoned, seq, now_ms).map_err(|err| db.error(err))?;
                    db.remember(version, room);
                    Ok(Ok((bytes, seq)))
                }
                Err(err) => Ok(Err(err)),
            }
        })
    }

    /// Marks a message number handed to the broker (or to the connection
    /// that will keep trying): it is no longer ours to declare skipped.
    pub fn handed_over(&self, id: &RoomId, seq: u64) -> Result<(), StoreError> {
        let db = self.db()?;
        db.write(|tx, sealer| remove(tx, sealer, id, seq).map_err(|err| db.error(err)))
    }

    /// Marks a number as certainly never delivered (the broker refused
    /// it): our next message declares it skipped.
    pub fn abandon(&self, id: &RoomId, seq: u64) -> Result<(), StoreError> {
        let db = self.db()?;
        db.write(|tx, sealer| abandon(tx, sealer, id, seq).map_err(|err| db.error(err)))
    }

    /// The highest number of ours in `room` (as just read) that may have
    /// reached others: below the numbers still waiting in the outbox.
    pub fn last_sent_seq(&self, room: &Room) -> Result<u64, StoreError> {
        let db = self.db()?;
        let waiting =
            db.read(|conn, sealer| waiting(conn, sealer, room.id()).map_err(|err| db.error(err)))?;
        let mut last = room.next_seq().saturating_sub(1);
        while last > 0 && waiting.contains(&last) {
            last -= 1;
        }
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_ranges_up_to_what_a_message_carries() {
        assert_eq!(ranges(&[]), vec![]);
        assert_eq!(
            ranges(&[2, 3, 4, 7, 9, 10]),
            vec![
                SeqRange { first: 2, last: 4 },
                SeqRange { first: 7, last: 7 },
                SeqRange { first: 9, last: 10 }
            ]
        );
        let scattered: Vec<u64> = (0..100).map(|i| i * 2 + 1).collect();
        assert_eq!(
            ranges(&scattered).len(),
            crate::protocol::message::MAX_SKIPPED_RANGES
        );
    }
}
