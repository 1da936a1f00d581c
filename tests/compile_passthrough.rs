//! MeshPassthrough end to end through `compile`: each sidecar of the seed's
//! Mongo + Confluent example (examples/passthrough-mongo-confluent, mesh
//! passthrough off) lets out exactly the destinations its labels allow, the
//! policies' `appendMatch` lists concatenate when both select a proxy, and the
//! policy is reported (not applied) on a proxy without transparent proxy.

use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
use envoy_types::pb::envoy::config::listener::v3::Listener;
use meshc::compile::{self, Compiled};

const EXAMPLE: &str = "examples/passthrough-mongo-confluent";
const MONGO: &str = "*.h80seek.mongodb.net";
const CONFLUENT: &str = "*.europe-west1.gcp.confluent.cloud";

fn options() -> compile::Options {
    compile::Options {
        validate: Default::default(),
        world: Default::default(),
        plan: meshc::plan::Options { secrets_dir: "secrets".into(), shadow: false, system_ca_path: None },
        selection: Default::default(),
    }
}

fn compile_texts(texts: &[(&str, &str)]) -> Compiled {
    compile::run_texts(texts.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect(), &options())
}

fn example() -> Compiled {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLE);
    compile::run(&[dir], &options())
}

fn bootstrap<'a>(c: &'a Compiled, prefix: &str) -> &'a Bootstrap {
    &c.proxies.iter().find(|(p, _)| p.id.name.starts_with(prefix)).unwrap_or_else(|| panic!("no proxy {prefix}")).1
}

fn outbound_passthrough(b: &Bootstrap) -> &Listener {
    let statics = b.static_resources.as_ref().expect("static resources");
    statics.listeners.iter().find(|l| l.name == "outbound:passthrough:ipv4").expect("outbound passthrough listener")
}

/// The SNIs (server names) the outbound passthrough listener lets through.
fn allowed(b: &Bootstrap) -> Vec<String> {
    outbound_passthrough(b)
        .filter_chains
        .iter()
        .flat_map(|c| c.filter_chain_match.iter().flat_map(|m| m.server_names.clone()))
        .collect()
}

fn clusters(b: &Bootstrap) -> Vec<String> {
    let statics = b.static_resources.as_ref().expect("static resources");
    statics.clusters.iter().map(|c| c.name.clone()).filter(|n| n.contains("passthrough")).collect()
}

#[test]
fn each_workload_reaches_exactly_what_its_labels_allow() {
    let c = example();
    assert!(!c.has_errors(), "{:?}", c.outcome.findings);
    assert_eq!(allowed(bootstrap(&c, "orders")), [MONGO]);
    assert_eq!(allowed(bootstrap(&c, "analytics")), [CONFLUENT]);
    // Both policies select reporting: their appendMatch lists concatenate.
    let mut both = allowed(bootstrap(&c, "reporting"));
    both.sort();
    assert_eq!(both, [CONFLUENT, MONGO]);
    // storefront: no policy, the mesh's passthrough is off: one chain to a
    // cluster that leads nowhere.
    let storefront = bootstrap(&c, "storefront");
    assert!(allowed(storefront).is_empty());
    assert_eq!(outbound_passthrough(storefront).filter_chains.len(), 1);
    // Only the clusters of the allowed destinations (and the inbound passthrough).
    assert_eq!(
        clusters(bootstrap(&c, "orders")),
        ["inbound:passthrough:ipv4", "meshpassthrough_tls_*.h80seek.mongodb.net_27017"]
    );
    assert_eq!(
        clusters(bootstrap(&c, "reporting")),
        [
            "inbound:passthrough:ipv4",
            "meshpassthrough_tls_*.europe-west1.gcp.confluent.cloud_9092",
            "meshpassthrough_tls_*.h80seek.mongodb.net_27017"
        ]
    );
    assert_eq!(clusters(storefront), ["inbound:passthrough:ipv4", "outbound:passthrough:ipv4"]);
}

const WITHOUT_TP: &str = "
type: Mesh
name: default
---
type: Dataplane
mesh: default
name: plain
networking:
  address: 10.0.0.1
  inbound:
    - port: 8080
      tags:
        kuma.io/service: plain
---
type: MeshPassthrough
mesh: default
name: some-out
spec:
  default:
    appendMatch:
      - type: IP
        value: 1.1.1.1
";

#[test]
fn a_proxy_without_transparent_proxy_is_reported_not_configured() {
    let c = compile_texts(&[("world.yaml", WITHOUT_TP)]);
    assert!(!c.has_errors(), "{:?}", c.outcome.findings);
    let codes: Vec<&str> = c.outcome.findings.iter().map(|f| f.code.id).collect();
    assert_eq!(codes, ["MESH5011"]);
    let statics = bootstrap(&c, "plain").static_resources.as_ref().expect("static resources");
    assert!(statics.clusters.iter().all(|c| !c.name.starts_with("meshpassthrough_")));
}

#[test]
fn matches_envoy_would_refuse_are_reported_at_their_policy() {
    // Two policies: an http domain on port 8080 and a grpc one on the same port
    // make the same filter chain; one is left out.
    let world = "
type: Mesh
name: default
---
type: Dataplane
mesh: default
name: app
networking:
  address: 10.0.0.1
  inbound:
    - port: 8080
      tags:
        kuma.io/service: app
  transparentProxying:
    redirectPortInbound: 15006
    redirectPortOutbound: 15001
---
type: MeshPassthrough
mesh: default
name: a-http
spec:
  default:
    appendMatch:
      - type: Domain
        value: web.example.com
        port: 8080
        protocol: http
---
type: MeshPassthrough
mesh: default
name: b-grpc
spec:
  default:
    appendMatch:
      - type: IP
        value: 1.1.1.1
      - type: Domain
        value: grpc.example.com
        port: 8080
        protocol: grpc
";
    let c = compile_texts(&[("world.yaml", world)]);
    assert!(!c.has_errors(), "{:?}", c.outcome.findings);
    // The rules stage merges the two (same targetRef level); the policy merged
    // first keeps its chain, the other's match is left out and reported.
    let plan = &c.proxies.iter().find(|(p, _)| p.id.name == "app").expect("proxy app").0;
    let merged = plan.policies.iter().find(|e| e.kind == "MeshPassthrough").expect("merged MeshPassthrough");
    let origins: Vec<&str> = merged.origins.iter().map(|o| o.policy.as_str()).collect();
    assert_eq!(origins, ["MeshPassthrough/b-grpc", "MeshPassthrough/a-http"]);
    assert_eq!(merged.conf["appendMatch"].as_array().map(Vec::len), Some(3), "the lists concatenate");
    let dropped: Vec<_> = c.outcome.findings.iter().filter(|f| f.code.id == "MESH5012").collect();
    assert_eq!(dropped.len(), 1, "{:?}", c.outcome.findings);
    let resource = dropped[0].resource.as_ref().expect("located at its policy");
    assert_eq!(resource.name, "a-http", "{:?}", dropped[0]);
    assert_eq!(dropped[0].field.as_deref(), Some("spec.default.appendMatch[0]"));
    let chains: Vec<String> =
        outbound_passthrough(bootstrap(&c, "app")).filter_chains.iter().map(|c| c.name.clone()).collect();
    assert_eq!(
        chains,
        ["meshpassthrough_tcp_1.1.1.1_8080", "meshpassthrough_tcp_1.1.1.1_*", "meshpassthrough_grpc_8080"]
    );
}
