//! The zone proxies of the input, indexed once for every sidecar: where each
//! zone's ZoneIngress is reached from other zones and where each zone's
//! ZoneEgress listens (reference §6.7). Cross-zone endpoints are rewritten to
//! these addresses by [`crate::plan::zones`].

use std::collections::BTreeMap;

use crate::model::{Resource, Spec};

/// An address and port a sidecar connects to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Address {
    pub address: String,
    pub port: u32,
}

/// ZoneIngresses and ZoneEgresses by zone, and the Mesh resources (to point
/// findings at).
#[derive(Debug, Default)]
pub struct ZoneProxies<'a> {
    /// Zone -> the distinct addresses other zones reach its ingresses at.
    ingresses: BTreeMap<String, Vec<Address>>,
    /// Zone (`None`: the unnamed zone of a single-zone input) -> its egresses.
    egresses: BTreeMap<Option<String>, Vec<Address>>,
    /// Mesh name -> the Mesh resource of the input.
    meshes: BTreeMap<String, &'a Resource>,
    /// Every ZoneIngress and ZoneEgress, in input order (each gets its own config).
    resources: Vec<&'a Resource>,
}

/// The zone of a zone proxy: `spec.zone`, else its `kuma.io/zone` label.
pub fn zone_of(r: &Resource) -> Option<String> {
    let spec_zone = match &r.spec {
        Some(Spec::ZoneIngress(z)) => z.zone.as_deref(),
        Some(Spec::ZoneEgress(z)) => z.zone.as_deref(),
        _ => None,
    };
    spec_zone.filter(|z| !z.is_empty()).or(r.meta.zone()).map(str::to_string)
}

fn port(p: i64) -> Option<u32> {
    u32::try_from(p).ok().filter(|p| (1..=65535).contains(p))
}

impl<'a> ZoneProxies<'a> {
    pub fn build(resources: &'a [Resource]) -> Self {
        let mut out = ZoneProxies::default();
        for r in resources {
            match &r.spec {
                // Other zones use the advertised pair (Kuma skips an ingress
                // without one; meshc falls back to the listen address, see README).
                Some(Spec::ZoneIngress(zi)) => {
                    out.resources.push(r);
                    let Some(zone) = zone_of(r) else { continue };
                    let Some(port) = port(zi.public_port()) else { continue };
                    let address = zi.public_address();
                    if address.is_empty() {
                        continue;
                    }
                    out.ingresses.entry(zone).or_default().push(Address { address: address.to_string(), port });
                }
                Some(Spec::ZoneEgress(ze)) => {
                    out.resources.push(r);
                    let Some(port) = port(ze.port()) else { continue };
                    if ze.address().is_empty() {
                        continue;
                    }
                    let zone = zone_of(r);
                    out.egresses.entry(zone).or_default().push(Address { address: ze.address().to_string(), port });
                }
                Some(Spec::Mesh(_)) => {
                    out.meshes.insert(r.meta.name.clone(), r);
                }
                _ => {}
            }
        }
        // Several ingress instances behind one load balancer share an address:
        // one endpoint stands for all of them (Kuma's `ziInstances`).
        for list in out.ingresses.values_mut().chain(out.egresses.values_mut()) {
            list.sort();
            list.dedup();
        }
        out
    }

    /// Every ZoneIngress and ZoneEgress of the input, in input order.
    pub fn resources(&self) -> &[&'a Resource] {
        &self.resources
    }

    /// Where other zones reach the ingresses of `zone`.
    pub fn ingresses(&self, zone: &str) -> &[Address] {
        self.ingresses.get(zone).map_or(&[], Vec::as_slice)
    }

    /// The egresses of `zone`.
    pub fn egresses(&self, zone: Option<&str>) -> &[Address] {
        self.egresses.get(&zone.map(str::to_string)).map_or(&[], Vec::as_slice)
    }

    /// The Mesh resource named `mesh`, if the input has one.
    pub fn mesh_resource(&self, mesh: &str) -> Option<&'a Resource> {
        self.meshes.get(mesh).copied()
    }
}
