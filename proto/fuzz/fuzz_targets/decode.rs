//! `wire::decode` on hostile bytes: it must never panic, agree with `peek_header`, and every
//! message it accepts must re-encode to a datagram that decodes to the same message.
//!
//! Each input is tried twice: as it is (almost always rejected by the tag check), and with its
//! last 16 bytes replaced by the valid tag, so that mutations reach the body parser.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vigil_proto::wire::{self, Keyring};
use vigil_proto_fuzz::{encode, keys, retag};

fuzz_target!(|data: &[u8]| {
    let keys = keys();
    check(data, &keys);
    let mut tagged = data.to_vec();
    retag(&mut tagged);
    check(&tagged, &keys);
});

fn check(bytes: &[u8], keys: &Keyring) {
    let peeked = wire::peek_header(bytes);
    match wire::decode(bytes, keys) {
        Ok((header, message)) => {
            assert_eq!(peeked, Ok(header));
            assert_eq!(header.kind, message.kind());
            let again = encode(header.sender, header.receiver, header.generation, header.sequence, &message)
                .expect("a decoded message re-encodes");
            // Postcard accepts overlong varints, so the re-encoding may be shorter, never longer.
            assert!(again.len() <= bytes.len(), "re-encoding grew: {} > {}", again.len(), bytes.len());
            assert_eq!(wire::decode(&again, keys), Ok((header, message)));
        }
        Err(error) => {
            if let Err(peek_error) = peeked {
                assert_eq!(error, peek_error, "decode and peek_header disagree");
            }
        }
    }
}
