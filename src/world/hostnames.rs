//! Hostnames from HostnameGenerator templates (Kuma's
//! `pkg/core/resources/apis/hostnamegenerator/hostname/generator.go`).
//!
//! Generators run in Kuma's order (zone-origin first, then by name; meshc has no
//! creation times), each over the services it selects in [`Service::key`] order.
//! A hostname already held by another service of the mesh is a collision: the
//! first holder keeps it and a MESH5001 finding names both. Kuma's default
//! generators of a Universal zone are added unless the input has one of the same
//! name (see [`defaults`]).
//!
//! The input is the global control plane's view, and meshc plays every zone
//! control plane: when some resource has a `kuma.io/zone` label, generators run
//! once per zone, over that zone's store. There its own services keep their
//! labels (`kuma.io/origin: zone`, so the `local-*` generators name them), the
//! MeshServices of other zones arrive synced (`kuma.io/origin: global`, named by
//! the global's [`synced_defaults`]), and a generator labelled `kuma.io/origin:
//! zone` with a `kuma.io/zone` exists only in that zone. Collisions are per zone;
//! a name given in some zones only is visible there only ([`Hostname::zone`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use super::service::{Hostname, Service, ServiceKind};
use super::{effective_labels, labels_match};
use crate::findings::{Finding, Location, Target, codes};
use crate::model::common::StringMap;
use crate::model::hostname_generator::{HostnameGenerator, TemplateData, render};
use crate::model::meta::labels;
use crate::model::{Resource, Spec};

/// Set on Kubernetes MeshServices: whether the Service is headless.
const HEADLESS: &str = "k8s.kuma.io/is-headless-service";

/// One generator, from the input or built in.
pub struct Generator<'a> {
    pub name: String,
    pub kind: ServiceKind,
    pub match_labels: StringMap,
    pub template: String,
    pub origin_zone: bool,
    /// The zone whose control plane holds it (a zone-origin generator with a
    /// `kuma.io/zone` label); `None`: every zone.
    pub zone: Option<String>,
    pub resource: Option<&'a Resource>,
}

fn builtin(name: &str, kind: ServiceKind, match_labels: &[(&str, &str)], template: &str) -> Generator<'static> {
    Generator {
        name: name.into(),
        kind,
        match_labels: match_labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        template: template.into(),
        origin_zone: match_labels.contains(&(labels::ORIGIN, "zone")),
        zone: None,
        resource: None,
    }
}

/// Kuma's default generators of a zone control plane
/// (`pkg/defaults/hostname_generator.go`). `local-universal-mesh-service` exists
/// only on Universal zones; meshc keeps it to Universal-form services
/// (`kuma.io/env: universal`), so Kubernetes MeshServices of different namespaces
/// do not all claim `<name>.svc.mesh.local`.
pub fn defaults() -> Vec<Generator<'static>> {
    let zone = (labels::ORIGIN, "zone");
    vec![
        builtin(
            "local-mesh-external-service",
            ServiceKind::MeshExternalService,
            &[zone],
            "{{ .DisplayName }}.extsvc.mesh.local",
        ),
        builtin(
            "local-universal-mesh-service",
            ServiceKind::MeshService,
            &[zone, (labels::ENV, "universal")],
            "{{ .DisplayName }}.svc.mesh.local",
        ),
    ]
}

