//! MeshAccessLog (`pkg/plugins/policies/meshaccesslog/`): access logs of inbound
//! (`from`, `rules`) and outbound (`to`) traffic, sent to a file, a TCP collector or
//! an OpenTelemetry collector.
//!
//! What it shares with MeshTrace and MeshMetric (the `backendRef` to a
//! MeshOpenTelemetryBackend) is in `common::observability`; the Go ports it uses
//! (`govalidator.IsURL` / `IsFilePath`) in `common::go`.

use std::sync::LazyLock;

use regex::Regex;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{From, Rule, To};
use crate::findings::codes;
use crate::kuma_enum;
use crate::model::choice::Choice;
use crate::model::common::{
    BackendResourceRef, TargetRef, TargetRefKind as K, TargetRefRules, is_go_file_path, is_go_url, non_empty,
    validate_matches, validate_otel_backend_ref_or_endpoint, validate_target_ref,
};
use crate::model::{KindSpec, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// MeshAccessLog spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshAccessLog {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// Outbound access logs, per destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<To<Conf>>>,
    /// Inbound access logs, per group of clients (deprecated in favour of `rules`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<From<Conf>>>,
    /// Inbound access logs; `matches` narrows a rule to some clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Rule<Conf>>>,
}

/// Access log configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// Where the logs go (required; an empty list disables logging).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backends: Option<Vec<Backend>>,
}

kuma_enum! {
    /// Kind of access log backend.
    pub enum BackendType { Tcp = "Tcp", File = "File", OpenTelemetry = "OpenTelemetry" }
}

/// One access log backend; the field named by `type` must be set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Backend {
    /// Which backend this is: `Tcp`, `File` or `OpenTelemetry`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<BackendType>>,
    /// TCP logging backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<TcpBackend>,
    /// File based access logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<FileBackend>,
    /// OpenTelemetry logging backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_telemetry: Option<OtelBackend>,
}

/// A TCP logging backend.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TcpBackend {
    /// Format of access logs (Envoy command operators such as `%START_TIME%`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Address of the TCP logging backend, e.g. `127.0.0.1:5000`.
    #[serde(default)]
    #[schemars(required, length(min = 1))]
    pub address: String,
}

/// File based access logs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct FileBackend {
    /// Format of access logs (Envoy command operators such as `%START_TIME%`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,
    /// Path to a file that logs will be written to, e.g. `/tmp/access.log`.
    #[serde(default)]
    #[schemars(required, length(min = 1))]
    pub path: String,
}

/// An OpenTelemetry logging backend.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct OtelBackend {
    /// Custom OpenTelemetry attributes: static keys, values with placeholders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Vec<OtelAttribute>>,
    /// Reference to the MeshOpenTelemetryBackend defining the collector (instead of `endpoint`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<BackendResourceRef>,
    /// Log body: a raw string or an OTLP any value; may contain placeholders.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Endpoint of the OpenTelemetry collector (port defaults to 4317). Deprecated: use `backendRef`.
    #[serde(default)]
    pub endpoint: String,
}

/// A custom OpenTelemetry attribute.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct OtelAttribute {
    /// The OpenTelemetry attribute name.
    #[serde(default)]
    #[schemars(required, pattern(r"^[a-z]([a-z0-9]|[._][a-z0-9])*$"))]
    pub key: String,
    /// The value; can contain Kuma placeholders.
    #[serde(default)]
    #[schemars(required)]
    pub value: String,
}

kuma_enum! {
    /// Access log format type.
    pub enum FormatType { Plain = "Plain", Json = "Json" }
}

/// Format of access logs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Format {
    /// `Plain` (uses `plain`) or `Json` (uses `json`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<FormatType>>,
    /// Plain text format, e.g. `[%START_TIME%] %KUMA_MESH% %UPSTREAM_HOST%`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plain: Option<String>,
    /// JSON format: a list of keys and their values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<Vec<JsonValue>>,
    /// Leave out fields with empty values.
    #[serde(default)]
    pub omit_empty_values: bool,
}

/// One field of a JSON access log format.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct JsonValue {
    /// The JSON key.
    #[serde(default)]
    #[schemars(required)]
    pub key: String,
    /// The value; can contain Envoy command operators.
    #[serde(default)]
    #[schemars(required)]
    pub value: String,
}

