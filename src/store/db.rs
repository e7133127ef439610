//! The home's database: one SQLite file in WAL mode, rows sealed by
//! [`Sealer`]. Opening checks the schema version and that the storage key
//! is the one the database was made with.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use super::StoreError;
use super::rows::Sealer;
use crate::room::{Member, Room, RoomHeader, RoomId, RoomParts};
use crate::secret::SymmetricKey;

/// The schema this build writes. Older databases are migrated on open
/// (after a backup); newer ones are refused.
const SCHEMA_VERSION: i64 = 2;

/// How long a writer waits for another process's transaction.
const BUSY_WAIT: Duration = Duration::from_secs(10);

const KEY_CHECK: &[u8] = b"sotto storage key check";

const SCHEMA_V1: &str = "
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
CREATE TABLE rooms (
    room BLOB PRIMARY KEY,
    header BLOB NOT NULL
);
CREATE TABLE epochs (
    room BLOB NOT NULL REFERENCES rooms(room) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    key BLOB NOT NULL,
    PRIMARY KEY (room, epoch)
);
CREATE TABLE members (
    room BLOB NOT NULL REFERENCES rooms(room) ON DELETE CASCADE,
    member BLOB NOT NULL,
    record BLOB NOT NULL,
    PRIMARY KEY (room, member)
);
CREATE TABLE messages (
    id INTEGER PRIMARY KEY,
    room BLOB NOT NULL REFERENCES rooms(room) ON DELETE CASCADE,
    sender BLOB NOT NULL,
    seq INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    shown INTEGER NOT NULL,
    record BLOB NOT NULL,
    UNIQUE (room, sender, seq)
);
CREATE INDEX messages_by_room ON messages (room, id);
CREATE TABLE outbox (
    room BLOB NOT NULL REFERENCES rooms(room) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    allocated_ms INTEGER NOT NULL,
    PRIMARY KEY (room, seq)
);
CREATE TABLE retention (
    room BLOB PRIMARY KEY REFERENCES rooms(room) ON DELETE CASCADE,
    keep TEXT NOT NULL
);
";

/// Schema 2: messages sealed for an epoch the room has not reached yet,
/// acknowledged to the broker once saved here (see `store::held`).
const SCHEMA_V2: &str = "
CREATE TABLE held (
    id INTEGER PRIMARY KEY,
    room BLOB NOT NULL REFERENCES rooms(room) ON DELETE CASCADE,
    payload BLOB NOT NULL
);
CREATE INDEX held_by_room ON held (room, id);
";

/// An open database and the key its rows are sealed under.
pub(super) struct Database {
    conn: Mutex<Connection>,
    pub(super) sealer: Sealer,
    path: PathBuf,
    /// The shared lock that says this process uses the database.
    users: Mutex<Option<std::fs::File>>,
    /// Rooms as this connection last read or wrote them, with SQLite's
    /// `data_version` then: while no other connection has committed since,
    /// the copy is current and a write needs no read.
    cache: Mutex<HashMap<RoomId, (i64, Room)>>,
}

impl Database {
    /// Opens (creating if needed, 0600) and checks the database at `path`.
    pub(super) fn open(path: &Path, key: SymmetricKey) -> Result<Self, StoreError> {
        // Made 0600 before SQLite sees it: SQLite gives its -wal and -shm
        // files the mode of the database file.
        super::files::open_lock_file(path)?;
        let conn = Connection::open(path).map_err(|err| damaged_database(path, &err))?;
        let db = Self {
            conn: Mutex::new(conn),
            sealer: Sealer::new(key),
            path: path.to_owned(),
            users: Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
        };
        db.prepare()?;
        Ok(db)
    }

