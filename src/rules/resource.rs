//! Outbound rules keyed by real resources: Kuma's `ResourceRules`
//! (`core/rules/outbound/resourcerules.go`, reference §3.6 item 2 and §3.7).
//!
//! Every `to[]` entry of the matched policies is resolved to the resources it
//! names (the Mesh, MeshServices and their ports, MeshExternalServices,
//! MeshMultiZoneServices, MeshHTTPRoutes). For each resource reached that way,
//! the entries relevant to it are merged in Kuma's order: a `to: Mesh` entry is
//! relevant to everything in the mesh, a service entry without `sectionName` to
//! every port of that service. A destination nobody names falls back to its
//! service, then to the mesh ([`ResourceRules::compute`]).
//!
//! Resolution reads [`Candidate`]s, not resources, so that the conformance
//! fixtures (resources as written) and the compiler's world (services as
//! resolved) feed the same code.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::model::choice::KumaEnum;
use crate::model::common::{StringMap, TargetRef, TargetRefKind};
use crate::model::meta::labels;
use crate::model::{Kind, Resource, Spec};
use crate::world::service::{Service, ServiceKind};

use super::Origin;
use super::merge::{self, Strategy};
use super::policy::{Policy, Section};
use super::sort::compare_to_entries;

/// A resource a `to[]` targetRef can resolve to.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Mesh, MeshService, MeshExternalService, MeshMultiZoneService or MeshHTTPRoute.
    pub kind: TargetRefKind,
    /// The mesh the resource belongs to (a Mesh: its own name).
    pub mesh: String,
    /// The display name.
    pub name: String,
    /// `k8s.kuma.io/namespace`.
    pub namespace: Option<String>,
    /// `kuma.io/zone`.
    pub zone: Option<String>,
    pub labels: StringMap,
    /// Ports a `sectionName` can narrow to: name (if any) and number.
    pub sections: Vec<(Option<String>, u32)>,
}

impl Candidate {
    /// The candidate a resource as written stands for (`None` for kinds a
    /// `to[]` entry cannot resolve to).
    pub fn of_resource(r: &Resource) -> Option<Candidate> {
        let meta = &r.meta;
        let kind = match meta.kind {
            Kind::Mesh => TargetRefKind::Mesh,
            Kind::MeshService => TargetRefKind::MeshService,
            Kind::MeshExternalService => TargetRefKind::MeshExternalService,
            Kind::MeshMultiZoneService => TargetRefKind::MeshMultiZoneService,
            Kind::MeshHTTPRoute => TargetRefKind::MeshHTTPRoute,
            _ => return None,
        };
        let port = |p: Option<i64>| p.and_then(|p| u32::try_from(p).ok());
        let sections = match &r.spec {
            Some(Spec::MeshService(s)) => {
                s.ports.iter().flatten().filter_map(|p| Some((p.name.clone(), port(p.port)?))).collect()
            }
            Some(Spec::MeshMultiZoneService(s)) => {
                s.ports.iter().flatten().filter_map(|p| Some((p.name.clone(), port(p.port)?))).collect()
            }
            _ => Vec::new(),
        };
        let mesh = match kind {
            TargetRefKind::Mesh => meta.name.clone(),
            _ => meta.mesh.clone().unwrap_or_default(),
        };
        Some(Candidate {
            kind,
            mesh,
            name: meta.display_name().to_string(),
            namespace: meta.label(labels::NAMESPACE).map(str::to_string).or_else(|| meta.namespace.clone()),
            zone: meta.zone().map(str::to_string),
            labels: meta.labels.clone(),
            sections,
        })
    }

    /// The candidate a service of the compiler's world stands for (`None` for
    /// legacy `kuma.io/service` services, which only the tag-subset rules reach).
    pub fn of_service(s: &Service) -> Option<Candidate> {
        let kind = target_kind(s.kind)?;
        let sections = match kind {
            TargetRefKind::MeshExternalService => Vec::new(),
            _ => s.ports.iter().map(|p| (p.name.clone(), p.port)).collect(),
        };
        Some(Candidate {
            kind,
            mesh: s.mesh.clone(),
            name: s.display_name.clone(),
            namespace: s.namespace.clone(),
            zone: s.zone.clone(),
            labels: s.labels.clone(),
            sections,
        })
    }

