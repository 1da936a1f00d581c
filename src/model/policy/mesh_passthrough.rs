//! MeshPassthrough (`pkg/plugins/policies/meshpassthrough/`): which destinations
//! outside the mesh a sidecar lets through (by domain, IP or CIDR), or all / none.

use std::collections::{HashMap, HashSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::findings::codes;
use crate::kuma_enum;
use crate::model::choice::Choice;
use crate::model::common::{TargetRef, TargetRefKind as K, TargetRefRules, is_dns_name, is_ip};
use crate::model::{KindSpec, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations};

/// MeshPassthrough spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshPassthrough {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// MeshPassthrough configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Conf>,
}

kuma_enum! {
    /// Passthrough behaviour: `All` and `None` ignore `appendMatch`.
    pub enum PassthroughMode { All = "All", Matched = "Matched", None = "None" }
}

kuma_enum! {
    /// What an `appendMatch` value is.
    pub enum MatchType { Domain = "Domain", Ip = "IP", Cidr = "CIDR" }
}

kuma_enum! {
    /// Protocol of the traffic to a passthrough destination.
    pub enum ProtocolType {
        Tcp = "tcp",
        Tls = "tls",
        Grpc = "grpc",
        Http = "http",
        Http2 = "http2",
        Mysql = "mysql",
    }
}

impl ProtocolType {
    /// http, http2 and grpc share one filter-chain match per port.
    fn is_l7(self) -> bool {
        matches!(self, ProtocolType::Grpc | ProtocolType::Http | ProtocolType::Http2)
    }
}

/// MeshPassthrough configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// Destinations that should be allowed through the sidecar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append_match: Option<Vec<Match>>,
    /// Passthrough behaviour: `All`, `None` or `Matched` (Kuma's default when omitted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough_mode: Option<Choice<PassthroughMode>>,
}

impl Conf {
    /// The effective mode: Kuma treats an omitted `passthroughMode` as `Matched`.
    pub fn mode(&self) -> Option<PassthroughMode> {
        match &self.passthrough_mode {
            None => Some(PassthroughMode::Matched),
            Some(m) => m.known(),
        }
    }
}

/// One allowed destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Match {
    /// Type of the match: `Domain`, `IP` or `CIDR`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<MatchType>>,
    /// The domain, IP or CIDR.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub value: Option<String>,
    /// The port the application connects to; all ports when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// The protocol (default `tcp`).
    #[serde(default = "default_protocol")]
    pub protocol: Choice<ProtocolType>,
}

fn default_protocol() -> Choice<ProtocolType> {
    Choice::Known(ProtocolType::Tcp)
}

const L7_PROTOCOLS: &str = "[grpc http http2]";

impl KindSpec for MeshPassthrough {
    fn validate(&self, _ctx: &ValidateCtx, v: &mut Violations) {
        super::validate_top(
            v,
            &self.target_ref,
            TargetRefRules { supported: &[K::Mesh, K::MeshSubset, K::Dataplane], ..Default::default() },
        );
        if let Some(conf) = &self.default {
            validate_default(v, &Path::root().field("default"), conf);
        }
    }

    fn policy(&self) -> Option<PolicyView<'_>> {
        Some(super::top_view(&self.target_ref))
    }
}

/// Kuma's `validateDefault` (2.14).
fn validate_default(v: &mut Violations, path: &Path, conf: &Conf) {
    let mut protocol_on_port: HashMap<i64, Choice<ProtocolType>> = HashMap::new();
    let mut unique_values: HashMap<(i64, String), HashSet<&str>> = HashMap::new();
    for (i, m) in conf.append_match.iter().flatten().enumerate() {
        let p = path.field("appendMatch").index(i);
        let value = m.value.as_deref().unwrap_or_default();
        let protocol = m.protocol.known();
        let l7 = protocol.is_some_and(ProtocolType::is_l7);
        if protocol == Some(ProtocolType::Mysql) && m.port.is_none() {
            v.add_code(codes::BAD_PORT, &p.field("port"), "port must be defined for Mysql protocol");
        }
        if let Some(port) = m.port {
            v.port(&p.field("port"), Some(port));
            match protocol_on_port.get(&port) {
                Some(existing) if *existing != m.protocol && l7 => v.add(
                    &p.field("port"),
                    format!("using the same port in multiple matches requires the same protocol for the following protocols: {L7_PROTOCOLS}"),
                ),
                _ => {
                    protocol_on_port.insert(port, m.protocol.clone());
                }
            }
            if !unique_values.entry((port, m.protocol.raw())).or_default().insert(value) {
                v.add(&p.field("value"), format!("value {value} is already defiend for this port and protocol"));
            }
        }
        v.one_of(&p.field("protocol"), &m.protocol);
        match m.type_.as_ref().and_then(Choice::known) {
            Some(MatchType::Cidr) => {
                if !is_cidr(value) {
                    v.add_code(codes::BAD_ADDRESS, &p.field("value"), "provided CIDR has incorrect value");
                }
            }
            Some(MatchType::Ip) => {
                if !is_ip(value) {
                    v.add_code(codes::BAD_ADDRESS, &p.field("value"), "provided IP has incorrect value");
                }
            }
            Some(MatchType::Domain) => validate_domain(v, &p, m, value, l7),
            None => {
                let raw = m.type_.as_ref().map(Choice::raw).unwrap_or_default();
                v.add(
                    &p.field("type"),
                    format!("provided type {raw} is not supported, one of Domain, IP, or CIDR is supported"),
                );
            }
        }
    }
}

