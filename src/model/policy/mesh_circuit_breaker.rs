//! MeshCircuitBreaker (`pkg/plugins/policies/meshcircuitbreaker/`): connection limits
//! and outlier detection for outbound (`to`) and inbound (`from`, `rules`) clusters.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{From, To};
use crate::findings::codes;
use crate::model::common::envoy_limits;
use crate::model::common::{
    Duration, IntOrString, TargetRef, TargetRefKind as K, TargetRefRules, non_empty, validate_greater_than_zero_or_nil,
    validate_target_ref, validate_uint_percentage_or_nil,
};
use crate::model::{KindSpec, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// MeshCircuitBreaker spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshCircuitBreaker {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// Circuit breaking of outbound traffic, per group of destinations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<To<Conf>>>,
    /// Circuit breaking of inbound traffic, per group of clients (deprecated in favour of `rules`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<From<Conf>>>,
    /// Inbound circuit breaking; currently limited to selecting all clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Rule>>,
}

/// A `rules[]` item: inbound circuit breaking for all clients.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Rule {
    /// Configuration of the inbound circuit breaker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Conf>,
}

/// Circuit breaker configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// Limits on connections and requests to the upstream cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_limits: Option<ConnectionLimits>,
    /// Dynamic ejection of misbehaving hosts from the load balancing set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outlier_detection: Option<OutlierDetection>,
}

/// Circuit breaking limits.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ConnectionLimits {
    /// Maximum number of connection pools per cluster concurrently supported at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connection_pools: Option<i64>,
    /// Maximum number of connections to the upstream cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<i64>,
    /// Maximum number of pending requests to the upstream cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_pending_requests: Option<i64>,
    /// Maximum number of parallel requests to the upstream cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<i64>,
    /// Maximum number of parallel retries to the upstream cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<i64>,
}

/// Outlier detection configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct OutlierDetection {
    /// Base time a host is ejected for (multiplied by the number of ejections).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_ejection_time: Option<Duration>,
    /// The outlier detectors to use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detectors: Option<Detectors>,
    /// When true, the outlier detection configuration has no effect.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Panic threshold of the cluster, in percent (Envoy's default 50%).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthy_panic_threshold: Option<IntOrString>,
    /// Time between ejection analysis sweeps.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Maximum percentage of the upstream cluster that can be ejected (default 10).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<i64>,
    /// Whether local origin failures are told apart from external errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_external_and_local_errors: Option<bool>,
}

/// Outlier detectors.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Detectors {
    /// Ejection on a failure percentage above a threshold.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_percentage: Option<FailurePercentage>,
    /// Ejection on consecutive gateway failures (502, 503, 504).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_failures: Option<Consecutive>,
    /// Ejection on consecutive locally originated failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_origin_failures: Option<Consecutive>,
    /// Ejection on a success rate below the cluster statistics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<SuccessRate>,
    /// Ejection on consecutive server-side errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_failures: Option<Consecutive>,
}

/// A detector counting consecutive failures.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Consecutive {
    /// Number of consecutive failures before ejection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consecutive: Option<i64>,
}

/// Success-rate based outlier detection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SuccessRate {
    /// Hosts with enough request volume needed to run the detection (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_hosts: Option<i64>,
    /// Requests per interval a host needs to be included (default 100).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_volume: Option<i64>,
    /// Ejection threshold factor, divided by 1000 (default 1900 = 1.9).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub standard_deviation_factor: Option<IntOrString>,
}

/// Failure-percentage based outlier detection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct FailurePercentage {
    /// Hosts needed in the cluster to run the detection (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_hosts: Option<i64>,
    /// Requests per interval a host needs to be included (default 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_volume: Option<i64>,
    /// Failure percentage above which a host is ejected (default 85).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<i64>,
}

const MES_ONLY_WITH_MESH: &str = "kind MeshExternalService is only allowed with targetRef.kind: Mesh as it is configured on the Zone Egress and shared by all clients in the mesh";

