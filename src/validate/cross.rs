//! Checks across resources: duplicates, meshes that are not defined, references to
//! resources that are not in the input, selectors and policies that select nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::findings::{Finding, Target, codes};
use crate::model::common::TargetRefKind;
use crate::model::meta::labels;
use crate::model::{Form, Kind, Resource, Scope, Spec};
use crate::rules::select::{self, Proxy};
use crate::validate::violations::Path;
use crate::world::effective_labels;

use super::Options;

/// Run every cross-resource check.
pub fn check(resources: &[Resource], opts: &Options, findings: &mut Vec<Finding>) {
    let index = Index::new(resources);
    duplicates(resources, findings);
    undefined_meshes(resources, opts, findings);
    missing_references(resources, &index, findings);
    outbound_references(resources, &index, findings);
    let broken: BTreeSet<(usize, usize)> = findings
        .iter()
        .filter(|f| f.level == crate::findings::Level::Error)
        .filter_map(|f| Some((f.location.file?, f.location.doc?)))
        .collect();
    policies_select_proxies(resources, &index, &broken, findings);
    selectors_select_something(resources, &index, findings);
}

/// Resources by kind and mesh, by name, and Dataplanes by `kuma.io/service`, so
/// that checks over 100,000 resources stay linear.
pub struct Index<'a> {
    by_kind: HashMap<(Kind, Option<String>), Vec<&'a Resource>>,
    by_name: HashMap<(Kind, Option<String>, String), Vec<&'a Resource>>,
    by_service: HashMap<(Option<String>, String), Vec<&'a Resource>>,
    by_label: HashMap<(Option<String>, String, String), Vec<&'a Resource>>,
}

impl<'a> Index<'a> {
    pub fn new(resources: &'a [Resource]) -> Self {
        let mut index = Index {
            by_kind: HashMap::new(),
            by_name: HashMap::new(),
            by_service: HashMap::new(),
            by_label: HashMap::new(),
        };
        for r in resources {
            let (kind, mesh) = (r.meta.kind, r.meta.mesh.clone());
            index.by_kind.entry((kind, mesh.clone())).or_default().push(r);
            let mut names = vec![r.meta.name.clone(), r.meta.display_name().to_string()];
            names.dedup();
            for name in names {
                index.by_name.entry((kind, mesh.clone(), name)).or_default().push(r);
            }
            if kind == Kind::Dataplane {
                for (k, v) in &r.meta.labels {
                    index.by_label.entry((mesh.clone(), k.clone(), v.clone())).or_default().push(r);
                }
            }
            if let Some(p) = Proxy::of(r) {
                // Inbounds and gateways are what tag selectors match (reference §3.3).
                let gateway = p.spec.gateway().and_then(|g| g.tags.get("kuma.io/service")).map(String::as_str);
                let services: BTreeSet<&str> =
                    p.spec.inbounds().iter().filter_map(|i| i.service()).chain(gateway).collect();
                for s in services {
                    index.by_service.entry((mesh.clone(), s.to_string())).or_default().push(r);
                }
            }
        }
        index
    }

    /// Resources of `kind` in `mesh` called `name` (name or display name).
    pub fn named(&self, kind: Kind, mesh: Option<&str>, name: &str) -> &[&'a Resource] {
        let key = (kind, mesh.map(str::to_string), name.to_string());
        self.by_name.get(&key).map(Vec::as_slice).unwrap_or_default()
    }

    /// Dataplanes of `mesh` with an inbound of `kuma.io/service: service`.
    pub fn with_service(&self, mesh: Option<&str>, service: &str) -> &[&'a Resource] {
        self.by_service.get(&(mesh.map(str::to_string), service.to_string())).map(Vec::as_slice).unwrap_or_default()
    }

    /// The Dataplanes a tag selector can match: narrowed by its `kuma.io/service`.
    fn dataplanes_for_tags(
        &self,
        mesh: Option<&str>,
        tags: Option<&crate::model::common::StringMap>,
    ) -> &[&'a Resource] {
        match tags.and_then(|t| t.get("kuma.io/service")).filter(|s| *s != "*") {
            Some(service) => self.with_service(mesh, service),
            None => self.of(Kind::Dataplane, mesh),
        }
    }

    /// The Dataplanes a label selector can match: the shortest list of one of its pairs.
    fn dataplanes_for_labels(&self, mesh: Option<&str>, labels: &crate::model::common::StringMap) -> &[&'a Resource] {
        let mesh = mesh.map(str::to_string);
        labels
            .iter()
            .map(|(k, v)| {
                self.by_label.get(&(mesh.clone(), k.clone(), v.clone())).map(Vec::as_slice).unwrap_or_default()
            })
            .min_by_key(|l| l.len())
            .unwrap_or_default()
    }