fn validate_domain(v: &mut Violations, p: &Path, m: &Match, value: &str, l7: bool) {
    if matches!(m.protocol.known(), Some(ProtocolType::Tcp | ProtocolType::Mysql)) {
        v.add(&p.field("protocol"), format!("protocol {} is not supported for a domain", m.protocol.raw()));
    }
    // Kuma's `^\*[^.]+`: a wildcard not followed by a dot.
    let mut chars = value.chars();
    if chars.next() == Some('*') && chars.next().is_some_and(|c| c != '.') {
        v.add_code(
            codes::BAD_ADDRESS,
            &p.field("value"),
            "provided DNS has incorrect value, partial wildcard is currently not supported",
        );
    }
    if m.port.is_none() && value.starts_with('*') && l7 {
        v.add(&p.field("port"), "wildcard domains doesn't work for all ports and layer 7 protocol");
    }
    let to_check = value.strip_prefix("*.").unwrap_or(value);
    if !to_check.starts_with('*') && !is_dns_name(to_check) {
        v.add_code(codes::BAD_ADDRESS, &p.field("value"), "provided DNS has incorrect value");
    }
}

/// Go's `net.ParseCIDR` (as `govalidator.IsCIDR` uses it).
fn is_cidr(s: &str) -> bool {
    let Some((addr, bits)) = s.split_once('/') else { return false };
    let Ok(ip) = addr.parse::<std::net::IpAddr>() else { return false };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit()) && bits.parse::<u32>().is_ok_and(|b| b <= max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{self, meta, run_kuma_fixtures, sorted};
    use crate::model::{Kind, PolicyRole};

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        sorted(testing::check::<MeshPassthrough>(&meta(Kind::MeshPassthrough, "test"), PolicyRole::System, spec))
    }

    #[test]
    fn kuma_fixtures() {
        run_kuma_fixtures("pkg/plugins/policies/meshpassthrough/api/v1alpha1/testdata", 2, |_, spec| check(spec));
    }

    #[test]
    fn protocol_defaults_to_tcp() {
        // The schema default makes a Domain match without protocol invalid, as in Kuma.
        assert_eq!(
            check(
                serde_json::json!({"default": {"appendMatch": [{"type": "Domain", "value": "example.com", "port": 443}]}})
            ),
            [("spec.default.appendMatch[0].protocol".into(), "protocol tcp is not supported for a domain".into())]
        );
        let s: MeshPassthrough = serde_json::from_value(
            serde_json::json!({"default": {"appendMatch": [{"type": "IP", "value": "1.1.1.1"}]}}),
        )
        .unwrap();
        let conf = s.default.unwrap();
        assert_eq!(conf.append_match.unwrap()[0].protocol, Choice::Known(ProtocolType::Tcp));
        assert_eq!(s.target_ref, None);
    }

    #[test]
    fn top_level_kinds() {
        assert_eq!(
            check(
                serde_json::json!({"targetRef": {"kind": "MeshService", "name": "x"}, "default": {"passthroughMode": "All"}})
            ),
            [("spec.targetRef.kind".into(), "value 'MeshService' is not supported".into())]
        );
        assert!(
            check(serde_json::json!({"targetRef": {"kind": "MeshSubset", "tags": {"a": "b"}}, "default": {}}))
                .is_empty()
        );
        assert!(is_cidr("10.0.0.0/8") && is_cidr("fd00::/64") && !is_cidr("1.2.3.4") && !is_cidr("1.2.3.4/33"));
    }
}
