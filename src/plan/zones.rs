//! Multi-zone endpoints (reference §6.1, §6.2, §6.7, §9): the input is the
//! global control plane's view, so a service's endpoints may live in any zone.
//! For a sidecar in zone `p`, an endpoint in another named zone `z` is remote
//! and is never reached directly:
//! - with the Mesh's `routing.zoneEgress: true`, through the ZoneEgress of `p`
//!   (which forwards to the ingress of `z`);
//! - else through the ZoneIngress of `z`, at its advertised address and port.
//!
//! Either way the cluster keeps its name, its Kuma mTLS and its SNI: the zone
//! proxies route by that SNI, so remote endpoints exist only with mesh mTLS.
//! One remote endpoint stands for all the endpoints of its zone (legacy
//! services: for all of one tag set, as Kuma's ingress `availableServices`),
//! with their number as weight and the zone as locality. Remote endpoints of
//! MeshServices (and so of MeshMultiZoneServices) get priority 1, the others
//! only with the Mesh's `routing.localityAwareLoadBalancing` (Kuma's
//! `fillRemoteMeshServices`, `fillIngressOutbounds`, `GetLocality`).
//!
//! MeshExternalServices go through the ZoneEgress of `p` when the Mesh has
//! `routing.zoneEgress: true`: the cluster does Kuma mTLS to the egress (SNI of
//! the MeshExternalService, SAN `spiffe://<mesh>/zone-egress`) and the egress
//! originates TLS to the service.
//!
//! Endpoints that cannot be reached (no ingress for `z`, no egress in `p`, mTLS
//! off) are left out, with one finding per mesh and zone.

use std::collections::{BTreeMap, BTreeSet};

use super::outbounds::sni;
use super::{ClusterPlan, ClusterTls, San};
use crate::findings::{Finding, Location, ResourceId, Target, codes};
use crate::model::common::{SERVICE_TAG, StringMap};
use crate::model::mesh::Mesh;
use crate::model::meta::labels;
use crate::world::zone_proxies::Address;
use crate::world::{Endpoint, ServiceKind, World};

/// What the routing of one sidecar needs to know.
pub struct Context<'w, 'a> {
    pub world: &'w World<'a>,
    pub mesh_name: &'w str,
    pub mesh: &'w Mesh,
    /// The sidecar's zone (`None`: the unnamed zone of a single-zone input).
    pub zone: Option<&'w str>,
    /// Mesh mTLS is on.
    pub mtls: bool,
}

/// What is missing when endpoints are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Gap {
    /// No ZoneIngress for the zone of the endpoints.
    Ingress,
    /// No ZoneEgress in the zone of the proxy.
    Egress,
    /// Mesh mTLS is off (the zone is the endpoints').
    Mtls,
    /// Mesh mTLS is off, so MeshExternalServices cannot go through the egress
    /// (the zone is the proxy's).
    MtlsForEgress,
}

/// Route every cluster's endpoints of one sidecar across zones.
pub fn route(cx: &Context, clusters: &mut [ClusterPlan], findings: &mut Vec<Finding>) {
    let mut gaps: BTreeSet<(Gap, Option<String>)> = BTreeSet::new();
    for c in clusters.iter_mut() {
        c.zone_egress = cx.mesh.zone_egress_enabled();
        if c.destination.kind == ServiceKind::MeshExternalService {
            external(cx, c, &mut gaps);
        } else {
            internal(cx, c, &mut gaps);
        }
    }
    for (gap, zone) in gaps {
        findings.push(finding(cx, gap, zone.as_deref()));
    }
}

/// A MeshExternalService: through the egress of the proxy's zone when the mesh
/// says so, else untouched (the sidecar originates TLS itself).
fn external(cx: &Context, c: &mut ClusterPlan, gaps: &mut BTreeSet<(Gap, Option<String>)>) {
    if !cx.mesh.zone_egress_enabled() {
        return;
    }
    let zone = cx.zone.map(str::to_string);
    if !cx.mtls {
        c.endpoints.clear();
        gaps.insert((Gap::MtlsForEgress, zone));
        return;
    }
    let egresses = cx.world.zone_proxies.egresses(cx.zone);
    if egresses.is_empty() {
        c.endpoints.clear();
        gaps.insert((Gap::Egress, zone));
        return;
    }
    let service = cx.world.find_destination(cx.mesh_name, &c.destination);
    let port = service.and_then(|s| Some((s, s.port(c.destination.port)?)));
    let Some((service, port)) = port else { return };
    // Kuma's egress endpoints: weight 1 (the egress balances), the service's zone as locality.
    c.endpoints = egresses
        .iter()
        .map(|e| Endpoint {
            address: e.address.clone(),
            port: e.port,
            zone: service.zone.clone(),
            priority: 0,
            weight: 1,
            tags: StringMap::new(),
        })
        .collect();
    c.tls = ClusterTls::Mesh {
        sni: sni(service, port),
        sans: vec![San::Exact(super::zone_proxies::egress_identity(cx.mesh_name))],
    };
}

