//! Multi-zone meshes, one rule per test: remote endpoints through the zone
//! ingress or egress, Kuma's baseline priorities, the findings when a zone proxy
//! or mTLS is missing (once per mesh and zone), `--zone`, and the priorities of
//! the three-zone `examples/locality-failover`.

mod common;

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
use meshc::compile::{self, Compiled, Selection};
use meshc::plan::ProxyPlan;

fn options(selection: Selection) -> compile::Options {
    let mut opts = compile::Options {
        validate: Default::default(),
        world: meshc::world::Options { default_mesh_exists: true, ..Default::default() },
        plan: meshc::plan::Options { secrets_dir: "secrets".into(), shadow: false, system_ca_path: None },
        selection,
    };
    opts.validate.default_mesh_exists = true;
    opts
}

fn compile(yaml: &str) -> Compiled {
    compile::run_texts(vec![("world.yaml".into(), yaml.into())], &options(Selection::default()))
}

fn plan<'a>(c: &'a Compiled, name: &str) -> &'a ProxyPlan {
    &c.proxies.iter().find(|(p, _)| p.id.name == name).unwrap_or_else(|| panic!("no proxy {name}")).0
}

fn count(c: &Compiled, code: &str) -> usize {
    c.outcome.findings.iter().filter(|f| f.code.id == code).count()
}

/// (address, zone, priority, weight) of a cluster's endpoints in the plan.
fn endpoints(p: &ProxyPlan, cluster: &str) -> Vec<(String, Option<String>, u32, u32)> {
    let c = p.clusters.iter().find(|c| c.name == cluster).unwrap_or_else(|| panic!("no cluster {cluster}"));
    c.endpoints.iter().map(|e| (format!("{}:{}", e.address, e.port), e.zone.clone(), e.priority, e.weight)).collect()
}

fn ep(address: &str, zone: &str, priority: u32, weight: u32) -> (String, Option<String>, u32, u32) {
    (address.to_string(), Some(zone.to_string()), priority, weight)
}

const MTLS: &str = "mtls:\n  enabledBackend: ca-1\n  backends:\n    - name: ca-1\n      type: builtin\n";

fn mesh(extra: &str) -> String {
    format!("type: Mesh\nname: m\n{MTLS}meshServices:\n  mode: Everywhere\n{extra}")
}

fn dataplane(name: &str, zone: &str, address: &str, service: &str) -> String {
    format!(
        "---\ntype: Dataplane\nmesh: m\nname: {name}\nlabels:\n  kuma.io/zone: {zone}\nnetworking:\n  address: {address}\n  inbound:\n    - port: 8080\n      tags:\n        kuma.io/service: {service}\n        kuma.io/protocol: http\n  transparentProxying:\n    redirectPortInbound: 15006\n    redirectPortOutbound: 15001\n"
    )
}

fn ingress(zone: &str, advertised: &str) -> String {
    format!(
        "---\ntype: ZoneIngress\nname: {zone}-ingress\nzone: {zone}\nnetworking:\n  address: 10.9.9.9\n  advertisedAddress: {advertised}\n  port: 10001\n  advertisedPort: 10001\n"
    )
}

fn egress(zone: &str, address: &str) -> String {
    format!(
        "---\ntype: ZoneEgress\nname: {zone}-egress\nzone: {zone}\nnetworking:\n  address: {address}\n  port: 10002\n"
    )
}

/// Two backends in zone-2, one in zone-1, a client in zone-1.
fn two_zones(mesh_extra: &str, zone_proxies: &str) -> String {
    [
        mesh(mesh_extra),
        dataplane("web", "zone-1", "10.1.0.1", "web"),
        dataplane("backend-1", "zone-1", "10.1.0.2", "backend"),
        dataplane("backend-2a", "zone-2", "10.2.0.2", "backend"),
        dataplane("backend-2b", "zone-2", "10.2.0.3", "backend"),
        zone_proxies.to_string(),
    ]
    .concat()
}

