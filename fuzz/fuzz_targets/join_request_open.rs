//! Opening a join request (`log::open_request`) under the fixed room and
//! epoch key. Mode byte even: the rest is a payload as received. Odd: the
//! rest is the request's plaintext content, sealed and signed by bob here.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto::log;
use sotto::protocol::fuzzing;
use sotto::protocol::wire::Kind;
use sotto_fuzz::{Room, bob, mode, rng};

fuzz_target!(|data: &[u8]| {
    let room = Room::new();
    let (mode, rest) = mode(data);
    let payload = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        fuzzing::seal_content(Kind::Request, room.context(), bob(), rest, &mut rng())
    };
    if let Ok(request) = log::open_request(room.context(), &payload) {
        // Only bob signed: only his signing key can be the joiner's.
        assert_eq!(request.joiner.signing, bob().public().signing);
        let _ = request.ticket.verify();
    }
});
