//! Fuzz the S3 XML request parsers (`net::s3::xml`) on arbitrary bytes: they must never panic,
//! their results must respect the documented limits, and what `parse_delete_objects` returns must
//! survive a round trip through `escape_xml` (the escaping used for responses).
#![no_main]

use libfuzzer_sys::fuzz_target;
use net::s3::xml::{
    escape_xml, parse_complete_multipart, parse_create_bucket_configuration, parse_delete_objects,
    parse_versioning_configuration, DELETE_OBJECTS_KEYS_MAX, PART_NUMBER_MAX,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(parts) = parse_complete_multipart(data) {
        assert!(!parts.is_empty());
        assert!(
            parts.windows(2).all(|w| w[0].0 < w[1].0),
            "part numbers ascend"
        );
        assert!(parts.iter().all(|(n, _)| (1..=PART_NUMBER_MAX).contains(n)));
    }
    if let Ok((keys, quiet)) = parse_delete_objects(data) {
        assert!(!keys.is_empty() && keys.len() <= DELETE_OBJECTS_KEYS_MAX);
        // Keys with characters XML 1.0 cannot carry (C0 controls other than TAB/LF/CR) came in
        // as character references; they are escaped the same way, so the round trip holds.
        let mut body = String::from("<Delete>");
        for key in &keys {
            body.push_str("<Object><Key>");
            escape_xml(&mut body, key);
            body.push_str("</Key></Object>");
        }
        body.push_str(if quiet { "<Quiet>true</Quiet>" } else { "" });
        body.push_str("</Delete>");
        assert_eq!(parse_delete_objects(body.as_bytes()), Ok((keys, quiet)));
    }
    let _ = parse_create_bucket_configuration(data);
    let _ = parse_versioning_configuration(data);
});