#[test]
fn remote_endpoints_go_through_the_zone_ingress_with_kumas_priorities() {
    let c = compile(&two_zones("", &ingress("zone-2", "198.51.100.2")));
    let web = plan(&c, "web");
    // A MeshService lives in one zone: the zone-2 one is reached through the
    // ingress only, priority 1 (Kuma's remote MeshService), weight = its endpoints.
    assert_eq!(endpoints(web, "m_backend__zone-2_msvc_8080"), vec![ep("198.51.100.2:10001", "zone-2", 1, 2)]);
    assert_eq!(endpoints(web, "m_backend__zone-1_msvc_8080"), vec![ep("10.1.0.2:8080", "zone-1", 0, 1)]);
    // Legacy services: priority 0 without the mesh's localityAwareLoadBalancing.
    assert_eq!(
        endpoints(web, "backend"),
        vec![ep("10.1.0.2:8080", "zone-1", 0, 1), ep("198.51.100.2:10001", "zone-2", 0, 2)]
    );
    // The cluster keeps its name, mTLS and SNI: the ingress routes by it.
    let cluster = web.clusters.iter().find(|c| c.name == "m_backend__zone-2_msvc_8080").expect("cluster");
    assert!(matches!(&cluster.tls, meshc::plan::ClusterTls::Mesh { sni, .. } if sni.ends_with(".backend.8080.m.ms")));
    // zone-1 has no ingress: zone-2's proxies lose its endpoints (one finding).
    let missing: Vec<&str> =
        c.outcome.findings.iter().filter(|f| f.code.id == "MESH5015").map(|f| f.message.as_str()).collect();
    assert!(matches!(&missing[..], [m] if m.contains("zone `zone-1`")), "{missing:?}");
}

#[test]
fn locality_aware_load_balancing_puts_other_zones_of_legacy_services_at_priority_1() {
    let c = compile(&two_zones("routing:\n  localityAwareLoadBalancing: true\n", &ingress("zone-2", "198.51.100.2")));
    assert_eq!(
        endpoints(plan(&c, "web"), "backend"),
        vec![ep("10.1.0.2:8080", "zone-1", 0, 1), ep("198.51.100.2:10001", "zone-2", 1, 2)]
    );
}

#[test]
fn zone_egress_routing_goes_through_the_local_egress() {
    let proxies =
        [ingress("zone-1", "198.51.100.1"), ingress("zone-2", "198.51.100.2"), egress("zone-1", "10.1.0.99")].concat();
    let c = compile(&two_zones("routing:\n  zoneEgress: true\n", &proxies));
    let web = plan(&c, "web");
    assert_eq!(endpoints(web, "m_backend__zone-2_msvc_8080"), vec![ep("10.1.0.99:10002", "zone-2", 1, 2)]);
    assert!(web.clusters.iter().all(|c| c.zone_egress));
    // zone-2 has no egress: its proxies lose zone-1's endpoints, reported once for
    // (m, zone-2) although three proxies are affected.
    assert_eq!(count(&c, "MESH5016"), 1);
    assert_eq!(endpoints(plan(&c, "backend-2a"), "m_backend__zone-1_msvc_8080"), vec![]);
}

#[test]
fn egress_routing_needs_the_remote_ingress_too() {
    let c = compile(&two_zones("routing:\n  zoneEgress: true\n", &egress("zone-1", "10.1.0.99")));
    assert_eq!(endpoints(plan(&c, "web"), "m_backend__zone-2_msvc_8080"), vec![]);
    assert!(count(&c, "MESH5015") >= 1);
}

#[test]
fn missing_ingress_and_mtls_are_reported_once_per_mesh_and_zone() {
    let c = compile(&[two_zones("", ""), dataplane("web-2", "zone-1", "10.1.0.9", "web")].concat());
    // web, web-2 and backend-1 all lose zone-2's endpoints; zone-2's proxies lose zone-1's.
    let messages: Vec<&str> =
        c.outcome.findings.iter().filter(|f| f.code.id == "MESH5015").map(|f| f.message.as_str()).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages.iter().any(|m| m.contains("zone `zone-2`") && m.contains("add a ZoneIngress with `zone: zone-2`"))
    );
    let plain = two_zones("", &ingress("zone-2", "198.51.100.2")).replace(MTLS, "");
    let c = compile(&plain);
    assert_eq!(count(&c, "MESH5017"), 2);
    assert_eq!(endpoints(plan(&c, "web"), "m_backend__zone-2_msvc_8080"), vec![]);
}

