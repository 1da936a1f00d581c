//! MeshTrace (`pkg/plugins/policies/meshtrace/`): distributed tracing of the
//! requests a proxy handles, exported to Zipkin, Datadog or OpenTelemetry. A
//! single-`default` policy: no `to`, `from` or `rules`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::findings::codes;
use crate::kuma_enum;
use crate::model::choice::Choice;
use crate::model::common::{
    BackendResourceRef, IntOrString, TargetRef, TargetRefKind as K, TargetRefRules, go_url_parse_request_uri,
    is_go_url, validate_otel_backend_ref_or_endpoint,
};
use crate::model::{KindSpec, PolicyRole, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// MeshTrace spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshTrace {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// Tracing configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Conf>,
}

/// Tracing configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// The tracing backend: a list of zero or one element (required; empty disables tracing).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1))]
    pub backends: Option<Vec<Backend>>,
    /// Which share of requests is traced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampling: Option<Sampling>,
    /// Custom tags added to spans, from headers or literal values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<Tag>>,
}

kuma_enum! {
    /// Kind of tracing backend.
    pub enum BackendType { Zipkin = "Zipkin", Datadog = "Datadog", OpenTelemetry = "OpenTelemetry" }
}

/// A tracing backend; only one of zipkin, datadog or openTelemetry can be used.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Backend {
    /// Which backend this is: `Zipkin`, `Datadog` or `OpenTelemetry`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<BackendType>>,
    /// Zipkin backend configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zipkin: Option<Zipkin>,
    /// Datadog backend configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datadog: Option<Datadog>,
    /// OpenTelemetry backend configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_telemetry: Option<OpenTelemetry>,
}

kuma_enum! {
    /// Version of the Zipkin API.
    pub enum ZipkinApiVersion { HttpJson = "httpJson", HttpProto = "httpProto" }
}

fn default_api_version() -> Choice<ZipkinApiVersion> {
    Choice::Known(ZipkinApiVersion::HttpJson)
}

fn default_true() -> bool {
    true
}

/// Zipkin backend configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Zipkin {
    /// Address of the Zipkin collector.
    #[serde(default)]
    #[schemars(required)]
    pub url: String,
    /// Generate 128bit trace ids.
    #[serde(rename = "traceId128bit", default)]
    pub trace_id_128bit: bool,
    /// Version of the API (`httpJson` or `httpProto`).
    #[serde(default = "default_api_version")]
    pub api_version: Choice<ZipkinApiVersion>,
    /// Whether client and server spans share the same span context.
    #[serde(default = "default_true")]
    pub shared_span_context: bool,
}

/// Datadog backend configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Datadog {
    /// Address of the Datadog collector; only host and port are allowed.
    #[serde(default)]
    #[schemars(required)]
    pub url: String,
    /// Split the Datadog service name by traffic direction and destination.
    #[serde(default)]
    pub split_service: bool,
}

/// OpenTelemetry backend configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct OpenTelemetry {
    /// Reference to the MeshOpenTelemetryBackend defining the collector (instead of `endpoint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<BackendResourceRef>,
    /// Address of the OpenTelemetry collector, e.g. `otel-collector:4317`. Deprecated: use `backendRef`.
    #[serde(default)]
    pub endpoint: String,
}

/// Sampling: which share of requests is traced (percentages, default 100).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Sampling {
    /// Requests force traced when the `x-client-trace-id` header is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<IntOrString>,
    /// Requests randomly selected for tracing when not requested by the client or forced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random: Option<IntOrString>,
    /// Upper limit on the total sampling rate, applied after all other checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overall: Option<IntOrString>,
}

/// A custom tag; only one of `literal` or `header` can be used.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Tag {
    /// Name of the tag.
    #[serde(default)]
    #[schemars(required)]
    pub name: String,
    /// Tag taken from a literal value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub literal: Option<String>,
    /// Tag taken from a request header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderTag>,
}

/// A tag taken from a request header.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HeaderTag {
    /// Name of the header.
    #[serde(default)]
    #[schemars(required)]
    pub name: String,
    /// Value used when the header is missing; without it the tag is left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

