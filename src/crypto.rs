//! The few cryptographic building blocks sotto composes: HKDF with named
//! labels, XChaCha20-Poly1305 with random nonces, and sealing bytes to one
//! member's X25519 key.
//!
//! Pure functions over bytes: no I/O, no clock, and the RNG is passed in so
//! known-answer vectors are reproducible. Primitives come from RustCrypto and
//! dalek; nothing here implements a primitive.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use rand_core::CryptoRng;
use sha2::Sha256;
use x25519_dalek::{EphemeralSecret, PublicKey as X25519Public, StaticSecret};
use zeroize::Zeroizing;

use crate::secret::SymmetricKey;

/// Length of an XChaCha20-Poly1305 nonce: long enough that random nonces
/// never collide in practice, even across many senders sharing one key.
pub const NONCE_LEN: usize = 24;

/// Length of the Poly1305 authentication tag appended to every ciphertext.
pub const TAG_LEN: usize = 16;

/// Why a cryptographic operation failed. Deliberately carries no detail:
/// an AEAD failure must not tell an attacker which byte was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The ciphertext, nonce or associated data did not authenticate.
    #[error("the ciphertext did not authenticate (tampered, or sealed under another key)")]
    Unauthentic,
    /// An X25519 exchange produced a non-contributory (low-order) result.
    #[error("the peer's X25519 key is low-order and gives no shared secret")]
    NonContributory,
}

/// Derives a 32-byte key with HKDF-SHA-256.
///
/// `label` is the domain-separation string (one named constant per use) and
/// `context` binds the key to what it protects (room id, public keys, ...).
pub fn derive_key(ikm: &[u8], salt: &[u8], label: &str, context: &[u8]) -> SymmetricKey {
    let mut out = [0u8; 32];
    derive_into(ikm, salt, label, context, &mut out);
    let key = SymmetricKey::from_bytes(out);
    zeroize::Zeroize::zeroize(&mut out);
    key
}

/// Derives `out.len()` bytes with HKDF-SHA-256 (see [`derive_key`]).
pub fn derive_into(ikm: &[u8], salt: &[u8], label: &str, context: &[u8], out: &mut [u8]) {
    let hkdf = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut info = Zeroizing::new(Vec::with_capacity(label.len() + context.len()));
    info.extend_from_slice(label.as_bytes());
    info.extend_from_slice(context);
    // HKDF-SHA-256 can expand to 255 * 32 bytes; every caller asks for far
    // less, so this error cannot happen. Fill with zeros rather than panic
    // would hide a bug, so keep the debug assertion for tests.
    let expanded = hkdf.expand(&info, out);
    debug_assert!(expanded.is_ok(), "HKDF output length within 8160 bytes");
}