#[test]
fn a_zone_labelled_meshservice_selects_its_zones_dataplanes_whatever_its_origin() {
    // A zone control plane's copy of a remote service says `kuma.io/origin: global`.
    let ms = "---\ntype: MeshService\nname: backend-remote\nmesh: m\nlabels:\n  kuma.io/origin: global\n  kuma.io/zone: zone-2\nspec:\n  selector:\n    dataplaneTags:\n      kuma.io/service: backend\n  ports:\n    - port: 8080\n      targetPort: 8080\n      appProtocol: http\n";
    let c = compile(&[two_zones("", &ingress("zone-2", "198.51.100.2")), ms.to_string()].concat());
    let p = plan(&c, "web");
    assert_eq!(endpoints(p, "m_backend-remote__zone-2_msvc_8080"), vec![ep("198.51.100.2:10001", "zone-2", 1, 2)]);
    // Proxies of zone-2 reach its Dataplanes directly.
    assert_eq!(
        endpoints(plan(&c, "backend-2a"), "m_backend-remote__zone-2_msvc_8080"),
        vec![ep("10.2.0.2:8080", "zone-2", 0, 1), ep("10.2.0.3:8080", "zone-2", 0, 1)]
    );
}

#[test]
fn mesh_external_services_go_through_the_egress_with_kuma_mtls() {
    let mes = "---\ntype: MeshExternalService\nname: httpbin\nmesh: m\nspec:\n  match:\n    type: HostnameGenerator\n    port: 443\n    protocol: tcp\n  endpoints:\n    - address: httpbin.org\n      port: 443\n  tls:\n    enabled: true\n";
    let c =
        compile(&[two_zones("routing:\n  zoneEgress: true\n", &egress("zone-1", "10.1.0.99")), mes.into()].concat());
    let web = plan(&c, "web");
    let cluster = web.clusters.iter().find(|c| c.name == "m_httpbin___extsvc_443").expect("cluster");
    assert_eq!(
        cluster.endpoints.iter().map(|e| format!("{}:{}", e.address, e.port)).collect::<Vec<_>>(),
        ["10.1.0.99:10002"]
    );
    let meshc::plan::ClusterTls::Mesh { sni, sans } = &cluster.tls else { panic!("not Kuma mTLS: {:?}", cluster.tls) };
    assert_eq!(
        sni,
        &meshc::plan::outbounds::resource_sni("httpbin", "m", meshc::world::ServiceKind::MeshExternalService, 443)
    );
    assert!(matches!(&sans[..], [meshc::plan::San::Exact(s)] if s == "spiffe://m/zone-egress"));
    // Without the mesh setting the sidecar originates TLS itself.
    let c = compile(&[two_zones("", ""), mes.into()].concat());
    let cluster = plan(&c, "web").clusters.iter().find(|c| c.name == "m_httpbin___extsvc_443").expect("cluster");
    assert!(matches!(cluster.tls, meshc::plan::ClusterTls::External(_)));
}

#[test]
fn single_zone_input_is_untouched() {
    let yaml = two_zones("", "").replace("  kuma.io/zone: zone-1\n", "").replace("  kuma.io/zone: zone-2\n", "");
    let c = compile(&yaml);
    assert_eq!(plan(&c, "web").clusters.iter().find(|c| c.name == "backend").expect("cluster").endpoints.len(), 3);
    assert_eq!(count(&c, "MESH5015") + count(&c, "MESH5017"), 0);
}

/// (zone, priority) of each locality of a cluster in a compiled bootstrap.
fn localities(b: &Bootstrap, cluster: &str) -> Vec<(String, u32)> {
    let clusters = &b.static_resources.as_ref().expect("static resources").clusters;
    let c = clusters.iter().find(|c| c.name == cluster).unwrap_or_else(|| panic!("no cluster {cluster}"));
    let cla = c.load_assignment.as_ref().expect("endpoints");
    cla.endpoints.iter().map(|g| (g.locality.clone().unwrap_or_default().zone, g.priority)).collect()
}