impl KindSpec for MeshAccessLog {
    fn validate(&self, _ctx: &ValidateCtx, v: &mut Violations) {
        let inbound = non_empty(&self.from) || non_empty(&self.rules);
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
                inbound_policy: inbound,
                ..Default::default()
            },
        );
        super::validate_to_from_rules(v, non_empty(&self.to), non_empty(&self.from), non_empty(&self.rules));

        let root = Path::root();
        let top = super::top_kind(&self.target_ref);
        for (i, item) in self.to.iter().flatten().enumerate() {
            let p = root.field("to").index(i);
            let supported: &[K] = match top {
                Some(K::MeshGateway) => &[K::Mesh],
                _ => &[K::Mesh, K::MeshService, K::MeshExternalService, K::MeshMultiZoneService, K::MeshHTTPRoute],
            };
            let rules = TargetRefRules { supported, ..Default::default() };
            validate_target_ref(v, &p.field("targetRef"), &item.target_ref, &rules);
            validate_conf(v, &p.field("default"), item.default.as_ref());
        }
        for (i, item) in self.from.iter().flatten().enumerate() {
            let p = root.field("from").index(i);
            let rules = TargetRefRules { supported: &[K::Mesh], ..Default::default() };
            validate_target_ref(v, &p.field("targetRef"), &item.target_ref, &rules);
            validate_conf(v, &p.field("default"), item.default.as_ref());
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
        Some(super::view(&self.target_ref, self.to.as_deref(), self.from.as_deref(), self.rules.as_deref()))
    }
}

fn validate_conf(v: &mut Violations, path: &Path, conf: Option<&Conf>) {
    let Some(backends) = conf.and_then(|c| c.backends.as_ref()) else {
        v.must_be_defined(&path.field("backends"));
        return;
    };
    for (i, backend) in backends.iter().enumerate() {
        validate_backend(v, &path.field("backends").index(i), backend);
    }
}

fn validate_backend(v: &mut Violations, path: &Path, backend: &Backend) {
    // Kuma panics on a type it does not know; the schema reports it here.
    match backend.type_.as_ref().and_then(Choice::known) {
        Some(BackendType::File) => {
            let root = path.field("file");
            let Some(file) = &backend.file else {
                v.must_be_defined(&root);
                return;
            };
            if let Some(format) = &file.format {
                validate_format(v, &root.field("format"), format);
            }
            if !is_go_file_path(&file.path) {
                v.add_code(codes::BAD_ADDRESS, &root.field("path"), "file backend requires a valid path");
            }
        }
        Some(BackendType::Tcp) => {
            let root = path.field("tcp");
            let Some(tcp) = &backend.tcp else {
                v.must_be_defined(&root);
                return;
            };
            if let Some(format) = &tcp.format {
                validate_format(v, &root.field("format"), format);
            }
            if !is_go_url(&tcp.address) {
                v.add_code(codes::BAD_ADDRESS, &root.field("address"), "tcp backend requires valid address");
            }
        }
        Some(BackendType::OpenTelemetry) => {
            let root = path.field("openTelemetry");
            let Some(otel) = &backend.open_telemetry else {
                v.must_be_defined(&root);
                return;
            };
            validate_otel_backend_ref_or_endpoint(v, &root, &otel.endpoint, otel.backend_ref.as_ref(), None);
            for (i, attribute) in otel.attributes.iter().flatten().enumerate() {
                validate_otel_attribute_name(v, &root.field("attributes").index(i).field("key"), &attribute.key);
            }
        }
        None => {}
    }
}

