//! End to end: multi-zone meshes compiled by meshc and run by real Envoys on
//! 127.0.0.1, every zone's proxies side by side.
//!
//! * Locality: a zone-1 client of a MeshMultiZoneService with a backend in each
//!   zone keeps its traffic in zone-1 while the local backend is healthy, and
//!   (MeshLoadBalancingStrategy `crossZone.failover` to `Any`) fails over to
//!   zone-2 through zone-2's ZoneIngress once a MeshHealthCheck finds the local
//!   backend dead; with failover to `None` it does not leave zone-1.
//! * Zone egress: with the Mesh's `routing.zoneEgress: true` a client reaches a
//!   MeshExternalService through its zone's ZoneEgress, which enforces
//!   MeshTrafficPermission and `defaultForbidMeshExternalServiceAccess`.
//!
//! Proven by what the echo servers receive and by the zone proxies' admin stats.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::mesh::start_proxies_mtls;
use common::{Envoy, HttpEcho, eventually, free_port, header, http_get, retry_port_clash};

const LIMIT: Duration = Duration::from_secs(30);
const REQUEST: Duration = Duration::from_secs(5);
/// Requests sent where a test says "all requests".
const N: usize = 20;

/// The mesh: builtin mTLS (cross-zone traffic needs it: zone proxies route by
/// the mTLS SNI), `routing.zoneEgress: zone_egress` and `routing` lines more.
fn mesh(zone_egress: bool, routing: &str) -> String {
    format!(
        "type: Mesh
name: e2e
mtls:
  enabledBackend: ca-1
  backends:
    - name: ca-1
      type: builtin
meshServices:
  mode: Exclusive
routing:
  zoneEgress: {zone_egress}
{routing}"
    )
}

const ALLOW_ALL: &str = "---
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

