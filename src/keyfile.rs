//! The identity key file: a versioned binary record, wrapped as one line of
//! Bech32m text with the prefix `SOTTO-SECRET-KEY-1` (as age does), so a
//! secret key is hard to mistake for anything else and a damaged file is
//! detected by its checksum.
//!
//! Binary layout (version 1), after Bech32m decoding:
//!
//! ```text
//! 0      version            = 1
//! 1      protection         0 = none, 1 = Argon2id + XChaCha20-Poly1305
//! none:  2..34  Ed25519 seed | 34..66  X25519 secret
//! argon: 2..14  m_cost KiB, t_cost, p_cost (u32 big-endian each)
//!        14..30 salt | 30..54 nonce | 54..134 ciphertext of the 64 secret bytes
//!        (associated data: bytes 0..30, so parameters cannot be swapped)
//! ```
//!
//! The home's storage key (which seals room state and history at rest) is
//! kept in a second file of the same shape, with the prefix
//! `SOTTO-STORAGE-KEY-1` and 32 secret bytes instead of 64, sealed under
//! the same passphrase: see [`encode_storage_key`].
//!
//! Pure: turning bytes into text and back. [`crate::store`] does the disk.

use argon2::{Algorithm, Argon2, Params, Version};
use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32m, Hrp};
use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::crypto::{self, NONCE_LEN, TAG_LEN};
use crate::identity::Identity;
use crate::secret::{Passphrase, SymmetricKey};

/// The key file format version this build writes and reads.
pub const KEY_FILE_VERSION: u8 = 1;

/// Largest key file sotto will read; real ones are under 500 bytes.
pub const MAX_KEY_FILE_LEN: usize = 4096;

const PROTECTION_NONE: u8 = 0;
const PROTECTION_ARGON2ID: u8 = 1;
const SALT_LEN: usize = 16;
const ARGON_HEADER_LEN: usize = 2 + 12 + SALT_LEN;

/// One kind of secret file: its Bech32m prefix and how many secret bytes
/// it carries.
#[derive(Clone, Copy)]
struct Format {
    hrp: &'static str,
    secrets_len: usize,
}

impl Format {
    fn plain_len(self) -> usize {
        2 + self.secrets_len
    }

    fn argon_len(self) -> usize {
        ARGON_HEADER_LEN + NONCE_LEN + self.secrets_len + TAG_LEN
    }
}

/// The identity key file: Ed25519 seed and X25519 secret.
const IDENTITY: Format = Format {
    hrp: "sotto-secret-key-",
    secrets_len: 64,
};

/// The storage key file: one 32-byte key.
const STORAGE: Format = Format {
    hrp: "sotto-storage-key-",
    secrets_len: 32,
};

const SECRETS_LEN: usize = 64;
#[cfg(test)]
const ARGON_LEN: usize = ARGON_HEADER_LEN + NONCE_LEN + SECRETS_LEN + TAG_LEN;

/// Argon2id cost parameters stored in a protected key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for KdfParams {
    /// RFC 9106's second recommended setting (64 MiB, 3 passes), with one
    /// lane: about a quarter of a second on a laptop.
    fn default() -> Self {
        Self {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 1,
        }
    }
}

impl KdfParams {
    /// The most a key file may ask for: a hostile file must not make
    /// sotto allocate gigabytes or spin for minutes.
    const MAX_MEMORY_KIB: u32 = 1024 * 1024;
    const MAX_ITERATIONS: u32 = 16;
    const MAX_PARALLELISM: u32 = 8;

    fn is_reasonable(&self) -> bool {
        self.memory_kib <= Self::MAX_MEMORY_KIB
            && self.iterations <= Self::MAX_ITERATIONS
            && self.parallelism <= Self::MAX_PARALLELISM
    }
}

/// Why a key file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// No `SOTTO-SECRET-KEY-1` line was found.
    #[error("this is not a sotto key file")]
    NotAKeyFile,
    /// The Bech32m checksum or characters are wrong: the file was damaged.
    #[error("the key file is damaged (its checksum does not match)")]
    Damaged,
    /// Written by a newer sotto.
    #[error("the key file has format version {0}, which this sotto does not know; upgrade sotto")]
    UnknownVersion(u8),
    /// The protection byte is not one this build knows.
    #[error("the key file uses an unknown protection scheme ({0})")]
    UnknownProtection(u8),
    /// The record has the wrong length for its kind.
    #[error("the key file is truncated or has extra bytes")]
    WrongLength,
    /// The key file asks for absurd Argon2 costs.
    #[error("the key file asks for unreasonable passphrase-hashing costs")]
    UnreasonableParams,
    /// The key file is protected and no passphrase was given.
    #[error("the identity is protected by a passphrase")]
    PassphraseRequired,
    /// The passphrase did not open the key file.
    #[error("the passphrase is wrong")]
    WrongPassphrase,
}