fn validate_format(v: &mut Violations, path: &Path, format: &Format) {
    match format.type_.as_ref().and_then(Choice::known) {
        Some(FormatType::Plain) => {
            let root = path.field("plain");
            match &format.plain {
                None => v.must_be_defined(&root),
                Some(p) if p.is_empty() => v.add_code(codes::KUMA_REQUIRED, &root, msg::MUST_NOT_BE_EMPTY),
                Some(_) => {}
            }
        }
        Some(FormatType::Json) => {
            let root = path.field("json");
            let Some(json) = &format.json else {
                v.must_be_defined(&root);
                return;
            };
            if json.is_empty() {
                v.add_code(codes::KUMA_REQUIRED, &root, msg::MUST_NOT_BE_EMPTY);
            }
            for (i, field) in json.iter().enumerate() {
                let p = root.index(i);
                if field.key.is_empty() {
                    v.add_code(codes::KUMA_REQUIRED, &p.field("key"), "key cannot be empty");
                }
                if field.value.is_empty() {
                    v.add_code(codes::KUMA_REQUIRED, &p.field("value"), "value cannot be empty");
                }
                // Kuma pastes key and value into a JSON object unescaped and parses it.
                let object = format!("{{\"{}\": \"{}\"}}", field.key, field.value);
                if serde_json::from_str::<serde_json::Value>(&object).is_err() {
                    v.add(&p, "is not a valid JSON object");
                }
            }
        }
        None => {}
    }
}

static OTEL_ATTRIBUTE_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[a-z](?:[a-z0-9]|[._][a-z0-9])*$").expect("valid regex"));

