//! Decoding an invite (`invite::Invite::decode`). Mode byte even: the rest
//! is the text as pasted (lossily UTF-8). Odd: the rest is the record
//! bytes, wrapped here in a valid Bech32m `sotto1…` string so the record
//! parser is reached past the checksum.
#![no_main]

use bech32::{Bech32m, Hrp};
use libfuzzer_sys::fuzz_target;
use sotto::invite::Invite;
use sotto_fuzz::mode;

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = mode(data);
    let text = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let Ok(hrp) = Hrp::parse("sotto") else { return };
        match bech32::encode::<Bech32m>(hrp, rest) {
            Ok(text) => text,
            Err(_) => return,
        }
    };
    if let Ok(invite) = Invite::decode(&text) {
        // A valid invite survives its own encoding unchanged.
        match Invite::decode(&invite.encode()) {
            Ok(again) => assert_eq!(again, invite),
            Err(err) => panic!("a decoded invite does not re-decode: {err}"),
        }
    }
});
