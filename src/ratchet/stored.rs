//! The storage form of the chains: what the store seals and reads back.
//! Decoding checks every invariant the rest of the module relies on, so a
//! damaged or hostile file becomes an error, never a chain that misbehaves.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ChainKey, MAX_SKIPPED_KEYS, RatchetError, ReceiverChain, Secret, SenderChain};

impl Serialize for SenderChain {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("SenderChain", 2)?;
        state.serialize_field("next_seq", &self.next_seq)?;
        state.serialize_field("chain_key", &self.chain_key.0)?;
        state.end()
    }
}

#[derive(Deserialize)]
#[serde(rename = "SenderChain")]
struct SenderState {
    next_seq: u64,
    chain_key: Secret,
}

impl<'de> Deserialize<'de> for SenderChain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let state = SenderState::deserialize(deserializer)?;
        if state.next_seq == 0 {
            return Err(de::Error::custom(RatchetError::BadState(
                "message numbers start at 1",
            )));
        }
        Ok(Self {
            next_seq: state.next_seq,
            chain_key: ChainKey(state.chain_key),
        })
    }
}

impl Serialize for ReceiverChain {
    /// The skipped keys as a list of `(number, key)` pairs, in order.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut state = serializer.serialize_struct("ReceiverChain", 4)?;
        state.serialize_field("next_seq", &self.next_seq)?;
        state.serialize_field("chain_key", &self.chain_key.0)?;
        state.serialize_field("floor", &self.floor)?;
        state.serialize_field("skipped", &SkippedList(&self.skipped))?;
        state.end()
    }
}

struct SkippedList<'a>(&'a BTreeMap<u64, Box<Secret>>);

impl Serialize for SkippedList<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter())
    }
}

#[derive(Deserialize)]
#[serde(rename = "ReceiverChain")]
struct ReceiverState {
    next_seq: u64,
    chain_key: Secret,
    floor: u64,
    #[serde(deserialize_with = "bounded_skipped")]
    skipped: Vec<(u64, Box<Secret>)>,
}

impl<'de> Deserialize<'de> for ReceiverChain {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let state = ReceiverState::deserialize(deserializer)?;
        Self::try_from(state).map_err(de::Error::custom)
    }
}

impl TryFrom<ReceiverState> for ReceiverChain {
    type Error = RatchetError;

    /// Checks what the rest of the module relies on: numbers from 1, the
    /// floor below the next number, skipped keys strictly between the two
    /// and in order (so no number has two keys).
    fn try_from(state: ReceiverState) -> Result<Self, RatchetError> {
        if state.next_seq == 0 {
            return Err(RatchetError::BadState("message numbers start at 1"));
        }
        if state.floor >= state.next_seq {
            return Err(RatchetError::BadState("floor not below the next number"));
        }
        let mut skipped = BTreeMap::new();
        let mut previous = state.floor;
        for (seq, key) in state.skipped {
            if seq <= previous || seq >= state.next_seq {
                return Err(RatchetError::BadState(
                    "skipped keys out of order or out of range",
                ));
            }
            previous = seq;
            skipped.insert(seq, key);
        }
        Ok(Self {
            next_seq: state.next_seq,
            chain_key: ChainKey(state.chain_key),
            floor: state.floor,
            skipped,
        })
    }
}

/// Decodes the skipped keys, refusing more than [`MAX_SKIPPED_KEYS`]
/// before reading (or allocating for) any beyond the limit.
fn bounded_skipped<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<(u64, Box<Secret>)>, D::Error> {
    struct Bounded;

    impl<'de> Visitor<'de> for Bounded {
        type Value = Vec<(u64, Box<Secret>)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "at most {MAX_SKIPPED_KEYS} skipped keys")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            if seq.size_hint().is_some_and(|n| n > MAX_SKIPPED_KEYS) {
                return Err(de::Error::invalid_length(MAX_SKIPPED_KEYS + 1, &self));
            }
            let mut keys = Vec::new();
            while let Some(entry) = seq.next_element()? {
                if keys.len() == MAX_SKIPPED_KEYS {
                    return Err(de::Error::invalid_length(MAX_SKIPPED_KEYS + 1, &self));
                }
                keys.push(entry);
            }
            Ok(keys)
        }
    }

    deserializer.deserialize_seq(Bounded)
}
