//! Temporary sotto homes for the receiving members, made the way `sotto
//! init` and `sotto join` make them, through the store's public API. They
//! live under one temporary directory (`TMPDIR`), removed at the end: its
//! filesystem decides what an fsync costs.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use super::paths::failed;
use super::{Bench, BenchError};
use crate::identity::Identity;
use crate::invite::Invite;
use crate::keyfile;
use crate::room::Room;
use crate::secret::SymmetricKey;
use crate::session::{self, now_ms};
use crate::store::Store;

/// Every home of a run, made on first use and reused by later runs (each
/// run joins a room of its own).
pub(super) struct Homes {
    root: tempfile::TempDir,
    members: Mutex<Vec<(Store, Arc<Identity>)>>,
}

impl Homes {
    /// An empty temporary directory for the homes.
    pub fn new() -> Result<Self, BenchError> {
        let root = tempfile::Builder::new()
            .prefix("sotto-bench-")
            .tempdir()
            .map_err(BenchError::io("create a temporary directory"))?;
        Ok(Self {
            root,
            members: Mutex::new(Vec::new()),
        })
    }

    /// Where the homes are.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Milliseconds for one 4 KiB write and fsync in the homes' directory,
    /// the median of 20: what every durable step there pays at least.
    pub fn fsync_ms(&self) -> Result<f64, BenchError> {
        let path = self.root.path().join("fsync-probe");
        let mut file =
            File::create(&path).map_err(BenchError::io("create a file to time fsync"))?;
        let block = [0u8; 4096];
        let mut times = Vec::new();
        for _ in 0..20 {
            let start = Instant::now();
            file.write_all(&block)
                .and_then(|()| file.sync_all())
                .map_err(BenchError::io("time a write and fsync"))?;
            times.push(start.elapsed().as_secs_f64() * 1e3);
        }
        drop(file);
        let _ = std::fs::remove_file(&path);
        Ok(super::median(&times))
    }

    /// Joins the first `count` members to `room` (made by its sender), as
    /// `sotto join` would: each member's home, identity and local name.
    pub fn join_room(
        &self,
        bench: &Bench,
        room: &Room,
        count: usize,
    ) -> Result<Vec<(Store, Arc<Identity>, String)>, BenchError> {
        let invite = room.invite().encode();
        let mut members = self.members.lock().unwrap_or_else(PoisonError::into_inner);
        while members.len() < count {
            let name = format!("member{}", members.len() + 1);
            members.push(self.new_home(&name)?);
        }
        members[..count]
            .iter()
            .map(|(store, identity)| {
                let joined = join(bench, store, identity, &invite)?;
                Ok((store.clone(), identity.clone(), joined.name().to_owned()))
            })
            .collect()
    }

    /// A new home under the root, with an identity called `name` (no
    /// passphrase), as `sotto init --name NAME` leaves it.
    pub fn new_home(&self, name: &str) -> Result<(Store, Arc<Identity>), BenchError> {
        let store = Store::new(self.root.path().join(name));
        let mut rng = rand::rng();
        let identity = Identity::generate(name, &mut rng).map_err(failed("make an identity"))?;
        let key_text = keyfile::encode(&identity, None, &mut rng);
        let lock = store.lock()?;
        store.write_identity(&lock, &identity.public(), &key_text, false)?;
        drop(lock);
        // The storage key that unlocks the home's database, as `init` makes it.
        let storage_key = SymmetricKey::random(&mut rng);
        store.write_storage_key(&keyfile::encode_storage_key(&storage_key, None, &mut rng))?;
        store.open(storage_key)?;
        Ok((store, Arc::new(identity)))
    }
}

/// Adds the room an invite grants to a home, as `sotto join` does, and
/// notes the broker session and presence record it will leave behind.
pub(super) fn join(
    bench: &Bench,
    store: &Store,
    identity: &Identity,
    invite: &str,
) -> Result<Room, BenchError> {
    let invite = Invite::decode(invite).map_err(failed("read an invite"))?;
    let room = Room::join(&invite, &invite.room_name, &identity.public(), now_ms())
        .map_err(failed("join a room"))?;
    store.save_room(&store.lock()?, &room)?;
    bench
        .leftovers
        .sotto_session(store, &room, &bench.broker.prefix)?;
    Ok(room)
}

/// Saves a room its creator just made, as `sotto room create` does.
pub(super) fn save_created(bench: &Bench, store: &Store, room: &Room) -> Result<(), BenchError> {
    store.save_room(&store.lock()?, room)?;
    bench
        .leftovers
        .sotto_session(store, room, &bench.broker.prefix)
}

/// A room name no other room of this process has.
pub(super) fn room_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("bench-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Records the client id a room's sessions will use, as `join` and
/// `room create` do; the id, so the session can be deleted afterwards.
pub(super) fn record_client_id(store: &Store, room: &Room) -> Result<Option<String>, BenchError> {
    session::record_client_id(store, room)?;
    Ok(store.last_client_id(room.id())?)
}
