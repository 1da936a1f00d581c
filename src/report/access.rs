//! Who may call whom: for every destination service and every client service,
//! what the RBAC of the destination's inbounds decides for the client's
//! proxies' identities ([`crate::envoy::policies::mesh_traffic_permission::Decider`],
//! read off the filter meshc writes).

use std::collections::HashMap;

use rayon::prelude::*;

use super::model::{Access, ProxyRow, ServiceRow, Verdict};
use crate::envoy::policies::mesh_traffic_permission::{Decider, Decision};
use crate::model::Kind;
use crate::rules::effective::Effective;
use crate::world::{ServiceKind, World};

/// What a ZoneEgress checks for a MeshExternalService: its permissions, and
/// whether clients pass when there is none.
pub type EgressCheck = (Vec<Effective>, bool);

/// The access matrix of a report's services and proxies. `egress`: for each
/// service, what the ZoneEgress checks when it is a MeshExternalService the mesh
/// reaches through one (with mTLS); other external services are not decided by
/// any proxy of the mesh.
pub fn matrix(
    world: &World,
    services: &[ServiceRow],
    proxies: &[ProxyRow],
    lists: &[Vec<usize>],
    confs: &[Effective],
    egress: &[Option<EgressCheck>],
) -> Access {
    let is_workload =
        |s: &ServiceRow| s.kind == ServiceKind::MeshService.name() || s.kind == ServiceKind::Legacy.name();
    let clients: Vec<usize> =
        (0..services.len()).filter(|&s| is_workload(&services[s]) && !services[s].proxies.is_empty()).collect();
    let destinations: Vec<usize> = (0..services.len()).collect();

    // Distinct identities (URI SAN lists) of each client's proxies.
    let mut identity_ids: HashMap<&[String], usize> = HashMap::new();
    let mut identities: Vec<&[String]> = Vec::new();
    let client_identities: Vec<Vec<usize>> = clients
        .iter()
        .map(|&c| {
            let mut ids: Vec<usize> = services[c]
                .proxies
                .iter()
                .map(|&p| {
                    let sans = proxies[p].identity.as_slice();
                    *identity_ids.entry(sans).or_insert_with(|| {
                        identities.push(sans);
                        identities.len() - 1
                    })
                })
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids
        })
        .collect();

    // Distinct permission confs ("classes") of each destination's backing inbounds.
    let mut class_ids: HashMap<(&str, Vec<usize>), usize> = HashMap::new();
    let mut classes: Vec<(&str, Vec<usize>)> = Vec::new();
    let mut dest_classes: Vec<Vec<usize>> = vec![Vec::new(); services.len()];
    for p in proxies {
        for place in &p.inbounds {
            let mtp: Vec<usize> = lists[place.policies]
                .iter()
                .copied()
                .filter(|&c| confs[c].kind == Kind::MeshTrafficPermission.name())
                .collect();
            let key = (p.mesh.as_str(), mtp);
            let class = *class_ids.entry(key.clone()).or_insert_with(|| {
                classes.push(key);
                classes.len() - 1
            });
            for &s in &place.backs {
                if !dest_classes[s].contains(&class) {
                    dest_classes[s].push(class);
                }
            }
        }
    }

    // One decision per class and identity, in parallel.
    let decisions: Vec<Vec<Decision>> = classes
        .par_iter()
        .map(|(mesh, class)| {
            let confs: Vec<Effective> = class.iter().map(|&c| confs[c].clone()).collect();
            let decider = Decider::new(mesh, &confs);
            identities.iter().map(|sans| decider.decide(sans)).collect()
        })
        .collect();

    // The egress's decisions, per external destination and identity.
    let egress_decisions: Vec<Option<Vec<Decision>>> = egress
        .par_iter()
        .zip(services)
        .map(|(check, s)| {
            let (permissions, allow_without_policy) = check.as_ref()?;
            let decider = Decider::egress(&s.mesh, permissions, *allow_without_policy);
            Some(identities.iter().map(|sans| decider.decide(sans)).collect())
        })
        .collect();

    let mut rows: Vec<String> = Vec::new();
    let mut row_ids: HashMap<String, usize> = HashMap::new();
    let row_of = destinations
        .iter()
        .map(|&d| {
            let dest = &services[d];
            let mtls = world.mesh(&dest.mesh).is_some_and(|m| m.mtls_enabled());
            let row: String = clients
                .iter()
                .zip(&client_identities)
                .map(|(&c, ids)| {
                    let verdict = if services[c].mesh != dest.mesh {
                        Verdict::Unknown
                    } else if let Some(decisions) = &egress_decisions[d] {
                        join(ids.iter().map(|&id| decisions[id]))
                    } else if dest.kind == ServiceKind::MeshExternalService.name() || dest_classes[d].is_empty() {
                        Verdict::Unknown
                    } else if !mtls {
                        Verdict::Open
                    } else {
                        cell(&dest_classes[d], ids, &decisions)
                    };
                    verdict.char()
                })
                .collect();
            let next = rows.len();
            let id = *row_ids.entry(row.clone()).or_insert(next);
            if id == next {
                rows.push(row);
            }
            id
        })
        .collect();
    Access {
        clients,
        destinations,
        rows,
        row_of,
        legend: Verdict::ALL.iter().map(|v| (v.char(), v.meaning())).collect(),
    }
}

/// The verdict over every backing inbound's class and every client identity.
fn cell(classes: &[usize], identities: &[usize], decisions: &[Vec<Decision>]) -> Verdict {
    join(classes.iter().flat_map(|&class| identities.iter().map(move |&id| decisions[class][id])))
}

/// One verdict for several decisions: theirs when they agree, else partial.
fn join(decisions: impl Iterator<Item = Decision>) -> Verdict {
    let mut verdict: Option<Verdict> = None;
    for d in decisions {
        let v = match d {
            Decision::Allow => Verdict::Allow,
            Decision::AllowShadowDenied => Verdict::Shadow,
            Decision::Deny => Verdict::Deny,
            Decision::DependsOnSni => Verdict::Partial,
        };
        verdict = Some(verdict.map_or(v, |w| w.join(v)));
    }
    verdict.unwrap_or(Verdict::Unknown)
}