    /// Resources of `kind` in `mesh` (`None` for global kinds).
    pub fn of(&self, kind: Kind, mesh: Option<&str>) -> &[&'a Resource] {
        self.by_kind.get(&(kind, mesh.map(str::to_string))).map(Vec::as_slice).unwrap_or_default()
    }
}

/// What makes two resources the same one: kind, mesh, namespace, zone, name.
type Identity<'a> = (Kind, Option<&'a str>, Option<&'a str>, Option<&'a str>, &'a str);

fn duplicates(resources: &[Resource], findings: &mut Vec<Finding>) {
    let mut seen: HashMap<Identity, &Resource> = HashMap::new();
    for r in resources {
        let m = &r.meta;
        let key = (m.kind, m.mesh.as_deref(), m.namespace.as_deref(), m.zone(), m.name.as_str());
        match seen.get(&key) {
            None => {
                seen.insert(key, r);
            }
            Some(first) => {
                let mut msg = format!("{} `{}` is defined twice", m.kind.name(), m.name);
                if let Some(ns) = &m.namespace {
                    msg.push_str(&format!(" in namespace `{ns}`"));
                }
                if let Some(mesh) = &m.mesh {
                    msg.push_str(&format!(" in mesh `{mesh}`"));
                }
                msg.push_str("; Kuma keeps only one of them");
                findings.push(
                    m.finding(codes::DUPLICATE_RESOURCE, &Path::resource_name(), Target::Value, msg)
                        .with_related(first.meta.location(&Path::resource_name(), Target::Value), "first defined here"),
                );
            }
        }
    }
}

fn undefined_meshes(resources: &[Resource], opts: &Options, findings: &mut Vec<Finding>) {
    let defined: BTreeSet<&str> =
        resources.iter().filter(|r| r.meta.kind == Kind::Mesh).map(|r| r.meta.name.as_str()).collect();
    for r in resources {
        let m = &r.meta;
        let Some(mesh) = m.mesh.as_deref() else { continue };
        if m.kind.scope() != Scope::Mesh || defined.contains(mesh) || (mesh == "default" && opts.default_mesh_exists) {
            continue;
        }
        let mut msg = format!("mesh `{mesh}` is not defined: no Mesh resource named `{mesh}` in the input");
        if !defined.is_empty() {
            msg.push_str(&format!(" (defined: {})", defined.iter().copied().collect::<Vec<_>>().join(", ")));
        }
        let pointer = match (m.form, m.kind.is_legacy()) {
            (Form::Kubernetes, false) => format!("/metadata/labels/{}", labels::MESH.replace('/', "~1")),
            _ => "/mesh".to_string(),
        };
        let loc = crate::findings::Location::pointer(m.file, m.doc, pointer, Target::Value);
        findings.push(Finding::new(codes::UNDEFINED_MESH, msg, loc).with_resource(m.id()));
    }
}

/// The resource kind a targetRef kind names, for kinds that are resources.
fn referenced_kind(k: TargetRefKind) -> Option<Kind> {
    match k {
        TargetRefKind::MeshService => Some(Kind::MeshService),
        TargetRefKind::MeshExternalService => Some(Kind::MeshExternalService),
        TargetRefKind::MeshMultiZoneService => Some(Kind::MeshMultiZoneService),
        TargetRefKind::MeshHTTPRoute => Some(Kind::MeshHTTPRoute),
        _ => None,
    }
}

/// Does a resource answer to a name-based reference made by `from` (reference §3.7:
/// the display name, in the referencing policy's namespace unless the ref names one)?
pub fn answers_to(target: &Resource, name: &str, namespace: Option<&str>, from: &Resource) -> bool {
    let t = &target.meta;
    if t.display_name() != name && t.name != name && t.core_name() != name {
        return false;
    }
    let wanted = namespace.filter(|n| !n.is_empty()).or(from.meta.namespace.as_deref());
    match (wanted, t.namespace.as_deref()) {
        (Some(w), Some(have)) => w == have,
        _ => true,
    }
}

/// The legacy `kuma.io/service` form `name_namespace_svc_port` of a MeshService name.
fn legacy_service_name(name: &str) -> Option<(&str, &str)> {
    let rest = name.rsplit_once("_svc_").filter(|(_, port)| port.parse::<u16>().is_ok())?.0;
    rest.rsplit_once('_')
}