/// Encrypts `plaintext` under `key` with a fresh random nonce.
///
/// Returns the nonce and the ciphertext (plaintext length + [`TAG_LEN`]).
pub fn seal<R: CryptoRng + ?Sized>(
    key: &SymmetricKey,
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> ([u8; NONCE_LEN], Vec<u8>) {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);
    let cipher = XChaCha20Poly1305::new(key.as_bytes().into());
    let ciphertext = cipher
        .encrypt(
            <&XNonce>::from(&nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        // XChaCha20-Poly1305 refuses only inputs beyond 2^38 bytes; every
        // caller is bounded by the envelope limit long before that.
        .unwrap_or_default();
    (nonce, ciphertext)
}

/// Decrypts and authenticates; the inverse of [`seal`].
///
/// The plaintext is returned in a buffer that is wiped when dropped.
pub fn open(
    key: &SymmetricKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let cipher = XChaCha20Poly1305::new(key.as_bytes().into());
    cipher
        .decrypt(
            <&XNonce>::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| CryptoError::Unauthentic)
}

const SEAL_TO_MEMBER_LABEL: &str = "sotto/v1/seal-to-member";

/// Bytes sealed to one X25519 public key: only its owner can open them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedToMember {
    /// The sender's one-time X25519 public key.
    pub ephemeral: [u8; 32],
    /// The random XChaCha20 nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The AEAD ciphertext with its tag.
    pub ciphertext: Vec<u8>,
}

/// Seals `plaintext` to `recipient` with an ephemeral X25519 exchange,
/// HKDF and XChaCha20-Poly1305 (an ECIES/HPKE-base-mode construction).
///
/// Both public keys go into the HKDF context so the key is bound to this
/// exact pair, and `aad` binds the result to its use.
pub fn seal_to_member<R: CryptoRng + ?Sized>(
    recipient: &X25519Public,
    aad: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Result<SealedToMember, CryptoError> {
    let ephemeral_secret = EphemeralSecret::random_from_rng(rng);
    let ephemeral = X25519Public::from(&ephemeral_secret).to_bytes();
    let shared = ephemeral_secret.diffie_hellman(recipient);
    if !shared.was_contributory() {
        return Err(CryptoError::NonContributory);
    }
    let key = member_seal_key(shared.as_bytes(), &ephemeral, recipient.as_bytes());
    let (nonce, ciphertext) = seal(&key, aad, plaintext, rng);
    Ok(SealedToMember {
        ephemeral,
        nonce,
        ciphertext,
    })
}

/// Opens bytes sealed to our X25519 key; the inverse of [`seal_to_member`].
pub fn open_from_member(
    own: &StaticSecret,
    sealed: &SealedToMember,
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let ephemeral = X25519Public::from(sealed.ephemeral);
    let shared = own.diffie_hellman(&ephemeral);
    if !shared.was_contributory() {
        return Err(CryptoError::NonContributory);
    }
    let own_public = X25519Public::from(own);
    let key = member_seal_key(shared.as_bytes(), &sealed.ephemeral, own_public.as_bytes());
    open(&key, &sealed.nonce, aad, &sealed.ciphertext)
}

fn member_seal_key(shared: &[u8; 32], ephemeral: &[u8; 32], recipient: &[u8; 32]) -> SymmetricKey {
    let mut context = [0u8; 64];
    context[..32].copy_from_slice(ephemeral);
    context[32..].copy_from_slice(recipient);
    derive_key(shared, &[], SEAL_TO_MEMBER_LABEL, &context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn rng() -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(7)
    }

    #[test]
    fn seal_then_open_round_trips() {
        let key = SymmetricKey::from_bytes([9; 32]);
        let (nonce, ct) = seal(&key, b"aad", b"hello", &mut rng());
        assert_eq!(ct.len(), 5 + TAG_LEN);
        assert_eq!(&open(&key, &nonce, b"aad", &ct).unwrap()[..], b"hello");
    }

    #[test]
    fn open_rejects_other_aad_and_key() {
        let key = SymmetricKey::from_bytes([9; 32]);
        let (nonce, ct) = seal(&key, b"aad", b"hello", &mut rng());
        assert_eq!(
            open(&key, &nonce, b"other", &ct),
            Err(CryptoError::Unauthentic)
        );
        let other = SymmetricKey::from_bytes([8; 32]);
        assert_eq!(
            open(&other, &nonce, b"aad", &ct),
            Err(CryptoError::Unauthentic)
        );
    }

    #[test]
    fn derived_keys_are_separated_by_label_and_context() {
        let a = derive_key(b"ikm", b"salt", "sotto/test/a", b"ctx");
        let b = derive_key(b"ikm", b"salt", "sotto/test/b", b"ctx");
        let c = derive_key(b"ikm", b"salt", "sotto/test/a", b"ctx2");
        assert_ne!(a.as_bytes(), b.as_bytes());
        assert_ne!(a.as_bytes(), c.as_bytes());
    }

    #[test]
    fn sealed_to_member_opens_only_for_that_member() {
        let mut rng = rng();
        let bob = StaticSecret::random_from_rng(&mut rng);
        let carol = StaticSecret::random_from_rng(&mut rng);
        let sealed =
            seal_to_member(&X25519Public::from(&bob), b"ctx", b"epoch key", &mut rng).unwrap();
        assert_eq!(
            &open_from_member(&bob, &sealed, b"ctx").unwrap()[..],
            b"epoch key"
        );
        assert_eq!(
            open_from_member(&carol, &sealed, b"ctx"),
            Err(CryptoError::Unauthentic)
        );
        assert_eq!(
            open_from_member(&bob, &sealed, b"other"),
            Err(CryptoError::Unauthentic)
        );
    }

    #[test]
    fn low_order_keys_are_refused_both_ways() {
        let mut rng = rng();
        // The identity point: every exchange with it yields all zeros.
        let low_order = X25519Public::from([0u8; 32]);
        assert_eq!(
            seal_to_member(&low_order, b"", b"x", &mut rng),
            Err(CryptoError::NonContributory)
        );
        let bob = StaticSecret::random_from_rng(&mut rng);
        let forged = SealedToMember {
            ephemeral: [0; 32],
            nonce: [0; NONCE_LEN],
            ciphertext: vec![0; 40],
        };
        assert_eq!(
            open_from_member(&bob, &forged, b""),
            Err(CryptoError::NonContributory)
        );
    }
}