/// Kuma's `ValidateOtelAttributeName`.
pub(super) fn validate_otel_attribute_name(v: &mut Violations, path: &Path, value: &str) {
    if value.is_empty() {
        v.must_be_defined(path);
    } else if value.contains('%') {
        v.add(path, "must be a static OpenTelemetry attribute name; placeholders are only supported in values");
    } else if value.starts_with("otel.") {
        v.add(path, "must not use the reserved OpenTelemetry prefix 'otel.'");
    } else if !OTEL_ATTRIBUTE_NAME.is_match(value) {
        v.add(
            path,
            "must start with a lowercase letter, use only lowercase letters, digits, '.' or '_', avoid consecutive delimiters, and end with a letter or digit",
        );
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::common::go_url_parse_request_uri;
    use crate::model::testing::{self, meta, pairs};
    use crate::model::{Kind, PolicyRole};

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        testing::check::<MeshAccessLog>(&meta(Kind::MeshAccessLog, "test"), PolicyRole::System, spec)
    }

    fn from_backends(backends: serde_json::Value) -> serde_json::Value {
        json!({"targetRef": {"kind": "Mesh"}, "from": [{"targetRef": {"kind": "Mesh"}, "default": {"backends": backends}}]})
    }

    #[test]
    fn valid_specs() {
        let valid = [
            json!({
                "targetRef": {"kind": "Mesh"},
                "from": [{"targetRef": {"kind": "Mesh"}, "default": {"backends": [{"type": "Tcp", "tcp": {
                    "format": {"type": "Json", "json": [{"key": "start_time", "value": "%START_TIME%"}]},
                    "address": "127.0.0.1:5000"}}]}}],
                "to": [{"targetRef": {"kind": "MeshService", "name": "web-backend"}, "default": {"backends": [{"type": "File", "file": {
                    "format": {"type": "Plain", "plain": "{\"start_time\": \"%START_TIME%\"}"}, "path": "/tmp/logs.txt"}}]}}]
            }),
            from_backends(json!([{"type": "File", "file": {"path": "/tmp/logs.txt"}}])),
            from_backends(json!([])),
            json!({"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": {"kind": "MeshMultiZoneService", "name": "web-backend"},
                "default": {"backends": [{"type": "File", "file": {"path": "/tmp/logs.txt"}}]}}]}),
            from_backends(json!([{"type": "OpenTelemetry", "openTelemetry": {"backendRef": {
                "kind": "MeshOpenTelemetryBackend", "labels": {"kuma.io/display-name": "my-otel"}}}}])),
            from_backends(json!([{"type": "OpenTelemetry", "openTelemetry": {"endpoint": "otel-collector:4317",
                "attributes": [{"key": "service.version", "value": "%KUMA_MESH%"}]}}])),
            json!({"rules": [{"matches": [{"spiffeID": {"type": "Exact", "value": "spiffe://a/b"}}],
                "default": {"backends": [{"type": "Tcp", "tcp": {"address": "google.com"}}]}}]}),
        ];
        for spec in valid {
            assert_eq!(check(spec.clone()), pairs(&[]), "{spec}");
        }
    }

    #[test]
    fn sections() {
        assert_eq!(
            check(json!({"targetRef": {"kind": "Mesh"}})),
            pairs(&[("spec", "at least one of 'from', 'to' or 'rules' has to be defined")])
        );
        assert_eq!(
            check(json!({"targetRef": {"kind": "Mesh"}, "from": [{"targetRef": {"kind": "Mesh"}}],
                "rules": [{"default": {"backends": [{"type": "Tcp", "tcp": {
                    "format": {"type": "Json", "json": [{"key": "start_time", "value": "%START_TIME%"}]},
                    "address": "google.com"}}]}}]})),
            pairs(&[
                ("spec", "fields 'to' and 'from' must be empty when 'rules' is defined"),
                ("spec.from[0].default.backends", "must be defined"),
            ])
        );
        assert_eq!(
            check(json!({"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": {"kind": "Mesh"}}]})),
            pairs(&[("spec.to[0].default.backends", "must be defined")])
        );
        assert_eq!(
            check(
                json!({"targetRef": {"kind": "Dataplane", "sectionName": "test"}, "to": [{"targetRef": {"kind": "Mesh"}}]})
            ),
            pairs(&[
                ("spec.targetRef.sectionName", "can only be used with inbound policies"),
                ("spec.to[0].default.backends", "must be defined"),
            ])
        );
        assert_eq!(
            check(json!({"targetRef": {"kind": "MeshGateway", "name": "edge-gateway"},
                "to": [{"targetRef": {"kind": "MeshService", "name": "web-backend"}, "default": {"backends": [
                    {"type": "File", "file": {"path": "/tmp/logs.txt"}}]}}]})),
            pairs(&[("spec.to[0].targetRef.kind", "value 'MeshService' is not supported")])
        );
    }

    #[test]
    fn file_and_tcp() {
        let plain = json!({"type": "Plain", "plain": "{\"start_time\": \"%START_TIME%\"}"});
        assert_eq!(
            check(from_backends(json!([{"type": "File", "file": {"format": plain}}]))),
            pairs(&[("spec.from[0].default.backends[0].file.path", "file backend requires a valid path")])
        );
        assert_eq!(
            check(from_backends(json!([{"type": "File", "file": {"format": plain, "path": "#not_valid"}}]))),
            pairs(&[("spec.from[0].default.backends[0].file.path", "file backend requires a valid path")])
        );
        assert_eq!(
            check(from_backends(json!([{"type": "Tcp", "tcp": {"address": "not_valid_url"}}]))),
            pairs(&[("spec.from[0].default.backends[0].tcp.address", "tcp backend requires valid address")])
        );
        assert_eq!(
            check(from_backends(json!([{"type": "File"}, {"type": "Tcp"}, {"type": "OpenTelemetry"}]))),
            pairs(&[
                ("spec.from[0].default.backends[0].file", "must be defined"),
                ("spec.from[0].default.backends[1].tcp", "must be defined"),
                ("spec.from[0].default.backends[2].openTelemetry", "must be defined"),
            ])
        );
    }

    #[test]
    fn formats() {
        let json_item = |item: serde_json::Value| {
            from_backends(json!([{"type": "File", "file": {"path": "/tmp/logs.txt",
                "format": {"type": "Json", "json": [item]}}}]))
        };
        let base = "spec.from[0].default.backends[0].file.format.json[0]";
        assert_eq!(
            check(json_item(json!({"value": "%START_TIME%"}))),
            pairs(&[(&format!("{base}.key"), "key cannot be empty")])
        );
        assert_eq!(
            check(json_item(json!({"key": "start_time"}))),
            pairs(&[(&format!("{base}.value"), "value cannot be empty")])
        );
        assert_eq!(
            check(json_item(json!({"key": "\"", "value": "%START_TIME%"}))),
            pairs(&[(base, "is not a valid JSON object")])
        );
        assert_eq!(
            check(from_backends(json!([
                {"type": "File", "file": {"path": "/tmp/logs.txt", "format": {"type": "Json", "json": []}}},
                {"type": "Tcp", "tcp": {"address": "http://logs.com", "format": {"type": "Json", "json": []}}}]))),
            pairs(&[
                ("spec.from[0].default.backends[0].file.format.json", "must not be empty"),
                ("spec.from[0].default.backends[1].tcp.format.json", "must not be empty"),
            ])
        );
        assert_eq!(
            check(from_backends(json!([
                {"type": "File", "file": {"path": "/tmp/logs.txt", "format": {"type": "Plain", "plain": ""}}},
                {"type": "Tcp", "tcp": {"address": "http://logs.com", "format": {"type": "Plain", "plain": ""}}}]))),
            pairs(&[
                ("spec.from[0].default.backends[0].file.format.plain", "must not be empty"),
                ("spec.from[0].default.backends[1].tcp.format.plain", "must not be empty"),
            ])
        );
        assert_eq!(
            check(from_backends(json!([
                {"type": "File", "file": {"path": "/tmp/logs.txt", "format": {"type": "Plain"}}},
                {"type": "Tcp", "tcp": {"address": "http://logs.com", "format": {"type": "Json"}}}]))),
            pairs(&[
                ("spec.from[0].default.backends[0].file.format.plain", "must be defined"),
                ("spec.from[0].default.backends[1].tcp.format.json", "must be defined"),
            ])
        );
    }

    #[test]
    fn open_telemetry() {
        let otel = |o: serde_json::Value| check(from_backends(json!([{"type": "OpenTelemetry", "openTelemetry": o}])));
        let base = "spec.from[0].default.backends[0].openTelemetry";
        assert_eq!(
            otel(json!({"endpoint": ""})),
            pairs(&[(base, "openTelemetry must have exactly one defined: endpoint, backendRef")])
        );
        assert_eq!(
            otel(json!({"endpoint": "otel-collector:4317", "backendRef": {"kind": "MeshOpenTelemetryBackend",
                "labels": {"kuma.io/display-name": "my-otel"}}})),
            pairs(&[(base, "openTelemetry must have only one type defined: endpoint, backendRef")])
        );
        assert_eq!(
            otel(json!({"backendRef": {"kind": "MeshOpenTelemetryBackend"}})),
            pairs(&[(&format!("{base}.backendRef"), "backendRef must have exactly one defined: labels")])
        );
        assert_eq!(
            otel(json!({"endpoint": "http://collector:4317"})),
            pairs(&[(&format!("{base}.endpoint"), "must be in host:port format, not a URL")])
        );
        let format_msg = "must start with a lowercase letter, use only lowercase letters, digits, '.' or '_', avoid consecutive delimiters, and end with a letter or digit";
        let static_msg = "must be a static OpenTelemetry attribute name; placeholders are only supported in values";
        assert_eq!(
            otel(json!({"endpoint": "otel-collector:4317", "attributes": [
                {"key": "bad key", "value": "%KUMA_MESH%"}, {"key": "%KUMA_ZONE%", "value": "%KUMA_ZONE%"},
                {"key": "otel.attribute", "value": "x"}]})),
            pairs(&[
                (&format!("{base}.attributes[0].key"), format_msg),
                (&format!("{base}.attributes[1].key"), static_msg),
                (&format!("{base}.attributes[2].key"), "must not use the reserved OpenTelemetry prefix 'otel.'"),
            ])
        );
    }

    #[test]
    fn go_validators() {
        for ok in
            ["127.0.0.1:5000", "google.com", "http://logs.com", "logstash:5000", "tcp://1.2.3.4:9000", "[::1]:8080"]
        {
            assert!(is_go_url(ok), "{ok}");
        }
        for bad in ["not_valid_url", "", "abc", ".example.com", "localhost:abc", "http://exa mple.com"] {
            assert!(!is_go_url(bad), "{bad}");
        }
        assert!(is_go_file_path("/tmp/x.log") && is_go_file_path("C:\\logs\\a.log"));
        assert!(!is_go_file_path("#not_valid") && !is_go_file_path("tmp/x"));
        let u = go_url_parse_request_uri("http://user@host:8126/p?q").unwrap();
        assert_eq!(
            (u.scheme.as_str(), u.port(), u.host.as_str(), u.path.as_str(), u.has_user),
            ("http", "8126", "host:8126", "/p", true)
        );
        assert!(go_url_parse_request_uri("not_valid_url").is_none());
    }
}
