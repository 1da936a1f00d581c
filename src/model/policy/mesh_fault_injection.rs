//! MeshFaultInjection (`pkg/plugins/policies/meshfaultinjection/`): HTTP aborts,
//! delays and response bandwidth limits. Sidecars are configured inbound (`from`,
//! `rules`); gateways through `to`.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::{From, To};
use crate::findings::codes;
use crate::model::common::{
    Duration, IntOrString, Match, TargetRef, TargetRefKind as K, TargetRefRules, non_empty, validate_matches,
    validate_percentage, validate_status_code, validate_target_ref,
};
use crate::model::{KindSpec, PolicyRole, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// MeshFaultInjection spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshFaultInjection {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// Faults injected by gateways (only when the scope selects gateways).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<To<Conf>>>,
    /// Inbound faults per group of clients (deprecated in favour of `rules`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<From<Conf>>>,
    /// Inbound faults; `matches` narrows a rule to some clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Rule>>,
}

/// A `rules[]` item.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Rule {
    /// Client identities this rule applies to; all clients when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<Match>>,
    /// The faults to inject.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub default: Option<Conf>,
}

/// Fault injection configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// HTTP faults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Vec<FaultInjection>>,
}

/// One HTTP fault.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct FaultInjection {
    /// Answer some requests with an HTTP status instead of forwarding them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub abort: Option<Abort>,
    /// Delay some responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delay: Option<Delay>,
    /// Limit the bandwidth of some responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_bandwidth: Option<ResponseBandwidth>,
}

/// Abort fault.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Abort {
    /// HTTP status code returned to the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub http_status: Option<i64>,
    /// Percentage of requests aborted (0-100, integer or decimal string).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub percentage: Option<IntOrString>,
}

/// Delay fault.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Delay {
    /// Percentage of requests delayed (0-100, integer or decimal string).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub percentage: Option<IntOrString>,
    /// How long the response is delayed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub value: Option<Duration>,
}

/// Response bandwidth limit fault.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ResponseBandwidth {
    /// Bandwidth limit in Gbps, Mbps or kbps, e.g. `10kbps`.
    #[serde(default, deserialize_with = "string_or_number", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub limit: Option<String>,
    /// Percentage of requests limited (0-100, integer or decimal string).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub percentage: Option<IntOrString>,
}

/// A string where a YAML number (`limit: 1000`) is read as its text, so the
/// validator can report the missing unit.
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(serde::de::Error::custom(format!("expected a string, got {other}"))),
    }
}

const FROM_WITH_GATEWAY: &str = "must not be defined when the scope includes a Gateway, exclude non-gateway resources or select only gateways and use spec.to";

