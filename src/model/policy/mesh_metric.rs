//! MeshMetric (`pkg/plugins/policies/meshmetric/`): which metrics a proxy (and the
//! applications next to it) expose, and where they go: a Prometheus listener or an
//! OpenTelemetry collector. A single-`default` policy: no `to`, `from` or `rules`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::findings::codes;
use crate::kuma_enum;
use crate::model::choice::Choice;
use crate::model::common::{
    BackendResourceRef, Duration, TargetRef, TargetRefKind as K, TargetRefRules, is_host_port,
    validate_otel_backend_ref_or_endpoint,
};
use crate::model::{KindSpec, PolicyRole, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations};

/// MeshMetric spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshMetric {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// MeshMetric configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Conf>,
}

/// MeshMetric configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// Sidecar metrics collection configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sidecar: Option<Sidecar>,
    /// Applications the data plane proxy scrapes (ignored on zone-proxy-only Dataplanes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applications: Option<Vec<Application>>,
    /// Backends used to collect metrics.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backends: Option<Vec<Backend>>,
}

/// Sidecar metrics collection configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Sidecar {
    /// Which metrics are published.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profiles: Option<Profiles>,
    /// Also scrape metrics never updated (zero counters and such); false by default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include_unused: Option<bool>,
}

/// Which metrics are published.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Profiles {
    /// Predefined profiles whose metrics are combined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append_profiles: Option<Vec<Profile>>,
    /// Groups of metrics excluded from the resulting profile (subordinate to `include`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclude: Option<Vec<Selector>>,
    /// Additional metrics included in the selected profiles (takes precedence over `exclude`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub include: Option<Vec<Selector>>,
}

kuma_enum! {
    /// A predefined metrics profile.
    pub enum ProfileName { All = "All", Basic = "Basic", None = "None" }
}

/// A predefined metrics profile.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Profile {
    /// Name of the predefined profile: `All`, `Basic` or `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub name: Option<Choice<ProfileName>>,
}

kuma_enum! {
    /// How a selector matches metric names.
    pub enum SelectorType { Prefix = "Prefix", Regex = "Regex", Exact = "Exact", Contains = "Contains" }
}

/// Selects metrics by name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Selector {
    /// How `match` is used: `Prefix`, `Regex`, `Exact` or `Contains`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<SelectorType>>,
    /// The value matched against metric names.
    #[serde(rename = "match", default)]
    #[schemars(required)]
    pub match_: String,
}

fn default_metrics_path() -> String {
    "/metrics".to_string()
}

fn default_prometheus_port() -> i64 {
    5670
}

/// An application the proxy scrapes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Application {
    /// Name of the application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Path of the application's HTTP metrics endpoint.
    #[serde(default = "default_metrics_path")]
    pub path: String,
    /// Address the application listens on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port of the application's HTTP metrics endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub port: Option<i64>,
}

kuma_enum! {
    /// Kind of metrics backend.
    pub enum BackendType { Prometheus = "Prometheus", OpenTelemetry = "OpenTelemetry" }
}

/// A metrics backend.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Backend {
    /// Which backend this is: `Prometheus` or `OpenTelemetry`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<BackendType>>,
    /// Prometheus backend configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prometheus: Option<Prometheus>,
    /// OpenTelemetry backend configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_telemetry: Option<OpenTelemetry>,
}

/// Prometheus backend configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Prometheus {
    /// Client id of the Prometheus backend (needed when MADS discovers the proxies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// Port of the proxy's HTTP endpoint with Prometheus metrics.
    #[serde(default = "default_prometheus_port")]
    pub port: i64,
    /// Path of the proxy's HTTP endpoint with Prometheus metrics.
    #[serde(default = "default_metrics_path")]
    pub path: String,
    /// TLS of the Prometheus listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
}

kuma_enum! {
    /// TLS mode of the Prometheus listener.
    pub enum TlsMode { Disabled = "Disabled", ProvidedTls = "ProvidedTLS", ActiveMtlsBackend = "ActiveMTLSBackend" }
}

