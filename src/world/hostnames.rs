//! Hostnames from HostnameGenerator templates (Kuma's
//! `pkg/core/resources/apis/hostnamegenerator/hostname/generator.go`).
//!
//! Generators run in Kuma's order (zone-origin first, then by name; meshc has no
//! creation times), each over the services it selects in [`Service::key`] order.
//! A hostname already held by another service of the mesh is a collision: the
//! first holder keeps it and a MESH5001 finding names both. Kuma's default
//! generators of a Universal zone are added unless the input has one of the same
//! name (see [`defaults`]).

use std::collections::BTreeMap;

use super::service::{Service, ServiceKind};
use super::{effective_labels, labels_match};
use crate::findings::{Finding, Location, Target, codes};
use crate::model::common::StringMap;
use crate::model::hostname_generator::{HostnameGenerator, TemplateData, render};
use crate::model::meta::labels;
use crate::model::{Resource, Spec};

/// One generator, from the input or built in.
pub struct Generator<'a> {
    pub name: String,
    pub kind: ServiceKind,
    pub match_labels: StringMap,
    pub template: String,
    pub origin_zone: bool,
    pub resource: Option<&'a Resource>,
}

/// Kuma's default generators of a zone control plane
/// (`pkg/defaults/hostname_generator.go`). `local-universal-mesh-service` exists
/// only on Universal zones; meshc keeps it to Universal-form services
/// (`kuma.io/env: universal`), so Kubernetes MeshServices of different namespaces
/// do not all claim `<name>.svc.mesh.local`.
pub fn defaults() -> Vec<Generator<'static>> {
    let zone_origin: StringMap = [(labels::ORIGIN.to_string(), "zone".to_string())].into();
    let mut universal = zone_origin.clone();
    universal.insert(labels::ENV.to_string(), "universal".to_string());
    vec![
        Generator {
            name: "local-mesh-external-service".into(),
            kind: ServiceKind::MeshExternalService,
            match_labels: zone_origin.clone(),
            template: "{{ .DisplayName }}.extsvc.mesh.local".into(),
            origin_zone: true,
            resource: None,
        },
        Generator {
            name: "local-universal-mesh-service".into(),
            kind: ServiceKind::MeshService,
            match_labels: universal,
            template: "{{ .DisplayName }}.svc.mesh.local".into(),
            origin_zone: true,
            resource: None,
        },
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
    Some(Generator {
        name: r.meta.name.clone(),
        kind,
        match_labels: ls.match_labels.clone().unwrap_or_default(),
        template: hg.template.clone()?,
        origin_zone: effective_labels(&r.meta).get(labels::ORIGIN).map(String::as_str) == Some("zone"),
        resource: Some(r),
    })
}

/// Every generator that applies, in Kuma's order.
pub fn generators(resources: &[Resource]) -> Vec<Generator<'_>> {
    let mut out: Vec<Generator> = resources
        .iter()
        .filter_map(|r| match &r.spec {
            Some(Spec::HostnameGenerator(hg)) => from_resource(r, hg),
            _ => None,
        })
        .collect();
    for d in defaults() {
        if !out.iter().any(|g| g.name == d.name) {
            out.push(d);
        }
    }
    out.sort_by(|a, b| b.origin_zone.cmp(&a.origin_zone).then_with(|| a.name.cmp(&b.name)));
    out
}

fn template_data(s: &Service) -> TemplateData {
    TemplateData {
        display_name: s.display_name.clone(),
        name: s.name.clone(),
        namespace: s.labels.get(labels::NAMESPACE).cloned().unwrap_or_default(),
        zone: s.zone.clone().unwrap_or_default(),
        mesh: s.mesh.clone(),
        labels: s.labels.clone(),
    }
}

/// Give every service the hostnames its generators render.
pub fn assign(services: &mut [Service], resources: &[Resource], findings: &mut Vec<Finding>) {
    // (mesh, hostname) -> index of the holder
    let mut holders: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (i, s) in services.iter().enumerate() {
        for h in &s.hostnames {
            holders.insert((s.mesh.clone(), h.clone()), i);
        }
    }
    for g in generators(resources) {
        for i in 0..services.len() {
            let s = &services[i];
            if s.kind != g.kind || !labels_match(&s.labels, Some(&g.match_labels)) {
                continue;
            }
            let hostname = match render(&g.template, &template_data(s)) {
                Ok(h) => h,
                Err(e) => {
                    if let Some(f) = finding(&g, s, codes::HOSTNAME_NOT_RENDERED, || {
                        format!("HostnameGenerator `{}` cannot render a hostname for {}: {e}", g.name, describe(s))
                    }) {
                        findings.push(f);
                    }
                    continue;
                }
            };
            match holders.get(&(s.mesh.clone(), hostname.clone())) {
                Some(&j) if j == i => {}
                Some(&j) => {
                    let other = describe(&services[j]);
                    if let Some(f) = finding(&g, s, codes::HOSTNAME_COLLISION, || {
                        format!(
                            "hostname `{hostname}` from HostnameGenerator `{}` is already taken by {other}; {} does \
                             not get it",
                            g.name,
                            describe(s)
                        )
                    }) {
                        findings.push(f);
                    }
                }
                None => {
                    holders.insert((s.mesh.clone(), hostname.clone()), i);
                    services[i].hostnames.push(hostname);
                }
            }
        }
    }
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