impl KindSpec for MeshFaultInjection {
    fn validate(&self, ctx: &ValidateCtx, v: &mut Violations) {
        let root = Path::root();
        if non_empty(&self.rules) && non_empty(&self.from) {
            super::sections_message(v, "field 'from' must be empty when 'rules' is defined");
        }
        let inbound = non_empty(&self.from) || non_empty(&self.rules);
        let rules = if ctx.role == PolicyRole::System {
            TargetRefRules {
                supported: &[
                    K::Mesh,
                    K::MeshSubset,
                    K::MeshGateway,
                    K::MeshService,
                    K::MeshServiceSubset,
                    K::Dataplane,
                ],
                gateway_listener_tags: true,
                inbound_policy: inbound,
                ..Default::default()
            }
        } else {
            TargetRefRules {
                supported: &[K::Mesh, K::MeshSubset, K::MeshService, K::MeshServiceSubset, K::Dataplane],
                inbound_policy: inbound,
                ..Default::default()
            }
        };
        super::validate_top(v, &self.target_ref, rules);
        let gateways = super::includes_gateways(&self.target_ref);

        if non_empty(&self.from) && gateways {
            v.add_code(codes::POLICY_SECTIONS, &root.field("from"), FROM_WITH_GATEWAY);
        } else {
            for (i, item) in self.from.iter().flatten().enumerate() {
                let p = root.field("from").index(i);
                let rules = TargetRefRules {
                    supported: &[K::Mesh, K::MeshSubset, K::MeshServiceSubset, K::MeshService],
                    ..Default::default()
                };
                validate_target_ref(v, &p.field("targetRef"), &item.target_ref, &rules);
                validate_conf(v, &p.field("default"), item.default.as_ref());
            }
        }

        if non_empty(&self.to) && !gateways {
            v.add_code(codes::POLICY_SECTIONS, &root.field("to"), msg::MUST_NOT_BE_DEFINED);
        } else {
            for (i, item) in self.to.iter().flatten().enumerate() {
                let p = root.field("to").index(i);
                let rules = TargetRefRules { supported: &[K::Mesh], ..Default::default() };
                validate_target_ref(v, &p.field("targetRef"), &item.target_ref, &rules);
                validate_conf(v, &p.field("default"), item.default.as_ref());
            }
        }

        for (i, rule) in self.rules.iter().flatten().enumerate() {
            let p = root.field("rules").index(i);
            if let Some(m) = &rule.matches {
                validate_matches(v, &p.field("matches"), m);
            }
            validate_conf(v, &p.field("default"), rule.default.as_ref());
        }
    }

    fn policy(&self) -> Option<PolicyView<'_>> {
        let mut view = super::view::<Conf, Conf, ()>(
            &self.target_ref,
            self.to.as_deref(),
            self.from.as_deref(),
            None::<&[super::Rule<()>]>,
        );
        view.rules = self.rules.as_ref().map_or(0, Vec::len);
        Some(view)
    }
}

/// Kuma's `ValidateBandwidth`: `^(\d*)\s?([GMk]+bps)$`.
fn is_bandwidth(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &s[digits..];
    let rest = rest.strip_prefix([' ', '\t', '\n', '\r', '\u{c}']).unwrap_or(rest);
    let Some(units) = rest.strip_suffix("bps") else {
        return false;
    };
    !units.is_empty() && units.bytes().all(|b| matches!(b, b'G' | b'M' | b'k'))
}

/// A limit Kuma's pattern accepts but Envoy cannot take: zero (`0kbps`, `kbps`:
/// Envoy's `limit_kbps` is at least 1) or a repeated unit (`kMbps`), which has no
/// kbps value.
fn bandwidth_unusable(s: &str) -> bool {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    let unit = s[digits..].trim_start();
    s[..digits].bytes().all(|b| b == b'0') || !matches!(unit, "kbps" | "Mbps" | "Gbps")
}

