//! Entry points for the fuzz targets in `fuzz/` and the decoder smoke
//! tests (`tests/decoders.rs`): not an API, hidden from the docs.
//!
//! No mutation of a sealed payload gets past the AEAD tag, so fuzzing
//! `open` with bytes alone only ever exercises the framing. These build a
//! correctly sealed (and signed) payload around arbitrary plaintext
//! content, so a fuzzer also reaches the decoders behind the AEAD: the
//! content's postcard decoding, its bounds, and the signature split. They
//! use the same labels and layout as `protocol/sealed.rs` and
//! `protocol/epoch_key.rs`, so they cannot drift from them.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use super::sealed::{aad, signed_bytes};
use super::wire::{self, Header, Kind};
use super::{EpochContext, epoch_key, message, presence};
use crate::crypto::{self, CryptoError};
use crate::identity::{Identity, PublicIdentity};
use crate::room_id::RoomId;

/// The signature label of each kind.
fn label(kind: Kind) -> &'static [u8] {
    match kind {
        Kind::Message | Kind::ChainedMessage => message::MESSAGE_LABEL,
        Kind::Presence => presence::PRESENCE_LABEL,
        Kind::EpochKey => epoch_key::EPOCH_KEY_LABEL,
        Kind::Commit => crate::log::COMMIT_LABEL,
        Kind::Roster => crate::log::STATE_LABEL,
        Kind::Request => crate::log::REQUEST_LABEL,
        Kind::Refusal => crate::log::REFUSAL_LABEL,
    }
}

/// `content` followed by `signer`'s signature over it, as the sealed
/// layouts put it inside the encryption.
fn signed_plaintext(
    kind: Kind,
    signer: &Identity,
    room_id: &RoomId,
    header_bytes: &[u8],
    content: &[u8],
) -> Zeroizing<Vec<u8>> {
    let signature = signer.sign(&signed_bytes(label(kind), room_id, header_bytes, content));
    let signed = Zeroizing::new([content, &signature.to_bytes()[..]].concat());
    // Padded as the real sealers pad, so the decoders behind it are reached.
    super::padding::pad(&signed, super::padding::Padding::of(kind))
}

/// A payload of `kind` (a message or a presence record) whose plaintext
/// is `content` (any bytes) signed by `signer`, sealed under the epoch key
/// of `context`: what `message::open` and `presence::open` take.
pub fn seal_content<R: CryptoRng + ?Sized>(
    kind: Kind,
    context: EpochContext<'_>,
    signer: &Identity,
    content: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let header = Header::new(kind, context.epoch);
    let header_bytes = wire::to_bytes(&header);
    let plaintext = signed_plaintext(kind, signer, context.room_id, &header_bytes, content);
    let (nonce, ciphertext) = crypto::seal(
        context.key,
        &aad(context.room_id, &header_bytes),
        &plaintext,
        rng,
    );
    wire::encode(&header, &(nonce, ciphertext))
}

/// An epoch-key slot whose plaintext is `content` (any bytes) signed by
/// `signer`, sealed to `recipient`: what `epoch_key::open` takes.
pub fn seal_slot_content<R: CryptoRng + ?Sized>(
    room_id: &RoomId,
    epoch: u64,
    signer: &Identity,
    recipient: &PublicIdentity,
    content: &[u8],
    rng: &mut R,
) -> Result<Vec<u8>, CryptoError> {
    let header = Header::new(Kind::EpochKey, epoch);
    let header_bytes = wire::to_bytes(&header);
    let plaintext = signed_plaintext(Kind::EpochKey, signer, room_id, &header_bytes, content);
    let sealed = crypto::seal_to_member(
        &recipient.agreement_key(),
        &aad(room_id, &header_bytes),
        &plaintext,
        rng,
    )?;
    Ok(wire::encode(
        &header,
        &(sealed.ephemeral, sealed.nonce, sealed.ciphertext),
    ))
}

/// A chained message whose outer plaintext (the frame) is `frame` (any
/// bytes), sealed under the epoch key of `context`: reaches the frame's
/// decoder in `chained::open_frame`.
pub fn seal_chained_frame<R: CryptoRng + ?Sized>(
    context: EpochContext<'_>,
    frame: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let header = Header::new(Kind::ChainedMessage, context.epoch);
    let header_bytes = wire::to_bytes(&header);
    let (nonce, ciphertext) = crypto::seal(
        context.key,
        &aad(context.room_id, &header_bytes),
        frame,
        rng,
    );
    wire::encode(&header, &(nonce, ciphertext))
}

/// A chained message from `signer` at `seq` and `step` whose inner
/// plaintext is `content` (any bytes) signed by `signer` and sealed under
/// `key`: reaches the message decoder behind both layers.
pub fn seal_chained_content<R: CryptoRng + ?Sized>(
    context: EpochContext<'_>,
    signer: &Identity,
    (seq, step): (u64, u64),
    key: &crate::ratchet::MessageKey,
    content: &[u8],
    rng: &mut R,
) -> Vec<u8> {
    let header = Header::new(Kind::ChainedMessage, context.epoch);
    let header_bytes = wire::to_bytes(&header);
    let aad = aad(context.room_id, &header_bytes);
    let plaintext = signed_plaintext(
        Kind::ChainedMessage,
        signer,
        context.room_id,
        &header_bytes,
        content,
    );
    let (inner_nonce, inner) = crypto::seal(key.as_key(), &aad, &plaintext, rng);
    let frame = wire::to_bytes(&(
        signer.fingerprint(),
        seq.to_be_bytes(),
        step.to_be_bytes(),
        inner_nonce,
        inner,
    ));
    let (nonce, ciphertext) = crypto::seal(context.key, &aad, &frame, rng);
    wire::encode(&header, &(nonce, ciphertext))
}
