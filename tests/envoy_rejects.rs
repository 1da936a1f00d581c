//! Inputs Kuma's validators accept but Envoy refuses: `meshc validate` reports
//! them as `MESH3011` at the offending field, and where a correct Envoy mapping
//! exists (affinity weights, Zipkin paths, IPv6 collectors) `meshc compile`
//! writes a configuration `envoy --mode validate` accepts.

mod common;

use std::path::Path;

use common::run;

const CODE: &str = "MESH3011";

/// Two sidecars (`web` calls `backend`), sharing 20 tags so that affinity tags
/// match, plus a MeshService for routes to target.
const WORLD: &str = r#"type: Mesh
name: m
meshServices:
  mode: Exclusive
mtls:
  enabledBackend: ca-1
  backends:
    - name: ca-1
      type: builtin
---
type: Dataplane
mesh: m
name: web-01
networking:
  address: 10.0.0.10
  inbound:
    - port: 18080
      servicePort: 8080
      name: http
      tags: {kuma.io/service: web, kuma.io/protocol: http, k0: a, k1: a, k2: a, k3: a, k4: a, k5: a, k6: a, k7: a, k8: a, k9: a, k10: a, k11: a, k12: a, k13: a, k14: a, k15: a, k16: a, k17: a, k18: a, k19: a}
  outbound:
    - port: 9001
      backendRef: {kind: MeshService, name: backend, port: 80}
  admin:
    port: 9901
---
type: Dataplane
mesh: m
name: backend-01
networking:
  address: 10.0.0.11
  inbound:
    - port: 18080
      servicePort: 8080
      name: http
      tags: {kuma.io/service: backend, kuma.io/protocol: http, k0: a, k1: a, k2: a, k3: a, k4: a, k5: a, k6: a, k7: a, k8: a, k9: a, k10: a, k11: a, k12: a, k13: a, k14: a, k15: a, k16: a, k17: a, k18: a, k19: a}
  admin:
    port: 9902
---
type: MeshService
name: backend
mesh: m
spec:
  selector: {dataplaneTags: {kuma.io/service: backend}}
  ports:
    - {name: http, port: 80, targetPort: http, appProtocol: http}
"#;

/// The world plus `policy.yaml` in `in/` of a fresh directory.
fn world(policy: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in");
    common::write(&input, "world.yaml", WORLD);
    common::write(&input, "policy.yaml", policy);
    dir
}

/// `(line, field)` of every MESH3011 finding in `policy.yaml`, sorted.
fn rejects(dir: &Path) -> Vec<(u64, String)> {
    let out = run(&["validate", "--format", "json", dir.to_str().expect("utf-8 path")]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("validate --format json");
    let mut found: Vec<(u64, String)> = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["code"] == CODE && f["file"].as_str().is_some_and(|p| p.ends_with("policy.yaml")))
        .map(|f| (f["line"].as_u64().unwrap_or(0), f["field"].as_str().unwrap_or_default().to_string()))
        .collect();
    found.sort();
    found
}

fn assert_rejects(policy: &str, expected: &[(u64, &str)]) {
    let dir = world(policy);
    let expected: Vec<(u64, String)> = expected.iter().map(|(l, f)| (*l, f.to_string())).collect();
    assert_eq!(rejects(&dir.path().join("in")), expected, "policy:\n{policy}");
}

/// No MESH3011, a clean compile, and (with Envoy installed) every bootstrap passes
/// `envoy --mode validate`.
fn assert_envoy_accepts(policy: &str) {
    let dir = world(policy);
    let input = dir.path().join("in");
    assert_eq!(rejects(&input), vec![], "policy:\n{policy}");
    let out = dir.path().join("out");
    let input = input.to_str().expect("utf-8 path");
    let r = run(&["compile", input, "--out", out.to_str().expect("utf-8"), "--secrets-dir", common::SECRETS]);
    assert!(r.status.success(), "compile failed:\n{}", String::from_utf8_lossy(&r.stderr));
    if common::envoy().is_none() {
        return;
    }
    if let Err(failures) = common::envoy_accepts(&out, &[Path::new(input)]) {
        panic!("Envoy rejects the output:\n{}", failures.join("\n"));
    }
}

// ---- B4: affinity tags ------------------------------------------------------------

#[test]
fn twenty_affinity_tags_compile_to_weights_envoy_accepts() {
    let tags: String = (0..20).map(|i| format!("              - key: k{i}\n")).collect();
    let policy = format!(
        "type: MeshLoadBalancingStrategy\nname: lb\nmesh: m\nspec:\n  targetRef: {{kind: Mesh}}\n  to:\n    \
         - targetRef: {{kind: Mesh}}\n      default:\n        localityAwareness:\n          localZone:\n            \
         affinityTags:\n{tags}"
    );
    assert_envoy_accepts(&policy);
}

// ---- B5, B6: headers ----------------------------------------------------------------

