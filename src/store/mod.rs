//! Local state on disk: the only module that reads or writes files.
//!
//! Layout under the home directory (created 0700; every file 0600):
//!
//! ```text
//! identity.key         the secret key file, see crate::keyfile
//! identity.json        name and public keys (not secret, but private)
//! storage.key          the storage key, sealed under the same passphrase
//! sotto.db             SQLite (WAL: also sotto.db-wal, sotto.db-shm): rooms,
//!                      epoch keys, members and replay windows, message
//!                      history; every value sealed under the storage key
//! sotto.db.users       every process using the database holds it shared
//! lock                 advisory lock around identity and small-file writes
//! sessions/<id>.lock   held while a process is connected to a room's session
//! sessions/<id>.client the MQTT client id last used for the room
//! client.key           random secret the MQTT client ids derive from
//! mqtt-versions        MQTT version each broker URL answered to
//! history              the chat client's input history (commands only)
//! ```
//!
//! Room state lives in the database (`db.rs`), sealed row by row (`rows.rs`);
//! homes from sotto 0.1 (`rooms/*.json`) are imported once (`import.rs`).
//! The small files are written atomically (temporary file, fsync, rename)
//! and read with a size bound, so a damaged or hostile file cannot make
//! sotto allocate without limit.

mod broker_memory;
mod db;
mod files;
mod held;
mod history;
mod identity_files;
mod import;
mod outbox;
mod rows;

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use std::sync::{Arc, OnceLock};

use crate::identity::Fingerprint;
use crate::room::{Room, RoomId};
use crate::secret::SymmetricKey;
use crate::when::Retention;
use db::{Database, RoomLoadError};
pub use files::write_atomic;
use files::{create_private_dir, io_error, open_lock_file};
pub use held::BatchWrites;
pub use history::StoredMessage;

const IDENTITY_KEY: &str = "identity.key";
const IDENTITY_PUBLIC: &str = "identity.json";
const ROOMS_DIR: &str = "rooms";
const LOCK_FILE: &str = "lock";
const SESSIONS_DIR: &str = "sessions";
const HISTORY_FILE: &str = "history";
const CLIENT_SECRET_FILE: &str = "client.key";
const STORAGE_KEY_FILE: &str = "storage.key";
const DATABASE_FILE: &str = "sotto.db";
const DATABASE_USERS_FILE: &str = "sotto.db.users";
const MQTT_VERSIONS_FILE: &str = "mqtt-versions";
/// Bound on the small text files (client ids, versions).
const MAX_SMALL_FILE_LEN: u64 = 64 * 1024;
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// Why a state operation failed. Messages name the file and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `init` has not been run for this home.
    #[error("no identity in {0}; create one with `sotto init --name NAME`")]
    NoIdentity(PathBuf),
    /// `init` would overwrite an identity.
    #[error(
        "an identity already exists in {0}; use `sotto init --force` to replace it (the old key is lost, and rooms must be re-joined)"
    )]
    IdentityExists(PathBuf),
    /// No room by that name.
    #[error("no room called {0:?}; `sotto rooms` lists your rooms")]
    RoomNotFound(String),
    /// Another process held the lock for too long.
    #[error(
        "another sotto process is holding {0} and did not release it within 10 seconds; close it and try again"
    )]
    Busy(PathBuf),
    /// The database file cannot be used.
    #[error(
        "{path} cannot be used ({reason}); move it aside (your rooms and history are in it) and run sotto again to start afresh, or restore it from a backup"
    )]
    Database {
        /// The database file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The storage key does not open the database.
    #[error(
        "the storage key does not open {0}; the two files must come from the same home (restore both from one backup)"
    )]
    WrongStorageKey(PathBuf),
    /// The room was removed from this home while in use.
    #[error("this room is no longer in this home; `sotto rooms` lists your rooms")]
    RoomGone,
    /// One room's records would not open; other rooms are fine.
    #[error("room {0:?} is damaged (its saved records do not open); leave it and join it again")]
    DamagedRoom(String),
    /// A room whose name cannot be read either.
    #[error("one of your rooms is damaged beyond reading its name; `sotto rooms` lists the others")]
    UnreadableRoom,
    /// Room state was asked for before the home was unlocked.
    #[error("this home's storage is not unlocked yet")]
    Locked,
    /// A file exists but cannot be parsed.
    #[error("{path} is damaged ({reason}); restore it from a backup or remove it")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The operating system refused.
    #[error("could not {action} {path}: {source}")]
    Io {
        /// What sotto was doing.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// The state directory of one sotto user.
#[derive(Clone)]
pub struct Store {
    home: PathBuf,
    /// The database, once [`Store::open`] has unlocked it.
    db: Arc<OnceLock<Database>>,
    /// How much history a room keeps when `sotto room keep` was never
    /// run for it (the config file's `keep_history`).
    default_retention: Retention,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("home", &self.home)
            .field("open", &self.db.get().is_some())
            .finish()
    }
}

