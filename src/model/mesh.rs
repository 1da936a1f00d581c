//! Mesh (`api/mesh/v1alpha1/mesh.proto`, `metrics.proto`): mTLS backends, legacy
//! logging/tracing/metrics backends, networking, routing, constraints and the
//! MeshService mode. Validator: `pkg/core/resources/apis/mesh/mesh_validator.go`
//! (reference §6.7, §8.1).
//!
//! Legacy proto kind: protobuf JSON names (camelCase), Kuma's paths without `spec.`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::findings::codes;
use crate::kuma_enum;
use crate::model::choice::Choice;
use crate::model::common::{
    Duration, GoUrl, StringMap, TagOpts, go_url_parse_request_uri, is_host_port, parse_go_duration, validate_tags,
};
use crate::model::dataplane::{allowed_values_hint, lenient_map, validate_port};
use crate::model::{KindSpec, ValidateCtx};
use crate::validate::violations::{Path, Violations};

/// How many mTLS backends a Mesh may have (`AllowedMTLSBackends`).
pub const ALLOWED_MTLS_BACKENDS: usize = 1;

/// Mesh spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Mesh {
    /// Mutual TLS: certificate authority backends and the enabled one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtls: Option<Mtls>,
    /// Legacy tracing backends (TrafficTrace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracing: Option<Tracing>,
    /// Legacy logging backends (TrafficLog).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logging: Option<Logging>,
    /// Legacy metrics backends.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// Networking settings of the mesh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub networking: Option<MeshNetworking>,
    /// Routing settings of the mesh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routing: Option<Routing>,
    /// Constraints on the data plane proxies of the mesh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Constraints>,
    /// MeshService generation and usage mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh_services: Option<MeshServices>,
    /// Default policies not to create with the mesh (resource types, or `*` for all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_creating_initial_policies: Vec<String>,
}

/// Mutual TLS settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Mtls {
    /// Name of the enabled backend; mTLS is off when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled_backend: Option<String>,
    /// Certificate authority backends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<CertificateAuthorityBackend>,
    /// Skip validation of the CA backend configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_validation: Option<bool>,
}

kuma_enum! {
    /// How a CA backend handles plaintext traffic.
    pub enum MtlsMode { Strict = "STRICT", Permissive = "PERMISSIVE" }
}

/// A certificate authority backend.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CertificateAuthorityBackend {
    /// Name of the backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Type of the backend (`builtin`, `provided`, or a plugin's type).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Data plane certificate settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dp_cert: Option<DpCert>,
    /// Type-specific configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<Value>,
    /// STRICT (only mTLS, the default) or PERMISSIVE (also plaintext).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Choice<MtlsMode>>,
    /// Root chain settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub root_chain: Option<RootChain>,
}

/// Data plane certificate settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct DpCert {
    /// Rotation settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation: Option<Rotation>,
    /// Timeout of a certificate request to the CA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<Duration>,
}

/// Certificate rotation settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Rotation {
    /// Certificate lifetime, e.g. `1d`, `24h` (Go durations plus `d` and `y`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration: Option<String>,
}

/// Root chain settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RootChain {
    /// Timeout of a root chain request to the CA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<Duration>,
}

/// Legacy tracing settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Tracing {
    /// Backend used when a TrafficTrace names none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_backend: Option<String>,
    /// Tracing backends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<TracingBackend>,
}

/// A tracing backend.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TracingBackend {
    /// Name of the backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Percentage of sampled requests (0.0 to 100.0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling: Option<f64>,
    /// `zipkin` or `datadog`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Type-specific configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<Value>,
}

/// Legacy logging settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Logging {
    /// Backend used when a TrafficLog names none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_backend: Option<String>,
    /// Logging backends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<LoggingBackend>,
}

/// A logging backend.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct LoggingBackend {
    /// Name of the backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Access log format (Envoy command operators).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// `file` or `tcp`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Type-specific configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<Value>,
}

/// Legacy metrics settings (`metrics.proto`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Metrics {
    /// Name of the enabled backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled_backend: Option<String>,
    /// Metrics backends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<MetricsBackend>,
}

