//! Bucket and object name validation (spec §2.1). Every name a client sends passes through
//! here before any path is built, so no name can reach outside its mountpath.

/// AIS bucket names: at most 64 bytes of `[A-Za-z0-9_.-]`, no `..`.
pub const BUCKET_NAME_BYTES_MAX: usize = 64;
/// Whole object name limit (S3's key limit).
pub const OBJECT_NAME_BYTES_MAX: usize = 1024;
/// One path component of an object name; longer components do not fit a file name.
pub const OBJECT_NAME_COMPONENT_BYTES_MAX: usize = 255;

/// Validate a bucket name; the error text names the problem.
pub fn validate_bucket(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("bucket name is empty".into());
    }
    if name.len() > BUCKET_NAME_BYTES_MAX {
        return Err(format!(
            "bucket name {name:?} is too long ({} bytes, max {BUCKET_NAME_BYTES_MAX})",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.'))
    {
        return Err(format!(
            "bucket name {name:?} is invalid: character {c:?} is not allowed (may only contain letters, numbers, dashes (-), underscores (_), and dots (.))"
        ));
    }
    if name.contains("..") {
        return Err(format!(
            "bucket name {name:?} is invalid: cannot contain '..'"
        ));
    }
    if name == "." {
        return Err("bucket name \".\" is invalid".into());
    }
    Ok(())
}

/// Validate an object name (already percent-decoded); the error text names the problem.
pub fn validate_object(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("object name is empty".into());
    }
    if name.len() > OBJECT_NAME_BYTES_MAX {
        return Err(format!(
            "object name is too long ({} bytes, max {OBJECT_NAME_BYTES_MAX})",
            name.len()
        ));
    }
    if name.contains('\0') {
        return Err(format!("object name {name:?} contains a NUL byte"));
    }
    if name.starts_with('/') {
        return Err(format!("object name {name:?} must not start with '/'"));
    }
    if name.ends_with('/') {
        return Err(format!("object name {name:?} must not end with '/'"));
    }
    if name.starts_with("~/") {
        return Err(format!("object name {name:?} must not start with '~/'"));
    }
    for comp in name.split('/') {
        match comp {
            "" => return Err(format!("object name {name:?} has an empty path component ('//')")),
            "." | ".." => {
                return Err(format!(
                    "object name {name:?} has a {comp:?} path component, which is not allowed"
                ))
            }
            c if c.len() > OBJECT_NAME_COMPONENT_BYTES_MAX => {
                return Err(format!(
                    "object name {name:?} has a path component of {} bytes (max {OBJECT_NAME_COMPONENT_BYTES_MAX})",
                    c.len()
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names_valid_and_invalid() {
        for ok in [
            "a",
            "abc",
            "my-bucket_1.x",
            &"b".repeat(BUCKET_NAME_BYTES_MAX),
        ] {
            assert!(validate_bucket(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a..b",
            "..",
            ".",
            "a/b",
            "a b",
            "a\0b",
            "ünï",
            &"b".repeat(BUCKET_NAME_BYTES_MAX + 1),
        ] {
            assert!(validate_bucket(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn object_names_valid_and_invalid() {
        for ok in [
            "a",
            "a/b/c",
            "dir/obj.txt",
            "..a",
            "a..",
            "a/.hidden",
            "spaces ok",
            "ünïcode",
        ] {
            assert!(validate_object(ok).is_ok(), "{ok}");
        }
        let long_comp = "c".repeat(OBJECT_NAME_COMPONENT_BYTES_MAX + 1);
        let long_name = format!("{}/x", ["d"; 600].join("/"));
        for bad in [
            "",
            ".",
            "..",
            "a/../b",
            "./x",
            "x/.",
            "a//b",
            "/abs",
            "trailing/",
            "~/home",
            "nul\0byte",
            long_comp.as_str(),
            long_name.as_str(),
        ] {
            let e = validate_object(bad);
            assert!(e.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn object_name_at_limits() {
        let at = "c".repeat(OBJECT_NAME_COMPONENT_BYTES_MAX);
        assert!(validate_object(&at).is_ok());
        let c200 = "a".repeat(200);
        let total_at = format!("{c200}/{c200}/{c200}/{c200}/{}", "e".repeat(220));
        assert_eq!(total_at.len(), OBJECT_NAME_BYTES_MAX);
        assert!(validate_object(&total_at).is_ok());
        let over = format!("{total_at}e");
        assert!(validate_object(&over).is_err());
    }
}