impl KindSpec for MeshCircuitBreaker {
    fn validate(&self, _ctx: &ValidateCtx, v: &mut Violations) {
        let inbound = non_empty(&self.from) || non_empty(&self.rules);
        super::validate_top(
            v,
            &self.target_ref,
            TargetRefRules {
                supported: &[
                    K::Mesh,
                    K::MeshSubset,
                    K::MeshService,
                    K::MeshGateway,
                    K::MeshServiceSubset,
                    K::Dataplane,
                ],
                gateway_listener_tags: true,
                inbound_policy: inbound,
                ..Default::default()
            },
        );
        super::validate_to_from_rules(v, non_empty(&self.to), non_empty(&self.from), non_empty(&self.rules));
        let root = Path::root();
        for (i, item) in self.from.iter().flatten().enumerate() {
            let p = root.field("from").index(i);
            let rules = TargetRefRules { supported: &[K::Mesh], ..Default::default() };
            validate_target_ref(v, &p.field("targetRef"), &item.target_ref, &rules);
            validate_conf(v, &p.field("default"), item.default.as_ref());
        }
        let top = super::top_kind(&self.target_ref);
        for (i, item) in self.to.iter().flatten().enumerate() {
            let p = root.field("to").index(i);
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
        for (i, rule) in self.rules.iter().flatten().enumerate() {
            validate_conf(v, &root.field("rules").index(i).field("default"), rule.default.as_ref());
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

fn validate_conf(v: &mut Violations, path: &Path, conf: Option<&Conf>) {
    let empty = Conf::default();
    let conf = conf.unwrap_or(&empty);
    if conf.connection_limits.is_none() && conf.outlier_detection.is_none() {
        v.add(path, "at least one of: 'connectionLimits' or 'outlierDetection' should be configured");
        return;
    }
    if let Some(l) = &conf.connection_limits {
        let p = path.field("connectionLimits");
        validate_greater_than_zero_or_nil(v, &p.field("maxConnections"), l.max_connections);
        validate_greater_than_zero_or_nil(v, &p.field("maxConnectionPools"), l.max_connection_pools);
        validate_greater_than_zero_or_nil(v, &p.field("maxPendingRequests"), l.max_pending_requests);
        validate_greater_than_zero_or_nil(v, &p.field("maxRetries"), l.max_retries);
        validate_greater_than_zero_or_nil(v, &p.field("maxRequests"), l.max_requests);
        for (name, n) in [
            ("maxConnections", l.max_connections),
            ("maxConnectionPools", l.max_connection_pools),
            ("maxPendingRequests", l.max_pending_requests),
            ("maxRetries", l.max_retries),
            ("maxRequests", l.max_requests),
        ] {
            // Negative values already fail "must be greater than 0".
            if let Some(n) = n.filter(|n| *n > 0) {
                envoy_limits::validate_u32(v, &p.field(name), n);
            }
        }
    }
    if let Some(od) = &conf.outlier_detection {
        let p = path.field("outlierDetection");
        v.duration_positive(&p.field("interval"), od.interval.as_ref());
        v.duration_positive(&p.field("baseEjectionTime"), od.base_ejection_time.as_ref());
        validate_uint_percentage_or_nil(v, &p.field("maxEjectionPercent"), od.max_ejection_percent);
        validate_detectors(v, &p.field("detectors"), od.detectors.as_ref());
    }
}

fn validate_detectors(v: &mut Violations, path: &Path, detectors: Option<&Detectors>) {
    let Some(d) = detectors else {
        v.must_be_defined(path);
        return;
    };
    if d.failure_percentage.is_none()
        && d.gateway_failures.is_none()
        && d.local_origin_failures.is_none()
        && d.total_failures.is_none()
        && d.success_rate.is_none()
    {
        let names = ["totalFailures", "gatewayFailures", "localOriginFailures", "successRate", "failurePercentage"];
        v.add_code(codes::KUMA_REQUIRED, path, msg::must_have_at_least_one(&names));
        return;
    }
    for (name, det) in [
        ("totalFailures", &d.total_failures),
        ("gatewayFailures", &d.gateway_failures),
        ("localOriginFailures", &d.local_origin_failures),
    ] {
        if let Some(det) = det {
            validate_greater_than_zero_or_nil(v, &path.field(name).field("consecutive"), det.consecutive);
        }
    }
    if let Some(sr) = &d.success_rate {
        let p = path.field("successRate");
        validate_greater_than_zero_or_nil(v, &p.field("minimumHosts"), sr.minimum_hosts);
        validate_greater_than_zero_or_nil(v, &p.field("requestVolume"), sr.request_volume);
        if let Some(f) = &sr.standard_deviation_factor {
            let fp = p.field("standardDeviationFactor");
            match f.as_f64() {
                None => v.add(&fp, "invalid number"),
                Some(x) if x <= 0.0 => v.add(&fp, msg::GREATER_THAN_ZERO),
                Some(_) => {}
            }
        }
    }
    if let Some(fp) = &d.failure_percentage {
        let p = path.field("failurePercentage");
        validate_greater_than_zero_or_nil(v, &p.field("minimumHosts"), fp.minimum_hosts);
        validate_greater_than_zero_or_nil(v, &p.field("requestVolume"), fp.request_volume);
        validate_uint_percentage_or_nil(v, &p.field("threshold"), fp.threshold);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{self, meta, pairs};
    use crate::model::{Kind, PolicyRole};

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        testing::check::<MeshCircuitBreaker>(&meta(Kind::MeshCircuitBreaker, "mcb"), PolicyRole::System, spec)
    }

    fn to_backend(default: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"targetRef": {"kind": "MeshService", "name": "web-frontend"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "web-backend"}, "default": default}]})
    }

