//! ZoneIngress and ZoneEgress (reference §6.7): the proxies at a zone's edge.
//! Neither belongs to a mesh; both route by SNI, so their filter chains use the
//! very strings sidecar clusters send ([`outbounds::sni`]) and agree with them
//! by construction.
//!
//! * ZoneIngress of zone `z` (Kuma's `IngressGenerator`): for every mesh with
//!   mTLS on, one chain per destination with endpoints in `z` (legacy
//!   `kuma.io/service` services, MeshService ports, MeshMultiZoneService ports),
//!   `server_names: [<SNI>]` -> TCP proxy -> a cluster of the local endpoints. It
//!   never terminates mTLS: the client's TLS goes through to the sidecar.
//! * ZoneEgress of zone `p` (Kuma's `egress` generators): for every mesh with
//!   mTLS on, one chain per MeshExternalService that terminates Kuma mTLS (the
//!   egress identity `spiffe://<mesh>/zone-egress`), checks the
//!   MeshTrafficPermissions that target the MeshExternalService, and forwards
//!   over HTTP or TCP to a cluster that originates TLS per the service's `tls`;
//!   and, for meshes with `routing.zoneEgress: true`, one passthrough chain per
//!   destination with endpoints in another zone, to that zone's ZoneIngress.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::{ClusterPlan, ClusterTls, Destination, Mtls, Options, ProxyPlan, TlsMode, outbounds, secrets_path};
use crate::emit::ProxyId;
use crate::emit::layout::{ProxyKind, escape_segment};
use crate::findings::{Finding, Location, Target, codes};
use crate::model::common::{StringMap, TargetRefKind};
use crate::model::mesh::Mesh;
use crate::model::{Kind, Resource, Spec};
use crate::rules::effective::{Direction, Effective};
use crate::rules::proxy::PolicySet;
use crate::rules::subset::{self, SubsetItem};
use crate::rules::{Origin, Section};
use crate::world::{Endpoint, Protocol, Service, ServiceKind, World};

/// Kuma's SPIFFE ID of a mesh's zone egress (the SAN sidecars check).
pub fn egress_identity(mesh: &str) -> String {
    format!("spiffe://{mesh}/zone-egress")
}

/// The part of a [`ProxyPlan`] only zone proxies have.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneProxyPlan {
    pub kind: ProxyKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The one listener, `inbound:<address>:<port>` as in Kuma.
    pub listener: String,
    pub address: String,
    pub port: u32,
    /// Filter chains in order: per mesh (sorted), as Kuma adds them.
    pub chains: Vec<ZoneChain>,
    /// Clusters, sorted by name, each once.
    pub clusters: Vec<ClusterPlan>,
}

/// One SNI-matched filter chain.
#[derive(Debug, Clone, Serialize)]
pub struct ZoneChain {
    pub mesh: String,
    /// The filter chain's name (its cluster's name, as Kuma names egress chains).
    pub name: String,
    pub sni: String,
    pub cluster: String,
    pub destination: Destination,
    pub protocol: Protocol,
    /// Egress chains to a MeshExternalService: Kuma mTLS ends here.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminate: Option<Terminate>,
}

/// How an egress chain terminates Kuma mTLS and whom it lets through.
#[derive(Debug, Clone, Serialize)]
pub struct Terminate {
    pub mtls: Mtls,
    /// The `from` rules of the MeshTrafficPermissions that select this
    /// MeshExternalService at the egress (see `permissions_of`), in Kuma's order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub permissions: Vec<Effective>,
    /// With no such policy: every client of the mesh may pass, unless the Mesh
    /// sets `routing.defaultForbidMeshExternalServiceAccess`.
    pub allow_without_policy: bool,
}

pub use crate::world::zone_proxies::zone_of;