    /// The candidate a world service stands for in `candidates` (by identity).
    pub fn identity(&self) -> (TargetRefKind, &str, &str, &str, &str) {
        (
            self.kind,
            &self.mesh,
            self.zone.as_deref().unwrap_or_default(),
            self.namespace.as_deref().unwrap_or_default(),
            &self.name,
        )
    }

    /// The identity of this resource, or of one of its sections.
    pub fn key(&self, section: &str) -> ResourceKey {
        if self.kind == TargetRefKind::Mesh {
            // Meshes are global: their identity is the name alone.
            return ResourceKey { section: section.to_string(), ..ResourceKey::mesh(&self.name) };
        }
        ResourceKey {
            kind: self.kind,
            mesh: self.mesh.clone(),
            zone: self.zone.clone().unwrap_or_default(),
            namespace: self.namespace.clone().unwrap_or_default(),
            name: self.name.clone(),
            section: section.to_string(),
        }
    }

    /// The same resource as `other` (its key without section), without building keys.
    pub fn same_resource(&self, other: &Candidate) -> bool {
        self.kind == other.kind
            && self.name == other.name
            && (self.kind == TargetRefKind::Mesh
                || (self.mesh == other.mesh
                    && self.zone.as_deref().unwrap_or_default() == other.zone.as_deref().unwrap_or_default()
                    && self.namespace.as_deref().unwrap_or_default() == other.namespace.as_deref().unwrap_or_default()))
    }

    /// Kuma's section name of the port `section` designates (by name, or by
    /// number written as a string): the port's name, else its number.
    fn find_section(&self, section: &str) -> Option<String> {
        let named = self.sections.iter().find(|(name, _)| name.as_deref() == Some(section));
        let numbered = || self.sections.iter().find(|(_, port)| port.to_string() == section);
        named.or_else(numbered).map(|(name, port)| name.clone().unwrap_or_else(|| port.to_string()))
    }

    /// Kinds whose `sectionName` selects a port.
    fn has_ports(&self) -> bool {
        matches!(self.kind, TargetRefKind::MeshService | TargetRefKind::MeshMultiZoneService)
    }
}

/// The targetRef kind of a world service's kind (`None` for legacy
/// `kuma.io/service` services, which only the tag-subset rules reach).
pub fn target_kind(kind: ServiceKind) -> Option<TargetRefKind> {
    match kind {
        ServiceKind::MeshService => Some(TargetRefKind::MeshService),
        ServiceKind::MeshExternalService => Some(TargetRefKind::MeshExternalService),
        ServiceKind::MeshMultiZoneService => Some(TargetRefKind::MeshMultiZoneService),
        ServiceKind::Legacy => None,
    }
}

/// The candidates of a resolved world: its meshes, its services (MeshService,
/// MeshExternalService, MeshMultiZoneService as resolved, generated ones
/// included) and the MeshHTTPRoutes of the input.
pub fn world_candidates(world: &crate::world::World, resources: &[Resource]) -> Vec<Candidate> {
    let meshes = world.meshes.keys().map(|name| Candidate {
        kind: TargetRefKind::Mesh,
        mesh: name.clone(),
        name: name.clone(),
        namespace: None,
        zone: None,
        labels: StringMap::new(),
        sections: Vec::new(),
    });
    let services = world.services.iter().filter_map(Candidate::of_service);
    let routes = resources.iter().filter(|r| r.meta.kind == Kind::MeshHTTPRoute).filter_map(Candidate::of_resource);
    meshes.chain(services).chain(routes).collect()
}

/// Kuma's resource identifier (KRI) of a real resource, or of a section of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct ResourceKey {
    pub kind: TargetRefKind,
    /// Empty for a Mesh.
    pub mesh: String,
    pub zone: String,
    pub namespace: String,
    /// Display name (a Mesh: its name).
    pub name: String,
    /// A port's section name, or empty for the whole resource.
    pub section: String,
}

impl ResourceKey {
    /// The key of a Mesh.
    pub fn mesh(name: &str) -> ResourceKey {
        ResourceKey {
            kind: TargetRefKind::Mesh,
            mesh: String::new(),
            zone: String::new(),
            namespace: String::new(),
            name: name.to_string(),
            section: String::new(),
        }
    }

