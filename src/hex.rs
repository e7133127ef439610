//! Lowercase hex for ids and file names, and serde helpers so state files
//! show byte strings as hex rather than arrays of numbers.

/// Encodes bytes as lowercase hex.
pub fn encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

/// Decodes exactly `N` bytes of hex (either case); the inverse of [`encode`].
pub fn decode_array<const N: usize>(text: &str) -> Option<[u8; N]> {
    let text = text.as_bytes();
    if text.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `#[serde(with = "crate::hex::array")]` for `[u8; N]` fields of any N:
/// hex text in human-readable formats (JSON state files), raw bytes in
/// binary ones (the postcard wire format), so the wire stays compact.
pub mod array {
    use std::fmt;

    use serde::de::{Error, SeqAccess, Visitor};
    use serde::ser::SerializeTuple;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the array as hex text or as a fixed-size tuple of bytes.
    pub fn serialize<S: Serializer, const N: usize>(
        bytes: &[u8; N],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            return serializer.serialize_str(&super::encode(bytes));
        }
        let mut tuple = serializer.serialize_tuple(N)?;
        for byte in bytes {
            tuple.serialize_element(byte)?;
        }
        tuple.end()
    }

    /// Reads what [`serialize`] wrote.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        deserializer: D,
    ) -> Result<[u8; N], D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            return super::decode_array(&text)
                .ok_or_else(|| D::Error::custom(format!("expected {} hex digits", N * 2)));
        }
        deserializer.deserialize_tuple(N, ByteTuple::<N>)
    }

    struct ByteTuple<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for ByteTuple<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{N} bytes")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(i, &self))?;
            }
            Ok(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_bad_input() {
        let bytes = [0x00, 0x7f, 0xab, 0xff];
        assert_eq!(encode(&bytes), "007fabff");
        assert_eq!(decode_array::<4>("007FABff"), Some(bytes));
        assert_eq!(decode_array::<4>("007fab"), None);
        assert_eq!(decode_array::<2>("zz00"), None);
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Wide(#[serde(with = "array")] [u8; 64]);

    #[test]
    fn serde_is_hex_in_json_and_raw_in_postcard() {
        let value = Wide([7; 64]);
        let json = serde_json::to_string(&value).unwrap();
        assert_eq!(json, format!("\"{}\"", "07".repeat(64)));
        assert_eq!(serde_json::from_str::<Wide>(&json).unwrap(), value);
        let wire = postcard::to_stdvec(&value).unwrap();
        assert_eq!(wire, vec![7; 64]);
        assert_eq!(postcard::from_bytes::<Wide>(&wire).unwrap(), value);
    }
}
