//! The policies Kuma creates with every mesh (`pkg/defaults/mesh/mesh.go`,
//! `EnsureDefaultMeshResources`): `mesh-timeout-all-<mesh>`,
//! `mesh-gateways-timeout-all-<mesh>`, `mesh-circuit-breaker-all-<mesh>` and
//! `mesh-retry-all-<mesh>`, unless the Mesh's `skipCreatingInitialPolicies` lists
//! their type (`MeshTimeout` skips both timeouts) or `*`.
//!
//! A mesh compiled offline has no control plane to create them, yet every proxy
//! of a real mesh carries their effect; so meshc makes them up, as ordinary
//! [`Resource`]s parsed from YAML text by the validator, marked implicit
//! ([`Meta::is_implicit`](crate::model::Meta::is_implicit)) so that no finding
//! points at them and `explain` can say where they come from.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::meta::{IMPLICIT_FILE, labels};
use crate::model::{Kind, Resource, Spec};
use crate::source::{self, Limits};
use crate::validate;

/// The `meshc.io/implicit` annotation of the mesh default policies.
pub const REASON: &str = "mesh-default";

/// The mesh every resource without `mesh` belongs to, which Kuma creates at start-up.
const DEFAULT_MESH: &str = "default";

/// Kuma 2.14's default policies, without `name` and `mesh` (filled in per mesh as
/// `<name>-<mesh>`), in the order meshc lists them. Specs as in
/// `pkg/defaults/mesh/{meshtimeout,meshcircuitbreaker,meshretry}.go` (the timeout
/// values are `policies/core/defaults`: inbound is twice the outbound connect and
/// idle timeouts, with request timeout and max stream duration off).
const TEMPLATES: &str = "\
type: MeshTimeout
name: mesh-timeout-all
spec:
  targetRef:
    kind: Mesh
    proxyTypes: [Sidecar]
  from:
    - targetRef:
        kind: Mesh
      default:
        connectionTimeout: 10s
        idleTimeout: 2h
        http:
          requestTimeout: 0s
          streamIdleTimeout: 1h
          maxStreamDuration: 0s
  to:
    - targetRef:
        kind: Mesh
      default:
        connectionTimeout: 5s
        idleTimeout: 1h
        http:
          requestTimeout: 15s
          streamIdleTimeout: 30m
---
type: MeshTimeout
name: mesh-gateways-timeout-all
spec:
  targetRef:
    kind: Mesh
    proxyTypes: [Gateway]
  from:
    - targetRef:
        kind: Mesh
      default:
        idleTimeout: 5m
        http:
          streamIdleTimeout: 5s
          requestHeadersTimeout: 500ms
  to:
    - targetRef:
        kind: Mesh
      default:
        idleTimeout: 1h
        http:
          streamIdleTimeout: 5s
---
type: MeshCircuitBreaker
name: mesh-circuit-breaker-all
spec:
  targetRef:
    kind: Mesh
  to:
    - targetRef:
        kind: Mesh
      default:
        connectionLimits:
          maxConnections: 1024
          maxPendingRequests: 1024
          maxRequests: 1024
          maxRetries: 3
---
type: MeshRetry
name: mesh-retry-all
spec:
  targetRef:
    kind: Mesh
  to:
    - targetRef:
        kind: Mesh
      default:
        tcp:
          maxConnectAttempt: 5
        http:
          numRetries: 5
          perTryTimeout: 16s
          backOff:
            baseInterval: 25ms
            maxInterval: 250ms
        grpc:
          numRetries: 5
          perTryTimeout: 16s
          backOff:
            baseInterval: 25ms
            maxInterval: 250ms
";

