//! End to end for the proxy-wide policies: MeshMetric's Prometheus endpoint
//! serves Envoy's stats on the policy's port and path, a MeshProxyPatch HTTP
//! filter changes the responses a client sees, and MeshTrace sends spans to a
//! (fake) Zipkin collector. Real Envoys on 127.0.0.1, from `meshc compile`.

mod common;

use std::time::Duration;

use common::mesh::{Mtls, ports, start_world};
use common::{EchoConfig, HttpEcho, free_port, header, http_get};

/// A request through the client sidecar, retried while the Envoys start.
fn through_client(ports: &common::mesh::Ports, path: &str) -> Result<(u16, common::Headers, String), String> {
    common::eventually(Duration::from_secs(20), || {
        let r = http_get(ports.client_outbound(), "server", path, Duration::from_secs(5))?;
        if r.0 == 200 { Ok(r) } else { Err(format!("status {}: {}", r.0, r.2)) }
    })
}

#[test]
fn mesh_metric_serves_envoy_stats_as_prometheus_text() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let metrics_port = free_port();
    let policy = format!(
        "---
type: MeshMetric
name: server-metrics
mesh: e2e
spec:
  targetRef:
    kind: Dataplane
    name: server-01
  default:
    sidecar:
      profiles:
        appendProfiles:
          - name: All
        exclude:
          - type: Prefix
            match: envoy_http_
    backends:
      - type: Prometheus
        prometheus:
          port: {metrics_port}
          path: /custom-metrics
"
    );
    let (_dir, server, client) = start_world(&ports, echo.port(), Mtls::Off, "http", &policy);
    through_client(&ports, "/warm-up")
        .unwrap_or_else(|e| panic!("request: {e}\nclient:\n{}\nserver:\n{}", client.log(), server.log()));

    let addr = ([127, 0, 0, 1], metrics_port).into();
    let (status, headers, body) = common::eventually(Duration::from_secs(20), || {
        let r = http_get(addr, "prometheus", "/custom-metrics", Duration::from_secs(5))?;
        if r.0 == 200 { Ok(r) } else { Err(format!("status {}: {}", r.0, r.2)) }
    })
    .unwrap_or_else(|e| panic!("scrape: {e}\nserver:\n{}", server.log()));
    assert_eq!(status, 200);
    let content_type = header(&headers, "content-type").unwrap_or_default();
    assert!(content_type.starts_with("text/plain"), "content-type {content_type}");
    assert!(body.contains("# TYPE envoy_server_live gauge"), "Prometheus text with Envoy stats:\n{body}");
    assert!(body.lines().any(|l| l.starts_with("envoy_cluster_upstream_cx_total{")), "{body}");
    // The inbound served a request, yet its HCM stats were excluded (stats matcher).
    assert!(!body.lines().any(|l| l.starts_with("envoy_http_")), "excluded stats present:\n{body}");
    // Only the policy's path is served.
    let (other, _, _) = http_get(addr, "prometheus", "/other", Duration::from_secs(5)).expect("answer");
    assert_eq!(other, 404);
    // The client has no MeshMetric: nothing listens on its behalf.
    assert!(!client.admin_get("/listeners").expect("listeners").contains("_kuma:metrics:prometheus"));
}

#[test]
fn mesh_proxy_patch_http_filter_adds_a_response_header() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let ports = ports();
    let policy = "---
type: MeshProxyPatch
name: add-header
mesh: e2e
spec:
  targetRef:
    kind: Dataplane
    name: client-01
  default:
    appendModifications:
      - httpFilter:
          operation: AddBefore
          match:
            name: envoy.filters.http.router
            origin: outbound
          value: |
            name: envoy.filters.http.header_mutation
            typedConfig:
              '@type': type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation
              mutations:
                responseMutations:
                - append:
                    header:
                      key: x-patched-by
                      value: meshc
      - virtualHost:
          operation: Patch
          match:
            origin: outbound
          jsonPatches:
            - op: add
              path: /requestHeadersToAdd
              value:
                - header:
                    key: x-from-patch
                    value: vhost
";
    let (_dir, server, client) = start_world(&ports, echo.port(), Mtls::Off, "http", policy);
    let (_, headers, _) = through_client(&ports, "/patched")
        .unwrap_or_else(|e| panic!("request: {e}\nclient:\n{}\nserver:\n{}", client.log(), server.log()));
    assert_eq!(header(&headers, "x-patched-by"), Some("meshc"), "{headers:?}");
    let seen = echo.received();
    let last = seen.last().expect("the upstream got the request");
    assert_eq!(header(&last.headers, "x-from-patch"), Some("vhost"), "{:?}", last.headers);
    // The server sidecar is not patched.
    let (status, direct, _) =
        http_get(ports.server_inbound(), "server", "/direct", Duration::from_secs(5)).expect("answer");
    assert_eq!(status, 200);
    assert_eq!(header(&direct, "x-patched-by"), None);
}

#[test]
fn mesh_trace_sends_spans_to_zipkin() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::start(EchoConfig::default());
    let collector = HttpEcho::named("zipkin");
    let ports = ports();
    let policy = format!(
        "---
type: MeshTrace
name: zipkin
mesh: e2e
spec:
  default:
    backends:
      - type: Zipkin
        zipkin:
          url: http://127.0.0.1:{}/api/v2/spans
    sampling:
      overall: 100
      random: 100
    tags:
      - name: team
        literal: observe
",
        collector.port()
    );
    let (_dir, server, client) = start_world(&ports, echo.port(), Mtls::Off, "http", &policy);
    through_client(&ports, "/traced")
        .unwrap_or_else(|e| panic!("request: {e}\nclient:\n{}\nserver:\n{}", client.log(), server.log()));
    // Envoy's Zipkin tracer flushes every 5 s (or every 5 spans).
    let spans = common::eventually(Duration::from_secs(30), || {
        collector.received().into_iter().find(|r| r.path == "/api/v2/spans").ok_or_else(|| "no spans yet".to_string())
    })
    .unwrap_or_else(|e| panic!("{e}\nclient:\n{}", client.log()));
    assert_eq!(spans.method, "POST");
    let body = String::from_utf8_lossy(&spans.body);
    assert!(body.contains("\"team\":\"observe\""), "custom tag in the spans: {body}");
}
