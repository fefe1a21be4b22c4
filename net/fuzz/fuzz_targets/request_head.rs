//! Fuzz `parse_request_head` on arbitrary bytes: it must never panic, a complete head must fit in
//! the input and in `HEADER_BYTES_MAX`, "need more" is only allowed within the limit, and the head
//! alone (`data[..consumed]`) must parse to the same result.
#![no_main]

use libfuzzer_sys::fuzz_target;
use net::http::{parse_request_head, HEADER_BYTES_MAX};

fuzz_target!(|data: &[u8]| {
    match parse_request_head(data) {
        Ok(Some((head, consumed))) => {
            assert!(consumed <= data.len(), "consumed {consumed} > len {}", data.len());
            assert!(consumed <= HEADER_BYTES_MAX, "consumed {consumed} > HEADER_BYTES_MAX");
            assert!(head.minor_version <= 1);
            match parse_request_head(&data[..consumed]) {
                Ok(Some((again, consumed_again))) => {
                    assert_eq!(consumed_again, consumed);
                    assert_eq!(again.headers, head.headers);
                    assert_eq!(again.body, head.body);
                }
                other => panic!("head alone did not reparse: {other:?}"),
            }
        }
        Ok(None) => assert!(data.len() <= HEADER_BYTES_MAX, "Ok(None) past the limit"),
        Err(_) => {}
    }
});
