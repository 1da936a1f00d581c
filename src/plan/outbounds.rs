//! Which services a sidecar reaches and how (Kuma's `AsOutbounds`, reachable
//! services and backends, explicit `networking.outbound[]`), and the cluster of
//! each (legacy naming, reference §10.1).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::{
    ClusterPlan, ClusterTls, Destination, InboundPlan, OutboundPlan, San, bracket, external_spec, external_tls,
};
use crate::findings::{Finding, Location, Target, codes};
use crate::model::common::StringMap;
use crate::model::dataplane::{Outbound, TransparentProxying};
use crate::model::mesh::{Mesh, MeshServicesMode};
use crate::rules::select::Proxy;
use crate::world::{Protocol, Service, ServiceKind, ServicePort, World, labels_match};

const UNIFIED_NAME_TAG: &str = "kuma.io/unified-name";

pub fn plan(
    world: &World,
    dp: Proxy,
    mesh: &Mesh,
    mtls: bool,
    inbounds: &[InboundPlan],
    secrets_dir: &str,
    findings: &mut Vec<Finding>,
) -> (Vec<OutboundPlan>, Vec<ClusterPlan>) {
    let mesh_name = dp.resource.meta.mesh.as_deref().unwrap_or_default();
    let mut outbounds: Vec<OutboundPlan> = Vec::new();
    let mut clusters: BTreeMap<String, ClusterPlan> = BTreeMap::new();
    let mut taken: BTreeSet<(IpAddr, u32)> = BTreeSet::new();
    let occupied = |ip: IpAddr, port: u32| inbounds.iter().any(|i| i.port == port && i.address.parse() == Ok(ip));
    let mut collisions: Vec<String> = Vec::new();
    if dp.spec.uses_transparent_proxy() {
        let namespace = dp.resource.meta.namespace.as_deref();
        let reach = Reachable::of(dp.spec.transparent_proxying(), mesh.mesh_services_mode(), namespace);
        let inferred =
            world.reachable.as_ref().map(|g| g.client(dp, reach.services.is_some(), reach.backends.is_some()));
        let inferred_allows = |s: &Service| inferred.as_ref().is_none_or(|i| i.allows(s));
        for s in reach.candidates(world, mesh_name).into_iter().filter(|s| reach.allows(s) && inferred_allows(s)) {
            for port in s.ports.iter().filter(|p| reach.allows_port(s, p)) {
                for vip in &s.vips {
                    if occupied(*vip, port.port) || !taken.insert((*vip, port.port)) {
                        continue;
                    }
                    let (o, c) = outbound(s, port, (*vip, port.port), false, mtls, secrets_dir);
                    if let Err(why) = add_cluster(&mut clusters, c) {
                        collisions.push(why);
                        continue;
                    }
                    outbounds.push(o);
                }
            }
        }
    }
    for (i, o) in dp.spec.outbounds().iter().enumerate() {
        let finding = |code, suffix: &str, why: String| {
            let r = &dp.resource.meta;
            let pointer = format!("{}/networking/outbound/{i}{suffix}", r.spec_pointer);
            let location = Location::pointer(r.file, r.doc, pointer, Target::Value);
            Finding::new(code, why, location).with_resource(r.id())
        };
        let skip = |findings: &mut Vec<Finding>, why: String| findings.push(finding(codes::OUTBOUND_SKIPPED, "", why));
        let Some((address, port)) = listen_address(o) else {
            skip(findings, "outbound is left out: its address or port is not valid".into());
            continue;
        };
        let mut ambiguous = None;
        let resolved =
            match resolve_explicit(world, mesh_name, o, dp.resource.meta.namespace.as_deref(), &mut ambiguous) {
                Ok(r) => r,
                Err(why) => {
                    skip(findings, format!("outbound {}:{port} is left out: {why}", bracket(&address.to_string())));
                    continue;
                }
            };
        if occupied(address, port) || !taken.insert((address, port)) {
            skip(
                findings,
                format!(
                    "outbound {}:{port} is left out: another listener of this proxy uses it",
                    bracket(&address.to_string())
                ),
            );
            continue;
        }
        if let Some(why) = ambiguous {
            findings.push(finding(codes::AMBIGUOUS_BACKEND_REF, "/backendRef/labels", why));
        }
        let (o, c) = match resolved {
            Explicit::Service(s, p) => outbound(s, p, (address, port), true, mtls, secrets_dir),
            Explicit::Legacy(name) => {
                let empty = legacy_placeholder(mesh_name, &name);
                outbound(&empty, &empty.ports[0].clone(), (address, port), true, mtls, secrets_dir)
            }
        };
        if let Err(why) = add_cluster(&mut clusters, c) {
            skip(findings, format!("outbound {}:{port} is left out: {why}", bracket(&address.to_string())));
            taken.remove(&(address, port));
            continue;
        }
        outbounds.push(o);
    }
    collisions.sort();
    collisions.dedup();
    for why in collisions {
        let r = &dp.resource.meta;
        let location = Location::pointer(r.file, r.doc, r.name_pointer.clone(), Target::Value);
        findings.push(
            Finding::new(codes::OUTBOUND_SKIPPED, format!("an outbound is left out: {why}"), location)
                .with_resource(r.id()),
        );
    }
    outbounds.sort_by_key(|o| (o.address, o.port));
    (outbounds, clusters.into_values().collect())
}