/// Holds the home's lock until dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

impl Store {
    /// A store rooted at `home`. Nothing is created until something is
    /// written.
    pub fn new(home: impl Into<PathBuf>) -> Self {
        Self {
            home: home.into(),
            db: Arc::new(OnceLock::new()),
            default_retention: Retention::All,
        }
    }

    /// The same store, keeping `keep` of the history of rooms that have
    /// no retention of their own (default: everything).
    pub fn with_default_retention(mut self, keep: Retention) -> Self {
        self.default_retention = keep;
        self
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Creates the home (0700) if missing.
    pub fn ensure_dirs(&self) -> Result<(), StoreError> {
        create_private_dir(&self.home)
    }

    /// Takes the exclusive lock, waiting up to 10 seconds for another
    /// process to finish.
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        self.ensure_dirs()?;
        let path = self.home.join(LOCK_FILE);
        let file = open_lock_file(&path)?;
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(StoreLock { _file: file }),
                Err(fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::WouldBlock) => return Err(StoreError::Busy(path)),
                Err(fs::TryLockError::Error(err)) => return Err(io_error("lock", &path)(err)),
            }
        }
    }

    /// Where the database is.
    pub fn database_path(&self) -> PathBuf {
        self.home.join(DATABASE_FILE)
    }

    /// Whether a database exists (and so, rooms may be lost without its key).
    pub fn has_database(&self) -> bool {
        self.database_path().exists()
    }

    /// Moves the database (and its WAL files) aside, for when its storage
    /// key is lost; returns where it went.
    pub fn set_database_aside(&self) -> Result<Option<PathBuf>, StoreError> {
        let path = self.database_path();
        if !path.exists() {
            return Ok(None);
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let aside = self.home.join(format!("{DATABASE_FILE}.lost-{stamp}"));
        fs::rename(&path, &aside).map_err(io_error("move aside", &path))?;
        for suffix in ["-wal", "-shm"] {
            let extra = self.home.join(format!("{DATABASE_FILE}{suffix}"));
            if extra.exists() {
                let target = self
                    .home
                    .join(format!("{DATABASE_FILE}.lost-{stamp}{suffix}"));
                fs::rename(&extra, &target).map_err(io_error("move aside", &extra))?;
            }
        }
        Ok(Some(aside))
    }

    /// Unlocks room state with the storage key: opens (or creates) the
    /// database, and imports the rooms of a home from sotto 0.1 once.
    /// Returns the names of rooms imported now.
    pub fn open(&self, key: SymmetricKey) -> Result<Vec<String>, StoreError> {
        if self.db.get().is_some() {
            return Ok(Vec::new());
        }
        self.ensure_dirs()?;
        // Every process using the database holds a shared lock on this
        // file. One that finds itself alone and a write-ahead log left
        // behind knows the last user stopped without closing: the full
        // integrity check runs then, not on every open.
        let users_path = self.home.join(DATABASE_USERS_FILE);
        let users = open_lock_file(&users_path)?;
        let alone = users.try_lock().is_ok();
        let wal = self.home.join(format!("{DATABASE_FILE}-wal"));
        let unclean = alone && fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
        if alone {
            let _ = users.unlock();
        }
        users.lock_shared().map_err(io_error("lock", &users_path))?;
        let db = Database::open(&self.database_path(), key)?;
        if unclean && let Some(found) = db.integrity()? {
            return Err(StoreError::Database {
                path: self.database_path(),
                reason: format!("it is damaged: {found}"),
            });
        }
        db.hold(users);
        let imported = import::import_json_rooms(&db, &self.home.join(ROOMS_DIR))?;
        // Another thread may have opened it meanwhile; either is fine.
        let _ = self.db.set(db);
        Ok(imported)
    }

    fn db(&self) -> Result<&Database, StoreError> {
        self.db.get().ok_or(StoreError::Locked)
    }

    /// Every readable room, sorted by name. A damaged room does not hide
    /// the others: see [`Store::rooms_and_damage`] to hear about it.
    pub fn rooms(&self) -> Result<Vec<Room>, StoreError> {
        Ok(self.rooms_and_damage()?.0)
    }

    /// Every readable room, sorted by name, and what was wrong with each
    /// room that could not be read.
    pub fn rooms_and_damage(&self) -> Result<(Vec<Room>, Vec<StoreError>), StoreError> {
        let db = self.db()?;
        db.read(|conn, sealer| {
            let keys = db::room_keys(conn).map_err(|err| db.error(err))?;
            let mut rooms = Vec::new();
            let mut damage = Vec::new();
            for key in keys {
                match db::load_room(conn, sealer, &key) {
                    Ok(Some(room)) => rooms.push(room),
                    Ok(None) => {}
                    Err(RoomLoadError::Sql(err)) => return Err(db.error(err)),
                    Err(RoomLoadError::Unreadable(name)) => damage.push(unreadable(name)),
                }
            }
            rooms.sort_by(|a, b| a.name().cmp(b.name()));
            Ok((rooms, damage))
        })
    }

    /// The room with this local name. When it is not among the readable
    /// rooms and some room is damaged, that damage is the answer (it may
    /// be this room).
    pub fn room(&self, name: &str) -> Result<Room, StoreError> {
        let (rooms, damage) = self.rooms_and_damage()?;
        if let Some(room) = rooms.into_iter().find(|room| room.name() == name) {
            return Ok(room);
        }
        let named = damage
            .into_iter()
            .find(|err| !matches!(err, StoreError::DamagedRoom(other) if other != name));
        Err(named.unwrap_or_else(|| StoreError::RoomNotFound(name.to_owned())))
    }

    /// The room with this id, if joined.
    pub fn room_by_id(&self, id: &RoomId) -> Result<Option<Room>, StoreError> {
        let db = self.db()?;
        db.read(
            |conn, sealer| match db::load_room(conn, sealer, &sealer.room_key(id)) {
                Ok(room) => Ok(room),
                Err(RoomLoadError::Sql(err)) => Err(db.error(err)),
                Err(RoomLoadError::Unreadable(name)) => Err(unreadable(name)),
            },
        )
    }

    /// Saves a room (new, or replacing what is saved under its id).
    pub fn save_room(&self, _lock: &StoreLock, room: &Room) -> Result<(), StoreError> {
        let db = self.db()?;
        db.write(|tx, sealer| {
            let (old, version) = match db.current_room(tx, room.id()) {
                Ok(found) => found,
                Err(RoomLoadError::Sql(err)) => return Err(db.error(err)),
                // Replacing a damaged room: start from nothing.
                Err(RoomLoadError::Unreadable(_)) => (None, 0),
            };
            db::save_room(tx, sealer, old, room).map_err(|err| db.error(err))?;
            db.remember(version, room.clone());
            Ok(())
        })
    }

    /// Deletes a room and everything kept about it (its keys, members,
    /// history and outbox), as leaving it does.
    pub fn delete_room(&self, id: &RoomId) -> Result<(), StoreError> {
        let db = self.db()?;
        db.write(|tx, sealer| {
            // The other tables follow through ON DELETE CASCADE.
            tx.execute(
                "DELETE FROM rooms WHERE room = ?1",
                rusqlite::params![sealer.room_key(id)],
            )
            .map_err(|err| db.error(err))?;
            db.cache().clear();
            Ok(())
        })
    }

    /// Loads a room, applies `change`, and saves what it changed if it
    /// succeeded, in one transaction, so concurrent processes never lose
    /// each other's updates and a refused payload costs no write.
    pub fn update_room<T, E>(
        &self,
        id: &RoomId,
        change: impl FnOnce(&mut Room) -> Result<T, E>,
    ) -> Result<Result<T, E>, StoreError> {
        self.update_room_with_history(
            id,
            |room| change(room).map(|out| (out, BatchWrites::default())),
            true,
            &[],
        )
    }

    /// Like [`Store::update_room`], and in the same transaction saves the
    /// messages `change` returns to the history (marked not yet shown
    /// unless `shown`), sets aside or forgets payloads for a later epoch
    /// as it says, and clears the marks of `now_shown`.
    pub fn update_room_with_history<T, E>(
        &self,
        id: &RoomId,
        change: impl FnOnce(&mut Room) -> Result<(T, BatchWrites), E>,
        shown: bool,
        now_shown: &[(Fingerprint, u64)],
    ) -> Result<Result<T, E>, StoreError> {
        let db = self.db()?;
        db.write(|tx, sealer| {
            history::mark_shown(tx, sealer, id, now_shown).map_err(|err| db.error(err))?;
            let (old, version) = existing_room(db, tx, id)?;
            let mut room = old.clone();
            match change(&mut room) {
                Ok((out, writes)) => {
                    db::save_room(tx, sealer, Some(old), &room).map_err(|err| db.error(err))?;
                    held::write(tx, sealer, id, &writes).map_err(|err| db.error(err))?;
                    let messages = writes.history;
                    if !messages.is_empty() {
                        history::insert(tx, sealer, id, &messages, shown)
                            .map_err(|err| db.error(err))?;
                        let keep = history::retention(tx, sealer, id, self.default_retention)
                            .map_err(|err| db.error(err))?;
                        if keep != Retention::All {
                            let (before, count) = keep.limits(crate::session::now_ms());
                            history::prune(tx, sealer, id, before, count)
                                .map_err(|err| db.error(err))?;
                        }
                    }
                    db.remember(version, room);
                    Ok(Ok(out))
                }
                Err(err) => Ok(Err(err)),
            }
        })
    }

    /// Checks the whole database: SQLite's integrity check, then every
    /// room and every message record. Returns what is wrong, one line
    /// each (nothing when all is well).
    pub fn check(&self) -> Result<Vec<String>, StoreError> {
        let db = self.db()?;
        let mut problems = Vec::new();
        if let Some(found) = db.integrity()? {
            problems.push(format!(
                "{}: the database file is damaged ({found})",
                self.database_path().display()
            ));
        }
        let (rooms, damage) = self.rooms_and_damage()?;
        problems.extend(damage.iter().map(ToString::to_string));
        for room in &rooms {
            let (_, unreadable) = self.history(room.id(), usize::MAX, 0)?;
            if unreadable > 0 {
                problems.push(format!(
                    "{unreadable} message(s) in the history of {:?} do not open",
                    room.name()
                ));
            }
        }
        Ok(problems)
    }

    /// Takes the lock that lets one process at a time hold this home's
    /// MQTT session for a room (its client id is fixed, and a second
    /// connection with it would push the first off the broker).
    pub fn session_lock(&self, id: &RoomId) -> Result<Option<StoreLock>, StoreError> {
        let dir = self.home.join(SESSIONS_DIR);
        create_private_dir(&dir)?;
        let path = dir.join(format!("{}.lock", id.to_hex()));
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(StoreLock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(err)) => Err(io_error("lock", &path)(err)),
        }
    }

    /// Where interactive input history is kept.
    pub fn history_path(&self) -> PathBuf {
        self.home.join(HISTORY_FILE)
    }
}