/// A metrics backend (also the Dataplane `metrics` field).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MetricsBackend {
    /// Name of the backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `prometheus`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<String>,
    /// Type-specific configuration (Prometheus: port, path, tags, skipMTLS, aggregate, envoy, tls).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conf: Option<Value>,
}

/// Mesh networking settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshNetworking {
    /// Outbound settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outbound: Option<MeshOutbound>,
}

/// Mesh outbound settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshOutbound {
    /// Whether traffic to unknown destinations passes through (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<bool>,
}

/// Mesh routing settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Routing {
    /// Prefer endpoints in the same zone (legacy locality-aware load balancing).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality_aware_load_balancing: Option<bool>,
    /// Route cross-zone and external traffic through ZoneEgress (needs mTLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_egress: Option<bool>,
    /// Forbid MeshExternalService access unless a MeshTrafficPermission allows it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_forbid_mesh_external_service_access: Option<bool>,
}

/// Constraints of the mesh.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Constraints {
    /// Which data plane proxies may join the mesh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataplane_proxy: Option<DataplaneProxyConstraints>,
}

/// Tag rules data plane proxies must satisfy to join the mesh.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct DataplaneProxyConstraints {
    /// A proxy must match at least one of these (when any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requirements: Vec<TagRules>,
    /// A proxy must match none of these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<TagRules>,
}

/// A tag selector of a constraint (`*` matches any value).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TagRules {
    /// Tags to match.
    #[serde(default, deserialize_with = "lenient_map", skip_serializing_if = "StringMap::is_empty")]
    pub tags: StringMap,
}

kuma_enum! {
    /// How MeshServices are generated and used.
    pub enum MeshServicesMode {
        Disabled = "Disabled",
        Everywhere = "Everywhere",
        ReachableBackends = "ReachableBackends",
        Exclusive = "Exclusive",
    }
}

/// MeshService settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshServices {
    /// Disabled (default), Everywhere, ReachableBackends or Exclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Choice<MeshServicesMode>>,
}

// ---- helpers for later stages ---------------------------------------------------

impl Mesh {
    /// mTLS is enabled (a non-empty `mtls.enabledBackend`).
    pub fn mtls_enabled(&self) -> bool {
        self.enabled_mtls_backend_name().is_some()
    }

    /// The enabled CA backend's name.
    pub fn enabled_mtls_backend_name(&self) -> Option<&str> {
        self.mtls.as_ref().and_then(|m| m.enabled_backend.as_deref()).filter(|s| !s.is_empty())
    }

    /// The enabled CA backend (when it exists).
    pub fn enabled_mtls_backend(&self) -> Option<&CertificateAuthorityBackend> {
        let name = self.enabled_mtls_backend_name()?;
        self.mtls.as_ref()?.backends.iter().find(|b| b.name.as_deref() == Some(name))
    }

    /// Mode of the enabled CA backend (STRICT when unset or unknown).
    pub fn mtls_mode(&self) -> MtlsMode {
        self.enabled_mtls_backend().and_then(|b| b.mode.as_ref()).and_then(Choice::known).unwrap_or(MtlsMode::Strict)
    }

    /// `meshServices.mode` (Disabled when unset or unknown).
    pub fn mesh_services_mode(&self) -> MeshServicesMode {
        self.mesh_services
            .as_ref()
            .and_then(|m| m.mode.as_ref())
            .and_then(Choice::known)
            .unwrap_or(MeshServicesMode::Disabled)
    }

    /// `networking.outbound.passthrough` (true when unset).
    pub fn passthrough(&self) -> bool {
        self.networking.as_ref().and_then(|n| n.outbound.as_ref()).and_then(|o| o.passthrough).unwrap_or(true)
    }

    /// `routing.zoneEgress`.
    pub fn zone_egress_enabled(&self) -> bool {
        self.routing.as_ref().and_then(|r| r.zone_egress).unwrap_or(false)
    }

    /// `routing.localityAwareLoadBalancing`.
    pub fn locality_aware_load_balancing(&self) -> bool {
        self.routing.as_ref().and_then(|r| r.locality_aware_load_balancing).unwrap_or(false)
    }

    /// Whether default policies of `kind` are skipped on creation.
    pub fn skips_initial_policy(&self, kind: &str) -> bool {
        self.skip_creating_initial_policies.iter().any(|s| s == "*" || s == kind)
    }
}

// ---- validation -------------------------------------------------------------------