/// Whether a key file (identity or storage) needs a passphrase, without
/// decrypting it.
pub fn is_protected(text: &str) -> Result<bool, KeyFileError> {
    let record = decode_record(IDENTITY, text).or_else(|_| decode_record(STORAGE, text))?;
    Ok(record.get(1) == Some(&PROTECTION_ARGON2ID))
}

/// Writes an identity's secrets as key file text, encrypted when a
/// passphrase is given.
pub fn encode<R: CryptoRng + ?Sized>(
    identity: &Identity,
    passphrase: Option<(&Passphrase, KdfParams)>,
    rng: &mut R,
) -> Zeroizing<String> {
    let mut secrets = Zeroizing::new([0u8; SECRETS_LEN]);
    secrets[..32].copy_from_slice(&identity.signing_seed()[..]);
    secrets[32..].copy_from_slice(&identity.agreement_bytes()[..]);

    let line = seal_line(IDENTITY, &secrets[..], passphrase, rng);
    let fingerprint = identity.fingerprint();
    Zeroizing::new(format!(
        "# sotto identity key for {name}: SECRET. Never share or paste this file.\n\
         # fingerprint: {fingerprint}\n\
         {line}\n",
        line = &*line,
        name = identity.name(),
    ))
}

/// Reads key file text back into an identity; the inverse of [`encode`].
///
/// `name` comes from the public identity file, which is not secret.
pub fn decode(
    text: &str,
    name: String,
    passphrase: Option<&Passphrase>,
) -> Result<Identity, KeyFileError> {
    let secrets = open_line(IDENTITY, text, passphrase)?;
    let mut seed = Zeroizing::new([0u8; 32]);
    seed.copy_from_slice(&secrets[..32]);
    let mut agreement = [0u8; 32];
    agreement.copy_from_slice(&secrets[32..]);
    Ok(Identity::from_secrets(name, &seed, agreement))
}

/// Writes the home's storage key as file text, encrypted when a passphrase
/// is given (the identity's, so one passphrase unlocks both).
pub fn encode_storage_key<R: CryptoRng + ?Sized>(
    key: &SymmetricKey,
    passphrase: Option<(&Passphrase, KdfParams)>,
    rng: &mut R,
) -> Zeroizing<String> {
    let line = seal_line(STORAGE, key.as_bytes(), passphrase, rng);
    Zeroizing::new(format!(
        "# sotto storage key: SECRET. It unlocks this home's rooms and history.\n{}\n",
        &*line
    ))
}

/// Reads the storage key back; the inverse of [`encode_storage_key`].
pub fn decode_storage_key(
    text: &str,
    passphrase: Option<&Passphrase>,
) -> Result<SymmetricKey, KeyFileError> {
    let secrets = open_line(STORAGE, text, passphrase)?;
    let mut key = Zeroizing::new([0u8; 32]);
    key.copy_from_slice(&secrets[..]);
    Ok(SymmetricKey::from_bytes(*key))
}

/// The Bech32m line of a secret file: version, protection, and the
/// secrets in the clear or sealed under an Argon2id key.
fn seal_line<R: CryptoRng + ?Sized>(
    format: Format,
    secrets: &[u8],
    passphrase: Option<(&Passphrase, KdfParams)>,
    rng: &mut R,
) -> Zeroizing<String> {
    let mut record = Zeroizing::new(vec![KEY_FILE_VERSION]);
    match passphrase {
        None => {
            record.push(PROTECTION_NONE);
            record.extend_from_slice(secrets);
        }
        Some((passphrase, params)) => {
            record.push(PROTECTION_ARGON2ID);
            record.extend_from_slice(&params.memory_kib.to_be_bytes());
            record.extend_from_slice(&params.iterations.to_be_bytes());
            record.extend_from_slice(&params.parallelism.to_be_bytes());
            let mut salt = [0u8; SALT_LEN];
            rng.fill_bytes(&mut salt);
            record.extend_from_slice(&salt);
            // A failure here means the parameters were rejected by argon2,
            // which only happens for values below its minimums; defaults
            // and every test setting are above them.
            let key = stretch(passphrase, &salt, params).unwrap_or_else(|_| {
                SymmetricKey::random(rng) // unrecoverable, but never a weak key
            });
            let (nonce, ciphertext) = crypto::seal(&key, &record, secrets, rng);
            record.extend_from_slice(&nonce);
            record.extend_from_slice(&ciphertext);
        }
    }
    Zeroizing::new(bech32::encode_upper::<Bech32m>(hrp(format), &record).unwrap_or_default())
}

