//! Rows sealed at rest: every value the database holds about a room (its
//! header, epoch keys, members, message history) is a JSON record sealed
//! with XChaCha20-Poly1305 under the home's storage key, with the table
//! and row key as associated data, so a value copied into another row or
//! table does not open. Row keys are keyed hashes (HKDF under the storage
//! key), so the file shows no room ids or fingerprints either.

use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::crypto::{self, NONCE_LEN};
use crate::identity::Fingerprint;
use crate::room::RoomId;
use crate::secret::SymmetricKey;

const ROW_AAD_LABEL: &[u8] = b"sotto/v1/store/";
const ROOM_KEY_LABEL: &str = "sotto/v1/store/room-key";
const MEMBER_KEY_LABEL: &str = "sotto/v1/store/member-key";

/// Seals and opens rows under one storage key.
pub(super) struct Sealer {
    key: SymmetricKey,
}

/// A row that would not open: damaged, or sealed under another key.
#[derive(Debug)]
pub(super) struct Unreadable;

impl Sealer {
    pub(super) fn new(key: SymmetricKey) -> Self {
        Self { key }
    }

    /// The row key of a room.
    pub(super) fn room_key(&self, room: &RoomId) -> Vec<u8> {
        let mut out = [0u8; 16];
        crypto::derive_into(self.key.as_bytes(), &[], ROOM_KEY_LABEL, &room.0, &mut out);
        out.to_vec()
    }

    /// The row key of a member within a room (also a message's sender).
    pub(super) fn member_key(&self, room: &RoomId, member: &Fingerprint) -> Vec<u8> {
        let mut out = [0u8; 16];
        crypto::derive_into(
            self.key.as_bytes(),
            &room.0,
            MEMBER_KEY_LABEL,
            &member.0,
            &mut out,
        );
        out.to_vec()
    }

    fn aad(table: &str, row: &[u8]) -> Vec<u8> {
        let mut aad = Vec::with_capacity(ROW_AAD_LABEL.len() + table.len() + 1 + row.len());
        aad.extend_from_slice(ROW_AAD_LABEL);
        aad.extend_from_slice(table.as_bytes());
        aad.push(0);
        aad.extend_from_slice(row);
        aad
    }

    /// Seals bytes for one row of one table.
    pub(super) fn seal_bytes(&self, table: &str, row: &[u8], plain: &[u8]) -> Vec<u8> {
        let (nonce, ciphertext) =
            crypto::seal(&self.key, &Self::aad(table, row), plain, &mut rand::rng());
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Opens what [`Sealer::seal_bytes`] sealed for the same row.
    pub(super) fn open_bytes(
        &self,
        table: &str,
        row: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Unreadable> {
        if sealed.len() < NONCE_LEN {
            return Err(Unreadable);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let mut fixed = [0u8; NONCE_LEN];
        fixed.copy_from_slice(nonce);
        crypto::open(&self.key, &fixed, &Self::aad(table, row), ciphertext).map_err(|_| Unreadable)
    }

    /// Seals a value as JSON.
    pub(super) fn seal<T: Serialize>(&self, table: &str, row: &[u8], value: &T) -> Vec<u8> {
        // Serializing plain data structures to JSON cannot fail; an empty
        // record would be refused when read back, never misread.
        let json = Zeroizing::new(serde_json::to_vec(value).unwrap_or_default());
        self.seal_bytes(table, row, &json)
    }

    /// Opens and decodes a value sealed with [`Sealer::seal`].
    pub(super) fn open<T: DeserializeOwned>(
        &self,
        table: &str,
        row: &[u8],
        sealed: &[u8],
    ) -> Result<T, Unreadable> {
        let json = self.open_bytes(table, row, sealed)?;
        serde_json::from_slice(&json).map_err(|_| Unreadable)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_opens_only_where_it_was_sealed() {
        let sealer = Sealer::new(SymmetricKey::from_bytes([3; 32]));
        let sealed = sealer.seal("members", b"row-1", &"secret text");
        assert_eq!(
            sealer.open::<String>("members", b"row-1", &sealed).unwrap(),
            "secret text"
        );
        assert!(sealer.open::<String>("members", b"row-2", &sealed).is_err());
        assert!(sealer.open::<String>("rooms", b"row-1", &sealed).is_err());
        let other = Sealer::new(SymmetricKey::from_bytes([4; 32]));
        assert!(other.open::<String>("members", b"row-1", &sealed).is_err());
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
        let room = RoomId([1; 16]);
        assert_ne!(sealer.room_key(&room), other.room_key(&room));
    }
}
