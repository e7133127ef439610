//! Opening a presence record (`protocol::presence::open`) under the fixed
//! room and epoch key. Mode byte even: the rest is a payload as received.
//! Odd: the rest is the plaintext content, sealed and signed by bob here.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto::protocol::fuzzing;
use sotto::protocol::presence;
use sotto::protocol::wire::Kind;
use sotto_fuzz::{Room, bob, mode, rng};

fuzz_target!(|data: &[u8]| {
    let room = Room::new();
    let (mode, rest) = mode(data);
    let payload = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        fuzzing::seal_content(Kind::Presence, room.context(), bob(), rest, &mut rng())
    };
    if let Ok(record) = presence::open(room.context(), &payload) {
        // Only bob signed, so only bob's signing key can be the one
        // named; the rest of the claimed identity (name, agreement key) is
        // bob's own claim, and makes another fingerprint.
        assert_eq!(record.member.signing, bob().public().signing);
    }
});