/// Kuma's default generators of the global control plane, synced to every zone
/// (`pkg/defaults/hostname_generator.go`): they name what a zone got from the
/// global (`kuma.io/origin: global`): other zones' MeshServices, and
/// MeshMultiZoneServices and MeshExternalServices made on the global.
pub fn synced_defaults() -> Vec<Generator<'static>> {
    let global = (labels::ORIGIN, "global");
    let kube = (labels::ENV, "kubernetes");
    vec![
        builtin(
            "synced-mesh-multi-zone-service",
            ServiceKind::MeshMultiZoneService,
            &[global],
            "{{ .DisplayName }}.mzsvc.mesh.local",
        ),
        builtin(
            "synced-kube-mesh-service",
            ServiceKind::MeshService,
            &[global, (HEADLESS, "false"), kube],
            "{{ .DisplayName }}.{{ .Namespace }}.svc.{{ .Zone }}.mesh.local",
        ),
        builtin(
            "synced-headless-kube-mesh-service",
            ServiceKind::MeshService,
            &[global, (HEADLESS, "true"), kube],
            concat!(
                "{{ label \"statefulset.kubernetes.io/pod-name\" }}.{{ label \"k8s.kuma.io/service-name\" }}",
                ".{{ .Namespace }}.svc.{{ .Zone }}.mesh.local"
            ),
        ),
        builtin(
            "synced-universal-mesh-service",
            ServiceKind::MeshService,
            &[global, (labels::ENV, "universal")],
            "{{ .DisplayName }}.svc.{{ .Zone }}.mesh.local",
        ),
        builtin(
            "synced-mesh-external-service",
            ServiceKind::MeshExternalService,
            &[global],
            "{{ .DisplayName }}.extsvc.mesh.local",
        ),
    ]
}

fn from_resource<'a>(r: &'a Resource, hg: &HostnameGenerator) -> Option<Generator<'a>> {
    let sel = hg.selector.as_ref()?;
    let (kind, ls) = if let Some(ls) = &sel.mesh_service {
        (ServiceKind::MeshService, ls)
    } else if let Some(ls) = &sel.mesh_external_service {
        (ServiceKind::MeshExternalService, ls)
    } else if let Some(ls) = &sel.mesh_multi_zone_service {
        (ServiceKind::MeshMultiZoneService, ls)
    } else {
        return None;
    };
    let origin_zone = effective_labels(&r.meta).get(labels::ORIGIN).map(String::as_str) == Some("zone");
    Some(Generator {
        name: r.meta.name.clone(),
        kind,
        match_labels: ls.match_labels.clone().unwrap_or_default(),
        template: hg.template.clone()?,
        origin_zone,
        // Created on a zone control plane (and synced to global only): that zone's.
        zone: if origin_zone && r.meta.origin().is_some() { r.meta.zone().map(str::to_string) } else { None },
        resource: Some(r),
    })
}

/// Every generator that applies in some zone, in Kuma's order; with
/// `multi_zone`, the global's synced ones too. A built-in one is left out where
/// the input has one of the same name (see `in_zone`).
pub fn generators(resources: &[Resource], multi_zone: bool) -> Vec<Generator<'_>> {
    let mut out: Vec<Generator> = resources
        .iter()
        .filter_map(|r| match &r.spec {
            Some(Spec::HostnameGenerator(hg)) => from_resource(r, hg),
            _ => None,
        })
        .collect();
    let synced = if multi_zone { synced_defaults() } else { Vec::new() };
    for d in defaults().into_iter().chain(synced) {
        if !out.iter().any(|g| g.name == d.name && g.zone.is_none()) {
            out.push(d);
        }
    }
    out.sort_by(|a, b| b.origin_zone.cmp(&a.origin_zone).then_with(|| a.name.cmp(&b.name)));
    out
}

/// The generators the control plane of `zone` holds.
fn in_zone<'g, 'a>(gens: &'g [Generator<'a>], zone: Option<&str>) -> impl Iterator<Item = &'g Generator<'a>> {
    let here = move |g: &Generator| g.zone.is_none() || g.zone.as_deref() == zone;
    gens.iter().filter(move |g| {
        here(g) && (g.resource.is_some() || !gens.iter().any(|o| o.resource.is_some() && o.name == g.name && here(o)))
    })
}

fn template_data(s: &Service, zone: Option<&str>) -> TemplateData {
    TemplateData {
        display_name: s.display_name.clone(),
        name: s.name.clone(),
        namespace: s.labels.get(labels::NAMESPACE).cloned().unwrap_or_default(),
        zone: s.zone.as_deref().or(zone).unwrap_or_default().to_string(),
        mesh: s.mesh.clone(),
        labels: s.labels.clone(),
    }
}

