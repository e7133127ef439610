//! What a home remembers about its brokers: the client ids of each
//! room's broker sessions (the current one and old ones still to drain),
//! which subscriptions the current one is known to hold, and the MQTT
//! version each broker took.

use std::path::PathBuf;

use super::files::{create_private_dir, read_bounded, write_atomic};
use super::{MAX_SMALL_FILE_LEN, MQTT_VERSIONS_FILE, SESSIONS_DIR, Store, StoreError};
use crate::room::RoomId;

impl Store {
    /// The MQTT client id this home last used for a room, if recorded.
    pub fn last_client_id(&self, id: &RoomId) -> Result<Option<String>, StoreError> {
        Ok(self.recorded_client_ids(id)?.into_iter().next())
    }

    /// Every MQTT client id recorded for a room, oldest first: the one in
    /// use, or, after the room moved to new epochs, the ones whose broker
    /// sessions still wait to be drained and deleted.
    pub fn recorded_client_ids(&self, id: &RoomId) -> Result<Vec<String>, StoreError> {
        let path = self.client_id_path(id);
        if !path.exists() {
            return Ok(Vec::new());
        }
        let bytes = read_bounded(&path, MAX_SMALL_FILE_LEN)?;
        Ok(String::from_utf8(bytes)
            .map(|text| {
                text.lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Records the MQTT client id now used for a room (the only one left).
    pub fn set_last_client_id(&self, id: &RoomId, client_id: &str) -> Result<(), StoreError> {
        let dir = self.home.join(SESSIONS_DIR);
        create_private_dir(&dir)?;
        write_atomic(&self.client_id_path(id), client_id.as_bytes())
    }

    /// Adds a client id whose broker session must still be drained (the
    /// room left its epoch), keeping the newest few.
    pub fn record_client_id_to_retire(
        &self,
        id: &RoomId,
        client_id: &str,
    ) -> Result<(), StoreError> {
        const KEPT: usize = 8;
        let mut ids = self.recorded_client_ids(id)?;
        if !ids.iter().any(|known| known == client_id) {
            ids.push(client_id.to_owned());
        }
        let skip = ids.len().saturating_sub(KEPT);
        let dir = self.home.join(SESSIONS_DIR);
        create_private_dir(&dir)?;
        write_atomic(&self.client_id_path(id), ids[skip..].join("\n").as_bytes())
    }

    /// Whether the broker session `client_id` of a room is recorded as
    /// holding every one of `filters` (each granted once). A session the
    /// broker keeps after refusing a SUBSCRIBE lacks that subscription,
    /// though the broker says the session is present.
    pub fn session_holds(&self, id: &RoomId, client_id: &str, filters: &[String]) -> bool {
        let Ok(bytes) = read_bounded(&self.subscribed_path(id), MAX_SMALL_FILE_LEN) else {
            return false;
        };
        let text = String::from_utf8_lossy(&bytes);
        let mut lines = text.lines();
        lines.next() == Some(client_id)
            && filters
                .iter()
                .all(|filter| text.lines().skip(1).any(|held| held == filter))
    }

    /// Records that the broker granted `filters` to the session
    /// `client_id` of a room (replacing what was recorded for an older
    /// one). Best effort: forgetting only costs subscribing again.
    pub fn record_session_holds(&self, id: &RoomId, client_id: &str, filters: &[String]) {
        if self.session_holds(id, client_id, filters) {
            return;
        }
        let mut text = format!("{client_id}\n");
        for filter in filters {
            text.push_str(filter);
            text.push('\n');
        }
        let dir = self.home.join(SESSIONS_DIR);
        if create_private_dir(&dir).is_ok() {
            let _ = write_atomic(&self.subscribed_path(id), text.as_bytes());
        }
    }

    fn subscribed_path(&self, id: &RoomId) -> PathBuf {
        self.home
            .join(SESSIONS_DIR)
            .join(format!("{}.subscribed", id.to_hex()))
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
}
