//! Decoding stored ratchet states (`ratchet::ReceiverChain`,
//! `ratchet::SenderChain`). Mode byte % 4: 0 receiver as JSON (the store's
//! form), 1 receiver as postcard, 2 sender as JSON, 3 sender as postcard.
//! A state that decodes must round-trip and stay usable: keys around its
//! position are staged and committed without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto::ratchet::{MAX_SKIPPED_KEYS, ReceiverChain, SenderChain};
use sotto_fuzz::mode;

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = mode(data);
    match mode % 4 {
        0 | 1 => {
            let decoded = if mode % 4 == 0 {
                serde_json::from_slice::<ReceiverChain>(rest).ok()
            } else {
                postcard::from_bytes::<ReceiverChain>(rest).ok()
            };
            let Some(mut chain) = decoded else { return };
            assert!(chain.skipped_len() <= MAX_SKIPPED_KEYS);
            let Ok(json) = serde_json::to_vec(&chain) else {
                panic!("encoding failed")
            };
            match serde_json::from_slice::<ReceiverChain>(&json) {
                Ok(back) => assert!(back.same_state(&chain)),
                Err(err) => panic!("a decoded state does not re-decode: {err}"),
            }
            let next = chain.next_seq();
            for seq in [1, next.saturating_sub(1), next, next.saturating_add(3)] {
                if let Ok(staged) = chain.key_for(seq) {
                    let _ = chain.commit(staged);
                }
            }
            assert!(chain.skipped_len() <= MAX_SKIPPED_KEYS);
        }
        _ => {
            let decoded = if mode % 4 == 2 {
                serde_json::from_slice::<SenderChain>(rest).ok()
            } else {
                postcard::from_bytes::<SenderChain>(rest).ok()
            };
            let Some(mut chain) = decoded else { return };
            let next = chain.next_seq();
            assert!(next >= 1);
            if let Ok((seq, _)) = chain.next() {
                assert_eq!(seq, next);
            }
        }
    }
});