impl KindSpec for Mesh {
    fn validate(&self, _ctx: &ValidateCtx, v: &mut Violations) {
        let root = Path::root();
        if let Some(m) = &self.mtls {
            validate_mtls(v, &root.field("mtls"), m);
        }
        if let Some(l) = &self.logging {
            validate_logging(v, &root.field("logging"), l);
        }
        if let Some(t) = &self.tracing {
            validate_tracing(v, &root.field("tracing"), t);
        }
        if let Some(m) = &self.metrics {
            validate_metrics(v, &root.field("metrics"), m);
        }
        if let Some(dp) = self.constraints.as_ref().and_then(|c| c.dataplane_proxy.as_ref()) {
            let p = root.field("constraints").field("dataplaneProxy");
            let opts = TagOpts { at_least_one: true, selector: true, ..Default::default() };
            for (i, r) in dp.requirements.iter().enumerate() {
                validate_tags(v, &p.field("requirements").index(i).field("tags"), &r.tags, opts, |_, _, _| {});
            }
            for (i, r) in dp.restrictions.iter().enumerate() {
                validate_tags(v, &p.field("restrictions").index(i).field("tags"), &r.tags, opts, |_, _, _| {});
            }
        }
        if self.zone_egress_enabled() && self.enabled_mtls_backend_name().is_none() {
            v.add(&root.field("mtls"), "has to be set when zoneEgress enabled");
        }
        // Values Kuma's proto parser would reject.
        if let Some(m) = &self.mtls {
            for (i, b) in m.backends.iter().enumerate() {
                v.one_of_opt(&root.field("mtls").field("backends").index(i).field("mode"), b.mode.as_ref());
            }
        }
        if let Some(ms) = &self.mesh_services {
            v.one_of_opt(&root.field("meshServices").field("mode"), ms.mode.as_ref());
        }
    }
}

fn validate_mtls(v: &mut Violations, path: &Path, m: &Mtls) {
    let backends = path.field("backends");
    if m.backends.len() > ALLOWED_MTLS_BACKENDS {
        v.add(&backends, format!("cannot have more than {ALLOWED_MTLS_BACKENDS} backends"));
    }
    let mut used: Vec<&str> = Vec::new();
    for (i, b) in m.backends.iter().enumerate() {
        let name = b.name.as_deref().unwrap_or_default();
        if used.contains(&name) {
            v.add(&backends.index(i).field("name"), format!("{name:?} name is already used for another backend"));
        }
        used.push(name);
    }
    if let Some(enabled) = m.enabled_backend.as_deref().filter(|s| !s.is_empty())
        && !used.contains(&enabled)
    {
        v.add(&path.field("enabledBackend"), "has to be set to one of the backends in the mesh");
    }
    for b in &m.backends {
        if let Some(dp) = &b.dp_cert {
            let exp = dp.rotation.as_ref().and_then(|r| r.expiration.as_deref()).unwrap_or_default();
            if !is_kuma_duration(exp) {
                // Kuma's path (lowercase, no backend index).
                let p = path.field("dpcert").field("rotation").field("expiration");
                v.add_code(codes::BAD_DURATION, &p, "has to be a valid format");
            }
        }
    }
}

/// Kuma's `mesh.ParseDuration`: Go durations plus whole days (`1d`) and years (`1y`).
fn is_kuma_duration(s: &str) -> bool {
    if let Some(n) = s.strip_suffix('d').or_else(|| s.strip_suffix('y'))
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        return true;
    }
    parse_go_duration(s).is_some()
}