/// The secrets of a secret file; the inverse of [`seal_line`].
fn open_line(
    format: Format,
    text: &str,
    passphrase: Option<&Passphrase>,
) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    let record = decode_record(format, text)?;
    match record[1] {
        PROTECTION_NONE => {
            if record.len() != format.plain_len() {
                return Err(KeyFileError::WrongLength);
            }
            Ok(Zeroizing::new(record[2..].to_vec()))
        }
        PROTECTION_ARGON2ID => {
            if record.len() != format.argon_len() {
                return Err(KeyFileError::WrongLength);
            }
            let passphrase = passphrase.ok_or(KeyFileError::PassphraseRequired)?;
            let params = KdfParams {
                memory_kib: read_u32(&record[2..6]),
                iterations: read_u32(&record[6..10]),
                parallelism: read_u32(&record[10..14]),
            };
            if !params.is_reasonable() {
                return Err(KeyFileError::UnreasonableParams);
            }
            let salt = &record[14..ARGON_HEADER_LEN];
            let key =
                stretch(passphrase, salt, params).map_err(|_| KeyFileError::UnreasonableParams)?;
            let mut nonce = [0u8; NONCE_LEN];
            nonce.copy_from_slice(&record[ARGON_HEADER_LEN..ARGON_HEADER_LEN + NONCE_LEN]);
            let plain = crypto::open(
                &key,
                &nonce,
                &record[..ARGON_HEADER_LEN],
                &record[ARGON_HEADER_LEN + NONCE_LEN..],
            )
            .map_err(|_| KeyFileError::WrongPassphrase)?;
            Ok(Zeroizing::new(plain.to_vec()))
        }
        other => Err(KeyFileError::UnknownProtection(other)),
    }
}

/// The fingerprint written in the key file's comment, if any; used only to
/// make error messages helpful, never trusted.
pub fn claimed_fingerprint(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|line| line.strip_prefix("# fingerprint: "))
        .map(str::trim)
}

fn hrp(format: Format) -> Hrp {
    // HRP is a constant of valid characters; parse cannot fail. Fall back
    // to a fixed valid HRP rather than panic.
    Hrp::parse(format.hrp).unwrap_or(bech32::hrp::BC)
}

fn decode_record(format: Format, text: &str) -> Result<Zeroizing<Vec<u8>>, KeyFileError> {
    if text.len() > MAX_KEY_FILE_LEN {
        return Err(KeyFileError::NotAKeyFile);
    }
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .ok_or(KeyFileError::NotAKeyFile)?;
    if !line
        .to_ascii_lowercase()
        .starts_with(&format!("{}1", format.hrp))
    {
        return Err(KeyFileError::NotAKeyFile);
    }
    let checked = CheckedHrpstring::new::<Bech32m>(line).map_err(|_| KeyFileError::Damaged)?;
    if checked.hrp() != hrp(format) {
        return Err(KeyFileError::NotAKeyFile);
    }
    let record: Zeroizing<Vec<u8>> = Zeroizing::new(checked.byte_iter().collect());
    match record.first() {
        None => Err(KeyFileError::WrongLength),
        Some(&KEY_FILE_VERSION) if record.len() >= 2 => Ok(record),
        Some(&KEY_FILE_VERSION) => Err(KeyFileError::WrongLength),
        Some(&other) => Err(KeyFileError::UnknownVersion(other)),
    }
}

fn stretch(
    passphrase: &Passphrase,
    salt: &[u8],
    params: KdfParams,
) -> Result<SymmetricKey, argon2::Error> {
    let params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )?;
    let mut out = Zeroizing::new([0u8; 32]);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params).hash_password_into(
        passphrase.as_bytes(),
        salt,
        &mut out[..],
    )?;
    Ok(SymmetricKey::from_bytes(*out))
}

fn read_u32(bytes: &[u8]) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(bytes);
    u32::from_be_bytes(word)
}