/// The sum of an Envoy's counters whose name ends with `suffix`.
fn counter(envoy: &Envoy, suffix: &str) -> u64 {
    let stats = envoy.admin_get(&format!("/stats?filter={suffix}")).unwrap_or_default();
    stats
        .lines()
        .filter(|l| l.split(':').next().is_some_and(|name| name.ends_with(suffix)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// `GET path` through an outbound: `(status, the echo server that answered)`.
fn get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    let (status, headers, body) = http_get(addr, "backend", path, REQUEST)?;
    let server = header(&headers, "x-echo-server").unwrap_or("").to_string();
    if status == 200 && server.is_empty() {
        return Err(format!("200 without x-echo-server: {body}"));
    }
    Ok((status, server))
}

/// How many requests other than health checks an echo server received.
fn traffic(echo: &HttpEcho) -> usize {
    echo.received().iter().filter(|r| r.path != "/health").count()
}

// ---------------------------------------------------------------------------------------------
// Locality: one backend per zone behind a MeshMultiZoneService.

/// Ports of the locality world.
struct ZonePorts {
    client_in: u16,
    client_out: u16,
    client_admin: u16,
    z1_in: u16,
    z1_admin: u16,
    z2_in: u16,
    z2_admin: u16,
    ingress: u16,
    ingress_admin: u16,
}

impl ZonePorts {
    fn new() -> ZonePorts {
        ZonePorts {
            client_in: free_port(),
            client_out: free_port(),
            client_admin: free_port(),
            z1_in: free_port(),
            z1_admin: free_port(),
            z2_in: free_port(),
            z2_admin: free_port(),
            ingress: free_port(),
            ingress_admin: free_port(),
        }
    }

    fn outbound(&self) -> SocketAddr {
        ([127, 0, 0, 1], self.client_out).into()
    }
}

/// A `backend` sidecar in `zone` in front of an echo server on `echo`, and the
/// MeshService that zone has for it (labelled `app: backend`, which the
/// MeshMultiZoneService selects).
fn backend(zone: &str, inbound: u16, admin: u16, echo: u16) -> String {
    format!(
        "---
type: Dataplane
mesh: e2e
name: backend-{zone}
labels:
  kuma.io/zone: {zone}
networking:
  address: 127.0.0.1
  inbound:
    - port: {inbound}
      servicePort: {echo}
      serviceAddress: 127.0.0.1
      name: main
      tags:
        kuma.io/service: backend
        kuma.io/protocol: http
  admin:
    port: {admin}
---
type: MeshService
name: backend-{zone}
mesh: e2e
labels:
  app: backend
  kuma.io/zone: {zone}
spec:
  selector:
    dataplaneTags:
      kuma.io/service: backend
  ports:
    - port: 80
      targetPort: main
      appProtocol: http
"
    )
}

/// The locality world: a zone-1 client with an outbound to the
/// MeshMultiZoneService `backend` (backends in zone-1 and zone-2), zone-2's
/// ZoneIngress, a MeshHealthCheck probing `/health` every second, and a
/// MeshLoadBalancingStrategy failing over across zones to `failover_to`. The
/// policies select `kind: Mesh`: a `kind: Dataplane` by name would name a
/// Dataplane of the policy's own zone (none here: global), as in Kuma.
fn locality_world(p: &ZonePorts, z1_echo: u16, z2_echo: u16, failover_to: &str) -> String {
    format!(
        "{mesh}{ALLOW_ALL}---
type: Dataplane
mesh: e2e
name: client-01
labels:
  kuma.io/zone: zone-1
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
        kind: MeshMultiZoneService
        name: backend
        port: 80
  admin:
    port: {client_admin}
{z1}{z2}---
type: MeshMultiZoneService
name: backend
mesh: e2e
spec:
  selector:
    meshService:
      matchLabels:
        app: backend
  ports:
    - port: 80
      appProtocol: http
---
type: ZoneIngress
name: ingress-zone-2
zone: zone-2
networking:
  address: 127.0.0.1
  port: {ingress}
  advertisedAddress: 127.0.0.1
  advertisedPort: {ingress}
  admin:
    port: {ingress_admin}
---
type: MeshLoadBalancingStrategy
name: failover
mesh: e2e
spec:
  targetRef:
    kind: Mesh
  to:
    - targetRef:
        kind: MeshMultiZoneService
        name: backend
      default:
        localityAwareness:
          crossZone:
            failover:
              - to:
                  type: {failover_to}
---
type: MeshHealthCheck
name: probe-backend
mesh: e2e
spec:
  targetRef:
    kind: Mesh
  to:
    - targetRef:
        kind: MeshMultiZoneService
        name: backend
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
",
        mesh = mesh(false, ""),
        client_in = p.client_in,
        client_out = p.client_out,
        client_admin = p.client_admin,
        z1 = backend("zone-1", p.z1_in, p.z1_admin, z1_echo),
        z2 = backend("zone-2", p.z2_in, p.z2_admin, z2_echo),
        ingress = p.ingress,
        ingress_admin = p.ingress_admin,
    )
}

/// The running locality world; Envoys in start order.
struct Locality {
    ports: ZonePorts,
    _dir: tempfile::TempDir,
    ingress: Envoy,
    z1: Option<Envoy>,
    _z2: Envoy,
    client: Envoy,
}

/// The client sidecar's cluster for the MeshMultiZoneService, as Envoy names it.
const MZS_CLUSTER: &str = "e2e_backend___mzsvc_80";

fn start_locality(z1_echo: u16, z2_echo: u16, failover_to: &str) -> Locality {
    let (ports, dir, envoys) = retry_port_clash(3, || {
        let ports = ZonePorts::new();
        let yaml = locality_world(&ports, z1_echo, z2_echo, failover_to);
        let (dir, envoys) = start_proxies_mtls(
            &yaml,
            &[
                ("ingress-zone-2", ports.ingress_admin),
                ("backend-zone-1", ports.z1_admin),
                ("backend-zone-2", ports.z2_admin),
                ("client-01", ports.client_admin),
            ],
        )?;
        Ok((ports, dir, envoys))
    })
    .unwrap_or_else(|e| panic!("starting the locality world: {e}"));
    let mut envoys = envoys.into_iter();
    let (Some(ingress), Some(z1), Some(z2), Some(client)) =
        (envoys.next(), envoys.next(), envoys.next(), envoys.next())
    else {
        panic!("four Envoys started");
    };
    Locality { ports, _dir: dir, ingress, z1: Some(z1), _z2: z2, client }
}

impl Locality {
    /// The logs of every Envoy, for a failure message.
    fn logs(&self) -> String {
        let z1 = self.z1.as_ref().map(|e| e.log()).unwrap_or_default();
        format!(
            "client /clusters:\n{}\nclient log:\n{}\ningress log:\n{}\nzone-1 backend log:\n{z1}",
            self.client.admin_get("/clusters").unwrap_or_default(),
            self.client.log(),
            self.ingress.log(),
        )
    }

    /// Wait until the client's cluster has `healthy` endpoints that passed their
    /// health checks (no `failed_active_hc` flag): the first round of checks.
    fn wait_healthy(&self, healthy: usize) {
        eventually(LIMIT, || {
            let clusters = self.client.admin_get("/clusters")?;
            let passed = clusters
                .lines()
                .filter(|l| l.starts_with(&format!("{MZS_CLUSTER}::")) && l.contains("::health_flags::healthy"))
                .count();
            if passed == healthy { Ok(()) } else { Err(format!("{passed} healthy endpoints, want {healthy}")) }
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", self.logs()));
    }

    /// Stop the zone-1 backend's sidecar: its inbound refuses connections.
    fn kill_zone_1(&mut self) {
        drop(self.z1.take());
    }
}

#[test]
fn locality_keeps_traffic_local_and_fails_over_through_the_remote_ingress() {
    if common::envoy().is_none() {
        return;
    }
    let z1_echo = HttpEcho::named("zone-1");
    let z2_echo = HttpEcho::named("zone-2");
    let mut world = start_locality(z1_echo.port(), z2_echo.port(), "Any");
    let addr = world.ports.outbound();

    // The client reaches zone-2 only at the ingress: its cluster has no
    // endpoint at the zone-2 backend's own inbound.
    let clusters = world.client.admin_get("/clusters").expect("client /clusters");
    let ingress_at = format!("{MZS_CLUSTER}::127.0.0.1:{}::", world.ports.ingress);
    let z2_at = format!("{MZS_CLUSTER}::127.0.0.1:{}::", world.ports.z2_in);
    assert!(clusters.contains(&ingress_at), "zone-2 through its ingress:\n{clusters}");
    assert!(!clusters.contains(&z2_at), "no direct endpoint in zone-2:\n{clusters}");

    // Both endpoints pass their health checks; the local one takes everything.
    world.wait_healthy(2);
    for i in 0..N {
        let (status, server) = get(addr, &format!("/local/{i}")).unwrap_or_else(|e| panic!("{e}\n{}", world.logs()));
        assert_eq!((status, server.as_str()), (200, "zone-1"), "request {i}");
    }
    assert_eq!(traffic(&z2_echo), 0, "zone-2 got no traffic while zone-1 was healthy");
    let ingress_before = counter(&world.ingress, &format!("tcp.{MZS_CLUSTER}.downstream_cx_total"));

    // The local backend dies: once its health check fails, zone-2 answers.
    world.kill_zone_1();
    world.wait_healthy(1);
    eventually(LIMIT, || match get(addr, "/failover")? {
        (200, server) if server == "zone-2" => Ok(()),
        other => Err(format!("answered {other:?}")),
    })
    .unwrap_or_else(|e| panic!("failover to zone-2: {e}\n{}", world.logs()));
    let z2_before = traffic(&z2_echo);
    for i in 0..N {
        let (status, server) = get(addr, &format!("/remote/{i}")).unwrap_or_else(|e| panic!("{e}\n{}", world.logs()));
        assert_eq!((status, server.as_str()), (200, "zone-2"), "request {i} after failover");
    }
    assert_eq!(traffic(&z2_echo) - z2_before, N, "zone-2 served every request");
    assert!(z2_echo.received().iter().any(|r| r.path == "/remote/0"), "zone-2 saw the requests themselves");
    // The traffic went through zone-2's ingress (the requests opened a
    // connection there beside the health checks' one) by the client's SNI chain.
    let ingress_after = counter(&world.ingress, &format!("tcp.{MZS_CLUSTER}.downstream_cx_total"));
    assert!(
        ingress_after > ingress_before,
        "the ingress carried the failover traffic ({ingress_before} -> {ingress_after} connections):\n{}",
        world.ingress.admin_get("/stats?filter=backend").unwrap_or_default()
    );
    assert!(counter(&world.ingress, &format!("tcp.{MZS_CLUSTER}.downstream_cx_rx_bytes_total")) > 0);
}

#[test]
fn failover_none_keeps_traffic_in_the_zone() {
    if common::envoy().is_none() {
        return;
    }
    let z1_echo = HttpEcho::named("zone-1");
    let z2_echo = HttpEcho::named("zone-2");
    let mut world = start_locality(z1_echo.port(), z2_echo.port(), "None");
    let addr = world.ports.outbound();

    // `None`: the client's cluster has no remote endpoint at all.
    let clusters = world.client.admin_get("/clusters").expect("client /clusters");
    let ingress_at = format!("{MZS_CLUSTER}::127.0.0.1:{}::", world.ports.ingress);
    assert!(!clusters.contains(&ingress_at), "no endpoint through the ingress:\n{clusters}");

    world.wait_healthy(1);
    for i in 0..N {
        let (status, server) = get(addr, &format!("/local/{i}")).unwrap_or_else(|e| panic!("{e}\n{}", world.logs()));
        assert_eq!((status, server.as_str()), (200, "zone-1"), "request {i}");
    }

    // The local backend dies: nothing is left to answer.
    world.kill_zone_1();
    world.wait_healthy(0);
    for i in 0..N {
        let (status, server) = get(addr, &format!("/gone/{i}")).unwrap_or_else(|e| panic!("{e}\n{}", world.logs()));
        assert_eq!(status, 503, "request {i} with zone-1 gone (answered by {server:?})");
    }
    assert_eq!(z2_echo.requests(), 0, "zone-2 received nothing, not even a health check");
    assert_eq!(counter(&world.ingress, &format!("tcp.{MZS_CLUSTER}.downstream_cx_total")), 0, "the ingress was idle");
}

// ---------------------------------------------------------------------------------------------
// Zone egress: a MeshExternalService reached through the client zone's ZoneEgress.

/// Ports of the egress world.
#[derive(Clone, Copy)]
struct EgressPorts {
    client_in: u16,
    client_out: u16,
    client_admin: u16,
    egress: u16,
    egress_admin: u16,
}

/// The egress world: `routing.zoneEgress: true` (and `routing`), a zone-1
/// client with an outbound to the http MeshExternalService `ext` (the echo
/// server on `echo`), zone-1's ZoneEgress, and `extra` resources.
fn egress_world(p: &EgressPorts, echo: u16, routing: &str, extra: &str) -> String {
    let EgressPorts { client_in, client_out, client_admin, egress, egress_admin } = *p;
    format!(
        "{mesh}---
type: Dataplane
mesh: e2e
name: client-01
labels:
  kuma.io/zone: zone-1
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
        kind: MeshExternalService
        name: ext
  admin:
    port: {client_admin}
---
type: ZoneEgress
name: egress-zone-1
zone: zone-1
networking:
  address: 127.0.0.1
  port: {egress}
  admin:
    port: {egress_admin}
---
type: MeshExternalService
name: ext
mesh: e2e
spec:
  match:
    type: HostnameGenerator
    port: 80
    protocol: http
  endpoints:
    - address: 127.0.0.1
      port: {echo}
{extra}",
        mesh = mesh(true, routing),
    )
}

/// The egress's cluster for `ext`, and its HTTP stat prefix.
const EXT_CLUSTER: &str = "e2e_ext___extsvc_80";

/// Start the egress world: `(outbound address, dir, egress, client)`.
fn start_egress(echo: u16, routing: &str, extra: &str) -> (SocketAddr, tempfile::TempDir, Envoy, Envoy) {
    let (out, dir, envoys) = retry_port_clash(3, || {
        let ports = EgressPorts {
            client_in: free_port(),
            client_out: free_port(),
            client_admin: free_port(),
            egress: free_port(),
            egress_admin: free_port(),
        };
        let yaml = egress_world(&ports, echo, routing, extra);
        let (dir, envoys) =
            start_proxies_mtls(&yaml, &[("egress-zone-1", ports.egress_admin), ("client-01", ports.client_admin)])?;
        Ok((ports.client_out, dir, envoys))
    })
    .unwrap_or_else(|e| panic!("starting the egress world: {e}"));
    let mut envoys = envoys.into_iter();
    let (Some(egress), Some(client)) = (envoys.next(), envoys.next()) else { panic!("two Envoys started") };
    (([127, 0, 0, 1], out).into(), dir, egress, client)
}

#[test]
fn mesh_external_service_through_the_zone_egress() {
    if common::envoy().is_none() {
        return;
    }
    let echo = HttpEcho::named("external");
    let (addr, _dir, egress, client) = start_egress(echo.port(), "", "");

    let (status, server) = eventually(LIMIT, || match get(addr, "/first")? {
        (200, server) => Ok((200, server)),
        (status, _) => Err(format!("status {status}")),
    })
    .unwrap_or_else(|e| panic!("{e}\nclient log:\n{}\negress log:\n{}", client.log(), egress.log()));
    assert_eq!((status, server.as_str()), (200, "external"));
    for i in 0..N {
        assert_eq!(get(addr, &format!("/ext/{i}")).expect("request"), (200, "external".to_string()), "request {i}");
    }
    assert_eq!(echo.requests(), N + 1, "the external service served every request");
    // Through the egress: it terminated the client's mTLS, allowed it and
    // routed every request over its HTTP chain to the service.
    assert!(
        counter(&egress, &format!("http.{EXT_CLUSTER}.downstream_rq_2xx")) >= (N + 1) as u64,
        "egress stats:\n{}",
        egress.admin_get("/stats?filter=ext").unwrap_or_default()
    );
    assert!(counter(&egress, "rbac.allowed") >= 1, "the egress's RBAC allowed the client");
    assert_eq!(counter(&egress, "rbac.denied"), 0);
    // The client itself has no endpoint at the external service, only the egress.
    let clusters = client.admin_get("/clusters").expect("client /clusters");
    assert!(!clusters.contains(&format!("127.0.0.1:{}::", echo.port())), "no direct endpoint:\n{clusters}");
}

#[test]
fn zone_egress_enforces_access_to_a_mesh_external_service() {
    if common::envoy().is_none() {
        return;
    }
    // A permission on the external service that lets only `billing` in; and
    // a mesh that forbids external services to everyone without a permission.
    let only_billing = "---
type: MeshTrafficPermission
name: only-billing
mesh: e2e
spec:
  targetRef:
    kind: MeshService
    name: ext
  from:
    - targetRef:
        kind: MeshService
        name: billing
      default:
        action: Allow
";
    let cases = [
        ("a permission for another service", "", only_billing),
        ("defaultForbidMeshExternalServiceAccess", "  defaultForbidMeshExternalServiceAccess: true\n", ""),
    ];
    for (case, routing, extra) in cases {
        let echo = HttpEcho::named("external");
        let (addr, _dir, egress, client) = start_egress(echo.port(), routing, extra);
        // The egress closes the denied connection after the mTLS handshake
        // (network RBAC, as Kuma's egress), so the client's sidecar answers 503.
        eventually(LIMIT, || {
            let answer = get(addr, "/denied");
            if counter(&egress, "rbac.denied") >= 1 { Ok(()) } else { Err(format!("not denied yet: {answer:?}")) }
        })
        .unwrap_or_else(|e| panic!("{case}: {e}\nclient log:\n{}\negress log:\n{}", client.log(), egress.log()));
        for i in 0..5 {
            let (status, server) = get(addr, &format!("/denied/{i}")).expect("an answer from the client sidecar");
            assert_eq!(status, 503, "{case}: request {i} (answered by {server:?})");
        }
        assert_eq!(echo.requests(), 0, "{case}: the external service received nothing");
        assert_eq!(counter(&egress, "rbac.allowed"), 0, "{case}: the egress allowed nothing");
    }
}