fn validate_logging(v: &mut Violations, path: &Path, l: &Logging) {
    let mut used: Vec<&str> = Vec::new();
    for (i, b) in l.backends.iter().enumerate() {
        let p = path.field("backends").index(i);
        let name = b.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            v.add_code(codes::KUMA_REQUIRED, &p.field("name"), "cannot be empty");
        }
        let config = p.field("config");
        match b.type_.as_deref() {
            Some("file") => {
                if let Some(cfg) = typed_config(v, &config, b.conf.as_ref())
                    && str_field(cfg, "path").is_empty()
                {
                    v.add_code(codes::KUMA_REQUIRED, &config.field("path"), "cannot be empty");
                }
            }
            Some("tcp") => {
                if let Some(cfg) = typed_config(v, &config, b.conf.as_ref()) {
                    let address = str_field(cfg, "address");
                    if address.is_empty() {
                        v.add_code(codes::KUMA_REQUIRED, &config.field("address"), "cannot be empty");
                    } else if !is_host_port(address) {
                        v.add_code(codes::BAD_ADDRESS, &config.field("address"), "has to be in format of HOST:PORT");
                    }
                }
            }
            _ => v.add_code(
                codes::KUMA_ENUM,
                &p.field("type"),
                "unknown backend type. Available backends: \"tcp\", \"file\"",
            ),
        }
        if used.contains(&name) {
            v.add(&p.field("name"), format!("{name:?} name is already used for another backend"));
        }
        used.push(name);
    }
    if let Some(d) = l.default_backend.as_deref().filter(|s| !s.is_empty())
        && !used.contains(&d)
    {
        v.add(&path.field("defaultBackend"), "has to be set to one of the logging backend in mesh");
    }
}

fn validate_tracing(v: &mut Violations, path: &Path, t: &Tracing) {
    let mut used: Vec<&str> = Vec::new();
    for (i, b) in t.backends.iter().enumerate() {
        let p = path.field("backends").index(i);
        let name = b.name.as_deref().unwrap_or_default();
        if name.is_empty() {
            v.add_code(codes::KUMA_REQUIRED, &p.field("name"), "cannot be empty");
        }
        let sampling = b.sampling.unwrap_or(0.0);
        if !(0.0..=100.0).contains(&sampling) {
            v.add_code(codes::BAD_PERCENTAGE, &p.field("sampling"), "has to be in [0.0 - 100.0] range");
        }
        let config = p.field("config");
        match b.type_.as_deref() {
            Some("zipkin") => {
                if let Some(cfg) = typed_config(v, &config, b.conf.as_ref()) {
                    validate_zipkin(v, &config, cfg);
                }
            }
            Some("datadog") => {
                if let Some(cfg) = typed_config(v, &config, b.conf.as_ref()) {
                    if str_field(cfg, "address").is_empty() {
                        v.add_code(codes::KUMA_REQUIRED, &config.field("address"), "cannot be empty");
                    }
                    validate_port(v, &config.field("port"), cfg.get("port").and_then(Value::as_i64));
                }
            }
            _ => v.add_code(
                codes::KUMA_ENUM,
                &p.field("type"),
                "unknown backend type. Available backends: \"zipkin\", \"datadog\"",
            ),
        }
        if used.contains(&name) {
            v.add(&p.field("name"), format!("{name:?} name is already used for another backend"));
        }
        used.push(name);
    }
    if let Some(d) = t.default_backend.as_deref().filter(|s| !s.is_empty())
        && !used.contains(&d)
    {
        v.add(&path.field("defaultBackend"), "has to be set to one of the tracing backend in mesh");
    }
}

fn validate_zipkin(v: &mut Violations, config: &Path, cfg: &serde_json::Map<String, Value>) {
    let api = str_field(cfg, "apiVersion");
    if !api.is_empty() && !["httpJsonV1", "httpJson", "httpProto"].contains(&api) {
        v.add_code(
            codes::KUMA_ENUM,
            &config.field("apiVersion"),
            format!("has invalid value. {}", allowed_values_hint(&["httpJsonV1", "httpJson", "httpProto"])),
        );
    }
    let url = str_field(cfg, "url");
    if url.is_empty() {
        v.add_code(codes::KUMA_REQUIRED, &config.field("url"), "cannot be empty");
        return;
    }
    match go_url_parse_request_uri(url).as_ref().map(GoUrl::port) {
        None => v.add_code(codes::BAD_ADDRESS, &config.field("url"), "invalid URL"),
        Some("") => v.add_code(codes::BAD_ADDRESS, &config.field("url"), "port has to be explicitly specified"),
        Some(_) => {}
    }
}