/// Cluster names meshc gives its own clusters; no service may take one.
const RESERVED_CLUSTER_PREFIXES: &[&str] = &["localhost:", "inbound:", "outbound:", "kuma:"];

/// Add an outbound's cluster, shared when it is the same destination, refused
/// when another destination (or one of meshc's own clusters) has its name.
fn add_cluster(clusters: &mut BTreeMap<String, ClusterPlan>, c: ClusterPlan) -> Result<(), String> {
    if RESERVED_CLUSTER_PREFIXES.iter().any(|p| c.name.starts_with(p)) {
        return Err(format!("its cluster name `{}` is reserved for the proxy's own clusters", c.name));
    }
    match clusters.get(&c.name) {
        None => {
            clusters.insert(c.name.clone(), c);
            Ok(())
        }
        Some(existing) if existing.endpoints == c.endpoints && existing.protocol == c.protocol => Ok(()),
        Some(_) => {
            Err(format!("two destinations get the cluster name `{}` (services with the same display name?)", c.name))
        }
    }
}

/// What `transparentProxying.reachableServices` / `reachableBackends` and the
/// mesh's `meshServices.mode` leave reachable.
/// Kuma's `resolveVIPOutbounds` (`pkg/xds/sync/dataplane_proxy_builder.go`):
/// - legacy `kuma.io/service` outbounds exist unless the mode is `Exclusive`, and
///   `reachableServices`, when set, lists the ones kept;
/// - real-resource outbounds (MeshService, MeshExternalService,
///   MeshMultiZoneService): with `reachableBackends`, exactly its refs; else none
///   when `reachableServices` is set or the mode is `ReachableBackends`; else all
///   (but no MeshService outbounds when the mode is `Disabled`).
struct Reachable<'a> {
    services: Option<&'a [String]>,
    backends: Option<&'a [crate::model::dataplane::ReachableBackendRef]>,
    mode: MeshServicesMode,
    /// The proxy's namespace: the default of a ref without one.
    namespace: Option<&'a str>,
}

impl<'a> Reachable<'a> {
    fn of(tp: Option<&'a TransparentProxying>, mode: MeshServicesMode, namespace: Option<&'a str>) -> Self {
        Reachable {
            services: tp.map(|t| t.reachable_services.as_slice()).filter(|s| !s.is_empty()),
            backends: tp.and_then(|t| t.reachable_backends.as_ref()).map(|b| b.refs.as_slice()),
            mode,
            namespace,
        }
    }

