//! File helpers for the store: private directories, bounded reads,
//! atomic 0600 writes and lock files.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use zeroize::Zeroizing;

use super::StoreError;

/// The largest JSON file the store reads (identity, 0.1 room files).
const MAX_JSON_FILE_LEN: u64 = 8 * 1024 * 1024;

pub(super) fn io_error<'a>(
    action: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

pub(super) fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error("create", dir))
}

/// Opens a file for writing, creating it 0600 if missing, keeping what
/// it holds (lock files, and the database before SQLite opens it).
pub(super) fn open_lock_file(path: &Path) -> Result<File, StoreError> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(path)
        .map_err(io_error("open", path))
}

pub(super) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, StoreError> {
    let bytes = Zeroizing::new(read_bounded(path, MAX_JSON_FILE_LEN)?);
    serde_json::from_slice(&bytes).map_err(|err| StoreError::Damaged {
        path: path.to_owned(),
        // serde_json errors name a line and column, never the content.
        reason: err.to_string(),
    })
}

pub(super) fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, StoreError> {
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
