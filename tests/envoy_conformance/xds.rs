//! meshc's Envoy bootstrap in the shape of Kuma's goldens, and the normalizations
//! both sides go through before any value is compared.
//!
//! Kuma's goldens hold `{"xds": {<type URL>: {<resource name>: resource}}}` in
//! proto3 JSON (camelCase, defaults left out), with IPs, admin addresses and every
//! `statPrefix` redacted. meshc writes one static bootstrap in proto3 JSON with
//! the proto field names (snake_case). The conversion goes through prost-reflect
//! and meshc's own descriptor set (never by renaming keys by hand: map keys such as
//! `route_kri` or `envoy.lb` must stay as they are).

use std::net::IpAddr;

use prost_reflect::DynamicMessage;
use serde_json::{Map, Value};

pub const CLUSTER: &str = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
pub const LISTENER: &str = "type.googleapis.com/envoy.config.listener.v3.Listener";
pub const LOAD_ASSIGNMENT: &str = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
pub const SECRET: &str = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// The short name of a type URL, for messages (`Listener`, `Cluster`, ...).
pub fn short_type(type_url: &str) -> &str {
    type_url.rsplit('.').next().unwrap_or(type_url)
}

/// meshc's bootstrap (as read from `bootstrap.yaml`) as Kuma's `xds` map, redacted
/// and normalized like the goldens.
///
/// Shape differences bridged here (none of them is a policy matter):
/// - meshc's clusters are `STATIC` with an inline `load_assignment`; Kuma's mesh
///   clusters are `EDS` with a separate `ClusterLoadAssignment` resource. Every
///   inline assignment is also presented as a `ClusterLoadAssignment` of the
///   cluster's name, so paths into Kuma's EDS resources find ours.
/// - meshc has no SDS resources (secrets are files); the `Secret` type is empty.
pub fn of_bootstrap(bootstrap: &Value) -> Result<Value, String> {
    let pool = meshc::emit::descriptor::pool()?;
    let descriptor = pool
        .get_message_by_name("envoy.config.bootstrap.v3.Bootstrap")
        .ok_or("Bootstrap is not in meshc's descriptor set")?;
    let message = DynamicMessage::deserialize(descriptor, bootstrap.clone()).map_err(|e| format!("bootstrap: {e}"))?;
    // Default options: JSON (camelCase) names, default values left out, 64-bit
    // integers as strings: what Go's protojson writes in Kuma's goldens.
    let camel = serde_json::to_value(&message).map_err(|e| format!("bootstrap: {e}"))?;
    let statics = &camel["staticResources"];
    let mut clusters = Map::new();
    let mut assignments = Map::new();
    for cluster in statics["clusters"].as_array().into_iter().flatten() {
        let name = redact_name(cluster["name"].as_str().unwrap_or_default());
        if let Some(la) = cluster.get("loadAssignment") {
            assignments.insert(name.clone(), la.clone());
        }
        clusters.insert(name, cluster.clone());
    }
    let mut listeners = Map::new();
    for listener in statics["listeners"].as_array().into_iter().flatten() {
        listeners.insert(redact_name(listener["name"].as_str().unwrap_or_default()), listener.clone());
    }
    let mut xds = Map::new();
    xds.insert(CLUSTER.into(), Value::Object(clusters));
    xds.insert(LOAD_ASSIGNMENT.into(), Value::Object(assignments));
    xds.insert(LISTENER.into(), Value::Object(listeners));
    xds.insert(SECRET.into(), Value::Object(Map::new()));
    let mut xds = Value::Object(xds);
    redact(&mut xds);
    normalize(&mut xds);
    Ok(xds)
}

/// Kuma's redaction, applied to ours: a string that is an IP address becomes
/// `IP_REDACTED` (so does the address inside a listener name such as
/// `inbound:10.0.0.1:80`), and every `statPrefix` becomes `STAT_PREFIX_REDACTED`
/// (the goldens redact all of them).
fn redact(v: &mut Value) {
    match v {
        Value::String(s) => *s = redact_name(s),
        Value::Array(a) => a.iter_mut().for_each(redact),
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if k == "statPrefix" {
                    *child = Value::String("STAT_PREFIX_REDACTED".into());
                } else {
                    redact(child);
                }
            }
        }
        _ => {}
    }
}

/// `10.0.0.1` -> `IP_REDACTED`; `inbound:10.0.0.1:80` -> `inbound:IP_REDACTED:80`
/// (also `[::1]`); anything else unchanged.
fn redact_name(s: &str) -> String {
    if is_ip(s) {
        return "IP_REDACTED".into();
    }
    for prefix in ["inbound:", "outbound:"] {
        if let Some(rest) = s.strip_prefix(prefix)
            && let Some((addr, port)) = rest.rsplit_once(':')
            && port.chars().all(|c| c.is_ascii_digit())
            && is_ip(addr.trim_start_matches('[').trim_end_matches(']'))
        {
            return format!("{prefix}IP_REDACTED:{port}");
        }
    }
    s.to_string()
}

fn is_ip(s: &str) -> bool {
    s.parse::<IpAddr>().is_ok()
}

/// Normalizations both sides go through, each a difference of spelling or of
/// delivery mechanism, never of behaviour:
/// - durations: every string that parses as a duration (`240s`, `4m`, `0.5s`)
///   becomes its value in nanoseconds, so Go's and prost-reflect's spellings agree;
/// - numbers: a whole float (`20.0`, prost-reflect's spelling of a double) is
///   written as the integer Go's protojson writes (`20`);
/// - `sdsConfig`: Kuma delivers secrets over ADS (`{ads: {}}`), meshc from files
///   (`pathConfigSource`); the secret's `name` beside it is still compared.
pub fn normalize(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Some(ns) = duration_nanos(s) {
                *s = format!("{ns}ns");
            }
        }
        Value::Number(n) => {
            if let Some(f) = n.as_f64().filter(|f| !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 1e15) {
                *n = serde_json::Number::from(f as i64);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        Value::Object(o) => {
            for (k, child) in o.iter_mut() {
                if k == "sdsConfig" {
                    *child = Value::String("SDS_CONFIG".into());
                } else {
                    normalize(child);
                }
            }
        }
        _ => {}
    }
}

/// A duration string (`5s`, `1m30s`, `0.100s`: Go's syntax, which covers proto3
/// JSON's) in nanoseconds. Only strings that start with a digit and end with a
/// unit letter are candidates, so names and numbers stay as they are.
fn duration_nanos(s: &str) -> Option<u128> {
    if !s.starts_with(|c: char| c.is_ascii_digit()) || !s.ends_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    meshc::model::common::parse_go_duration(s).and_then(|n| u128::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_of_both_spellings_agree() {
        assert_eq!(duration_nanos("240s"), duration_nanos("4m"));
        assert_eq!(duration_nanos("0.5s"), duration_nanos("500ms"));
        assert_eq!(duration_nanos("0s"), Some(0));
        assert_eq!(duration_nanos("5xx"), None);
        assert_eq!(duration_nanos("v1"), None);
    }

    #[test]
    fn names_are_redacted_like_the_goldens() {
        assert_eq!(redact_name("inbound:10.0.0.1:80"), "inbound:IP_REDACTED:80");
        assert_eq!(redact_name("outbound:[::1]:80"), "outbound:IP_REDACTED:80");
        assert_eq!(redact_name("inbound:passthrough:ipv4"), "inbound:passthrough:ipv4");
        assert_eq!(redact_name("::6"), "IP_REDACTED");
        assert_eq!(redact_name("localhost:8080"), "localhost:8080");
    }
}