/// The default policies of every mesh that exists: each Mesh resource of
/// `resources`, and the `default` mesh when `default_mesh_exists` (as
/// [`World::build`](crate::world::World::build) decides; `--no-default-mesh`
/// turns it off), it is not defined and some resource uses it. Per mesh, in a
/// fixed order, minus those its `skipCreatingInitialPolicies` skips and those the
/// input already has (same kind, mesh and name: a user who edited a default
/// keeps theirs, as Kuma never overwrites an existing one).
pub fn for_meshes(resources: &[Resource], default_mesh_exists: bool) -> Vec<Resource> {
    let mut meshes: BTreeMap<&str, &[String]> = BTreeMap::new();
    for r in resources {
        if let Some(Spec::Mesh(m)) = &r.spec {
            meshes.insert(&r.meta.name, &m.skip_creating_initial_policies);
        }
    }
    if default_mesh_exists
        && !meshes.contains_key(DEFAULT_MESH)
        && resources.iter().any(|r| r.meta.mesh.as_deref() == Some(DEFAULT_MESH))
    {
        meshes.insert(DEFAULT_MESH, &[]);
    }
    let templates = templates();
    let mut out = Vec::new();
    for (mesh, skip) in meshes {
        if skip.iter().any(|s| s == "*") {
            continue;
        }
        for (kind, prefix, template) in &templates {
            let name = format!("{prefix}-{mesh}");
            let user_has = |r: &Resource| {
                r.meta.kind == *kind
                    && r.meta.mesh.as_deref() == Some(mesh)
                    && (r.meta.name == name || r.meta.display_name() == name)
            };
            if skip.iter().any(|s| s == kind.name()) || resources.iter().any(user_has) {
                continue;
            }
            let index = out.len();
            out.extend(build(template, &name, mesh, index));
        }
    }
    out
}

/// Whether `resource` is one meshc made up (see the module docs).
pub fn is_implicit(resource: &Resource) -> bool {
    resource.meta.is_implicit()
}

/// `(kind, name prefix, document)` of each template.
fn templates() -> Vec<(Kind, String, Value)> {
    let loaded = source::load_texts(vec![("<mesh defaults>".into(), TEMPLATES.into())], &Limits::default());
    loaded
        .documents
        .into_iter()
        .filter_map(|doc| {
            let kind = doc.value.get("type").and_then(Value::as_str).and_then(Kind::from_name)?;
            let prefix = doc.value.get("name").and_then(Value::as_str)?.to_string();
            Some((kind, prefix, doc.value))
        })
        .collect()
}

