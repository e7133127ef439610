//! Sign-then-encrypt under the epoch key, shared by messages and presence.
//!
//! ```text
//! payload    = header || postcard(nonce[24], ciphertext)
//! aad        = "sotto/v1/aad" || room_id[16] || header
//! ciphertext = XChaCha20-Poly1305(epoch_key, nonce, aad, pad(content || signature[64]))
//! signature  = Ed25519(sender, label || room_id[16] || header || content)
//! ```
//!
//! The header is authenticated byte for byte as received, and both the
//! AEAD and the signature bind the room id and the epoch, so a payload
//! cannot be moved to another room or epoch. `content` is postcard and
//! carries the sender's public identity; the signature is checked against
//! that identity with `verify_strict`. `pad` fills the plaintext to the
//! sizes the kind allows (`padding.rs`), so the ciphertext's length shows
//! a size class, not the content's length.

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signature, VerifyingKey};
use rand_core::CryptoRng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::OpenError;
use super::padding::{self, Padding};
use super::wire::{self, Header, Kind, MAX_ENVELOPE_LEN};
use crate::crypto::{self, NONCE_LEN};
use crate::identity::{Identity, PublicIdentity, validate_name};
use crate::room_id::RoomId;
use crate::secret::SymmetricKey;

const AAD_LABEL: &[u8] = b"sotto/v1/aad";
/// The length of an Ed25519 signature, which ends every signed plaintext.
pub(crate) const SIGNATURE_LEN: usize = 64;

/// The keys a payload is sealed under: a room and one of its epochs.
#[derive(Debug, Clone, Copy)]
pub struct EpochContext<'a> {
    /// The room's secret id.
    pub room_id: &'a RoomId,
    /// The epoch number.
    pub epoch: u64,
    /// The epoch's key.
    pub key: &'a SymmetricKey,
}

#[derive(Serialize, Deserialize)]
struct SealedBody {
    #[serde(with = "crate::hex::array")]
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

/// Associated data for a payload: binds it to a room and its exact header.
pub(crate) fn aad(room_id: &RoomId, header_bytes: &[u8]) -> Vec<u8> {
    [AAD_LABEL, &room_id.0, header_bytes].concat()
}

/// The bytes a signature covers.
pub(crate) fn signed_bytes(
    label: &[u8],
    room_id: &RoomId,
    header_bytes: &[u8],
    content: &[u8],
) -> Vec<u8> {
    [label, &room_id.0, header_bytes, content].concat()
}

/// Signs `content` as `sender`, pads it as `kind` requires, then encrypts
/// it under the epoch key.
pub(crate) fn seal<T: Serialize, R: CryptoRng + ?Sized>(
    kind: Kind,
    label: &[u8],
    context: EpochContext<'_>,
    sender: &Identity,
    content: &T,
    rng: &mut R,
) -> Vec<u8> {
    seal_keeping_signature(kind, label, context, sender, content, rng).0
}

/// [`seal`], also giving back the signature it made (a commit's hash
/// covers it).
pub(crate) fn seal_keeping_signature<T: Serialize, R: CryptoRng + ?Sized>(
    kind: Kind,
    label: &[u8],
    context: EpochContext<'_>,
    sender: &Identity,
    content: &T,
    rng: &mut R,
) -> (Vec<u8>, [u8; SIGNATURE_LEN]) {
    let header = Header::new(kind, context.epoch);
    let header_bytes = wire::to_bytes(&header);
    let plaintext = sign_content(sender, label, context.room_id, &header_bytes, content);
    let mut signature = [0u8; SIGNATURE_LEN];
    // sign_content appends the signature: the last SIGNATURE_LEN bytes.
    signature.copy_from_slice(&plaintext[plaintext.len() - SIGNATURE_LEN..]);
    (
        encrypt_signed(kind, context, &header_bytes, &plaintext, rng),
        signature,
    )
}

/// Pads a signed plaintext as `kind` requires and encrypts it under the
/// epoch key: the second half of [`seal`], for callers that sign
/// themselves (tests that forge signatures).
pub(crate) fn encrypt_signed<R: CryptoRng + ?Sized>(
    kind: Kind,
    context: EpochContext<'_>,
    header_bytes: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let padded = padding::pad(plaintext, Padding::of(kind));
    encrypt(context, header_bytes, &padded, rng)
}

/// Encrypts `plaintext` as it is under the epoch key, after the header:
/// the outer layer every payload sealed under an epoch key shares.
pub(crate) fn encrypt<R: CryptoRng + ?Sized>(
    context: EpochContext<'_>,
    header_bytes: &[u8],
    plaintext: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let (nonce, ciphertext) = crypto::seal(
        context.key,
        &aad(context.room_id, header_bytes),
        plaintext,
        rng,
    );
    [
        header_bytes,
        &wire::to_bytes(&SealedBody { nonce, ciphertext }),
    ]
    .concat()
}

/// Checks a payload's kind and epoch and decrypts its body under the
/// epoch key; the inverse of [`encrypt`]. Returns the header bytes (which
/// inner layers bind as well) and the plaintext.
pub(crate) fn decrypt<'a>(
    kind: Kind,
    context: EpochContext<'_>,
    bytes: &'a [u8],
) -> Result<(&'a [u8], Zeroizing<Vec<u8>>), OpenError> {
    let framed = wire::frame(bytes)?;
    if framed.header.kind != kind {
        return Err(OpenError::WrongKind(framed.header.kind));
    }
    if framed.header.epoch != context.epoch {
        return Err(OpenError::WrongEpoch {
            got: framed.header.epoch,
            current: context.epoch,
        });
    }
    let body: SealedBody = wire::decode_exact(framed.body, MAX_ENVELOPE_LEN)?;
    let plaintext = crypto::open(
        context.key,
        &body.nonce,
        &aad(context.room_id, framed.header_bytes),
        &body.ciphertext,
    )?;
    Ok((framed.header_bytes, plaintext))
}

