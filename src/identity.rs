//! Identities: an Ed25519 signing key plus an X25519 key-agreement key,
//! their public halves, and the fingerprint people compare out of band.
//!
//! No disk I/O here; the key file format lives in [`crate::keyfile`].

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey as X25519Public, StaticSecret};

/// Longest display name, in bytes. Short enough for a chat prefix.
pub const MAX_NAME_LEN: usize = 32;

const FINGERPRINT_LABEL: &[u8] = b"sotto/v1/fingerprint";

/// Why a display name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The name is empty or only whitespace.
    #[error("the name is empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    #[error("the name is longer than {MAX_NAME_LEN} bytes")]
    TooLong,
    /// The name contains a control character or surrounding whitespace.
    #[error("the name contains control characters or leading/trailing spaces")]
    BadCharacters,
}

/// Checks that a name is printable, trimmed and short.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.trim().is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    if name.trim() != name || name.chars().any(char::is_control) {
        return Err(NameError::BadCharacters);
    }
    Ok(())
}

/// A user's secret keys. Both dalek types wipe themselves on drop, and
/// `Debug` prints only the public fingerprint.
pub struct Identity {
    signing: SigningKey,
    agreement: StaticSecret,
    /// Cached: deriving the X25519 public key costs a scalar
    /// multiplication, and every sealed payload carries the public half.
    public: PublicIdentity,
}

impl Identity {
    /// Generates a fresh identity.
    pub fn generate<R: CryptoRng + ?Sized>(name: &str, rng: &mut R) -> Result<Self, NameError> {
        validate_name(name)?;
        let signing = SigningKey::generate(rng);
        let agreement = StaticSecret::random_from_rng(rng);
        Ok(Self::from_keys(name.to_owned(), signing, agreement))
    }

    fn from_keys(name: String, signing: SigningKey, agreement: StaticSecret) -> Self {
        let public = PublicIdentity {
            name,
            signing: signing.verifying_key().to_bytes(),
            agreement: X25519Public::from(&agreement).to_bytes(),
        };
        Self {
            signing,
            agreement,
            public,
        }
    }

    /// Rebuilds an identity from its secret parts (as stored in a key file).
    pub fn from_secrets(name: String, signing_seed: &[u8; 32], agreement: [u8; 32]) -> Self {
        Self::from_keys(
            name,
            SigningKey::from_bytes(signing_seed),
            StaticSecret::from(agreement),
        )
    }

    /// The display name chosen at `init`.
    pub fn name(&self) -> &str {
        &self.public.name
    }

    /// The public half, safe to publish.
    pub fn public(&self) -> PublicIdentity {
        self.public.clone()
    }

    /// This identity's fingerprint.
    pub fn fingerprint(&self) -> Fingerprint {
        self.public().fingerprint()
    }

    /// Signs `message`. Callers prefix a domain-separation label.
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }

    /// The X25519 secret, for opening things sealed to this member.
    pub fn agreement_secret(&self) -> &StaticSecret {
        &self.agreement
    }

    /// The Ed25519 seed, for writing the key file.
    pub(crate) fn signing_seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.signing.to_bytes())
    }

    /// The X25519 secret bytes, for writing the key file.
    pub(crate) fn agreement_bytes(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.agreement.to_bytes())
    }
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Identity")
            .field("name", &self.public.name)
            .field("fingerprint", &self.fingerprint())
            .field("secrets", &"<redacted>")
            .finish()
    }
}

/// The public half of an identity: what members learn about each other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicIdentity {
    /// Display name (untrusted when it comes from the network).
    pub name: String,
    /// Ed25519 verifying key.
    #[serde(with = "crate::hex::array")]
    pub signing: [u8; 32],
    /// X25519 public key.
    #[serde(with = "crate::hex::array")]
    pub agreement: [u8; 32],
}

impl PublicIdentity {
    /// The fingerprint over both public keys (the name is not included, so
    /// a fingerprint names keys, not people).
    pub fn fingerprint(&self) -> Fingerprint {
        let mut hash = Sha256::new();
        hash.update(FINGERPRINT_LABEL);
        hash.update(self.signing);
        hash.update(self.agreement);
        Fingerprint(hash.finalize().into())
    }

    /// The Ed25519 key, if the bytes are a valid, non-weak point.
    pub fn verifying_key(&self) -> Option<VerifyingKey> {
        VerifyingKey::from_bytes(&self.signing)
            .ok()
            .filter(|key| !key.is_weak())
    }

