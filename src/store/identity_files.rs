//! The identity's files and the home's other secrets on disk: the
//! identity key (0600), its public half, the storage key and the client
//! secret that derives broker client ids.

use std::path::PathBuf;

use zeroize::Zeroizing;

use super::files::{read_bounded, read_json, write_atomic};
use super::{
    CLIENT_SECRET_FILE, IDENTITY_KEY, IDENTITY_PUBLIC, STORAGE_KEY_FILE, Store, StoreError,
    StoreLock,
};
use crate::identity::PublicIdentity;
use crate::keyfile::MAX_KEY_FILE_LEN;
use crate::secret::SymmetricKey;

impl Store {
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

    /// The storage key file's text, if there is one.
    pub fn storage_key_text(&self) -> Result<Option<Zeroizing<String>>, StoreError> {
        let path = self.storage_key_path();
        if !path.exists() {
            return Ok(None);
        }
        let bytes = Zeroizing::new(read_bounded(&path, MAX_KEY_FILE_LEN as u64)?);
        String::from_utf8(bytes.to_vec())
            .map(|text| Some(Zeroizing::new(text)))
            .map_err(|_| StoreError::Damaged {
                path,
                reason: "not UTF-8 text".into(),
            })
    }

    /// Writes the storage key file (made by [`crate::keyfile::encode_storage_key`]).
    pub fn write_storage_key(&self, text: &str) -> Result<(), StoreError> {
        self.ensure_dirs()?;
        write_atomic(&self.storage_key_path(), text.as_bytes())
    }

    /// Where the storage key is kept.
    pub fn storage_key_path(&self) -> PathBuf {
        self.home.join(STORAGE_KEY_FILE)
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
}