/// Decrypts and verifies a payload sealed by [`seal`]; `signer` picks the
/// claimed sender's identity out of the decoded content.
pub(crate) fn open<T: DeserializeOwned>(
    kind: Kind,
    label: &[u8],
    context: EpochContext<'_>,
    bytes: &[u8],
    signer: impl Fn(&T) -> &PublicIdentity,
) -> Result<T, OpenError> {
    let unverified = open_unverified(kind, label, context, bytes, |content| {
        Ok(wire::decode_exact(content, MAX_ENVELOPE_LEN)?)
    })?;
    let key = signing_key_of(signer(&unverified.content))?;
    unverified.verify(&key)
}

/// Decrypts a payload sealed by [`seal`] and decodes its content with
/// `decode`, leaving the signature to be checked by the caller (one by
/// one with [`Unverified::verify`], or in a batch): the first half of
/// [`open`].
pub(crate) fn open_unverified<T>(
    kind: Kind,
    label: &[u8],
    context: EpochContext<'_>,
    bytes: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<T, OpenError>,
) -> Result<Unverified<T>, OpenError> {
    let (header_bytes, padded) = decrypt(kind, context, bytes)?;
    let plaintext = padding::unpad(&padded, Padding::of(kind))?;
    split_signed(plaintext, label, context.room_id, header_bytes, decode)
}

/// Encodes `content` and appends the signature over it: the plaintext that
/// both sealing schemes encrypt.
pub(crate) fn sign_content<T: Serialize>(
    signer: &Identity,
    label: &[u8],
    room_id: &RoomId,
    header_bytes: &[u8],
    content: &T,
) -> Zeroizing<Vec<u8>> {
    let mut plaintext = Zeroizing::new(wire::to_bytes(content));
    let signature = signer.sign(&signed_bytes(label, room_id, header_bytes, &plaintext));
    plaintext.extend_from_slice(&signature.to_bytes());
    plaintext
}