    /// The services worth checking with [`Reachable::allows`], in world order:
    /// with name refs (`reachableServices`, `reachableBackends`), just those, found
    /// by key, so a proxy that reaches 20 services does not scan thousands.
    fn candidates<'w, 'r>(&self, world: &'w World<'r>, mesh: &str) -> Vec<&'w Service<'r>> {
        let named_refs = self.backends.is_some_and(|refs| refs.iter().all(|r| r.name.is_some()));
        let legacy_by_name = self.services.is_some() || self.mode == MeshServicesMode::Exclusive;
        if !(named_refs && legacy_by_name) {
            return world.services.iter().filter(|s| s.mesh == mesh).collect();
        }
        let mut positions: Vec<usize> = Vec::new();
        if self.mode != MeshServicesMode::Exclusive {
            for name in self.services.unwrap_or_default() {
                positions.extend(world.position(mesh, ServiceKind::Legacy, name, None));
            }
        }
        for r in self.backends.unwrap_or_default() {
            let kind = match r.kind.as_deref() {
                Some("MeshService") => ServiceKind::MeshService,
                Some("MeshExternalService") => ServiceKind::MeshExternalService,
                Some("MeshMultiZoneService") => ServiceKind::MeshMultiZoneService,
                _ => continue,
            };
            let Some(name) = r.name.as_deref() else { continue };
            positions.extend(world.position(mesh, kind, name, r.namespace.as_deref().or(self.namespace)));
        }
        positions.sort_unstable();
        positions.dedup();
        positions.into_iter().map(|i| &world.services[i]).collect()
    }

    fn allows(&self, s: &Service) -> bool {
        if s.kind == ServiceKind::Legacy {
            return self.mode != MeshServicesMode::Exclusive && self.services.is_none_or(|l| l.contains(&s.name));
        }
        match self.backends {
            Some(refs) => refs.iter().any(|r| backend_ref_matches(r, s, None, self.namespace)),
            None if self.services.is_some() || self.mode == MeshServicesMode::ReachableBackends => false,
            None => !(s.kind == ServiceKind::MeshService && self.mode == MeshServicesMode::Disabled),
        }
    }

    fn allows_port(&self, s: &Service, p: &ServicePort) -> bool {
        if s.kind == ServiceKind::Legacy {
            return true;
        }
        self.backends.is_none_or(|refs| refs.iter().any(|r| backend_ref_matches(r, s, Some(p.port), self.namespace)))
    }
}

fn backend_ref_matches(
    r: &crate::model::dataplane::ReachableBackendRef,
    s: &Service,
    port: Option<u32>,
    proxy_namespace: Option<&str>,
) -> bool {
    if r.kind.as_deref() != Some(s.kind.name()) {
        return false;
    }
    let name_ok = match &r.name {
        Some(n) => *n == s.name && s.namespace.as_deref() == r.namespace.as_deref().or(proxy_namespace),
        None => !r.labels.is_empty() && labels_match(&s.labels, Some(&r.labels)),
    };
    let port_ok = match (r.port, port) {
        (Some(want), Some(have)) => i64::from(have) == want,
        _ => true,
    };
    name_ok && port_ok
}