fn default_tls_mode() -> Choice<TlsMode> {
    Choice::Known(TlsMode::Disabled)
}

/// TLS of the Prometheus listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Tls {
    /// `Disabled`, `ProvidedTLS` or `ActiveMTLSBackend`.
    #[serde(default = "default_tls_mode")]
    pub mode: Choice<TlsMode>,
}

/// OpenTelemetry backend configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct OpenTelemetry {
    /// Reference to the MeshOpenTelemetryBackend defining the collector (instead of `endpoint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<BackendResourceRef>,
    /// Endpoint of the OpenTelemetry collector (`host:port`). Deprecated: use `backendRef`.
    #[serde(default)]
    pub endpoint: String,
    /// How often metrics are pushed to the collector.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_interval: Option<Duration>,
}

impl KindSpec for MeshMetric {
    fn validate(&self, ctx: &ValidateCtx, v: &mut Violations) {
        let rules = if ctx.role == PolicyRole::System {
            TargetRefRules {
                supported: &[
                    K::Mesh,
                    K::MeshSubset,
                    K::MeshService,
                    K::MeshServiceSubset,
                    K::MeshGateway,
                    K::Dataplane,
                ],
                gateway_listener_tags: true,
                ..Default::default()
            }
        } else {
            TargetRefRules {
                supported: &[K::Mesh, K::MeshSubset, K::MeshService, K::Dataplane, K::MeshServiceSubset],
                ..Default::default()
            }
        };
        super::validate_top(v, &self.target_ref, rules);
        if let Some(conf) = &self.default {
            validate_default(v, &Path::root().field("default"), conf);
        }
    }

    fn policy(&self) -> Option<PolicyView<'_>> {
        Some(super::top_view(&self.target_ref))
    }
}

// Kuma's paths here name list items in the singular (`applications.application[0]`,
// `backends.backend[0].port`); they are reproduced as Kuma prints them.
fn validate_default(v: &mut Violations, path: &Path, conf: &Conf) {
    if let Some(profiles) = conf.sidecar.as_ref().and_then(|s| s.profiles.as_ref()) {
        let p = path.field("sidecar").field("profiles");
        if let Some(exclude) = &profiles.exclude {
            validate_selectors(v, &p.field("exclude"), exclude);
        }
        if let Some(include) = &profiles.include {
            validate_selectors(v, &p.field("include"), include);
        }
        for (i, profile) in profiles.append_profiles.iter().flatten().enumerate() {
            if !profile.name.as_ref().is_some_and(Choice::is_known) {
                let name = profile.name.as_ref().map(Choice::raw).unwrap_or_default();
                v.add_code(
                    codes::KUMA_ENUM,
                    &p.field("appendProfiles").index(i).field("name"),
                    format!("unrecognized profile name '{name}' - 'All', 'None', 'Basic' are supported"),
                );
            }
        }
    }
    for (i, application) in conf.applications.iter().flatten().enumerate() {
        v.port(&path.field("applications").virtual_field("application").index(i), application.port);
    }
    for (i, backend) in conf.backends.iter().flatten().enumerate() {
        let p = path.field("backends").virtual_field("backend").index(i);
        match backend.type_.as_ref().and_then(Choice::known) {
            Some(BackendType::Prometheus) => match &backend.prometheus {
                None => v.must_be_defined(&p.field("prometheus")),
                Some(prometheus) => v.port(&p.field("port"), Some(prometheus.port)),
            },
            Some(BackendType::OpenTelemetry) => {
                let otel_path = p.field("openTelemetry");
                match &backend.open_telemetry {
                    None => v.must_be_defined(&otel_path),
                    Some(o) => validate_otel_backend_ref_or_endpoint(
                        v,
                        &otel_path,
                        &o.endpoint,
                        o.backend_ref.as_ref(),
                        Some(&validate_host_port),
                    ),
                }
            }
            None => v.add_code(codes::KUMA_ENUM, &p, "unrecognized type"),
        }
    }
}