/// Splits a decrypted plaintext into content and signature, decodes the
/// content, and checks the signature (strictly) against the identity that
/// `signer` picks out of it; the inverse of [`sign_content`].
pub(crate) fn verify_content<T: DeserializeOwned>(
    plaintext: &[u8],
    label: &[u8],
    room_id: &RoomId,
    header_bytes: &[u8],
    signer: impl Fn(&T) -> &PublicIdentity,
) -> Result<T, OpenError> {
    let unverified = split_signed(plaintext, label, room_id, header_bytes, |content| {
        Ok(wire::decode_exact(content, MAX_ENVELOPE_LEN)?)
    })?;
    let key = signing_key_of(signer(&unverified.content))?;
    unverified.verify(&key)
}

/// The claimed signer's Ed25519 key, after checking the name it comes
/// with: refused if the bytes are not a point or are a weak (small-order)
/// key, which `verify_strict` would refuse anyway.
pub(crate) fn signing_key_of(claimed: &PublicIdentity) -> Result<VerifyingKey, OpenError> {
    validate_name(&claimed.name).map_err(|_| OpenError::Malformed)?;
    claimed
        .verifying_key()
        .ok_or(OpenError::Forged(BAD_SIGNER_KEY))
}

/// Why a signature check failed (shared by one-by-one and batch checks,
/// so both paths name a failure the same way).
pub(crate) const BAD_SIGNATURE: &str = "the signature does not match the claimed signer";
/// Why a claimed signer's key was refused.
pub(crate) const BAD_SIGNER_KEY: &str = "the signer's key is invalid";

pub(crate) fn split_signed<T>(
    plaintext: &[u8],
    label: &[u8],
    room_id: &RoomId,
    header_bytes: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<T, OpenError>,
) -> Result<Unverified<T>, OpenError> {
    let split = plaintext
        .len()
        .checked_sub(SIGNATURE_LEN)
        .ok_or(OpenError::Malformed)?;
    let (content_bytes, signature_bytes) = plaintext.split_at(split);
    let content = decode(content_bytes)?;
    let signature = Signature::from_slice(signature_bytes).map_err(|_| OpenError::Malformed)?;
    // The signed bytes hold the plaintext content: wiped when dropped.
    let signed = Zeroizing::new(signed_bytes(label, room_id, header_bytes, content_bytes));
    Ok(Unverified {
        content,
        signed,
        signature,
    })
}

/// A payload that decrypted and decoded, whose signature is not checked
/// yet. Nothing in it may be believed before [`Unverified::verify`] (or a
/// batch check over [`Unverified::signed`] and
/// [`Unverified::signature`]) succeeds.
pub(crate) struct Unverified<T> {
    /// The decoded content (with the identity it claims).
    pub(crate) content: T,
    signed: Zeroizing<Vec<u8>>,
    signature: Signature,
}

impl<T> Unverified<T> {
    /// The signature's bytes (a commit's hash covers them).
    pub(crate) fn signature_bytes(&self) -> [u8; SIGNATURE_LEN] {
        self.signature.to_bytes()
    }

    /// Whether a batch check would judge this signature exactly as
    /// `verify_strict` does (see [`verify_many`]): its R decompresses to a
    /// point that is not of small order, and the key is not weak.
    fn batchable(&self, key: &VerifyingKey) -> bool {
        let r = CompressedEdwardsY(self.signature.r_bytes().to_owned());
        r.decompress().is_some_and(|r| !r.is_small_order()) && !key.is_weak()
    }

    /// Checks the signature strictly against `key` (the claimed signer's,
    /// from [`signing_key_of`] or a cache of it).
    pub(crate) fn verify(self, key: &VerifyingKey) -> Result<T, OpenError> {
        key.verify_strict(&self.signed, &self.signature)
            .map_err(|_| OpenError::Forged(BAD_SIGNATURE))?;
        Ok(self.content)
    }
}

/// The most signatures checked in one batch: a broker's in-flight window
/// of catch-up. Per signature a batch of 256 costs about half of one of 64
/// (ed25519-dalek switches to Pippenger's method above about 190 points,
/// and a batch of n has 2n + 1), which is a third of `verify_strict`
/// (`baseline/ed25519_verify_batch` in `benches/seal_open.rs`). A batch
/// that fails is checked again one by one to name the bad payload, so one
/// bad payload costs its chunk what receiving it one by one would.
pub(crate) const MAX_BATCH: usize = 256;

