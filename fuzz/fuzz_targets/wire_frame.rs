//! The envelope framing (`protocol::wire::frame`): any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sotto::protocol::wire;

fuzz_target!(|data: &[u8]| {
    if let Ok(framed) = wire::frame(data) {
        // Header and body are the input, split once, with nothing lost.
        assert_eq!([framed.header_bytes, framed.body].concat(), data);
        assert!(framed.body.len() < data.len());
        assert_eq!(framed.header.version, wire::WIRE_VERSION);
        // The header as received decodes to the same header on its own.
        let again: wire::Header = match wire::decode_exact(framed.header_bytes, data.len()) {
            Ok(header) => header,
            Err(err) => panic!("framed header does not decode alone: {err}"),
        };
        assert_eq!(again, framed.header);
    }
});