fn validate_selectors(v: &mut Violations, path: &Path, selectors: &[Selector]) {
    for (i, selector) in selectors.iter().enumerate() {
        let p = path.index(i);
        match selector.type_.as_ref().and_then(Choice::known) {
            Some(SelectorType::Regex) => {
                if regex::Regex::new(&selector.match_).is_err() {
                    v.add(&p.field("match"), "invalid regex");
                }
            }
            Some(_) => {}
            None => {
                let raw = selector.type_.as_ref().map(Choice::raw).unwrap_or_default();
                v.add_code(
                    codes::KUMA_ENUM,
                    &p.field("type"),
                    format!("unrecognized type '{raw}' - 'Regex', 'Prefix', 'Exact' are supported"),
                );
            }
        }
    }
}

/// MeshMetric's own endpoint rule: `host:port` (Go's `net.SplitHostPort`, both parts set).
fn validate_host_port(v: &mut Violations, path: &Path, endpoint: &str) {
    if !is_host_port(endpoint) {
        v.add_code(codes::BAD_ADDRESS, &path.field("endpoint"), "must be in host:port format");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::common::split_host_port;
    use crate::model::testing::{self, meta, pairs};
    use crate::model::{Kind, PolicyRole};

    fn check_as(role: PolicyRole, spec: serde_json::Value) -> Vec<(String, String)> {
        testing::check::<MeshMetric>(&meta(Kind::MeshMetric, "test"), role, spec)
    }

    fn one(default: serde_json::Value) -> Vec<(String, String)> {
        check_as(PolicyRole::System, json!({"targetRef": {"kind": "Mesh"}, "default": default}))
    }

    #[test]
    fn valid_specs() {
        let full = json!({
            "sidecar": {"profiles": {"appendProfiles": [{"name": "None"}, {"name": "Basic"}],
                "exclude": [{"type": "Regex", "match": "my_match.*"}], "include": [{"type": "Prefix", "match": "my_match"}]},
                "includeUnused": true},
            "applications": [{"path": "metrics/prometheus", "port": 8888}, {"port": 8000}],
            "backends": [
                {"type": "Prometheus", "prometheus": {"clientId": "main-backend", "port": 5670, "path": "/metrics", "tls": {"mode": "ProvidedTLS"}}},
                {"type": "OpenTelemetry", "openTelemetry": {"endpoint": "otel-collector:4778"}}]
        });
        assert_eq!(one(full), pairs(&[]));
        assert_eq!(
            one(json!({"backends": [{"type": "OpenTelemetry", "openTelemetry": {"backendRef": {
                "kind": "MeshOpenTelemetryBackend", "labels": {"kuma.io/display-name": "my-otel"}}}}]})),
            pairs(&[])
        );
        assert_eq!(one(json!({"backends": [{"type": "Prometheus", "prometheus": {}}]})), pairs(&[]));
        assert_eq!(check_as(PolicyRole::System, json!({})), pairs(&[]));
    }

    #[test]
    fn backends() {
        let b = "spec.default.backends.backend[0]";
        assert_eq!(
            one(json!({"backends": [{"type": "Prometheus"}]})),
            pairs(&[(&format!("{b}.prometheus"), "must be defined")])
        );
        assert_eq!(
            one(json!({"backends": [{"type": "Prometheus", "prometheus": {"port": 95599}}]})),
            pairs(&[(&format!("{b}.port"), "port must be a valid (1-65535)")])
        );
        assert_eq!(
            one(json!({"backends": [{"type": "OpenTelemetry", "prometheus": {"port": 5670}}]})),
            pairs(&[(&format!("{b}.openTelemetry"), "must be defined")])
        );
        let otel = |o: serde_json::Value| one(json!({"backends": [{"type": "OpenTelemetry", "openTelemetry": o}]}));
        assert_eq!(
            otel(json!({"endpoint": "asdasd123"})),
            pairs(&[(&format!("{b}.openTelemetry.endpoint"), "must be in host:port format")])
        );
        assert_eq!(
            otel(json!({"endpoint": "http://endpoint:8023"})),
            pairs(&[(&format!("{b}.openTelemetry.endpoint"), "must be in host:port format, not a URL")])
        );
        assert_eq!(
            otel(json!({})),
            pairs(&[(
                &format!("{b}.openTelemetry"),
                "openTelemetry must have exactly one defined: endpoint, backendRef"
            )])
        );
        assert_eq!(
            otel(json!({"endpoint": "otel-collector:4778", "backendRef": {"kind": "MeshOpenTelemetryBackend",
                "labels": {"kuma.io/display-name": "my-otel"}}})),
            pairs(&[(
                &format!("{b}.openTelemetry"),
                "openTelemetry must have only one type defined: endpoint, backendRef"
            )])
        );
        assert_eq!(
            otel(json!({"backendRef": {"kind": "MeshOpenTelemetryBackend"}})),
            pairs(&[(&format!("{b}.openTelemetry.backendRef"), "backendRef must have exactly one defined: labels")])
        );
        assert_eq!(
            otel(json!({"backendRef": {"kind": "Other", "labels": {"a": "b"}}})),
            pairs(&[(
                &format!("{b}.openTelemetry.backendRef.kind"),
                "\"kind\" must be one of [\"MeshOpenTelemetryBackend\"]"
            )])
        );
    }

    #[test]
    fn applications_and_sidecar() {
        assert_eq!(
            one(json!({"applications": [{"port": 95599}]})),
            pairs(&[("spec.default.applications.application[0]", "port must be a valid (1-65535)")])
        );
        assert_eq!(
            one(
                json!({"sidecar": {"profiles": {"exclude": [{"type": "Regex", "match": "())(!("}]}, "includeUnused": true}})
            ),
            pairs(&[("spec.default.sidecar.profiles.exclude[0].match", "invalid regex")])
        );
        assert_eq!(
            one(json!({"sidecar": {"profiles": {"include": [{"type": "not_supported"}]}}})),
            pairs(&[(
                "spec.default.sidecar.profiles.include[0].type",
                "unrecognized type 'not_supported' - 'Regex', 'Prefix', 'Exact' are supported"
            )])
        );
        assert_eq!(
            one(json!({"sidecar": {"profiles": {"appendProfiles": [{"name": "not_supported"}]}}})),
            pairs(&[(
                "spec.default.sidecar.profiles.appendProfiles[0].name",
                "unrecognized profile name 'not_supported' - 'All', 'None', 'Basic' are supported"
            )])
        );
    }

    #[test]
    fn top_level_by_role() {
        let spec = json!({"targetRef": {"kind": "MeshGateway", "name": "gw", "tags": {"listener": "a"}}});
        assert_eq!(check_as(PolicyRole::System, spec.clone()), pairs(&[]));
        assert_eq!(
            check_as(PolicyRole::WorkloadOwner, spec),
            pairs(&[("spec.targetRef.kind", "value 'MeshGateway' is not supported")])
        );
        assert_eq!(
            check_as(PolicyRole::System, json!({"targetRef": {"kind": "MeshExternalService", "name": "x"}})),
            pairs(&[("spec.targetRef.kind", "value 'MeshExternalService' is not supported")])
        );
    }

    #[test]
    fn defaults_and_host_port() {
        let spec: MeshMetric = serde_json::from_value(json!({"default": {
            "applications": [{"port": 8080}],
            "backends": [{"type": "Prometheus", "prometheus": {"tls": {}}}]}}))
        .unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["default"]["applications"][0], json!({"path": "/metrics", "port": 8080}));
        assert_eq!(
            json["default"]["backends"][0]["prometheus"],
            json!({"port": 5670, "path": "/metrics", "tls": {"mode": "Disabled"}})
        );
        assert_eq!(split_host_port("a:1"), Some(("a", "1")));
        assert_eq!(split_host_port("[::1]:80"), Some(("::1", "80")));
        assert_eq!(split_host_port("::1:80"), None);
        assert_eq!(split_host_port("a"), None);
    }
}
