//! MeshRateLimit (`pkg/plugins/policies/meshratelimit/`): local HTTP and TCP rate
//! limits. Sidecars are configured inbound (`from`, `rules`); gateways through `to`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{From, Rule, To};
use crate::findings::codes;
use crate::model::common::envoy_limits;
use crate::model::common::{
    Duration, TargetRef, TargetRefKind as K, TargetRefRules, non_empty, validate_greater_than_zero_or_nil,
    validate_matches, validate_target_ref,
};
use crate::model::{KindSpec, PolicyRole, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// MeshRateLimit spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshRateLimit {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// Rate limits applied by gateways (only when the scope selects gateways).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<To<Conf>>>,
    /// Inbound rate limits per group of clients (deprecated in favour of `rules`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<From<Conf>>>,
    /// Inbound rate limits; `matches` narrows a rule to some clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Rule<Conf>>>,
}

/// Rate limit configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// Local (per proxy) HTTP and/or TCP rate limits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local: Option<Local>,
}

/// Local rate limits.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Local {
    /// Local HTTP rate limiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<LocalHttp>,
    /// Local TCP rate limiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<LocalTcp>,
}

/// Local HTTP rate limiting.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct LocalHttp {
    /// Disables rate limiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Actions taken on a rate limit event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_rate_limit: Option<OnRateLimit>,
    /// How many requests are allowed per interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_rate: Option<Rate>,
}

/// Local TCP rate limiting.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct LocalTcp {
    /// How many connections are allowed per interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_rate: Option<Rate>,
    /// Disables rate limiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
}

/// A number of units (requests, connections) per interval.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Rate {
    /// The interval the number of units is accounted for (more than 50ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub interval: Option<Duration>,
    /// Number of units per interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub num: Option<i64>,
}

/// Actions taken on a rate limit event.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct OnRateLimit {
    /// Headers added to the HTTP response on a rate limit event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<HeaderModifier>,
    /// HTTP status code returned on a rate limit event.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i64>,
}

/// Headers to add to a response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HeaderModifier {
    /// Headers appended to existing values.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub add: Option<Vec<HeaderValue>>,
    /// Headers replacing existing values.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub set: Option<Vec<HeaderValue>>,
}

/// A header name and value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HeaderValue {
    /// Header name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required, length(min = 1, max = 256), regex(pattern = r"^[a-z0-9!#$%&'*+\-.^_\x60|~]+$"))]
    pub name: Option<String>,
    /// Header value.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub value: Option<String>,
}

const FROM_WITH_GATEWAY: &str = "must not be defined when the scope includes a Gateway, select only proxyType Sidecar or select only gateways and use spec.to";
const SPIFFE_MSG: &str =
    "can't be specified when matches contain spiffeID because this field cannot be conditioned on source identity";

impl KindSpec for MeshRateLimit {
    fn validate(&self, ctx: &ValidateCtx, v: &mut Violations) {
        let root = Path::root();
        if non_empty(&self.rules) && (non_empty(&self.to) || non_empty(&self.from)) {
            super::sections_message(v, "fields 'to' and 'from' must be empty when 'rules' is defined");
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
                    K::MeshHTTPRoute,
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
        let top = super::top_kind(&self.target_ref);

        // rules
        if non_empty(&self.rules) && (gateways || top == Some(K::MeshHTTPRoute)) {
            v.add_code(codes::POLICY_SECTIONS, &root.field("rules"), msg::MUST_NOT_BE_DEFINED);
        } else {
            for (i, rule) in self.rules.iter().flatten().enumerate() {
                let p = root.field("rules").index(i);
                let matches = rule.matches.as_deref().unwrap_or_default();
                validate_matches(v, &p.field("matches"), matches);
                if matches.iter().any(|m| m.spiffe_id.is_some())
                    && rule.default.as_ref().and_then(|d| d.local.as_ref()).is_some_and(|l| l.tcp.is_some())
                {
                    v.add(&p.field("default").field("local").field("tcp"), SPIFFE_MSG);
                }
                validate_conf(v, &p.field("default"), rule.default.as_ref());
            }
        }

        // from
        if non_empty(&self.from) && gateways {
            v.add_code(codes::POLICY_SECTIONS, &root.field("from"), FROM_WITH_GATEWAY);
        } else if non_empty(&self.from) && top == Some(K::MeshHTTPRoute) {
            v.add_code(
                codes::POLICY_SECTIONS,
                &root.field("from"),
                "must not be defined when spec.kind is MeshHTTPRoute",
            );
        } else {
            for (i, item) in self.from.iter().flatten().enumerate() {
                let p = root.field("from").index(i);
                let rules = TargetRefRules { supported: &[K::Mesh], ..Default::default() };
                validate_target_ref(v, &p.field("targetRef"), &item.target_ref, &rules);
                validate_conf(v, &p.field("default"), item.default.as_ref());
            }
        }

        // to
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
    }

    fn policy(&self) -> Option<PolicyView<'_>> {
        Some(super::view(&self.target_ref, self.to.as_deref(), self.from.as_deref(), self.rules.as_deref()))
    }
}

