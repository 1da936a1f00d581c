//! The two-sidecar mesh of the end-to-end tests: a server sidecar in front of
//! an upstream on 127.0.0.1 and a client sidecar with an explicit outbound to
//! it, on free ports, plus any policies a test adds. [`start_world`] compiles it,
//! issues certificates when mTLS is on and starts both Envoys.

use std::net::SocketAddr;
use std::path::Path;

use super::{Envoy, free_port};

pub struct Ports {
    pub client_out: u16,
    pub client_in: u16,
    pub client_admin: u16,
    pub server_in: u16,
    pub server_admin: u16,
}

#[derive(Clone, Copy, PartialEq)]
pub enum Mtls {
    Off,
    Strict,
    Permissive,
}

/// The two-sidecar world, plus `extra` resources (policies).
pub fn world(ports: &Ports, echo_port: u16, mtls: Mtls, protocol: &str, extra: &str) -> String {
    let mtls_block = match mtls {
        Mtls::Off => "",
        Mtls::Strict => "mtls:\n  enabledBackend: ca-1\n  backends:\n    - name: ca-1\n      type: builtin\n",
        Mtls::Permissive => {
            "mtls:\n  enabledBackend: ca-1\n  backends:\n    - name: ca-1\n      type: builtin\n      mode: PERMISSIVE\n"
        }
    };
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
      name: main
      tags:
        kuma.io/service: server
        kuma.io/protocol: {protocol}
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
      targetPort: main
      appProtocol: {protocol}
{extra}",
        server_in = ports.server_in,
        server_admin = ports.server_admin,
        client_in = ports.client_in,
        client_out = ports.client_out,
        client_admin = ports.client_admin,
    )
}

pub fn bootstrap_of(out: &Path, name: &str) -> std::path::PathBuf {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest")).expect("json");
    let entry = manifest["proxies"]
        .as_array()
        .and_then(|p| p.iter().find(|e| e["name"] == name))
        .unwrap_or_else(|| panic!("{name} in the manifest"));
    out.join(entry["bootstrap"].as_str().expect("bootstrap path"))
}

/// Compile the two-sidecar world, issue certificates when mTLS is on, start both
/// Envoys. Returns them with the scratch directory they run in.
pub fn start_world(
    ports: &Ports,
    upstream_port: u16,
    mtls: Mtls,
    protocol: &str,
    extra: &str,
) -> (tempfile::TempDir, Envoy, Envoy) {
    start_world_text(ports, &world(ports, upstream_port, mtls, protocol, extra), mtls != Mtls::Off)
}

pub fn ports() -> Ports {
    Ports {
        client_out: free_port(),
        client_in: free_port(),
        client_admin: free_port(),
        server_in: free_port(),
        server_admin: free_port(),
    }
}

impl Ports {
    /// The client sidecar's outbound to the server.
    pub fn client_outbound(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.client_out).into()
    }

    /// The server sidecar's inbound.
    pub fn server_inbound(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.server_in).into()
    }
}

/// Compile any world (`yaml`, mTLS off) and start the Envoys of the named
/// proxies, each on its admin port, in that order. Returns them with the
/// scratch directory they run in; `Err` when an Envoy does not start (wrap in
/// [`super::retry_port_clash`], picking new ports on each try).
pub fn start_proxies(yaml: &str, proxies: &[(&str, u16)]) -> Result<(tempfile::TempDir, Vec<Envoy>), String> {
    start_named(compile_world(yaml, false), proxies)
}

/// Compile `yaml` in a new scratch directory (`input.yaml`, `out/`,
/// `secrets/`), issuing every proxy's certificates with `meshc certs` when
/// `mtls` is on. Returns the directory and the output path.
fn compile_world(yaml: &str, mtls: bool) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("input.yaml");
    std::fs::write(&input, yaml).expect("write input");
    let out = dir.path().join("out");
    let secrets = dir.path().join("secrets");
    let compiled = super::run(&[
        "compile",
        input.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--secrets-dir",
        secrets.to_str().unwrap(),
    ]);
    assert!(compiled.status.success(), "compile: {}", String::from_utf8_lossy(&compiled.stderr));
    if mtls {
        let certs = super::run(&["certs", input.to_str().unwrap(), "--out", secrets.to_str().unwrap()]);
        assert!(certs.status.success(), "certs: {}", String::from_utf8_lossy(&certs.stderr));
    }
    (dir, out)
}

/// Start the Envoys of the named proxies of a compiled world, in order.
fn start_named(
    (dir, out): (tempfile::TempDir, std::path::PathBuf),
    proxies: &[(&str, u16)],
) -> Result<(tempfile::TempDir, Vec<Envoy>), String> {
    let mut envoys = Vec::new();
    for (name, admin) in proxies {
        envoys.push(Envoy::start(&bootstrap_of(&out, name), dir.path(), *admin).map_err(|e| format!("{name}: {e}"))?);
    }
    Ok((dir, envoys))
}

/// A MeshTrafficPermission allowing every client of the e2e mesh: with mTLS on,
/// Kuma (and meshc) deny all inbound traffic without one.
pub const ALLOW_ALL: &str = "---
type: MeshTrafficPermission
name: allow-all
mesh: e2e
spec:
  targetRef:
    kind: Mesh
  from:
    - targetRef:
        kind: Mesh
      default:
        action: Allow
";

/// Like [`start_world`], for a world written out in full (`yaml`, which must
/// have the `server-01` and `client-01` Dataplanes on `ports`): compile it,
/// issue certificates when `mtls` is on, start both Envoys.
pub fn start_world_text(ports: &Ports, yaml: &str, mtls: bool) -> (tempfile::TempDir, Envoy, Envoy) {
    let (dir, out) = compile_world(yaml, mtls);
    let server = Envoy::start(&bootstrap_of(&out, "server-01"), dir.path(), ports.server_admin).expect("server envoy");
    let client = Envoy::start(&bootstrap_of(&out, "client-01"), dir.path(), ports.client_admin).expect("client envoy");
    (dir, server, client)
}

/// Like [`start_proxies`], for a world with mesh mTLS on: compile it, issue
/// every proxy's certificates (sidecars, ZoneEgress identities) with
/// `meshc certs` as [`start_world_text`] does, then start the named Envoys in
/// order.
pub fn start_proxies_mtls(yaml: &str, proxies: &[(&str, u16)]) -> Result<(tempfile::TempDir, Vec<Envoy>), String> {
    start_named(compile_world(yaml, true), proxies)
}
