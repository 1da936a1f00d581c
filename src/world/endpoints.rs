//! Services from resources, and the endpoints behind them (Kuma's
//! `fillLocalMeshServices`, `fillMeshMultiZoneServices`, the MeshService
//! generator of a Universal zone, and legacy `kuma.io/service` endpoints).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::service::{Endpoint, Protocol, Service, ServiceKind, ServicePort};
use super::{effective_labels, labels_match};
use crate::findings::{Finding, Location, Target, codes};
use crate::model::Resource;
use crate::model::common::{IntOrString, StringMap, is_dns1035_label};
use crate::model::dataplane::{Inbound, InboundState, Networking};
use crate::model::mesh_external_service::MeshExternalService;
use crate::model::mesh_multi_zone_service::MeshMultiZoneService;
use crate::model::mesh_service::{IdentityType, MeshService};
use crate::model::meta::labels;
use crate::rules::select::{Proxy, tags_match};

/// The port of every legacy `<service>.mesh` outbound (Kuma's `serviceVipPort`).
pub const LEGACY_VIP_PORT: u32 = 80;

/// Kuma's healthy inbound: not NotReady or Ignored, and `health.ready` not false.
pub fn is_healthy(inbound: &Inbound) -> bool {
    let state_ok = !inbound.state.as_ref().is_some_and(|s| s.is(InboundState::NotReady) || s.is(InboundState::Ignored));
    state_ok && inbound.health.as_ref().and_then(|h| h.ready) != Some(false)
}

fn endpoint_of(dp: &Proxy, networking: &Networking, inbound: &Inbound) -> Option<Endpoint> {
    let address = inbound.dataplane_address(networking);
    let port = u32::try_from(inbound.port?).ok()?;
    Some(Endpoint {
        address: address.to_string(),
        port,
        zone: dp.resource.meta.zone().map(str::to_string),
        priority: 0,
        weight: 1,
        tags: inbound.tags.clone(),
    })
}

fn base<'a>(r: &'a Resource, kind: ServiceKind) -> Service<'a> {
    Service {
        kind,
        mesh: r.meta.mesh.clone().unwrap_or_default(),
        name: r.meta.name.clone(),
        display_name: r.meta.display_name().to_string(),
        namespace: r.meta.namespace.clone(),
        zone: r.meta.zone().map(str::to_string),
        labels: effective_labels(&r.meta),
        generated: false,
        ports: Vec::new(),
        vips: status_vips(r),
        hostnames: Vec::new(),
        identities: Vec::new(),
        resource: Some(r),
    }
}

/// `status.vips[].ip` as written (checked by IPAM).
fn status_vips(r: &Resource) -> Vec<IpAddr> {
    let Some(vips) = r.status.as_ref().and_then(|s| s.get("vips")).and_then(|v| v.as_array()) else {
        return Vec::new();
    };
    vips.iter().filter_map(|v| v.get("ip")?.as_str()?.parse().ok()).collect()
}

fn same_zone(a: Option<&str>, b: Option<&str>) -> bool {
    a == b
}

