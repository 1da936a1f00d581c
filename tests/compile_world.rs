//! The world and plan stages on small inputs, one rule per test: which services
//! a proxy reaches, where their endpoints are, and the findings when a proxy or
//! outbound cannot be built.

use meshc::compile::{self, Compiled};
use meshc::plan::ProxyPlan;

fn compile(yaml: &str) -> Compiled {
    let opts = compile::Options {
        validate: Default::default(),
        world: meshc::world::Options { default_mesh_exists: true, ..Default::default() },
        plan: meshc::plan::Options { secrets_dir: "secrets".into(), shadow: false, system_ca_path: None },
        selection: Default::default(),
    };
    compile::run_texts(vec![("world.yaml".into(), yaml.into())], &opts)
}

fn plan<'a>(c: &'a Compiled, name: &str) -> &'a ProxyPlan {
    &c.proxies.iter().find(|(p, _)| p.id.name == name).unwrap_or_else(|| panic!("no proxy {name}")).0
}

fn codes(c: &Compiled) -> Vec<&'static str> {
    c.outcome.findings.iter().map(|f| f.code.id).collect()
}

const MESH: &str = "type: Mesh\nname: m\nmeshServices:\n  mode: Everywhere\n";

fn dataplane(name: &str, address: &str, service: &str, extra: &str) -> String {
    format!(
        "---\ntype: Dataplane\nmesh: m\nname: {name}\nnetworking:\n  address: {address}\n{extra}  inbound:\n    - port: 8080\n      tags:\n        kuma.io/service: {service}\n        kuma.io/protocol: http\n  transparentProxying:\n    redirectPortInbound: 15006\n    redirectPortOutbound: 15001\n"
    )
}

#[test]
fn endpoints_use_the_advertised_address() {
    let yaml = format!(
        "{MESH}{}{}",
        dataplane("a", "10.0.0.1", "backend", "  advertisedAddress: 192.0.2.1\n"),
        dataplane("b", "10.0.0.2", "client", "")
    );
    let c = compile(&yaml);
    let cluster = plan(&c, "b").clusters.iter().find(|c| c.name == "m_backend___msvc_8080").expect("cluster");
    assert_eq!(cluster.endpoints[0].address, "192.0.2.1");
}

#[test]
fn reachable_services_leave_out_every_real_resource_outbound() {
    let extra = "";
    let mut client = dataplane("client-1", "10.0.0.2", "client", extra);
    client = client.replace(
        "    redirectPortOutbound: 15001\n",
        "    redirectPortOutbound: 15001\n    reachableServices: [backend]\n",
    );
    let yaml = format!("{MESH}{}{client}", dataplane("backend-1", "10.0.0.1", "backend", ""));
    let c = compile(&yaml);
    let outbounds: Vec<String> = plan(&c, "client-1").outbounds.iter().map(|o| o.cluster.clone()).collect();
    assert_eq!(outbounds, ["backend"], "only the legacy `backend` outbound");
}

#[test]
fn a_proxy_with_a_dns_address_is_reported_and_still_an_endpoint() {
    let yaml = format!(
        "{MESH}{}{}",
        dataplane("named", "backend.example.com", "backend", ""),
        dataplane("client", "10.0.0.2", "client", "")
    );
    let c = compile(&yaml);
    assert!(codes(&c).contains(&"MESH5008"), "{:?}", codes(&c));
    assert!(c.proxies.iter().all(|(p, _)| p.id.name != "named"), "the DNS-named proxy is not compiled");
    let cluster = plan(&c, "client").clusters.iter().find(|c| c.name == "backend").expect("legacy cluster");
    assert_eq!(cluster.endpoints[0].address, "backend.example.com");
}

#[test]
fn generated_services_do_not_depend_on_document_order() {
    let a = dataplane("aa", "10.0.0.1", "api", "");
    let b = dataplane("bb", "10.0.0.2", "api", "").replace("kuma.io/protocol: http", "kuma.io/protocol: tcp");
    let one = compile(&format!("{MESH}{a}{b}"));
    let two = compile(&format!("{MESH}{b}{a}"));
    let shape = |c: &Compiled| {
        let p = plan(c, "aa");
        let msvc = p.outbounds.iter().find(|o| o.cluster == "m_api___msvc_8080").expect("generated MeshService");
        (msvc.protocol, c.outcome.findings.iter().map(|f| f.code.id).collect::<Vec<_>>())
    };
    assert_eq!(shape(&one), shape(&two));
    // The first Dataplane by name (aa, http) defines the ports; bb is reported.
    assert_eq!(shape(&one).0, meshc::world::Protocol::Http);
    assert!(shape(&one).1.contains(&"MESH5009"));
}

#[test]
fn ambiguous_label_backend_refs_are_reported() {
    let yaml = format!(
        "{MESH}---\ntype: MeshService\nname: one\nmesh: m\nlabels:\n  team: x\nspec:\n  selector:\n    dataplaneTags:\n      kuma.io/service: one\n  ports:\n    - port: 80\n      targetPort: 8080\n---\ntype: MeshService\nname: two\nmesh: m\nlabels:\n  team: x\nspec:\n  selector:\n    dataplaneTags:\n      kuma.io/service: two\n  ports:\n    - port: 80\n      targetPort: 8080\n---\ntype: Dataplane\nmesh: m\nname: c\nnetworking:\n  address: 10.0.0.9\n  inbound:\n    - port: 9000\n      tags:\n        kuma.io/service: c\n  outbound:\n    - port: 7000\n      backendRef:\n        kind: MeshService\n        labels:\n          team: x\n        port: 80\n"
    );
    let c = compile(&yaml);
    assert!(codes(&c).contains(&"MESH5007"), "{:?}", codes(&c));
    assert_eq!(plan(&c, "c").outbounds[0].destination.name, "one");
}

#[test]
fn a_service_named_like_a_proxy_cluster_is_left_out() {
    let yaml = format!(
        "{MESH}{}{}",
        dataplane("odd", "10.0.0.1", "'localhost:8080'", ""),
        dataplane("client", "10.0.0.2", "client", "")
    );
    let c = compile(&yaml);
    let p = plan(&c, "client");
    assert!(p.clusters.iter().all(|c| c.name != "localhost:8080" || c.endpoints[0].address == "127.0.0.1"));
    assert!(codes(&c).contains(&"MESH5006"), "{:?}", codes(&c));
}

#[test]
fn a_zone_labelled_dataplane_backs_an_unlabelled_meshservice() {
    let yaml = format!(
        "{MESH}---\ntype: MeshService\nname: web\nmesh: m\nspec:\n  selector:\n    dataplaneTags:\n      kuma.io/service: web\n  ports:\n    - port: 80\n      targetPort: 8080\n      appProtocol: http\n{}{}",
        dataplane("web-1", "10.0.0.1", "web", "")
            .replace("name: web-1\n", "name: web-1\nlabels:\n  kuma.io/zone: east\n"),
        dataplane("client", "10.0.0.2", "client", "")
    );
    let c = compile(&yaml);
    let cluster = plan(&c, "client").clusters.iter().find(|c| c.name == "m_web___msvc_80").expect("web cluster");
    assert_eq!(cluster.endpoints.len(), 1);
}
