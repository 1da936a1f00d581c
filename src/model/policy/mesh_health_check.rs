//! MeshHealthCheck (`pkg/plugins/policies/meshhealthcheck/`): active health checking
//! of outbound destinations (`to`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{From, Rule, To};
use crate::findings::codes;
use crate::model::common::envoy_limits;
use crate::model::common::{
    Duration, IntOrString, TargetRef, TargetRefKind as K, TargetRefRules, is_go_file_path, validate_percentage,
    validate_status_code, validate_target_ref, validate_uint_percentage_or_nil,
    validate_value_greater_than_zero_or_nil,
};
use crate::model::{KindSpec, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// MeshHealthCheck spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshHealthCheck {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// Health checks per group of destinations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<To<Conf>>>,
}

/// Health check configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// Always log health check failure events (default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub always_log_health_check_failures: Option<bool>,
    /// File where Envoy logs health check events.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_log_path: Option<String>,
    /// Do not consider any hosts when the cluster is in panic mode (default false).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_traffic_on_panic: Option<bool>,
    /// gRPC health checking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<GrpcHealthCheck>,
    /// Panic threshold of the cluster in percent (deprecated: use MeshCircuitBreaker).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy_panic_threshold: Option<IntOrString>,
    /// Consecutive healthy checks before a host is considered healthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy_threshold: Option<i64>,
    /// HTTP health checking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpHealthCheck>,
    /// Random delay, up to this value, before the first health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub initial_jitter: Option<Duration>,
    /// Interval between consecutive health checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Random jitter, up to this value, added to every interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_jitter: Option<Duration>,
    /// Random jitter, up to this percentage of the interval, added to every interval.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval_jitter_percent: Option<i64>,
    /// Interval used for hosts that have not received traffic yet (default 60s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_traffic_interval: Option<Duration>,
    /// Reuse the health check connection between checks (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reuse_connection: Option<bool>,
    /// TCP health checking.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpHealthCheck>,
    /// Maximum time to wait for a health check response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Consecutive unhealthy checks before a host is considered unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold: Option<i64>,
}

/// gRPC health check.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct GrpcHealthCheck {
    /// The `:authority` header of the health check request (default: the cluster name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// Disables the gRPC health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Service name sent to the gRPC health service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
}

/// HTTP health check.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HttpHealthCheck {
    /// Disables the HTTP health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// HTTP response statuses considered healthy (default `[200]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected_statuses: Option<Vec<i64>>,
    /// The HTTP path requested by the health check (default /).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Headers added to each health check request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_headers_to_add: Option<HeaderModifier>,
}

/// Headers to add to a request.
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

/// TCP health check.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TcpHealthCheck {
    /// Disables the TCP health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Base64-encoded blocks expected in the response (fuzzy matching).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receive: Option<Vec<String>>,
    /// Base64-encoded payload sent by the check (connect-only when empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send: Option<String>,
}

const MES_ONLY_WITH_MESH: &str = "kind MeshExternalService is only allowed with targetRef.kind: Mesh as it is configured on the Zone Egress and shared by all clients in the mesh";

impl KindSpec for MeshHealthCheck {
    fn validate(&self, _ctx: &ValidateCtx, v: &mut Violations) {
        super::validate_top(
            v,
            &self.target_ref,
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
                ..Default::default()
            },
        );
        let top = super::top_kind(&self.target_ref);
        for (i, item) in self.to.iter().flatten().enumerate() {
            let p = Path::root().field("to").index(i);
            let rules = TargetRefRules {
                supported: &[K::Mesh, K::MeshService, K::MeshExternalService, K::MeshMultiZoneService],
                ..Default::default()
            };
            validate_target_ref(v, &p.field("targetRef"), &item.target_ref, &rules);
            if item.target_ref.is(K::MeshExternalService) && top != Some(K::Mesh) {
                v.add_code(codes::TARGETREF_KIND, &p.field("targetRef").field("kind"), MES_ONLY_WITH_MESH);
            }
            validate_conf(v, &p.field("default"), item.default.as_ref());
        }
    }

    fn policy(&self) -> Option<PolicyView<'_>> {
        Some(super::view::<Conf, (), ()>(
            &self.target_ref,
            self.to.as_deref(),
            None::<&[From<()>]>,
            None::<&[Rule<()>]>,
        ))
    }
}

