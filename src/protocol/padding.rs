//! Padding: every plaintext sealed under the epoch key or to a member is
//! padded to one of a few sizes before encryption, so the broker learns a
//! size class, not a length.
//!
//! ```text
//! padded = signed plaintext || 0x80 || 0x00 * k      (the smallest k that makes len(padded) a valid size)
//! ```
//!
//! The valid sizes depend on the kind ([`Padding::of`]):
//!
//! - messages fill the smallest of the [`BUCKETS`]: powers of two from
//!   256 bytes to 32 KiB, then [`LARGEST_BUCKET`], exactly the size of the
//!   largest message a member can send (a [`MAX_TEXT_LEN`] text from a
//!   sender with the longest name, declaring the most skipped ranges, every
//!   number at its largest), so that message still fits in the envelope;
//! - presence records always fill [`PRESENCE_PADDED_LEN`] and epoch key
//!   slots [`KEY_SLOT_PADDED_LEN`], sizes that hold the largest possible
//!   record of the kind with a name of up to [`NAME_ROOM`] bytes: every
//!   record of the kind has the same length on the wire, whatever the
//!   name and the numbers in it.
//!
//! On opening, after the AEAD, the padding must be exactly what sealing
//! makes: the last non-zero byte is 0x80 and the padded length is the one
//! sealing would have chosen for what precedes it. Anything else is
//! refused as malformed, so one plaintext has one padded form and a
//! member cannot send lengths that single its messages out.
//!
//! [`MAX_TEXT_LEN`]: super::message::MAX_TEXT_LEN

use zeroize::Zeroizing;

use super::OpenError;
use super::message;
use super::wire::Kind;
use crate::identity::MAX_NAME_LEN;

/// The smallest size: every short message looks the same.
pub const MIN_BUCKET: usize = 256;

/// The largest size: exactly the padded length of the largest message a
/// member can send ([`message::MAX_SIGNED_LEN`] plus the 0x80 byte).
pub const LARGEST_BUCKET: usize = message::MAX_SIGNED_LEN + 1;

/// The sizes a message's padded plaintext can have, smallest first.
pub const BUCKETS: [usize; 9] = [
    MIN_BUCKET,
    512,
    1024,
    2048,
    4096,
    8192,
    16 * 1024,
    32 * 1024,
    LARGEST_BUCKET,
];

/// The longest name the fixed sizes of presence records and key slots
/// leave room for: twice today's [`MAX_NAME_LEN`], so a longer name limit
/// does not change the sizes on the wire (the build fails if the limit
/// ever outgrows it).
pub const NAME_ROOM: usize = 64;

/// The padded length of every presence record: the largest possible one
/// (a [`NAME_ROOM`]-byte name, both keys, three numbers at their
/// largest, the status and the signature) is 224 bytes, plus the 0x80
/// byte; the smallest bucket holds it.
pub const PRESENCE_PADDED_LEN: usize = MIN_BUCKET;

/// The padded length of every epoch key slot: the largest possible one
/// (the rotator with a [`NAME_ROOM`]-byte name, the recipient's
/// fingerprint, the key and the signature) is 257 bytes, plus the 0x80
/// byte: the second bucket.
pub const KEY_SLOT_PADDED_LEN: usize = 512;

/// The byte that ends the plaintext and starts the padding.
const MARKER: u8 = 0x80;

/// The most bytes a LEB128 varint of a `u64` takes.
const MAX_VARINT_U64: usize = 10;

/// A public identity with a [`NAME_ROOM`]-byte name: length byte, name,
/// Ed25519 and X25519 keys.
const MAX_ROOMY_IDENTITY: usize = 1 + NAME_ROOM + 32 + 32;
/// The largest presence record: member, seq, at_ms, status, last_seq,
/// signature.
const MAX_PRESENCE_SIGNED: usize = MAX_ROOMY_IDENTITY + 3 * MAX_VARINT_U64 + 1 + 64;
/// The largest key slot: rotator, recipient fingerprint, commit hash,
/// epoch key,
/// signature.
const MAX_KEY_SLOT_SIGNED: usize = MAX_ROOMY_IDENTITY + 32 + 32 + 32 + 64;

// The sizes hold what they must: checked when building, so a change to a
// record or to the name limit cannot silently produce records that are
// refused, or of two sizes.
const _: () = assert!(MAX_NAME_LEN <= NAME_ROOM);
const _: () = assert!(MAX_PRESENCE_SIGNED < PRESENCE_PADDED_LEN);
const _: () = assert!(MAX_KEY_SLOT_SIGNED < KEY_SLOT_PADDED_LEN);
const _: () = assert!(MAX_KEY_SLOT_SIGNED >= MIN_BUCKET);
const _: () = assert!(LARGEST_BUCKET > 32 * 1024);

