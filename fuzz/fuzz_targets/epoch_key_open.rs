//! Opening an epoch-key slot (`protocol::epoch_key::open`) as bob in the
//! fixed room. Mode byte even: the rest is a slot as received. Odd: the
//! rest is the plaintext content, signed by alice and sealed to bob here.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto::protocol::{epoch_key, fuzzing};
use sotto_fuzz::{Room, alice, bob, mode, rng};

fuzz_target!(|data: &[u8]| {
    let room = Room::new();
    let (mode, rest) = mode(data);
    let payload = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        match fuzzing::seal_slot_content(&room.id, 1, alice(), &bob().public(), rest, &mut rng()) {
            Ok(payload) => payload,
            Err(_) => return,
        }
    };
    if let Ok(grant) = epoch_key::open(&room.id, bob(), &payload) {
        // Only alice signed, so only alice's signing key can be the one
        // named; the rest of the claimed identity (name, agreement key) is
        // alice's own claim, and makes another fingerprint.
        assert_eq!(grant.rotator.signing, alice().public().signing);
    }
});