fn validate_conf(v: &mut Violations, path: &Path, conf: Option<&Conf>) {
    let path = path.field("http");
    // Kuma reads a missing percentage as 0, which is allowed.
    for (i, fault) in conf.and_then(|c| c.http.as_ref()).into_iter().flatten().enumerate() {
        // Kuma's paths (`http.abort[i]`) name no field of the document; meshc's own
        // rules use the real one (`http[i].abort`) so findings point at the line.
        let real = path.index(i);
        if let Some(abort) = &fault.abort {
            let p = path.field("abort").index(i);
            let status = abort.http_status.unwrap_or(0);
            validate_status_code(v, &p.field("httpStatus"), status);
            // Kuma allows 1xx; Envoy's abort status must be in [200, 600).
            if (100..200).contains(&status) {
                v.add_code(
                    codes::ENVOY_REJECTS,
                    &real.field("abort").field("httpStatus"),
                    "must be in inclusive range [200, 599] (Envoy cannot abort with an informational status)",
                );
            }
            validate_percentage(v, &p.field("percentage"), abort.percentage.as_ref(), false, true);
        }
        if let Some(delay) = &fault.delay {
            let p = path.field("delay").index(i);
            v.duration_not_negative(&p.field("value"), delay.value.as_ref());
            // Kuma allows 0s; Envoy's fixed delay must be greater than zero.
            if delay.value.as_ref().and_then(Duration::nanos) == Some(0) {
                let vp = real.field("delay").field("value");
                v.add_code(codes::ENVOY_REJECTS, &vp, "must be greater than 0 (Envoy refuses a 0s delay)");
            }
            validate_percentage(v, &p.field("percentage"), delay.percentage.as_ref(), false, true);
        }
        if let Some(bw) = &fault.response_bandwidth {
            let p = path.field("responseBandwidth").index(i);
            // Kuma reports the limit at `responseBandwidth[i].responseBandwidth`.
            let lp = p.field("responseBandwidth");
            match bw.limit.as_deref() {
                None | Some("") => v.must_be_defined(&lp),
                Some(l) if !is_bandwidth(l) => v.add(&lp, msg::BPS_UNIT),
                Some(l) if bandwidth_unusable(l) => v.add_code(
                    codes::ENVOY_REJECTS,
                    &real.field("responseBandwidth").field("limit"),
                    "must be a positive number of kbps, Mbps or Gbps (Envoy's limit is at least 1kbps)",
                ),
                Some(_) => {}
            }
            validate_percentage(v, &p.field("percentage"), bw.percentage.as_ref(), false, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{self, meta, pairs};
    use crate::model::{Kind, PolicyRole};

    fn check_as(spec: serde_json::Value, role: PolicyRole) -> Vec<(String, String)> {
        testing::check::<MeshFaultInjection>(&meta(Kind::MeshFaultInjection, "fi1"), role, spec)
    }

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        check_as(spec, PolicyRole::System)
    }

    fn from_backend(http: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"targetRef": {"kind": "MeshService", "name": "backend"},
            "from": [{"targetRef": {"kind": "MeshService", "name": "web-backend"}, "default": {"http": http}}]})
    }

    #[test]
    fn valid_examples() {
        let full = from_backend(serde_json::json!([
            {"abort": {"httpStatus": 503, "percentage": 50}, "delay": {"value": "10s", "percentage": 5}},
            {"delay": {"value": "5s", "percentage": 5}},
            {"responseBandwidth": {"limit": "100Mbps", "percentage": 5}},
            {"abort": {"httpStatus": 500, "percentage": "50.5"}}
        ]));
        assert_eq!(check(full), pairs(&[]));
        assert_eq!(check(from_backend(serde_json::json!([]))), pairs(&[]));
        let gw = serde_json::json!({"targetRef": {"kind": "Mesh", "proxyTypes": ["Gateway"]},
            "to": [{"targetRef": {"kind": "Mesh"}, "default": {"http": []}}]});
        assert_eq!(check(gw), pairs(&[]));
        let rules = serde_json::json!({"targetRef": {"kind": "Mesh"}, "rules": [{
            "matches": [{"sni": {"type": "Exact", "value": "sni.extsvc.default.zone-1.aws-aurora.8443"}}],
            "default": {"http": [{"responseBandwidth": {"limit": "1000Mbps", "percentage": 50}}]}}]});
        assert_eq!(check(rules), pairs(&[]));
    }

    #[test]
    fn incorrect_values() {
        let spec = from_backend(serde_json::json!([
            {"abort": {"httpStatus": 677, "percentage": 111}},
            {"delay": {"value": "-5s", "percentage": 1111}},
            {"responseBandwidth": {"limit": 1000, "percentage": 1111}}
        ]));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.from[0].default.http.abort[0].httpStatus", "must be in inclusive range [100, 599]"),
                ("spec.from[0].default.http.abort[0].percentage", "must be in inclusive range [0.0, 100.0]"),
                ("spec.from[0].default.http.delay[1].value", "must not be negative when defined"),
                ("spec.from[0].default.http.delay[1].percentage", "must be in inclusive range [0.0, 100.0]"),
                ("spec.from[0].default.http.responseBandwidth[2].responseBandwidth", "must be in kbps/Mbps/Gbps units"),
                (
                    "spec.from[0].default.http.responseBandwidth[2].percentage",
                    "must be in inclusive range [0.0, 100.0]"
                ),
            ])
        );
    }

    #[test]
    fn empty_values() {
        let spec =
            from_backend(serde_json::json!([{"abort": {}}, {"delay": {}}, {"responseBandwidth": {"limit": 1000}}]));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.from[0].default.http.abort[0].httpStatus", "must be in inclusive range [100, 599]"),
                ("spec.from[0].default.http.responseBandwidth[2].responseBandwidth", "must be in kbps/Mbps/Gbps units"),
            ])
        );
    }

    #[test]
    fn section_name_with_outbound_policy() {
        let spec = serde_json::json!({"targetRef": {"kind": "Dataplane", "sectionName": "test"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "web-backend"}, "default": {"http": [{"abort": {}}]}}]});
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.targetRef.sectionName", "can only be used with inbound policies"),
                ("spec.to", "must not be defined"),
            ])
        );
    }

    #[test]
    fn incorrect_percentage() {
        let spec = from_backend(serde_json::json!([{"responseBandwidth": {"limit": 1000, "percentage": "xyz"}}]));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.from[0].default.http.responseBandwidth[0].responseBandwidth", "must be in kbps/Mbps/Gbps units"),
                ("spec.from[0].default.http.responseBandwidth[0].percentage", "string must be a valid number"),
            ])
        );
    }

    #[test]
    fn mesh_gateway_and_target_refs() {
        let abort = serde_json::json!({"http": [{"abort": {"httpStatus": 503, "percentage": 50}}]});
        let spec = serde_json::json!({"targetRef": {"kind": "MeshGateway", "name": "edge"},
            "to": [{"targetRef": {"kind": "Mesh"}, "default": abort},
                   {"targetRef": {"kind": "MeshService", "name": "backend"}, "default": abort}],
            "from": [{"targetRef": {"kind": "Mesh"}, "default": abort}]});
        assert_eq!(
            check(spec.clone()),
            pairs(&[
                ("spec.from", FROM_WITH_GATEWAY),
                ("spec.to[1].targetRef.kind", "value 'MeshService' is not supported")
            ])
        );
        assert_eq!(
            check_as(spec, PolicyRole::WorkloadOwner),
            pairs(&[
                ("spec.targetRef.kind", "value 'MeshGateway' is not supported"),
                ("spec.from", FROM_WITH_GATEWAY),
                ("spec.to[1].targetRef.kind", "value 'MeshService' is not supported"),
            ])
        );
    }

    #[test]
    fn rules() {
        let spec = serde_json::json!({"targetRef": {"kind": "Mesh"}, "rules": [{"default": {"http": [
            {"abort": {"httpStatus": 677, "percentage": 111}}]}}]});
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.rules[0].default.http.abort[0].httpStatus", "must be in inclusive range [100, 599]"),
                ("spec.rules[0].default.http.abort[0].percentage", "must be in inclusive range [0.0, 100.0]"),
            ])
        );
        let spec = serde_json::json!({"targetRef": {"kind": "Mesh", "proxyTypes": ["Sidecar"]},
            "from": [{"targetRef": {"kind": "Mesh"}, "default": {"http": []}}],
            "rules": [{"matches": [{}], "default": {"http": []}}]});
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec", "field 'from' must be empty when 'rules' is defined"),
                ("spec.rules[0].matches[0]", "must specify at least one of 'spiffeID' or 'sni'"),
            ])
        );
    }

    #[test]
    fn bandwidth_units() {
        for ok in ["100Mbps", "10kbps", "1 Gbps", "Mbps"] {
            assert!(is_bandwidth(ok), "{ok}");
        }
        for bad in ["1000", "10mbps", "10 bps", "10  Mbps", "x10Mbps"] {
            assert!(!is_bandwidth(bad), "{bad}");
        }
    }
}
