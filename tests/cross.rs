//! Checks across resources, on a small Universal world.

use meshc::validate::{self, Options};

const WORLD: &str = r#"
type: Mesh
name: default
---
type: Dataplane
mesh: default
name: backend-1
labels: {app: backend}
networking:
  address: 10.0.0.1
  inbound:
    - port: 8080
      name: http
      tags: {kuma.io/service: backend, kuma.io/protocol: http, version: v1}
---
type: Dataplane
mesh: default
name: web-1
networking:
  address: 10.0.0.2
  inbound:
    - port: 8080
      tags: {kuma.io/service: web}
  outbound:
    - port: 10001
      backendRef: {kind: MeshService, name: backend, port: 8080}
    - port: 10002
      backendRef: {kind: MeshService, name: ghost, port: 80}
---
type: MeshService
mesh: default
name: backend
labels: {team: core}
spec:
  selector:
    dataplaneTags: {kuma.io/service: backend}
  ports: [{port: 8080, targetPort: 8080, appProtocol: http}]
---
type: MeshService
mesh: default
name: orphan
spec:
  selector:
    dataplaneTags: {kuma.io/service: nobody}
  ports: [{port: 80, targetPort: 80}]
---
type: MeshMultiZoneService
mesh: default
name: everywhere
spec:
  selector:
    meshService:
      matchLabels: {team: nobody}
  ports: [{port: 80}]
---
type: HostnameGenerator
name: by-team
spec:
  selector:
    meshService:
      matchLabels: {team: core}
  template: "{{ .DisplayName }}.mesh"
---
type: HostnameGenerator
name: typo
spec:
  selector:
    meshService:
      matchLabels: {taem: core}
  template: "{{ .DisplayName }}.mesh"
---
type: MeshTimeout
mesh: default
name: to-backend
spec:
  targetRef: {kind: Dataplane, labels: {app: backend}}
  to:
    - targetRef: {kind: MeshService, name: backend}
      default: {idleTimeout: 10s}
---
type: MeshTimeout
mesh: default
name: to-ghost
spec:
  to:
    - targetRef: {kind: MeshService, name: ghost}
      default: {idleTimeout: 10s}
---
type: MeshTimeout
mesh: default
name: legacy-service
spec:
  to:
    - targetRef: {kind: MeshService, name: web}
      default: {idleTimeout: 10s}
---
type: MeshTimeout
mesh: default
name: nobody
spec:
  targetRef: {kind: MeshSubset, tags: {version: v9}}
  to:
    - targetRef: {kind: Mesh}
      default: {idleTimeout: 10s}
---
type: MeshTimeout
mesh: default
name: nobody
spec:
  to:
    - targetRef: {kind: Mesh}
      default: {idleTimeout: 10s}
---
type: MeshRetry
mesh: payments
name: elsewhere
spec:
  to:
    - targetRef: {kind: Mesh}
      default: {tcp: {maxConnectAttempt: 2}}
"#;

fn findings() -> Vec<(String, String, String, usize)> {
    let outcome = validate::run_texts(vec![("world.yaml".into(), WORLD.to_string())], &Options::default());
    outcome
        .findings
        .iter()
        .map(|f| {
            let name = f.resource.as_ref().map(|r| r.name.clone()).unwrap_or_default();
            (f.code.id.to_string(), name, f.field.clone().unwrap_or_default(), f.location.pos.map_or(0, |p| p.line))
        })
        .collect()
}

#[test]
fn cross_resource_findings() {
    let got = findings();
    let expect = [
        ("MESH4002", "web-1", "networking.outbound[1].backendRef.name"),
        ("MESH4004", "orphan", "spec.selector"),
        ("MESH4004", "everywhere", "spec.selector"),
        ("MESH4004", "typo", "spec.selector.meshService.matchLabels"),
        ("MESH4002", "to-ghost", "spec.to[0].targetRef.name"),
        ("MESH4005", "nobody", "spec.targetRef"),
        ("MESH4001", "nobody", "name"),
        ("MESH4003", "elsewhere", ""),
    ];
    for (code, name, field) in expect {
        assert!(
            got.iter().any(|(c, n, f, _)| c == code && n == name && f == field),
            "missing {code} on {name} at {field:?}; got {got:#?}"
        );
    }
    assert_eq!(got.len(), expect.len(), "unexpected findings: {got:#?}");
    // The duplicate points at the second definition and names the first.
    let outcome = validate::run_texts(vec![("world.yaml".into(), WORLD.to_string())], &Options::default());
    let dup = outcome.findings.iter().find(|f| f.code.id == "MESH4001").unwrap();
    assert_eq!(dup.related.len(), 1);
    assert!(dup.related[0].location.pos.unwrap().line < dup.location.pos.unwrap().line);
}

#[test]
fn no_default_mesh_means_default_must_be_defined() {
    let text = "type: MeshTimeout\nname: t\nmesh: default\nspec:\n  to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1s}}]\n";
    let opts = Options { default_mesh_exists: false, ..Options::default() };
    let outcome = validate::run_texts(vec![("t.yaml".into(), text.into())], &opts);
    assert_eq!(outcome.findings.iter().map(|f| f.code.id).collect::<Vec<_>>(), ["MESH4003"]);
    let outcome = validate::run_texts(vec![("t.yaml".into(), text.into())], &Options::default());
    assert!(outcome.findings.is_empty());
}
