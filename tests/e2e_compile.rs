//! End to end: compile a small mesh, start two real Envoys from the output (a
//! client sidecar with an explicit outbound, a server sidecar in front of an
//! HTTP or TCP server on 127.0.0.1) and send traffic through both, with mTLS off,
//! STRICT and PERMISSIVE (certificates from `meshc certs`).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::mesh::{ALLOW_ALL, Mtls, ports, start_world};
use common::{EchoConfig, Envoy, HttpEcho, TcpEcho, http_get};

fn request_through_client(mtls: Mtls) {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let (_dir, server, client) = start_world(&ports, echo.port(), mtls, "http", ALLOW_ALL);

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
    if mtls == Mtls::Strict {
        // STRICT: a plaintext client is refused by the server sidecar.
        assert!(direct.is_err() || direct.as_ref().is_ok_and(|r| r.0 != 200), "plaintext got through: {direct:?}");
    } else {
        // Off, or PERMISSIVE: the plaintext chain still serves.
        let (status, _, _) = direct.expect("the server sidecar answers plaintext");
        assert_eq!(status, 200);
    }
    if mtls != Mtls::Off {
        // The request through the client sidecar was Kuma mTLS: the server's TLS
        // chain completed a handshake.
        let stats = server.admin_get("/stats?filter=ssl.handshake").expect("stats");
        let handshakes: u64 = stats
            .lines()
            .filter(|l| l.starts_with("listener.") && l.contains("ssl.handshake:"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum();
        assert!(handshakes >= 1, "no TLS handshake on the server's inbound:\n{stats}");
    }
}

#[test]
fn request_reaches_the_server_without_mtls() {
    request_through_client(Mtls::Off);
}

#[test]
fn request_reaches_the_server_with_strict_mtls() {
    request_through_client(Mtls::Strict);
}

#[test]
fn request_reaches_the_server_with_permissive_mtls() {
    request_through_client(Mtls::Permissive);
}

/// A TCP service: the client's outbound is a TCP proxy over Kuma mTLS to the
/// server's inbound TCP proxy in front of a TCP echo.
#[test]
fn tcp_bytes_go_through_both_sidecars_with_mtls() {
    if common::envoy().is_none() {
        return;
    }
    let echo = TcpEcho::start();
    let ports = ports();
    let (_dir, server, client) = start_world(&ports, echo.port(), Mtls::Strict, "tcp", ALLOW_ALL);
    let client_addr: SocketAddr = ([127, 0, 0, 1], ports.client_out).into();
    let got = common::eventually(Duration::from_secs(20), || {
        common::tcp_roundtrip(client_addr, b"ping over the mesh", Duration::from_secs(5))
    })
    .unwrap_or_else(|e| {
        panic!("TCP through the client sidecar: {e}\nclient:\n{}\nserver:\n{}", client.log(), server.log())
    });
    assert_eq!(got, b"ping over the mesh");
}

/// A DNS query for the A record of `name`; the addresses in the answer.
#[test]
fn mesh_timeout_turns_a_slow_upstream_into_a_timeout() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let policy = "---
type: MeshTimeout
name: client-to-server
mesh: e2e
spec:
  targetRef:
    kind: Dataplane
    name: client-01
  to:
    - targetRef:
        kind: MeshService
        name: server
      default:
        http:
          requestTimeout: 1s
";
    let (_dir, server, client) = start_world(&ports, echo.port(), Mtls::Off, "http", policy);
    let client_addr: SocketAddr = ([127, 0, 0, 1], ports.client_out).into();
    // A fast request goes through: the route works.
    common::eventually(Duration::from_secs(20), || {
        let r = http_get(client_addr, "server", "/fast", Duration::from_secs(5))?;
        if r.0 == 200 { Ok(r) } else { Err(format!("status {}: {}", r.0, r.2)) }
    })
    .unwrap_or_else(|e| panic!("fast request: {e}\nclient:\n{}\nserver:\n{}", client.log(), server.log()));
    // A request the upstream answers after 4s times out after the policy's 1s.
    let started = std::time::Instant::now();
    let slow = [("x-echo-delay-ms", "4000")];
    let (status, _, body) =
        common::http_request(client_addr, "GET", "server", "/slow", &slow, b"", Duration::from_secs(10))
            .expect("answer");
    let took = started.elapsed();
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("upstream request timeout"), "{body}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_millis(3000), "timed out after {took:?}");
}

fn dns_a(server: SocketAddr, name: &str) -> Result<Vec<std::net::Ipv4Addr>, String> {
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend(label.as_bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    socket.set_read_timeout(Some(Duration::from_secs(2))).map_err(|e| e.to_string())?;
    socket.send_to(&q, server).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 512];
    let n = socket.recv(&mut buf).map_err(|e| format!("no DNS answer: {e}"))?;
    let r = &buf[..n];
    let answers = u16::from_be_bytes([r[6], r[7]]) as usize;
    // Skip the header and the echoed question, then read each answer record.
    let mut i = q.len();
    let mut out = Vec::new();
    for _ in 0..answers {
        i += if r[i] & 0xc0 == 0xc0 { 2 } else { r[i..].iter().position(|b| *b == 0).ok_or("bad name")? + 1 };
        let (kind, len) = (u16::from_be_bytes([r[i], r[i + 1]]), u16::from_be_bytes([r[i + 8], r[i + 9]]) as usize);
        i += 10;
        if kind == 1 && len == 4 {
            out.push(std::net::Ipv4Addr::new(r[i], r[i + 1], r[i + 2], r[i + 3]));
        }
        i += len;
    }
    Ok(out)
}

/// `meshc compile examples/<any> --out out` then `envoy -c out/<bootstrap>` runs:
/// every transparent-proxy sidecar of the examples starts and becomes ready (its
/// listeners bind and its SDS certificates load), and the DNS listener of the
/// MeshExternalService client answers the documentation's hostname with its VIP.
#[test]
fn example_sidecars_start_in_envoy() {
    if common::envoy().is_none() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut dirs: Vec<_> = std::fs::read_dir(common::root().join("examples"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() && !p.ends_with("invalid"))
        .collect();
    dirs.sort();
    let mut started = 0;
    let mut dns_checked = false;
    for dir in &dirs {
        let out = tmp.path().join(dir.file_name().unwrap());
        let r = common::run(&[
            "compile",
            dir.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--secrets-dir",
            "secrets",
            "-q",
        ]);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let cwd = common::deployment(&out, &[dir.as_path()]);
        for bootstrap in common::bootstraps(&out) {
            let config = common::read_config(&bootstrap);
            let listeners = config["static_resources"]["listeners"].as_array().cloned().unwrap_or_default();
            if !listeners.iter().any(|l| l["name"] == "outbound:passthrough:ipv4") {
                continue; // binds the host's own addresses: runs only there
            }
            let admin = config["admin"]["address"]["socket_address"]["port_value"].as_u64().unwrap() as u16;
            let envoy = Envoy::start(&bootstrap, cwd.path(), admin)
                .unwrap_or_else(|e| panic!("{} does not start: {e}", bootstrap.display()));
            started += 1;
            let text = std::fs::read_to_string(&bootstrap).unwrap();
            if text.contains("mes-http.svc.meshext.local") {
                let answer = common::eventually(Duration::from_secs(10), || {
                    dns_a(([127, 0, 0, 1], 15053).into(), "mes-http.svc.meshext.local")
                        .and_then(|a| if a.is_empty() { Err("no A record".into()) } else { Ok(a) })
                })
                .unwrap_or_else(|e| panic!("DNS: {e}\n{}", envoy.log()));
                assert_eq!(answer[0].octets()[0], 242, "a MeshExternalService VIP: {answer:?}");
                assert!(text.contains(&format!("\"{}\"", answer[0])), "the VIP has an outbound listener");
                dns_checked = true;
            }
            drop(envoy);
        }
    }
    assert!(started >= 10, "{started} example sidecars started");
    assert!(dns_checked, "the MeshExternalService example answered DNS");
}