fn validate_metrics(v: &mut Violations, path: &Path, m: &Metrics) {
    let mut used: Vec<&str> = Vec::new();
    for (i, b) in m.backends.iter().enumerate() {
        let p = path.field("backends").index(i);
        let name = b.name.as_deref().unwrap_or_default();
        if used.contains(&name) {
            v.add(&p.field("name"), format!("{name:?} name is already used for another backend"));
        }
        if b.type_.as_deref() != Some("prometheus") {
            v.add_code(codes::KUMA_ENUM, &p.field("type"), "unknown backend type. Available backends: \"prometheus\"");
        } else {
            validate_prometheus_config(v, &p.field("conf"), b.conf.as_ref());
        }
        used.push(name);
    }
    if let Some(e) = m.enabled_backend.as_deref().filter(|s| !s.is_empty())
        && !used.contains(&e)
    {
        v.add(&path.field("enabledBackend"), "has to be set to one of the backends in the mesh");
    }
}

/// Kuma's `validatePrometheusConfig`, reporting under `path` (the `conf` field).
pub(crate) fn validate_prometheus_config(v: &mut Violations, path: &Path, conf: Option<&Value>) {
    let Some(cfg) = typed_config(v, path, conf) else {
        return;
    };
    let skip_mtls = cfg.get("skipMTLS").and_then(Value::as_bool);
    let tls_mode = cfg.get("tls").map(|t| t.get("mode").and_then(Value::as_str).unwrap_or("activeMTLSBackend"));
    if let (Some(skip), Some(mode)) = (skip_mtls, tls_mode) {
        let equal = (!skip && mode == "activeMTLSBackend") || (skip && mode == "disabled");
        if !equal {
            v.add(path, "skipMTLS and tls configuration cannot be defined together");
            return;
        }
    }
    let filter = cfg.get("envoy").and_then(|e| e.get("filterRegex")).and_then(Value::as_str).unwrap_or_default();
    if let Err(e) = regex::Regex::new(filter) {
        let reason = e.to_string().lines().last().unwrap_or_default().trim().to_string();
        v.add(&path.field("envoy").field("filterRegex"), format!("provided regexp isn't correct: {reason}"));
        return;
    }
    let mut used: Vec<&str> = Vec::new();
    for (i, a) in cfg.get("aggregate").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let name = a.get("name").and_then(Value::as_str).unwrap_or_default();
        if used.contains(&name) {
            v.add(
                &path.field("aggregate").index(i).field("name"),
                format!("duplicate entry: {name}, values have to be unique"),
            );
            continue;
        }
        used.push(name);
    }
}

/// Kuma's `proto.ToTyped` of a free-form `conf`: an object (or nothing, read as
/// empty); anything else is "could not parse config".
fn typed_config<'a>(
    v: &mut Violations,
    path: &Path,
    conf: Option<&'a Value>,
) -> Option<&'a serde_json::Map<String, Value>> {
    static EMPTY: std::sync::OnceLock<serde_json::Map<String, Value>> = std::sync::OnceLock::new();
    match conf {
        None | Some(Value::Null) => Some(EMPTY.get_or_init(serde_json::Map::new)),
        Some(Value::Object(m)) => Some(m),
        Some(other) => {
            let found = match other {
                Value::Array(_) => "a list",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                _ => "a boolean",
            };
            v.add(path, format!("could not parse config: expected an object, found {found}"));
            None
        }
    }
}