    /// `kri_<short>_<mesh>_<zone>_<namespace>_<name>_<section>`.
    pub fn kri(&self) -> String {
        let short = Kind::from_name(self.kind.name()).map_or("", Kind::short_name);
        format!("kri_{short}_{}_{}_{}_{}_{}", self.mesh, self.zone, self.namespace, self.name, self.section)
    }

    pub fn without_section(&self) -> ResourceKey {
        ResourceKey { section: String::new(), ..self.clone() }
    }
}

/// The merged conf of one resource (or section) and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct ResourceRule {
    pub key: ResourceKey,
    /// The merged conf: one per hostname group for MeshHTTPRoute, else one.
    pub confs: Vec<Value>,
    /// The `to[]` entries merged, in merge order, each once.
    pub origins: Vec<Origin>,
    /// MeshHTTPRoute: for each rule's `matches`, the entry that contributed it
    /// last (Kuma's `OriginByMatches`, keyed there by a hash of the matches).
    pub origin_by_matches: Vec<(Value, Origin)>,
}

/// Rules per real resource, for one policy kind.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ResourceRules {
    pub rules: BTreeMap<ResourceKey, ResourceRule>,
}

impl ResourceRules {
    /// The rule of a destination: its own, else (for a port) its service's, else
    /// (for a service) its mesh's (`ResourceRules.Compute`).
    pub fn compute(&self, key: &ResourceKey) -> Option<&ResourceRule> {
        if let Some(rule) = self.rules.get(key) {
            return Some(rule);
        }
        match key.kind {
            TargetRefKind::MeshService | TargetRefKind::MeshMultiZoneService if !key.section.is_empty() => {
                self.compute(&key.without_section())
            }
            TargetRefKind::MeshService | TargetRefKind::MeshMultiZoneService | TargetRefKind::MeshExternalService => {
                self.rules.get(&ResourceKey::mesh(&key.mesh))
            }
            _ => None,
        }
    }
}

/// The `to[]` entries of `policies` in Kuma's merge order (`outbound.Sort`):
/// least specific first. Stable, so within a policy a later entry wins.
pub fn sorted_entries(policies: &[Policy], matched: &[usize]) -> Vec<Origin> {
    let mut entries: Vec<Origin> = matched
        .iter()
        .flat_map(|&p| {
            policies[p].to.iter().map(move |item| Origin { policy: p, section: Section::To, index: item.index })
        })
        .collect();
    entries.sort_by(|a, b| compare_entries(policies, a, b));
    entries
}

fn compare_entries(policies: &[Policy], a: &Origin, b: &Origin) -> Ordering {
    let entry = |o: &Origin| {
        let p = &policies[o.policy];
        (p, &p.to[o.index].target_ref)
    };
    compare_to_entries(entry(a), entry(b))
}

/// One entry resolved to one resource (section).
struct Resolved {
    entry: Origin,
    candidate: usize,
    section: String,
}

/// Kuma's `BuildRules` for `to[]` entries: `policies` are the policies of one
/// kind matched by a proxy; those with a top-level MeshHTTPRoute are left out
/// (they use the tag-subset rules).
pub fn resource_rules(policies: &[Policy], matched: &[usize], candidates: &[Candidate]) -> ResourceRules {
    let entries: Vec<Origin> = sorted_entries(policies, matched)
        .into_iter()
        .filter(|o| policies[o.policy].top_kind() != TargetRefKind::MeshHTTPRoute)
        .collect();
    let resolved: Vec<Resolved> = entries
        .iter()
        .flat_map(|o| {
            let policy = &policies[o.policy];
            resolve(&policy.to[o.index].target_ref, policy, candidates)
                .into_iter()
                .map(|(candidate, section)| Resolved { entry: *o, candidate, section })
        })
        .collect();
    // Only the entries resolved to the same resource or to its mesh can be
    // relevant to a key: index them so that a mesh of many services stays linear.
    let mut keys: BTreeMap<ResourceKey, usize> = BTreeMap::new();
    let mut by_resource: BTreeMap<ResourceKey, Vec<usize>> = BTreeMap::new();
    let mut by_mesh: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, r) in resolved.iter().enumerate() {
        let c = &candidates[r.candidate];
        keys.entry(c.key(&r.section)).or_insert(r.candidate);
        by_resource.entry(c.key("")).or_default().push(i);
        if c.kind == TargetRefKind::Mesh {
            by_mesh.entry(c.name.as_str()).or_default().push(i);
        }
    }
    let mut out = ResourceRules::default();
    for (key, candidate) in keys {
        let other = &candidates[candidate];
        let mut near: Vec<usize> = by_resource.get(&key.without_section()).cloned().unwrap_or_default();
        if other.kind != TargetRefKind::Mesh {
            near.extend(by_mesh.get(other.mesh.as_str()).into_iter().flatten());
        }
        near.sort_unstable();
        near.dedup();
        let relevant: Vec<Origin> = near
            .into_iter()
            .map(|i| &resolved[i])
            .filter(|r| is_relevant(&candidates[r.candidate], &r.section, other, &key.section))
            .map(|r| r.entry)
            .collect();
        if let Some(rule) = build_rule(policies, key.clone(), &relevant) {
            out.rules.insert(key, rule);
        }
    }
    out
}