/// A MeshService written in the input, with the endpoints of the Dataplanes it selects.
pub fn mesh_service<'a>(r: &'a Resource, ms: &MeshService, dataplanes: &[Proxy]) -> Service<'a> {
    let mut s = base(r, ServiceKind::MeshService);
    let sel = ms.selector.as_ref();
    let tags = sel.and_then(|s| s.dataplane_tags.as_ref());
    let dp_name = sel.and_then(|s| s.dataplane_ref.as_ref()).and_then(|d| d.name.as_deref());
    let dp_labels = sel.and_then(|s| s.dataplane_labels.as_ref()).and_then(|l| l.match_labels.as_ref());
    // Remote MeshServices (synced from another zone) are reached through that zone's
    // ingress; only local ones get Dataplane endpoints.
    let local = matches!(r.meta.origin(), None | Some("zone"));
    let selected: Vec<&Proxy> = dataplanes
        .iter()
        .filter(|dp| local && dp.resource.meta.mesh == r.meta.mesh)
        .filter(|dp| same_zone(dp.resource.meta.zone(), r.meta.zone()))
        .filter(|dp| !dp.spec.is_gateway())
        .filter(|dp| match (tags, dp_name, dp_labels) {
            (Some(t), _, _) => dp.spec.inbounds().iter().any(|i| tags_match(&i.tags, t)),
            (None, Some(name), _) => {
                dp.resource.meta.name == name && dp.resource.meta.namespace == r.meta.namespace
                    || dp.resource.meta.core_name() == name
            }
            (None, None, Some(l)) => labels_match(&dp.resource.meta.labels, Some(l)),
            _ => false,
        })
        .collect();
    let mut identities = BTreeSet::new();
    for port in ms.ports.as_deref().unwrap_or_default() {
        let Some(number) = port.port.and_then(|p| u32::try_from(p).ok()) else { continue };
        let mut endpoints = Vec::new();
        for dp in &selected {
            let Some(net) = dp.spec.networking() else { continue };
            for inbound in net.inbounds().iter().filter(|i| is_healthy(i)) {
                if tags.is_some_and(|t| !tags_match(&inbound.tags, t)) {
                    continue;
                }
                let target_matches = match &port.target_port {
                    Some(IntOrString::Int(n)) => inbound.port == Some(*n),
                    Some(IntOrString::String(name)) => inbound.name.as_deref() == Some(name.as_str()),
                    None => false,
                };
                if target_matches && let Some(e) = endpoint_of(dp, net, inbound) {
                    if let Some(svc) = inbound.service() {
                        identities.insert(format!("spiffe://{}/{svc}", s.mesh));
                    }
                    endpoints.push(e);
                }
            }
        }
        endpoints.sort();
        s.ports.push(ServicePort {
            port: number,
            name: port.name.clone().filter(|n| !n.is_empty()),
            protocol: Protocol::parse(&port.app_protocol),
            endpoints,
        });
    }
    s.identities = match ms.identities.as_deref() {
        Some(ids) if !ids.is_empty() => ids
            .iter()
            .filter_map(|id| {
                let value = id.value.as_deref()?;
                match id.type_.as_ref().and_then(|t| t.known()) {
                    Some(IdentityType::ServiceTag) => Some(format!("spiffe://{}/{value}", s.mesh)),
                    Some(IdentityType::SpiffeId) => Some(value.to_string()),
                    None => None,
                }
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        _ => identities.into_iter().collect(),
    };
    s
}

/// MeshServices a Universal zone generates, one per `kuma.io/service` value of the
/// mesh's Universal Dataplanes that has no MeshService of that name yet.
pub fn generated_mesh_services<'a>(
    mesh: &str,
    dataplanes: &[Proxy<'a>],
    existing: &[Service],
    findings: &mut Vec<Finding>,
) -> Vec<Service<'a>> {
    let taken: BTreeSet<&str> = existing
        .iter()
        .filter(|s| s.mesh == mesh && s.kind == ServiceKind::MeshService && s.namespace.is_none())
        .map(|s| s.name.as_str())
        .collect();
    // service name -> port -> (port name, protocol, endpoints, zone)
    let mut by_service: BTreeMap<String, BTreeMap<u32, ServicePort>> = BTreeMap::new();
    let mut zones: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    for dp in dataplanes.iter().filter(|dp| dp.resource.meta.mesh.as_deref() == Some(mesh)) {
        if dp.resource.meta.namespace.is_some() || dp.spec.is_gateway() {
            continue;
        }
        let Some(net) = dp.spec.networking() else { continue };
        for inbound in net.inbounds().iter().filter(|i| !i.is_ignored()) {
            let Some(svc) = inbound.service() else { continue };
            if taken.contains(svc) {
                continue;
            }
            if !is_dns1035_label(svc) {
                if reported.insert(svc.to_string()) {
                    let location = Location::pointer(
                        dp.resource.meta.file,
                        dp.resource.meta.doc,
                        format!("{}/networking/inbound", dp.resource.meta.spec_pointer),
                        Target::Value,
                    );
                    let msg = format!(
                        "no MeshService is generated for `kuma.io/service: {svc}`: it is not a valid MeshService \
                         name (an RFC 1035 label); only the legacy `{svc}.mesh` outbound reaches it"
                    );
                    findings.push(
                        Finding::new(codes::SERVICE_NOT_GENERATED, msg, location).with_resource(dp.resource.meta.id()),
                    );
                }
                continue;
            }
            let Some(port) = inbound.port.and_then(|p| u32::try_from(p).ok()) else { continue };
            zones.entry(svc.to_string()).or_insert_with(|| dp.resource.meta.zone().map(str::to_string));
            let entry = by_service.entry(svc.to_string()).or_default().entry(port).or_insert_with(|| ServicePort {
                port,
                name: inbound.name.clone().filter(|n| !n.is_empty()),
                protocol: Protocol::parse(inbound.protocol()),
                endpoints: Vec::new(),
            });
            if is_healthy(inbound)
                && let Some(e) = endpoint_of(dp, net, inbound)
            {
                entry.endpoints.push(e);
            }
        }
    }
    by_service
        .into_iter()
        .map(|(name, ports)| {
            let mut labels = StringMap::new();
            labels.insert(labels::ORIGIN.into(), "zone".into());
            labels.insert(labels::ENV.into(), "universal".into());
            labels.insert("kuma.io/managed-by".into(), "meshservice-generator".into());
            let zone = zones.get(&name).cloned().flatten();
            if let Some(z) = &zone {
                labels.insert(labels::ZONE.into(), z.clone());
            }
            let ports = ports
                .into_values()
                .map(|mut p| {
                    p.endpoints.sort();
                    p
                })
                .collect();
            Service {
                kind: ServiceKind::MeshService,
                mesh: mesh.to_string(),
                identities: vec![format!("spiffe://{mesh}/{name}")],
                display_name: name.clone(),
                name,
                namespace: None,
                zone,
                labels,
                generated: true,
                ports,
                vips: Vec::new(),
                hostnames: Vec::new(),
                resource: None,
            }
        })
        .collect()
}

