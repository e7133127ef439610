//! Opening a message (`protocol::message::open`) under the fixed room and
//! epoch key. Mode byte even: the rest is a payload as received. Odd: the
//! rest is the plaintext content, sealed and signed by alice here, so the
//! decoders behind the AEAD are reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto::protocol::fuzzing;
use sotto::protocol::message;
use sotto::protocol::wire::Kind;
use sotto_fuzz::{Room, alice, mode, rng};

fuzz_target!(|data: &[u8]| {
    let room = Room::new();
    let (mode, rest) = mode(data);
    let payload = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        fuzzing::seal_content(Kind::Message, room.context(), alice(), rest, &mut rng())
    };
    if let Ok(opened) = message::open(room.context(), &payload) {
        // Whatever opens obeys the limits open promises.
        assert!(opened.seq >= 1);
        assert!(opened.body.text().len() <= message::MAX_TEXT_LEN);
        assert!(message::check_numbers(opened.seq, &opened.skipped).is_ok());
        // Only alice signed, so only alice's signing key can be the one
        // named; the rest of the claimed identity (name, agreement key) is
        // alice's own claim, and makes another fingerprint.
        assert_eq!(opened.sender.signing, alice().public().signing);
    }
});
