//! End to end: compile a small mesh, start two real Envoys from the output (a
//! client sidecar with an explicit outbound, a server sidecar in front of an
//! HTTP server on 127.0.0.1) and send a request through both, with mTLS off and
//! with builtin mTLS on (certificates from `meshc certs`).

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::{EchoConfig, Envoy, HttpEcho, free_port, http_get};

struct Ports {
    client_out: u16,
    client_in: u16,
    client_admin: u16,
    server_in: u16,
    server_admin: u16,
}

fn world(ports: &Ports, echo_port: u16, mtls: bool) -> String {
    let mtls_block =
        if mtls { "mtls:\n  enabledBackend: ca-1\n  backends:\n    - name: ca-1\n      type: builtin\n" } else { "" };
    format!(
        "type: Mesh
name: e2e
meshServices:
  mode: Exclusive
{mtls_block}---
type: Dataplane
mesh: e2e
name: server-01
networking:
  address: 127.0.0.1
  inbound:
    - port: {server_in}
      servicePort: {echo_port}
      serviceAddress: 127.0.0.1
      tags:
        kuma.io/service: server
        kuma.io/protocol: http
  admin:
    port: {server_admin}
---
type: Dataplane
mesh: e2e
name: client-01
networking:
  address: 127.0.0.1
  inbound:
    - port: {client_in}
      tags:
        kuma.io/service: client
        kuma.io/protocol: http
  outbound:
    - port: {client_out}
      backendRef:
        kind: MeshService
        name: server
        port: 80
  admin:
    port: {client_admin}
---
type: MeshService
name: server
mesh: e2e
spec:
  selector:
    dataplaneTags:
      kuma.io/service: server
  ports:
    - port: 80
      targetPort: {server_in}
      appProtocol: http
",
        server_in = ports.server_in,
        server_admin = ports.server_admin,
        client_in = ports.client_in,
        client_out = ports.client_out,
        client_admin = ports.client_admin,
    )
}

fn bootstrap_of(out: &Path, name: &str) -> std::path::PathBuf {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest")).expect("json");
    let entry = manifest["proxies"]
        .as_array()
        .and_then(|p| p.iter().find(|e| e["name"] == name))
        .unwrap_or_else(|| panic!("{name} in the manifest"));
    out.join(entry["bootstrap"].as_str().expect("bootstrap path"))
}

fn request_through_client(mtls: bool) {
    if common::envoy().is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = Ports {
        client_out: free_port(),
        client_in: free_port(),
        client_admin: free_port(),
        server_in: free_port(),
        server_admin: free_port(),
    };
    let input = dir.path().join("input.yaml");
    std::fs::write(&input, world(&ports, echo.port(), mtls)).expect("write input");
    let out = dir.path().join("out");
    let secrets = dir.path().join("secrets");
    let compiled = common::run(&[
        "compile",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--secrets-dir",
        secrets.to_str().unwrap(),
    ]);
    assert!(compiled.status.success(), "compile: {}", String::from_utf8_lossy(&compiled.stderr));
    if mtls {
        let certs = common::run(&["certs", input.to_str().unwrap(), "--out", secrets.to_str().unwrap()]);
        assert!(certs.status.success(), "certs: {}", String::from_utf8_lossy(&certs.stderr));
    }
    let server = Envoy::start(&bootstrap_of(&out, "server-01"), dir.path(), ports.server_admin).expect("server envoy");
    let client = Envoy::start(&bootstrap_of(&out, "client-01"), dir.path(), ports.client_admin).expect("client envoy");

    let client_addr: SocketAddr = ([127, 0, 0, 1], ports.client_out).into();
    let (status, _, body) = common::eventually(Duration::from_secs(20), || {
        let r = http_get(client_addr, "server", "/through/the/mesh", Duration::from_secs(5))?;
        if r.0 == 200 { Ok(r) } else { Err(format!("status {}: {}", r.0, r.2)) }
    })
    .unwrap_or_else(|e| {
        panic!("request through the client sidecar: {e}\nclient log:\n{}\nserver log:\n{}", client.log(), server.log())
    });
    assert_eq!(status, 200);
    assert!(body.contains("path: /through/the/mesh"), "the server saw the request: {body}");
    assert!(echo.requests() >= 1);

    let server_addr: SocketAddr = ([127, 0, 0, 1], ports.server_in).into();
    let direct = http_get(server_addr, "server", "/plaintext", Duration::from_secs(5));
    if mtls {
        // STRICT: a plaintext client is refused by the server sidecar.
        assert!(direct.is_err() || direct.as_ref().is_ok_and(|r| r.0 != 200), "plaintext got through: {direct:?}");
        let stats = server.admin_get("/stats?filter=ssl.handshake").expect("stats");
        assert!(stats.lines().any(|l| l.ends_with("ssl.handshake: 1") || l.contains("ssl.handshake: ")), "{stats}");
    } else {
        let (status, _, _) = direct.expect("the server sidecar answers plaintext without mTLS");
        assert_eq!(status, 200);
    }
}

#[test]
fn request_reaches_the_server_without_mtls() {
    request_through_client(false);
}

#[test]
fn request_reaches_the_server_with_builtin_mtls() {
    request_through_client(true);
}