/// A mesh-internal service: remote endpoints through the zone proxies, and
/// Kuma's priorities of the baseline locality awareness.
fn internal(cx: &Context, c: &mut ClusterPlan, gaps: &mut BTreeSet<(Gap, Option<String>)>) {
    let Some(local) = cx.zone else { return };
    if !c.endpoints.iter().any(|e| is_remote(e, local)) {
        return;
    }
    let legacy = c.destination.kind == ServiceKind::Legacy;
    // Kuma: remote MeshService endpoints always get priority 1; legacy ones only
    // with the mesh's locality-aware load balancing.
    let priority = u32::from(!legacy || cx.mesh.locality_aware_load_balancing());
    let (mut endpoints, remote): (Vec<Endpoint>, Vec<Endpoint>) =
        std::mem::take(&mut c.endpoints).into_iter().partition(|e| !is_remote(e, local));
    // One group per zone (legacy: per zone and tag set), in a stable order.
    let mut groups: BTreeMap<(String, StringMap), u32> = BTreeMap::new();
    for e in remote {
        let zone = e.zone.clone().unwrap_or_default();
        let tags = if legacy {
            // Kuma's ingress lists each tag set with the zone tag its zone adds.
            let mut tags = e.tags;
            tags.entry(labels::ZONE.to_string()).or_insert_with(|| zone.clone());
            tags
        } else {
            StringMap::from([(SERVICE_TAG.to_string(), c.name.clone()), (labels::ZONE.to_string(), zone.clone())])
        };
        *groups.entry((zone, tags)).or_default() += 1;
    }
    for ((zone, tags), count) in groups {
        let Some(via) = via(cx, local, &zone, gaps) else { continue };
        endpoints.extend(via.iter().map(|a| Endpoint {
            address: a.address.clone(),
            port: a.port,
            zone: Some(zone.clone()),
            priority,
            weight: count,
            tags: tags.clone(),
        }));
    }
    endpoints.sort();
    c.endpoints = endpoints;
}

/// Where a sidecar in `local` sends traffic for endpoints in `zone`, or why it
/// cannot.
fn via<'w>(
    cx: &Context<'w, '_>,
    local: &str,
    zone: &str,
    gaps: &mut BTreeSet<(Gap, Option<String>)>,
) -> Option<&'w [Address]> {
    if !cx.mtls {
        gaps.insert((Gap::Mtls, Some(zone.to_string())));
        return None;
    }
    let proxies = &cx.world.zone_proxies;
    // The egress hands the traffic to the ingress of `zone`: both must exist.
    if proxies.ingresses(zone).is_empty() {
        gaps.insert((Gap::Ingress, Some(zone.to_string())));
        return None;
    }
    if !cx.mesh.zone_egress_enabled() {
        return Some(proxies.ingresses(zone));
    }
    let egresses = proxies.egresses(Some(local));
    if egresses.is_empty() {
        gaps.insert((Gap::Egress, Some(local.to_string())));
        return None;
    }
    Some(egresses)
}

/// Whether an endpoint is in a named zone other than `local`.
fn is_remote(e: &Endpoint, local: &str) -> bool {
    e.zone.as_deref().is_some_and(|z| !z.is_empty() && z != local)
}

/// The finding for a gap: the same text for every proxy, so that [`dedup`]
/// keeps one per mesh and zone.
fn finding(cx: &Context, gap: Gap, zone: Option<&str>) -> Finding {
    let mesh = cx.mesh_name;
    let zone = zone.unwrap_or_default();
    let (code, message, pointer) = match gap {
        Gap::Ingress => (
            codes::ZONE_INGRESS_MISSING,
            format!(
                "mesh `{mesh}`: proxies of other zones get no endpoints in zone `{zone}`: no ZoneIngress of zone \
                 `{zone}` is in the input (cross-zone traffic enters a zone through its ingress); add a ZoneIngress \
                 with `zone: {zone}` and the `advertisedAddress`/`advertisedPort` other zones reach it at"
            ),
            None,
        ),
        Gap::Egress => (
            codes::ZONE_EGRESS_MISSING,
            format!(
                "mesh `{mesh}` sends cross-zone and external traffic through the zone egress \
                 (`routing.zoneEgress: true`), but zone `{zone}` has no ZoneEgress in the input: its proxies get no \
                 endpoints in other zones and none for MeshExternalServices; add a ZoneEgress with `zone: {zone}`"
            ),
            Some("/routing/zoneEgress"),
        ),
        Gap::Mtls => (
            codes::CROSS_ZONE_NEEDS_MTLS,
            format!(
                "mesh `{mesh}` has mTLS off, so proxies of other zones get no endpoints in zone `{zone}`: zone \
                 ingresses route by the mTLS SNI; enable `mtls` on the mesh"
            ),
            None,
        ),
        Gap::MtlsForEgress => (
            codes::CROSS_ZONE_NEEDS_MTLS,
            format!(
                "mesh `{mesh}` has mTLS off, so proxies of zone `{zone}` get no endpoints for MeshExternalServices: \
                 with `routing.zoneEgress: true` they go through the zone egress, which needs mTLS; enable `mtls` \
                 on the mesh or turn `routing.zoneEgress` off"
            ),
            Some("/routing/zoneEgress"),
        ),
    };
    let resource = cx.world.zone_proxies.mesh_resource(mesh);
    let location = match resource {
        Some(r) => match pointer {
            Some(p) => Location::pointer(r.meta.file, r.meta.doc, format!("{}{p}", r.meta.spec_pointer), Target::Value),
            None => Location::pointer(r.meta.file, r.meta.doc, r.meta.name_pointer.clone(), Target::Value),
        },
        None => Location::default(),
    };
    let id = resource.map(|r| r.meta.id()).unwrap_or_else(|| ResourceId {
        kind: "Mesh".into(),
        mesh: None,
        namespace: None,
        name: mesh.to_string(),
    });
    Finding::new(code, message, location).with_resource(id)
}

/// Keep one of the zone findings every proxy of a zone reports alike.
pub fn dedup(findings: &mut Vec<Finding>) {
    let zone_codes = [codes::ZONE_INGRESS_MISSING, codes::ZONE_EGRESS_MISSING, codes::CROSS_ZONE_NEEDS_MTLS];
    let mut seen: std::collections::HashSet<(&'static str, String)> = Default::default();
    findings.retain(|f| !zone_codes.contains(&f.code) || seen.insert((f.code.id, f.message.clone())));
}
