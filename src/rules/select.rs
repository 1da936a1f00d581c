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

/// What a policy's top-level targetRef selects of one proxy.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// Indices into the proxy's `networking.inbound[]`.
    pub inbounds: Vec<usize>,
    /// Indices into the proxy's embedded `networking.listeners[]`.
    pub listeners: Vec<usize>,
    /// A delegated gateway (or a builtin one, as a whole) is selected.
    pub gateway: bool,
}

impl Selection {
    /// Kuma's "the policy matches the proxy": anything at all is selected.
    pub fn is_empty(&self) -> bool {
        self.inbounds.is_empty() && self.listeners.is_empty() && !self.gateway
    }
}

/// Whether `policy` (with top-level `target`, `None` meaning Mesh) selects `proxy`.
pub fn selects(policy: &Resource, target: Option<&TargetRef>, proxy: Proxy, routes: &RouteLookup) -> bool {
    !selection(policy, target, proxy, routes).is_empty()
}

/// What `policy` (with top-level `target`, `None` meaning Mesh) selects of
/// `proxy`: the pre-filters by mesh, zone and namespace, then the targetRef.
pub fn selection(policy: &Resource, target: Option<&TargetRef>, proxy: Proxy, routes: &RouteLookup) -> Selection {
    if policy.meta.mesh != proxy.resource.meta.mesh
        || !zone_allows(policy, proxy.resource)
        || !namespace_allows(policy, proxy.resource)
    {
        return Selection::default();
    }
    select_by_ref(policy, target, proxy, routes, 0)
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
            policy.meta.label(labels::NAMESPACE).is_some_and(|ns| dp.meta.label(labels::NAMESPACE) == Some(ns))
        }
        PolicyRole::System | PolicyRole::Producer => true,
    }
}

/// Kuma's `inboundsSelectedByTags`: inbounds whose tags match, and the gateway
/// when its tags match. `Ignored` inbounds count too (Kuma 2.14.3, kumahq/kuma
/// #16323): an inbound warming up gets its policies before it turns `Ready`, so
/// that it never serves without them (`matchedpolicies/dataplanepolicies/07`).
fn by_tags(dp: &Dataplane, tags: &StringMap) -> Selection {
    let inbounds = dp.inbounds().iter().enumerate().filter(|(_, i)| tags_match(&i.tags, tags)).map(|(n, _)| n);
    Selection {
        inbounds: inbounds.collect(),
        listeners: Vec::new(),
        gateway: dp.gateway().is_some_and(|g| tags_match(&g.tags, tags)),
    }
}

fn select_by_ref(
    policy: &Resource,
    target: Option<&TargetRef>,
    proxy: Proxy,
    routes: &RouteLookup,
    depth: u8,
) -> Selection {
    let mesh_ref = TargetRef::mesh();
    let r = target.unwrap_or(&mesh_ref);
    let dp = proxy.spec;
    let proxy_type = if dp.is_gateway() { ProxyType::Gateway } else { ProxyType::Sidecar };
    let type_ok = r.proxy_types.as_ref().is_none_or(|t| t.is_empty() || t.iter().any(|p| p.is(proxy_type)));
    match r.kind() {
        None => Selection::default(),
        Some(TargetRefKind::Mesh | TargetRefKind::MeshSubset) if !type_ok => Selection::default(),
        Some(TargetRefKind::Mesh) => {
            let mut s = by_tags(dp, &StringMap::new());
            s.listeners = (0..dp.listeners().len()).collect();
            s
        }
        Some(TargetRefKind::MeshSubset) => by_tags(dp, &r.tags.clone().unwrap_or_default()),
        Some(TargetRefKind::MeshService | TargetRefKind::MeshServiceSubset) => {
            let mut tags = r.tags.clone().unwrap_or_default();
            tags.insert("kuma.io/service".into(), r.name().to_string());
            by_tags(dp, &tags)
        }
        Some(TargetRefKind::Dataplane) => {
            if dp.is_builtin_gateway() {
                return Selection::default();
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
            if !by_identity {
                return Selection::default();
            }
            let section = r.section_name.as_deref().filter(|s| !s.is_empty());
            let wanted = |name: String| section.is_none_or(|s| s == name);
            Selection {
                inbounds: dp
                    .inbounds()
                    .iter()
                    .enumerate()
                    .filter(|(_, i)| !i.is_ignored() && wanted(i.section_name()))
                    .map(|(n, _)| n)
                    .collect(),
                listeners: dp
                    .listeners()
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| wanted(l.section_name()))
                    .map(|(n, _)| n)
                    .collect(),
                // A delegated gateway selected by identity is selected as a whole
                // (`matchedpolicies/dataplane-kind/delegated-gateway-select-by-labels`).
                gateway: dp.is_delegated_gateway(),
            }
        }
        Some(TargetRefKind::MeshHTTPRoute) => {
            // The route's own targetRef decides; an unresolvable route selects nothing.
            let Some(route) = routes(r.name()) else { return Selection::default() };
            let Some(view) = route.spec.as_ref().and_then(Spec::policy) else { return Selection::default() };
            if depth >= 4 {
                return Selection::default();
            }
            select_by_ref(policy, view.target_ref, proxy, routes, depth + 1)
        }
        Some(TargetRefKind::MeshGateway) => Selection { gateway: dp.is_builtin_gateway(), ..Default::default() },
        Some(TargetRefKind::MeshExternalService | TargetRefKind::MeshMultiZoneService) => Selection::default(),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn resources(yaml: &str) -> Vec<Resource> {
        crate::validate::run_texts(vec![("t.yaml".into(), yaml.into())], &Default::default()).resources
    }

    fn select(yaml: &str) -> Selection {
        let rs = resources(yaml);
        let proxy = proxies(&rs).into_iter().next().expect("a Dataplane");
        let policy = rs.iter().find(|r| r.meta.kind.is_policy()).expect("a policy");
        let view = policy.spec.as_ref().and_then(Spec::policy).expect("a policy spec");
        selection(policy, view.target_ref, proxy, &|_| None)
    }

    #[test]
    fn ignored_inbounds_are_selected_by_tags() {
        let s = select(
            "type: Dataplane\nname: dp-1\nmesh: m\nnetworking:\n  address: 1.1.1.1\n  inbound:\n  \
             - {port: 8080, state: Ignored, tags: {kuma.io/service: web, version: v1}}\n---\n\
             type: MeshTimeout\nname: t\nmesh: m\nspec:\n  targetRef: {kind: MeshServiceSubset, name: web, tags: {version: v1}}\n  \
             to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1s}}]\n",
        );
        assert_eq!(s.inbounds, vec![0]);
    }

    #[test]
    fn dataplane_kind_selects_a_delegated_gateway() {
        let s = select(
            "type: Dataplane\nname: kong\nmesh: m\nlabels: {app: kong}\nnetworking:\n  address: 1.1.1.1\n  \
             gateway: {type: DELEGATED, tags: {kuma.io/service: kong}}\n---\n\
             type: MeshTimeout\nname: t\nmesh: m\nspec:\n  targetRef: {kind: Dataplane, labels: {app: kong}}\n  \
             to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1s}}]\n",
        );
        assert!(s.gateway && !s.is_empty());
    }
}