/// Cheap Argon2 costs for tests only: real files use [`KdfParams::default`].
#[cfg(test)]
pub const TEST_KDF_PARAMS: KdfParams = KdfParams {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn alice() -> Identity {
        Identity::generate("alice", &mut ChaCha20Rng::seed_from_u64(1)).unwrap()
    }

    #[test]
    fn plain_key_file_round_trips() {
        let id = alice();
        let text = encode(&id, None, &mut ChaCha20Rng::seed_from_u64(2));
        assert!(text.contains("\nSOTTO-SECRET-KEY-1"));
        assert!(!is_protected(&text).unwrap());
        let back = decode(&text, "alice".into(), None).unwrap();
        assert_eq!(back.public(), id.public());
        assert_eq!(
            claimed_fingerprint(&text),
            Some(id.fingerprint().to_string().as_str())
        );
    }

    #[test]
    fn protected_key_file_needs_the_right_passphrase() {
        let id = alice();
        let pass = Passphrase::new("correct horse".into());
        let text = encode(
            &id,
            Some((&pass, TEST_KDF_PARAMS)),
            &mut ChaCha20Rng::seed_from_u64(2),
        );
        assert!(is_protected(&text).unwrap());
        assert_eq!(
            decode(&text, "alice".into(), None).unwrap_err(),
            KeyFileError::PassphraseRequired
        );
        let wrong = Passphrase::new("wrong horse".into());
        assert_eq!(
            decode(&text, "alice".into(), Some(&wrong)).unwrap_err(),
            KeyFileError::WrongPassphrase
        );
        let back = decode(&text, "alice".into(), Some(&pass)).unwrap();
        assert_eq!(back.public(), id.public());
    }

    #[test]
    fn storage_keys_round_trip_and_are_not_identity_keys() {
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        let key = SymmetricKey::random(&mut rng);
        let plain = encode_storage_key(&key, None, &mut rng);
        assert!(plain.contains("\nSOTTO-STORAGE-KEY-1"));
        assert!(!is_protected(&plain).unwrap());
        assert_eq!(decode_storage_key(&plain, None).unwrap(), key);
        assert_eq!(
            decode(&plain, "a".into(), None).unwrap_err(),
            KeyFileError::NotAKeyFile
        );
        let pass = Passphrase::new("correct horse".into());
        let sealed = encode_storage_key(&key, Some((&pass, TEST_KDF_PARAMS)), &mut rng);
        assert!(is_protected(&sealed).unwrap());
        assert_eq!(
            decode_storage_key(&sealed, None).unwrap_err(),
            KeyFileError::PassphraseRequired
        );
        assert_eq!(decode_storage_key(&sealed, Some(&pass)).unwrap(), key);
        assert!(!sealed.contains(&crate::hex::encode(key.as_bytes())));
    }

    #[test]
    fn a_changed_character_is_reported_as_damage() {
        let text = encode(&alice(), None, &mut ChaCha20Rng::seed_from_u64(2)).to_string();
        let pos = text.rfind('Q').unwrap_or(text.len() - 10);
        let mut damaged = text.into_bytes();
        damaged[pos] = if damaged[pos] == b'P' { b'Z' } else { b'P' };
        let damaged = String::from_utf8(damaged).unwrap();
        assert_eq!(
            decode(&damaged, "alice".into(), None).unwrap_err(),
            KeyFileError::Damaged
        );
    }

    #[test]
    fn other_text_is_not_a_key_file() {
        assert_eq!(
            decode("hello\n", "a".into(), None).unwrap_err(),
            KeyFileError::NotAKeyFile
        );
        assert_eq!(
            decode("", "a".into(), None).unwrap_err(),
            KeyFileError::NotAKeyFile
        );
    }

    #[test]
    fn unknown_versions_and_absurd_costs_are_refused() {
        let hrp = hrp(IDENTITY);
        let v2 = bech32::encode_upper::<Bech32m>(hrp, &[2, 0]).unwrap();
        assert_eq!(
            decode(&v2, "a".into(), None).unwrap_err(),
            KeyFileError::UnknownVersion(2)
        );
        let mut greedy = vec![1, PROTECTION_ARGON2ID];
        greedy.extend_from_slice(&u32::MAX.to_be_bytes());
        greedy.extend_from_slice(&1u32.to_be_bytes());
        greedy.extend_from_slice(&1u32.to_be_bytes());
        greedy.resize(ARGON_LEN, 0);
        let greedy = bech32::encode_upper::<Bech32m>(hrp, &greedy).unwrap();
        let pass = Passphrase::new("x".into());
        assert_eq!(
            decode(&greedy, "a".into(), Some(&pass)).unwrap_err(),
            KeyFileError::UnreasonableParams
        );
    }

    proptest! {
        #[test]
        fn decoding_arbitrary_text_never_panics(text in ".{0,600}") {
            let _ = decode(&text, "a".into(), None);
        }

        #[test]
        fn decoding_arbitrary_records_never_panics(record in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(text) = bech32::encode_upper::<Bech32m>(hrp(IDENTITY), &record) {
                let pass = Passphrase::new("x".into());
                let _ = decode(&text, "a".into(), Some(&pass));
            }
        }
    }
}
