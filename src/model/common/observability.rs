//! What the observability policies (MeshAccessLog, MeshTrace, MeshMetric) share:
//! the `backendRef` to a MeshOpenTelemetryBackend and Kuma's
//! `ValidateBackendResourceRef` / `ValidateOtelBackendRefOrEndpoint`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::StringMap;
use crate::findings::codes;
use crate::kuma_enum;
use crate::model::choice::{Choice, KumaEnum};
use crate::validate::violations::{Path, Violations, msg};

kuma_enum! {
    /// Kinds of backend resource a `backendRef` can name.
    pub enum BackendResourceKind { MeshOpenTelemetryBackend = "MeshOpenTelemetryBackend" }
}

/// A reference to a backend resource in the same mesh, matched by labels (when
/// several match, the oldest wins).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct BackendResourceRef {
    /// Kind of the backend resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub kind: Option<Choice<BackendResourceKind>>,
    /// Labels to match the referenced resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
}

/// Kuma's `ValidateBackendResourceRef`, reporting at `path` (the backendRef).
pub fn validate_backend_resource_ref(v: &mut Violations, path: &Path, r: &BackendResourceRef) {
    let kind_ok = r.kind.as_ref().is_some_and(|k| k.is(BackendResourceKind::MeshOpenTelemetryBackend));
    if !kind_ok {
        v.add_code(codes::KUMA_ENUM, &path.field("kind"), msg::must_be_one_of("kind", BackendResourceKind::NAMES));
    }
    if r.labels.as_ref().is_none_or(|l| l.is_empty()) {
        v.add_code(codes::KUMA_REQUIRED, path, msg::must_have_exactly_one_of("backendRef", &["labels"]));
    }
}

/// A policy's own rule for an OpenTelemetry `endpoint` (reports under the `openTelemetry` path).
pub type EndpointRule = dyn Fn(&mut Violations, &Path, &str);

/// Kuma's `ValidateOtelBackendRefOrEndpoint`, reporting under `path` (the
/// `openTelemetry` object): exactly one of `endpoint` / `backendRef`, an endpoint
/// that is not a URL, then the policy's own endpoint rule (`extra`).
pub fn validate_otel_backend_ref_or_endpoint(
    v: &mut Violations,
    path: &Path,
    endpoint: &str,
    backend_ref: Option<&BackendResourceRef>,
    extra: Option<&EndpointRule>,
) {
    let fields = ["endpoint", "backendRef"];
    match backend_ref {
        Some(_) if !endpoint.is_empty() => {
            v.add(path, msg::must_have_only_one("openTelemetry", &fields));
        }
        None if endpoint.is_empty() => {
            v.add_code(codes::KUMA_REQUIRED, path, msg::must_have_exactly_one_of("openTelemetry", &fields));
        }
        Some(r) => validate_backend_resource_ref(v, &path.field("backendRef"), r),
        None if endpoint.contains(['/', '?', '#']) => {
            v.add_code(codes::BAD_ADDRESS, &path.field("endpoint"), "must be in host:port format, not a URL");
        }
        None => {
            if let Some(extra) = extra {
                extra(v, path, endpoint);
            }
        }
    }
}