impl KindSpec for MeshTrace {
    fn validate(&self, ctx: &ValidateCtx, v: &mut Violations) {
        let supported: &[K] = if ctx.role == PolicyRole::System {
            &[K::Mesh, K::MeshSubset, K::MeshGateway, K::MeshService, K::MeshServiceSubset, K::Dataplane]
        } else {
            &[K::Mesh, K::MeshSubset, K::MeshService, K::MeshServiceSubset, K::Dataplane]
        };
        super::validate_top(v, &self.target_ref, TargetRefRules { supported, ..Default::default() });
        let empty = Conf::default();
        validate_default(v, &Path::root().field("default"), self.default.as_ref().unwrap_or(&empty));
    }

    fn policy(&self) -> Option<PolicyView<'_>> {
        Some(super::top_view(&self.target_ref))
    }
}

fn validate_default(v: &mut Violations, path: &Path, conf: &Conf) {
    let backends_path = path.field("backends");
    match conf.backends.as_deref() {
        None => v.must_be_defined(&backends_path),
        Some([]) => {}
        Some([backend]) => validate_backend(v, &backends_path.index(0), backend),
        Some(_) => v.add(&backends_path, "must have zero or one backend defined"),
    }
    for (i, tag) in conf.tags.iter().flatten().enumerate() {
        let p = path.field("tags").index(i);
        if tag.name.is_empty() {
            v.add_code(codes::KUMA_REQUIRED, &p.field("name"), msg::MUST_NOT_BE_EMPTY);
        }
        if tag.header.is_some() == tag.literal.is_some() {
            v.add(&p, msg::must_have_only_one("tag", &["header", "literal"]));
        }
    }
    if let Some(sampling) = &conf.sampling {
        let p = path.field("sampling");
        validate_sampling(v, &p.field("client"), sampling.client.as_ref());
        validate_sampling(v, &p.field("random"), sampling.random.as_ref());
        validate_sampling(v, &p.field("overall"), sampling.overall.as_ref());
    }
}

fn validate_sampling(v: &mut Violations, path: &Path, value: Option<&IntOrString>) {
    let Some(value) = value else { return };
    // Kuma reports a bad string, then compares the zero value it got instead.
    match value.as_f64() {
        None => v.add_code(codes::BAD_PERCENTAGE, path, "string is not a number"),
        Some(f) if !(0.0..=100.0).contains(&f) => v.add_code(codes::BAD_PERCENTAGE, path, "must be between 0 and 100"),
        Some(_) => {}
    }
}

fn validate_backend(v: &mut Violations, path: &Path, backend: &Backend) {
    // Kuma panics on a type it does not know; the schema reports it here.
    match backend.type_.as_ref().and_then(Choice::known) {
        Some(BackendType::Datadog) => {
            let p = path.field("datadog");
            match &backend.datadog {
                None => v.must_be_defined(&p),
                Some(d) => validate_datadog_url(v, &p.field("url"), &d.url),
            }
        }
        Some(BackendType::Zipkin) => {
            let p = path.field("zipkin");
            match &backend.zipkin {
                None => v.must_be_defined(&p),
                Some(z) if z.url.is_empty() => {
                    v.add_code(codes::KUMA_REQUIRED, &p.field("url"), msg::MUST_NOT_BE_EMPTY)
                }
                Some(z) if !is_go_url(&z.url) => v.add_code(codes::BAD_ADDRESS, &p.field("url"), "must be a valid url"),
                Some(_) => {}
            }
        }
        Some(BackendType::OpenTelemetry) => {
            let p = path.field("openTelemetry");
            match &backend.open_telemetry {
                None => v.must_be_defined(&p),
                Some(o) => validate_otel_backend_ref_or_endpoint(v, &p, &o.endpoint, o.backend_ref.as_ref(), None),
            }
        }
        None => {}
    }
}