    /// The X25519 public key.
    pub fn agreement_key(&self) -> X25519Public {
        X25519Public::from(self.agreement)
    }
}

/// SHA-256 over a label and both public keys. Shown to people as six
/// groups of five digits (about 100 bits, like one half of a Signal safety
/// number); stored and compared in full.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fingerprint(#[serde(with = "crate::hex::array")] pub [u8; 32]);

/// How many 5-digit groups a displayed fingerprint has.
pub const FINGERPRINT_GROUPS: usize = 6;

impl Fingerprint {
    /// The digits people read aloud, grouped: `12345 67890 ...`.
    pub fn digits(&self) -> [u32; FINGERPRINT_GROUPS] {
        let mut groups = [0u32; FINGERPRINT_GROUPS];
        for (group, chunk) in groups.iter_mut().zip(self.0.chunks_exact(5)) {
            let mut wide = [0u8; 8];
            wide[3..].copy_from_slice(chunk);
            // 40 bits mod 10^5: the bias is below 2^-23, irrelevant here.
            *group = (u64::from_be_bytes(wide) % 100_000) as u32;
        }
        groups
    }

    /// Whether `typed` (digits, with any spacing or dashes) is this
    /// fingerprint's displayed form.
    pub fn matches_typed(&self, typed: &str) -> bool {
        let typed: String = typed.chars().filter(|c| c.is_ascii_digit()).collect();
        let ours: String = self.digits().iter().map(|g| format!("{g:05}")).collect();
        typed.len() == ours.len() && typed == ours
    }

    /// Lowercase hex of the full 32 bytes, for file names and map keys.
    pub fn to_hex(&self) -> String {
        crate::hex::encode(&self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in self.digits().iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{group:05}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::Verifier;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn alice() -> Identity {
        Identity::generate("alice", &mut ChaCha20Rng::seed_from_u64(1)).unwrap()
    }

    #[test]
    fn fingerprint_shows_six_groups_of_five_digits() {
        let shown = alice().fingerprint().to_string();
        let groups: Vec<&str> = shown.split(' ').collect();
        assert_eq!(groups.len(), 6);
        assert!(
            groups
                .iter()
                .all(|g| g.len() == 5 && g.bytes().all(|b| b.is_ascii_digit()))
        );
    }

    #[test]
    fn fingerprint_matches_typed_forms_and_rejects_others() {
        let fp = alice().fingerprint();
        let shown = fp.to_string();
        assert!(fp.matches_typed(&shown));
        assert!(fp.matches_typed(&shown.replace(' ', "")));
        assert!(fp.matches_typed(&shown.replace(' ', "-")));
        let mut wrong: Vec<u8> = shown.into_bytes();
        wrong[0] = if wrong[0] == b'9' { b'0' } else { wrong[0] + 1 };
        assert!(!fp.matches_typed(&String::from_utf8(wrong).unwrap()));
        assert!(!fp.matches_typed(""));
    }

    #[test]
    fn fingerprint_covers_both_keys_but_not_the_name() {
        let public = alice().public();
        let mut renamed = public.clone();
        renamed.name = "mallory".into();
        assert_eq!(public.fingerprint(), renamed.fingerprint());
        let mut other_dh = public.clone();
        other_dh.agreement[0] ^= 1;
        assert_ne!(public.fingerprint(), other_dh.fingerprint());
    }

    #[test]
    fn signatures_verify_with_the_public_half() {
        let id = alice();
        let sig = id.sign(b"msg");
        let key = id.public().verifying_key().unwrap();
        assert!(key.verify(b"msg", &sig).is_ok());
        assert!(key.verify_strict(b"other", &sig).is_err());
    }

    #[test]
    fn weak_signing_keys_are_refused() {
        let mut public = alice().public();
        // The identity point is a valid encoding but a weak (small-order) key.
        public.signing = [0; 32];
        public.signing[0] = 1;
        assert!(public.verifying_key().is_none());
    }

    #[test]
    fn names_are_validated() {
        assert!(validate_name("alice").is_ok());
        assert_eq!(validate_name(" "), Err(NameError::Empty));
        assert_eq!(validate_name(&"x".repeat(33)), Err(NameError::TooLong));
        assert_eq!(validate_name("a\x1b[2J"), Err(NameError::BadCharacters));
        assert_eq!(validate_name(" alice"), Err(NameError::BadCharacters));
    }

    #[test]
    fn debug_shows_no_secret() {
        let shown = format!("{:?}", alice());
        assert!(shown.contains("redacted"));
        assert!(!shown.contains("signing_seed"));
    }
}
