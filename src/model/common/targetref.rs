//! `targetRef` and `backendRef` (`api/common/v1alpha1/targetref.go`) and Kuma's
//! `ValidateTargetRef` rules (reference §3.2).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{StringMap, TagOpts, validate_tags};
use crate::findings::codes;
use crate::kuma_enum;
use crate::model::choice::{Choice, KumaEnum};
use crate::validate::violations::{Path, Violations, msg};

kuma_enum! {
    /// Kinds a targetRef can name, in the order of Kuma's CRD.
    pub enum TargetRefKind {
        Mesh = "Mesh",
        MeshSubset = "MeshSubset",
        MeshGateway = "MeshGateway",
        MeshService = "MeshService",
        MeshExternalService = "MeshExternalService",
        MeshMultiZoneService = "MeshMultiZoneService",
        MeshServiceSubset = "MeshServiceSubset",
        MeshHTTPRoute = "MeshHTTPRoute",
        Dataplane = "Dataplane",
    }
}

impl TargetRefKind {
    /// Kuma's specificity order (`targetref.go`): higher is more specific.
    pub fn specificity(self) -> u8 {
        match self {
            TargetRefKind::Mesh => 1,
            TargetRefKind::Dataplane => 2,
            TargetRefKind::MeshSubset => 3,
            TargetRefKind::MeshGateway => 4,
            TargetRefKind::MeshService => 5,
            TargetRefKind::MeshExternalService => 6,
            TargetRefKind::MeshMultiZoneService => 7,
            TargetRefKind::MeshServiceSubset => 8,
            TargetRefKind::MeshHTTPRoute => 9,
        }
    }
}

kuma_enum! {
    /// Data plane proxy types a `Mesh`/`MeshSubset` targetRef can be narrowed to.
    pub enum ProxyType { Sidecar = "Sidecar", Gateway = "Gateway" }
}

/// A reference to the resource(s) a policy section applies to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct TargetRef {
    /// Kind of the referenced resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub kind: Option<Choice<TargetRefKind>>,
    /// Name of the referenced resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace of the referenced resource; empty means the policy's namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Labels selecting resources (instead of name and namespace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub labels: Option<StringMap>,
    /// A section of the resource: a MeshService port name, a Dataplane inbound name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub section_name: Option<String>,
    /// Tags selecting a subset of proxies (MeshSubset, MeshServiceSubset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<StringMap>,
    /// Proxy types the policy applies to; all when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_types: Option<Vec<Choice<ProxyType>>>,
    /// Reserved by Kuma for cross-mesh references; always rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh: Option<String>,
}

impl TargetRef {
    pub fn kind(&self) -> Option<TargetRefKind> {
        self.kind.as_ref().and_then(Choice::known)
    }

    pub fn is(&self, kind: TargetRefKind) -> bool {
        self.kind() == Some(kind)
    }

    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or_default()
    }

    pub fn has_labels(&self) -> bool {
        self.labels.as_ref().is_some_and(|l| !l.is_empty())
    }

    pub fn has_tags(&self) -> bool {
        self.tags.as_ref().is_some_and(|l| !l.is_empty())
    }

    /// A `targetRef: {kind: Mesh}`, which is what an omitted top-level targetRef means.
    pub fn mesh() -> TargetRef {
        TargetRef { kind: Some(Choice::Known(TargetRefKind::Mesh)), ..Default::default() }
    }
}

/// A routing destination: a targetRef plus a weight and a port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct BackendRef {
    #[serde(flatten)]
    pub target: TargetRef,
    /// Relative weight among the backendRefs of a rule.
    #[serde(default = "default_weight")]
    pub weight: i64,
    /// Port of the referenced MeshService or MeshMultiZoneService.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
}

fn default_weight() -> i64 {
    1
}

impl BackendRef {
    /// Kuma's `ValidateBackendRef`: MeshMultiZoneService needs a port.
    pub fn validate(&self, v: &mut Violations, path: &Path) {
        if self.target.is(TargetRefKind::MeshMultiZoneService) && self.port.is_none() {
            v.add_code(codes::KUMA_REQUIRED, &path.field("port"), "must be defined with kind MeshMultiZoneService");
        }
        if let Some(p) = self.port {
            v.port(&path.field("port"), Some(p));
        }
        if self.weight < 0 {
            v.add(&path.field("weight"), msg::NON_NEGATIVE_WHEN_DEFINED);
        }
    }
}

