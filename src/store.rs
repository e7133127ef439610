//! Local state on disk: the only module that reads or writes files.
//!
//! Layout under the home directory (created 0700):
//!
//! ```text
//! identity.key         the secret key file (0600), see crate::keyfile
//! identity.json        name and public keys (0600; not secret, but private)
//! rooms/<room-id>.json one file per room: epoch key, members, replay windows (0600)
//! lock                 advisory lock taken around every read-modify-write
//! sessions/<id>.lock   held while a process is connected to a room's session
//! sessions/<id>.client the MQTT client id last used for the room (0600)
//! client.key           random secret the MQTT client ids derive from (0600)
//! mqtt-versions        MQTT version each broker URL answered to (0600)
//! history              the chat client's input history (0600)
//! ```
//!
//! Every write goes to a temporary file in the same directory, is synced,
//! then renamed over the old file, so a crash leaves the old or the new
//! state, never half of one. Writers hold an exclusive lock on `lock`, so a
//! second sotto process on the same home waits its turn instead of losing
//! updates. Reads are bounded in size: a damaged or hostile file cannot make
//! sotto allocate without limit.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::identity::PublicIdentity;
use crate::keyfile::MAX_KEY_FILE_LEN;
use crate::room::{Room, RoomId};
use crate::secret::SymmetricKey;

const IDENTITY_KEY: &str = "identity.key";
const IDENTITY_PUBLIC: &str = "identity.json";
const ROOMS_DIR: &str = "rooms";
const LOCK_FILE: &str = "lock";
const SESSIONS_DIR: &str = "sessions";
const HISTORY_FILE: &str = "history";
const CLIENT_SECRET_FILE: &str = "client.key";
const MQTT_VERSIONS_FILE: &str = "mqtt-versions";
/// Bound on the small text files (client ids, versions).
const MAX_SMALL_FILE_LEN: u64 = 64 * 1024;
const MAX_STATE_FILE_LEN: u64 = 8 * 1024 * 1024;
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

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// The state directory of one sotto user.
#[derive(Debug, Clone)]
pub struct Store {
    home: PathBuf,
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
        Self { home: home.into() }
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Creates the home (0700) and its rooms directory if missing.
    pub fn ensure_dirs(&self) -> Result<(), StoreError> {
        create_private_dir(&self.home)?;
        create_private_dir(&self.home.join(ROOMS_DIR))
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

    /// Whether an identity exists.
    pub fn has_identity(&self) -> bool {
        self.home.join(IDENTITY_KEY).exists()
    }

    /// Writes a new identity. Refuses to replace one unless `force`.
    pub fn write_identity(
        &self,
        _lock: &StoreLock,
        public: &PublicIdentity,
        key_text: &str,
        force: bool,
    ) -> Result<(), StoreError> {
        if self.has_identity() && !force {
            return Err(StoreError::IdentityExists(self.home.clone()));
        }
        let public_json = serde_json::to_vec_pretty(public).map_err(|err| StoreError::Damaged {
            path: self.home.join(IDENTITY_PUBLIC),
            reason: err.to_string(),
        })?;
        // Key first: a crash in between leaves a key whose public half can
        // be recomputed, never a public identity without a key.
        write_atomic(&self.home.join(IDENTITY_KEY), key_text.as_bytes())?;
        write_atomic(&self.home.join(IDENTITY_PUBLIC), &public_json)
    }

    /// The public identity (name and public keys); needs no passphrase.
    pub fn public_identity(&self) -> Result<PublicIdentity, StoreError> {
        let path = self.home.join(IDENTITY_PUBLIC);
        if !self.has_identity() {
            return Err(StoreError::NoIdentity(self.home.clone()));
        }
        read_json(&path)
    }

    /// The key file's text, to be decoded by [`crate::keyfile::decode`].
    pub fn key_text(&self) -> Result<Zeroizing<String>, StoreError> {
        let path = self.home.join(IDENTITY_KEY);
        if !path.exists() {
            return Err(StoreError::NoIdentity(self.home.clone()));
        }
        let bytes = Zeroizing::new(read_bounded(&path, MAX_KEY_FILE_LEN as u64)?);
        String::from_utf8(bytes.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| StoreError::Damaged {
                path,
                reason: "not UTF-8 text".into(),
            })
    }

    /// The path of the key file (for messages).
    pub fn key_path(&self) -> PathBuf {
        self.home.join(IDENTITY_KEY)
    }

    /// Every readable room, sorted by name. A damaged room file does not
    /// hide the others: see [`Store::rooms_and_damage`] to hear about it.
    pub fn rooms(&self) -> Result<Vec<Room>, StoreError> {
        Ok(self.rooms_and_damage()?.0)
    }

    /// Every readable room, sorted by name, and what was wrong with each
    /// room file that could not be read.
    pub fn rooms_and_damage(&self) -> Result<(Vec<Room>, Vec<StoreError>), StoreError> {
        let dir = self.home.join(ROOMS_DIR);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {
                return Ok((Vec::new(), Vec::new()));
            }
            Err(err) => return Err(io_error("read", &dir)(err)),
        };
        let mut rooms = Vec::new();
        let mut damage = Vec::new();
        for entry in entries {
            let path = entry.map_err(io_error("read", &dir))?.path();
            if path.extension().is_some_and(|ext| ext == "json") {
                match read_json::<Room>(&path) {
                    Ok(room) => rooms.push(room),
                    Err(err) => damage.push(err),
                }
            }
        }
        rooms.sort_by(|a, b| a.name().cmp(b.name()));
        Ok((rooms, damage))
    }