/// How a plaintext of one kind is padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// To the smallest of the [`BUCKETS`] that holds it.
    Bucket,
    /// Always to this many bytes.
    Fixed(usize),
}

impl Padding {
    /// The padding payloads of `kind` use.
    pub fn of(kind: Kind) -> Self {
        match kind {
            // Commits and log states vary with the change and the number of
            // members; buckets hide the rest.
            Kind::Message
            | Kind::ChainedMessage
            | Kind::Commit
            | Kind::Roster
            | Kind::Request
            | Kind::Refusal => Padding::Bucket,
            Kind::Presence => Padding::Fixed(PRESENCE_PADDED_LEN),
            Kind::EpochKey => Padding::Fixed(KEY_SLOT_PADDED_LEN),
        }
    }

    /// The padded length of a plaintext of `len` bytes, or `None` when it
    /// does not fit any size of this padding (no valid payload is that
    /// long).
    pub fn padded_len(self, len: usize) -> Option<usize> {
        // At least one byte of padding: the 0x80 marker.
        let needed = len.checked_add(1)?;
        match self {
            Padding::Bucket => BUCKETS.into_iter().find(|&size| size >= needed),
            Padding::Fixed(size) => (needed <= size).then_some(size),
        }
    }
}

/// Pads a plaintext before encryption; the inverse of [`unpad`].
///
/// A plaintext too long for every size gets the marker alone: only
/// content no receiver accepts can be that long (a name over the limit,
/// which the receiver refuses anyway), and refusing here would turn the
/// infallible sealing of presence records into a fallible one for a case
/// that cannot reach the wire in a valid form.
pub(crate) fn pad(plaintext: &[u8], padding: Padding) -> Zeroizing<Vec<u8>> {
    let len = padding
        .padded_len(plaintext.len())
        .unwrap_or(plaintext.len().saturating_add(1));
    let mut padded = Zeroizing::new(Vec::with_capacity(len));
    padded.extend_from_slice(plaintext);
    padded.push(MARKER);
    padded.resize(len, 0);
    padded
}