enum Explicit<'w, 'a> {
    Service(&'w Service<'a>, &'w ServicePort),
    Legacy(String),
}

fn listen_address(o: &Outbound) -> Option<(IpAddr, u32)> {
    let address = o.address.as_deref().filter(|a| !a.is_empty()).unwrap_or("127.0.0.1").parse().ok()?;
    let port = u32::try_from(o.port?).ok().filter(|p| (1..=65535).contains(p))?;
    Some((address, port))
}

fn resolve_explicit<'w, 'a>(
    world: &'w World<'a>,
    mesh: &str,
    o: &Outbound,
    namespace: Option<&str>,
    ambiguous: &mut Option<String>,
) -> Result<Explicit<'w, 'a>, String> {
    let Some(b) = &o.backend_ref else {
        let name = o.service().ok_or("it names neither a backendRef nor a `kuma.io/service` tag")?;
        if let Some(s) = world.find(mesh, ServiceKind::Legacy, name, None) {
            return Ok(Explicit::Service(s, &s.ports[0]));
        }
        return Ok(Explicit::Legacy(name.to_string()));
    };
    let kind = match b.kind.as_deref() {
        Some("MeshService") => ServiceKind::MeshService,
        Some("MeshExternalService") => ServiceKind::MeshExternalService,
        Some("MeshMultiZoneService") => ServiceKind::MeshMultiZoneService,
        other => return Err(format!("backendRef kind {other:?} is not supported")),
    };
    let service = match &b.name {
        // A name resolves in the proxy's own namespace, as Kuma's KRI does.
        Some(name) => world.find(mesh, kind, name, namespace).ok_or_else(|| match namespace {
            Some(ns) => format!("{} `{name}` is not in the input (in namespace `{ns}`)", kind.name()),
            None => format!("{} `{name}` is not in the input", kind.name()),
        })?,
        None => {
            let mut matching = world.services.iter().filter(|s| {
                s.mesh == mesh && s.kind == kind && !b.labels.is_empty() && labels_match(&s.labels, Some(&b.labels))
            });
            let first =
                matching.next().ok_or_else(|| format!("no {} has the labels of the backendRef", kind.name()))?;
            let others: Vec<String> = matching.map(|s| format!("`{}`", s.qualified_name())).collect();
            if !others.is_empty() {
                *ambiguous = Some(format!(
                    "the backendRef labels match several {}s: `{}` is used, not {}",
                    kind.name(),
                    first.qualified_name(),
                    others.join(", ")
                ));
            }
            first
        }
    };
    let port = match b.port.and_then(|p| u32::try_from(p).ok()) {
        Some(p) => service.port(p).ok_or_else(|| format!("{} `{}` has no port {p}", kind.name(), service.name))?,
        None if kind == ServiceKind::MeshExternalService || service.ports.len() == 1 => {
            service.ports.first().ok_or_else(|| format!("{} `{}` has no port", kind.name(), service.name))?
        }
        None => return Err("backendRef.port is required: the service has several ports".into()),
    };
    Ok(Explicit::Service(service, port))
}

/// A legacy service that no Dataplane of the input provides: an outbound with no
/// endpoints, as Kuma would create it.
fn legacy_placeholder(mesh: &str, name: &str) -> Service<'static> {
    Service {
        kind: ServiceKind::Legacy,
        mesh: mesh.to_string(),
        name: name.to_string(),
        display_name: name.to_string(),
        namespace: None,
        zone: None,
        labels: StringMap::new(),
        generated: true,
        ports: vec![ServicePort { port: 80, name: None, protocol: Protocol::Tcp, endpoints: Vec::new() }],
        vips: Vec::new(),
        hostnames: Vec::new(),
        identities: vec![format!("spiffe://{mesh}/{name}")],
        resource: None,
    }
}

/// Kuma's KRI of a service port: `kri_<short>_<mesh>_<zone>_<namespace>_<name>_<section>`.
pub fn kri(s: &Service, section: &str) -> String {
    format!(
        "kri_{}_{}_{}_{}_{}_{section}",
        s.kind.short(),
        s.mesh,
        s.zone.as_deref().unwrap_or_default(),
        s.namespace.as_deref().unwrap_or_default(),
        s.display_name
    )
}

/// Kuma's legacy cluster name of a service port.
pub fn cluster_name(s: &Service, port: &ServicePort) -> String {
    match s.kind {
        ServiceKind::Legacy => s.name.clone(),
        _ => format!(
            "{}_{}_{}_{}_{}_{}",
            s.mesh,
            s.display_name,
            s.namespace.as_deref().unwrap_or_default(),
            s.zone.as_deref().unwrap_or_default(),
            s.kind.short(),
            port.port
        ),
    }
}

/// Kuma's hash SNI of a real resource (`pkg/xds/envoy/tls/sni.go`,
/// `SNIForResource` with no additional data).
pub fn resource_sni(name: &str, mesh: &str, kind: ServiceKind, port: u32) -> String {
    let mut hash: u64 = 0xcbf29ce484222325;
    for b in format!("{name};{mesh};").bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    let clip = |s: &str| if s.len() > 62 { format!("{}x", &s[..62]) } else { s.to_string() };
    let abbrev = match kind {
        ServiceKind::MeshExternalService => "mes",
        ServiceKind::MeshMultiZoneService => "mzms",
        _ => "ms",
    };
    format!("a{hash:016x}.{}.{port}.{}.{abbrev}", clip(name), clip(mesh))
}