fn build_rule(policies: &[Policy], key: ResourceKey, relevant: &[Origin]) -> Option<ResourceRule> {
    let first = relevant.first()?;
    let confs: Vec<&Value> = relevant.iter().map(|o| &policies[o.policy].to[o.index].conf).collect();
    let strategy = Strategy::of(policies[first.policy].kind());
    let mut origins: Vec<Origin> = Vec::new();
    let mut origin_by_matches: Vec<(Value, Origin)> = Vec::new();
    for o in relevant {
        if origins.contains(o) {
            continue;
        }
        origins.push(*o);
        let conf = &policies[o.policy].to[o.index].conf;
        if policies[o.policy].kind() != Kind::MeshHTTPRoute {
            continue;
        }
        for rule in conf.get("rules").and_then(Value::as_array).into_iter().flatten() {
            let matches = rule.get("matches").cloned().unwrap_or(Value::Null);
            match origin_by_matches.iter_mut().find(|(m, _)| *m == matches) {
                Some(slot) => slot.1 = *o,
                None => origin_by_matches.push((matches, *o)),
            }
        }
    }
    Some(ResourceRule { key, confs: merge::merge(strategy, &confs), origins, origin_by_matches })
}

/// Where each `to[]` entry of every policy resolves. Resolution depends on the
/// policy and the resources, not on the proxy, so it is done once per input.
#[derive(Debug, Clone, Default)]
pub struct Targets {
    /// `[policy][to item]` -> (candidate, section) pairs.
    by_entry: Vec<Vec<Vec<(usize, String)>>>,
}

impl Targets {
    /// The (candidate, section) pairs a `to[]` entry resolves to.
    pub fn of(&self, o: &Origin) -> &[(usize, String)] {
        self.by_entry.get(o.policy).and_then(|items| items.get(o.index)).map_or(&[], Vec::as_slice)
    }
}

/// Resolve every `to[]` entry of `policies` against `candidates`.
pub fn resolve_targets(policies: &[Policy], candidates: &[Candidate]) -> Targets {
    let by_entry = policies
        .iter()
        .map(|policy| policy.to.iter().map(|item| resolve(&item.target_ref, policy, candidates)).collect())
        .collect();
    Targets { by_entry }
}

/// The rule of one destination (`dest`, port `section` or empty) from the
/// sorted `entries` (see [`sorted_entries`]) of the matched policies: what
/// [`resource_rules`] followed by [`ResourceRules::compute`] gives, computed
/// for that destination alone (a proxy reaches few of the resources the
/// policies name).
pub fn rule_for(
    policies: &[Policy],
    entries: &[Origin],
    targets: &Targets,
    candidates: &[Candidate],
    dest: &Candidate,
    section: &str,
) -> Option<ResourceRule> {
    let relevant: Vec<Origin> = entries
        .iter()
        .filter(|o| policies[o.policy].top_kind() != TargetRefKind::MeshHTTPRoute)
        .filter(|o| targets.of(o).iter().any(|(candidate, s)| is_relevant(&candidates[*candidate], s, dest, section)))
        .copied()
        .collect();
    build_rule(policies, dest.key(section), &relevant)
}

