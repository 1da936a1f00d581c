//! Small validators of Kuma's `pkg/core/validators` and `pkg/core/resources/apis/mesh`
//! that several kinds use: tags and selectors, "greater than zero", uint
//! percentages, HTTP status codes.

use crate::findings::codes;
use crate::validate::violations::{Path, Violations, msg};

use super::StringMap;

/// The `kuma.io/service` tag.
pub const SERVICE_TAG: &str = "kuma.io/service";

/// Options of Kuma's `ValidateTags` / `ValidateSelector`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TagOpts {
    pub at_least_one: bool,
    pub require_service: bool,
    /// `ValidateSelector` (values may contain `/` or be `*`) instead of `ValidateTags`.
    pub selector: bool,
}

/// Kuma's `validateTagKeyValues` with the value-charset rule of `ValidateTags`
/// (or `ValidateSelector`); `extra` is the tags-level validator run before keys.
pub fn validate_tags(
    v: &mut Violations,
    path: &Path,
    tags: &StringMap,
    opts: TagOpts,
    extra: impl FnOnce(&mut Violations, &Path, &StringMap),
) {
    if opts.at_least_one && tags.is_empty() {
        v.add(path, "must have at least one tag");
    }
    extra(v, path, tags);
    for (key, value) in tags {
        if key.is_empty() {
            v.add(path, "tag name must be non-empty");
        }
        if !key.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'/')) {
            v.add(
                &path.key(key),
                "tag name must consist of alphanumeric characters, dots, dashes, slashes and underscores",
            );
        }
        if value.is_empty() {
            v.add(&path.key(key), "tag value must be non-empty");
        }
        if opts.selector {
            let ok = value == "*"
                || value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':' | b'/'));
            if !ok {
                v.add(
                    &path.key(key),
                    "tag value must consist of alphanumeric characters, dots, dashes, slashes and underscores or be \"*\"",
                );
            }
        } else if !value.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b':')) {
            v.add(&path.key(key), "tag value must consist of alphanumeric characters, dots, dashes and underscores");
        }
    }
    if opts.require_service && !tags.contains_key(SERVICE_TAG) {
        v.add_code(codes::KUMA_REQUIRED, path, format!("mandatory tag {SERVICE_TAG:?} is missing"));
    }
}

/// Kuma's `ValidateIntegerGreaterThanZeroOrNil`: when set, greater than 0.
pub fn validate_greater_than_zero_or_nil(v: &mut Violations, path: &Path, value: Option<i64>) {
    if value.is_some_and(|n| n <= 0) {
        v.add(path, msg::GREATER_THAN_ZERO);
    }
}

/// Kuma's `ValidateValueGreaterThanZeroOrNil`: the same rule, its own message.
pub fn validate_value_greater_than_zero_or_nil(v: &mut Violations, path: &Path, value: Option<i64>) {
    if value.is_some_and(|n| n <= 0) {
        v.add(path, msg::GREATER_THAN_ZERO_WHEN_DEFINED);
    }
}

/// Kuma's `ValidateUInt32PercentageOrNil`: when set, in 0..=100.
pub fn validate_uint_percentage_or_nil(v: &mut Violations, path: &Path, value: Option<i64>) {
    if value.is_some_and(|n| !(0..=100).contains(&n)) {
        v.add_code(codes::BAD_PERCENTAGE, path, msg::UINT_PERCENTAGE_RANGE);
    }
}

/// Kuma's `ValidateStatusCode`: an HTTP status code in 100..=599.
pub fn validate_status_code(v: &mut Violations, path: &Path, status: i64) {
    if !(100..600).contains(&status) {
        v.add(path, "must be in inclusive range [100, 599]");
    }
}