/// The output identity of a ZoneIngress or ZoneEgress (`None` for other kinds).
pub fn proxy_id(r: &Resource) -> Option<ProxyId> {
    let kind = match &r.spec {
        Some(Spec::ZoneIngress(_)) => ProxyKind::ZoneIngress,
        Some(Spec::ZoneEgress(_)) => ProxyKind::ZoneEgress,
        _ => return None,
    };
    Some(ProxyId::of_zone_proxy(&r.meta, kind, zone_of(r)))
}

/// Whether an endpoint in `endpoint` zone is in `zone`: equal, or an unnamed
/// endpoint (single-zone input: one unnamed zone, everything local). An
/// ingress of no zone does not serve endpoints of named zones: it cannot
/// reach them (they are behind their own zones' ingresses).
fn same_zone(endpoint: Option<&str>, zone: Option<&str>) -> bool {
    match (endpoint, zone) {
        (Some(e), Some(z)) => e == z,
        (Some(e), None) => e.is_empty(),
        (None, _) => true,
    }
}

/// Plan one zone proxy. `None` when `r` is not one, or cannot listen (a finding says why).
pub fn plan(world: &World, policies: &PolicySet, r: &Resource, opts: &Options) -> (Option<ProxyPlan>, Vec<Finding>) {
    let Some(id) = proxy_id(r) else { return (None, Vec::new()) };
    let (address, port, admin) = match &r.spec {
        Some(Spec::ZoneIngress(z)) => {
            (z.address().to_string(), z.port(), z.networking.as_ref().and_then(|n| n.admin.as_ref()))
        }
        Some(Spec::ZoneEgress(z)) => {
            (z.address().to_string(), z.port(), z.networking.as_ref().and_then(|n| n.admin.as_ref()))
        }
        _ => return (None, Vec::new()),
    };
    // Kuma fills an empty address with the proxy's own; a static proxy listens everywhere.
    let address = if address.is_empty() { "0.0.0.0".to_string() } else { address };
    let port = u32::try_from(port).ok().filter(|p| (1..=65535).contains(p));
    let (Some(port), true) = (port, address.parse::<std::net::IpAddr>().is_ok()) else {
        let meta = &r.meta;
        let field = if port.is_none() { "networking" } else { "networking/address" };
        let location = Location::pointer(meta.file, meta.doc, format!("{}/{field}", meta.spec_pointer), Target::Value);
        let why = match port {
            None => format!("{id} is not compiled: it has no port to listen on; set `networking.port`"),
            Some(_) => format!(
                "{id} is not compiled: `{address}` is not an IP address, and offline there is nothing to resolve a \
                 DNS name with; set `networking.address` to the IP it listens on"
            ),
        };
        return (None, vec![Finding::new(codes::ZONE_PROXY_NOT_COMPILED, why, location).with_resource(meta.id())]);
    };
    let zone = id.zone.clone();
    let listener = format!("inbound:{}:{port}", super::bracket(&address));
    let mut builder = Builder::default();
    for (mesh_name, mesh) in world.meshes.iter().filter(|(_, m)| m.mtls_enabled()) {
        match id.kind {
            ProxyKind::ZoneIngress => ingress_mesh(world, mesh_name, zone.as_deref(), &mut builder),
            _ => egress_mesh(world, policies, mesh_name, mesh, &id, opts, &mut builder),
        }
    }
    let mut clusters: Vec<ClusterPlan> = builder.clusters.into_values().collect();
    // The egress originates TLS to external services: without a `caCert` it
    // verifies them against the system bundle, as a sidecar does.
    super::resolve_system_ca(&mut clusters, opts.system_ca_path.as_deref().unwrap_or(super::SYSTEM_CA_PATH));
    let zone_plan = ZoneProxyPlan { kind: id.kind, zone, listener, address, port, chains: builder.chains, clusters };
    let admin_port = admin.and_then(|a| a.port).and_then(|p| u32::try_from(p).ok()).filter(|p| (1..=65535).contains(p));
    let plan = ProxyPlan {
        node_id: id.core_name(),
        node_cluster: match id.kind {
            ProxyKind::ZoneIngress => "zone-ingress".to_string(),
            _ => "zone-egress".to_string(),
        },
        admin_port: admin_port.unwrap_or(super::DEFAULT_ADMIN_PORT),
        id,
        mtls: None,
        transparent_proxy: None,
        inbounds: Vec::new(),
        outbounds: Vec::new(),
        clusters: Vec::new(),
        dns: None,
        policies: Vec::new(),
        zone_proxy: Some(Box::new(zone_plan)),
        rules_time: Default::default(),
    };
    (Some(plan), Vec::new())
}