/// The Datadog agent URL: `http`, an explicit valid port, nothing but host and port.
fn validate_datadog_url(v: &mut Violations, path: &Path, raw: &str) {
    let bad = codes::BAD_ADDRESS;
    let Some(url) = go_url_parse_request_uri(raw) else {
        v.add_code(bad, path, "must be a valid url");
        return;
    };
    if url.scheme != "http" {
        v.add_code(bad, path, "scheme must be http");
    }
    let port = url.port();
    if port.is_empty() {
        v.add_code(bad, path, format!("port {}", msg::MUST_BE_DEFINED));
    } else if !matches!(port.parse::<i64>(), Ok(1..=65535)) {
        v.add_code(bad, path, msg::PORT);
    }
    // Kuma walks a Go map here, so its order varies; ours is fixed.
    let extra = [
        ("opaque", !url.opaque.is_empty()),
        ("user", url.has_user),
        ("path", !url.path.is_empty()),
        ("query", !url.raw_query.is_empty()),
        ("fragment", !url.fragment.is_empty()),
    ];
    for (name, set) in extra {
        if set {
            v.add_code(bad, path, format!("{name} {}", msg::MUST_NOT_BE_DEFINED));
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::testing::{self, meta, pairs};
    use crate::model::{Kind, PolicyRole};

    fn check_as(role: PolicyRole, spec: serde_json::Value) -> Vec<(String, String)> {
        testing::check::<MeshTrace>(&meta(Kind::MeshTrace, "test"), role, spec)
    }

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        check_as(PolicyRole::System, spec)
    }

    fn one(default: serde_json::Value) -> Vec<(String, String)> {
        check(json!({"targetRef": {"kind": "MeshService", "name": "backend"}, "default": default}))
    }

    #[test]
    fn valid_specs() {
        let valid = [
            json!({"backends": [{"type": "Zipkin", "zipkin": {
                    "url": "http://jaeger-collector.mesh-observability:9411/api/v2/spans", "apiVersion": "httpJson"}}],
                "tags": [{"name": "team", "literal": "core"}, {"name": "env", "header": {"name": "x-env", "default": "prod"}},
                    {"name": "version", "header": {"name": "x-version"}}],
                "sampling": {"overall": 80, "random": "60.1", "client": 40}}),
            json!({"backends": [], "sampling": {"overall": 80, "random": 60, "client": 40}}),
            json!({"backends": [{"type": "Datadog", "datadog": {"url": "http://intake.datadoghq.eu:8126", "splitService": true}}]}),
            json!({"backends": [{"type": "OpenTelemetry", "openTelemetry": {"endpoint": "otel-collector:4317"}}]}),
            json!({"backends": [{"type": "OpenTelemetry", "openTelemetry": {"backendRef": {
                "kind": "MeshOpenTelemetryBackend", "labels": {"kuma.io/display-name": "otel"}}}}]}),
        ];
        for default in valid {
            assert_eq!(one(default.clone()), pairs(&[]), "{default}");
        }
        assert_eq!(
            check(json!({"targetRef": {"kind": "Dataplane", "labels": {"app": "x"}}, "default": {"backends": []}})),
            pairs(&[])
        );
    }

    #[test]
    fn backends() {
        assert_eq!(
            check(json!({"targetRef": {"kind": "MeshService", "name": "backend"}})),
            pairs(&[("spec.default.backends", "must be defined")])
        );
        assert_eq!(
            one(json!({"backends": [
                {"type": "Zipkin", "zipkin": {"url": "http://jaeger-collector1.mesh-observability:9411/api/v2/spans"}},
                {"type": "Zipkin", "zipkin": {"url": "http://jaeger-collector2.mesh-observability:9411/api/v2/spans"}}]})),
            pairs(&[("spec.default.backends", "must have zero or one backend defined")])
        );
        assert_eq!(
            one(json!({"backends": [{"type": "Zipkin", "zipkin": {}}]})),
            pairs(&[("spec.default.backends[0].zipkin.url", "must not be empty")])
        );
        assert_eq!(
            one(json!({"backends": [{"type": "Zipkin", "zipkin": {"url": "not_valid_url"}}]})),
            pairs(&[("spec.default.backends[0].zipkin.url", "must be a valid url")])
        );
        assert_eq!(
            one(json!({"backends": [{"type": "OpenTelemetry"}]})),
            pairs(&[("spec.default.backends[0].openTelemetry", "must be defined")])
        );
        assert_eq!(
            one(json!({"backends": [{"type": "OpenTelemetry", "openTelemetry": {}}]})),
            pairs(&[(
                "spec.default.backends[0].openTelemetry",
                "openTelemetry must have exactly one defined: endpoint, backendRef"
            )])
        );
    }

    #[test]
    fn datadog() {
        let dd = |url: &str| one(json!({"backends": [{"type": "Datadog", "datadog": {"url": url}}]}));
        let p = "spec.default.backends[0].datadog.url";
        assert_eq!(dd("not_valid_url"), pairs(&[(p, "must be a valid url")]));
        assert_eq!(dd("http://intake.datadoghq.eu"), pairs(&[(p, "port must be defined")]));
        assert_eq!(dd("http://intake.datadoghq.eu:999999"), pairs(&[(p, "port must be a valid (1-65535)")]));
        assert_eq!(dd("sql://intake.datadoghq.eu:8126"), pairs(&[(p, "scheme must be http")]));
        assert_eq!(dd("http://intake.datadoghq.eu:8126/some/path"), pairs(&[(p, "path must not be defined")]));
    }

    #[test]
    fn tags_and_sampling() {
        let dd = json!([{"type": "Datadog", "datadog": {"url": "http://intake.datadoghq.eu:443"}}]);
        assert_eq!(
            one(json!({"backends": dd, "tags": [{"literal": "example"}, {"header": {"default": "example"}}]})),
            pairs(&[
                ("spec.default.tags[0].name", "must not be empty"),
                ("spec.default.tags[1].name", "must not be empty")
            ])
        );
        assert_eq!(
            one(json!({"backends": dd, "tags": [{"name": "example"}]})),
            pairs(&[("spec.default.tags[0]", "tag must have only one type defined: header, literal")])
        );
        assert_eq!(
            one(json!({"backends": dd, "sampling": {"overall": 101}})),
            pairs(&[("spec.default.sampling.overall", "must be between 0 and 100")])
        );
        assert_eq!(
            one(json!({"backends": dd, "sampling": {"overall": "xyz", "client": "xyz", "random": "xyz"}})),
            pairs(&[
                ("spec.default.sampling.client", "string is not a number"),
                ("spec.default.sampling.random", "string is not a number"),
                ("spec.default.sampling.overall", "string is not a number"),
            ])
        );
    }

    #[test]
    fn top_level_by_role() {
        let spec = json!({"targetRef": {"kind": "MeshGateway", "name": "gw"}, "default": {"backends": []}});
        assert_eq!(check(spec.clone()), pairs(&[]));
        assert_eq!(
            check_as(PolicyRole::Consumer, spec),
            pairs(&[("spec.targetRef.kind", "value 'MeshGateway' is not supported")])
        );
        assert_eq!(
            check(json!({"targetRef": {"kind": "MeshHTTPRoute", "name": "r"}, "default": {"backends": []}})),
            pairs(&[("spec.targetRef.kind", "value 'MeshHTTPRoute' is not supported")])
        );
        assert_eq!(
            check(
                json!({"targetRef": {"kind": "MeshGateway", "name": "gw", "tags": {"listener": "a"}}, "default": {"backends": []}})
            ),
            pairs(&[("spec.targetRef.tags", "must not be set with kind MeshGateway")])
        );
    }

    #[test]
    fn defaults_applied() {
        let spec: MeshTrace = serde_json::from_value(
            json!({"default": {"backends": [{"type": "Zipkin", "zipkin": {"url": "http://z:9411"}}]}}),
        )
        .unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json["default"]["backends"][0]["zipkin"],
            json!({"url": "http://z:9411", "traceId128bit": false, "apiVersion": "httpJson", "sharedSpanContext": true})
        );
        let view = spec.policy().unwrap();
        assert!(view.target_ref.is_none() && view.to.is_empty() && view.rules == 0);
    }
}
