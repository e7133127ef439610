//! Messages sealed for an epoch the room has not reached yet (their
//! commit is still on its way), set aside until it comes. They are saved
//! here before they are acknowledged: an acknowledgement is final (the
//! broker never sends that message again), and acknowledgements must
//! leave in the order the messages came, so keeping one unacknowledged
//! until its commit arrives would hold back every message after it.

use rusqlite::{Connection, Transaction, params};

use super::rows::Sealer;
use super::{Store, StoreError, StoredMessage};
use crate::room::RoomId;

/// What a batch of received messages writes besides the room itself, in
/// the same transaction.
#[derive(Debug, Default)]
pub struct BatchWrites {
    /// Messages accepted, for the history.
    pub history: Vec<StoredMessage>,
    /// Payloads to set aside for a later epoch.
    pub hold: Vec<Vec<u8>>,
    /// Whether the batch took every payload set aside so far (those still
    /// ahead are in `hold` again): they are forgotten.
    pub release_held: bool,
}

impl Store {
    /// The payloads set aside for a room, oldest first, and how many could
    /// not be read back (damaged rows, skipped).
    pub fn held(&self, id: &RoomId) -> Result<(Vec<Vec<u8>>, usize), StoreError> {
        let db = self.db()?;
        db.read(|conn, sealer| load(conn, sealer, id).map_err(|err| db.error(err)))
    }
}

fn load(
    conn: &Connection,
    sealer: &Sealer,
    room: &RoomId,
) -> Result<(Vec<Vec<u8>>, usize), rusqlite::Error> {
    let room_key = sealer.room_key(room);
    let mut statement =
        conn.prepare_cached("SELECT payload FROM held WHERE room = ?1 ORDER BY id")?;
    let sealed = statement
        .query_map(params![room_key], |row| row.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    let mut unreadable = 0;
    let mut payloads = Vec::with_capacity(sealed.len());
    for sealed in sealed {
        match sealer.open_bytes("held", &room_key, &sealed) {
            Ok(payload) => payloads.push(payload.to_vec()),
            Err(_) => unreadable += 1,
        }
    }
    Ok((payloads, unreadable))
}

/// Writes a batch's changes to the held payloads of `room`.
pub(super) fn write(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    room: &RoomId,
    writes: &BatchWrites,
) -> Result<(), rusqlite::Error> {
    let room_key = sealer.room_key(room);
    if writes.release_held {
        tx.execute("DELETE FROM held WHERE room = ?1", params![room_key])?;
    }
    if writes.hold.is_empty() {
        return Ok(());
    }
    let mut statement = tx.prepare_cached("INSERT INTO held (room, payload) VALUES (?1, ?2)")?;
    for payload in &writes.hold {
        statement.execute(params![
            room_key,
            sealer.seal_bytes("held", &room_key, payload)
        ])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;
    use crate::identity::Identity;
    use crate::room::Room;
    use crate::secret::SymmetricKey;

    const KEY: [u8; 32] = [9; 32];

    fn store_with_room() -> (tempfile::TempDir, Store, RoomId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("home"));
        store.open(SymmetricKey::from_bytes(KEY)).unwrap();
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let id = Identity::generate("alice", &mut rng).unwrap();
        let room = Room::create("ops", &id.public(), 5, &mut rng).unwrap();
        let lock = store.lock().unwrap();
        store.save_room(&lock, &room).unwrap();
        (dir, store, *room.id())
    }

    fn write(store: &Store, room: &RoomId, writes: BatchWrites) {
        store
            .update_room_with_history(room, |_| Ok::<_, ()>(((), writes)), false, &[])
            .unwrap()
            .unwrap();
    }

    #[test]
    fn held_payloads_stay_until_a_batch_releases_them() {
        let (_dir, store, room) = store_with_room();
        let hold = |payloads: &[&[u8]], release_held| BatchWrites {
            hold: payloads.iter().map(|p| p.to_vec()).collect(),
            release_held,
            ..BatchWrites::default()
        };
        write(&store, &room, hold(&[b"one", b"two"], false));
        write(&store, &room, hold(&[b"three"], false));
        assert_eq!(
            store.held(&room).unwrap(),
            (vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()], 0)
        );
        // Released, with one still ahead: only that one stays.
        write(&store, &room, hold(&[b"two"], true));
        assert_eq!(store.held(&room).unwrap(), (vec![b"two".to_vec()], 0));
        write(&store, &room, hold(&[], true));
        assert_eq!(store.held(&room).unwrap(), (vec![], 0));
    }

    #[test]
    fn a_schema_1_database_is_migrated_after_a_backup() {
        let (dir, store, room) = store_with_room();
        let path = store.database_path();
        drop(store);
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("DROP TABLE held; PRAGMA user_version = 1;")
            .unwrap();
        drop(conn);

        let store = Store::new(dir.path().join("home"));
        store.open(SymmetricKey::from_bytes(KEY)).unwrap();
        assert!(path.with_extension("db.before-schema-2").exists());
        write(
            &store,
            &room,
            BatchWrites {
                hold: vec![b"later".to_vec()],
                ..BatchWrites::default()
            },
        );
        assert_eq!(store.held(&room).unwrap(), (vec![b"later".to_vec()], 0));
        let conn = rusqlite::Connection::open(&path).unwrap();
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .unwrap();
        assert_eq!(version, 2);
    }
}
