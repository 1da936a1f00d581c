//! meshc's own checks for values Kuma's validators accept but Envoy refuses
//! (finding `MESH3011`). Kuma would push such a value and the proxy would reject
//! its whole configuration; meshc reports it at the policy instead.

use crate::findings::codes;
use crate::validate::violations::{Path, Violations};

/// Envoy lets no filter add, set or remove `host` or a `:`-pseudo-header
/// ("... may not be modified/removed").
pub fn validate_modifiable_header(v: &mut Violations, path: &Path, name: &str) {
    if name.starts_with(':') || name.eq_ignore_ascii_case("host") {
        v.add_code(
            codes::ENVOY_REJECTS,
            path,
            format!("Envoy does not let a filter modify the header {name:?}; use another header"),
        );
    }
}

/// A header value must not contain CR, LF or NUL (Envoy's header value rules).
pub fn validate_header_value(v: &mut Violations, path: &Path, value: &str) {
    if value.contains(['\r', '\n', '\0']) {
        v.add_code(codes::ENVOY_REJECTS, path, "header value must not contain CR, LF or NUL characters");
    }
}

/// A regular expression Envoy compiles with RE2. RE2 and the `regex` crate share
/// their syntax (no look-around, no back-references), so a pattern `regex`
/// rejects is, up to rare corner cases, one RE2 rejects too.
pub fn validate_regex(v: &mut Violations, path: &Path, pattern: &str) {
    if let Err(e) = regex::Regex::new(pattern) {
        let why = match e {
            regex::Error::Syntax(s) => {
                let last = s.lines().last().unwrap_or_default().trim();
                last.strip_prefix("error: ").unwrap_or(last).to_string()
            }
            other => other.to_string(),
        };
        v.add_code(codes::ENVOY_REJECTS, path, format!("invalid regular expression (RE2 syntax): {why}"));
    }
}

/// A number Envoy holds in a 32-bit unsigned field.
pub fn validate_u32(v: &mut Violations, path: &Path, n: i64) {
    if u32::try_from(n).is_err() {
        v.add_code(codes::ENVOY_REJECTS, path, format!("must be at most {} (Envoy stores it in 32 bits)", u32::MAX));
    }
}

/// A status code Envoy's `envoy.type.v3.StatusCode` enum defines (a local rate
/// limit's status is that enum, not any number).
pub fn validate_envoy_status(v: &mut Violations, path: &Path, status: i64) {
    use envoy_types::pb::envoy::r#type::v3::StatusCode;
    let known = i32::try_from(status).ok().and_then(|s| StatusCode::try_from(s).ok());
    if known.is_none_or(|s| s == StatusCode::Empty) {
        v.add_code(
            codes::ENVOY_REJECTS,
            path,
            format!("{status} is not a status code Envoy knows (use a standard one such as 429 or 503)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(f: impl FnOnce(&mut Violations)) -> usize {
        let mut v = Violations::default();
        f(&mut v);
        v.0.len()
    }

    #[test]
    fn headers() {
        let p = Path::root();
        assert_eq!(count(|v| validate_modifiable_header(v, &p, "Host")), 1);
        assert_eq!(count(|v| validate_modifiable_header(v, &p, ":authority")), 1);
        assert_eq!(count(|v| validate_modifiable_header(v, &p, "x-host")), 0);
        assert_eq!(count(|v| validate_header_value(v, &p, "a\r\nb")), 1);
        assert_eq!(count(|v| validate_header_value(v, &p, "a b")), 0);
    }

    #[test]
    fn regexes_and_numbers() {
        let p = Path::root();
        assert_eq!(count(|v| validate_regex(v, &p, "/api/(v1|v2")), 1);
        assert_eq!(count(|v| validate_regex(v, &p, "/api/(v1|v2)/.*")), 0);
        assert_eq!(count(|v| validate_u32(v, &p, 4_294_967_296)), 1);
        assert_eq!(count(|v| validate_u32(v, &p, 4_294_967_295)), 0);
        assert_eq!(count(|v| validate_u32(v, &p, -1)), 1);
        assert_eq!(count(|v| validate_envoy_status(v, &p, 429)), 0);
        assert_eq!(count(|v| validate_envoy_status(v, &p, 499)), 1);
        assert_eq!(count(|v| validate_envoy_status(v, &p, 600)), 1);
    }
}
