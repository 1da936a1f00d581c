//! The `world` stage: the resolved mesh. Which Dataplanes back which services,
//! their endpoints, VIPs (deterministic IPAM) and hostnames (HostnameGenerator
//! templates), computed once for every proxy to share.
//!
//! meshc plays the part of a Universal zone control plane that has just accepted
//! every resource of the input:
//! - a resource without `kuma.io/origin` is treated as `kuma.io/origin: zone`
//!   (the label a zone control plane adds when a resource is applied to it), and
//!   one without `kuma.io/env` gets the env of its form (`universal` or
//!   `kubernetes`), see [`effective_labels`];
//! - MeshServices are generated from `kuma.io/service` tags when the mesh's
//!   `meshServices.mode` is not `Disabled`, as a Universal zone does;
//! - Kuma's default HostnameGenerators of a Universal zone
//!   (`local-mesh-external-service`, `local-universal-mesh-service`) apply unless
//!   the input defines a generator of the same name.

mod endpoints;
pub mod hostnames;
pub mod ipam;
pub mod service;
pub mod zone_proxies;

use std::collections::BTreeMap;

use crate::findings::Finding;
use crate::model::common::StringMap;
use crate::model::mesh::{Mesh, MeshServicesMode};
use crate::model::meta::{Form, Meta, labels};
use crate::model::{Resource, Spec};
use crate::rules::select::Proxy;

pub use ipam::Cidrs;
pub use service::{Endpoint, Hostname, Protocol, Service, ServiceKind, ServicePort};

/// Settings of the resolved mesh that a control plane would take from its config.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub cidrs: Cidrs,
    /// Whether the `default` mesh exists without being in the input.
    pub default_mesh_exists: bool,
    /// Infer reachable services from MeshTrafficPermission (`--auto-reachable-services`).
    pub auto_reachable_services: bool,
}

/// The resolved mesh.
pub struct World<'a> {
    /// Every mesh by name (the `default` mesh included when assumed).
    pub meshes: BTreeMap<String, Mesh>,
    /// Every destination service, sorted by [`Service::key`].
    pub services: Vec<Service<'a>>,
    /// Every Dataplane of a known mesh that can be compiled, in input order.
    pub dataplanes: Vec<Proxy<'a>>,
    /// Problems found while resolving (hostname collisions, VIP conflicts...).
    pub findings: Vec<Finding>,
    /// ZoneIngresses and ZoneEgresses: each in input order (they belong to no
    /// mesh and get their own configs), and by zone (cross-zone endpoints go
    /// through them).
    pub zone_proxies: zone_proxies::ZoneProxies<'a>,
    /// The MeshTrafficPermission graph, with `auto_reachable_services`.
    pub reachable: Option<crate::rules::reachable::Graph>,
    /// (mesh, kind, namespace, name) -> position in `services`.
    by_key: std::collections::HashMap<(String, ServiceKind, Option<String>, String), usize>,
}