/// `examples/locality-failover` (seed: Kuma 2.5 cross-zone failover): zone-1
/// fails over to zone-2, zone-2 to zone-1, both never to zone-3; zone-3 stays
/// local except for service-a. Remote zones are reached through their ingress.
#[test]
fn locality_failover_example_gives_each_zone_its_priorities() {
    let c = compile::run(&[common::root().join("examples/locality-failover")], &options(Selection::default()));
    assert!(!c.has_errors());
    let by_proxy: BTreeMap<&str, &Bootstrap> = c.proxies.iter().map(|(p, b)| (p.id.name.as_str(), b)).collect();
    let z = |zone: &str, priority: u32| (zone.to_string(), priority);
    let backend = "multi-region_backend___mzsvc_8080";
    let service_a = "multi-region_service-a___mzsvc_8080";
    for proxy in ["backend-zone-1-01", "service-a-zone-1-01"] {
        assert_eq!(localities(by_proxy[proxy], backend), vec![z("zone-1", 0), z("zone-2", 1)], "{proxy}");
        assert_eq!(localities(by_proxy[proxy], service_a), vec![z("zone-1", 0)], "{proxy}");
    }
    let zone_2 = by_proxy["backend-zone-2-01"];
    assert_eq!(localities(zone_2, backend), vec![z("zone-1", 2), z("zone-2", 0)]);
    assert_eq!(localities(zone_2, service_a), vec![z("zone-1", 2)]);
    let zone_3 = by_proxy["backend-zone-3-01"];
    assert_eq!(localities(zone_3, backend), vec![z("zone-3", 0)]);
    assert_eq!(localities(zone_3, service_a), vec![z("zone-1", 1)]);
    // The remote localities are the zones' ingresses.
    let plan = &c.proxies.iter().find(|(p, _)| p.id.name == "backend-zone-3-01").expect("zone-3").0;
    let cluster = plan.clusters.iter().find(|c| c.name == service_a).expect("service-a");
    assert_eq!(cluster.endpoints.iter().map(|e| e.address.as_str()).collect::<Vec<_>>(), ["198.51.100.1"]);
}

#[test]
fn zone_selection_compiles_only_that_zones_proxies() {
    let dir = common::root().join("examples/locality-failover");
    let selection = Selection { zones: vec!["zone-1".into(), "zone-3".into()], ..Default::default() };
    let c = compile::run(std::slice::from_ref(&dir), &options(selection));
    // Sidecars and zone proxies alike.
    let mut zones: Vec<&str> = c.proxies.iter().filter_map(|(p, _)| p.id.zone.as_deref()).collect();
    zones.sort();
    zones.dedup();
    assert_eq!(zones, ["zone-1", "zone-3"]);
    // The CLI: repeatable or a comma list.
    let out = tempfile::tempdir().expect("tempdir");
    let run = common::run(&[
        "compile",
        &dir.display().to_string(),
        "--out",
        &out.path().display().to_string(),
        "--zone",
        "zone-2,zone-3",
        "-q",
    ]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let manifest = std::fs::read_to_string(out.path().join("manifest.json")).expect("manifest");
    assert!(manifest.contains("backend-zone-2-01") && manifest.contains("backend-zone-3-01"));
    assert!(!manifest.contains("zone-1-01"), "{manifest}");
}

/// A MeshExternalService reached directly keeps its endpoint priorities (Kuma's
/// `priority-<n>` localities) under a locality-aware MeshLoadBalancingStrategy:
/// Kuma leaves external services out of a sidecar's locality.
#[test]
fn locality_awareness_leaves_external_service_priorities_alone() {
    let world = format!(
        "{}{}---
type: MeshExternalService
name: ext
mesh: m
spec:
  match: {{port: 443, protocol: tcp}}
  endpoints: [{{address: 192.0.2.1, port: 443}}, {{address: 192.0.2.2, port: 443, priority: 1}}]
---
type: MeshLoadBalancingStrategy
name: affinity
mesh: m
spec:
  targetRef: {{kind: Mesh}}
  to:
    - targetRef: {{kind: Mesh}}
      default:
        localityAwareness:
          localZone:
            affinityTags: [{{key: k8s.io/node}}]
",
        mesh(""),
        dataplane("web-01", "west", "10.1.0.1", "web"),
    );
    let c = compile(&world);
    assert!(!c.has_errors(), "{:#?}", c.outcome.findings);
    let (_, bootstrap) = c.proxies.iter().find(|(p, _)| p.id.name == "web-01").expect("web-01");
    let clusters = &bootstrap.static_resources.as_ref().expect("static resources").clusters;
    let ext = clusters.iter().find(|c| c.name.contains("_ext_")).expect("the external service's cluster");
    let groups: Vec<(String, u32)> = ext
        .load_assignment
        .as_ref()
        .expect("endpoints")
        .endpoints
        .iter()
        .map(|g| (g.locality.clone().unwrap_or_default().sub_zone, g.priority))
        .collect();
    assert_eq!(groups, [("priority-0".to_string(), 0), ("priority-1".to_string(), 1)]);
}