/// How `s` appears in the store of `zone`'s control plane: as it is (local, or
/// without a zone), synced with `kuma.io/origin: global` (another zone's
/// MeshService; a MeshMultiZoneService, which only the global creates), or not
/// at all (another zone's MeshExternalService: Kuma syncs those to the global
/// only). `zone` is `None` only for single-zone input: everything as it is.
fn as_seen_in<'s>(s: &'s Service, zone: Option<&str>) -> Option<Cow<'s, StringMap>> {
    let Some(here) = zone else { return Some(Cow::Borrowed(&s.labels)) };
    let remote = s.zone.as_deref().is_some_and(|z| z != here);
    let synced = match s.kind {
        ServiceKind::MeshMultiZoneService => true,
        ServiceKind::MeshService => remote,
        _ if remote => return None,
        _ => false,
    };
    if !synced || s.labels.get(labels::ORIGIN).map(String::as_str) == Some("global") {
        return Some(Cow::Borrowed(&s.labels));
    }
    let mut labels = s.labels.clone();
    labels.insert(labels::ORIGIN.to_string(), "global".to_string());
    // Kuma's Kubernetes MeshService controller always sets it; written input often omits it.
    if labels.get(labels::ENV).map(String::as_str) == Some("kubernetes") {
        labels.entry(HEADLESS.to_string()).or_insert_with(|| "false".to_string());
    }
    Some(Cow::Owned(labels))
}

/// A problem found in some zones' stores, reported once.
struct Problem<'g, 'a> {
    code: crate::findings::Code,
    generator: &'g Generator<'a>,
    service: usize,
    /// The hostname and its holder, for a collision; the render error otherwise.
    what: (String, Option<usize>),
    zones: Vec<Option<String>>,
}

/// A service's hostnames with the zones each is given in, in first-given order.
type Given<'z> = Vec<(String, Vec<Option<&'z str>>)>;

/// Give every service the hostnames its generators render.
pub fn assign(services: &mut [Service], resources: &[Resource], findings: &mut Vec<Finding>) {
    let zones: BTreeSet<&str> = resources.iter().filter_map(|r| r.meta.zone()).collect();
    let multi_zone = !zones.is_empty();
    let views: Vec<Option<&str>> = if multi_zone { zones.into_iter().map(Some).collect() } else { vec![None] };
    let gens = generators(resources, multi_zone);
    // Written hostnames (legacy `<service>.mesh`) hold their name in every zone.
    let preset: BTreeMap<(String, String), usize> = services
        .iter()
        .enumerate()
        .flat_map(|(i, s)| s.hostnames.iter().map(move |h| ((s.mesh.clone(), h.name.clone()), i)))
        .collect();
    let mut given: Vec<Given> = vec![Vec::new(); services.len()];
    let mut problems: Vec<Problem> = Vec::new();
    for &zone in &views {
        let mut holders = preset.clone();
        for g in in_zone(&gens, zone) {
            for (i, s) in services.iter().enumerate() {
                let Some(labels) = as_seen_in(s, zone) else { continue };
                if s.kind != g.kind || !labels_match(&labels, Some(&g.match_labels)) {
                    continue;
                }
                let (code, what) = match render(&g.template, &template_data(s, zone)) {
                    Err(e) => (codes::HOSTNAME_NOT_RENDERED, (e.to_string(), None)),
                    Ok(hostname) => match holders.get(&(s.mesh.clone(), hostname.clone())) {
                        Some(&j) if j == i => continue,
                        Some(&j) => (codes::HOSTNAME_COLLISION, (hostname, Some(j))),
                        None => {
                            holders.insert((s.mesh.clone(), hostname.clone()), i);
                            match given[i].iter_mut().find(|(h, _)| *h == hostname) {
                                Some((_, zs)) => zs.push(zone),
                                None => given[i].push((hostname, vec![zone])),
                            }
                            continue;
                        }
                    },
                };
                let same = |p: &&mut Problem| {
                    p.code == code && std::ptr::eq(p.generator, g) && p.service == i && p.what == what
                };
                match problems.iter_mut().find(same) {
                    Some(p) => p.zones.push(zone.map(str::to_string)),
                    None => problems.push(Problem {
                        code,
                        generator: g,
                        service: i,
                        what,
                        zones: vec![zone.map(str::to_string)],
                    }),
                }
            }
        }
    }
    for (s, given) in services.iter_mut().zip(given) {
        for (name, zs) in given {
            if zs.len() == views.len() {
                s.hostnames.push(Hostname::everywhere(name));
            } else {
                s.hostnames
                    .extend(zs.into_iter().map(|z| Hostname { name: name.clone(), zone: z.map(str::to_string) }));
            }
        }
    }
    for p in problems {
        if let Some(f) = problem_finding(&p, services, views.len()) {
            findings.push(f);
        }
    }
}

