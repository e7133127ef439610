//! Homes from sotto 0.1 kept one JSON file per room (`rooms/<id>.json`,
//! epoch key in the clear). On the first open with a storage key they are
//! imported into the database, sealed, in one transaction, and then
//! deleted. (Deleting is not secure erasure: SECURITY.md says so.)

use std::fs;
use std::path::Path;

use super::StoreError;
use super::db::{self, Database};
use super::files::{io_error, read_json};
use crate::room::Room;

/// The largest room file 0.1 would have written that we still read.
const MAX_ROOM_FILE_LEN: u64 = 8 * 1024 * 1024;

/// Imports every readable `*.json` room in `dir`, then deletes the files
/// (and the directory, once empty). A damaged file is left where it is and
/// reported. Returns the names of the rooms imported.
pub(super) fn import_json_rooms(db: &Database, dir: &Path) -> Result<Vec<String>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(io_error("read", dir)(err)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let path = entry.map_err(io_error("read", dir))?.path();
        if path.extension().is_some_and(|ext| ext == "json") {
            found.push(path);
        }
    }
    let mut rooms = Vec::new();
    for path in &found {
        if fs::metadata(path).is_ok_and(|m| m.len() > MAX_ROOM_FILE_LEN) {
            return Err(StoreError::Damaged {
                path: path.clone(),
                reason: "larger than any room file sotto wrote".into(),
            });
        }
        rooms.push((path, read_json::<Room>(path)?));
    }
    db.write(|tx, sealer| {
        for (_, room) in &rooms {
            let existing = db::load_room(tx, sealer, &sealer.room_key(room.id()));
            // Imported before (a crash between commit and deletion): the
            // database copy is newer.
            if matches!(existing, Ok(Some(_))) {
                continue;
            }
            db::save_room(tx, sealer, None, room).map_err(|err| db.error(err))?;
        }
        Ok(())
    })?;
    for (path, _) in &rooms {
        fs::remove_file(path).map_err(io_error("delete", path))?;
    }
    // Temporary files a crashed 0.1 left behind held room state too.
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().ends_with(".tmp") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    let _ = fs::remove_dir(dir);
    Ok(rooms
        .into_iter()
        .map(|(_, room)| room.name().to_owned())
        .collect())
}