    fn full_conf() -> serde_json::Value {
        serde_json::json!({
            "connectionLimits": {"maxConnections": 12, "maxConnectionPools": 12, "maxPendingRequests": 92, "maxRetries": 8, "maxRequests": 128},
            "outlierDetection": {
                "disabled": false, "interval": "11s", "baseEjectionTime": "38s", "maxEjectionPercent": 22,
                "splitExternalAndLocalErrors": true,
                "detectors": {
                    "totalFailures": {"consecutive": 10},
                    "gatewayFailures": {"consecutive": 10},
                    "localOriginFailures": {"consecutive": 10},
                    "successRate": {"minimumHosts": 5, "requestVolume": 10, "standardDeviationFactor": 1900},
                    "failurePercentage": {"requestVolume": 10, "minimumHosts": 5, "threshold": 31}
                }
            }
        })
    }

    #[test]
    fn valid_examples() {
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshService", "name": "web-frontend"},
            "from": [{"targetRef": {"kind": "Mesh"}, "default": full_conf()}],
            "to": [{"targetRef": {"kind": "MeshService", "name": "web-backend"}, "default": full_conf()},
                   {"targetRef": {"kind": "Mesh"}, "default": full_conf()}]
        });
        assert_eq!(check(spec), pairs(&[]));
        assert_eq!(check(to_backend(serde_json::json!({"connectionLimits": {}}))), pairs(&[]));
        let rules = serde_json::json!({"targetRef": {"kind": "Dataplane", "sectionName": "http"},
            "rules": [{"default": {"outlierDetection": {"detectors": {"successRate": {"standardDeviationFactor": "1.9"}}}}}]});
        assert_eq!(check(rules), pairs(&[]));
    }

    #[test]
    fn sections() {
        assert_eq!(
            check(serde_json::json!({"targetRef": {"kind": "Mesh"}})),
            pairs(&[("spec", "at least one of 'from', 'to' or 'rules' has to be defined")])
        );
        let spec = serde_json::json!({"targetRef": {"kind": "Mesh"},
            "to": [{"targetRef": {"kind": "Mesh"}, "default": {"connectionLimits": {}}}],
            "rules": [{"default": {"connectionLimits": {}}}]});
        assert_eq!(check(spec), pairs(&[("spec", "fields 'to' and 'from' must be empty when 'rules' is defined")]));
    }

    #[test]
    fn unsupported_kinds() {
        let spec = serde_json::json!({"targetRef": {"kind": "MeshService", "name": "web-frontend"},
            "from": [{"targetRef": {"kind": "MeshGatewayRoute"}, "default": {"connectionLimits": {}}}]});
        assert_eq!(check(spec), pairs(&[("spec.from[0].targetRef.kind", "value 'MeshGatewayRoute' is not supported")]));
        let spec = serde_json::json!({"targetRef": {"kind": "MeshService", "name": "web-frontend"},
            "to": [{"targetRef": {"kind": "MeshServiceSubset"}, "default": {"connectionLimits": {}}}]});
        assert_eq!(check(spec), pairs(&[("spec.to[0].targetRef.kind", "value 'MeshServiceSubset' is not supported")]));
        let spec = serde_json::json!({"targetRef": {"kind": "MeshService", "name": "web-frontend"},
            "to": [{"targetRef": {"kind": "MeshExternalService", "name": "ext"}, "default": {"connectionLimits": {}}}]});
        assert_eq!(check(spec), pairs(&[("spec.to[0].targetRef.kind", MES_ONLY_WITH_MESH)]));
    }

    #[test]
    fn missing_configuration() {
        let spec = serde_json::json!({"targetRef": {"kind": "MeshService", "name": "web-frontend"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "web-backend"}}]});
        assert_eq!(
            check(spec),
            pairs(&[(
                "spec.to[0].default",
                "at least one of: 'connectionLimits' or 'outlierDetection' should be configured"
            )])
        );
    }

    #[test]
    fn zero_limits() {
        let spec = to_backend(serde_json::json!({"connectionLimits": {
            "maxConnections": 0, "maxConnectionPools": 0, "maxPendingRequests": 0, "maxRetries": 0, "maxRequests": 0}}));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].default.connectionLimits.maxConnections", "must be greater than 0"),
                ("spec.to[0].default.connectionLimits.maxConnectionPools", "must be greater than 0"),
                ("spec.to[0].default.connectionLimits.maxPendingRequests", "must be greater than 0"),
                ("spec.to[0].default.connectionLimits.maxRetries", "must be greater than 0"),
                ("spec.to[0].default.connectionLimits.maxRequests", "must be greater than 0"),
            ])
        );
    }

    #[test]
    fn zero_outlier_detection() {
        let spec = to_backend(serde_json::json!({"outlierDetection": {
            "interval": "0s", "baseEjectionTime": "0s", "maxEjectionPercent": 0,
            "detectors": {
                "totalFailures": {"consecutive": 0}, "gatewayFailures": {"consecutive": 0},
                "localOriginFailures": {"consecutive": 0},
                "successRate": {"minimumHosts": 0, "requestVolume": 0, "standardDeviationFactor": 0},
                "failurePercentage": {"requestVolume": 0, "minimumHosts": 0, "threshold": 0}}}}));
        let p = "spec.to[0].default.outlierDetection";
        let expected = [
            (format!("{p}.interval"), "must be greater than zero when defined"),
            (format!("{p}.baseEjectionTime"), "must be greater than zero when defined"),
            (format!("{p}.detectors.totalFailures.consecutive"), "must be greater than 0"),
            (format!("{p}.detectors.gatewayFailures.consecutive"), "must be greater than 0"),
            (format!("{p}.detectors.localOriginFailures.consecutive"), "must be greater than 0"),
            (format!("{p}.detectors.successRate.minimumHosts"), "must be greater than 0"),
            (format!("{p}.detectors.successRate.requestVolume"), "must be greater than 0"),
            (format!("{p}.detectors.successRate.standardDeviationFactor"), "must be greater than 0"),
            (format!("{p}.detectors.failurePercentage.minimumHosts"), "must be greater than 0"),
            (format!("{p}.detectors.failurePercentage.requestVolume"), "must be greater than 0"),
        ];
        let expected: Vec<(String, String)> = expected.into_iter().map(|(a, b)| (a, b.to_string())).collect();
        assert_eq!(check(spec), expected);
    }

    #[test]
    fn percentages_and_detectors() {
        let spec = to_backend(serde_json::json!({"outlierDetection": {
            "maxEjectionPercent": 101, "detectors": {"failurePercentage": {"threshold": 101}}}}));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].default.outlierDetection.maxEjectionPercent", "must be in inclusive range [0, 100]"),
                (
                    "spec.to[0].default.outlierDetection.detectors.failurePercentage.threshold",
                    "must be in inclusive range [0, 100]"
                ),
            ])
        );
        assert_eq!(
            check(to_backend(serde_json::json!({"outlierDetection": {"maxEjectionPercent": 100}}))),
            pairs(&[("spec.to[0].default.outlierDetection.detectors", "must be defined")])
        );
        assert_eq!(
            check(to_backend(serde_json::json!({"outlierDetection": {"maxEjectionPercent": 100, "detectors": {}}}))),
            pairs(&[(
                "spec.to[0].default.outlierDetection.detectors",
                "must have at least one defined: totalFailures, gatewayFailures, localOriginFailures, successRate, failurePercentage"
            )])
        );
        assert_eq!(
            check(to_backend(
                serde_json::json!({"outlierDetection": {"detectors": {"successRate": {"standardDeviationFactor": "x"}}}})
            )),
            pairs(&[(
                "spec.to[0].default.outlierDetection.detectors.successRate.standardDeviationFactor",
                "invalid number"
            )])
        );
    }

    #[test]
    fn rules_defaults_are_validated() {
        let spec = serde_json::json!({"targetRef": {"kind": "Mesh"}, "rules": [{"default": {}}]});
        assert_eq!(
            check(spec),
            pairs(&[(
                "spec.rules[0].default",
                "at least one of: 'connectionLimits' or 'outlierDetection' should be configured"
            )])
        );
    }
}
