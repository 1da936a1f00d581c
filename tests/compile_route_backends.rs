//! Clusters that exist only because a route sends to them (MeshHTTPRoute and
//! MeshTCPRoute backendRefs, RequestMirror) get the policies of their own
//! destination, as Kuma computes each backend cluster's confs from that
//! destination's `to` rules; an outbound's own cluster keeps its outbound's.

use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster::LbPolicy};
use meshc::compile::{self, Compiled};
use meshc::plan::ProxyPlan;

const WORLD: &str = include_str!("../testdata/golden/compile-route-backend-policies/input/world.yaml");
const POLICIES: &str = include_str!("../testdata/golden/compile-route-backend-policies/input/policies.yaml");

fn compile(texts: &[(&str, &str)]) -> Compiled {
    let opts = compile::Options {
        validate: Default::default(),
        world: Default::default(),
        plan: meshc::plan::Options { secrets_dir: "secrets".into(), shadow: false, system_ca_path: None },
        selection: Default::default(),
    };
    compile::run_texts(texts.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect(), &opts)
}

fn web(c: &Compiled) -> &(ProxyPlan, envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap) {
    c.proxies.iter().find(|(p, _)| p.id.name == "web-01").expect("proxy web-01")
}

fn cluster<'a>(c: &'a Compiled, name: &str) -> &'a Cluster {
    let statics = web(c).1.static_resources.as_ref().expect("static resources");
    statics.clusters.iter().find(|x| x.name == name).unwrap_or_else(|| panic!("no cluster {name}"))
}

fn max_connections(c: &Cluster) -> Option<u32> {
    c.circuit_breakers.as_ref()?.thresholds.first()?.max_connections.map(|v| v.value)
}

#[test]
fn a_split_backend_cluster_gets_its_destinations_policies() {
    let c = compile(&[("world.yaml", WORLD), ("policies.yaml", POLICIES)]);
    assert!(!c.has_errors(), "{:?}", c.outcome.findings);
    assert!(web(&c).0.outbounds.iter().all(|o| o.cluster != "rbp_backend-v2___msvc_80"), "no outbound to backend-v2");
    let v2 = cluster(&c, "rbp_backend-v2___msvc_80");
    assert_eq!(v2.health_checks.len(), 1, "MeshHealthCheck to backend-v2");
    assert_eq!(max_connections(v2), Some(7), "MeshCircuitBreaker to backend-v2");
    assert!(v2.outlier_detection.is_some());
    assert_eq!(v2.connect_timeout.as_ref().map(|d| d.seconds), Some(3), "MeshTimeout to backend-v2");
    // The mirror backend: its own MeshLoadBalancingStrategy, the mesh default breaker.
    let audit = cluster(&c, "rbp_audit___msvc_80");
    assert_eq!(audit.lb_policy, LbPolicy::LeastRequest as i32);
    assert_eq!(max_connections(audit), Some(1024));
    // The outbound's own cluster: none of backend-v2's policies.
    let backend = cluster(&c, "rbp_backend___msvc_80");
    assert!(backend.health_checks.is_empty() && backend.outlier_detection.is_none());
    assert_eq!(max_connections(backend), Some(1024));
    assert_eq!(backend.connect_timeout.as_ref().map(|d| d.seconds), Some(5));
}

#[test]
fn without_policies_a_route_only_cluster_gets_the_mesh_defaults() {
    let route = POLICIES.split("\n---\n").next().expect("the route document");
    let c = compile(&[("world.yaml", WORLD), ("route.yaml", route)]);
    let v2 = cluster(&c, "rbp_backend-v2___msvc_80");
    assert_eq!(max_connections(v2), Some(1024), "mesh-circuit-breaker-all default");
    assert!(v2.health_checks.is_empty());
}

#[test]
fn every_cluster_has_the_policies_of_the_outbound_to_its_destination() {
    let c = compile(&[("world.yaml", WORLD), ("policies.yaml", POLICIES)]);
    let plan = &web(&c).0;
    for o in &plan.outbounds {
        let cl = plan.clusters.iter().find(|c| c.name == o.cluster).expect("the outbound's cluster");
        assert_eq!(cl.destination, o.destination);
        let kinds =
            |p: &[meshc::rules::effective::Effective]| p.iter().map(|e| (e.kind, e.conf.clone())).collect::<Vec<_>>();
        assert_eq!(kinds(&cl.policies), kinds(&o.policies), "{}", o.cluster);
    }
    let v2 = plan.clusters.iter().find(|c| c.name == "rbp_backend-v2___msvc_80").expect("backend-v2 cluster");
    let kinds: Vec<&str> = v2.policies.iter().map(|e| e.kind).collect();
    for k in ["MeshHealthCheck", "MeshCircuitBreaker", "MeshTimeout"] {
        assert!(kinds.contains(&k), "{k} in {kinds:?}");
    }
}
