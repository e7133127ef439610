//! The wire codec: every payload on a room topic is a postcard-encoded
//! clear [`Header`] followed by a kind-specific body.
//!
//! This is the only place that calls postcard, so swapping the codec is a
//! one-module change. Every decode checks the length before it parses,
//! refuses unknown versions by their first byte, and refuses trailing bytes,
//! so one payload has exactly one meaning.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// The wire format version this build writes and reads (the first byte of
/// every payload).
pub const WIRE_VERSION: u8 = 1;

/// Hard limit on a payload: anything larger is refused before decoding.
pub const MAX_ENVELOPE_LEN: usize = 64 * 1024;

/// What a payload carries. Each kind has its own topic and signature label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// A chat message.
    Message,
    /// A member's presence record.
    Presence,
    /// A new epoch key sealed to one member.
    EpochKey,
    /// A membership commit (see [`crate::log`]).
    Commit,
    /// A part of the room's member list, for joiners.
    Roster,
    /// A joiner asking a member to let them in.
    Request,
    /// A chat message under its sender's hash ratchet (rooms with a
    /// membership log; see `chained.rs`).
    ChainedMessage,
    /// A member's signed answer to a join request the log refuses.
    Refusal,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Message => "a message",
            Kind::Presence => "a presence record",
            Kind::EpochKey => "a sealed epoch key",
            Kind::Commit => "a membership change",
            Kind::Roster => "a member list",
            Kind::Request => "a join request",
            Kind::ChainedMessage => "a message",
            Kind::Refusal => "a refused join",
        })
    }
}

/// The clear header: all the broker can read of a payload. Authenticated
/// as associated data (byte for byte as received) by every kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`WIRE_VERSION`] when written by this build.
    pub version: u8,
    /// The payload kind.
    pub kind: Kind,
    /// The room epoch the payload belongs to.
    pub epoch: u64,
}

impl Header {
    /// A header of this build's version.
    pub fn new(kind: Kind, epoch: u64) -> Self {
        Self {
            version: WIRE_VERSION,
            kind,
            epoch,
        }
    }
}

/// Why bytes could not be framed or decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Over the size limit; not parsed at all.
    #[error("payload of {len} bytes is over the {max}-byte limit")]
    TooLarge {
        /// The payload's length.
        len: usize,
        /// The limit it broke.
        max: usize,
    },
    /// The first byte names a version this build does not know.
    #[error("payload has unknown format version {0}")]
    UnknownVersion(u8),
    /// Empty, truncated, trailing bytes, or fields that do not parse.
    #[error("payload is malformed")]
    Malformed,
}

/// A payload split into its header and body, before any cryptography.
#[derive(Debug, Clone, Copy)]
pub struct Framed<'a> {
    /// The parsed header.
    pub header: Header,
    /// The header exactly as received: the associated data.
    pub header_bytes: &'a [u8],
    /// Everything after the header.
    pub body: &'a [u8],
}

/// Splits a payload into header and body; the inverse of [`encode`].
pub fn frame(bytes: &[u8]) -> Result<Framed<'_>, WireError> {
    if bytes.len() > MAX_ENVELOPE_LEN {
        return Err(WireError::TooLarge {
            len: bytes.len(),
            max: MAX_ENVELOPE_LEN,
        });
    }
    match bytes.first() {
        None => return Err(WireError::Malformed),
        Some(&WIRE_VERSION) => {}
        Some(&other) => return Err(WireError::UnknownVersion(other)),
    }
    let (header, body) =
        postcard::take_from_bytes::<Header>(bytes).map_err(|_| WireError::Malformed)?;
    let header_bytes = &bytes[..bytes.len() - body.len()];
    Ok(Framed {
        header,
        header_bytes,
        body,
    })
}

/// Encodes a header and a body into one payload.
pub fn encode<T: Serialize>(header: &Header, body: &T) -> Vec<u8> {
    let mut bytes = to_bytes(header);
    bytes.extend_from_slice(&to_bytes(body));
    bytes
}

/// Encodes one value. Serialising our own types into a Vec cannot fail
/// (no maps with non-string keys, no unsized sequences), so a failure
/// yields an empty buffer that every decoder rejects, rather than a panic.
pub fn to_bytes<T: Serialize + ?Sized>(value: &T) -> Vec<u8> {
    postcard::to_stdvec(value).unwrap_or_default()
}

/// Decodes exactly one `T` from `bytes`, refusing oversize input and
/// trailing bytes.
pub fn decode_exact<T: DeserializeOwned>(bytes: &[u8], max_len: usize) -> Result<T, WireError> {
    if bytes.len() > max_len {
        return Err(WireError::TooLarge {
            len: bytes.len(),
            max: max_len,
        });
    }
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((value, [])) => Ok(value),
        _ => Err(WireError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn header_is_version_first_and_round_trips() {
        let bytes = encode(&Header::new(Kind::Presence, 300), &[1u8, 2, 3]);
        assert_eq!(bytes[0], WIRE_VERSION);
        let framed = frame(&bytes).unwrap();
        assert_eq!(framed.header, Header::new(Kind::Presence, 300));
        assert_eq!(framed.body, &[1, 2, 3]);
        assert_eq!([framed.header_bytes, framed.body].concat(), bytes);
    }

    #[test]
    fn oversize_empty_and_unknown_versions_are_refused_before_parsing() {
        let big = vec![WIRE_VERSION; MAX_ENVELOPE_LEN + 1];
        assert!(matches!(frame(&big), Err(WireError::TooLarge { .. })));
        assert_eq!(frame(&[]).unwrap_err(), WireError::Malformed);
        assert_eq!(frame(&[9, 0, 0]).unwrap_err(), WireError::UnknownVersion(9));
        assert_eq!(frame(&[WIRE_VERSION]).unwrap_err(), WireError::Malformed);
        assert_eq!(
            frame(&[WIRE_VERSION, 0x7f, 0]).unwrap_err(),
            WireError::Malformed
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = to_bytes(&5u32);
        assert_eq!(decode_exact::<u32>(&bytes, 16), Ok(5));
        bytes.push(0);
        assert_eq!(decode_exact::<u32>(&bytes, 16), Err(WireError::Malformed));
    }

    proptest! {
        #[test]
        fn framing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = frame(&bytes);
        }
    }
}
