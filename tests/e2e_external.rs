//! End to end: a client sidecar reaches MeshExternalServices directly (no zone
//! egress) and originates TLS to a real TLS server, an Envoy terminating TLS in
//! front of an [`HttpEcho`], all on 127.0.0.1. The test CA, the server
//! certificate (SAN `tls.test.local`) and a client certificate come from rcgen.
//!
//! Proven: Secured with the right CA and serverName passes; a wrong SAN fails
//! (Envoy's `ssl.fail_verify_san` counts it); SkipSAN with the same wrong SAN
//! passes; a server that requires a client certificate accepts the sidecar with
//! `clientCert`/`clientKey` (the key inline, written by `meshc certs`) and
//! refuses it without.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::{EchoConfig, Envoy, HttpEcho, eventually, free_port, http_get, retry_port_clash};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

const SERVER_NAME: &str = "tls.test.local";
const WAIT: Duration = Duration::from_secs(10);

struct Pki {
    ca_pem: String,
    server_pem: String,
    server_key: String,
    client_pem: String,
    client_key: String,
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.distinguished_name.push(DnType::CommonName, "meshc e2e external CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, &ca_key);
    let leaf = |sans: Vec<String>, cn: &str| {
        let key = KeyPair::generate().expect("leaf key");
        let mut p = CertificateParams::new(sans).expect("leaf params");
        p.distinguished_name.push(DnType::CommonName, cn);
        let cert = p.signed_by(&key, &issuer).expect("leaf cert");
        (cert.pem(), key.serialize_pem())
    };
    let (server_pem, server_key) = leaf(vec![SERVER_NAME.to_string()], SERVER_NAME);
    let (client_pem, client_key) = leaf(vec!["client.test.local".to_string()], "client");
    Pki { ca_pem: ca_cert.pem(), server_pem, server_key, client_pem, client_key }
}

/// The "external" server: two TLS listeners in front of `echo`, the second
/// requiring a client certificate signed by the test CA.
fn server_config(dir: &Path, admin: u16, tls_port: u16, mtls_port: u16, echo: u16) -> String {
    let file = |n: &str| dir.join(n).display().to_string();
    let listener = |name: &str, port: u16, require_client: bool| {
        let client = if require_client {
            format!(
                "\n            require_client_certificate: true\n            common_tls_context:\n              \
                 validation_context:\n                trusted_ca: {{filename: {}}}",
                file("ca.pem")
            )
        } else {
            "\n            common_tls_context:".to_string()
        };
        format!(
            "  - name: {name}
    address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}
    filter_chains:
      - transport_socket:
          name: envoy.transport_sockets.tls
          typed_config:
            '@type': type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext{client}
              tls_certificates:
                - certificate_chain: {{filename: {cert}}}
                  private_key: {{filename: {key}}}
        filters:
          - name: envoy.filters.network.http_connection_manager
            typed_config:
              '@type': type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
              stat_prefix: {name}
              http_filters:
                - name: envoy.filters.http.router
                  typed_config:
                    '@type': type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
              route_config:
                virtual_hosts:
                  - name: echo
                    domains: ['*']
                    routes:
                      - match: {{prefix: /}}
                        route: {{cluster: echo}}
",
            cert = file("server.pem"),
            key = file("server.key"),
        )
    };
    format!(
        "admin:
  address: {{socket_address: {{address: 127.0.0.1, port_value: {admin}}}}}
static_resources:
  listeners:
{}{}  clusters:
  - name: echo
    type: STATIC
    load_assignment:
      cluster_name: echo
      endpoints:
        - lb_endpoints:
            - endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: {echo}}}}}}}
",
        listener("tls", tls_port, false),
        listener("mtls", mtls_port, true),
    )
}

/// One MeshExternalService case: its name, the local outbound port, and its `tls` block.
struct Case {
    name: &'static str,
    port: u16,
    tls: String,
    mtls_server: bool,
}

fn indent(text: &str, n: usize) -> String {
    text.lines().map(|l| format!("{}{l}\n", " ".repeat(n))).collect()
}

