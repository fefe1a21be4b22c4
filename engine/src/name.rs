//! Bucket and object name validation (spec §2.1). Every name a client sends passes through
//! here before any path is built, so no name can reach outside its mountpath. A refused name
//! is a [`NameError`] naming the problem.

use std::fmt;

/// AIS bucket names: at most 64 bytes of `[A-Za-z0-9_.-]`, no `..`.
pub const BUCKET_NAME_BYTES_MAX: usize = 64;
/// Whole object name limit (S3's key limit).
pub const OBJECT_NAME_BYTES_MAX: usize = 1024;

/// Why a bucket or object name a client sent is refused. Display names the problem (the
/// front ends send it as the error message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    BucketEmpty,
    BucketTooLong {
        name: String,
        len: usize,
    },
    /// A character outside `[A-Za-z0-9_.-]`.
    BucketBadChar {
        name: String,
        c: char,
    },
    BucketDotDot {
        name: String,
    },
    BucketDot,
    ObjectEmpty,
    ObjectTooLong {
        len: usize,
    },
    ObjectNul {
        name: String,
    },
    ObjectLeadingSlash {
        name: String,
    },
    ObjectTrailingSlash {
        name: String,
    },
    /// Starts with `~/`.
    ObjectHome {
        name: String,
    },
    /// Has `//`.
    ObjectEmptyComponent {
        name: String,
    },
    /// Has a `.` or `..` path component.
    ObjectDotComponent {
        name: String,
        comp: String,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::BucketEmpty => f.write_str("bucket name is empty"),
            NameError::BucketTooLong { name, len } => write!(
                f,
                "bucket name {name:?} is too long ({len} bytes, max {BUCKET_NAME_BYTES_MAX})"
            ),
            NameError::BucketBadChar { name, c } => write!(
                f,
                "bucket name {name:?} is invalid: character {c:?} is not allowed (may only contain letters, numbers, dashes (-), underscores (_), and dots (.))"
            ),
            NameError::BucketDotDot { name } => {
                write!(f, "bucket name {name:?} is invalid: cannot contain '..'")
            }
            NameError::BucketDot => f.write_str("bucket name \".\" is invalid"),
            NameError::ObjectEmpty => f.write_str("object name is empty"),
            NameError::ObjectTooLong { len } => write!(
                f,
                "object name is too long ({len} bytes, max {OBJECT_NAME_BYTES_MAX})"
            ),
            NameError::ObjectNul { name } => write!(f, "object name {name:?} contains a NUL byte"),
            NameError::ObjectLeadingSlash { name } => {
                write!(f, "object name {name:?} must not start with '/'")
            }
            NameError::ObjectTrailingSlash { name } => {
                write!(f, "object name {name:?} must not end with '/'")
            }
            NameError::ObjectHome { name } => {
                write!(f, "object name {name:?} must not start with '~/'")
            }
            NameError::ObjectEmptyComponent { name } => {
                write!(f, "object name {name:?} has an empty path component ('//')")
            }
            NameError::ObjectDotComponent { name, comp } => write!(
                f,
                "object name {name:?} has a {comp:?} path component, which is not allowed"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// Validate a bucket name.
pub fn validate_bucket(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::BucketEmpty);
    }
    if name.len() > BUCKET_NAME_BYTES_MAX {
        return Err(NameError::BucketTooLong {
            name: name.to_owned(),
            len: name.len(),
        });
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-' || *c == '.'))
    {
        return Err(NameError::BucketBadChar {
            name: name.to_owned(),
            c,
        });
    }
    if name.contains("..") {
        return Err(NameError::BucketDotDot {
            name: name.to_owned(),
        });
    }
    if name == "." {
        return Err(NameError::BucketDot);
    }
    Ok(())
}

/// Validate an object name (already percent-decoded) as S3 does: every key S3 allows passes
/// except one with a NUL byte. Slashes anywhere, empty, `.` and `..` components and long
/// components are all stored (the layout escapes them, see
/// [`crate::layout::needs_escape`]), and no name can reach outside its bucket's directory.
pub fn validate_object(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::ObjectEmpty);
    }
    if name.len() > OBJECT_NAME_BYTES_MAX {
        return Err(NameError::ObjectTooLong { len: name.len() });
    }
    if name.contains('\0') {
        return Err(NameError::ObjectNul {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Validate an object name sent to the native API, which keeps AIS's rules on top of S3's:
/// no leading or trailing `/`, no `~/` start, no empty, `.` or `..` component (AIS refuses
/// names with `../` or `~/` and names ending in `/`). Long components are fine.
pub fn validate_native_object(name: &str) -> Result<(), NameError> {
    validate_object(name)?;
    let named = || name.to_owned();
    if name.starts_with('/') {
        return Err(NameError::ObjectLeadingSlash { name: named() });
    }
    if name.ends_with('/') {
        return Err(NameError::ObjectTrailingSlash { name: named() });
    }
    if name.starts_with("~/") {
        return Err(NameError::ObjectHome { name: named() });
    }
    for comp in name.split('/') {
        match comp {
            "" => return Err(NameError::ObjectEmptyComponent { name: named() }),
            "." | ".." => {
                return Err(NameError::ObjectDotComponent {
                    name: named(),
                    comp: comp.to_owned(),
                })
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
            assert!(validate_native_object(ok).is_ok(), "{ok}");
            assert!(validate_object(ok).is_ok(), "{ok}");
        }
        let long_comp = "c".repeat(300);
        assert!(validate_native_object(&long_comp).is_ok());
        let long_name = format!("{}/x", ["d"; 600].join("/"));
        for bad in ["", "nul\0byte", long_name.as_str()] {
            assert!(validate_object(bad).is_err(), "{bad:?}");
        }
        // S3 keys the native API refuses, as AIS does.
        for s3_only in [
            ".",
            "..",
            "a/../b",
            "./x",
            "x/.",
            "a//b",
            "/abs",
            "trailing/",
            "~/home",
        ] {
            assert!(validate_object(s3_only).is_ok(), "{s3_only:?}");
            assert!(validate_native_object(s3_only).is_err(), "{s3_only:?}");
        }
    }

    #[test]
    fn errors_are_typed_and_name_the_problem() {
        assert_eq!(validate_bucket(""), Err(NameError::BucketEmpty));
        assert_eq!(
            validate_bucket("a/b").unwrap_err().to_string(),
            "bucket name \"a/b\" is invalid: character '/' is not allowed (may only contain letters, numbers, dashes (-), underscores (_), and dots (.))"
        );
        assert_eq!(
            validate_bucket("a..b").unwrap_err().to_string(),
            "bucket name \"a..b\" is invalid: cannot contain '..'"
        );
        assert_eq!(
            validate_bucket(".").unwrap_err().to_string(),
            "bucket name \".\" is invalid"
        );
        assert_eq!(
            validate_native_object("a/../b").unwrap_err(),
            NameError::ObjectDotComponent {
                name: "a/../b".into(),
                comp: "..".into()
            }
        );
        assert_eq!(
            validate_native_object("a/../b").unwrap_err().to_string(),
            "object name \"a/../b\" has a \"..\" path component, which is not allowed"
        );
        assert_eq!(
            validate_native_object("a//b").unwrap_err().to_string(),
            "object name \"a//b\" has an empty path component ('//')"
        );
        assert_eq!(
            validate_object("").unwrap_err().to_string(),
            "object name is empty"
        );
    }

    #[test]
    fn object_name_at_limits() {
        let c200 = "a".repeat(200);
        let total_at = format!("{c200}/{c200}/{c200}/{c200}/{}", "e".repeat(220));
        assert_eq!(total_at.len(), OBJECT_NAME_BYTES_MAX);
        assert!(validate_object(&total_at).is_ok());
        let over = format!("{total_at}e");
        assert!(validate_object(&over).is_err());
    }
}