/// From this many signatures on, a batch is split in two and checked on
/// both cores at once.
const PARALLEL_MIN: usize = 64;

/// Checks the signatures of many decrypted payloads, giving for each what
/// [`Unverified::verify`] would (the same error for the same payload), in
/// order: items that are already errors stay as they are.
///
/// Signatures go through ed25519-dalek's batch check, in chunks of
/// [`MAX_BATCH`]. A chunk that fails is checked one by one with
/// `verify_strict`, so the bad payload is named and the good ones pass.
/// Before batching, a signature whose R is not a valid point or is of
/// small order, or whose key is weak, is left to `verify_strict` (which
/// refuses it): the batch equation does not look at the small-order
/// components `verify_strict` refuses. What is left can still differ in
/// one way, documented in SECURITY.md: only the owner of a key can build a
/// signature that the batch accepts and `verify_strict` refuses; nobody
/// can make a batch accept a signature its key's owner did not make.
pub(crate) fn verify_many<T, K>(
    items: Vec<Result<(Unverified<T>, K), OpenError>>,
    key_of: impl Fn(&K) -> &VerifyingKey,
) -> Vec<Result<(T, K), OpenError>> {
    let batchable: Vec<usize> = items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| match item {
            Ok((unverified, key)) if unverified.batchable(key_of(key)) => Some(i),
            _ => None,
        })
        .collect();
    let mut passed = vec![false; items.len()];
    // Chunks of at most MAX_BATCH, and at least two when there are enough
    // signatures to keep both cores busy; each chunk is checked on a
    // thread of its own (pure computation: nothing here waits on I/O).
    let pieces = batchable
        .len()
        .div_ceil(MAX_BATCH)
        .max(if batchable.len() >= PARALLEL_MIN {
            2
        } else {
            1
        });
    let size = batchable.len().div_ceil(pieces.max(1)).max(1);
    let chunks: Vec<&[usize]> = batchable
        .chunks(size)
        // One signature gains nothing from a batch.
        .filter(|chunk| chunk.len() >= 2)
        .collect();
    let prepared: Vec<_> = chunks
        .iter()
        .map(|chunk| {
            let mut messages = Vec::with_capacity(chunk.len());
            let mut signatures = Vec::with_capacity(chunk.len());
            let mut keys = Vec::with_capacity(chunk.len());
            for &i in chunk.iter() {
                if let Some(Ok((unverified, key))) = items.get(i) {
                    messages.push(&unverified.signed[..]);
                    signatures.push(unverified.signature);
                    keys.push(*key_of(key));
                }
            }
            (messages, signatures, keys)
        })
        .collect();
    let verdicts: Vec<bool> = if prepared.len() > 1 {
        std::thread::scope(|scope| {
            let checks: Vec<_> = (prepared.iter())
                .map(|(messages, signatures, keys)| {
                    scope.spawn(move || {
                        ed25519_dalek::verify_batch(messages, signatures, keys).is_ok()
                    })
                })
                .collect();
            // A thread that panicked counts as a failed batch: its
            // signatures are then checked one by one.
            checks
                .into_iter()
                .map(|check| check.join().unwrap_or(false))
                .collect()
        })
    } else {
        (prepared.iter())
            .map(|(messages, signatures, keys)| {
                ed25519_dalek::verify_batch(messages, signatures, keys).is_ok()
            })
            .collect()
    };
    for (chunk, verdict) in chunks.iter().zip(verdicts) {
        if verdict {
            for &i in chunk.iter() {
                passed[i] = true;
            }
        }
    }
    items
        .into_iter()
        .zip(passed)
        .map(|(item, passed)| {
            let (unverified, key) = item?;
            if passed {
                Ok((unverified.content, key))
            } else {
                let content = unverified.verify(key_of(&key))?;
                Ok((content, key))
            }
        })
        .collect()
}