const ROUTE_HEADERS: &str = r#"type: MeshHTTPRoute
name: hr
mesh: m
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: MeshService, name: backend, sectionName: http}
      rules:
        - matches: [{path: {type: PathPrefix, value: /a}}]
          default:
            filters:
              - type: RequestHeaderModifier
                requestHeaderModifier:
                  set: [{name: host, value: evil}]
                  add: [{name: x-ok, value: "a\r\nx-injected: 1"}]
              - type: ResponseHeaderModifier
                responseHeaderModifier:
                  remove: [Host]
"#;

#[test]
fn route_header_modifiers_on_host_or_with_crlf_are_rejected() {
    assert_rejects(
        ROUTE_HEADERS,
        &[
            (14, "spec.to[0].rules[0].default.filters[0].requestHeaderModifier.set[0].name"),
            (15, "spec.to[0].rules[0].default.filters[0].requestHeaderModifier.add[0].value"),
            (18, "spec.to[0].rules[0].default.filters[1].responseHeaderModifier.remove[0]"),
        ],
    );
}

#[test]
fn health_check_headers_on_host_are_rejected() {
    let policy = r#"type: MeshHealthCheck
name: hc
mesh: m
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: Mesh}
      default:
        interval: 10s
        timeout: 2s
        unhealthyThreshold: 3
        healthyThreshold: 1
        http:
          path: /health
          requestHeadersToAdd:
            set: [{name: host, value: a}]
            add: [{name: x-a, value: "a\nb"}]
"#;
    assert_rejects(
        policy,
        &[
            (16, "spec.to[0].default.http.requestHeadersToAdd.set[0].name"),
            (17, "spec.to[0].default.http.requestHeadersToAdd.add[0].value"),
        ],
    );
}

#[test]
fn paths_and_authorities_with_crlf_are_rejected() {
    let route = r#"type: MeshHTTPRoute
name: hr
mesh: m
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: MeshService, name: backend, sectionName: http}
      rules:
        - matches: [{path: {type: PathPrefix, value: /a}}]
          default:
            filters:
              - type: URLRewrite
                urlRewrite:
                  path: {type: ReplaceFullPath, replaceFullPath: "/b\r\nx: y"}
"#;
    assert_rejects(route, &[(14, "spec.to[0].rules[0].default.filters[0].urlRewrite.path.replaceFullPath")]);
    let check = r#"type: MeshHealthCheck
name: hc
mesh: m
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: Mesh}
      default:
        interval: 10s
        timeout: 2s
        unhealthyThreshold: 3
        healthyThreshold: 1
        grpc: {authority: "a\nb"}
"#;
    assert_rejects(check, &[(13, "spec.to[0].default.grpc.authority")]);
}

// ---- B7: regular expressions ------------------------------------------------------------

#[test]
fn invalid_regular_expressions_are_rejected() {
    let route = r#"type: MeshHTTPRoute
name: hr
mesh: m
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: MeshService, name: backend, sectionName: http}
      rules:
        - matches:
            - path: {type: RegularExpression, value: "/api/(v1|v2"}
              headers: [{type: RegularExpression, name: x-a, value: "a[b"}]
              queryParams: [{type: RegularExpression, name: q, value: "(?<=x)y"}]
          default: {}
"#;
    assert_rejects(
        route,
        &[
            (10, "spec.to[0].rules[0].matches[0].path.value"),
            (11, "spec.to[0].rules[0].matches[0].headers[0].value"),
            (12, "spec.to[0].rules[0].matches[0].queryParams[0].value"),
        ],
    );
    let retry = r#"type: MeshRetry
name: rt
mesh: m
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: Mesh}
      default:
        http:
          numRetries: 3
          retriableRequestHeaders: [{type: RegularExpression, name: x-a, value: "a("}]
          retriableResponseHeaders: [{type: RegularExpression, name: x-b, value: "ok.*"}]
"#;
    assert_rejects(retry, &[(11, "spec.to[0].default.conf.http.retriableRequestHeaders[0].value")]);
}

// ---- B8: fault injection --------------------------------------------------------------------

#[test]
fn fault_values_envoy_refuses_are_rejected() {
    let policy = r#"type: MeshFaultInjection
name: fi
mesh: m
spec:
  targetRef: {kind: Mesh, proxyTypes: [Sidecar]}
  from:
    - targetRef: {kind: Mesh}
      default:
        http:
          - abort: {httpStatus: 150, percentage: 50}
          - responseBandwidth: {limit: 0kbps, percentage: 100}
          - delay: {value: 0s, percentage: 10}
          - abort: {httpStatus: 200, percentage: 1}
"#;
    assert_rejects(
        policy,
        &[
            (10, "spec.from[0].default.http[0].abort.httpStatus"),
            (11, "spec.from[0].default.http[1].responseBandwidth.limit"),
            (12, "spec.from[0].default.http[2].delay.value"),
        ],
    );
}

// ---- B9: rate limits -----------------------------------------------------------------------

