//! A cache of the members' decompressed Ed25519 keys.
//!
//! Every message carries its sender's public keys as bytes. Turning the
//! Ed25519 bytes into a curve point (a square root in the field) costs
//! about a tenth of opening a message, and so does hashing the keys into
//! the fingerprint the member table is keyed by; both results depend on
//! the bytes alone, so a room keeps them per member and does each once.
//!
//! The cache is derived data: it is never saved (a loaded room starts
//! empty and fills as members speak), it takes no part in comparing rooms,
//! and a lookup gives exactly what computing afresh would, so results never
//! depend on whether a key was cached. It holds members only, so it is
//! bounded by the member table ([`super::MAX_MEMBERS`]).

use std::collections::{BTreeMap, HashMap};

use ed25519_dalek::VerifyingKey;

use super::Member;
use crate::identity::{Fingerprint, PublicIdentity, validate_name};
use crate::protocol::BAD_SIGNER_KEY;
use crate::protocol::OpenError;

/// A sender's key, ready to verify with, and the fingerprint of the
/// identity it came with.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SignerKey {
    /// SHA-256 over both public keys: the member table's key.
    pub(crate) fingerprint: Fingerprint,
    /// The decompressed, non-weak Ed25519 key.
    pub(crate) key: VerifyingKey,
}

/// Keys resolved during one batch, by the same id as the cache (bounded by
/// the batch's length, dropped with it).
pub(super) type Fresh = HashMap<[u8; 64], SignerKey>;

/// Members' keys by their public key bytes (Ed25519 then X25519: the
/// fingerprint's whole input, so one entry per fingerprint).
#[derive(Clone, Default)]
pub(super) struct KeyCache {
    entries: HashMap<[u8; 64], SignerKey>,
}

fn cache_id(identity: &PublicIdentity) -> [u8; 64] {
    let mut id = [0u8; 64];
    id[..32].copy_from_slice(&identity.signing);
    id[32..].copy_from_slice(&identity.agreement);
    id
}

impl KeyCache {
    /// The claimed signer's key and fingerprint, from the cache or
    /// computed. Refuses what [`crate::protocol::message::open`] refuses:
    /// an invalid name (checked every time, since the name is not part of
    /// the cached keys) and a key that is not a point or is weak. Also
    /// looks in and adds to `fresh`: keys computed earlier in the same
    /// batch, whose senders are not (yet) in the member table, so a batch
    /// from a sender the cache does not know decompresses its key once,
    /// not once per message.
    pub(super) fn resolve_in(
        &self,
        claimed: &PublicIdentity,
        fresh: &mut Fresh,
    ) -> Result<SignerKey, OpenError> {
        validate_name(&claimed.name).map_err(|_| OpenError::Malformed)?;
        let id = cache_id(claimed);
        if let Some(hit) = self.entries.get(&id).or_else(|| fresh.get(&id)) {
            return Ok(*hit);
        }
        let key = claimed
            .verifying_key()
            .ok_or(OpenError::Forged(BAD_SIGNER_KEY))?;
        let signer = SignerKey {
            fingerprint: claimed.fingerprint(),
            key,
        };
        fresh.insert(id, signer);
        Ok(signer)
    }

    /// Keeps a verified signer's key if the signer is in the member table,
    /// and drops keys of members no longer in it once the cache outgrows
    /// the table (a new key took a silent member's place).
    pub(super) fn remember(
        &mut self,
        identity: &PublicIdentity,
        signer: SignerKey,
        members: &BTreeMap<Fingerprint, Member>,
    ) {
        if !members.contains_key(&signer.fingerprint) {
            return;
        }
        self.entries.insert(cache_id(identity), signer);
        if self.entries.len() > members.len() {
            self.entries
                .retain(|_, cached| members.contains_key(&cached.fingerprint));
        }
    }

    /// How many keys are cached.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// Rooms compare by what they remember, and the cache only repeats what
/// the member table's keys already say.
impl PartialEq for KeyCache {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for KeyCache {}