/// Kuma's `isRelevant`: does an entry resolved to `own` (section `own_section`)
/// configure `other` (section `section`)?
fn is_relevant(own: &Candidate, own_section: &str, other: &Candidate, section: &str) -> bool {
    match own.kind {
        TargetRefKind::Mesh if other.kind == TargetRefKind::Mesh => own.name == other.name,
        TargetRefKind::Mesh => own.name == other.mesh,
        TargetRefKind::MeshService | TargetRefKind::MeshMultiZoneService => {
            own.same_resource(other) && (own_section == section || (own_section.is_empty() && !section.is_empty()))
        }
        TargetRefKind::MeshExternalService | TargetRefKind::MeshHTTPRoute => own.same_resource(other),
        _ => false,
    }
}

/// The resources (index into `candidates`, section) a `to[]` targetRef names
/// (`resolve.TargetRef`, reference §3.7).
fn resolve(r: &TargetRef, policy: &Policy, candidates: &[Candidate]) -> Vec<(usize, String)> {
    let Some(kind) = r.kind() else { return Vec::new() };
    let meta = &policy.resource.meta;
    let policy_mesh = meta.mesh.as_deref().unwrap_or_default();
    let of_kind = || candidates.iter().enumerate().filter(move |(_, c)| c.kind == kind);
    if kind == TargetRefKind::Mesh {
        return of_kind().filter(|(_, c)| c.name == policy_mesh).map(|(i, _)| (i, String::new())).take(1).collect();
    }
    let section = r.section_name.as_deref().unwrap_or_default();
    let legacy = if kind == TargetRefKind::MeshService && section.is_empty() { parse_service(r.name()) } else { None };
    let selector: Option<StringMap> = match &legacy {
        Some((name, namespace, _)) => Some(StringMap::from([
            (labels::DISPLAY_NAME.to_string(), name.clone()),
            (labels::NAMESPACE.to_string(), namespace.clone()),
        ])),
        None => r.labels.clone().filter(|l| !l.is_empty()),
    };
    let found: Vec<(usize, &Candidate)> = match &selector {
        Some(want) => of_kind().filter(|(_, c)| want.iter().all(|(k, v)| c.labels.get(k) == Some(v))).collect(),
        None => {
            let namespace = r.namespace.as_deref().filter(|n| !n.is_empty()).or_else(|| meta.label(labels::NAMESPACE));
            let want = ResourceKey {
                kind,
                mesh: policy_mesh.to_string(),
                zone: meta.zone().unwrap_or_default().to_string(),
                namespace: namespace.unwrap_or_default().to_string(),
                name: r.name().to_string(),
                section: String::new(),
            };
            of_kind().filter(|(_, c)| c.key("") == want).take(1).collect()
        }
    };
    found
        .into_iter()
        .filter_map(|(i, c)| {
            if let Some((_, _, port)) = legacy {
                let implicit = c.sections.iter().find(|(_, p)| *p == port);
                let section = implicit.map(|(name, p)| name.clone().unwrap_or_else(|| p.to_string()));
                return Some((i, section.unwrap_or_default()));
            }
            if section.is_empty() || !c.has_ports() {
                return Some((i, String::new()));
            }
            c.find_section(section).map(|s| (i, s))
        })
        .collect()
}

/// Kuma's reserved port of a port-less `kuma.io/service` (`TCPPortReserved`).
const TCP_PORT_RESERVED: u32 = 49151;

