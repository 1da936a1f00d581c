//! MeshHTTPRoute and MeshTCPRoute end to end: real Envoys on 127.0.0.1, a client
//! sidecar with explicit outbounds, two versions of an HTTP service (echo
//! servers `v1` and `v2` behind two sidecars tagged `version`), two TCP
//! services; requests prove that matches, weights, filters and TCP routes do
//! what the policies say.

mod common;

use std::time::Duration;

use common::mesh::start_proxies;
use common::{Envoy, HttpEcho, TcpEcho, free_port, header, http_request, retry_port_clash};

struct Ports {
    client_http: u16,
    client_tcp: u16,
    client_in: u16,
    client_admin: u16,
    v1_in: u16,
    v1_admin: u16,
    v2_in: u16,
    v2_admin: u16,
    tcp_in: u16,
    tcp_admin: u16,
    other_in: u16,
    other_admin: u16,
}

fn ports() -> Ports {
    Ports {
        client_http: free_port(),
        client_tcp: free_port(),
        client_in: free_port(),
        client_admin: free_port(),
        v1_in: free_port(),
        v1_admin: free_port(),
        v2_in: free_port(),
        v2_admin: free_port(),
        tcp_in: free_port(),
        tcp_admin: free_port(),
        other_in: free_port(),
        other_admin: free_port(),
    }
}

/// Upstream ports: HTTP echo v1, v2; TCP echo of tcp-server, of tcp-other.
struct Upstreams {
    v1: u16,
    v2: u16,
    tcp: u16,
    other: u16,
}

const ROUTES: &str = "---
type: MeshHTTPRoute
name: versions
mesh: e2e
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: MeshService, name: server, sectionName: http}
      rules:
        - matches: [{headers: [{type: Exact, name: x-version, value: v2}]}]
          default:
            backendRefs: [{kind: MeshService, name: server-v2, port: 80}]
        - matches: [{path: {type: PathPrefix, value: /v1}}]
          default:
            backendRefs: [{kind: MeshServiceSubset, name: server, tags: {version: v1}}]
        - matches: [{path: {type: Exact, value: /split}}]
          default:
            backendRefs:
              - {kind: MeshService, name: server-v1, port: 80, weight: 80}
              - {kind: MeshService, name: server-v2, port: 80, weight: 20}
        - matches: [{path: {type: PathPrefix, value: /moved}}]
          default:
            filters:
              - type: RequestRedirect
                requestRedirect: {hostname: example.com, statusCode: 302, path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}
        - matches: [{path: {type: PathPrefix, value: /tagged}}]
          default:
            filters:
              - type: RequestHeaderModifier
                requestHeaderModifier: {set: [{name: x-route, value: tagged}], remove: [x-drop]}
              - type: ResponseHeaderModifier
                responseHeaderModifier: {add: [{name: x-via-route, value: versions}]}
            backendRefs: [{kind: MeshService, name: server-v1, port: 80}]
---
type: MeshTCPRoute
name: tcp-elsewhere
mesh: e2e
spec:
  targetRef: {kind: Mesh}
  to:
    - targetRef: {kind: MeshService, name: tcp-server}
      rules:
        - default:
            backendRefs: [{kind: MeshService, name: tcp-other, port: 5000}]
";

