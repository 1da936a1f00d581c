//! MeshPassthrough end to end: a real Envoy runs a transparent-proxy sidecar's
//! configuration on 127.0.0.1 (no iptables: the test connects to the outbound
//! passthrough listener itself, so the original destination is the listener's
//! own address and port). A port-less HTTP domain match gives that port an
//! HTTP chain; a request for a domain no match allows gets Kuma's 503 answer
//! from the `no_match` virtual host.

mod common;

use std::time::Duration;

use common::mesh::start_proxies;
use common::{eventually, free_port, http_get, retry_port_clash};

fn world(outbound: u16, inbound: u16, app: u16, admin: u16) -> String {
    format!(
        "type: Mesh
name: e2e
---
type: Dataplane
mesh: e2e
name: app-01
networking:
  address: 127.0.0.1
  inbound:
    - port: {app}
      tags:
        kuma.io/service: app
        kuma.io/protocol: http
  transparentProxying:
    redirectPortOutbound: {outbound}
    redirectPortInbound: {inbound}
  admin:
    port: {admin}
---
type: MeshPassthrough
mesh: e2e
name: only-api
spec:
  default:
    passthroughMode: Matched
    appendMatch:
      - type: Domain
        value: api.example.com
        protocol: http
"
    )
}

#[test]
fn an_unmatched_domain_gets_kumas_503() {
    if common::envoy().is_none() {
        return;
    }
    let mut outbound = 0;
    let (_dir, envoys) = retry_port_clash(3, || {
        outbound = free_port();
        let admin = free_port();
        start_proxies(&world(outbound, free_port(), free_port(), admin), &[("app-01", admin)])
    })
    .expect("the sidecar starts");
    let addr = ([127, 0, 0, 1], outbound).into();
    let (status, _, body) = eventually(Duration::from_secs(10), || {
        let r = http_get(addr, "unknown.example.org", "/", Duration::from_secs(5))?;
        if r.0 == 503 { Ok(r) } else { Err(format!("status {}: {}", r.0, r.2)) }
    })
    .expect("an answer from the passthrough listener");
    assert_eq!(status, 503);
    assert_eq!(
        body,
        "This response comes from Kuma Sidecar. No routes matched this domain - check configuration of your \
         MeshPassthrough policy.\n"
    );
    let stats = envoys[0].admin_get("/stats?filter=meshpassthrough_http").expect("stats");
    assert!(stats.contains("http.meshpassthrough_http_"), "{stats}");
}