fn missing_references(resources: &[Resource], index: &Index, findings: &mut Vec<Finding>) {
    let mut reported: BTreeMap<(usize, usize, String), ()> = BTreeMap::new();
    for r in resources {
        let Some(view) = r.spec.as_ref().and_then(|s| s.policy()) else { continue };
        let mesh = r.meta.mesh.as_deref();
        for (path, target) in &view.references {
            let Some(kind) = target.kind().and_then(referenced_kind) else { continue };
            let Some(name) = target.name.as_deref().filter(|n| !n.is_empty()) else { continue };
            if kind == Kind::MeshHTTPRoute && r.meta.kind == Kind::MeshHTTPRoute {
                continue;
            }
            let found =
                index.named(kind, mesh, name).iter().any(|c| answers_to(c, name, target.namespace.as_deref(), r))
                    || (kind == Kind::MeshService
                        && (!index.with_service(mesh, name).is_empty()
                            || legacy_service_name(name).is_some_and(|(n, ns)| {
                                index.named(kind, mesh, n).iter().any(|c| answers_to(c, n, Some(ns), r))
                            })));
            if found {
                continue;
            }
            let pointer = r.meta.pointer(&path.field("name"));
            if reported.insert((r.meta.file, r.meta.doc, pointer), ()).is_some() {
                continue;
            }
            let mut msg = format!("{} `{name}` is not in the input", kind.name());
            if let Some(ns) = target.namespace.as_deref().or(r.meta.namespace.as_deref()) {
                msg.push_str(&format!(" (namespace `{ns}`)"));
            }
            if kind == Kind::MeshService {
                msg.push_str("; no Dataplane inbound has that `kuma.io/service` either");
            }
            msg.push_str(", so this reference selects nothing");
            findings.push(r.meta.finding(codes::MISSING_REFERENCE, &path.field("name"), Target::Value, msg));
        }
    }
}

/// Dataplane `networking.outbound[].backendRef` naming a service that is not there.
fn outbound_references(resources: &[Resource], index: &Index, findings: &mut Vec<Finding>) {
    for p in select::proxies(resources) {
        let mesh = p.resource.meta.mesh.as_deref();
        for (i, out) in p.spec.outbounds().iter().enumerate() {
            let Some(backend) = &out.backend_ref else { continue };
            let Some(kind) = backend.kind.as_deref().and_then(Kind::from_name) else { continue };
            let Some(name) = backend.name.as_deref().filter(|n| !n.is_empty()) else { continue };
            if index.named(kind, mesh, name).iter().any(|c| answers_to(c, name, None, p.resource)) {
                continue;
            }
            let path = Path::root().field("networking").field("outbound").index(i).field("backendRef").field("name");
            let msg = format!("{} `{name}` is not in the input, so this outbound has no destination", kind.name());
            findings.push(p.resource.meta.finding(codes::MISSING_REFERENCE, &path, Target::Value, msg));
        }
    }
}

/// A policy whose top-level targetRef selects no Dataplane of its mesh. Only for
/// meshes with Dataplanes in the input: a repository of policies alone is normal.
fn policies_select_proxies(
    resources: &[Resource],
    index: &Index,
    broken: &BTreeSet<(usize, usize)>,
    findings: &mut Vec<Finding>,
) {
    // A policy Kuma would reject is reported already; what it selects is moot.
    let valid = |r: &&Resource| !broken.contains(&(r.meta.file, r.meta.doc));
    for policy in resources.iter().filter(|r| r.meta.kind.is_policy()).filter(valid) {
        let Some(view) = policy.spec.as_ref().and_then(Spec::policy) else { continue };
        let mesh = policy.meta.mesh.as_deref();
        let dataplanes = index.of(Kind::Dataplane, mesh);
        if dataplanes.is_empty() {
            continue;
        }
        let routes = index.of(Kind::MeshHTTPRoute, mesh);
        let lookup = |name: &str| routes.iter().copied().find(|r| r.meta.display_name() == name || r.meta.name == name);
        let narrowed = match view.target_ref {
            Some(t) if matches!(t.kind(), Some(TargetRefKind::MeshService | TargetRefKind::MeshServiceSubset)) => {
                index.with_service(mesh, t.name())
            }
            Some(t) if t.is(TargetRefKind::MeshSubset) => index.dataplanes_for_tags(mesh, t.tags.as_ref()),
            Some(t) if t.is(TargetRefKind::Dataplane) && t.has_labels() => {
                index.dataplanes_for_labels(mesh, t.labels.as_ref().unwrap_or(&Default::default()))
            }
            Some(t) if t.is(TargetRefKind::Dataplane) && !t.name().is_empty() => {
                index.named(Kind::Dataplane, mesh, t.name())
            }
            _ => dataplanes,
        };
        let selected =
            narrowed.iter().filter_map(|r| Proxy::of(r)).any(|p| select::selects(policy, view.target_ref, p, &lookup));
        if selected {
            continue;
        }
        let path = if view.target_ref.is_some() { Path::root().field("targetRef") } else { Path::root() };
        let mut msg = format!(
            "the top-level targetRef selects none of the {} Dataplane(s) of mesh `{}`",
            dataplanes.len(),
            mesh.unwrap_or_default()
        );
        if matches!(policy.role, crate::model::PolicyRole::Consumer | crate::model::PolicyRole::WorkloadOwner) {
            msg.push_str(&format!(" (as a {} policy it only reaches its own namespace)", policy.role.name()));
        }
        findings.push(policy.meta.finding(codes::POLICY_SELECTS_NO_PROXY, &path, Target::Value, msg));
    }
}