fn world(p: &Ports, u: &Upstreams) -> String {
    let server = |name: &str, version: &str, inbound: u16, upstream: u16, admin: u16| {
        format!(
            "---
type: Dataplane
mesh: e2e
name: {name}
networking:
  address: 127.0.0.1
  inbound:
    - port: {inbound}
      servicePort: {upstream}
      serviceAddress: 127.0.0.1
      name: http
      tags: {{kuma.io/service: server, kuma.io/protocol: http, version: {version}}}
  admin:
    port: {admin}
"
        )
    };
    let tcp = |name: &str, inbound: u16, upstream: u16, admin: u16| {
        format!(
            "---
type: Dataplane
mesh: e2e
name: {name}
networking:
  address: 127.0.0.1
  inbound:
    - port: {inbound}
      servicePort: {upstream}
      serviceAddress: 127.0.0.1
      name: tcp
      tags: {{kuma.io/service: {name}, kuma.io/protocol: tcp}}
  admin:
    port: {admin}
---
type: MeshService
name: {name}
mesh: e2e
spec:
  selector: {{dataplaneTags: {{kuma.io/service: {name}}}}}
  ports:
    - {{port: 5000, targetPort: tcp, appProtocol: tcp}}
"
        )
    };
    let service = |name: &str, selector: &str| {
        format!(
            "---
type: MeshService
name: {name}
mesh: e2e
spec:
  selector: {{dataplaneTags: {{{selector}}}}}
  ports:
    - {{name: http, port: 80, targetPort: http, appProtocol: http}}
"
        )
    };
    let mut yaml = format!(
        "type: Mesh
name: e2e
meshServices:
  mode: Everywhere
---
type: Dataplane
mesh: e2e
name: client-01
networking:
  address: 127.0.0.1
  inbound:
    - port: {client_in}
      tags: {{kuma.io/service: client, kuma.io/protocol: http}}
  outbound:
    - port: {client_http}
      backendRef: {{kind: MeshService, name: server, port: 80}}
    - port: {client_tcp}
      backendRef: {{kind: MeshService, name: tcp-server, port: 5000}}
  admin:
    port: {client_admin}
",
        client_in = p.client_in,
        client_http = p.client_http,
        client_tcp = p.client_tcp,
        client_admin = p.client_admin,
    );
    yaml.push_str(&server("server-v1", "v1", p.v1_in, u.v1, p.v1_admin));
    yaml.push_str(&server("server-v2", "v2", p.v2_in, u.v2, p.v2_admin));
    yaml.push_str(&service("server", "kuma.io/service: server"));
    yaml.push_str(&service("server-v1", "kuma.io/service: server, version: v1"));
    yaml.push_str(&service("server-v2", "kuma.io/service: server, version: v2"));
    yaml.push_str(&tcp("tcp-server", p.tcp_in, u.tcp, p.tcp_admin));
    yaml.push_str(&tcp("tcp-other", p.other_in, u.other, p.other_admin));
    yaml.push_str(ROUTES);
    yaml
}

/// The HTTP part of the mesh: the client, both server versions and their echoes.
struct HttpMesh {
    _dir: tempfile::TempDir,
    _envoys: Vec<Envoy>,
    v1: HttpEcho,
    v2: HttpEcho,
    client: std::net::SocketAddr,
    /// Requests v1 and v2 had answered when the mesh was ready.
    warmup: (usize, usize),
}

fn start_http() -> HttpMesh {
    let v1 = HttpEcho::named("v1");
    let v2 = HttpEcho::named("v2");
    let mut client_port = 0;
    let (dir, envoys) = retry_port_clash(3, || {
        let p = ports();
        client_port = p.client_http;
        let u = Upstreams { v1: v1.port(), v2: v2.port(), tcp: free_port(), other: free_port() };
        start_proxies(
            &world(&p, &u),
            &[("server-v1", p.v1_admin), ("server-v2", p.v2_admin), ("client-01", p.client_admin)],
        )
    })
    .expect("the sidecars start");
    let client = ([127, 0, 0, 1], client_port).into();
    // Ready when both versions answer through the client (each through its own sidecar).
    for (path, header, version) in [("/v1", None, "v1"), ("/", Some(("x-version", "v2")), "v2")] {
        let headers: Vec<(&str, &str)> = header.into_iter().collect();
        common::eventually(Duration::from_secs(20), || match get(client, path, &headers) {
            Ok((200, _, body)) if answered_by(&body) == version => Ok(()),
            other => Err(format!("{other:?}")),
        })
        .unwrap_or_else(|e| panic!("{version} answers through the client: {e}"));
    }
    let (r1, r2) = (v1.requests(), v2.requests());
    HttpMesh { _dir: dir, _envoys: envoys, v1, v2, client, warmup: (r1, r2) }
}

