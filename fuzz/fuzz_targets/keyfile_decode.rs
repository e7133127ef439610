//! Decoding key files (`keyfile`): the identity key file and the storage
//! key file. Mode byte % 3 == 0: the rest is file text (lossily UTF-8).
//! 1: the rest is an identity record, 2: a storage record, each wrapped
//! here in a valid Bech32m line so the record parser is reached past the
//! checksum. No passphrase is given: a protected file stops before Argon2,
//! whose costs (bounded, but up to 1 GiB) would only slow the fuzzer.
#![no_main]

use bech32::{Bech32m, Hrp};
use libfuzzer_sys::fuzz_target;
use sotto::keyfile;
use sotto_fuzz::{mode, rng};

fuzz_target!(|data: &[u8]| {
    let (mode, rest) = mode(data);
    let text = match mode % 3 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        kind => {
            let hrp = if kind == 1 {
                "sotto-secret-key-"
            } else {
                "sotto-storage-key-"
            };
            let Ok(hrp) = Hrp::parse(hrp) else { return };
            match bech32::encode_upper::<Bech32m>(hrp, rest) {
                Ok(line) => line,
                Err(_) => return,
            }
        }
    };
    let _ = keyfile::is_protected(&text);
    let _ = keyfile::claimed_fingerprint(&text);
    if let Ok(identity) = keyfile::decode(&text, "fuzz".into(), None) {
        let again = keyfile::encode(&identity, None, &mut rng());
        match keyfile::decode(&again, "fuzz".into(), None) {
            Ok(back) => assert_eq!(back.public(), identity.public()),
            Err(err) => panic!("a decoded identity does not re-decode: {err}"),
        }
    }
    if let Ok(key) = keyfile::decode_storage_key(&text, None) {
        let again = keyfile::encode_storage_key(&key, None, &mut rng());
        assert_eq!(keyfile::decode_storage_key(&again, None).ok(), Some(key));
    }
});