/// A room that must be there, as saved (from the cache when current),
/// with the version to cache its next state under.
fn existing_room(
    db: &Database,
    conn: &rusqlite::Connection,
    id: &RoomId,
) -> Result<(Room, i64), StoreError> {
    match db.current_room(conn, id) {
        Ok((Some(room), version)) => Ok((room, version)),
        Ok((None, _)) => Err(StoreError::RoomGone),
        Err(err) => Err(load_error(db, err)),
    }
}

/// Why a room could not be read, as the store says it.
fn load_error(db: &Database, err: RoomLoadError) -> StoreError {
    match err {
        RoomLoadError::Sql(err) => db.error(err),
        RoomLoadError::Unreadable(name) => unreadable(name),
    }
}

fn unreadable(name: Option<String>) -> StoreError {
    match name {
        Some(name) => StoreError::DamagedRoom(name),
        None => StoreError::UnreadableRoom,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use std::os::unix::fs::PermissionsExt;

    const KEY: [u8; 32] = [7; 32];

    fn setup() -> (tempfile::TempDir, Store, Identity) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("home"));
        store.open(SymmetricKey::from_bytes(KEY)).unwrap();
        let id = Identity::generate("alice", &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
        (dir, store, id)
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_broker_session_is_trusted_only_with_the_subscriptions_recorded_for_it() {
        let (_dir, store, _) = setup();
        let room = RoomId([5; 16]);
        let filters = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert!(!store.session_holds(&room, "sottoa", &[]));
        store.record_session_holds(&room, "sottoa", &filters(&["m", "c/+"]));
        assert!(store.session_holds(&room, "sottoa", &filters(&["c/+", "m"])));
        assert!(store.session_holds(&room, "sottoa", &filters(&["m"])));
        assert!(!store.session_holds(&room, "sottoa", &filters(&["m", "k/+"])));
        assert!(!store.session_holds(&room, "sottob", &filters(&["m"])));
        store.record_session_holds(&room, "sottob", &filters(&["m"]));
        assert!(!store.session_holds(&room, "sottoa", &filters(&["m"])));
    }

    #[test]
    fn client_ids_left_behind_stay_recorded_until_one_id_replaces_them() {
        let (_dir, store, _) = setup();
        let room = RoomId([4; 16]);
        assert!(store.recorded_client_ids(&room).unwrap().is_empty());
        store.set_last_client_id(&room, "sottoa").unwrap();
        store.record_client_id_to_retire(&room, "sottoa").unwrap();
        store.record_client_id_to_retire(&room, "sottob").unwrap();
        assert_eq!(
            store.recorded_client_ids(&room).unwrap(),
            ["sottoa", "sottob"]
        );
        assert_eq!(
            store.last_client_id(&room).unwrap().as_deref(),
            Some("sottoa")
        );
        for n in 0..20 {
            store
                .record_client_id_to_retire(&room, &format!("sotto{n}"))
                .unwrap();
        }
        assert_eq!(store.recorded_client_ids(&room).unwrap().len(), 8);
        store.set_last_client_id(&room, "sottoz").unwrap();
        assert_eq!(store.recorded_client_ids(&room).unwrap(), ["sottoz"]);
    }

    #[test]
    fn identity_files_are_private_and_never_silently_replaced() {
        let (_dir, store, id) = setup();
        assert!(matches!(
            store.public_identity(),
            Err(StoreError::NoIdentity(_))
        ));
        let lock = store.lock().unwrap();
        store
            .write_identity(&lock, &id.public(), "KEY", false)
            .unwrap();
        assert_eq!(mode(&store.key_path()), 0o600);
        assert_eq!(mode(&store.home().join(IDENTITY_PUBLIC)), 0o600);
        assert_eq!(mode(store.home()), 0o700);
        assert_eq!(store.public_identity().unwrap(), id.public());
        assert!(matches!(
            store.write_identity(&lock, &id.public(), "OTHER", false),
            Err(StoreError::IdentityExists(_))
        ));
        assert_eq!(&store.key_text().unwrap()[..], "KEY");
        store
            .write_identity(&lock, &id.public(), "OTHER", true)
            .unwrap();
        assert_eq!(&store.key_text().unwrap()[..], "OTHER");
    }

    #[test]
    fn rooms_round_trip_and_are_found_by_name() {
        let (_dir, store, id) = setup();
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let room = Room::create("ops", &id.public(), 5, &mut rng).unwrap();
        let lock = store.lock().unwrap();
        store.save_room(&lock, &room).unwrap();
        drop(lock);
        assert_eq!(store.room("ops").unwrap(), room);
        assert!(matches!(
            store.room("dev"),
            Err(StoreError::RoomNotFound(_))
        ));
        let names = store
            .update_room(room.id(), |room| Ok::<_, ()>(room.blocked_by().to_vec()))
            .unwrap();
        assert_eq!(names, Ok(vec![]));
        assert_eq!(store.room("ops").unwrap(), room);
    }

    #[test]
    fn the_database_is_private_and_opens_only_with_its_key() {
        let (_dir, store, id) = setup();
        let room =
            Room::create("ops", &id.public(), 5, &mut ChaCha20Rng::seed_from_u64(2)).unwrap();
        store.save_room(&store.lock().unwrap(), &room).unwrap();
        assert_eq!(mode(&store.database_path()), 0o600);
        for suffix in ["-wal", "-shm"] {
            let extra = store.home().join(format!("{DATABASE_FILE}{suffix}"));
            if extra.exists() {
                assert_eq!(mode(&extra), 0o600, "{}", extra.display());
            }
        }
        let other = Store::new(store.home());
        assert!(matches!(
            other.open(SymmetricKey::from_bytes([8; 32])),
            Err(StoreError::WrongStorageKey(_))
        ));
        let again = Store::new(store.home());
        again.open(SymmetricKey::from_bytes(KEY)).unwrap();
        assert_eq!(again.room("ops").unwrap(), room);
    }

    #[test]
    fn a_backup_is_a_private_copy_that_opens_with_the_same_key() {
        let (_dir, store, id) = setup();
        let room =
            Room::create("ops", &id.public(), 5, &mut ChaCha20Rng::seed_from_u64(2)).unwrap();
        store.save_room(&store.lock().unwrap(), &room).unwrap();
        let copy_home = store.home().join("copy");
        fs::create_dir(&copy_home).unwrap();
        let copy = Store::new(&copy_home);
        store.db().unwrap().backup(&copy.database_path()).unwrap();
        assert_eq!(mode(&copy.database_path()), 0o600);
        copy.open(SymmetricKey::from_bytes(KEY)).unwrap();
        assert_eq!(copy.room("ops").unwrap(), room);
    }

    #[test]
    fn garbage_instead_of_a_database_is_one_sentence_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path());
        fs::write(store.database_path(), vec![b'x'; 4096]).unwrap();
        let err = store.open(SymmetricKey::from_bytes(KEY)).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, StoreError::Database { .. }), "{text}");
        assert!(
            text.contains("sotto.db") && text.contains("move it aside"),
            "{text}"
        );
    }

    #[test]
    fn a_damaged_room_is_named_and_the_others_still_work() {
        let (_dir, store, id) = setup();
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let ops = Room::create("ops", &id.public(), 5, &mut rng).unwrap();
        let dev = Room::create("dev", &id.public(), 5, &mut rng).unwrap();
        let lock = store.lock().unwrap();
        store.save_room(&lock, &ops).unwrap();
        store.save_room(&lock, &dev).unwrap();
        drop(lock);
        // Damage dev's member records in place.
        let db = store.db().unwrap();
        let dev_key = db.sealer.room_key(dev.id());
        db.write(|tx, _| {
            tx.execute(
                "UPDATE members SET record = x'00' WHERE room = ?1",
                rusqlite::params![dev_key],
            )
            .map_err(|err| db.error(err))
        })
        .unwrap();
        assert_eq!(store.room("ops").unwrap(), ops);
        let err = store.room("dev").unwrap_err();
        assert!(
            matches!(&err, StoreError::DamagedRoom(name) if name == "dev"),
            "{err}"
        );
        assert!(err.to_string().contains("\"dev\""), "{err}");
        let (rooms, damage) = store.rooms_and_damage().unwrap();
        assert_eq!((rooms.len(), damage.len()), (1, 1));
    }

    #[test]
    fn rooms_from_sotto_0_1_files_are_imported_once_and_the_files_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("home"));
        let id = Identity::generate("alice", &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
        let room =
            Room::create("ops", &id.public(), 5, &mut ChaCha20Rng::seed_from_u64(2)).unwrap();
        let rooms_dir = store.home().join(ROOMS_DIR);
        fs::create_dir_all(&rooms_dir).unwrap();
        let file = rooms_dir.join(format!("{}.json", room.id().to_hex()));
        fs::write(&file, serde_json::to_vec(&room).unwrap()).unwrap();
        let imported = store.open(SymmetricKey::from_bytes(KEY)).unwrap();
        assert_eq!(imported, ["ops"]);
        assert!(!file.exists() && !rooms_dir.exists());
        assert_eq!(store.room("ops").unwrap(), room);
        let epoch_key = crate::hex::encode(room.context().key.as_bytes());
        let db = fs::read(store.database_path()).unwrap();
        assert!(
            !db.windows(epoch_key.len())
                .any(|w| w == epoch_key.as_bytes())
        );
        assert!(!db.windows(3).any(|w| w == b"ops"));
    }

    #[test]
    fn the_client_secret_is_made_once_and_private() {
        let (_dir, store, _) = setup();
        let first = store.client_secret().unwrap();
        assert_eq!(store.client_secret().unwrap(), first);
        assert_eq!(mode(&store.home().join(CLIENT_SECRET_FILE)), 0o600);
        let room = RoomId([7; 16]);
        assert_eq!(store.last_client_id(&room).unwrap(), None);
        store.set_last_client_id(&room, "sotto0123").unwrap();
        assert_eq!(
            store.last_client_id(&room).unwrap().as_deref(),
            Some("sotto0123")
        );
        store.remember_mqtt_version("mqtt://a:1", "3.1.1");
        store.remember_mqtt_version("mqtt://b:1", "5");
        store.remember_mqtt_version("mqtt://a:1", "5");
        assert_eq!(
            store.remembered_mqtt_version("mqtt://a:1").as_deref(),
            Some("5")
        );
        assert_eq!(
            store.remembered_mqtt_version("mqtt://b:1").as_deref(),
            Some("5")
        );
        assert_eq!(store.remembered_mqtt_version("mqtt://c:1"), None);
    }

    #[test]
    fn the_lock_excludes_a_second_holder() {
        let (_dir, store, _) = setup();
        let held = store.lock().unwrap();
        let other = Store::new(store.home());
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _lock = other.lock().unwrap();
            tx.send(()).unwrap();
        });
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        drop(held);
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        waiter.join().unwrap();
    }

    #[test]
    fn concurrent_updates_are_not_lost() {
        let (_dir, store, id) = setup();
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let room = Room::create("ops", &id.public(), 5, &mut rng).unwrap();
        store.save_room(&store.lock().unwrap(), &room).unwrap();
        let identity = std::sync::Arc::new(id);
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let store = store.clone();
                let id = identity.clone();
                let room_id = *room.id();
                std::thread::spawn(move || {
                    let mut rng = ChaCha20Rng::seed_from_u64(i);
                    for _ in 0..10 {
                        store
                            .update_room(&room_id, |room| {
                                room.seal_message(
                                    &id,
                                    crate::protocol::message::Body::Text("x".into()),
                                    0,
                                    &mut rng,
                                )
                            })
                            .unwrap()
                            .unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        // 40 messages sealed in total: the next sequence number is 41.
        let mut room = store.room("ops").unwrap();
        let bytes = room
            .seal_message(
                &identity,
                crate::protocol::message::Body::Text("x".into()),
                0,
                &mut rng,
            )
            .unwrap();
        let opened = crate::protocol::message::open(room.context(), &bytes).unwrap();
        assert_eq!(opened.seq, 41);
    }
}
