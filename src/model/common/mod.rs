//! Types shared by many kinds: targetRef, backendRef, inbound matches, durations,
//! percentages, and the small validators Kuma applies to them. Also: `checks`
//! (tags, greater-than-zero, uint percentages, status codes), `go` (exact ports of
//! the Go functions Kuma's validators call: `net.ParseIP`, `net.SplitHostPort`,
//! `net/url`, govalidator's `IsDNSName` / `IsURL` / `IsFilePath`) and
//! `observability` (the MeshOpenTelemetryBackend `backendRef` of MeshAccessLog,
//! MeshTrace and MeshMetric).

mod checks;
mod duration;
pub mod envoy_limits;
mod go;
mod observability;
pub mod targetref;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use checks::{
    SERVICE_TAG, TagOpts, validate_greater_than_zero_or_nil, validate_status_code, validate_tags,
    validate_uint_percentage_or_nil, validate_value_greater_than_zero_or_nil,
};
pub use duration::{DURATION_PATTERN, Duration, parse_go_duration};
pub use go::{
    GoUrl, go_url_parse, go_url_parse_request_uri, is_dns_name, is_go_file_path, is_go_url, is_host_port, is_ip,
    split_host_port,
};
pub use observability::{
    BackendResourceKind, BackendResourceRef, EndpointRule, validate_backend_resource_ref,
    validate_otel_backend_ref_or_endpoint,
};
pub use targetref::{BackendRef, TargetRef, TargetRefKind, TargetRefRules, validate_target_ref};

use crate::kuma_enum;
use crate::model::choice::Choice;
use crate::validate::violations::{Path, Violations, msg};

/// String-to-string map (labels, tags), sorted for determinism.
pub type StringMap = BTreeMap<String, String>;

/// An integer, or a decimal written as a string (Kubernetes `IntOrString`), used
/// for percentages such as `"99.5"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

impl IntOrString {
    /// The numeric value, or `None` when the string is not a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            IntOrString::Int(i) => Some(*i as f64),
            IntOrString::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
        }
    }
}

/// Kuma's `ValidatePercentage` / `ValidatePercentageOrNil` for an `IntOrString`.
pub fn validate_percentage(v: &mut Violations, path: &Path, p: Option<&IntOrString>, required: bool, allow0: bool) {
    let Some(p) = p else {
        if required {
            v.must_be_defined(path);
        }
        return;
    };
    let code = crate::findings::codes::BAD_PERCENTAGE;
    match p.as_f64() {
        None => v.add_code(code, path, msg::VALID_NUMBER),
        Some(f) if !(0.0..=100.0).contains(&f) => v.add_code(code, path, msg::PERCENTAGE_RANGE),
        Some(f) if !allow0 && f == 0.0 => v.add_code(code, path, msg::GREATER_THAN_ZERO),
        _ => {}
    }
}

kuma_enum! {
    /// How an inbound rule matches the client's SPIFFE ID.
    pub enum SpiffeIdMatchType { Exact = "Exact", Prefix = "Prefix" }
}

kuma_enum! {
    /// How an inbound rule matches the requested SNI.
    pub enum SniMatchType { Exact = "Exact" }
}

/// A client identity condition of an inbound `rules[].matches[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SpiffeIdMatch {
    #[serde(rename = "type")]
    pub type_: Choice<SpiffeIdMatchType>,
    pub value: String,
}

/// An SNI condition of an inbound `rules[].matches[]` entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SniMatch {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<SniMatchType>>,
    pub value: String,
}

/// One condition of an inbound rule (Kuma 2.13+ `rules[].matches[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Match {
    #[serde(rename = "spiffeID", skip_serializing_if = "Option::is_none")]
    pub spiffe_id: Option<SpiffeIdMatch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<SniMatch>,
}

/// Kuma's `ValidateMatch` for every entry of `matches`.
pub fn validate_matches(v: &mut Violations, path: &Path, matches: &[Match]) {
    for (i, m) in matches.iter().enumerate() {
        let p = path.index(i);
        if m.spiffe_id.is_none() && m.sni.is_none() {
            v.add(&p, "must specify at least one of 'spiffeID' or 'sni'");
        }
        if let Some(s) = &m.spiffe_id {
            let sp = p.field("spiffeID");
            v.one_of(&sp.field("type"), &s.type_);
            if let Err(reason) = check_spiffe_id(&s.value, s.type_.is(SpiffeIdMatchType::Prefix)) {
                v.add(&sp.field("value"), format!("must be a valid Spiffe ID: {reason}"));
            }
        }
        if let Some(s) = &m.sni {
            let sp = p.field("sni");
            match &s.type_ {
                None => v.must_be_defined(&sp.field("type")),
                Some(t) => v.one_of(&sp.field("type"), t),
            }
            if !is_dns1123_subdomain(&s.value) {
                v.add_code(
                    crate::findings::codes::BAD_ADDRESS,
                    &sp.field("value"),
                    "must be a valid DNS-1123 subdomain",
                );
            }
        }
    }
}

fn check_spiffe_id(value: &str, prefix: bool) -> Result<(), String> {
    let Some(rest) = value.strip_prefix("spiffe://") else {
        return Err("scheme is missing or invalid".into());
    };
    let (domain, path) = rest.split_once('/').map(|(d, p)| (d, Some(p))).unwrap_or((rest, None));
    if domain.is_empty() {
        return Err("trust domain is missing".into());
    }
    if !domain.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')) {
        return Err(
            "trust domain characters are limited to lowercase letters, numbers, dots, dashes, and underscores".into()
        );
    }
    if let Some(path) = path {
        let segments: Vec<&str> = path.split('/').collect();
        for (i, seg) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            if seg.is_empty() && !(prefix && last) {
                return Err("path cannot contain empty segments".into());
            }
            if *seg == "." || *seg == ".." {
                return Err("path cannot contain dot segments".into());
            }
            if !seg.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_')) {
                return Err(
                    "path segment characters are limited to letters, numbers, dots, dashes, and underscores".into()
                );
            }
        }
    }
    Ok(())
}

/// RFC 1123 subdomain: lowercase labels of `[a-z0-9-]`, dots between, at most 253.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

/// RFC 1035 label: like an RFC 1123 label but starting with a letter.
pub fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_subdomain(s) && !s.contains('.') && s.as_bytes()[0].is_ascii_lowercase()
}

/// Whether the section `rules` (inbound, Kuma 2.13+) has at least one entry.
pub fn non_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}