    fn prepare(&self) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let fail = |err: rusqlite::Error| self.error(err);
        conn.busy_timeout(BUSY_WAIT).map_err(fail)?;
        // WAL survives a killed process and lets readers go on while one
        // process writes; NORMAL syncs at checkpoints, not every commit
        // (BENCHMARKS.md says what a power cut can cost).
        let _: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .map_err(fail)?;
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
            .map_err(fail)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .map_err(fail)?;
        if version > SCHEMA_VERSION {
            return Err(StoreError::Database {
                path: self.path.clone(),
                reason: format!(
                    "it was written by a newer sotto (schema {version}); upgrade sotto"
                ),
            });
        }
        if version > 0 && version < SCHEMA_VERSION {
            // Migrations run only after a copy of the database as it was,
            // checked first.
            drop(conn);
            if let Some(found) = self.integrity()? {
                return Err(StoreError::Database {
                    path: self.path.clone(),
                    reason: format!("it is damaged: {found}"),
                });
            }
            self.backup(
                &self
                    .path
                    .with_extension(format!("db.before-schema-{SCHEMA_VERSION}")),
            )?;
            conn = self.conn();
            upgrade_from(&mut conn, 1, |tx| tx.execute_batch(SCHEMA_V2)).map_err(fail)?;
        }
        if version == 0 {
            let check = self.sealer.seal_bytes("meta", b"check", KEY_CHECK);
            upgrade_from(&mut conn, 0, |tx| {
                tx.execute_batch(SCHEMA_V1)?;
                tx.execute_batch(SCHEMA_V2)?;
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('check', ?1)",
                    params![check],
                )
                .map(drop)
            })
            .map_err(fail)?;
        }
        let check: Option<Vec<u8>> = conn
            .query_row("SELECT value FROM meta WHERE key = 'check'", [], |row| {
                row.get(0)
            })
            .optional()
            .map_err(fail)?;
        let opens = check.is_some_and(|sealed| {
            self.sealer
                .open_bytes("meta", b"check", &sealed)
                .is_ok_and(|plain| plain[..] == *KEY_CHECK)
        });
        if !opens {
            return Err(StoreError::WrongStorageKey(self.path.clone()));
        }
        Ok(())
    }

    /// A room as saved, from the cache when no other process has written
    /// since it was cached; with the version to [`Database::remember`] it
    /// under after a successful commit.
    pub(super) fn current_room(
        &self,
        conn: &Connection,
        id: &RoomId,
    ) -> Result<(Option<Room>, i64), RoomLoadError> {
        let version: i64 = conn
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(RoomLoadError::Sql)?;
        if let Some((cached, room)) = self.cache().get(id)
            && *cached == version
        {
            return Ok((Some(room.clone()), version));
        }
        let room = load_room(conn, &self.sealer, &self.sealer.room_key(id))?;
        Ok((room, version))
    }

    /// Caches a room as it now is in the database.
    pub(super) fn remember(&self, version: i64, room: Room) {
        self.cache().insert(*room.id(), (version, room));
    }

    pub(super) fn cache(&self) -> MutexGuard<'_, HashMap<RoomId, (i64, Room)>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Copies the database, as sealed as it is, to `to` (0600): taken
    /// before every migration.
    pub(super) fn backup(&self, to: &Path) -> Result<(), StoreError> {
        // The copy is made 0600 before SQLite writes into it.
        super::files::open_lock_file(to)?;
        std::fs::remove_file(to).map_err(super::files::io_error("prepare", to))?;
        let conn = self.conn();
        conn.execute("VACUUM INTO ?1", params![to.to_string_lossy()])
            .map_err(|err| self.error(err))?;
        std::fs::set_permissions(to, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .map_err(super::files::io_error("protect", to))?;
        Ok(())
    }

    /// Keeps the "in use" lock for as long as the database is open.
    pub(super) fn hold(&self, users: std::fs::File) {
        *self.users.lock().unwrap_or_else(PoisonError::into_inner) = Some(users);
    }

    /// SQLite's full integrity check: `None` when the file is sound, else
    /// what it found (first lines).
    pub(super) fn integrity(&self) -> Result<Option<String>, StoreError> {
        let conn = self.conn();
        let mut statement = conn
            .prepare("PRAGMA integrity_check(20)")
            .map_err(|err| self.error(err))?;
        let lines = statement
            .query_map([], |row| row.get::<_, String>(0))
            .map_err(|err| self.error(err))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| self.error(err))?;
        Ok((lines != ["ok"]).then(|| lines.join("; ")))
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A database error, in words that name the file.
    pub(super) fn error(&self, err: rusqlite::Error) -> StoreError {
        if let rusqlite::Error::SqliteFailure(code, _) = &err
            && matches!(
                code.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            )
        {
            return StoreError::Busy(self.path.clone());
        }
        damaged_database(&self.path, &err)
    }

    /// Runs `work` in a write transaction (taken at once, so two processes
    /// never both read and then both write); commits if it succeeds.
    pub(super) fn write<T>(
        &self,
        work: impl FnOnce(&Transaction<'_>, &Sealer) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|err| self.error(err))?;
        // Rooms cached during the transaction are only true once it
        // commits; while the connection is held nobody else can look.
        let done = work(&tx, &self.sealer).and_then(|out| {
            tx.commit().map_err(|err| self.error(err))?;
            Ok(out)
        });
        if done.is_err() {
            self.cache().clear();
        }
        done
    }

    /// Runs `work` on a consistent snapshot, without writing.
    pub(super) fn read<T>(
        &self,
        work: impl FnOnce(&Connection, &Sealer) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.conn();
        work(&conn, &self.sealer)
    }
}

/// Runs `step` and records the current schema version, in one write
/// transaction, if the database is still at version `from`: another
/// process may have moved it on while this one waited.
fn upgrade_from(
    conn: &mut Connection,
    from: i64,
    step: impl FnOnce(&Transaction<'_>) -> Result<(), rusqlite::Error>,
) -> Result<(), rusqlite::Error> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if now == from {
        step(&tx)?;
        tx.execute_batch(&format!("PRAGMA user_version = {SCHEMA_VERSION}"))?;
    }
    tx.commit()
}

fn damaged_database(path: &Path, err: &rusqlite::Error) -> StoreError {
    StoreError::Database {
        path: path.to_owned(),
        reason: match err {
            rusqlite::Error::SqliteFailure(code, _) => match code.code {
                rusqlite::ErrorCode::NotADatabase => "it is not a database".to_owned(),
                rusqlite::ErrorCode::DatabaseCorrupt => "it is damaged".to_owned(),
                rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::PermissionDenied => {
                    "it cannot be written".to_owned()
                }
                rusqlite::ErrorCode::DiskFull => "the disk is full".to_owned(),
                rusqlite::ErrorCode::CannotOpen => "it cannot be opened".to_owned(),
                _ => err.to_string(),
            },
            other => other.to_string(),
        },
    }
}

/// Reads one room from the database, by its row key.
pub(super) fn load_room(
    conn: &Connection,
    sealer: &Sealer,
    room_key: &[u8],
) -> Result<Option<Room>, RoomLoadError> {
    let header: Option<Vec<u8>> = conn
        .query_row(
            "SELECT header FROM rooms WHERE room = ?1",
            params![room_key],
            |row| row.get(0),
        )
        .optional()
        .map_err(RoomLoadError::Sql)?;
    let Some(header) = header else {
        return Ok(None);
    };
    let header: RoomHeader = sealer
        .open("rooms", room_key, &header)
        .map_err(|_| RoomLoadError::Unreadable(None))?;
    let name = Some(header.name().to_owned());
    let mut epoch_row = room_key.to_vec();
    epoch_row.extend_from_slice(&header.epoch().to_be_bytes());
    let sealed_key: Vec<u8> = conn
        .query_row(
            "SELECT key FROM epochs WHERE room = ?1 AND epoch = ?2",
            params![room_key, header.epoch() as i64],
            |row| row.get(0),
        )
        .optional()
        .map_err(RoomLoadError::Sql)?
        .ok_or_else(|| RoomLoadError::Unreadable(name.clone()))?;
    let key_bytes = sealer
        .open_bytes("epochs", &epoch_row, &sealed_key)
        .map_err(|_| RoomLoadError::Unreadable(name.clone()))?;
    let mut key = zeroize::Zeroizing::new([0u8; 32]);
    if key_bytes.len() != 32 {
        return Err(RoomLoadError::Unreadable(name));
    }
    key.copy_from_slice(&key_bytes);
    let mut statement = conn
        .prepare_cached("SELECT member, record FROM members WHERE room = ?1")
        .map_err(RoomLoadError::Sql)?;
    let rows = statement
        .query_map(params![room_key], |row| {
            Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?))
        })
        .map_err(RoomLoadError::Sql)?;
    let mut members = BTreeMap::new();
    for row in rows {
        let (member_key, record) = row.map_err(RoomLoadError::Sql)?;
        let member: Member = sealer
            .open("members", &member_key, &record)
            .map_err(|_| RoomLoadError::Unreadable(name.clone()))?;
        members.insert(member.identity.fingerprint(), member);
    }
    Ok(Some(Room::from_parts(RoomParts {
        header,
        epoch_key: SymmetricKey::from_bytes(*key),
        members,
    })))
}