/// The SNI of a service port under Kuma mTLS: what a sidecar's cluster sends,
/// and what ZoneIngress and ZoneEgress filter chains match (`server_names`).
pub fn sni(s: &Service, port: &ServicePort) -> String {
    match s.kind {
        // SNIFromTags: the service, then the other cluster tags in braces.
        ServiceKind::Legacy => format!("{}{{mesh={}}}", s.name, s.mesh),
        _ => {
            let core = match &s.namespace {
                Some(ns) => format!("{}.{ns}", s.name),
                None => s.name.clone(),
            };
            resource_sni(&core, &s.mesh, s.kind, port.port)
        }
    }
}

/// The cluster of a service port, as an outbound to it would have it (for the
/// clusters route backendRefs need, [`super::routes`]).
pub(super) fn cluster(s: &Service, port: &ServicePort, mtls: bool, secrets_dir: &str) -> ClusterPlan {
    let unspecified = IpAddr::from([0, 0, 0, 0]);
    outbound(s, port, (unspecified, port.port), false, mtls, secrets_dir).1
}

fn outbound(
    s: &Service,
    port: &ServicePort,
    (address, listen_port): (IpAddr, u32),
    bind: bool,
    mtls: bool,
    secrets_dir: &str,
) -> (OutboundPlan, ClusterPlan) {
    let cluster = cluster_name(s, port);
    let section = port.section_name();
    let kri = (s.kind != ServiceKind::Legacy).then(|| kri(s, &section));
    let mut tags = StringMap::new();
    match &kri {
        Some(k) => tags.insert(UNIFIED_NAME_TAG.to_string(), k.clone()),
        None => tags.insert("kuma.io/service".to_string(), s.name.clone()),
    };
    let external = s.kind == ServiceKind::MeshExternalService;
    let tls = if external {
        let first = port.endpoints.first().map(|e| e.address.as_str());
        match external_spec(s.resource).and_then(|m| external_tls(m, first, secrets_dir, &s.mesh)) {
            Some(t) => ClusterTls::External(Box::new(t)),
            None => ClusterTls::None,
        }
    } else if mtls {
        let sans = if s.identities.is_empty() {
            vec![San::Prefix(format!("spiffe://{}/", s.mesh))]
        } else {
            s.identities.iter().map(|i| San::Exact(i.clone())).collect()
        };
        ClusterTls::Mesh { sni: sni(s, port), sans }
    } else {
        ClusterTls::None
    };
    let destination = Destination {
        kind: s.kind,
        name: s.name.clone(),
        namespace: s.namespace.clone(),
        port: port.port,
        section,
        kri,
    };
    let plan = OutboundPlan {
        name: format!("outbound:{}:{listen_port}", bracket(&address.to_string())),
        address,
        port: listen_port,
        bind,
        protocol: port.protocol,
        cluster: cluster.clone(),
        destination: destination.clone(),
        tags,
        policies: Vec::new(),
        routing: Default::default(),
    };
    let http2 = !external || matches!(port.protocol, Protocol::Http2 | Protocol::Grpc);
    let c = ClusterPlan {
        name: cluster,
        protocol: port.protocol,
        http2,
        endpoints: port.endpoints.clone(),
        tls,
        destination,
        policies: Vec::new(),
        zone_egress: false,
    };
    (plan, c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sni_matches_kuma_golden() {
        // test/e2e_env/universal/envoyconfig/testdata/sidecars/meshtimeout/no-policies.*.golden.json
        assert_eq!(
            resource_sni("test-server", "envoyconfig", ServiceKind::MeshService, 80),
            "a029781856823048e.test-server.80.envoyconfig.ms"
        );
        assert_eq!(
            resource_sni("demo-client", "envoyconfig", ServiceKind::MeshService, 3000),
            "a65abe81bca1750d1.demo-client.3000.envoyconfig.ms"
        );
    }
}
