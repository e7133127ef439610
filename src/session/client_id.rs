//! MQTT client ids: which broker session belongs to this home and room.
//!
//! An id is `sotto` followed by 18 hex digits of HKDF(the home's random
//! client secret, room id, epoch): 23 characters, the most MQTT 3.1.1
//! promises a broker accepts. Nobody without the home's `client.key` can
//! compute it, so no member can take over another's session and read or
//! wipe their offline queue, and every spelling of the home path gives the
//! same id, so one home has one queue.
//!
//! Homes from sotto 0.1 used HKDF(public key, room id, home path as typed):
//! [`legacy_ids`] lists the ids such a home may have left behind, so they
//! can be drained and deleted once.

use std::path::Path;

use crate::crypto;
use crate::identity::Identity;
use crate::room::Room;
use crate::secret::SymmetricKey;

const CLIENT_ID_LABEL: &str = "sotto/v1/client-id/home-secret";
const LEGACY_CLIENT_ID_LABEL: &str = "sotto/v1/client-id";

/// Longest client id MQTT 3.1.1 guarantees a broker accepts.
pub const MAX_CLIENT_ID_LEN: usize = 23;

/// This home's client id for the room's current epoch.
pub fn client_id(secret: &SymmetricKey, room: &Room) -> String {
    let mut id = [0u8; 9];
    crypto::derive_into(
        secret.as_bytes(),
        &room.id().0,
        CLIENT_ID_LABEL,
        &room.epoch().to_be_bytes(),
        &mut id,
    );
    format!("sotto{}", crate::hex::encode(&id))
}

/// The ids sotto 0.1 may have used for this room from this home: one per
/// spelling of the home path we can think of (as typed, and absolute).
pub fn legacy_ids(identity: &Identity, room: &Room, home: &Path) -> Vec<String> {
    let mut spellings = vec![home.to_string_lossy().into_owned()];
    if let Ok(absolute) = std::path::absolute(home) {
        spellings.push(absolute.to_string_lossy().into_owned());
    }
    if let Ok(canonical) = home.canonicalize() {
        spellings.push(canonical.to_string_lossy().into_owned());
    }
    let mut ids: Vec<String> = spellings
        .iter()
        .map(|home| {
            let mut id = [0u8; 12];
            crypto::derive_into(
                &identity.public().signing,
                &room.id().0,
                LEGACY_CLIENT_ID_LABEL,
                home.as_bytes(),
                &mut id,
            );
            format!("sotto-{}", crate::hex::encode(&id))
        })
        .collect();
    ids.dedup();
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    #[test]
    fn ids_are_short_secret_and_per_epoch_free_of_names() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let alice = Identity::generate("alice", &mut rng).unwrap();
        let room = Room::create("ops", &alice.public(), 0, &mut rng).unwrap();
        let secret = SymmetricKey::random(&mut rng);
        let other = SymmetricKey::random(&mut rng);
        let id = client_id(&secret, &room);
        assert_eq!(id.len(), MAX_CLIENT_ID_LEN);
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(id, client_id(&secret, &room));
        assert_ne!(id, client_id(&other, &room));
        assert!(!legacy_ids(&alice, &room, Path::new("home")).contains(&id));
    }
}