fn validate_conf(v: &mut Violations, path: &Path, conf: Option<&Conf>) {
    let path = path.field("local");
    let Some(local) = conf.and_then(|c| c.local.as_ref()) else {
        v.must_be_defined(&path);
        return;
    };
    if local.tcp.is_none() && local.http.is_none() {
        v.add_code(codes::KUMA_REQUIRED, &path, msg::must_have_at_least_one(&["tcp", "http"]));
    }
    if let Some(http) = &local.http {
        let p = path.field("http");
        if http.disabled.is_none() && http.request_rate.is_none() && http.on_rate_limit.is_none() {
            v.add_code(
                codes::KUMA_REQUIRED,
                &p,
                msg::must_have_at_least_one(&["disabled", "requestRate", "onRateLimit"]),
            );
        } else {
            if let Some(rate) = &http.request_rate {
                validate_rate(v, &p.field("requestRate"), rate);
            }
            if let Some(on) = &http.on_rate_limit {
                let op = p.field("onRateLimit");
                validate_greater_than_zero_or_nil(v, &op.field("status"), on.status);
                if let Some(status) = on.status.filter(|s| *s > 0) {
                    envoy_limits::validate_envoy_status(v, &op.field("status"), status);
                }
                if let Some(h) = &on.headers {
                    let hp = op.field("headers");
                    for (section, items) in [("set", &h.set), ("add", &h.add)] {
                        for (i, kv) in items.iter().flatten().enumerate() {
                            let ip = hp.field(section).index(i);
                            envoy_limits::validate_modifiable_header(
                                v,
                                &ip.field("name"),
                                kv.name.as_deref().unwrap_or(""),
                            );
                            envoy_limits::validate_header_value(
                                v,
                                &ip.field("value"),
                                kv.value.as_deref().unwrap_or(""),
                            );
                        }
                    }
                }
            }
        }
    }
    if let Some(tcp) = &local.tcp {
        let p = path.field("tcp");
        if tcp.disabled.is_none() && tcp.connection_rate.is_none() {
            v.add_code(codes::KUMA_REQUIRED, &p, msg::must_have_at_least_one(&["disabled", "connectionRate"]));
        } else if let Some(rate) = &tcp.connection_rate {
            validate_rate(v, &p.field("connectionRate"), rate);
        }
    }
}

