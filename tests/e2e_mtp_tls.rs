//! End to end: MeshTrafficPermission and MeshTLS with two real Envoys. A
//! permission lets the client through (200), a deny from the client's service is
//! a 403 at the server sidecar, mTLS without any permission denies everything,
//! a denied TCP connection is closed with no byte echoed; a Strict inbound
//! refuses a plaintext client and a Permissive one serves it, whatever the mesh's
//! own mode.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::mesh::{ALLOW_ALL, Mtls, Ports, ports, start_world};
use common::{EchoConfig, Envoy, HttpEcho, TcpEcho, http_get};

const LIMIT: Duration = Duration::from_secs(20);
const REQUEST: Duration = Duration::from_secs(5);

/// The sum of an Envoy's counters whose name ends with `suffix`.
fn counter(envoy: &Envoy, suffix: &str) -> u64 {
    let stats = envoy.admin_get("/stats").unwrap_or_default();
    stats
        .lines()
        .filter_map(|l| l.split_once(": "))
        .filter(|(name, _)| name.ends_with(suffix))
        .filter_map(|(_, v)| v.trim().parse::<u64>().ok())
        .sum()
}

/// Send through the client sidecar until the answer is `want` (the sidecars
/// need a moment to start); the response body.
fn until_status(ports: &Ports, want: u16, server: &Envoy, client: &Envoy) -> String {
    let (_, _, body) = common::eventually(LIMIT, || {
        let r = http_get(ports.client_outbound(), "server", "/mesh", REQUEST)?;
        if r.0 == want { Ok(r) } else { Err(format!("status {}: {}", r.0, r.2)) }
    })
    .unwrap_or_else(|e| {
        panic!(
            "waiting for {want} through the client: {e}\nclient log:\n{}\nserver log:\n{}",
            client.log(),
            server.log()
        )
    });
    body
}

/// A MeshTrafficPermission of the server with these `from` items (YAML list items).
fn server_permission(from: &str) -> String {
    format!(
        "---
type: MeshTrafficPermission
name: server-access
mesh: e2e
spec:
  targetRef:
    kind: Dataplane
    name: server-01
  from:
{from}"
    )
}

const FROM_CLIENT_ALLOW: &str = "    - targetRef: {kind: MeshService, name: client}\n      default: {action: Allow}\n";
const FROM_CLIENT_DENY: &str = "    - targetRef: {kind: Mesh}\n      default: {action: Allow}\n    \
    - targetRef: {kind: MeshService, name: client}\n      default: {action: Deny}\n";

#[test]
fn permission_from_the_client_service_lets_it_through() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let (_dir, server, client) =
        start_world(&ports, echo.port(), Mtls::Strict, "http", &server_permission(FROM_CLIENT_ALLOW));
    let body = until_status(&ports, 200, &server, &client);
    assert!(body.contains("path: /mesh"), "the upstream answered: {body}");
    assert!(echo.requests() >= 1);
    assert!(counter(&server, "rbac.allowed") >= 1, "the server's RBAC allowed the request");
}

#[test]
fn deny_from_the_client_service_is_403_at_the_server_sidecar() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let (_dir, server, client) =
        start_world(&ports, echo.port(), Mtls::Strict, "http", &server_permission(FROM_CLIENT_DENY));
    until_status(&ports, 403, &server, &client);
    assert_eq!(echo.requests(), 0, "a denied request reached the upstream");
    assert!(counter(&server, "rbac.denied") >= 1, "the server sidecar denied it:\n{}", server.log());
}

#[test]
fn mtls_without_any_permission_denies_everything() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let (_dir, server, client) = start_world(&ports, echo.port(), Mtls::Strict, "http", "");
    until_status(&ports, 403, &server, &client);
    assert_eq!(echo.requests(), 0, "a request got through without a permission");
    assert!(counter(&server, "rbac.denied") >= 1);
}

#[test]
fn mtls_off_needs_no_permission() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let (_dir, server, client) =
        start_world(&ports, echo.port(), Mtls::Off, "http", &server_permission(FROM_CLIENT_DENY));
    until_status(&ports, 200, &server, &client);
    assert_eq!(counter(&server, "rbac.denied"), 0, "no RBAC without mTLS");
}

#[test]
fn denied_tcp_connection_is_closed_without_echo() {
    if common::envoy().is_none() {
        return;
    }
    let echo = TcpEcho::start();
    let ports = ports();
    let (_dir, server, client) =
        start_world(&ports, echo.port(), Mtls::Strict, "tcp", &server_permission(FROM_CLIENT_DENY));
    let stat = format!("inbound_127_0_0_1_{}.rbac.denied", ports.server_in);
    // Until the server's network RBAC has denied a connection, a failure may be
    // the sidecars starting; after that every attempt must come back empty.
    common::eventually(LIMIT, || {
        let got = common::tcp_roundtrip(ports.client_outbound(), b"ping", REQUEST);
        if matches!(&got, Ok(bytes) if !bytes.is_empty()) {
            panic!("a denied connection echoed {got:?}");
        }
        if counter(&server, &stat) >= 1 { Ok(()) } else { Err(format!("{stat} still 0 ({got:?})")) }
    })
    .unwrap_or_else(|e| panic!("{e}\nclient log:\n{}\nserver log:\n{}", client.log(), server.log()));
    let again = common::tcp_roundtrip(ports.client_outbound(), b"ping", REQUEST);
    assert!(again.as_ref().is_ok_and(|b| b.is_empty()) || again.is_err(), "echoed: {again:?}");
    // The TCP proxy may already have opened its upstream connection (the network
    // RBAC decides on the first byte), but nothing is forwarded or echoed.
}

/// A MeshTLS giving the server's inbounds `mode`.
fn server_tls_mode(mode: &str) -> String {
    format!(
        "---
type: MeshTLS
name: server-tls
mesh: e2e
spec:
  targetRef:
    kind: Dataplane
    name: server-01
  from:
    - targetRef:
        kind: Mesh
      default:
        mode: {mode}
{ALLOW_ALL}"
    )
}

#[test]
fn meshtls_strict_refuses_plaintext_on_a_permissive_mesh() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let (_dir, server, client) = start_world(&ports, echo.port(), Mtls::Permissive, "http", &server_tls_mode("Strict"));
    until_status(&ports, 200, &server, &client);
    let before = echo.requests();
    let server_addr: SocketAddr = ([127, 0, 0, 1], ports.server_in).into();
    let direct = http_get(server_addr, "server", "/plaintext", REQUEST);
    assert!(direct.as_ref().is_err() || direct.as_ref().is_ok_and(|r| r.0 != 200), "plaintext got through: {direct:?}");
    assert_eq!(echo.requests(), before, "the plaintext request reached the upstream");
}

#[test]
fn meshtls_permissive_accepts_plaintext_on_a_strict_mesh() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let (_dir, server, client) = start_world(&ports, echo.port(), Mtls::Strict, "http", &server_tls_mode("Permissive"));
    // Through the mesh (Kuma mTLS chain, RBAC allows) and in plaintext.
    until_status(&ports, 200, &server, &client);
    let server_addr: SocketAddr = ([127, 0, 0, 1], ports.server_in).into();
    let (status, _, body) = http_get(server_addr, "server", "/plaintext", REQUEST).expect("plaintext answered");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("path: /plaintext"));
}