/// What a section accepts, as Kuma's `ValidateTargetRefOpts`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TargetRefRules<'a> {
    pub supported: &'a [TargetRefKind],
    /// Replaces "value 'X' is not supported" when set.
    pub supported_error: Option<&'a str>,
    /// MeshGateway refs may carry listener tags.
    pub gateway_listener_tags: bool,
    /// The policy affects inbounds (has `from` or `rules`), so Dataplane
    /// `sectionName` is allowed.
    pub inbound_policy: bool,
}

/// Kuma's `ValidateTargetRef`, reporting at `path` (the targetRef itself).
pub fn validate_target_ref(v: &mut Violations, path: &Path, r: &TargetRef, rules: &TargetRefRules) {
    let Some(kind) = &r.kind else {
        v.add_code(codes::KUMA_REQUIRED, &path.field("kind"), msg::MUST_BE_DEFINED);
        return;
    };
    let known = kind.known().filter(|k| rules.supported.contains(k));
    let Some(kind) = known else {
        let message = match rules.supported_error {
            Some(e) => e.to_string(),
            None => format!("value '{}' is not supported", kind.raw()),
        };
        v.add_code(codes::TARGETREF_KIND, &path.field("kind"), message);
        return;
    };
    let mut check = Fields { v, path, r, kind: kind.name() };
    match kind {
        TargetRefKind::Mesh => {
            if r.name.as_deref().is_some_and(|n| !n.is_empty()) {
                check.fail("name", "using name with kind Mesh is not yet supported".into());
            }
            check.disallow_all(&["mesh", "tags", "labels", "namespace", "sectionName"]);
            if r.proxy_types.as_ref().is_some_and(Vec::is_empty) {
                check.fail("proxyTypes", "must be undefined or have at least one element".into());
            }
            check.proxy_types();
        }
        TargetRefKind::Dataplane => {
            check.disallow_all(&["tags", "mesh", "proxyTypes"]);
            if r.has_labels() && (is_set(&r.name) || is_set(&r.namespace)) {
                check.fail("labels", "either labels or name and namespace must be specified".into());
            }
            if !rules.inbound_policy && is_set(&r.section_name) {
                check.fail("sectionName", "can only be used with inbound policies".into());
            }
        }
        TargetRefKind::MeshSubset => {
            check.disallow_all(&["name", "mesh", "labels", "namespace", "sectionName"]);
            check.tags(false);
            check.proxy_types();
        }
        TargetRefKind::MeshService | TargetRefKind::MeshHTTPRoute => {
            check.name_chars();
            check.disallow_all(&["mesh", "tags", "proxyTypes"]);
            if kind == TargetRefKind::MeshHTTPRoute {
                check.disallow("sectionName");
            }
            if !r.has_labels() && !is_set(&r.name) {
                check.v.add_code(
                    codes::TARGETREF_FIELD,
                    path,
                    format!("name or labels must be set when kind is {}", kind.name()),
                );
            }
            if r.has_labels() && (is_set(&r.name) || is_set(&r.namespace)) {
                check.fail("labels", "either labels or name and namespace must be specified".into());
            }
        }
        TargetRefKind::MeshServiceSubset | TargetRefKind::MeshGateway => {
            if !is_set(&r.name) {
                check.fail("name", format!("must be set when kind is {}", kind.name()));
            }
            check.name_chars();
            check.disallow_all(&["mesh", "proxyTypes"]);
            check.tags(true);
            if kind == TargetRefKind::MeshGateway && r.has_tags() && !rules.gateway_listener_tags {
                check.disallow("tags");
            }
            check.disallow_all(&["labels", "namespace", "sectionName"]);
        }
        TargetRefKind::MeshExternalService => {
            check.name_chars();
            check.disallow_all(&["mesh", "tags", "proxyTypes"]);
            if !r.has_labels() && !is_set(&r.name) {
                check.fail("name", format!("{} with kind {}", msg::MUST_BE_SET, kind.name()));
            }
            if r.has_labels() && (is_set(&r.name) || is_set(&r.namespace)) {
                check.fail("labels", "either labels or name must be specified".into());
            }
            check.disallow("sectionName");
        }
        TargetRefKind::MeshMultiZoneService => {}
    }
}