/// `num` > 0 and `interval` > 50ms (Kuma reads a missing value as zero).
fn validate_rate(v: &mut Violations, path: &Path, rate: &Rate) {
    match rate.num.unwrap_or(0) {
        n if n <= 0 => v.add(&path.field("num"), msg::GREATER_THAN_ZERO),
        n => envoy_limits::validate_u32(v, &path.field("num"), n),
    }
    let ip = path.field("interval");
    match rate.interval.as_ref().map(|d| (d, d.nanos())) {
        Some((d, None)) => v.add_code(
            codes::BAD_DURATION,
            &ip,
            format!("{:?} is not a valid duration (examples: 10s, 1m30s, 500ms)", d.as_str()),
        ),
        Some((_, Some(n))) if n > 50_000_000 => {}
        _ => v.add_code(codes::BAD_DURATION, &ip, "must be greater than: 50ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{self, meta, pairs};
    use crate::model::{Kind, PolicyRole};

    fn check_as(spec: serde_json::Value, role: PolicyRole) -> Vec<(String, String)> {
        testing::check::<MeshRateLimit>(&meta(Kind::MeshRateLimit, "mrl"), role, spec)
    }

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        check_as(spec, PolicyRole::System)
    }

    fn from_mesh(default: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"targetRef": {"kind": "MeshService", "name": "web-frontend"},
            "from": [{"targetRef": {"kind": "Mesh"}, "default": default}]})
    }

    fn both_rates() -> serde_json::Value {
        serde_json::json!({"local": {
            "http": {"requestRate": {"num": 100, "interval": "10s"}},
            "tcp": {"connectionRate": {"num": 100, "interval": "100ms"}}}})
    }

    #[test]
    fn valid_examples() {
        // Kuma's example has status 123, which Envoy's StatusCode enum lacks (MESH3011).
        let full = from_mesh(serde_json::json!({"local": {
            "http": {"disabled": false, "requestRate": {"num": 100, "interval": "10s"},
                     "onRateLimit": {"status": 429, "headers": {"add": [{"name": "test", "value": "123"}]}}},
            "tcp": {"disabled": false, "connectionRate": {"num": 100, "interval": "100ms"}}}}));
        assert_eq!(check(full), pairs(&[]));
        assert_eq!(
            check(from_mesh(serde_json::json!({"local": {"http": {"disabled": true}, "tcp": {"disabled": true}}}))),
            pairs(&[])
        );
        let gw = serde_json::json!({"targetRef": {"kind": "MeshGateway", "name": "edge"},
            "to": [{"targetRef": {"kind": "Mesh"}, "default": both_rates()}]});
        assert_eq!(check(gw), pairs(&[]));
        let route = serde_json::json!({"targetRef": {"kind": "MeshHTTPRoute", "name": "http-route-1"},
            "to": [{"targetRef": {"kind": "Mesh"}, "default": both_rates()}]});
        assert_eq!(check(route), pairs(&[]));
        let sni = serde_json::json!({"targetRef": {"kind": "Dataplane"}, "rules": [{
            "matches": [{"sni": {"type": "Exact", "value": "backend.mesh"}}],
            "default": {"local": {"http": {"requestRate": {"num": 100, "interval": "10s"}}}}}]});
        assert_eq!(check(sni), pairs(&[]));
    }

    #[test]
    fn unsupported_from_kinds() {
        let spec = serde_json::json!({"targetRef": {"kind": "MeshService", "name": "web-frontend"},
            "from": [{"targetRef": {"kind": "MeshGatewayRoute"}, "default": {"local": {"http": {"requestRate": {"num": 10, "interval": "10s"}}}}}]});
        assert_eq!(check(spec), pairs(&[("spec.from[0].targetRef.kind", "value 'MeshGatewayRoute' is not supported")]));
        let spec = serde_json::json!({"targetRef": {"kind": "MeshService", "name": "web-frontend"},
            "from": [{"targetRef": {"kind": "MeshService", "name": "backend"}, "default": {"local": {"tcp": {"connectionRate": {"num": 100, "interval": "500ms"}}}}}]});
        assert_eq!(check(spec), pairs(&[("spec.from[0].targetRef.kind", "value 'MeshService' is not supported")]));
    }

    #[test]
    fn invalid_values() {
        let spec = from_mesh(serde_json::json!({"local": {
            "http": {"requestRate": {"num": 0, "interval": "49ms"}},
            "tcp": {"connectionRate": {"num": 0, "interval": "49ms"}}}}));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.from[0].default.local.http.requestRate.num", "must be greater than 0"),
                ("spec.from[0].default.local.http.requestRate.interval", "must be greater than: 50ms"),
                ("spec.from[0].default.local.tcp.connectionRate.num", "must be greater than 0"),
                ("spec.from[0].default.local.tcp.connectionRate.interval", "must be greater than: 50ms"),
            ])
        );
    }

    #[test]
    fn empty_sections() {
        assert_eq!(
            check(from_mesh(serde_json::json!({}))),
            pairs(&[("spec.from[0].default.local", "must be defined")])
        );
        assert_eq!(
            check(from_mesh(serde_json::json!({"local": {}}))),
            pairs(&[("spec.from[0].default.local", "must have at least one defined: tcp, http")])
        );
        assert_eq!(
            check(from_mesh(serde_json::json!({"local": {"tcp": {}}}))),
            pairs(&[("spec.from[0].default.local.tcp", "must have at least one defined: disabled, connectionRate")])
        );
        assert_eq!(
            check(from_mesh(serde_json::json!({"local": {"http": {}}}))),
            pairs(&[(
                "spec.from[0].default.local.http",
                "must have at least one defined: disabled, requestRate, onRateLimit"
            )])
        );
    }

    #[test]
    fn section_name_with_outbound_policy() {
        let spec = serde_json::json!({"targetRef": {"kind": "Dataplane", "sectionName": "test"},
            "to": [{"targetRef": {"kind": "Mesh"}, "default": {}}]});
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.targetRef.sectionName", "can only be used with inbound policies"),
                ("spec.to", "must not be defined"),
            ])
        );
    }

    #[test]
    fn gateway_scope() {
        let spec = serde_json::json!({"targetRef": {"kind": "MeshGateway", "name": "edge"},
            "from": [{"targetRef": {"kind": "Mesh"}, "default": both_rates()}]});
        assert_eq!(check(spec), pairs(&[("spec.from", FROM_WITH_GATEWAY)]));
        let spec = serde_json::json!({"targetRef": {"kind": "MeshHTTPRoute", "name": "http-route-1"},
            "from": [{"targetRef": {"kind": "Mesh"}, "default": both_rates()}]});
        assert_eq!(check(spec), pairs(&[("spec.from", FROM_WITH_GATEWAY)]));
        let sidecars = serde_json::json!({"targetRef": {"kind": "Mesh", "proxyTypes": ["Sidecar"]},
            "from": [{"targetRef": {"kind": "Mesh"}, "default": both_rates()}]});
        assert_eq!(check(sidecars), pairs(&[]));
        let spec = serde_json::json!({"targetRef": {"kind": "MeshGateway", "name": "edge"},
            "to": [{"targetRef": {"kind": "Mesh"}, "default": both_rates()}]});
        assert_eq!(
            check_as(spec, PolicyRole::Consumer),
            pairs(&[("spec.targetRef.kind", "value 'MeshGateway' is not supported")])
        );
    }

    #[test]
    fn mixing_from_with_rules() {
        let rate = serde_json::json!({"local": {"http": {"requestRate": {"num": 100, "interval": "10s"}}}});
        let spec = serde_json::json!({"targetRef": {"kind": "Mesh"},
            "from": [{"targetRef": {"kind": "Mesh"}, "default": rate}], "rules": [{"default": rate}]});
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec", "fields 'to' and 'from' must be empty when 'rules' is defined"),
                ("spec.rules", "must not be defined"),
                ("spec.from", FROM_WITH_GATEWAY),
            ])
        );
    }

    #[test]
    fn spiffe_id_match_with_tcp_rule() {
        let spec = serde_json::json!({"targetRef": {"kind": "Dataplane"}, "rules": [{
            "matches": [{"spiffeID": {"type": "Exact", "value": "spiffe://default/client"}}],
            "default": {"local": {"tcp": {"connectionRate": {"num": 100, "interval": "100ms"}}}}}]});
        assert_eq!(check(spec), pairs(&[("spec.rules[0].default.local.tcp", SPIFFE_MSG)]));
    }
}