/// One default policy of `mesh`, read like any input document; `index` keeps the
/// `(file, doc)` of implicit resources unique.
fn build(template: &Value, name: &str, mesh: &str, index: usize) -> Option<Resource> {
    let mut value = template.clone();
    let obj = value.as_object_mut()?;
    obj.insert("name".into(), Value::from(name));
    obj.insert("mesh".into(), Value::from(mesh));
    let doc = source::Document { file: IMPLICIT_FILE, index, start: Default::default(), value };
    let (resource, _findings) = validate::check_document(doc, &validate::Options::default());
    let mut resource = resource?;
    resource.meta.annotations.insert(labels::IMPLICIT.into(), REASON.into());
    // In a multizone Kuma the defaults are created on Global and reach zones as
    // `kuma.io/origin: global`: the least important origin, so they never win
    // over a user's policy of the same specificity (ties with the user's own
    // global policies go by name, as in Kuma).
    resource.meta.labels.insert(labels::ORIGIN.into(), "global".into());
    Some(resource)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PolicyRole;
    use crate::model::meta::Form;
    use serde_json::json;

    fn read(yaml: &str) -> Vec<Resource> {
        let out = validate::run_texts(vec![("in.yaml".into(), yaml.into())], &Default::default());
        assert!(out.findings.is_empty(), "{:#?}", out.findings);
        out.resources
    }

    fn names(defaults: &[Resource]) -> Vec<String> {
        defaults.iter().map(|r| format!("{}/{}", r.meta.kind.name(), r.meta.name)).collect()
    }

    fn spec(r: &Resource) -> Value {
        r.spec.as_ref().expect("typed spec").to_json()
    }

    /// The templates are valid Kuma 2.14 policies: no finding at all.
    #[test]
    fn templates_validate_clean() {
        for (kind, prefix, template) in templates() {
            let mut value = template.clone();
            value["name"] = json!(format!("{prefix}-default"));
            let doc = source::Document { file: 0, index: 0, start: Default::default(), value };
            let (resource, findings) = validate::check_document(doc, &validate::Options::default());
            assert!(findings.is_empty(), "{prefix}: {findings:#?}");
            assert_eq!(resource.expect("resource").meta.kind, kind);
        }
        assert_eq!(templates().len(), 4);
    }

    #[test]
    fn one_set_per_mesh_with_kuma_names() {
        let input = read("type: Mesh\nname: prod\n---\ntype: Mesh\nname: dev\n");
        let defaults = for_meshes(&input, true);
        assert_eq!(
            names(&defaults),
            [
                "MeshTimeout/mesh-timeout-all-dev",
                "MeshTimeout/mesh-gateways-timeout-all-dev",
                "MeshCircuitBreaker/mesh-circuit-breaker-all-dev",
                "MeshRetry/mesh-retry-all-dev",
                "MeshTimeout/mesh-timeout-all-prod",
                "MeshTimeout/mesh-gateways-timeout-all-prod",
                "MeshCircuitBreaker/mesh-circuit-breaker-all-prod",
                "MeshRetry/mesh-retry-all-prod",
            ]
        );
        for r in &defaults {
            let mesh = r.meta.name.rsplit('-').next().expect("suffix");
            assert_eq!(r.meta.mesh.as_deref(), Some(mesh));
            assert_eq!((r.meta.form, r.role), (Form::Universal, PolicyRole::System));
            assert!(is_implicit(r) && r.meta.implicit_reason() == Some(REASON), "{}", r.meta.name);
        }
        let mut docs: Vec<(usize, usize)> = defaults.iter().map(|r| (r.meta.file, r.meta.doc)).collect();
        docs.dedup();
        assert_eq!(docs.len(), defaults.len(), "(file, doc) unique");
        assert!(!input.iter().any(is_implicit));
    }

    #[test]
    fn specs_are_kumas() {
        let defaults = for_meshes(&read("type: Mesh\nname: m\n"), true);
        let by_name = |n: &str| spec(defaults.iter().find(|r| r.meta.name == n).expect(n));
        let timeout = by_name("mesh-timeout-all-m");
        assert_eq!(timeout["targetRef"], json!({"kind": "Mesh", "proxyTypes": ["Sidecar"]}));
        assert_eq!(
            timeout["from"][0]["default"],
            json!({"connectionTimeout": "10s", "idleTimeout": "2h",
                   "http": {"requestTimeout": "0s", "streamIdleTimeout": "1h", "maxStreamDuration": "0s"}})
        );
        assert_eq!(
            timeout["to"][0],
            json!({"targetRef": {"kind": "Mesh"}, "default": {"connectionTimeout": "5s", "idleTimeout": "1h",
                   "http": {"requestTimeout": "15s", "streamIdleTimeout": "30m"}}})
        );
        let gateways = by_name("mesh-gateways-timeout-all-m");
        assert_eq!(gateways["targetRef"]["proxyTypes"], json!(["Gateway"]));
        assert_eq!(
            gateways["from"][0]["default"],
            json!({"idleTimeout": "5m", "http": {"streamIdleTimeout": "5s", "requestHeadersTimeout": "500ms"}})
        );
        assert_eq!(gateways["to"][0]["default"], json!({"idleTimeout": "1h", "http": {"streamIdleTimeout": "5s"}}));
        assert_eq!(
            by_name("mesh-circuit-breaker-all-m")["to"][0]["default"]["connectionLimits"],
            json!({"maxConnections": 1024, "maxPendingRequests": 1024, "maxRequests": 1024, "maxRetries": 3})
        );
        let retry = by_name("mesh-retry-all-m")["to"][0]["default"].clone();
        assert_eq!(retry["tcp"], json!({"maxConnectAttempt": 5}));
        for proto in ["http", "grpc"] {
            assert_eq!(retry[proto]["numRetries"], json!(5), "{proto}");
            assert_eq!(retry[proto]["perTryTimeout"], json!("16s"), "{proto}");
            assert_eq!(retry[proto]["backOff"], json!({"baseInterval": "25ms", "maxInterval": "250ms"}), "{proto}");
        }
        // The engine reads them like any policy.
        let view = crate::rules::Policy::of(defaults.iter().find(|r| r.meta.name == "mesh-timeout-all-m").unwrap());
        let view = view.expect("policy view");
        assert_eq!((view.from.len(), view.to.len()), (1, 1));
    }

    #[test]
    fn skip_list_by_type_and_star() {
        let input = read(
            "type: Mesh\nname: a\nskipCreatingInitialPolicies: [MeshTimeout, MeshRetry]\n\
             ---\ntype: Mesh\nname: b\nskipCreatingInitialPolicies: ['*']\n\
             ---\ntype: Mesh\nname: c\nskipCreatingInitialPolicies: [meshtimeout, MeshTrace]\n",
        );
        assert_eq!(
            names(&for_meshes(&input, true)),
            [
                "MeshCircuitBreaker/mesh-circuit-breaker-all-a",
                // Kuma compares type names exactly: `meshtimeout` skips nothing.
                "MeshTimeout/mesh-timeout-all-c",
                "MeshTimeout/mesh-gateways-timeout-all-c",
                "MeshCircuitBreaker/mesh-circuit-breaker-all-c",
                "MeshRetry/mesh-retry-all-c",
            ]
        );
    }

    #[test]
    fn user_defined_default_wins() {
        let input = read(
            "type: Mesh\nname: m\n---\ntype: Mesh\nname: other\nskipCreatingInitialPolicies: ['*']\n\
             ---\ntype: MeshRetry\nname: mesh-retry-all-m\nmesh: m\n\
             spec: {targetRef: {kind: Mesh}, to: [{targetRef: {kind: Mesh}, default: {tcp: {maxConnectAttempt: 1}}}]}\n\
             ---\ntype: MeshCircuitBreaker\nname: mesh-circuit-breaker-all-m\nmesh: other\n\
             spec: {targetRef: {kind: Mesh}, to: [{targetRef: {kind: Mesh}, default: {connectionLimits: {maxConnections: 1}}}]}\n",
        );
        let defaults = for_meshes(&input, false);
        let names = names(&defaults);
        assert!(!names.contains(&"MeshRetry/mesh-retry-all-m".to_string()), "{names:?}");
        // Same name in another mesh does not count.
        assert!(names.contains(&"MeshCircuitBreaker/mesh-circuit-breaker-all-m".to_string()), "{names:?}");
        assert_eq!(names.len(), 3);
    }

    #[test]
    fn kubernetes_copy_of_a_default_counts() {
        let input = read(
            "apiVersion: kuma.io/v1alpha1\nkind: MeshRetry\nmetadata:\n  name: mesh-retry-all-default\n  \
             namespace: kuma-system\n  labels: {kuma.io/mesh: default}\n\
             spec: {targetRef: {kind: Mesh}, to: [{targetRef: {kind: Mesh}, default: {tcp: {maxConnectAttempt: 1}}}]}\n",
        );
        let names = names(&for_meshes(&input, true));
        assert_eq!(names.len(), 3, "{names:?}");
    }

    #[test]
    fn default_mesh_when_used_and_assumed() {
        let dp = "type: Dataplane\nname: dp\nmesh: default\nnetworking:\n  address: 10.0.0.1\n  \
                  inbound: [{port: 80, tags: {kuma.io/service: web}}]\n";
        let input = read(dp);
        assert_eq!(for_meshes(&input, true).len(), 4);
        assert!(for_meshes(&input, false).is_empty(), "default mesh not assumed");
        assert!(for_meshes(&[], true).is_empty(), "default mesh not used");
        // Defined explicitly: its own skip list applies.
        let defined = read(&format!("type: Mesh\nname: default\nskipCreatingInitialPolicies: ['*']\n---\n{dp}"));
        assert!(for_meshes(&defined, true).is_empty());
    }

    /// Odd but accepted mesh names never break the YAML: name and mesh are values,
    /// not text spliced into the template.
    #[test]
    fn mesh_names_are_not_templated_text() {
        let input = read("type: Mesh\nname: 'a_b.c'\n");
        let defaults = for_meshes(&input, false);
        assert_eq!(defaults.len(), 4);
        assert_eq!(defaults[0].meta.name, "mesh-timeout-all-a_b.c");
    }
}
