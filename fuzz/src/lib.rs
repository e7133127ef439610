//! What the fuzz targets share: the fixed identities, room and keys they
//! open payloads with, and the mode byte that picks how a target reads its
//! input. The identities are the TEST-ONLY ones of `keys/` (same seeds as
//! `tests/vectors.rs`), so corpora seeded from the vectors open here.

use std::sync::OnceLock;

use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sotto::identity::Identity;
use sotto::protocol::EpochContext;
use sotto::room::RoomId;
use sotto::secret::SymmetricKey;

/// The room id of the vectors (`keys/vectors/*.txt`).
pub const ROOM_ID: [u8; 16] = [
    0x9a, 0x37, 0x44, 0x50, 0x45, 0x60, 0x63, 0x9e, 0xc6, 0x70, 0xb7, 0xa1, 0x7d, 0x49, 0x2b, 0x27,
];

/// The room's epoch-0 key in the vectors.
pub const EPOCH_KEY: [u8; 32] = [
    0x3e, 0x07, 0x7b, 0x0a, 0x96, 0xbe, 0xf5, 0x8b, 0xa7, 0x76, 0x07, 0x79, 0xe5, 0x44, 0x54, 0x6e,
    0x00, 0x0e, 0xfe, 0xc8, 0x7c, 0x57, 0x49, 0xec, 0x11, 0x57, 0x91, 0x2e, 0x0e, 0x17, 0x1f, 0x60,
];

/// alice of `keys/alice.key`: sender of the message vector, rotator of the
/// epoch-key vector.
pub fn alice() -> &'static Identity {
    static ALICE: OnceLock<Identity> = OnceLock::new();
    ALICE.get_or_init(|| identity("alice", 0xA11CE))
}

/// bob of `keys/bob.key`: member of the presence vector, recipient of the
/// epoch-key vector.
pub fn bob() -> &'static Identity {
    static BOB: OnceLock<Identity> = OnceLock::new();
    BOB.get_or_init(|| identity("bob", 0xB0B))
}

fn identity(name: &str, seed: u64) -> Identity {
    match Identity::generate(name, &mut ChaCha20Rng::seed_from_u64(seed)) {
        Ok(identity) => identity,
        Err(_) => unreachable!("the fixed names are valid"),
    }
}

/// The room and key payloads are opened with.
pub struct Room {
    /// The room id.
    pub id: RoomId,
    /// The epoch-0 key.
    pub key: SymmetricKey,
}

impl Room {
    /// The vectors' room at epoch 0.
    pub fn new() -> Self {
        Self {
            id: RoomId(ROOM_ID),
            key: SymmetricKey::from_bytes(EPOCH_KEY),
        }
    }

    /// Epoch 0 of the room.
    pub fn context(&self) -> EpochContext<'_> {
        EpochContext {
            room_id: &self.id,
            epoch: 0,
            key: &self.key,
        }
    }
}

impl Default for Room {
    fn default() -> Self {
        Self::new()
    }
}

/// A fixed RNG for sealing inside a target, so a crashing input replays
/// exactly.
pub fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(0xF022)
}

/// Splits an input into its mode byte (how the target reads the rest) and
/// the rest. An empty input is mode 0 with nothing after it.
pub fn mode(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((&mode, rest)) => (mode, rest),
        None => (0, data),
    }
}
