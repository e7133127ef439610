//! Opening a message sealed under a hash ratchet (`protocol::chained`)
//! under the fixed room and epoch key. Mode byte 0 mod 3: the rest is a
//! payload as received. 1: the rest is the frame, sealed under the epoch
//! key here, so the frame's decoder is reached. 2: the rest is the inner
//! content, signed by alice and sealed under step 1 of a fixed chain, so
//! the message decoder behind both layers is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto::protocol::{chained, fuzzing};
use sotto::ratchet::{ChainKey, ReceiverChain};
use sotto_fuzz::{Room, alice, mode, rng};

fuzz_target!(|data: &[u8]| {
    let room = Room::new();
    let (mode, rest) = mode(data);
    let chain = ReceiverChain::new(ChainKey::from_bytes([8; 32]), 1);
    let Ok(staged) = chain.key_for(1) else {
        return;
    };
    let payload = match mode % 3 {
        0 => rest.to_vec(),
        1 => fuzzing::seal_chained_frame(room.context(), rest, &mut rng()),
        _ => fuzzing::seal_chained_content(
            room.context(),
            alice(),
            (1, 1),
            staged.key(),
            rest,
            &mut rng(),
        ),
    };
    if let Ok(frame) = chained::open_frame(room.context(), &payload) {
        assert!(frame.seq >= 1 && frame.step >= 1);
        if let Ok(message) = frame.open_verified(&room.id, staged.key()) {
            assert_eq!(message.seq, frame.seq);
            assert_eq!(message.sender.signing, alice().public().signing);
        }
    }
});