fn labels_match(have: &crate::model::common::StringMap, want: Option<&crate::model::common::StringMap>) -> bool {
    want.is_none_or(|w| w.iter().all(|(k, v)| have.get(k) == Some(v)))
}

/// MeshService, MeshMultiZoneService and HostnameGenerator selectors that match
/// nothing in the input (checked only when the input has candidates of that kind).
fn selectors_select_something(resources: &[Resource], index: &Index, findings: &mut Vec<Finding>) {
    let all_of = |kind: Kind| -> Vec<&Resource> { resources.iter().filter(|r| r.meta.kind == kind).collect() };
    for r in resources {
        let mesh = r.meta.mesh.as_deref();
        let selector_path = Path::root().field("selector");
        let (what, matched, candidates) = match &r.spec {
            Some(Spec::MeshService(ms)) => {
                let Some(sel) = &ms.selector else { continue };
                let dps = index.of(Kind::Dataplane, mesh);
                let candidates = match (&sel.dataplane_tags, sel.dataplane_ref.as_ref().and_then(|d| d.name.as_deref()))
                {
                    (Some(tags), _) => index.dataplanes_for_tags(mesh, Some(tags)),
                    (None, Some(name)) => index.named(Kind::Dataplane, mesh, name),
                    _ => dps,
                };
                let matched = candidates.iter().filter_map(|d| Proxy::of(d)).any(|p| {
                    sel.dataplane_tags
                        .as_ref()
                        .is_some_and(|t| p.spec.inbounds().iter().any(|i| select::tags_match(&i.tags, t)))
                        || sel
                            .dataplane_ref
                            .as_ref()
                            .and_then(|d| d.name.as_deref())
                            .is_some_and(|n| answers_to(p.resource, n, None, r))
                        || sel
                            .dataplane_labels
                            .as_ref()
                            .is_some_and(|l| labels_match(&p.resource.meta.labels, l.match_labels.as_ref()))
                });
                ("Dataplane", matched, dps.len())
            }
            Some(Spec::MeshMultiZoneService(mz)) => {
                let want =
                    mz.selector.as_ref().and_then(|s| s.mesh_service.as_ref()).and_then(|m| m.match_labels.as_ref());
                let Some(want) = want.filter(|w| !w.is_empty()) else { continue };
                let services = index.of(Kind::MeshService, mesh);
                let matched = services.iter().any(|s| labels_match(&effective_labels(&s.meta), Some(want)));
                ("MeshService", matched, services.len())
            }
            Some(Spec::HostnameGenerator(hg)) => {
                let Some(sel) = &hg.selector else { continue };
                let (kind, field, ls) = if let Some(ls) = &sel.mesh_service {
                    (Kind::MeshService, "meshService", ls)
                } else if let Some(ls) = &sel.mesh_external_service {
                    (Kind::MeshExternalService, "meshExternalService", ls)
                } else if let Some(ls) = &sel.mesh_multi_zone_service {
                    (Kind::MeshMultiZoneService, "meshMultiZoneService", ls)
                } else {
                    continue;
                };
                let candidates = all_of(kind);
                let matched =
                    candidates.iter().any(|c| labels_match(&effective_labels(&c.meta), ls.match_labels.as_ref()));
                if !matched && !candidates.is_empty() {
                    let msg = format!(
                        "selects none of the {} {}(s) in the input: no resource has all of these labels \
                         (resources without `{}` count as `zone`, as a zone control plane labels them)",
                        candidates.len(),
                        kind.name(),
                        labels::ORIGIN
                    );
                    let path = selector_path.field(field).field("matchLabels");
                    findings.push(r.meta.finding(codes::SELECTS_NOTHING, &path, Target::Value, msg));
                }
                continue;
            }
            _ => continue,
        };
        if !matched && candidates > 0 {
            let msg = format!("selects none of the {candidates} {what}(s) of mesh `{}`", mesh.unwrap_or_default());
            findings.push(r.meta.finding(codes::SELECTS_NOTHING, &selector_path, Target::Value, msg));
        }
    }
}
