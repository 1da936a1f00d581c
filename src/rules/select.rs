//! Does a policy's top-level targetRef select a Dataplane? (Kuma's
//! `DppSelectedByPolicy`, `pkg/plugins/policies/core/matchers/dataplane.go`.)

use crate::model::common::{StringMap, TargetRef, TargetRefKind, targetref::ProxyType};
use crate::model::dataplane::Dataplane;
use crate::model::meta::labels;
use crate::model::{Kind, PolicyRole, Resource, Spec};

/// A Dataplane with its typed spec.
#[derive(Clone, Copy)]
pub struct Proxy<'a> {
    pub resource: &'a Resource,
    pub spec: &'a Dataplane,
}

impl<'a> Proxy<'a> {
    pub fn of(resource: &'a Resource) -> Option<Proxy<'a>> {
        match &resource.spec {
            Some(Spec::Dataplane(spec)) => Some(Proxy { resource, spec }),
            _ => None,
        }
    }
}

/// Looks up a MeshHTTPRoute by display name (for top-level `kind: MeshHTTPRoute`).
pub type RouteLookup<'a> = dyn Fn(&str) -> Option<&'a Resource> + 'a;

/// Whether `policy` (with top-level `target`, `None` meaning Mesh) selects `proxy`.
pub fn selects(policy: &Resource, target: Option<&TargetRef>, proxy: Proxy, routes: &RouteLookup) -> bool {
    if !zone_allows(policy, proxy.resource) || !namespace_allows(policy, proxy.resource) {
        return false;
    }
    selects_by_ref(policy, target, proxy, routes, 0)
}

/// Producer policies reach every zone; others with `kuma.io/origin: zone` only their zone.
fn zone_allows(policy: &Resource, dp: &Resource) -> bool {
    if policy.role == PolicyRole::Producer || dp.meta.origin() != Some("zone") {
        return true;
    }
    match (policy.meta.origin(), policy.meta.zone()) {
        (Some("zone"), Some(zone)) => dp.meta.zone() == Some(zone),
        _ => true,
    }
}

/// Consumer and workload-owner policies only reach their own namespace.
fn namespace_allows(policy: &Resource, dp: &Resource) -> bool {
    match policy.role {
        PolicyRole::Consumer | PolicyRole::WorkloadOwner => {
            policy.meta.label(labels::NAMESPACE) == dp.meta.label(labels::NAMESPACE)
        }
        PolicyRole::System | PolicyRole::Producer => true,
    }
}

fn selects_by_ref(
    policy: &Resource,
    target: Option<&TargetRef>,
    proxy: Proxy,
    routes: &RouteLookup,
    depth: u8,
) -> bool {
    let mesh_ref = TargetRef::mesh();
    let r = target.unwrap_or(&mesh_ref);
    let dp = proxy.spec;
    let proxy_type = if dp.is_gateway() { ProxyType::Gateway } else { ProxyType::Sidecar };
    let type_ok = r.proxy_types.as_ref().is_none_or(|t| t.is_empty() || t.iter().any(|p| p.is(proxy_type)));
    let inbound_tags = || dp.inbounds().iter().filter(|i| !i.is_ignored()).map(|i| &i.tags);
    let gateway_tags = || dp.gateway().map(|g| &g.tags);
    match r.kind() {
        None => false,
        Some(TargetRefKind::Mesh) => type_ok,
        Some(TargetRefKind::MeshSubset) => {
            let tags = r.tags.clone().unwrap_or_default();
            type_ok
                && (inbound_tags().any(|t| tags_match(t, &tags))
                    || gateway_tags().is_some_and(|t| tags_match(t, &tags)))
        }
        Some(TargetRefKind::MeshService | TargetRefKind::MeshServiceSubset) => {
            let mut tags = r.tags.clone().unwrap_or_default();
            tags.insert("kuma.io/service".into(), r.name().to_string());
            inbound_tags().any(|t| tags_match(t, &tags)) || gateway_tags().is_some_and(|t| tags_match(t, &tags))
        }
        Some(TargetRefKind::Dataplane) => {
            if dp.is_builtin_gateway() {
                return false;
            }
            let meta = &proxy.resource.meta;
            let by_identity = if r.has_labels() {
                r.labels.iter().flatten().all(|(k, v)| meta.label(k) == Some(v))
            } else if !r.name().is_empty() {
                let namespace = r.namespace.as_deref().filter(|n| !n.is_empty()).or(policy.meta.namespace.as_deref());
                meta.display_name() == r.name()
                    && namespace.is_none_or(|ns| meta.namespace.as_deref() == Some(ns))
                    && policy.meta.zone() == meta.zone()
            } else {
                true
            };
            by_identity
                && r.section_name.as_deref().filter(|s| !s.is_empty()).is_none_or(|section| {
                    dp.inbounds().iter().any(|i| i.section_name() == section)
                        || dp.listeners().iter().any(|l| l.section_name() == section)
                })
        }
        Some(TargetRefKind::MeshHTTPRoute) => {
            // The route's own targetRef decides; an unresolvable route selects nothing.
            let Some(route) = routes(r.name()) else { return false };
            let Some(view) = route.spec.as_ref().and_then(Spec::policy) else { return false };
            depth < 4 && selects_by_ref(policy, view.target_ref, proxy, routes, depth + 1)
        }
        Some(TargetRefKind::MeshGateway) => dp.is_builtin_gateway(),
        Some(TargetRefKind::MeshExternalService | TargetRefKind::MeshMultiZoneService) => false,
    }
}

/// Tags of a proxy contain all wanted tags (`*` matches any value).
pub fn tags_match(have: &StringMap, want: &StringMap) -> bool {
    want.iter().all(|(k, v)| have.get(k).is_some_and(|h| v == "*" || h == v))
}

/// The Dataplanes of a set of resources.
pub fn proxies(resources: &[Resource]) -> Vec<Proxy<'_>> {
    resources.iter().filter(|r| r.meta.kind == Kind::Dataplane).filter_map(Proxy::of).collect()
}