/// Legacy `kuma.io/service` services of a mesh: one per tag value, on port 80 of
/// a VIP from the `.mesh` DNS range, with every healthy inbound as an endpoint.
pub fn legacy_services<'a>(mesh: &str, dataplanes: &[Proxy<'a>]) -> Vec<Service<'a>> {
    let mut by_service: BTreeMap<String, (Vec<Endpoint>, BTreeSet<Protocol>)> = BTreeMap::new();
    for dp in dataplanes.iter().filter(|dp| dp.resource.meta.mesh.as_deref() == Some(mesh)) {
        let Some(net) = dp.spec.networking() else { continue };
        for inbound in net.inbounds().iter().filter(|i| !i.is_ignored()) {
            let Some(svc) = inbound.service() else { continue };
            let entry = by_service.entry(svc.to_string()).or_default();
            entry.1.insert(Protocol::parse(inbound.protocol()));
            if is_healthy(inbound)
                && let Some(e) = endpoint_of(dp, net, inbound)
            {
                entry.0.push(e);
            }
        }
    }
    by_service
        .into_iter()
        .map(|(name, (mut endpoints, protocols))| {
            endpoints.sort();
            // Kuma's protocol of a service: the one all its inbounds agree on, else TCP.
            let protocol =
                if protocols.len() == 1 { *protocols.first().unwrap_or(&Protocol::Tcp) } else { Protocol::Tcp };
            Service {
                kind: ServiceKind::Legacy,
                mesh: mesh.to_string(),
                identities: vec![format!("spiffe://{mesh}/{name}")],
                display_name: name.clone(),
                hostnames: vec![format!("{name}.mesh")],
                name,
                namespace: None,
                zone: None,
                labels: StringMap::new(),
                generated: true,
                ports: vec![ServicePort { port: LEGACY_VIP_PORT, name: None, protocol, endpoints }],
                vips: Vec::new(),
                resource: None,
            }
        })
        .collect()
}

/// A MeshExternalService: one port (`match`), its endpoints as written.
pub fn external_service<'a>(r: &'a Resource, mes: &MeshExternalService) -> Service<'a> {
    let mut s = base(r, ServiceKind::MeshExternalService);
    let Some(m) = &mes.match_ else { return s };
    let Some(port) = m.port.and_then(|p| u32::try_from(p).ok()) else { return s };
    let protocol = Protocol::parse(&m.protocol.raw());
    let endpoints = mes
        .endpoints
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            Some(Endpoint {
                address: e.address.clone()?,
                port: u32::try_from(e.port?).ok()?,
                zone: None,
                priority: e.priority.and_then(|p| u32::try_from(p).ok()).unwrap_or(0),
                weight: 1,
                tags: StringMap::new(),
            })
        })
        .collect();
    s.ports.push(ServicePort { port, name: None, protocol, endpoints });
    s
}

/// A MeshMultiZoneService: for each of its ports, the endpoints of every matched
/// MeshService port with the same number (Kuma merges by port number).
pub fn multi_zone_service<'a>(r: &'a Resource, mz: &MeshMultiZoneService, services: &[Service]) -> Service<'a> {
    let mut s = base(r, ServiceKind::MeshMultiZoneService);
    let want = mz.selector.as_ref().and_then(|s| s.mesh_service.as_ref()).and_then(|m| m.match_labels.as_ref());
    let Some(want) = want.filter(|w| !w.is_empty()) else { return s };
    let matched: Vec<&Service> = services
        .iter()
        .filter(|ms| ms.kind == ServiceKind::MeshService && ms.mesh == s.mesh && labels_match(&ms.labels, Some(want)))
        .collect();
    let mut identities = BTreeSet::new();
    for port in mz.ports.as_deref().unwrap_or_default() {
        let Some(number) = port.port.and_then(|p| u32::try_from(p).ok()) else { continue };
        let mut endpoints: Vec<Endpoint> = Vec::new();
        for ms in &matched {
            if let Some(p) = ms.port(number) {
                endpoints.extend(p.endpoints.iter().cloned());
                identities.extend(ms.identities.iter().cloned());
            }
        }
        endpoints.sort();
        endpoints.dedup();
        s.ports.push(ServicePort {
            port: number,
            name: port.name.clone().filter(|n| !n.is_empty()),
            protocol: Protocol::parse(&port.app_protocol),
            endpoints,
        });
    }
    s.identities = identities.into_iter().collect();
    s
}