fn problem_finding(p: &Problem, services: &[Service], views: usize) -> Option<Finding> {
    let (g, s) = (p.generator, &services[p.service]);
    let mut msg = match &p.what {
        (e, None) => format!("HostnameGenerator `{}` cannot render a hostname for {}: {e}", g.name, describe(s)),
        (hostname, Some(j)) => format!(
            "hostname `{hostname}` from HostnameGenerator `{}` is already taken by {}; {} does not get it",
            g.name,
            describe(&services[*j]),
            describe(s)
        ),
    };
    if p.zones.len() < views {
        let zones: Vec<String> = p.zones.iter().flatten().map(|z| format!("`{z}`")).collect();
        let plural = if zones.len() == 1 { "" } else { "s" };
        msg = format!("in zone{plural} {}: {msg}", zones.join(", "));
    }
    finding(g, s, p.code, || msg)
}

fn describe(s: &Service) -> String {
    format!("{} `{}`", s.kind.name(), s.qualified_name())
}

/// A finding on the service's resource, else on the generator's; none when both
/// are built in (then nothing in the input can be changed to fix it).
fn finding(g: &Generator, s: &Service, code: crate::findings::Code, msg: impl FnOnce() -> String) -> Option<Finding> {
    let r = s.resource.or(g.resource)?;
    let location = Location::pointer(r.meta.file, r.meta.doc, r.meta.name_pointer.clone(), Target::Value);
    Some(Finding::new(code, msg(), location).with_resource(r.meta.id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate;
    use crate::world::{Options, World};

    fn read(yaml: &str) -> Vec<Resource> {
        let out = validate::run_texts(vec![("in.yaml".into(), yaml.into())], &Default::default());
        assert!(out.findings.is_empty(), "{:#?}", out.findings);
        out.resources
    }

    /// A Universal MeshService with a display name, in `zone` (none: no zone labels).
    fn service(name: &str, display: &str, zone: Option<&str>, extra_labels: &str) -> String {
        let zone = zone.map(|z| format!("\n  kuma.io/zone: {z}\n  kuma.io/origin: zone")).unwrap_or_default();
        format!(
            "---\ntype: MeshService\nname: {name}\nmesh: default\nlabels:\n  kuma.io/display-name: {display}{zone}\
             {extra_labels}\nspec:\n  ports:\n    - port: 6379\n      appProtocol: tcp\n"
        )
    }

    const MESH: &str = "type: Mesh\nname: default\n";

    /// (service name, hostname, zone).
    type Named = (String, String, Option<String>);

    /// Every hostname, and the findings' messages.
    fn hostnames(yaml: &str) -> (Vec<Named>, Vec<String>) {
        let resources = read(yaml);
        let world = World::build(&resources, &Options::default());
        let names = world
            .services
            .iter()
            .flat_map(|s| s.hostnames.iter().map(|h| (s.name.clone(), h.name.clone(), h.zone.clone())))
            .collect();
        (names, world.findings.iter().map(|f| f.message.clone()).collect())
    }

    fn h(service: &str, name: &str, zone: Option<&str>) -> Named {
        (service.into(), name.into(), zone.map(str::to_string))
    }

    #[test]
    fn local_names_are_per_zone_and_other_zones_get_synced_names() {
        let yaml = [
            MESH.to_string(),
            service("redis-east", "redis", Some("east"), ""),
            service("redis-west", "redis", Some("west"), ""),
        ]
        .concat();
        let (names, findings) = hostnames(&yaml);
        assert!(findings.is_empty(), "one name per zone is no collision: {findings:#?}");
        assert_eq!(
            names,
            [
                h("redis-east", "redis.svc.mesh.local", Some("east")),
                h("redis-east", "redis.svc.east.mesh.local", Some("west")),
                h("redis-west", "redis.svc.west.mesh.local", Some("east")),
                h("redis-west", "redis.svc.mesh.local", Some("west")),
            ]
        );
    }

    #[test]
    fn a_proxy_sees_its_own_zones_view() {
        let local = Hostname { name: "redis.svc.mesh.local".into(), zone: Some("east".into()) };
        assert!(local.visible_in(Some("east")));
        assert!(!local.visible_in(Some("west")));
        assert!(!local.visible_in(None), "a proxy without a zone sees only names every zone agrees on");
        assert!(Hostname::everywhere("a.mesh").visible_in(Some("west")));
    }

    #[test]
    fn collisions_are_within_one_zone() {
        // Zone-local generators (made on each zone) give every zone's own cache the
        // same name; only the second cache of zone east collides, and only there.
        let generator = |zone: &str| {
            format!(
                "---\ntype: HostnameGenerator\nname: cache-{zone}\nlabels:\n  kuma.io/origin: zone\n  kuma.io/zone: \
                 {zone}\nspec:\n  selector:\n    meshService:\n      matchLabels:\n        app: cache\n        \
                 kuma.io/origin: zone\n  template: cache.custom.local\n"
            )
        };
        let cache = "\n  app: cache";
        let yaml = [
            MESH.to_string(),
            generator("east"),
            generator("west"),
            service("cache-a", "cache-a", Some("east"), cache),
            service("cache-b", "cache-b", Some("east"), cache),
            service("cache-w", "cache-w", Some("west"), cache),
        ]
        .concat();
        let (names, findings) = hostnames(&yaml);
        let custom: Vec<_> = names.into_iter().filter(|(_, n, _)| n == "cache.custom.local").collect();
        assert_eq!(
            custom,
            [h("cache-a", "cache.custom.local", Some("east")), h("cache-w", "cache.custom.local", Some("west"))]
        );
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert!(findings[0].starts_with("in zone `east`: hostname `cache.custom.local`"), "{}", findings[0]);
        assert!(findings[0].contains("MeshService `cache-a`") && findings[0].contains("`cache-b` does not get it"));
    }

    #[test]
    fn multi_zone_services_get_the_synced_mzsvc_name_everywhere() {
        let mzs = "---\ntype: MeshMultiZoneService\nname: redis\nmesh: default\nspec:\n  selector:\n    meshService:\n      \
                   matchLabels:\n        kuma.io/display-name: redis\n  ports:\n    - port: 6379\n      appProtocol: tcp\n";
        let yaml = [
            MESH.to_string(),
            service("redis-east", "redis", Some("east"), ""),
            service("redis-west", "redis", Some("west"), ""),
            mzs.to_string(),
        ]
        .concat();
        let (names, findings) = hostnames(&yaml);
        assert!(findings.is_empty(), "{findings:#?}");
        assert!(names.contains(&h("redis", "redis.mzsvc.mesh.local", None)), "{names:#?}");
    }

    #[test]
    fn single_zone_input_is_unchanged() {
        let yaml = [MESH.to_string(), service("a", "redis", None, ""), service("b", "redis", None, "")].concat();
        let resources = read(&yaml);
        assert!(generators(&resources, false).iter().all(|g| !g.name.starts_with("synced-")));
        let (names, findings) = hostnames(&yaml);
        assert_eq!(names, [h("a", "redis.svc.mesh.local", None)]);
        assert_eq!(findings.len(), 1, "{findings:#?}");
        assert!(findings[0].starts_with("hostname `redis.svc.mesh.local` from HostnameGenerator"), "{}", findings[0]);
    }
}