/// A Kubernetes `kuma.io/service` value `name_namespace_svc_port` (or without
/// the port): name, namespace and port (`parseService`).
fn parse_service(service: &str) -> Option<(String, String, u32)> {
    let segments: Vec<&str> = service.split('_').collect();
    let port = match segments.len() {
        4 => segments[3].parse::<i32>().ok().and_then(|p| u32::try_from(p).ok())?,
        3 => TCP_PORT_RESERVED,
        _ => return None,
    };
    Some((segments[0].to_string(), segments[1].to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resources(yaml: &str) -> Vec<Resource> {
        crate::validate::run_texts(vec![("t.yaml".into(), yaml.into())], &Default::default()).resources
    }

    const WORLD: &str = "type: Mesh\nname: mesh-1\n---\n\
        type: MeshService\nname: backend\nmesh: mesh-1\nlabels: {team: a}\nspec:\n  selector: {dataplaneTags: {app: backend}}\n  ports:\n  - {port: 80, targetPort: 80, appProtocol: http, name: http-port}\n  - {port: 90, targetPort: 90}\n---\n\
        type: MeshService\nname: other\nmesh: mesh-1\nlabels: {team: a}\nspec:\n  selector: {dataplaneTags: {app: other}}\n  ports:\n  - {port: 80, targetPort: 80, appProtocol: http}\n";

    fn build(policies_yaml: &str) -> (Vec<Resource>, ResourceRules) {
        let rs = resources(&format!("{WORLD}---\n{policies_yaml}"));
        let candidates: Vec<Candidate> = rs.iter().filter_map(Candidate::of_resource).collect();
        let policies: Vec<Policy> = rs.iter().filter_map(Policy::of).collect();
        let all: Vec<usize> = (0..policies.len()).collect();
        let rules = resource_rules(&policies, &all, &candidates);
        // The per-destination computation agrees with the whole table and its fallbacks.
        let (entries, targets) = (sorted_entries(&policies, &all), resolve_targets(&policies, &candidates));
        for c in candidates.iter().filter(|c| c.kind != TargetRefKind::Mesh) {
            let sections = std::iter::once(String::new())
                .chain(c.sections.iter().map(|(n, p)| n.clone().unwrap_or_else(|| p.to_string())));
            for section in sections {
                let table = rules.compute(&c.key(&section)).map(|r| (r.confs.clone(), r.origins.clone()));
                let one =
                    rule_for(&policies, &entries, &targets, &candidates, c, &section).map(|r| (r.confs, r.origins));
                assert_eq!(table, one, "{} section {section:?}", c.name);
            }
        }
        (rs, rules)
    }

    fn ms(name: &str, section: &str) -> ResourceKey {
        ResourceKey {
            kind: TargetRefKind::MeshService,
            mesh: "mesh-1".into(),
            zone: String::new(),
            namespace: String::new(),
            name: name.into(),
            section: section.into(),
        }
    }

    #[test]
    fn kri_has_seven_segments() {
        assert_eq!(ResourceKey::mesh("mesh-1").kri(), "kri_m____mesh-1_");
        assert_eq!(ms("backend", "http-port").kri(), "kri_msvc_mesh-1___backend_http-port");
    }

    #[test]
    fn mesh_entry_is_merged_under_service_entries_and_sections_fall_back() {
        let (_, rules) = build(
            "type: MeshTimeout\nname: mt\nmesh: mesh-1\nspec:\n  to:\n\
             \x20 - {targetRef: {kind: Mesh}, default: {idleTimeout: 1s, connectionTimeout: 1s}}\n\
             \x20 - {targetRef: {kind: MeshService, name: backend, sectionName: \"90\"}, default: {idleTimeout: 2s}}\n\
             \x20 - {targetRef: {kind: MeshService, name: backend}, default: {connectionTimeout: 3s}}\n",
        );
        let kris: Vec<String> = rules.rules.keys().map(ResourceKey::kri).collect();
        assert_eq!(kris, ["kri_m____mesh-1_", "kri_msvc_mesh-1___backend_", "kri_msvc_mesh-1___backend_90"]);
        let section = rules.compute(&ms("backend", "90")).unwrap();
        assert_eq!(section.confs, [json!({"idleTimeout": "2s", "connectionTimeout": "3s"})]);
        let order: Vec<usize> = section.origins.iter().map(|o| o.index).collect();
        assert_eq!(order, [0, 2, 1], "Mesh, then MeshService, then MeshService with sectionName");
        let port = rules.compute(&ms("backend", "http-port")).unwrap();
        assert_eq!(port.key, ms("backend", ""), "an unnamed section falls back to the service");
        let other = rules.compute(&ms("other", "")).unwrap();
        assert_eq!(other.key, ResourceKey::mesh("mesh-1"), "an unnamed service falls back to the mesh");
        assert!(rules.compute(&ResourceKey { mesh: "mesh-2".into(), ..ms("x", "") }).is_none());
    }

    #[test]
    fn labels_select_many_and_missing_sections_drop_out() {
        let (_, rules) = build(
            "type: MeshTimeout\nname: mt\nmesh: mesh-1\nspec:\n  to:\n\
             \x20 - {targetRef: {kind: MeshService, labels: {team: a}, sectionName: http-port}, default: {idleTimeout: 1s}}\n",
        );
        let kris: Vec<String> = rules.rules.keys().map(ResourceKey::kri).collect();
        assert_eq!(kris, ["kri_msvc_mesh-1___backend_http-port"]);
    }

    #[test]
    fn legacy_service_names_select_by_display_name_namespace_and_port() {
        let rs = resources(&format!(
            "{WORLD}---\ntype: MeshService\nname: web\nmesh: mesh-1\nlabels: {{k8s.kuma.io/namespace: ns, kuma.io/display-name: web}}\nspec:\n  selector: {{dataplaneTags: {{app: web}}}}\n  ports:\n  - {{port: 8080, targetPort: 8080, name: main}}\n---\n\
             type: MeshTimeout\nname: mt\nmesh: mesh-1\nspec:\n  to:\n  - {{targetRef: {{kind: MeshService, name: web_ns_svc_8080}}, default: {{idleTimeout: 1s}}}}\n"
        ));
        let candidates: Vec<Candidate> = rs.iter().filter_map(Candidate::of_resource).collect();
        let policies: Vec<Policy> = rs.iter().filter_map(Policy::of).collect();
        let rules = resource_rules(&policies, &(0..policies.len()).collect::<Vec<_>>(), &candidates);
        let kris: Vec<String> = rules.rules.keys().map(ResourceKey::kri).collect();
        assert_eq!(kris, ["kri_msvc_mesh-1__ns_web_main"]);
    }

    #[test]
    fn names_resolve_in_the_policy_zone_only() {
        let (_, rules) = build(
            "type: MeshTimeout\nname: mt\nmesh: mesh-1\nlabels: {kuma.io/origin: zone, kuma.io/zone: z1}\nspec:\n  to:\n\
             \x20 - {targetRef: {kind: MeshService, name: backend}, default: {idleTimeout: 1s}}\n",
        );
        assert!(rules.rules.is_empty(), "backend has no zone label, the policy is zone z1's");
    }

    #[test]
    fn http_routes_merge_per_hostname_and_record_origin_by_matches() {
        let (_, rules) = build(
            "type: MeshHTTPRoute\nname: r2\nmesh: mesh-1\nspec:\n  targetRef: {kind: Mesh}\n  to:\n\
             \x20 - targetRef: {kind: MeshService, name: backend}\n    rules:\n\
             \x20   - {matches: [{path: {type: PathPrefix, value: /a}}], default: {backendRefs: [{kind: MeshService, name: other, port: 80}]}}\n---\n\
             type: MeshHTTPRoute\nname: r1\nmesh: mesh-1\nspec:\n  targetRef: {kind: Mesh}\n  to:\n\
             \x20 - targetRef: {kind: MeshService, name: backend}\n    rules:\n\
             \x20   - {matches: [{path: {type: PathPrefix, value: /a}}], default: {backendRefs: [{kind: MeshService, name: backend, port: 80}]}}\n\
             \x20   - {matches: [{path: {type: PathPrefix, value: /b}}], default: {backendRefs: [{kind: MeshService, name: backend, port: 80}]}}\n",
        );
        let rule = rules.compute(&ms("backend", "")).unwrap();
        assert_eq!(rule.confs.len(), 1);
        assert_eq!(rule.confs[0]["rules"][0]["default"]["backendRefs"][0]["name"], "backend", "r1 sorts last, wins");
        let policy_of = |v: &str| {
            let m = json!([{"path": {"type": "PathPrefix", "value": v}}]);
            rule.origin_by_matches.iter().find(|(k, _)| *k == m).map(|(_, o)| o.policy)
        };
        assert_eq!(policy_of("/a"), Some(1));
        assert_eq!(policy_of("/b"), Some(1));
    }

    #[test]
    fn top_level_http_route_policies_are_left_out() {
        let (_, rules) = build(
            "type: MeshHTTPRoute\nname: route\nmesh: mesh-1\nspec:\n  to: []\n---\n\
             type: MeshTimeout\nname: mt\nmesh: mesh-1\nspec:\n  targetRef: {kind: MeshHTTPRoute, name: route}\n  to:\n\
             \x20 - {targetRef: {kind: Mesh}, default: {idleTimeout: 1s}}\n",
        );
        assert!(rules.rules.is_empty());
    }
}