#[test]
fn rate_limit_status_headers_and_huge_rates_are_rejected() {
    let policy = r#"type: MeshRateLimit
name: rl
mesh: m
spec:
  targetRef: {kind: Mesh, proxyTypes: [Sidecar]}
  rules:
    - default:
        local:
          http:
            requestRate: {num: 5000000000, interval: 1s}
            onRateLimit:
              status: 499
              headers:
                set: [{name: x-a, value: "a\u0000b"}]
"#;
    assert_rejects(
        policy,
        &[
            (10, "spec.rules[0].default.local.http.requestRate.num"),
            (12, "spec.rules[0].default.local.http.onRateLimit.status"),
            (14, "spec.rules[0].default.local.http.onRateLimit.headers.set[0].value"),
        ],
    );
}

// ---- B10: Zipkin without a path -------------------------------------------------------------

#[test]
fn zipkin_url_without_path_compiles_to_zipkins_default_endpoint() {
    assert_envoy_accepts(
        r#"type: MeshTrace
name: tr
mesh: m
spec:
  targetRef: {kind: Mesh}
  default:
    backends:
      - type: Zipkin
        zipkin: {url: "http://zipkin.local:9411"}
"#,
    );
}

// ---- B11: ring hash and maglev --------------------------------------------------------------

#[test]
fn ring_sizes_envoy_refuses_are_rejected() {
    let policy = r#"type: MeshLoadBalancingStrategy
name: lb
mesh: m
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: MeshService, name: backend}
      default:
        loadBalancer:
          type: RingHash
          ringHash: {minRingSize: 2048, maxRingSize: 1024}
"#;
    assert_rejects(policy, &[(11, "spec.to[0].default.loadBalancer.ringHash.minRingSize")]);
}

/// A Maglev table size that is not prime may be overridden by a later policy
/// (Kuma's own e2e input does that), so it is a warning (MESH3012); where it
/// takes effect the table size is left to Envoy's default and Envoy accepts the
/// output.
#[test]
fn a_maglev_table_size_that_is_not_prime_is_a_warning_and_left_to_envoy() {
    let policy = r#"type: MeshLoadBalancingStrategy
name: lb
mesh: m
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: Mesh}
      default:
        loadBalancer:
          type: Maglev
          maglev: {tableSize: 65536}
"#;
    let dir = world(policy);
    let input = dir.path().join("in");
    let r = run(&["validate", input.to_str().expect("utf-8"), "--format", "json"]);
    let text = String::from_utf8_lossy(&r.stdout);
    assert!(text.contains("MESH3012") && text.contains("tableSize"), "{text}");
    assert_envoy_accepts(policy);
    let out = dir.path().join("out2");
    let r =
        run(&["compile", input.to_str().unwrap(), "--out", out.to_str().unwrap(), "--secrets-dir", common::SECRETS]);
    assert!(r.status.success());
    let tree = common::read_tree(&out);
    let text: String = tree.values().map(|b| String::from_utf8_lossy(b).to_string()).collect();
    assert!(text.contains("MAGLEV") && !text.contains("65536"), "Maglev with Envoy's default table size");
}

// ---- B12: IPv6 collectors ---------------------------------------------------------------------

#[test]
fn ipv6_collector_endpoints_compile_to_clusters_envoy_accepts() {
    assert_envoy_accepts(
        r#"type: MeshAccessLog
name: al
mesh: m
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: Mesh}
      default:
        backends:
          - type: OpenTelemetry
            openTelemetry: {endpoint: "[fd00::1]:4317"}
          - type: Tcp
            tcp: {address: "[fd00::2]:5170"}
---
type: MeshTrace
name: tr
mesh: m
spec:
  targetRef: {kind: Mesh}
  default:
    backends:
      - type: OpenTelemetry
        openTelemetry: {endpoint: "[fd00::3]:4317"}
"#,
    );
}

// ---- B13: 32-bit limits -------------------------------------------------------------------------

#[test]
fn weights_and_connection_limits_past_32_bits_are_rejected() {
    let route = r#"type: MeshHTTPRoute
name: hr
mesh: m
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: MeshService, name: backend, sectionName: http}
      rules:
        - matches: [{path: {type: PathPrefix, value: /w}}]
          default:
            backendRefs:
              - {kind: MeshService, name: backend, port: 80, weight: 4000000000}
              - {kind: MeshService, name: backend, port: 80, weight: 4000000000}
"#;
    assert_rejects(route, &[(12, "spec.to[0].rules[0].default.backendRefs")]);
    let breaker = r#"type: MeshCircuitBreaker
name: cb
mesh: m
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: Mesh}
      default:
        connectionLimits: {maxConnections: 4294967296, maxRetries: 4294967295}
"#;
    assert_rejects(breaker, &[(9, "spec.to[0].default.connectionLimits.maxConnections")]);
    let affinity = r#"type: MeshLoadBalancingStrategy
name: lb
mesh: m
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: Mesh}
      default:
        localityAwareness:
          localZone:
            affinityTags:
              - {key: k0, weight: 4000000000}
              - {key: k1, weight: 4000000000}
"#;
    assert_rejects(affinity, &[(12, "spec.to[0].default.localityAwareness.localZone.affinityTags")]);
}