fn validate_conf(v: &mut Violations, path: &Path, conf: Option<&Conf>) {
    let empty = Conf::default();
    let conf = conf.unwrap_or(&empty);
    v.duration_positive(&path.field("interval"), conf.interval.as_ref());
    v.duration_positive(&path.field("timeout"), conf.timeout.as_ref());
    validate_value_greater_than_zero_or_nil(v, &path.field("unhealthyThreshold"), conf.unhealthy_threshold);
    validate_value_greater_than_zero_or_nil(v, &path.field("healthyThreshold"), conf.healthy_threshold);
    v.duration_positive(&path.field("initialJitter"), conf.initial_jitter.as_ref());
    v.duration_positive(&path.field("intervalJitter"), conf.interval_jitter.as_ref());
    validate_uint_percentage_or_nil(v, &path.field("intervalJitterPercent"), conf.interval_jitter_percent);
    validate_percentage(v, &path.field("healthyPanicThreshold"), conf.healthy_panic_threshold.as_ref(), false, true);
    v.duration_positive(&path.field("noTrafficInterval"), conf.no_traffic_interval.as_ref());
    if let Some(p) = &conf.event_log_path
        && !is_go_file_path(p)
    {
        v.add(&path.field("eventLogPath"), msg::VALID_PATH_WHEN_DEFINED);
    }
    if let Some(http) = &conf.http {
        let hp = path.field("http");
        if http.path.as_deref() == Some("") {
            v.must_be_defined(&hp.field("path"));
        }
        for (i, s) in http.expected_statuses.iter().flatten().enumerate() {
            validate_status_code(v, &hp.field("expectedStatuses").index(i), *s);
        }
        // The path and the gRPC authority are request headers (`:path`, `:authority`).
        if let Some(path) = &http.path {
            envoy_limits::validate_header_value(v, &hp.field("path"), path);
        }
        if let Some(h) = &http.request_headers_to_add {
            let rp = hp.field("requestHeadersToAdd");
            for (section, items) in [("set", &h.set), ("add", &h.add)] {
                for (i, kv) in items.iter().flatten().enumerate() {
                    let ip = rp.field(section).index(i);
                    envoy_limits::validate_modifiable_header(v, &ip.field("name"), kv.name.as_deref().unwrap_or(""));
                    envoy_limits::validate_header_value(v, &ip.field("value"), kv.value.as_deref().unwrap_or(""));
                }
            }
        }
    }
    if let Some(authority) = conf.grpc.as_ref().and_then(|g| g.authority.as_ref()) {
        envoy_limits::validate_header_value(v, &path.field("grpc").field("authority"), authority);
    }
    if conf.http.is_none() && conf.tcp.is_none() && conf.grpc.is_none() {
        v.add_code(codes::KUMA_REQUIRED, path, msg::must_have_at_least_one(&["http", "tcp", "grpc"]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::common::is_go_file_path as is_file_path;
    use crate::model::testing::{self, meta, pairs};
    use crate::model::{Kind, PolicyRole};

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        testing::check::<MeshHealthCheck>(&meta(Kind::MeshHealthCheck, "mhc"), PolicyRole::System, spec)
    }

    fn to_backend(default: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"targetRef": {"kind": "Mesh"},
            "to": [{"targetRef": {"kind": "MeshService", "labels": {"kuma.io/display-name": "web-backend"}}, "default": default}]})
    }

    #[test]
    fn valid_examples() {
        let full = to_backend(serde_json::json!({
            "interval": "10s", "timeout": "2s", "unhealthyThreshold": 3, "healthyThreshold": 1,
            "initialJitter": "5s", "intervalJitter": "6s", "intervalJitterPercent": 10,
            "failTrafficOnPanic": true, "noTrafficInterval": "10s", "eventLogPath": "/tmp/health-check.log",
            "alwaysLogHealthCheckFailures": true, "reuseConnection": false,
            "tcp": {"disabled": true, "send": "Zm9v", "receive": ["YmFy", "YmF6"]},
            "http": {"disabled": true, "path": "/health",
                "requestHeadersToAdd": {"set": [{"name": "content-type", "value": "application/json"}],
                                        "add": [{"name": "accept", "value": "application/json"}]},
                "expectedStatuses": [200, 201]},
            "grpc": {"disabled": false, "serviceName": "", "authority": ""}
        }));
        assert_eq!(check(full), pairs(&[]));
        let mmzs = serde_json::json!({"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": {"kind": "MeshMultiZoneService",
            "labels": {"kuma.io/display-name": "web-backend"}}, "default": {"interval": "10s", "tcp": {"disabled": true}}}]});
        assert_eq!(check(mmzs), pairs(&[]));
        let mes = serde_json::json!({"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": {"kind": "MeshExternalService",
            "labels": {"kuma.io/display-name": "external"}}, "default": {"interval": "10s", "tcp": {"disabled": true}}}]});
        assert_eq!(check(mes), pairs(&[]));
        assert!(is_file_path(r"C:\logs\hc.log"));
    }

    #[test]
    fn wrong_top_level_kind() {
        let spec = serde_json::json!({"targetRef": {"kind": "MeshGatewayRoute", "name": "some-mesh-gateway-route"}});
        assert_eq!(check(spec), pairs(&[("spec.targetRef.kind", "value 'MeshGatewayRoute' is not supported")]));
        let spec = serde_json::json!({"targetRef": {"kind": "Dataplane"}, "to": [{"targetRef": {"kind": "MeshExternalService",
            "labels": {"kuma.io/display-name": "external"}}, "default": {"tcp": {}}}]});
        assert_eq!(check(spec), pairs(&[("spec.to[0].targetRef.kind", MES_ONLY_WITH_MESH)]));
    }

    #[test]
    fn required_checker() {
        assert_eq!(
            check(to_backend(serde_json::json!({}))),
            pairs(&[("spec.to[0].default", "must have at least one defined: http, tcp, grpc")])
        );
    }

    #[test]
    fn thresholds_out_of_range() {
        let spec = to_backend(serde_json::json!({"interval": "10s", "timeout": "2s",
            "unhealthyThreshold": -3, "healthyThreshold": 0, "grpc": {}}));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].default.unhealthyThreshold", "must be greater than zero when defined"),
                ("spec.to[0].default.healthyThreshold", "must be greater than zero when defined"),
            ])
        );
    }

    #[test]
    fn durations_out_of_range() {
        let spec = to_backend(serde_json::json!({"interval": "-10s", "timeout": "-2s", "initialJitter": "-5s",
            "intervalJitter": "-6s", "noTrafficInterval": "-10s", "unhealthyThreshold": 3, "healthyThreshold": 1, "grpc": {}}));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].default.interval", "must be greater than zero when defined"),
                ("spec.to[0].default.timeout", "must be greater than zero when defined"),
                ("spec.to[0].default.initialJitter", "must be greater than zero when defined"),
                ("spec.to[0].default.intervalJitter", "must be greater than zero when defined"),
                ("spec.to[0].default.noTrafficInterval", "must be greater than zero when defined"),
            ])
        );
    }

    #[test]
    fn percentages_out_of_range() {
        let spec =
            to_backend(serde_json::json!({"intervalJitterPercent": 110, "healthyPanicThreshold": "101", "grpc": {}}));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].default.intervalJitterPercent", "must be in inclusive range [0, 100]"),
                ("spec.to[0].default.healthyPanicThreshold", "must be in inclusive range [0.0, 100.0]"),
            ])
        );
    }

    #[test]
    fn invalid_path() {
        let spec = to_backend(serde_json::json!({"interval": "10s", "eventLogPath": "#not_valid_path", "grpc": {}}));
        assert_eq!(check(spec), pairs(&[("spec.to[0].default.eventLogPath", "must be a valid path when defined")]));
    }

    #[test]
    fn http_checks() {
        let spec = to_backend(serde_json::json!({"http": {"path": "/health", "expectedStatuses": [99, 600]}}));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].default.http.expectedStatuses[0]", "must be in inclusive range [100, 599]"),
                ("spec.to[0].default.http.expectedStatuses[1]", "must be in inclusive range [100, 599]"),
            ])
        );
        assert_eq!(
            check(to_backend(serde_json::json!({"http": {"path": ""}}))),
            pairs(&[("spec.to[0].default.http.path", "must be defined")])
        );
    }
}
