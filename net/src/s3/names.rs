//! S3's bucket naming rules ("General purpose bucket naming rules"), for CreateBucket on `/s3`
//! only (the native API keeps AIS's own rules):
//!
//! * 3 to 63 characters: lowercase letters, digits, dots and hyphens;
//! * begin and end with a letter or digit; no two adjacent dots;
//! * not formatted as an IPv4 address (`192.168.5.4`);
//! * none of the reserved prefixes (`xn--`, `sthree-`, `amzn-s3-demo-`) or suffixes
//!   (`-s3alias`, `--ol-s3`, `.mrap`, `--x-s3`, `--table-s3`).

use super::error::{S3Error, S3ErrorCode};

/// Shortest and longest bucket name S3 accepts.
pub const BUCKET_NAME_MIN: usize = 3;
pub const BUCKET_NAME_MAX: usize = 63;

const RESERVED_PREFIXES: [&str; 3] = ["xn--", "sthree-", "amzn-s3-demo-"];
const RESERVED_SUFFIXES: [&str; 5] = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];

/// `Ok` if `name` is a valid S3 bucket name, else `InvalidBucketName` naming the rule broken.
pub fn validate_bucket_name(name: &str) -> Result<(), S3Error> {
    let bad = |why: &str| {
        S3Error::new(
            S3ErrorCode::InvalidBucketName,
            format!(
                "The specified bucket is not valid: {:?} {why}",
                name.chars().take(80).collect::<String>()
            ),
        )
        .with_resource(format!("/{}", name.chars().take(80).collect::<String>()))
    };
    if name.len() < BUCKET_NAME_MIN || name.len() > BUCKET_NAME_MAX {
        return Err(bad(&format!(
            "must be {BUCKET_NAME_MIN} to {BUCKET_NAME_MAX} characters long"
        )));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err(bad(
            "may contain only lowercase letters, digits, dots and hyphens",
        ));
    }
    let alnum = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if !alnum(name.bytes().next()) || !alnum(name.bytes().last()) {
        return Err(bad("must begin and end with a letter or digit"));
    }
    if name.contains("..") {
        return Err(bad("must not contain two adjacent dots"));
    }
    if is_ipv4(name) {
        return Err(bad("must not be formatted as an IP address"));
    }
    if let Some(p) = RESERVED_PREFIXES.iter().find(|p| name.starts_with(*p)) {
        return Err(bad(&format!(
            "must not start with the reserved prefix {p:?}"
        )));
    }
    if let Some(s) = RESERVED_SUFFIXES.iter().find(|s| name.ends_with(*s)) {
        return Err(bad(&format!("must not end with the reserved suffix {s:?}")));
    }
    Ok(())
}

fn is_ipv4(name: &str) -> bool {
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_rules() {
        for ok in [
            "abc",
            "my-bucket.v2",
            "a1b",
            "123",
            "1.2.3",
            "1.2.3.4.5",
            &"a".repeat(63),
        ] {
            assert_eq!(validate_bucket_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a",
            "ab",
            &"a".repeat(64),
            "Abc",
            "ab_c",
            "-abc",
            "abc-",
            ".abc",
            "abc.",
            "a..b",
            "192.168.5.4",
            "xn--abc",
            "abc-s3alias",
            "abc--ol-s3",
            "a b",
            "ab\u{e9}",
        ] {
            let e = validate_bucket_name(bad).unwrap_err();
            assert_eq!(e.code, S3ErrorCode::InvalidBucketName, "{bad}");
            assert_eq!(e.status(), 400);
        }
    }
}
