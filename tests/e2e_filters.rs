//! End to end: the HTTP filters meshc compiles from policies, in real Envoys
//! (the two-sidecar mesh of `common::mesh`, requests through the client's
//! outbound to the server's inbound):
//! - MeshFaultInjection: a 100% abort answers the configured status, and the
//!   upstream never sees the request;
//! - MeshRateLimit: 2 requests per minute pass, the third gets the configured
//!   status and headers from the server sidecar;
//! - MeshAccessLog: requests appear in the configured files, in the configured
//!   plain and JSON formats, Kuma's placeholders substituted.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::mesh::{ALLOW_ALL, Mtls, ports, start_world};
use common::{EchoConfig, Envoy, HttpEcho, header, http_get};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

fn logs(client: &Envoy, server: &Envoy) -> String {
    format!("client log:\n{}\nserver log:\n{}", client.log(), server.log())
}

/// Send GETs through the client until one is answered with `want`, up to `limit`.
fn until_status(addr: SocketAddr, path: &str, want: u16, limit: Duration) -> Result<common::Headers, String> {
    common::eventually(limit, || {
        let (status, headers, body) = http_get(addr, "server", path, REQUEST_TIMEOUT)?;
        if status == want { Ok(headers) } else { Err(format!("status {status}: {body}")) }
    })
}

#[test]
fn fault_injection_aborts_every_request_with_the_configured_status() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let policy = "---
type: MeshFaultInjection
name: abort-all
mesh: e2e
spec:
  targetRef:
    kind: Dataplane
    name: server-01
  from:
    - targetRef:
        kind: Mesh
      default:
        http:
          - abort:
              httpStatus: 418
              percentage: 100
";
    let policy = format!("{ALLOW_ALL}{policy}");
    let (_dir, server, client) = start_world(&ports, echo.port(), Mtls::Strict, "http", &policy);
    until_status(ports.client_outbound(), "/faulty", 418, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("no injected abort: {e}\n{}", logs(&client, &server)));
    for _ in 0..5 {
        let (status, _, body) = http_get(ports.client_outbound(), "server", "/faulty", REQUEST_TIMEOUT)
            .unwrap_or_else(|e| panic!("{e}\n{}", logs(&client, &server)));
        assert_eq!(status, 418, "every request is aborted: {body}");
        assert!(body.contains("fault filter abort"), "Envoy's fault filter answered: {body}");
    }
    assert_eq!(echo.requests(), 0, "aborted requests never reach the upstream");
}

#[test]
fn rate_limit_rejects_requests_over_the_limit() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    // One minute: no refill while the test runs.
    let policy = "---
type: MeshRateLimit
name: two-per-minute
mesh: e2e
spec:
  targetRef:
    kind: Dataplane
    name: server-01
  from:
    - targetRef:
        kind: Mesh
      default:
        local:
          http:
            requestRate:
              num: 2
              interval: 1m
            onRateLimit:
              status: 429
              headers:
                set:
                  - name: x-kuma-rate-limited
                    value: 'true'
                add:
                  - name: x-limit-hint
                    value: retry-later
";
    let (_dir, server, client) = start_world(&ports, echo.port(), Mtls::Off, "http", policy);
    // Until the first 429: requests the sidecars could not pass yet (503 while
    // starting) take no token, so exactly 2 pass first.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut passed, mut limited) = (0, None);
    while limited.is_none() && Instant::now() < deadline {
        match http_get(ports.client_outbound(), "server", "/limited", REQUEST_TIMEOUT) {
            Ok((200, _, _)) => passed += 1,
            Ok((429, headers, body)) => limited = Some((headers, body)),
            Ok(_) | Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    let (headers, body) = limited.unwrap_or_else(|| panic!("never rate limited\n{}", logs(&client, &server)));
    assert_eq!(passed, 2, "the bucket holds 2 requests");
    assert_eq!(echo.requests(), 2, "only the requests within the limit reach the upstream");
    assert_eq!(header(&headers, "x-kuma-rate-limited"), Some("true"), "{headers:?}");
    assert_eq!(header(&headers, "x-limit-hint"), Some("retry-later"), "{headers:?}");
    assert!(body.contains("local_rate_limited"), "Envoy's local rate limit answered: {body}");
    let (status, _, _) = http_get(ports.client_outbound(), "server", "/limited", REQUEST_TIMEOUT).expect("request");
    assert_eq!(status, 429, "still limited");
    let stats = server.admin_get("/stats?filter=rate_limit").expect("stats");
    assert!(stats.contains("rate_limited: "), "the server sidecar counts the limited requests:\n{stats}");
}

#[test]
fn access_log_writes_requests_to_files_in_the_configured_formats() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let logs_dir = tempfile::tempdir().expect("tempdir");
    let inbound_log = logs_dir.path().join("inbound.log");
    let outbound_log = logs_dir.path().join("outbound.json");
    let policy = format!(
        "---
type: MeshAccessLog
name: server-inbound
mesh: e2e
spec:
  targetRef:
    kind: Dataplane
    name: server-01
  from:
    - targetRef:
        kind: Mesh
      default:
        backends:
          - type: File
            file:
              path: {inbound}
              format:
                type: Plain
                plain: 'meshc %KUMA_MESH% %KUMA_TRAFFIC_DIRECTION% %KUMA_SOURCE_SERVICE%->%KUMA_DESTINATION_SERVICE% %REQ(:PATH)% %RESPONSE_CODE%'
---
type: MeshAccessLog
name: client-outbound
mesh: e2e
spec:
  targetRef:
    kind: Dataplane
    name: client-01
  to:
    - targetRef:
        kind: Mesh
      default:
        backends:
          - type: File
            file:
              path: {outbound}
              format:
                type: Json
                json:
                  - key: source
                    value: '%KUMA_SOURCE_SERVICE%'
                  - key: destination
                    value: '%KUMA_DESTINATION_SERVICE%'
                  - key: path
                    value: '%REQ(:PATH)%'
                  - key: status
                    value: '%RESPONSE_CODE%'
",
        inbound = inbound_log.display(),
        outbound = outbound_log.display(),
    );
    let (_dir, server, client) = start_world(&ports, echo.port(), Mtls::Off, "http", &policy);
    until_status(ports.client_outbound(), "/logged", 200, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("request through the mesh: {e}\n{}", logs(&client, &server)));

    // Envoy flushes access logs about every second.
    let read = |path: &std::path::Path, want: &str| {
        common::eventually(Duration::from_secs(10), || {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
            if text.lines().any(|l| l.contains(want)) { Ok(text) } else { Err(format!("no {want:?} in:\n{text}")) }
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", logs(&client, &server)))
    };
    let inbound = read(&inbound_log, "/logged 200");
    assert!(
        inbound.lines().any(|l| l == "meshc e2e INBOUND unknown->server /logged 200"),
        "the plain format with Kuma's placeholders substituted:\n{inbound}"
    );
    let outbound = read(&outbound_log, "/logged");
    let line = outbound.lines().find(|l| l.contains("/logged")).expect("a line");
    let json: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("JSON line {line:?}: {e}"));
    assert_eq!(
        json,
        serde_json::json!({"source": "client", "destination": "server", "path": "/logged", "status": 200}),
        "the JSON format"
    );
}