fn get(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(u16, common::Headers, String), String> {
    http_request(addr, "GET", "server", path, headers, b"", Duration::from_secs(5))
}

/// Which echo answered (`server: NAME` in the body).
fn answered_by(body: &str) -> &str {
    body.lines().find_map(|l| l.strip_prefix("server: ")).unwrap_or("?")
}

#[test]
fn header_and_path_matches_pick_the_version() {
    if common::envoy().is_none() {
        return;
    }
    let m = start_http();
    for _ in 0..10 {
        let (status, _, body) = get(m.client, "/anything", &[("x-version", "v2")]).expect("header request");
        assert_eq!((status, answered_by(&body)), (200, "v2"), "x-version: v2 goes to server-v2");
        let (status, _, body) = get(m.client, "/v1/items", &[]).expect("path request");
        assert_eq!((status, answered_by(&body)), (200, "v1"), "/v1/ goes to the version=v1 subset");
        let (status, _, body) = get(m.client, "/v1", &[]).expect("exact prefix request");
        assert_eq!((status, answered_by(&body)), (200, "v1"), "/v1 itself too");
    }
    // The exact path beats the header rule (Gateway API precedence): /split is
    // the weighted rule whatever the header says, so both versions may answer;
    // a path longer than /v1 that only shares its letters is not the /v1 prefix.
    let (_, _, body) = get(m.client, "/v1beta", &[("x-version", "v2")]).expect("v1beta");
    assert_eq!(answered_by(&body), "v2", "/v1beta is not under /v1: the header rule applies");
    let (v1, v2) = (m.v1.requests() - m.warmup.0, m.v2.requests() - m.warmup.1);
    assert_eq!((v1, v2), (20, 11), "every request reached exactly the version its rule names");
}

#[test]
fn weighted_split_sends_eighty_twenty() {
    if common::envoy().is_none() {
        return;
    }
    let m = start_http();
    let (mut v1, mut v2) = (0u32, 0u32);
    const N: u32 = 200;
    for _ in 0..N {
        let (status, _, body) = get(m.client, "/split", &[]).expect("split request");
        assert_eq!(status, 200);
        match answered_by(&body) {
            "v1" => v1 += 1,
            "v2" => v2 += 1,
            other => panic!("answered by {other}"),
        }
    }
    // 200 requests at p = 0.2: the standard deviation is sqrt(200·0.2·0.8) ≈ 5.7
    // requests (2.8 points); ±10 points is 3.5 deviations, a false failure about
    // once in 2,000 runs.
    let v2_share = f64::from(v2) * 100.0 / f64::from(N);
    assert!((10.0..=30.0).contains(&v2_share), "v1 {v1}, v2 {v2}: v2 should get 20% ± 10 points");
    assert_eq!(v1 + v2, N);
}

#[test]
fn filters_redirect_and_modify_headers() {
    if common::envoy().is_none() {
        return;
    }
    let m = start_http();
    let (status, headers, _) = get(m.client, "/moved/here", &[]).expect("redirect");
    assert_eq!(status, 302);
    assert_eq!(header(&headers, "location"), Some("http://example.com/new/here"));
    let before = m.v1.requests() + m.v2.requests();
    let (status, headers, body) = get(m.client, "/tagged", &[("x-drop", "secret"), ("x-keep", "1")]).expect("tagged");
    assert_eq!((status, answered_by(&body)), (200, "v1"));
    assert_eq!(header(&headers, "x-via-route"), Some("versions"), "response header added by the route");
    let last = m.v1.received().into_iter().last().expect("v1 received the request");
    assert_eq!(last.path, "/tagged");
    assert_eq!(header(&last.headers, "x-route"), Some("tagged"), "request header set by the route");
    assert_eq!(header(&last.headers, "x-drop"), None, "request header removed by the route");
    assert_eq!(header(&last.headers, "x-keep"), Some("1"));
    assert_eq!(m.v1.requests() + m.v2.requests(), before + 1, "the redirect never reached an upstream");
}

#[test]
fn tcp_route_sends_to_another_service() {
    if common::envoy().is_none() {
        return;
    }
    let tcp = TcpEcho::start();
    let other = TcpEcho::start();
    let mut client_port = 0;
    let (_dir, _envoys) = retry_port_clash(3, || {
        let p = ports();
        client_port = p.client_tcp;
        let u = Upstreams { v1: free_port(), v2: free_port(), tcp: tcp.port(), other: other.port() };
        start_proxies(
            &world(&p, &u),
            &[("tcp-server", p.tcp_admin), ("tcp-other", p.other_admin), ("client-01", p.client_admin)],
        )
    })
    .expect("the sidecars start");
    let client = ([127, 0, 0, 1], client_port).into();
    let got = common::eventually(Duration::from_secs(20), || {
        common::tcp_roundtrip(client, b"ping tcp-server", Duration::from_secs(5))
            .and_then(|b| if b == b"ping tcp-server" { Ok(b) } else { Err(format!("got {b:?}")) })
    })
    .expect("bytes come back through the mesh");
    assert_eq!(got, b"ping tcp-server");
    assert!(other.connections() >= 1, "tcp-other's upstream got the connection");
    assert_eq!(tcp.connections(), 0, "tcp-server's own upstream is never reached");
}
