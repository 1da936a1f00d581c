//! The end-to-end harness proves itself: real Envoy 1.40 (installed by scripts/envoy.sh)
//! validates configurations, starts, routes HTTP and TCP to in-process upstreams, enforces
//! a route timeout, and dies with its handle.
//!
//! The Envoy bootstraps here are written by hand on purpose: they test the harness, not
//! meshc. Later end-to-end tests feed Envoy what `meshc compile` wrote.

mod common;

use common::{
    EchoConfig, Envoy, HttpEcho, TcpEcho, eventually, free_port, header, http_get, retry_port_clash, tcp_roundtrip,
};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Long enough for a just-started Envoy on a busy 2-core machine to accept on its listeners.
const UP: Duration = Duration::from_secs(20);
const REQUEST: Duration = Duration::from_secs(10);

/// A static cluster `name` with one endpoint on 127.0.0.1:`port`.
fn cluster(name: &str, port: u16) -> String {
    format!(
        r#"
  - name: {name}
    type: STATIC
    connect_timeout: 2s
    load_assignment:
      cluster_name: {name}
      endpoints:
      - lb_endpoints:
        - endpoint:
            address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}"#
    )
}

fn admin(port: u16) -> String {
    format!("admin:\n  address: {{socket_address: {{address: 127.0.0.1, port_value: {port}}}}}\n")
}

/// One Envoy for the routing tests (b)-(d), shared so that the suite starts few processes:
/// an HTTP listener (`/slow` has a 1 s route timeout in front of an upstream that takes 3 s,
/// everything else goes to a prompt upstream) and a tcp_proxy listener.
struct Fixture {
    http: u16,
    tcp: u16,
    echo: HttpEcho,
    slow: HttpEcho,
    tcp_echo: TcpEcho,
    // Last: dropped first (never, in a static; the kernel kills it with the test binary).
    _envoy: Envoy,
}

fn fixture() -> Option<&'static Fixture> {
    common::envoy()?;
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    Some(FIXTURE.get_or_init(|| {
        let echo = HttpEcho::named("prompt");
        let slow =
            HttpEcho::start(EchoConfig { name: "slow".into(), delay: Duration::from_secs(3), ..EchoConfig::default() });
        let tcp_echo = TcpEcho::start();
        // One directory per test binary run (several may run at once), under target/: a
        // static is never dropped, so a TempDir would leak.
        let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        remove_stale_runs(&tmp);
        let dir = tmp.join(format!("harness-routing-{}", std::process::id()));
        let (envoy, http, tcp) = retry_port_clash(3, || {
            let (admin_port, http, tcp) = (free_port(), free_port(), free_port());
            let config = routing_config(admin_port, http, tcp, &echo, &slow, &tcp_echo);
            let config = common::write(&dir, "envoy.yaml", &config);
            common::validate(&config, &dir).map_err(|e| format!("hand-written config rejected: {e}"))?;
            Ok((Envoy::start(&config, &dir, admin_port)?, http, tcp))
        })
        .unwrap_or_else(|e| panic!("{e}"));
        Fixture { http, tcp, echo, slow, tcp_echo, _envoy: envoy }
    }))
}