/// Chains (each SNI once) and clusters (each name once) as they are added.
#[derive(Default)]
struct Builder {
    chains: Vec<ZoneChain>,
    clusters: BTreeMap<String, ClusterPlan>,
    snis: BTreeSet<String>,
}

impl Builder {
    /// Add a chain and its cluster. A second destination with an SNI already
    /// matched (MeshServices of one name in several zones share it) only adds
    /// its endpoints to the first one's cluster: the proxy cannot tell them apart.
    fn add(&mut self, chain: ZoneChain, cluster: ClusterPlan) {
        if !self.snis.insert(chain.sni.clone()) {
            let first = self.chains.iter().find(|c| c.sni == chain.sni).map(|c| c.cluster.clone());
            if let Some(existing) = first.and_then(|name| self.clusters.get_mut(&name)) {
                merge_endpoints(&mut existing.endpoints, cluster.endpoints);
            }
            return;
        }
        if self.clusters.contains_key(&cluster.name) {
            return;
        }
        self.clusters.insert(cluster.name.clone(), cluster);
        self.chains.push(chain);
    }
}

/// `more` into `endpoints`: the same address and port once, weights summed.
fn merge_endpoints(endpoints: &mut Vec<Endpoint>, more: Vec<Endpoint>) {
    for e in more {
        match endpoints.iter_mut().find(|x| x.address == e.address && x.port == e.port) {
            Some(x) => x.weight = x.weight.saturating_add(e.weight),
            None => endpoints.push(e),
        }
    }
    endpoints.sort();
}

fn destination(s: &Service, port: u32, section: String) -> Destination {
    Destination {
        kind: s.kind,
        name: s.name.clone(),
        namespace: s.namespace.clone(),
        port,
        section: section.clone(),
        kri: (s.kind != ServiceKind::Legacy).then(|| outbounds::kri(s, &section)),
    }
}

/// A zone proxy's cluster name for a service port: Kuma's `<mesh>:<service>` for
/// legacy services (several meshes may have the same service), the sidecar's
/// cluster name for real resources.
fn zone_cluster_name(s: &Service, port: &crate::world::ServicePort) -> String {
    match s.kind {
        ServiceKind::Legacy => format!("{}:{}", s.mesh, s.name),
        _ => outbounds::cluster_name(s, port),
    }
}

/// A passthrough chain and its plain TCP cluster over `endpoints`.
fn passthrough(s: &Service, port: &crate::world::ServicePort, endpoints: Vec<Endpoint>) -> (ZoneChain, ClusterPlan) {
    let name = zone_cluster_name(s, port);
    let dest = destination(s, port.port, port.section_name());
    let chain = ZoneChain {
        mesh: s.mesh.clone(),
        name: name.clone(),
        sni: outbounds::sni(s, port),
        cluster: name.clone(),
        destination: dest.clone(),
        protocol: Protocol::Tcp,
        terminate: None,
    };
    let cluster = ClusterPlan {
        name,
        protocol: Protocol::Tcp,
        http2: false,
        endpoints,
        tls: ClusterTls::None,
        zone_egress: false,
        destination: dest,
        policies: Vec::new(),
    };
    (chain, cluster)
}

