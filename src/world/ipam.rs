//! Deterministic VIP allocation (Kuma's IPAM, made reproducible).
//!
//! Kuma hands out addresses in store order, which is not a stable contract. meshc
//! keeps every valid `status.vips` address as written, then gives each service
//! still without a VIP the lowest free address of its kind's range, in
//! [`Service::key`] order. Like Kuma, the first address is the network address
//! itself (`241.0.0.0`). An address is never given twice, across all ranges (the
//! legacy `240.0.0.0/4` range contains the others).

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use super::service::{Service, ServiceKind};
use crate::findings::{Finding, Location, Target, codes};

/// The VIP range of each kind of service (Kuma's `ipam.*.cidr` and `dnsServer.CIDR`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cidrs {
    pub mesh_service: IpNet,
    pub mesh_external_service: IpNet,
    pub mesh_multi_zone_service: IpNet,
    /// `<service>.mesh` VIPs.
    pub legacy: IpNet,
}

impl Default for Cidrs {
    fn default() -> Self {
        let net = |s: &str| s.parse::<IpNet>().expect("valid built-in CIDR");
        Cidrs {
            mesh_service: net("241.0.0.0/8"),
            mesh_external_service: net("242.0.0.0/8"),
            mesh_multi_zone_service: net("243.0.0.0/8"),
            legacy: net("240.0.0.0/4"),
        }
    }
}

impl Cidrs {
    pub fn of(&self, kind: ServiceKind) -> IpNet {
        match kind {
            ServiceKind::MeshService => self.mesh_service,
            ServiceKind::MeshExternalService => self.mesh_external_service,
            ServiceKind::MeshMultiZoneService => self.mesh_multi_zone_service,
            ServiceKind::Legacy => self.legacy,
        }
    }
}

/// Give every service its VIPs.
pub fn assign(services: &mut [Service], cidrs: &Cidrs, findings: &mut Vec<Finding>) {
    let mut taken: BTreeSet<(String, IpAddr)> = BTreeSet::new();
    for s in services.iter_mut() {
        let mut kept = Vec::new();
        for vip in std::mem::take(&mut s.vips) {
            if taken.insert((s.mesh.clone(), vip)) {
                kept.push(vip);
            } else if let Some(r) = s.resource {
                let location = Location::pointer(r.meta.file, r.meta.doc, "/status/vips", Target::Value);
                let msg = format!("VIP {vip} of `status.vips` is already used by another service of this mesh");
                findings.push(Finding::new(codes::VIP_CONFLICT, msg, location).with_resource(r.meta.id()));
            }
        }
        s.vips = kept;
    }
    let mut cursors: std::collections::BTreeMap<(String, ServiceKind), u128> = Default::default();
    for s in services.iter_mut().filter(|s| s.vips.is_empty()) {
        let net = cidrs.of(s.kind);
        let cursor = cursors.entry((s.mesh.clone(), s.kind)).or_insert(0);
        match next_free(net, cursor, |ip| taken.contains(&(s.mesh.clone(), ip))) {
            Some(ip) => {
                taken.insert((s.mesh.clone(), ip));
                s.vips.push(ip);
            }
            None => {
                if let Some(r) = s.resource {
                    let location =
                        Location::pointer(r.meta.file, r.meta.doc, r.meta.name_pointer.clone(), Target::Value);
                    let msg = format!("no free VIP left in {net} for this {}", s.kind.name());
                    findings.push(Finding::new(codes::VIP_EXHAUSTED, msg, location).with_resource(r.meta.id()));
                }
            }
        }
    }
}

/// The lowest address of `net` at or after `*cursor` (an offset) that is not taken.
fn next_free(net: IpNet, cursor: &mut u128, taken: impl Fn(IpAddr) -> bool) -> Option<IpAddr> {
    let size: u128 = match net {
        IpNet::V4(n) => 1u128 << (32 - n.prefix_len()),
        IpNet::V6(n) => 1u128.checked_shl(u32::from(128 - n.prefix_len())).unwrap_or(u128::MAX),
    };
    while *cursor < size {
        let ip = match net {
            IpNet::V4(n) => IpAddr::from(std::net::Ipv4Addr::from(u32::from(n.network()) + *cursor as u32)),
            IpNet::V6(n) => IpAddr::from(std::net::Ipv6Addr::from(u128::from(n.network()) + *cursor)),
        };
        *cursor += 1;
        if !taken(ip) {
            return Some(ip);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_at_the_network_address_and_skips_taken() {
        let net: IpNet = "241.0.0.0/8".parse().unwrap();
        let mut cursor = 0;
        let taken = |ip: IpAddr| ip == "241.0.0.1".parse::<IpAddr>().unwrap();
        assert_eq!(next_free(net, &mut cursor, taken), Some("241.0.0.0".parse().unwrap()));
        assert_eq!(next_free(net, &mut cursor, taken), Some("241.0.0.2".parse().unwrap()));
    }

    #[test]
    fn exhausts() {
        let net: IpNet = "10.0.0.0/31".parse().unwrap();
        let mut cursor = 0;
        assert!(next_free(net, &mut cursor, |_| false).is_some());
        assert!(next_free(net, &mut cursor, |_| false).is_some());
        assert_eq!(next_free(net, &mut cursor, |_| false), None);
    }

    #[test]
    fn ipv6_ranges_work() {
        let net: IpNet = "fd00::/120".parse().unwrap();
        let mut cursor = 0;
        assert_eq!(next_free(net, &mut cursor, |_| false), Some("fd00::".parse().unwrap()));
    }
}