impl<'a> World<'a> {
    pub fn build(resources: &'a [Resource], opts: &Options) -> World<'a> {
        let mut meshes: BTreeMap<String, Mesh> = BTreeMap::new();
        if opts.default_mesh_exists {
            meshes.insert("default".into(), Mesh::default());
        }
        for r in resources {
            if let Some(Spec::Mesh(m)) = &r.spec {
                meshes.insert(r.meta.name.clone(), (**m).clone());
            }
        }
        let in_known_mesh = |r: &&Resource| r.meta.mesh.as_ref().is_some_and(|m| meshes.contains_key(m));
        let dataplanes: Vec<Proxy> = resources.iter().filter(in_known_mesh).filter_map(Proxy::of).collect();
        let mut findings = Vec::new();
        let mut services = Vec::new();
        let index = endpoints::DataplaneIndex::new(&dataplanes);
        for r in resources.iter().filter(in_known_mesh) {
            match &r.spec {
                Some(Spec::MeshService(ms)) => services.push(endpoints::mesh_service(r, ms, &dataplanes, &index)),
                Some(Spec::MeshExternalService(mes)) => services.push(endpoints::external_service(r, mes)),
                _ => {}
            }
        }
        for (name, mesh) in &meshes {
            let mode = mesh.mesh_services_mode();
            if mode != MeshServicesMode::Disabled {
                services.extend(endpoints::generated_mesh_services(name, &dataplanes, &services, &mut findings));
            }
            // Legacy endpoints exist in every mode (explicit outbounds may use them);
            // the mode only decides which VIP outbounds a transparent proxy gets.
            services.extend(endpoints::legacy_services(name, &dataplanes));
        }
        let multi_zone: Vec<Service> = resources
            .iter()
            .filter(in_known_mesh)
            .filter_map(|r| match &r.spec {
                Some(Spec::MeshMultiZoneService(mz)) => Some(endpoints::multi_zone_service(r, mz, &services)),
                _ => None,
            })
            .collect();
        services.extend(multi_zone);
        drop(index);
        services.sort_by(|a, b| a.key().cmp(&b.key()));
        let mut dataplanes = dataplanes;
        dataplanes.retain(|dp| listens_on_ips(dp, &mut findings));
        ipam::assign(&mut services, &opts.cidrs, &mut findings);
        hostnames::assign(&mut services, resources, &mut findings);
        let by_key = services
            .iter()
            .enumerate()
            .map(|(i, s)| ((s.mesh.clone(), s.kind, s.namespace.clone(), s.name.clone()), i))
            .collect();
        let zone_proxies = zone_proxies::ZoneProxies::build(resources);
        let reachable = opts
            .auto_reachable_services
            .then(|| crate::rules::reachable::Graph::build(resources, &services, &dataplanes));
        World { meshes, services, dataplanes, findings, zone_proxies, reachable, by_key }
    }

    pub fn mesh(&self, name: &str) -> Option<&Mesh> {
        self.meshes.get(name)
    }

    /// A service by kind and name (and namespace, for Kubernetes resources).
    pub fn find(&self, mesh: &str, kind: ServiceKind, name: &str, namespace: Option<&str>) -> Option<&Service<'a>> {
        self.position(mesh, kind, name, namespace).map(|i| &self.services[i])
    }

    /// Where a service is in [`World::services`].
    pub fn position(&self, mesh: &str, kind: ServiceKind, name: &str, namespace: Option<&str>) -> Option<usize> {
        let key = (mesh.to_string(), kind, namespace.map(str::to_string), name.to_string());
        self.by_key.get(&key).copied()
    }
}

/// The labels a resource carries once a Universal zone control plane has accepted
/// it: its own, plus `kuma.io/origin: zone` and `kuma.io/env` (by form) when absent.
pub fn effective_labels(meta: &Meta) -> StringMap {
    let mut out = meta.labels.clone();
    out.entry(labels::ORIGIN.to_string()).or_insert_with(|| "zone".to_string());
    let env = match meta.form {
        Form::Kubernetes => "kubernetes",
        Form::Universal => "universal",
    };
    out.entry(labels::ENV.to_string()).or_insert_with(|| env.to_string());
    out
}

/// A sidecar must listen on IP addresses: a Dataplane whose address (or an
/// inbound's) is a DNS name still backs its services (by name), but gets no
/// config of its own (MESH5008).
fn listens_on_ips(dp: &Proxy, findings: &mut Vec<Finding>) -> bool {
    let Some(net) = dp.spec.networking() else { return true };
    let is_ip = |a: &str| a.parse::<std::net::IpAddr>().is_ok();
    let bad = std::iter::once(net.address.as_deref().unwrap_or_default())
        .chain(net.inbound.iter().filter_map(|i| i.address.as_deref()))
        .find(|a| !a.is_empty() && !is_ip(a));
    let Some(bad) = bad else { return true };
    let meta = &dp.resource.meta;
    let location = crate::findings::Location::pointer(
        meta.file,
        meta.doc,
        format!("{}/networking/address", meta.spec_pointer),
        crate::findings::Target::Value,
    );
    let msg = format!(
        "`{bad}` is a DNS name: Kuma resolves it when the proxy connects, but offline there is nothing to \
         resolve and Envoy listens on IP addresses, so this proxy is not compiled (its services still reach it)"
    );
    findings.push(Finding::new(crate::findings::codes::PROXY_ADDRESS_NOT_IP, msg, location).with_resource(meta.id()));
    false
}

/// Whether `have` holds every pair of `want` (an absent or empty selector matches all).
pub fn labels_match(have: &StringMap, want: Option<&StringMap>) -> bool {
    want.is_none_or(|w| w.iter().all(|(k, v)| have.get(k) == Some(v)))
}

impl<'a> World<'a> {
    /// The service an outbound plan of a proxy in `mesh` points at.
    pub fn find_destination(&self, mesh: &str, d: &crate::plan::Destination) -> Option<&Service<'a>> {
        self.find(mesh, d.kind, &d.name, d.namespace.as_deref())
    }
}