fn is_set(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

struct Fields<'a, 'b> {
    v: &'a mut Violations,
    path: &'b Path,
    r: &'b TargetRef,
    kind: &'static str,
}

impl Fields<'_, '_> {
    fn fail(&mut self, field: &str, message: String) {
        self.v.add_code(codes::TARGETREF_FIELD, &self.path.field(field), message);
    }

    fn disallow(&mut self, field: &str) {
        let r = self.r;
        let set = match field {
            "name" => is_set(&r.name),
            "namespace" => is_set(&r.namespace),
            "sectionName" => is_set(&r.section_name),
            "mesh" => is_set(&r.mesh),
            "labels" => r.has_labels(),
            "tags" => r.has_tags(),
            "proxyTypes" => r.proxy_types.as_ref().is_some_and(|p| !p.is_empty()),
            _ => false,
        };
        if set {
            let message = format!("{} with kind {}", msg::MUST_NOT_BE_SET, self.kind);
            self.fail(field, message);
        }
    }

    fn disallow_all(&mut self, fields: &[&str]) {
        for f in fields {
            self.disallow(f);
        }
    }

    fn name_chars(&mut self) {
        if let Some(name) = self.r.name.as_deref() {
            let ok =
                name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_'));
            if !ok {
                self.fail(
                    "name",
                    "invalid characters: must consist of lower case alphanumeric characters, '-', '.' and '_'.".into(),
                );
            }
        }
    }

    fn proxy_types(&mut self) {
        if let Some(types) = &self.r.proxy_types {
            for (i, t) in types.iter().enumerate() {
                self.v.one_of(&self.path.field("proxyTypes").index(i), t);
            }
        }
    }

    /// Kuma's `ValidateTags` (MeshSubset) or `ValidateSelector` (`*` allowed).
    fn tags(&mut self, selector: bool) {
        let Some(tags) = &self.r.tags else { return };
        let opts = TagOpts { selector, ..Default::default() };
        validate_tags(self.v, &self.path.field("tags"), tags, opts, |_, _, _| {});
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: serde_json::Value, rules: TargetRefRules) -> Vec<String> {
        let r: TargetRef = serde_json::from_value(yaml).unwrap();
        let mut v = Violations::default();
        validate_target_ref(&mut v, &Path::root().field("targetRef"), &r, &rules);
        v.0.iter().map(|x| format!("{}: {}", x.path.kuma(Some("spec")), x.message)).collect()
    }

    const ALL: &[TargetRefKind] = &[
        TargetRefKind::Mesh,
        TargetRefKind::MeshSubset,
        TargetRefKind::MeshService,
        TargetRefKind::MeshServiceSubset,
        TargetRefKind::Dataplane,
    ];

    #[test]
    fn unsupported_kind() {
        let rules = TargetRefRules { supported: &[TargetRefKind::Mesh], ..Default::default() };
        assert_eq!(
            check(serde_json::json!({"kind": "MeshHTTPRoute"}), rules),
            ["spec.targetRef.kind: value 'MeshHTTPRoute' is not supported"]
        );
        assert_eq!(
            check(serde_json::json!({"kind": "Nope"}), rules),
            ["spec.targetRef.kind: value 'Nope' is not supported"]
        );
    }

    #[test]
    fn per_kind_fields() {
        let rules = TargetRefRules { supported: ALL, ..Default::default() };
        assert_eq!(
            check(serde_json::json!({"kind": "Mesh", "name": "x", "tags": {"a": "b"}}), rules),
            [
                "spec.targetRef.name: using name with kind Mesh is not yet supported",
                "spec.targetRef.tags: must not be set with kind Mesh"
            ]
        );
        assert_eq!(
            check(serde_json::json!({"kind": "Dataplane", "sectionName": "http"}), rules),
            ["spec.targetRef.sectionName: can only be used with inbound policies"]
        );
        assert_eq!(
            check(serde_json::json!({"kind": "MeshService"}), rules),
            ["spec.targetRef: name or labels must be set when kind is MeshService"]
        );
        assert_eq!(
            check(serde_json::json!({"kind": "MeshSubset", "tags": {"kuma.io/service": ""}}), rules),
            ["spec.targetRef.tags[\"kuma.io/service\"]: tag value must be non-empty"]
        );
    }
}