/// The plaintext inside a decrypted, padded one; the inverse of [`pad`].
///
/// Refused as [`OpenError::Malformed`] unless the padding is exactly the
/// one [`pad`] makes for that plaintext: a 0x80 byte, zeros after it, and
/// the size this padding picks. Runs after the AEAD, on bytes a member of
/// the room sealed.
pub(crate) fn unpad(padded: &[u8], padding: Padding) -> Result<&[u8], OpenError> {
    let marker = padded
        .iter()
        .rposition(|&byte| byte != 0)
        .ok_or(OpenError::Malformed)?;
    if padded.get(marker) != Some(&MARKER) || padding.padded_len(marker) != Some(padded.len()) {
        return Err(OpenError::Malformed);
    }
    Ok(&padded[..marker])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_grow_and_end_at_the_largest_message() {
        assert!(BUCKETS.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(BUCKETS[0], MIN_BUCKET);
        assert_eq!(BUCKETS.last(), Some(&LARGEST_BUCKET));
        // 32 KiB of text plus everything around it.
        assert_eq!(LARGEST_BUCKET, 33_595);
    }

    #[test]
    fn every_bucket_boundary_round_trips() {
        let mut previous = 0;
        for &bucket in &BUCKETS {
            // Every length whose padding lands in this bucket: from just
            // past the previous bucket to one short of this one.
            for len in [previous, previous + 1, bucket - 2, bucket - 1] {
                let plaintext = vec![0xa5; len];
                let padded = pad(&plaintext, Padding::Bucket);
                assert_eq!(padded.len(), bucket, "plaintext of {len} bytes");
                assert_eq!(unpad(&padded, Padding::Bucket), Ok(&plaintext[..]));
            }
            // A plaintext of exactly the bucket's size leaves no room for
            // the marker: the next bucket, or none after the last.
            let next = BUCKETS.iter().copied().find(|&b| b > bucket);
            assert_eq!(Padding::Bucket.padded_len(bucket), next);
            previous = bucket;
        }
        assert_eq!(
            Padding::Bucket.padded_len(LARGEST_BUCKET - 1),
            Some(LARGEST_BUCKET)
        );
        assert_eq!(Padding::Bucket.padded_len(LARGEST_BUCKET), None);
        assert_eq!(Padding::Bucket.padded_len(usize::MAX), None);
    }

    #[test]
    fn plaintexts_ending_in_zeros_or_the_marker_round_trip() {
        // The padding is found from the end, so the plaintext's own last
        // bytes must not be mistaken for it.
        for tail in [
            &[0u8][..],
            &[0, 0, 0],
            &[MARKER],
            &[MARKER, 0],
            &[1, MARKER],
        ] {
            let plaintext = [&[7u8; 20][..], tail].concat();
            let padded = pad(&plaintext, Padding::Bucket);
            assert_eq!(unpad(&padded, Padding::Bucket), Ok(&plaintext[..]));
        }
        let empty = pad(&[], Padding::Bucket);
        assert_eq!(empty.len(), MIN_BUCKET);
        assert_eq!(unpad(&empty, Padding::Bucket), Ok(&[][..]));
    }

    #[test]
    fn fixed_sizes_fit_their_largest_records_and_nothing_larger() {
        for (kind, size) in [
            (Kind::Presence, PRESENCE_PADDED_LEN),
            (Kind::EpochKey, KEY_SLOT_PADDED_LEN),
        ] {
            let padding = Padding::of(kind);
            assert_eq!(padding, Padding::Fixed(size));
            assert!(BUCKETS.contains(&size), "{kind}: {size} is not a bucket");
            assert_eq!(padding.padded_len(0), Some(size));
            assert_eq!(padding.padded_len(size - 1), Some(size));
            assert_eq!(padding.padded_len(size), None);
        }
        assert_eq!(MAX_PRESENCE_SIGNED, 224);
        assert_eq!(MAX_KEY_SLOT_SIGNED, 289);
        assert_eq!(Padding::of(Kind::Message), Padding::Bucket);
    }

    #[test]
    fn anything_but_the_exact_padding_is_malformed() {
        let plaintext = vec![9u8; 100];
        let good = pad(&plaintext, Padding::Bucket);
        let mut cases: Vec<(&str, Vec<u8>)> = vec![
            ("no padding at all", plaintext.clone()),
            ("all zeros", vec![0; MIN_BUCKET]),
            ("empty", Vec::new()),
        ];
        let mut wrong_marker = good.to_vec();
        wrong_marker[100] = 0x01;
        cases.push(("0x01 as the marker", wrong_marker));
        let mut wrong_marker = good.to_vec();
        wrong_marker[100] = 0xff;
        cases.push(("0xff as the marker", wrong_marker));
        let mut noise = good.to_vec();
        noise[MIN_BUCKET - 1] = 1;
        cases.push(("a non-zero byte in the padding", noise));
        let mut short = good.to_vec();
        short.pop();
        cases.push(("one byte short of the bucket", short));
        let mut long = good.to_vec();
        long.push(0);
        cases.push(("one byte over the bucket", long));
        let mut too_much = good.to_vec();
        too_much.resize(512, 0);
        cases.push(("a larger bucket than needed", too_much));
        let mut off_bucket = plaintext.clone();
        off_bucket.push(MARKER);
        off_bucket.resize(300, 0);
        cases.push(("a size that is no bucket", off_bucket));
        for (what, padded) in cases {
            assert_eq!(
                unpad(&padded, Padding::Bucket),
                Err(OpenError::Malformed),
                "{what}"
            );
        }
        // A fixed size refuses what a bucket would allow.
        assert_eq!(
            unpad(&pad(&plaintext, Padding::Bucket), Padding::Fixed(512)),
            Err(OpenError::Malformed)
        );
        assert_eq!(
            unpad(&pad(&plaintext, Padding::Fixed(512)), Padding::Bucket),
            Err(OpenError::Malformed)
        );
    }

    #[test]
    fn too_long_for_every_size_gets_the_marker_alone_and_is_refused() {
        let plaintext = vec![1u8; PRESENCE_PADDED_LEN];
        let padded = pad(&plaintext, Padding::of(Kind::Presence));
        assert_eq!(padded.len(), PRESENCE_PADDED_LEN + 1);
        assert_eq!(
            unpad(&padded, Padding::of(Kind::Presence)),
            Err(OpenError::Malformed)
        );
    }

    proptest! {
        #[test]
        fn padding_round_trips_to_a_bucket(plaintext in proptest::collection::vec(any::<u8>(), 0..5000)) {
            let padded = pad(&plaintext, Padding::Bucket);
            prop_assert!(BUCKETS.contains(&padded.len()));
            prop_assert_eq!(unpad(&padded, Padding::Bucket), Ok(&plaintext[..]));
        }

        #[test]
        fn unpadding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = unpad(&bytes, Padding::Bucket);
            let _ = unpad(&bytes, Padding::Fixed(PRESENCE_PADDED_LEN));
        }
    }
}