/// Remove the directories of earlier runs whose process is gone.
fn remove_stale_runs(tmp: &std::path::Path) {
    for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("harness-routing-")
            && !std::path::Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The fixture's bootstrap: `/slow` has a 1 s route timeout, everything else goes to the
/// prompt upstream; the tcp_proxy listener goes to the TCP echo.
fn routing_config(
    admin_port: u16,
    http: u16,
    tcp: u16,
    echo: &HttpEcho,
    slow: &HttpEcho,
    tcp_echo: &TcpEcho,
) -> String {
    format!(
        r#"{admin}static_resources:
  listeners:
  - name: http
    address: {{socket_address: {{address: 127.0.0.1, port_value: {http}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: http
          route_config:
            virtual_hosts:
            - name: all
              domains: ["*"]
              routes:
              - match: {{prefix: /slow}}
                route: {{cluster: slow, timeout: 1s}}
              - match: {{prefix: /}}
                route: {{cluster: prompt}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  - name: tcp
    address: {{socket_address: {{address: 127.0.0.1, port_value: {tcp}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: tcp
          cluster: tcp_echo
  clusters:{}{}{}
"#,
        cluster("prompt", echo.port()),
        cluster("slow", slow.port()),
        cluster("tcp_echo", tcp_echo.port()),
        admin = admin(admin_port),
    )
}

fn local(port: u16) -> std::net::SocketAddr {
    std::net::SocketAddr::from(([127, 0, 0, 1], port))
}

/// (a) `validate` accepts a good configuration and returns Envoy's own message for a bad one.
#[test]
fn validate_accepts_good_and_reports_envoys_error() {
    if common::envoy().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let good = format!("{}static_resources:\n  clusters:{}\n", admin(free_port()), cluster("backend", 8080));
    let good = common::write(dir.path(), "good.yaml", &good);
    common::validate(&good, dir.path()).unwrap();
    // Relative to cwd, as Envoy itself resolves it.
    common::validate(std::path::Path::new("good.yaml"), dir.path()).unwrap();

    // Not a Bootstrap at all (a typo in an enum).
    let typo = common::write(dir.path(), "typo.yaml", &cluster("backend", 8080).replace("STATIC", "STATIK"));
    let typo = format!("static_resources:\n  clusters:{}\n", std::fs::read_to_string(typo).unwrap());
    let typo = common::write(dir.path(), "typo.yaml", &typo);
    let err = common::validate(&typo, dir.path()).unwrap_err();
    assert!(err.contains("error initializing configuration") && err.contains("STATIK"), "{err}");

    // Well-formed, but a route names a cluster that does not exist: Envoy's semantic check.
    let dangling = format!(
        r#"static_resources:
  listeners:
  - name: http
    address: {{socket_address: {{address: 127.0.0.1, port_value: {}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: http
          route_config:
            virtual_hosts:
            - {{name: all, domains: ["*"], routes: [{{match: {{prefix: /}}, route: {{cluster: nowhere}}}}]}}
          http_filters:
          - name: envoy.filters.http.router
            typed_config:
              "@type": type.googleapis.com/envoy.extensions.filters.http.router.v3.Router
  clusters:{}
"#,
        free_port(),
        cluster("backend", 8080)
    );
    let dangling = common::write(dir.path(), "dangling.yaml", &dangling);
    let err = common::validate(&dangling, dir.path()).unwrap_err();
    assert!(err.contains("nowhere"), "{err}");
}

/// (b) An HTTP listener (HCM + router) routes a GET to the upstream, which sees it.
#[test]
fn http_listener_routes_to_upstream() {
    let Some(f) = fixture() else { return };
    let (status, headers, body) =
        eventually(UP, || match http_get(local(f.http), "shop.example", "/hello?x=1", REQUEST)? {
            (200, headers, body) => Ok((200, headers, body)),
            (status, _, body) => Err(format!("{status}: {body}")),
        })
        .unwrap();
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "x-echo-server"), Some("prompt"), "{headers:?}");
    assert!(body.contains("method: GET\npath: /hello?x=1\n"), "{body}");
    assert!(body.contains("host: shop.example\n"), "{body}");
    // Envoy added its own headers on the way.
    assert!(body.contains("x-request-id: "), "{body}");
    let seen = f.echo.received();
    assert!(
        seen.iter()
            .any(|r| r.method == "GET" && r.path == "/hello?x=1" && header(&r.headers, "host") == Some("shop.example")),
        "{seen:?}"
    );
    assert!(f.echo.requests() >= 1);
}

/// (c) A tcp_proxy listener passes bytes both ways.
#[test]
fn tcp_proxy_listener_echoes_bytes() {
    let Some(f) = fixture() else { return };
    let got = eventually(UP, || {
        let got = tcp_roundtrip(local(f.tcp), b"ping through envoy\n", REQUEST)?;
        if got == b"ping through envoy\n" { Ok(got) } else { Err(format!("got {:?}", String::from_utf8_lossy(&got))) }
    })
    .unwrap();
    assert_eq!(got, b"ping through envoy\n");
    assert!(f.tcp_echo.connections() >= 1);
}

/// (d) A 1 s route timeout in front of an upstream that takes 3 s answers 504 after about
/// 1 s: time-dependent behaviour is observable through the harness.
#[test]
fn route_timeout_returns_504() {
    let Some(f) = fixture() else { return };
    // Wait for the listener on the prompt route: retries on /slow would each take a second.
    eventually(UP, || http_get(local(f.http), "shop.example", "/", REQUEST).map(|_| ())).unwrap();
    let before = f.slow.requests();
    let start = Instant::now();
    let (status, _, body) = http_get(local(f.http), "shop.example", "/slow", REQUEST).unwrap();
    let took = start.elapsed();
    assert_eq!(status, 504, "{body}");
    assert!(body.contains("upstream request timeout"), "{body}");
    assert!(took >= Duration::from_millis(900), "answered after {took:?}, before the 1 s timeout");
    assert!(took < Duration::from_millis(2900), "answered after {took:?}: the upstream's 3 s, not the route's 1 s");
    assert_eq!(f.slow.requests(), before + 1, "the slow upstream saw the request");
}

/// (e) Dropping an `Envoy` kills the process: its ports stop answering.
#[test]
fn drop_kills_envoy() {
    if common::envoy().is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (envoy, admin_port) = retry_port_clash(3, || {
        let admin_port = free_port();
        let config = common::write(dir.path(), "envoy.yaml", &admin(admin_port));
        Ok((Envoy::start(&config, dir.path(), admin_port)?, admin_port))
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let pid = envoy.pid();
    assert_eq!(envoy.admin_get("/ready").unwrap().trim(), "LIVE");
    assert!(envoy.log_path().starts_with(dir.path()));
    drop(envoy);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "process {pid} is still there");
    let answer = http_get(local(admin_port), "localhost", "/ready", Duration::from_secs(2));
    assert!(answer.is_err(), "the admin port still answers: {answer:?}");
}

/// The echo upstream itself, without Envoy: two requests on one kept-alive connection, then
/// `Connection: close` ends it; the body echoes only the selected headers.
#[test]
fn http_echo_keeps_alive_then_closes() {
    use std::io::{Read, Write};
    let echo = HttpEcho::start(EchoConfig {
        name: "solo".into(),
        status: 201,
        echo_headers: Some(vec!["x-pick".into()]),
        ..EchoConfig::default()
    });
    let mut conn = std::net::TcpStream::connect(echo.addr()).unwrap();
    conn.set_read_timeout(Some(REQUEST)).unwrap();
    conn.write_all(b"GET /one HTTP/1.1\r\nhost: a\r\nx-pick: yes\r\nx-drop: no\r\n\r\n").unwrap();
    conn.write_all(b"POST /two HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc").unwrap();
    let mut all = String::new();
    conn.read_to_string(&mut all).unwrap(); // ends: the server closed after the second
    assert_eq!(all.matches("HTTP/1.1 201 Created\r\n").count(), 2, "{all}");
    assert!(all.contains("server: solo\nmethod: GET\npath: /one\nx-pick: yes\n"), "{all}");
    assert!(!all.contains("x-drop"), "{all}");
    assert!(all.contains("method: POST\npath: /two\n"), "{all}");
    assert_eq!(echo.requests(), 2);
    assert_eq!(echo.connections(), 1);
    assert_eq!(echo.received()[1].body, b"abc");
    // The client side: status, headers and a body framed by content-length.
    let (status, headers, body) = http_get(echo.addr(), "b", "/three", REQUEST).unwrap();
    assert_eq!((status, header(&headers, "x-echo-server")), (201, Some("solo")));
    assert!(body.ends_with("path: /three\n"), "{body}");
    // The client's bound holds against an upstream that answers late.
    let start = Instant::now();
    let late = common::http_request(
        echo.addr(),
        "GET",
        "b",
        "/",
        &[("x-echo-delay-ms", "3000")],
        b"",
        Duration::from_millis(300),
    );
    assert!(late.is_err(), "{late:?}");
    assert!(start.elapsed() < Duration::from_secs(2), "the client waited {:?}", start.elapsed());
}
