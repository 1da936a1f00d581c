//! End to end: MeshRetry, MeshCircuitBreaker and MeshHealthCheck compiled by
//! meshc and run by real Envoys (a client sidecar with an explicit outbound, a
//! server sidecar in front of an HTTP echo server on 127.0.0.1), proven by
//! what the echo server and Envoy's admin stats see.

mod common;

use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use common::mesh::{Mtls, Ports, ports, start_world, start_world_text, world};
use common::{EchoConfig, Envoy, HttpEcho, free_port, header, http_get, http_request};

/// Wait until a request through the client sidecar gets a 200 (the echo
/// server answers 200 when asked with `x-echo-status`).
fn wait_ready(addr: SocketAddr, client: &Envoy, server: &Envoy) {
    let ok = [("x-echo-status", "200")];
    common::eventually(Duration::from_secs(20), || {
        let r = http_request(addr, "GET", "server", "/ready", &ok, b"", Duration::from_secs(5))?;
        if r.0 == 200 { Ok(()) } else { Err(format!("status {}: {}", r.0, r.2)) }
    })
    .unwrap_or_else(|e| panic!("first request: {e}\nclient log:\n{}\nserver log:\n{}", client.log(), server.log()));
}

/// The sum of the admin stats whose name ends with `suffix`.
fn stat(envoy: &Envoy, suffix: &str) -> u64 {
    let stats = envoy.admin_get(&format!("/stats?filter={suffix}")).unwrap_or_default();
    stats
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|name| name.ends_with(suffix)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[test]
fn mesh_retry_retries_a_failing_upstream_as_configured() {
    if common::envoy().is_none() {
        return;
    }
    // Every request fails with 503 unless it asks otherwise.
    let echo = HttpEcho::start(EchoConfig { status: 503, ..EchoConfig::default() });
    let ports = ports();
    let policy = "---
type: MeshRetry
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
          numRetries: 3
          backOff:
            baseInterval: 10ms
            maxInterval: 20ms
          retryOn:
            - \"503\"
            - HttpMethodGet
";
    let (_dir, server, client) = start_world(&ports, echo.port(), Mtls::Off, "http", policy);
    let addr = ports.client_outbound();
    wait_ready(addr, &client, &server);

    // A GET answered 503: the first attempt and numRetries (3) retries.
    let before = echo.requests();
    let (status, _, _) = http_get(addr, "server", "/fails", Duration::from_secs(10)).expect("answer");
    assert_eq!(status, 503);
    assert_eq!(echo.requests() - before, 4, "attempts of a retried GET");

    // 500 is neither a listed status code nor a gateway error: one attempt.
    let before = echo.requests();
    let e500 = [("x-echo-status", "500")];
    let (status, _, _) = http_request(addr, "GET", "server", "/500", &e500, b"", Duration::from_secs(10)).expect("500");
    assert_eq!(status, 500);
    assert_eq!(echo.requests() - before, 1, "attempts of a 500");

    // Only GET is retriable (HttpMethodGet): a POST answered 503 is tried once.
    let before = echo.requests();
    let (status, _, _) =
        http_request(addr, "POST", "server", "/post", &[], b"x", Duration::from_secs(10)).expect("post");
    assert_eq!(status, 503);
    assert_eq!(echo.requests() - before, 1, "attempts of a POST");
    assert!(
        stat(&client, "upstream_rq_retry") >= 3,
        "retry stats:\n{}",
        client.admin_get("/stats?filter=retry").unwrap_or_default()
    );
}

#[test]
fn mesh_circuit_breaker_overflows_concurrent_requests() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let policy = "---
type: MeshCircuitBreaker
name: one-at-a-time
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
        connectionLimits:
          maxConnections: 1
          maxPendingRequests: 1
          maxRequests: 1
";
    let (_dir, server, client) = start_world(&ports, echo.port(), Mtls::Off, "http", policy);
    let addr = ports.client_outbound();
    wait_ready(addr, &client, &server);

    // Eight slow requests at once: one in flight, one pending, the rest overflow.
    let slow = [("x-echo-delay-ms", "2000")];
    let results: Vec<Result<(u16, common::Headers, String), String>> = (0..8)
        .map(|i| {
            thread::spawn(move || {
                http_request(addr, "GET", "server", &format!("/slow/{i}"), &slow, b"", Duration::from_secs(20))
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join().unwrap_or_else(|_| Err("request thread panicked".into())))
        .collect();
    let ok = results.iter().filter(|r| r.as_ref().is_ok_and(|r| r.0 == 200)).count();
    let overloaded = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.0 == 503 && header(&r.1, "x-envoy-overloaded") == Some("true")))
        .count();
    assert!(ok >= 1, "some request got through: {results:?}");
    assert!(overloaded >= 1, "some request overflowed with x-envoy-overloaded: {results:?}");
    // Between sidecars the upstream is HTTP/2: maxRequests overflows first
    // (`upstream_rq_active_overflow`), maxPendingRequests on HTTP/1.1.
    let overflows = stat(&client, "upstream_rq_active_overflow") + stat(&client, "upstream_rq_pending_overflow");
    assert_eq!(overflows, overloaded as u64, "every overflow answered 503 with x-envoy-overloaded");
    assert!(overflows >= 1, "overflow stat:\n{}", client.admin_get("/stats?filter=overflow").unwrap_or_default());
    assert!(echo.requests() < 1 + 8, "the upstream saw fewer requests than were sent");
}

/// The two-sidecar world with a second `server` endpoint (`server-02`) on a
/// closed port: no Envoy runs for it. The MeshService targets the inbounds by
/// name (`main`), so both are endpoints.
fn world_with_dead_endpoint(ports: &Ports, echo_port: u16, dead_port: u16, extra: &str) -> String {
    let dead = format!(
        "---
type: Dataplane
mesh: e2e
name: server-02
networking:
  address: 127.0.0.1
  inbound:
    - port: {dead_port}
      servicePort: {dead_port}
      name: main
      tags:
        kuma.io/service: server
        kuma.io/protocol: http
  admin:
    port: {dead_admin}
{extra}",
        dead_admin = free_port(),
    );
    world(ports, echo_port, Mtls::Off, "http", &dead)
}

#[test]
fn mesh_health_check_takes_a_dead_endpoint_out() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let dead_port = free_port();
    // No retries (numRetries 0: no retry policy), so a request sent to the dead
    // endpoint would fail; panic threshold 0 so that one healthy host of two
    // never puts the cluster in panic mode.
    let policies = "---
type: MeshHealthCheck
name: probe-server
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
        interval: 1s
        timeout: 1s
        noTrafficInterval: 1s
        unhealthyThreshold: 1
        healthyThreshold: 1
        healthyPanicThreshold: 0
        http:
          path: /health
          expectedStatuses: [200]
---
type: MeshRetry
name: no-retries
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
          numRetries: 0
";
    let world = world_with_dead_endpoint(&ports, echo.port(), dead_port, policies);
    let (_dir, server, client) = start_world_text(&ports, &world, false);
    let addr = ports.client_outbound();
    let dead = format!("127.0.0.1:{dead_port}");
    // After a health check round, the dead endpoint is marked failed...
    common::eventually(Duration::from_secs(20), || {
        let clusters = client.admin_get("/clusters")?;
        let failed = clusters.lines().any(|l| l.contains(&dead) && l.contains("health_flags::/failed_active_hc"));
        if failed { Ok(()) } else { Err(format!("dead host not failed yet:\n{clusters}")) }
    })
    .unwrap_or_else(|e| panic!("{e}\nclient log:\n{}\nserver log:\n{}", client.log(), server.log()));
    // ... and every request goes to the live one.
    for i in 0..20 {
        let (status, _, body) =
            http_get(addr, "server", &format!("/r/{i}"), Duration::from_secs(5)).expect("request through the client");
        assert_eq!(status, 200, "request {i}: {body}");
    }
    let checks = echo.received().iter().filter(|r| r.path == "/health").count();
    assert!(checks >= 1, "the live endpoint was health checked on /health");
}