/// The destinations an ingress forwards to: legacy services first (Kuma's
/// available services), then MeshService and MeshMultiZoneService ports.
fn ordered<'w, 'a>(world: &'w World<'a>, mesh: &str) -> Vec<&'w Service<'a>> {
    let of_mesh = || world.services.iter().filter(move |s| s.mesh == mesh);
    let legacy = of_mesh().filter(|s| s.kind == ServiceKind::Legacy);
    let real = of_mesh().filter(|s| matches!(s.kind, ServiceKind::MeshService | ServiceKind::MeshMultiZoneService));
    legacy.chain(real).collect()
}

fn ingress_mesh(world: &World, mesh: &str, zone: Option<&str>, b: &mut Builder) {
    for s in ordered(world, mesh) {
        for port in &s.ports {
            let local: Vec<Endpoint> =
                port.endpoints.iter().filter(|e| same_zone(e.zone.as_deref(), zone)).cloned().collect();
            if local.is_empty() {
                continue;
            }
            let (chain, cluster) = passthrough(s, port, local);
            b.add(chain, cluster);
        }
    }
}

/// One endpoint per ZoneIngress of each remote zone, weighted by the number of
/// endpoints it stands for, located in that zone.
fn remote_endpoints(world: &World, endpoints: &[Endpoint], local: &str) -> Vec<Endpoint> {
    let mut per_zone: BTreeMap<&str, u32> = BTreeMap::new();
    for e in endpoints {
        if let Some(z) = e.zone.as_deref().filter(|z| !z.is_empty() && *z != local) {
            *per_zone.entry(z).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    for (zone, count) in per_zone {
        for a in world.zone_proxies.ingresses(zone) {
            let (address, port) = (a.address.clone(), a.port);
            let mut tags = StringMap::new();
            tags.insert("kuma.io/zone".to_string(), zone.to_string());
            out.push(Endpoint { address, port, zone: Some(zone.to_string()), priority: 0, weight: count, tags });
        }
    }
    out
}

fn egress_mesh(
    world: &World,
    policies: &PolicySet,
    mesh_name: &str,
    mesh: &Mesh,
    id: &ProxyId,
    opts: &Options,
    b: &mut Builder,
) {
    if mesh.zone_egress_enabled()
        && let Some(local) = id.zone.as_deref()
    {
        for s in ordered(world, mesh_name) {
            for port in &s.ports {
                let remote = remote_endpoints(world, &port.endpoints, local);
                if remote.is_empty() {
                    continue;
                }
                let (chain, cluster) = passthrough(s, port, remote);
                b.add(chain, cluster);
            }
        }
    }
    let mtls = egress_mtls(mesh_name, id, &opts.secrets_dir);
    for s in world.services.iter().filter(|s| s.mesh == mesh_name && s.kind == ServiceKind::MeshExternalService) {
        let Some(port) = s.ports.first() else { continue };
        if port.endpoints.is_empty() {
            continue;
        }
        let cluster = outbounds::cluster(s, port, false, &opts.secrets_dir);
        let (permissions, allow_without_policy) = egress_permissions(policies, s, opts.shadow, mesh);
        let chain = ZoneChain {
            mesh: mesh_name.to_string(),
            name: cluster.name.clone(),
            sni: outbounds::sni(s, port),
            cluster: cluster.name.clone(),
            destination: cluster.destination.clone(),
            protocol: port.protocol,
            terminate: Some(Terminate { mtls: mtls.clone(), permissions, allow_without_policy }),
        };
        b.add(chain, cluster);
    }
}

/// The egress's identity in one mesh: SDS files under
/// `<secrets>/proxies/<egress dir>/<mesh>/` (`meshc certs` writes them).
pub fn egress_mtls(mesh: &str, id: &ProxyId, secrets_dir: &str) -> Mtls {
    Mtls {
        mesh: mesh.to_string(),
        mode: TlsMode::Strict,
        identity_secret: format!("identity_cert:secret:{mesh}"),
        ca_secret: format!("mesh_ca:secret:{mesh}"),
        identity_sds_path: secrets_path(
            secrets_dir,
            &format!("proxies/{}/{}/identity.sds.yaml", id.dir(), escape_segment(mesh)),
        ),
        ca_sds_path: secrets_path(secrets_dir, &format!("meshes/{}/ca.sds.yaml", escape_segment(mesh))),
    }
}

/// What the ZoneEgress checks for clients of the MeshExternalService `s` of
/// `mesh`: the permissions that select it (`permissions_of`), and whether
/// every client of the mesh may pass when none does (unless the Mesh's
/// `routing.defaultForbidMeshExternalServiceAccess`).
pub fn egress_permissions(set: &PolicySet, s: &Service, shadow: bool, mesh: &Mesh) -> (Vec<Effective>, bool) {
    let allow_without_policy =
        !mesh.routing.as_ref().and_then(|r| r.default_forbid_mesh_external_service_access).unwrap_or(false);
    (permissions_of(set, s, shadow), allow_without_policy)
}

/// The `from` rules of the MeshTrafficPermissions whose top-level targetRef
/// selects the MeshExternalService `s` at the egress, as Kuma's
/// `EgressMatchedPolicies` selects an external service (conformance fixtures
/// `core/matchers/testdata/egressmatchedpolicies`): `Mesh`, or the service by
/// name (`MeshService`, and `MeshExternalService` where validation allows it).
fn permissions_of(set: &PolicySet, s: &Service, shadow: bool) -> Vec<Effective> {
    let mut matched: Vec<usize> = set
        .of(&s.mesh, Kind::MeshTrafficPermission)
        .iter()
        .copied()
        .filter(|&i| {
            let p = &set.policies[i];
            let name_ok = p.top.name() == s.display_name || p.top.name() == s.name;
            let ns_ok = p.top.namespace.as_deref().is_none_or(|ns| Some(ns) == s.namespace.as_deref());
            let selects = match p.top_kind() {
                TargetRefKind::Mesh => true,
                TargetRefKind::MeshService | TargetRefKind::MeshExternalService => name_ok && ns_ok,
                _ => false,
            };
            selects && (shadow || !p.is_shadow())
        })
        .collect();
    matched.sort_by(|&a, &b| crate::rules::sort::compare_policies(&set.policies[a], &set.policies[b]).then(a.cmp(&b)));
    let items: Vec<SubsetItem> = matched
        .iter()
        .flat_map(|&p| {
            set.policies[p].from.iter().map(move |item| SubsetItem {
                origin: Origin { policy: p, section: Section::From, index: item.index },
                target_ref: std::borrow::Cow::Borrowed(&item.target_ref),
                conf: &item.conf,
                kind: Kind::MeshTrafficPermission,
            })
        })
        .collect();
    subset::from_rules(&items)
        .iter()
        .map(|rule| crate::rules::proxy::subset_effective(set, Kind::MeshTrafficPermission, rule, Direction::From))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{self, Compiled};

    const MTLS: &str = "mtls: {enabledBackend: ca, backends: [{name: ca, type: builtin}]}";

    fn compile(yaml: &str) -> Compiled {
        let opts = compile::Options {
            validate: Default::default(),
            world: Default::default(),
            plan: Options { secrets_dir: "s".into(), shadow: false, system_ca_path: None },
            selection: Default::default(),
        };
        let compiled = compile::run_texts(vec![("w.yaml".into(), yaml.into())], &opts);
        assert!(!compiled.has_errors(), "{:#?}", compiled.outcome.findings);
        compiled
    }

    fn zone_plan<'c>(c: &'c Compiled, name: &str) -> &'c ZoneProxyPlan {
        c.proxies
            .iter()
            .find_map(|(p, _)| p.zone_proxy.as_deref().filter(|_| p.id.name == name))
            .unwrap_or_else(|| panic!("no zone proxy {name}"))
    }

    fn dp(mesh: &str, name: &str, zone: &str, address: &str, service: &str, tp: bool) -> String {
        let tp =
            if tp { "\n  transparentProxying: {redirectPortInbound: 15006, redirectPortOutbound: 15001}" } else { "" };
        format!(
            "type: Dataplane\nmesh: {mesh}\nname: {name}\nlabels: {{kuma.io/zone: {zone}}}\nnetworking:\n  address: \
             {address}\n  inbound:\n    - {{port: 8080, tags: {{kuma.io/service: {service}, kuma.io/protocol: http}}}}{tp}\n"
        )
    }

    /// A sidecar in zone west reaches services of zone east: every SNI its
    /// mTLS clusters send to a destination with east endpoints is an SNI the
    /// east ingress matches (legacy and MeshService alike).
    #[test]
    fn sidecar_clusters_and_ingress_chains_agree_on_sni() {
        let world = [
            format!("type: Mesh\nname: m\nmeshServices: {{mode: Everywhere}}\n{MTLS}\n"),
            "type: ZoneIngress\nname: zi\nzone: east\nnetworking: {address: 10.0.0.9, port: 10001}\n".into(),
            dp("m", "backend-1", "east", "10.0.0.1", "backend", false),
            dp("m", "api-1", "east", "10.0.0.2", "api", false),
            dp("m", "client", "west", "10.1.0.1", "client", true),
        ]
        .join("---\n");
        let compiled = compile(&world);
        let ingress = zone_plan(&compiled, "zi");
        let matched: BTreeSet<&str> = ingress.chains.iter().map(|c| c.sni.as_str()).collect();
        let (client, _) = compiled.proxies.iter().find(|(p, _)| p.id.name == "client").expect("client");
        let mut checked = 0;
        for c in &client.clusters {
            let ClusterTls::Mesh { sni, .. } = &c.tls else { continue };
            if c.endpoints.iter().any(|e| e.zone.as_deref() == Some("east")) {
                assert!(matched.contains(sni.as_str()), "{} sends {sni}, the ingress matches {matched:?}", c.name);
                checked += 1;
            }
        }
        assert!(checked >= 4, "legacy and MeshService clusters of backend and api: {checked}");
    }

    /// An external service with TLS and no `caCert` is verified against the
    /// system bundle at the egress too (it used to accept any certificate).
    #[test]
    fn egress_verifies_external_servers_against_the_system_ca() {
        let world = [
            format!("type: Mesh\nname: m\nrouting: {{zoneEgress: true}}\n{MTLS}\n"),
            "type: ZoneEgress\nname: ze\nzone: west\nnetworking: {address: 10.0.0.5, port: 10002}\n".into(),
            "type: MeshExternalService\nname: ext\nmesh: m\nspec:\n  match: {port: 443, protocol: tcp}\n  \
             endpoints: [{address: example.com, port: 443}]\n  tls: {enabled: true}\n"
                .into(),
        ]
        .join("---\n");
        let compiled = compile(&world);
        let egress = zone_plan(&compiled, "ze");
        let cluster = egress.clusters.iter().find(|c| c.name.contains("ext")).expect("the MES cluster");
        let ClusterTls::External(t) = &cluster.tls else { panic!("TLS origination: {:?}", cluster.tls) };
        assert!(
            matches!(&t.ca, Some(crate::plan::DataSource::File(f)) if f == crate::plan::SYSTEM_CA_PATH),
            "{:?}",
            t.ca
        );
    }

    /// An ingress of no zone in a multi-zone input serves no zone's endpoints:
    /// it cannot reach them.
    #[test]
    fn an_ingress_without_a_zone_does_not_forward_to_zoned_endpoints() {
        let world = [
            format!("type: Mesh\nname: m\nmeshServices: {{mode: Everywhere}}\n{MTLS}\n"),
            "type: ZoneIngress\nname: zi\nnetworking: {address: 10.0.0.9, port: 10001}\n".into(),
            dp("m", "backend-1", "east", "10.0.0.1", "backend", false),
            dp("m", "backend-2", "west", "10.1.0.1", "backend", false),
        ]
        .join("---\n");
        let compiled = compile(&world);
        let ingress = zone_plan(&compiled, "zi");
        let endpoints: usize = ingress.clusters.iter().map(|c| c.endpoints.len()).sum();
        assert_eq!(endpoints, 0, "{:#?}", ingress.clusters);
    }

    /// Chains per mesh in mesh order: legacy services, then MeshService and
    /// MeshMultiZoneService ports; only endpoints of the ingress's zone; no
    /// chain for a mesh without mTLS.
    #[test]
    fn ingress_chain_order_and_local_endpoints() {
        let world = [
            format!("type: Mesh\nname: b\nmeshServices: {{mode: Everywhere}}\n{MTLS}\n"),
            format!("type: Mesh\nname: a\n{MTLS}\n"),
            "type: Mesh\nname: open\n".into(),
            "type: ZoneIngress\nname: zi\nzone: east\nnetworking: {address: 10.0.0.9, port: 10001}\n".into(),
            dp("b", "web-east", "east", "10.0.0.1", "web", false),
            dp("b", "web-west", "west", "10.1.0.1", "web", false),
            dp("a", "pay-east", "east", "10.0.0.3", "pay", false),
            dp("open", "x-east", "east", "10.0.0.4", "x", false),
            "type: MeshMultiZoneService\nname: web-all\nmesh: b\nspec:\n  selector: {meshService: {matchLabels: \
             {kuma.io/managed-by: meshservice-generator}}}\n  ports: [{port: 8080, appProtocol: http}]\n"
                .into(),
        ]
        .join("---\n");
        let compiled = compile(&world);
        let ingress = zone_plan(&compiled, "zi");
        let order: Vec<(&str, ServiceKind)> =
            ingress.chains.iter().map(|c| (c.mesh.as_str(), c.destination.kind)).collect();
        assert_eq!(
            order,
            vec![
                ("a", ServiceKind::Legacy),
                ("b", ServiceKind::Legacy),
                ("b", ServiceKind::MeshService),
                ("b", ServiceKind::MeshMultiZoneService),
            ]
        );
        assert_eq!(ingress.chains[0].sni, "pay{mesh=a}");
        for c in &ingress.clusters {
            assert!(c.endpoints.iter().all(|e| e.zone.as_deref() == Some("east")), "{}: {:?}", c.name, c.endpoints);
            assert!(matches!(c.tls, ClusterTls::None), "the ingress never originates TLS");
        }
    }

    /// Endpoints of one SNI from several destinations join one cluster, weights summed.
    #[test]
    fn same_address_endpoints_merge() {
        let e = |address: &str, weight| Endpoint {
            address: address.into(),
            port: 10001,
            zone: None,
            priority: 0,
            weight,
            tags: StringMap::new(),
        };
        let mut list = vec![e("203.0.113.2", 2)];
        merge_endpoints(&mut list, vec![e("203.0.113.2", 1), e("203.0.113.1", 4)]);
        assert_eq!(list, vec![e("203.0.113.1", 4), e("203.0.113.2", 3)]);
    }

    /// A DNS name as the listen address: no config, a finding that says what to do.
    #[test]
    fn dns_address_is_a_finding() {
        let world = format!(
            "type: Mesh\nname: m\n{MTLS}\n---\ntype: ZoneEgress\nname: ze\nnetworking: {{address: egress.local, port: 10002}}\n"
        );
        let compiled = compile(&world);
        assert!(compiled.proxies.iter().all(|(p, _)| p.zone_proxy.is_none()));
        let codes: Vec<&str> = compiled.outcome.findings.iter().map(|f| f.code.id).collect();
        assert!(codes.contains(&"MESH5018"), "{codes:?}");
    }
}