/// Why one room could not be read.
pub(super) enum RoomLoadError {
    /// The database itself failed.
    Sql(rusqlite::Error),
    /// A record would not open; the room's name, when the header did.
    Unreadable(Option<String>),
}

/// Writes what changed between `old` (as loaded, if it existed) and `new`.
pub(super) fn save_room(
    tx: &Transaction<'_>,
    sealer: &Sealer,
    old: Option<Room>,
    new: &Room,
) -> Result<(), rusqlite::Error> {
    let room_key = sealer.room_key(new.id());
    let old = old.map(Room::into_parts);
    let new = new.clone().into_parts();
    if old.as_ref().map(|o| &o.header) != Some(&new.header) {
        tx.execute(
            "INSERT INTO rooms (room, header) VALUES (?1, ?2)
             ON CONFLICT (room) DO UPDATE SET header = excluded.header",
            params![room_key, sealer.seal("rooms", &room_key, &new.header)],
        )?;
    }
    let epoch_changed = old
        .as_ref()
        .is_none_or(|o| o.header.epoch() != new.header.epoch() || o.epoch_key != new.epoch_key);
    if epoch_changed {
        let mut epoch_row = room_key.clone();
        epoch_row.extend_from_slice(&new.header.epoch().to_be_bytes());
        tx.execute(
            "INSERT INTO epochs (room, epoch, key) VALUES (?1, ?2, ?3)
             ON CONFLICT (room, epoch) DO UPDATE SET key = excluded.key",
            params![
                room_key,
                new.header.epoch() as i64,
                sealer.seal_bytes("epochs", &epoch_row, new.epoch_key.as_bytes())
            ],
        )?;
    }
    let no_members = BTreeMap::new();
    let old_members = old.as_ref().map_or(&no_members, |o| &o.members);
    let id = *new.header.id();
    for (fingerprint, member) in &new.members {
        if old_members.get(fingerprint) != Some(member) {
            let member_key = sealer.member_key(&id, fingerprint);
            tx.execute(
                "INSERT INTO members (room, member, record) VALUES (?1, ?2, ?3)
                 ON CONFLICT (room, member) DO UPDATE SET record = excluded.record",
                params![
                    room_key,
                    member_key,
                    sealer.seal("members", &member_key, member)
                ],
            )?;
        }
    }
    for fingerprint in old_members.keys() {
        if !new.members.contains_key(fingerprint) {
            tx.execute(
                "DELETE FROM members WHERE room = ?1 AND member = ?2",
                params![room_key, sealer.member_key(&id, fingerprint)],
            )?;
        }
    }
    Ok(())
}

/// The row keys of every room.
pub(super) fn room_keys(conn: &Connection) -> Result<Vec<Vec<u8>>, rusqlite::Error> {
    let mut statement = conn.prepare_cached("SELECT room FROM rooms")?;
    let keys = statement
        .query_map([], |row| row.get::<_, Vec<u8>>(0))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(keys)
}
