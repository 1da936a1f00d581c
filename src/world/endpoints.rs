//! Services from resources, and the endpoints behind them (Kuma's
//! `fillLocalMeshServices`, `fillMeshMultiZoneServices`, the MeshService
//! generator of a Universal zone, and legacy `kuma.io/service` endpoints).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::service::{Endpoint, Hostname, Protocol, Service, ServiceKind, ServicePort};
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

/// An inbound as others reach it (Kuma's `ToInboundInterface`): the Dataplane's
/// `advertisedAddress` when set (behind NAT), else the inbound's address, else the
/// Dataplane's; the zone of the inbound's `kuma.io/zone` tag, else of the Dataplane.
fn endpoint_of(dp: &Proxy, networking: &Networking, inbound: &Inbound) -> Option<Endpoint> {
    let address = networking
        .advertised_address
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| inbound.dataplane_address(networking));
    let port = u32::try_from(inbound.port?).ok()?;
    let zone = inbound.tags.get(labels::ZONE).map(String::as_str).or(dp.resource.meta.zone());
    Some(Endpoint {
        address: address.to_string(),
        port,
        zone: zone.map(str::to_string),
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

/// A MeshService with a `kuma.io/zone` label takes no Dataplane labelled with
/// another zone; otherwise zones do not filter (Kuma's `fillLocalMeshServices`).
fn zone_compatible(service: Option<&str>, dataplane: Option<&str>) -> bool {
    match (service, dataplane) {
        (Some(s), Some(d)) => s == d,
        _ => true,
    }
}

/// Dataplanes by (mesh, inbound tag, value) and by (mesh, name), so that a
/// MeshService looks only at the Dataplanes that can match it (as Kuma's
/// `indexDpsForMatching` does): selection stays linear in a large mesh.
pub struct DataplaneIndex<'a> {
    by_tag: std::collections::HashMap<(&'a str, &'a str, &'a str), Vec<usize>>,
    by_name: std::collections::HashMap<(&'a str, &'a str), Vec<usize>>,
}

impl<'a> DataplaneIndex<'a> {
    pub fn new(dataplanes: &[Proxy<'a>]) -> Self {
        let mut index = DataplaneIndex { by_tag: Default::default(), by_name: Default::default() };
        for (i, dp) in dataplanes.iter().enumerate() {
            let mesh = dp.resource.meta.mesh.as_deref().unwrap_or_default();
            index.by_name.entry((mesh, dp.resource.meta.name.as_str())).or_default().push(i);
            for inbound in dp.spec.inbounds() {
                for (k, v) in &inbound.tags {
                    let list = index.by_tag.entry((mesh, k.as_str(), v.as_str())).or_default();
                    if list.last() != Some(&i) {
                        list.push(i);
                    }
                }
            }
        }
        index
    }

    /// The Dataplanes a selector can match, in input order (`None`: all of them).
    fn candidates(&self, mesh: &'a str, tags: Option<&'a StringMap>, name: Option<&'a str>) -> Option<&[usize]> {
        const NONE: &[usize] = &[];
        if let Some(tags) = tags {
            let lists = tags.iter().map(|(k, v)| self.by_tag.get(&(mesh, k.as_str(), v.as_str())));
            return Some(lists.map(|l| l.map_or(NONE, Vec::as_slice)).min_by_key(|l| l.len()).unwrap_or(NONE));
        }
        name.map(|n| self.by_name.get(&(mesh, n)).map_or(NONE, Vec::as_slice))
    }
}

/// A MeshService written in the input, with the endpoints of the Dataplanes it selects.
pub fn mesh_service<'a>(
    r: &'a Resource,
    ms: &'a MeshService,
    dataplanes: &[Proxy<'a>],
    index: &DataplaneIndex<'a>,
) -> Service<'a> {
    let mut s = base(r, ServiceKind::MeshService);
    let sel = ms.selector.as_ref();
    let tags = sel.and_then(|s| s.dataplane_tags.as_ref());
    let dp_name = sel.and_then(|s| s.dataplane_ref.as_ref()).and_then(|d| d.name.as_deref());
    let dp_labels = sel.and_then(|s| s.dataplane_labels.as_ref()).and_then(|l| l.match_labels.as_ref());
    // The input is the global view: a MeshService labelled `kuma.io/zone: z` lives
    // in zone z and selects z's Dataplanes, whatever its origin (a zone control
    // plane's copy of a remote service says `kuma.io/origin: global`). Without a
    // zone label only a zone-origin service selects Dataplanes (one made on the
    // global control plane has none of its own).
    let local = r.meta.zone().is_some() || matches!(r.meta.origin(), None | Some("zone"));
    let mesh = r.meta.mesh.as_deref().unwrap_or_default();
    // A `dataplaneRef` by core name (`name.namespace`) is not in the name index.
    let by_name = dp_name.filter(|n| r.meta.namespace.is_none() || !n.contains('.'));
    let candidates: Box<dyn Iterator<Item = &Proxy>> = match index.candidates(mesh, tags, by_name) {
        Some(list) => Box::new(list.iter().map(|&i| &dataplanes[i])),
        None => Box::new(dataplanes.iter()),
    };
    let selected: Vec<&Proxy> = candidates
        .filter(|dp| local && dp.resource.meta.mesh == r.meta.mesh)
        .filter(|dp| zone_compatible(r.meta.zone(), dp.resource.meta.zone()))
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
            // Every healthy inbound of a selected Dataplane whose port is the target,
            // whatever its own tags (as Kuma does).
            for inbound in net.inbounds().iter().filter(|i| is_healthy(i)) {
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

/// MeshServices a Universal zone generates (Kuma's `meshservice/generate`): one
/// per (zone, `kuma.io/service` value) of the mesh's Universal sidecars that has
/// no MeshService of that name yet. Its ports are those of the first Dataplane by
/// name (port = targetPort = the inbound port); a Dataplane whose inbounds for the
/// service disagree is reported, and its matching ports still become endpoints.
pub fn generated_mesh_services<'a>(
    mesh: &str,
    dataplanes: &[Proxy<'a>],
    existing: &[Service],
    findings: &mut Vec<Finding>,
) -> Vec<Service<'a>> {
    // A written MeshService stands for the one a zone generates for a service
    // when it has its name, or (the global view: zone services synced to global
    // carry `kuma.io/display-name`) its display name in the same zone.
    let taken: BTreeSet<(&str, Option<&str>)> = existing
        .iter()
        .filter(|s| s.mesh == mesh && s.kind == ServiceKind::MeshService && s.namespace.is_none())
        .flat_map(|s| [(s.name.as_str(), None), (s.display_name.as_str(), s.zone.as_deref())])
        .collect();
    let mut sorted: Vec<&Proxy> = dataplanes
        .iter()
        .filter(|dp| dp.resource.meta.mesh.as_deref() == Some(mesh))
        .filter(|dp| dp.resource.meta.form == crate::model::meta::Form::Universal && !dp.spec.is_gateway())
        .collect();
    sorted.sort_by(|a, b| a.resource.meta.name.cmp(&b.resource.meta.name));
    // (zone, service) -> the Dataplanes providing it, in name order
    let mut groups: BTreeMap<(Option<String>, String), Vec<&Proxy>> = BTreeMap::new();
    let mut reported = BTreeSet::new();
    for dp in sorted {
        let Some(net) = dp.spec.networking() else { continue };
        let services: BTreeSet<&str> =
            net.inbounds().iter().filter(|i| !i.is_ignored()).filter_map(Inbound::service).collect();
        let zone = dp.resource.meta.zone();
        for svc in services {
            if taken.contains(&(svc, None)) || zone.is_some() && taken.contains(&(svc, zone)) {
                continue;
            }
            if !is_dns1035_label(svc) {
                if reported.insert(svc.to_string()) {
                    findings.push(dataplane_finding(
                        dp,
                        codes::SERVICE_NOT_GENERATED,
                        format!(
                            "no MeshService is generated for `kuma.io/service: {svc}`: it is not a valid MeshService \
                         name (an RFC 1035 label); only the legacy `{svc}.mesh` outbound reaches it"
                        ),
                    ));
                }
                continue;
            }
            let zone = dp.resource.meta.zone().map(str::to_string);
            groups.entry((zone, svc.to_string())).or_default().push(dp);
        }
    }
    groups.into_iter().map(|((zone, name), dps)| generated_service(mesh, zone, name, &dps, findings)).collect()
}

fn service_ports(dp: &Proxy, service: &str) -> Vec<ServicePort> {
    let mut ports: Vec<ServicePort> = dp
        .spec
        .inbounds()
        .iter()
        .filter(|i| !i.is_ignored() && i.service() == Some(service))
        .filter_map(|i| {
            Some(ServicePort {
                port: u32::try_from(i.port?).ok()?,
                name: i.name.clone().filter(|n| !n.is_empty()),
                protocol: Protocol::parse(i.protocol()),
                endpoints: Vec::new(),
            })
        })
        .collect();
    ports.sort_by_key(|p| p.port);
    ports.dedup_by_key(|p| p.port);
    ports
}

fn generated_service<'a>(
    mesh: &str,
    zone: Option<String>,
    name: String,
    dps: &[&Proxy<'a>],
    findings: &mut Vec<Finding>,
) -> Service<'a> {
    let mut ports = service_ports(dps[0], &name);
    for dp in &dps[1..] {
        let theirs = service_ports(dp, &name);
        let same = theirs.len() == ports.len()
            && theirs.iter().zip(&ports).all(|(a, b)| a.port == b.port && a.protocol == b.protocol);
        if !same {
            findings.push(dataplane_finding(
                dp,
                codes::GENERATED_SERVICE_CONFLICT,
                format!(
                    "the inbounds of `kuma.io/service: {name}` differ from those of `{}`, which define the generated \
                 MeshService `{name}`: only the ports they share become endpoints",
                    dps[0].resource.meta.name
                ),
            ));
        }
    }
    for dp in dps {
        let Some(net) = dp.spec.networking() else { continue };
        for inbound in net.inbounds().iter().filter(|i| is_healthy(i) && i.service() == Some(name.as_str())) {
            let Some(e) = endpoint_of(dp, net, inbound) else { continue };
            if let Some(p) = ports.iter_mut().find(|p| p.port == e.port) {
                p.endpoints.push(e);
            }
        }
    }
    for p in &mut ports {
        p.endpoints.sort();
    }
    let mut labels = StringMap::new();
    labels.insert(labels::ORIGIN.into(), "zone".into());
    labels.insert(labels::ENV.into(), "universal".into());
    labels.insert("kuma.io/managed-by".into(), "meshservice-generator".into());
    if let Some(z) = &zone {
        labels.insert(labels::ZONE.into(), z.clone());
    }
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
}

fn dataplane_finding(dp: &Proxy, code: crate::findings::Code, message: String) -> Finding {
    let meta = &dp.resource.meta;
    let location =
        Location::pointer(meta.file, meta.doc, format!("{}/networking/inbound", meta.spec_pointer), Target::Value);
    Finding::new(code, message, location).with_resource(meta.id())
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
            if is_healthy(inbound)
                && let Some(e) = endpoint_of(dp, net, inbound)
            {
                entry.1.insert(Protocol::parse(inbound.protocol()));
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
                hostnames: vec![Hostname::everywhere(format!("{name}.mesh"))],
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

/// A MeshExternalService: one port (`match`), its endpoints as written (IPs,
/// hostnames and `unix://` sockets, each with its `priority`).
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
            let address = e.address.clone()?;
            // A unix socket (`unix:///path`, the docs' form) has no port.
            let port = match e.port {
                Some(p) => u32::try_from(p).ok()?,
                None if address.starts_with("unix://") => 0,
                None => return None,
            };
            Some(Endpoint {
                address,
                port,
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