fn str_field<'a>(cfg: &'a serde_json::Map<String, Value>, key: &str) -> &'a str {
    cfg.get(key).and_then(Value::as_str).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use crate::model::PolicyRole;
    use crate::model::testing::{check, meta, pairs};

    fn mesh(spec: serde_json::Value) -> Vec<(String, String)> {
        check::<Mesh>(&meta(Kind::Mesh, "x"), PolicyRole::System, spec)
    }

    #[test]
    fn valid_meshes() {
        let cases = [
            serde_json::json!({}),
            serde_json::json!({"mtls": {"enabledBackend": "ca-1", "backends": [{"name": "ca-1", "type": "builtin", "mode": "PERMISSIVE",
                "dpCert": {"rotation": {"expiration": "2y"}, "requestTimeout": "10s"}, "rootChain": {"requestTimeout": "5s"},
                "conf": {"caCert": {"RSAbits": 2048, "expiration": "10y"}}}]},
                "meshServices": {"mode": "Exclusive"}, "skipCreatingInitialPolicies": ["*"],
                "routing": {"zoneEgress": true, "localityAwareLoadBalancing": true},
                "networking": {"outbound": {"passthrough": false}}}),
            serde_json::json!({"logging": {"defaultBackend": "file", "backends": [
                    {"name": "file", "type": "file", "conf": {"path": "/tmp/access.log"}},
                    {"name": "tcp", "type": "tcp", "conf": {"address": "127.0.0.1:5000"}}]},
                "tracing": {"defaultBackend": "zipkin", "backends": [
                    {"name": "zipkin", "type": "zipkin", "sampling": 80.0, "conf": {"url": "http://zipkin.local:9411/api/v2/spans"}},
                    {"name": "dd", "type": "datadog", "conf": {"address": "127.0.0.1", "port": 8126}}]},
                "metrics": {"enabledBackend": "prom", "backends": [{"name": "prom", "type": "prometheus",
                    "conf": {"port": 5670, "path": "/metrics", "skipMTLS": true, "tls": {"mode": "disabled"}, "envoy": {"filterRegex": "http2_act.*"}}}]},
                "constraints": {"dataplaneProxy": {"requirements": [{"tags": {"kuma.io/zone": "*"}}], "restrictions": [{"tags": {"kuma.io/service": "web"}}]}}}),
        ];
        for c in cases {
            assert_eq!(mesh(c.clone()), vec![], "{c}");
        }
    }

    #[test]
    fn mtls_rules() {
        let got = mesh(serde_json::json!({"mtls": {"enabledBackend": "backend-1", "backends": [
            {"name": "backend-1", "type": "builtin"}, {"name": "backend-1", "type": "builtin"}]}}));
        assert_eq!(
            got,
            pairs(&[
                ("mtls.backends", "cannot have more than 1 backends"),
                ("mtls.backends[1].name", "\"backend-1\" name is already used for another backend"),
            ])
        );
        let got = mesh(
            serde_json::json!({"mtls": {"enabledBackend": "backend-2", "backends": [{"name": "backend-1", "type": "builtin"}]}}),
        );
        assert_eq!(got, pairs(&[("mtls.enabledBackend", "has to be set to one of the backends in the mesh")]));
        let got = mesh(serde_json::json!({"mtls": {"enabledBackend": "backend-3", "backends": [
            {"name": "backend-3", "type": "builtin", "dpCert": {"rotation": {"expiration": "2e"}}}]}}));
        assert_eq!(got, pairs(&[("mtls.dpcert.rotation.expiration", "has to be a valid format")]));
        let got = mesh(serde_json::json!({"routing": {"zoneEgress": true}}));
        assert_eq!(got, pairs(&[("mtls", "has to be set when zoneEgress enabled")]));
    }

    #[test]
    fn logging_rules() {
        let got = mesh(serde_json::json!({"logging": {"backends": [
            {"name": null, "type": "file", "conf": {"path": "/path"}},
            {"name": "tcp-1", "type": "file", "conf": {"address": "invalid-address"}},
            {"name": "tcp-1", "type": "tcp"},
            {"name": "t2", "type": "tcp", "conf": {"address": "wrong-format:234:234"}}],
            "defaultBackend": "invalid-backend"}}));
        assert_eq!(
            got,
            pairs(&[
                ("logging.backends[0].name", "cannot be empty"),
                ("logging.backends[1].config.path", "cannot be empty"),
                ("logging.backends[2].config.address", "cannot be empty"),
                ("logging.backends[2].name", "\"tcp-1\" name is already used for another backend"),
                ("logging.backends[3].config.address", "has to be in format of HOST:PORT"),
                ("logging.defaultBackend", "has to be set to one of the logging backend in mesh"),
            ])
        );
    }

    #[test]
    fn tracing_rules() {
        let got = mesh(serde_json::json!({"tracing": {"defaultBackend": "non-existent", "backends": [
            {"name": "zipkin-us", "sampling": 100.1, "type": "zipkin", "conf": {"url": "http://zipkin-us.local:9411/v2/spans"}},
            {"name": "z2", "type": "zipkin", "conf": {"url": ""}},
            {"name": "z3", "type": "zipkin", "conf": {"url": "invalid-url"}},
            {"name": "z4", "type": "zipkin", "conf": {"url": "http://zipkin-us.local/v2/spans"}},
            {"name": "z5", "type": "zipkin", "conf": {"url": "http://zipkin-us.local:9411/v2/spans", "apiVersion": "invalid"}},
            {"name": "z5", "type": "zipkin", "conf": {"url": "http://zipkin-us.local:9411/v2/spans"}}]}}));
        assert_eq!(
            got,
            pairs(&[
                ("tracing.backends[0].sampling", "has to be in [0.0 - 100.0] range"),
                ("tracing.backends[1].config.url", "cannot be empty"),
                ("tracing.backends[2].config.url", "invalid URL"),
                ("tracing.backends[3].config.url", "port has to be explicitly specified"),
                (
                    "tracing.backends[4].config.apiVersion",
                    "has invalid value. Allowed values: httpJsonV1, httpJson, httpProto"
                ),
                ("tracing.backends[5].name", "\"z5\" name is already used for another backend"),
                ("tracing.defaultBackend", "has to be set to one of the tracing backend in mesh"),
            ])
        );
    }

    #[test]
    fn metrics_and_unknown_types() {
        let got = mesh(serde_json::json!({
            "metrics": {"enabledBackend": "backend-2", "backends": [{"name": "backend-1", "type": "xxx"}, {"name": "backend-1", "type": "prometheus"}]},
            "logging": {"backends": [{"name": "backend-1", "type": "xxx"}]},
            "tracing": {"backends": [{"name": "backend-1", "type": "xxx"}]}}));
        assert_eq!(
            got,
            pairs(&[
                ("logging.backends[0].type", "unknown backend type. Available backends: \"tcp\", \"file\""),
                ("tracing.backends[0].type", "unknown backend type. Available backends: \"zipkin\", \"datadog\""),
                ("metrics.backends[0].type", "unknown backend type. Available backends: \"prometheus\""),
                ("metrics.backends[1].name", "\"backend-1\" name is already used for another backend"),
                ("metrics.enabledBackend", "has to be set to one of the backends in the mesh"),
            ])
        );
        let got = mesh(serde_json::json!({"metrics": {"backends": [{"name": "p", "type": "prometheus",
            "conf": {"skipMTLS": false, "tls": {"mode": "disabled"}}}]}}));
        assert_eq!(
            got,
            pairs(&[("metrics.backends[0].conf", "skipMTLS and tls configuration cannot be defined together")])
        );
    }

    #[test]
    fn constraints_rules() {
        let got = mesh(serde_json::json!({"constraints": {"dataplaneProxy": {
            "requirements": [{}, {"tags": {"": ""}}, {"tags": {"!@#$": "!@#$"}}]}}}));
        let p = "constraints.dataplaneProxy.requirements";
        assert_eq!(
            got,
            vec![
                (format!("{p}[0].tags"), "must have at least one tag".to_string()),
                (format!("{p}[1].tags"), "tag name must be non-empty".to_string()),
                (format!("{p}[1].tags[\"\"]"), "tag value must be non-empty".to_string()),
                (
                    format!("{p}[2].tags[\"!@#$\"]"),
                    "tag name must consist of alphanumeric characters, dots, dashes, slashes and underscores".to_string()
                ),
                (
                    format!("{p}[2].tags[\"!@#$\"]"),
                    "tag value must consist of alphanumeric characters, dots, dashes, slashes and underscores or be \"*\""
                        .to_string()
                ),
            ]
        );
    }

    #[test]
    fn enums_and_helpers() {
        let got = mesh(serde_json::json!({"meshServices": {"mode": "Sometimes"}}));
        assert_eq!(
            got,
            pairs(&[(
                "meshServices.mode",
                "\"mode\" must be one of [\"Disabled\", \"Everywhere\", \"ReachableBackends\", \"Exclusive\"]"
            )])
        );
        let m: Mesh = serde_json::from_value(serde_json::json!({"mtls": {"enabledBackend": "ca-1",
            "backends": [{"name": "ca-1", "type": "builtin", "mode": "PERMISSIVE"}]}, "meshServices": {"mode": "Exclusive"}}))
        .unwrap();
        assert!(m.mtls_enabled());
        assert_eq!(m.mtls_mode(), MtlsMode::Permissive);
        assert_eq!(m.mesh_services_mode(), MeshServicesMode::Exclusive);
        assert!(m.passthrough());
        assert_eq!(Mesh::default().mesh_services_mode(), MeshServicesMode::Disabled);
        assert!(!Mesh::default().mtls_enabled());
    }
}
