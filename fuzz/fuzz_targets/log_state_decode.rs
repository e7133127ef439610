//! Decoding a membership log state (what a joiner takes from the broker
//! and checks against its invite's hash), bounded like every decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto::log::LogState;
use sotto::protocol::wire::{self, MAX_ENVELOPE_LEN};
use sotto_fuzz::Room;

fuzz_target!(|data: &[u8]| {
    if let Ok(state) = wire::decode_exact::<LogState>(data, MAX_ENVELOPE_LEN) {
        let room = Room::new();
        let _ = state.hash(&room.id);
        let _ = state.roster.name_taken("alice", &sotto::identity::Fingerprint([0; 32]));
    }
});