    /// The room with this local name. When it is not among the readable
    /// rooms and some room file is damaged, that damage is the answer (it
    /// may be this room).
    pub fn room(&self, name: &str) -> Result<Room, StoreError> {
        let (rooms, mut damage) = self.rooms_and_damage()?;
        if let Some(room) = rooms.into_iter().find(|room| room.name() == name) {
            return Ok(room);
        }
        if damage.is_empty() {
            Err(StoreError::RoomNotFound(name.to_owned()))
        } else {
            Err(damage.swap_remove(0))
        }
    }

    /// The room with this id, if joined.
    pub fn room_by_id(&self, id: &RoomId) -> Result<Option<Room>, StoreError> {
        let path = self.room_path(id);
        if !path.exists() {
            return Ok(None);
        }
        read_json(&path).map(Some)
    }

    /// Saves a room (atomically, 0600). Hold the lock.
    pub fn save_room(&self, _lock: &StoreLock, room: &Room) -> Result<(), StoreError> {
        self.ensure_dirs()?;
        let path = self.room_path(room.id());
        let json =
            Zeroizing::new(
                serde_json::to_vec_pretty(room).map_err(|err| StoreError::Damaged {
                    path: path.clone(),
                    reason: err.to_string(),
                })?,
            );
        write_atomic(&path, &json)
    }

    /// Loads a room, applies `change`, and saves it if `change` succeeded,
    /// all under the lock, so concurrent processes never lose each other's
    /// updates and a refused payload costs no write.
    pub fn update_room<T, E>(
        &self,
        id: &RoomId,
        change: impl FnOnce(&mut Room) -> Result<T, E>,
    ) -> Result<Result<T, E>, StoreError> {
        let lock = self.lock()?;
        let path = self.room_path(id);
        let mut room: Room = read_json(&path)?;
        let out = change(&mut room);
        if out.is_ok() {
            self.save_room(&lock, &room)?;
        }
        Ok(out)
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

    /// The home's client-id secret: 32 random bytes made on first use and
    /// kept 0600. MQTT client ids derive from it, so nobody without this
    /// file can compute them, and every spelling of the home gets the same.
    pub fn client_secret(&self) -> Result<SymmetricKey, StoreError> {
        let path = self.home.join(CLIENT_SECRET_FILE);
        let _lock = self.lock()?;
        if !path.exists() {
            let mut bytes = Zeroizing::new([0u8; 32]);
            rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes[..]);
            write_atomic(&path, &bytes[..])?;
        }
        let bytes = Zeroizing::new(read_bounded(&path, 32)?);
        let key: [u8; 32] = bytes[..].try_into().map_err(|_| StoreError::Damaged {
            path: path.clone(),
            reason: "not 32 bytes".into(),
        })?;
        Ok(SymmetricKey::from_bytes(key))
    }

    /// The MQTT client id this home last used for a room, if recorded.
    pub fn last_client_id(&self, id: &RoomId) -> Result<Option<String>, StoreError> {
        let path = self.client_id_path(id);
        if !path.exists() {
            return Ok(None);
        }
        let bytes = read_bounded(&path, MAX_SMALL_FILE_LEN)?;
        Ok(String::from_utf8(bytes)
            .ok()
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty()))
    }

    /// Records the MQTT client id now used for a room.
    pub fn set_last_client_id(&self, id: &RoomId, client_id: &str) -> Result<(), StoreError> {
        let dir = self.home.join(SESSIONS_DIR);
        create_private_dir(&dir)?;
        write_atomic(&self.client_id_path(id), client_id.as_bytes())
    }

    fn client_id_path(&self, id: &RoomId) -> PathBuf {
        self.home
            .join(SESSIONS_DIR)
            .join(format!("{}.client", id.to_hex()))
    }

    /// The MQTT version a broker URL answered to last time (as text), if
    /// remembered.
    pub fn remembered_mqtt_version(&self, url: &str) -> Option<String> {
        let bytes = read_bounded(&self.home.join(MQTT_VERSIONS_FILE), MAX_SMALL_FILE_LEN).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        text.lines()
            .filter_map(|line| line.rsplit_once(' '))
            .find(|(known, _)| *known == url)
            .map(|(_, version)| version.to_owned())
    }

    /// Remembers the MQTT version a broker URL answered to. Best effort:
    /// forgetting only costs one extra connection attempt next time.
    pub fn remember_mqtt_version(&self, url: &str, version: &str) {
        if self.remembered_mqtt_version(url).as_deref() == Some(version) {
            return;
        }
        let path = self.home.join(MQTT_VERSIONS_FILE);
        let Ok(_lock) = self.lock() else { return };
        let old = read_bounded(&path, MAX_SMALL_FILE_LEN)
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default();
        let mut text: String = old
            .lines()
            .filter(|line| line.rsplit_once(' ').is_some_and(|(known, _)| known != url))
            .map(|line| format!("{line}\n"))
            .collect();
        text.push_str(&format!("{url} {version}\n"));
        let _ = write_atomic(&path, text.as_bytes());
    }

    /// Where interactive input history is kept.
    pub fn history_path(&self) -> PathBuf {
        self.home.join(HISTORY_FILE)
    }

    fn room_path(&self, id: &RoomId) -> PathBuf {
        self.home
            .join(ROOMS_DIR)
            .join(format!("{}.json", id.to_hex()))
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error("create", dir))
}

fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error("open", path))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StoreError> {
    let bytes = Zeroizing::new(read_bounded(path, MAX_STATE_FILE_LEN)?);
    serde_json::from_slice(&bytes).map_err(|err| StoreError::Damaged {
        path: path.to_owned(),
        // serde_json errors name a line and column, never the content.
        reason: err.to_string(),
    })
}

fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, StoreError> {
    let file = File::open(path).map_err(io_error("read", path))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error("read", path))?;
    if bytes.len() as u64 > max {
        return Err(StoreError::Damaged {
            path: path.to_owned(),
            reason: format!("larger than {max} bytes"),
        });
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` atomically with mode 0600: temporary file,
/// fsync, rename, fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{file_name}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_error("create", &tmp))?;
        // The mode above is filtered by the umask; 0600 is also the most a
        // umask can leave, but set it explicitly to be independent of it.
        file.set_permissions(fs::Permissions::from_mode(0o600))
            .map_err(io_error("set permissions on", &tmp))?;
        file.write_all(bytes).map_err(io_error("write", &tmp))?;
        file.sync_all().map_err(io_error("sync", &tmp))?;
        fs::rename(&tmp, path).map_err(io_error("replace", path))?;
        if let Ok(dir) = File::open(dir) {
            // Best effort: some filesystems refuse fsync on directories.
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn setup() -> (tempfile::TempDir, Store, Identity) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("home"));
        let id = Identity::generate("alice", &mut ChaCha20Rng::seed_from_u64(1)).unwrap();
        (dir, store, id)
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
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
        let path = store.room_path(room.id());
        assert_eq!(mode(&path), 0o600);
        let names = store
            .update_room(room.id(), |room| {
                Ok::<_, ()>(room.acknowledge_key_changes())
            })
            .unwrap();
        assert_eq!(names, Ok(vec![]));
        assert_eq!(store.room("ops").unwrap(), room);
    }

    #[test]
    fn damaged_and_oversized_files_are_reported_not_panicked_on() {
        let (_dir, store, id) = setup();
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let room = Room::create("ops", &id.public(), 5, &mut rng).unwrap();
        let lock = store.lock().unwrap();
        store.save_room(&lock, &room).unwrap();
        let path = store.room_path(room.id());
        fs::write(&path, b"{ not json").unwrap();
        assert!(matches!(store.room("ops"), Err(StoreError::Damaged { .. })));
        let big = vec![b' '; (MAX_STATE_FILE_LEN + 1) as usize];
        fs::write(&path, big).unwrap();
        assert!(matches!(store.room("ops"), Err(StoreError::Damaged { .. })));
        assert_eq!(store.rooms_and_damage().unwrap().1.len(), 1);
    }

    #[test]
    fn one_damaged_room_does_not_hide_the_others() {
        let (_dir, store, id) = setup();
        let mut rng = ChaCha20Rng::seed_from_u64(2);
        let ops = Room::create("ops", &id.public(), 5, &mut rng).unwrap();
        let dev = Room::create("dev", &id.public(), 5, &mut rng).unwrap();
        let lock = store.lock().unwrap();
        store.save_room(&lock, &ops).unwrap();
        store.save_room(&lock, &dev).unwrap();
        drop(lock);
        fs::write(store.room_path(dev.id()), b"{ damaged").unwrap();
        assert_eq!(store.room("ops").unwrap(), ops);
        assert!(matches!(store.room("dev"), Err(StoreError::Damaged { .. })));
        let (rooms, damage) = store.rooms_and_damage().unwrap();
        assert_eq!((rooms.len(), damage.len()), (1, 1));
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