fn world(client_admin: u16, client_in: u16, tls_port: u16, mtls_port: u16, cases: &[Case]) -> String {
    let outbounds: String = cases
        .iter()
        .map(|c| {
            format!(
                "    - port: {}\n      backendRef:\n        kind: MeshExternalService\n        name: {}\n",
                c.port, c.name
            )
        })
        .collect();
    let mut out = format!(
        "type: Mesh
name: e2e
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
{outbounds}  admin:
    port: {client_admin}
"
    );
    for c in cases {
        let port = if c.mtls_server { mtls_port } else { tls_port };
        out.push_str(&format!(
            "---
type: MeshExternalService
name: {}
mesh: e2e
spec:
  match:
    port: 443
    protocol: http
  endpoints:
    - address: 127.0.0.1
      port: {port}
  tls:
    enabled: true
{}",
            c.name,
            indent(&c.tls, 4)
        ));
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

fn cases(pki: &Pki) -> Vec<Case> {
    let ca = format!("  caCert:\n    inlineString: |\n{}", indent(&pki.ca_pem, 6));
    let case = |name, tls: String, mtls_server| Case { name, port: free_port(), tls, mtls_server };
    vec![
        case("secured", format!("verification:\n  mode: Secured\n  serverName: {SERVER_NAME}\n{ca}"), false),
        // No serverName: the endpoint is an IP, so only 127.0.0.1 and the wrong SAN are accepted.
        case(
            "wrong-san",
            format!("verification:\n  subjectAltNames:\n    - type: Exact\n      value: wrong.test.local\n{ca}"),
            false,
        ),
        case(
            "skip-san",
            format!(
                "verification:\n  mode: SkipSAN\n  subjectAltNames:\n    - type: Exact\n      value: wrong.test.local\n{ca}"
            ),
            false,
        ),
        case(
            "client-cert",
            format!(
                "verification:\n  serverName: {SERVER_NAME}\n{ca}  clientCert:\n    inlineString: |\n{}  clientKey:\n    inline: {}\n",
                indent(&pki.client_pem, 6),
                base64(pki.client_key.as_bytes())
            ),
            true,
        ),
        case("no-client-cert", format!("verification:\n  serverName: {SERVER_NAME}\n{ca}"), true),
    ]
}

struct Running {
    echo: HttpEcho,
    _dir: tempfile::TempDir,
    server: Envoy,
    client: Envoy,
    cases: Vec<Case>,
}

fn start(pki: &Pki) -> Result<Running, String> {
    let echo = HttpEcho::start(EchoConfig { name: "external".into(), ..Default::default() });
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, text) in [("ca.pem", &pki.ca_pem), ("server.pem", &pki.server_pem), ("server.key", &pki.server_key)] {
        std::fs::write(dir.path().join(name), text).expect("write pki");
    }
    let (server_admin, tls_port, mtls_port) = (free_port(), free_port(), free_port());
    let server_yaml = dir.path().join("server.yaml");
    std::fs::write(&server_yaml, server_config(dir.path(), server_admin, tls_port, mtls_port, echo.port()))
        .expect("write server config");
    let server = Envoy::start(&server_yaml, dir.path(), server_admin)?;

    let cases = cases(pki);
    let (client_admin, client_in) = (free_port(), free_port());
    let input = dir.path().join("input.yaml");
    std::fs::write(&input, world(client_admin, client_in, tls_port, mtls_port, &cases)).expect("write input");
    let (input, out, secrets) = (input.display().to_string(), "out".to_string(), "secrets".to_string());
    let compiled = common::run(&[
        "compile",
        &input,
        "--out",
        &dir.path().join(&out).display().to_string(),
        "--secrets-dir",
        &secrets,
    ]);
    assert!(compiled.status.success(), "compile: {}", String::from_utf8_lossy(&compiled.stderr));
    // The inline client key becomes secrets/meshes/e2e/inline-keys/<sha256>.pem.
    let certs = common::run(&["certs", &input, "--out", &dir.path().join(&secrets).display().to_string()]);
    assert!(certs.status.success(), "certs: {}", String::from_utf8_lossy(&certs.stderr));
    let bootstrap = common::mesh::bootstrap_of(&dir.path().join(&out), "client-01");
    let config = std::fs::read_to_string(&bootstrap).expect("bootstrap");
    assert!(!config.contains("PRIVATE KEY") && !config.contains(&base64(pki.client_key.as_bytes())), "key in output");
    let client = Envoy::start(&bootstrap, dir.path(), client_admin)?;
    Ok(Running { echo, _dir: dir, server, client, cases })
}

fn outbound(r: &Running, name: &str) -> SocketAddr {
    let port = r.cases.iter().find(|c| c.name == name).map(|c| c.port).expect("case");
    ([127, 0, 0, 1], port).into()
}

fn status(addr: SocketAddr) -> Result<u16, String> {
    http_get(addr, "api.test", "/", Duration::from_secs(5)).map(|(s, _, _)| s)
}

/// Wait until the request through `addr` answers 200.
fn passes(r: &Running, name: &str) {
    eventually(WAIT, || match status(outbound(r, name))? {
        200 => Ok(()),
        s => Err(format!("{name}: status {s}")),
    })
    .unwrap_or_else(|e| panic!("{e}\nclient log:\n{}", r.client.log()));
}

/// The request through `addr` fails (503 or a broken connection) and Envoy's stat
/// `stat` (a counter of `envoy` whose name contains `stat`) has counted it.
fn fails(r: &Running, name: &str, envoy: &Envoy, stat: &str) {
    // Let the listener come up first: a refused connect says nothing about TLS.
    eventually(WAIT, || std::net::TcpStream::connect(outbound(r, name)).map(drop).map_err(|e| e.to_string()))
        .expect("outbound listener");
    for _ in 0..3 {
        if let Ok(s) = status(outbound(r, name)) {
            assert_ne!(s, 200, "{name}: the request must fail");
        }
    }
    let counted = eventually(WAIT, || {
        let stats = envoy.admin_get(&format!("/stats?filter={stat}"))?;
        let total: u64 =
            stats.lines().filter_map(|l| l.rsplit_once(": ").and_then(|(_, v)| v.trim().parse::<u64>().ok())).sum();
        if total > 0 { Ok(stats) } else { Err(format!("{stat} is 0:\n{stats}")) }
    });
    counted.unwrap_or_else(|e| panic!("{name}: {e}"));
}

#[test]
fn tls_origination_to_a_mesh_external_service() {
    if common::envoy().is_none() {
        return;
    }
    let pki = pki();
    let running = retry_port_clash(3, || start(&pki)).expect("start the external server and the client sidecar");
    let r = &running;
    passes(r, "secured");
    fails(r, "wrong-san", &r.client, "wrong-san___extsvc_443.ssl.fail_verify_san");
    passes(r, "skip-san");
    passes(r, "client-cert");
    fails(r, "no-client-cert", &r.server, "ssl.fail_verify_no_cert");
    // The server never saw a request from the refused cases.
    assert!(r.echo.requests() >= 3, "echo saw {} requests", r.echo.requests());
}
