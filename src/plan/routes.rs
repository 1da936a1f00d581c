//! What MeshHTTPRoute and MeshTCPRoute need of the plan: every backendRef of
//! an outbound's route confs (rule backends and mirror backends) resolved to a
//! cluster, and the clusters themselves added to the proxy even when it has no
//! outbound of its own to that destination (Kuma adds the clusters routes need,
//! `meshroute.GenerateClusters`). Also which MeshHTTPRoute contributed each
//! merged rule, so that the `envoy` stage names routes as Kuma does and
//! policies targeting one MeshHTTPRoute find its routes.
//!
//! A backendRef that does not resolve maps to no cluster: like Kuma 2.14, the
//! `envoy` stage drops it from the split (and a rule left with no backend is
//! left out, its traffic falling through to the next route).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::outbounds;
use super::{ClusterPlan, ClusterTls, OutboundPlan};
use crate::model::Kind;
use crate::model::common::{BackendRef, StringMap, TargetRefKind};
use crate::rules::effective::Effective;
use crate::rules::proxy::PolicySet;
use crate::rules::resource::Candidate;
use crate::rules::subset::hash_matches;
use crate::world::{Service, ServiceKind, ServicePort, World, labels_match};

/// The routing facts of one outbound (empty when no route targets it).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Routing {
    /// [`backend_key`] of a backendRef -> its cluster. Unresolvable refs are absent.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub clusters: BTreeMap<String, Backend>,
    /// Matches hash of a merged MeshHTTPRoute rule -> where it came from.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub rules: BTreeMap<String, RuleSource>,
}

impl Routing {
    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty() && self.rules.is_empty()
    }

    /// The cluster a backendRef (as JSON) resolves to.
    pub fn cluster(&self, backend_ref: &Value) -> Option<&Backend> {
        self.clusters.get(&backend_key(backend_ref))
    }
}

/// A resolved backendRef.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backend {
    pub cluster: String,
    /// A MeshExternalService: Envoy rewrites the Host header to the upstream's (Kuma's `auto_host_rewrite`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
}

/// The MeshHTTPRoute a merged rule came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleSource {
    /// The MeshHTTPRoute's display name (what `Condition::Route` names).
    pub route: String,
    /// Kuma's name of the Envoy routes of this rule: the route's KRI on an
    /// outbound to a real resource, the matches hash on a legacy one.
    pub envoy_name: String,
}

/// The key of a backendRef: its JSON without `weight` (Kuma's `TargetRef.Hash`),
/// keys sorted.
pub fn backend_key(backend_ref: &Value) -> String {
    let mut v = backend_ref.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("weight");
    }
    let sorted: BTreeMap<String, Value> = v.as_object().map(|o| o.clone().into_iter().collect()).unwrap_or_default();
    serde_json::to_string(&sorted).unwrap_or_default()
}

/// Kuma's name of a cluster splitting `service` by tags
/// (`Tags.DestinationClusterName`): the service, a dash, and the first 8 bytes
/// of the SHA-256 of the sorted tags (`kuma.io/service` included) in hex.
pub fn subset_cluster_name(service: &str, tags: &StringMap) -> String {
    let mut all: BTreeMap<&str, &str> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.insert("kuma.io/service", service);
    if all.len() == 1 {
        return service.to_string();
    }
    let mut h = Sha256::new();
    for (k, v) in &all {
        h.update(k.as_bytes());
        h.update(v.as_bytes());
    }
    let digest = h.finalize();
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{service}-{hex}")
}

/// Everything needed to resolve and build clusters.
pub struct Context<'a, 'w> {
    pub world: &'w World<'a>,
    pub policies: &'w PolicySet<'a>,
    pub mesh: &'w str,
    /// The proxy's namespace: where a backendRef without one resolves.
    pub namespace: Option<&'w str>,
    pub mtls: bool,
    pub secrets_dir: &'w str,
}

/// Resolve the route backends of every outbound and add the clusters they need.
pub fn plan(cx: &Context, outbounds: &mut [OutboundPlan], clusters: &mut Vec<ClusterPlan>) {
    let mut extra: BTreeMap<String, ClusterPlan> = BTreeMap::new();
    for o in outbounds.iter_mut() {
        let mut routing = Routing::default();
        for e in &o.policies {
            if e.kind == Kind::MeshHTTPRoute.name() || e.kind == Kind::MeshTCPRoute.name() {
                for r in backend_refs(&e.conf) {
                    let key = backend_key(r);
                    if routing.clusters.contains_key(&key) {
                        continue;
                    }
                    if let Some((backend, cluster)) = resolve(cx, r) {
                        extra.entry(cluster.name.clone()).or_insert(cluster);
                        routing.clusters.insert(key, backend);
                    }
                }
            }
            if e.kind == Kind::MeshHTTPRoute.name() {
                routing.rules.extend(rule_sources(cx, o, e));
            }
        }
        o.routing = routing;
    }
    for (name, c) in extra {
        if let Err(at) = clusters.binary_search_by(|x| x.name.cmp(&name)) {
            clusters.insert(at, c);
        }
    }
}

/// Every backendRef of a route conf: `rules[].default.backendRefs[]` and
/// `rules[].default.filters[].requestMirror.backendRef` (MeshHTTPRoute), or
/// `default.backendRefs[]` (MeshTCPRoute, the first rule).
fn backend_refs(conf: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut defaults: Vec<&Value> = Vec::new();
    match conf.get("rules").and_then(Value::as_array) {
        Some(rules) => defaults.extend(rules.iter().filter_map(|r| r.get("default"))),
        None => defaults.extend(conf.get("default")),
    }
    for d in defaults {
        out.extend(d.get("backendRefs").and_then(Value::as_array).into_iter().flatten());
        for f in d.get("filters").and_then(Value::as_array).into_iter().flatten() {
            out.extend(f.get("requestMirror").and_then(|m| m.get("backendRef")));
        }
    }
    out
}

/// The MeshHTTPRoute that contributed each merged rule (by matches hash).
fn rule_sources(cx: &Context, o: &OutboundPlan, e: &Effective) -> Vec<(String, RuleSource)> {
    let rules = e.conf.get("rules").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let mut out = Vec::new();
    for (i, rule) in rules.iter().enumerate() {
        let matches = rule.get("matches").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let hash = hash_matches(matches);
        let Some(origin) = e.fields.get(&format!("/rules/{i}")).and_then(|&at| e.origins.get(at)) else { continue };
        let Some(resource) = route_resource(cx, &origin.policy) else { continue };
        let route = resource.meta.display_name().to_string();
        let envoy_name = match (&o.destination.kri, Candidate::of_resource(resource)) {
            (Some(_), Some(c)) => c.key("").kri(),
            _ => hash.clone(),
        };
        out.push((hash, RuleSource { route, envoy_name }));
    }
    out
}

/// The MeshHTTPRoute resource an origin label (`MeshHTTPRoute/<name>[.<ns>]`) names.
fn route_resource<'a>(cx: &Context<'a, '_>, label: &str) -> Option<&'a crate::model::Resource> {
    use crate::rules::effective::OriginRef;
    use crate::rules::{Origin, Section};
    (0..cx.policies.policies.len()).find_map(|p| {
        let policy = &cx.policies.policies[p];
        if policy.kind() != Kind::MeshHTTPRoute {
            return None;
        }
        let o = OriginRef::of(cx.policies, Origin { policy: p, section: Section::To, index: 0 });
        (o.policy == label).then_some(policy.resource)
    })
}

/// A backendRef's cluster (name and plan), or `None` when it names nothing
/// of the input.
fn resolve(cx: &Context, raw: &Value) -> Option<(Backend, ClusterPlan)> {
    let r: BackendRef = serde_json::from_value(raw.clone()).ok()?;
    let t = &r.target;
    let kind = t.kind()?;
    let namespace = t.namespace.as_deref().or(cx.namespace);
    let port = r.port.and_then(|p| u32::try_from(p).ok());
    let real = |kind: ServiceKind| -> Option<(&Service, &ServicePort)> {
        let s = match &t.name {
            Some(name) => cx.world.find(cx.mesh, kind, name, namespace)?,
            None if t.has_labels() => cx
                .world
                .services
                .iter()
                .find(|s| s.mesh == cx.mesh && s.kind == kind && labels_match(&s.labels, t.labels.as_ref()))?,
            None => return None,
        };
        let p = match (port, t.section_name.as_deref()) {
            (Some(p), _) => s.port(p)?,
            (None, Some(section)) => {
                s.ports.iter().find(|p| p.section_name() == section || p.port.to_string() == section)?
            }
            (None, None) => s.ports.first()?,
        };
        Some((s, p))
    };
    let build = |s: &Service, p: &ServicePort| outbounds::cluster(s, p, cx.mtls, cx.secrets_dir);
    match kind {
        // MeshService with a port (or section) is the real resource; without,
        // the legacy `kuma.io/service` of that name (`ReferencesRealObject`).
        TargetRefKind::MeshService if port.is_some() || t.section_name.is_some() || t.has_labels() => {
            let (s, p) = real(ServiceKind::MeshService)?;
            Some((Backend { cluster: outbounds::cluster_name(s, p), external: false }, build(s, p)))
        }
        TargetRefKind::MeshService | TargetRefKind::MeshServiceSubset => {
            let s = cx.world.find(cx.mesh, ServiceKind::Legacy, t.name(), None)?;
            let p = s.ports.first()?;
            let mut c = build(s, p);
            let tags = t.tags.clone().unwrap_or_default();
            if kind == TargetRefKind::MeshServiceSubset && !tags.is_empty() {
                c.name = subset_cluster_name(&s.name, &tags);
                c.endpoints.retain(|e| tags.iter().all(|(k, v)| e.tags.get(k) == Some(v)));
                if let ClusterTls::Mesh { sni, .. } = &mut c.tls {
                    *sni = subset_sni(&s.name, &s.mesh, &tags);
                }
            }
            Some((Backend { cluster: c.name.clone(), external: false }, c))
        }
        TargetRefKind::MeshExternalService => {
            let (s, p) = real(ServiceKind::MeshExternalService)?;
            Some((Backend { cluster: outbounds::cluster_name(s, p), external: true }, build(s, p)))
        }
        TargetRefKind::MeshMultiZoneService => {
            let (s, p) = real(ServiceKind::MeshMultiZoneService)?;
            Some((Backend { cluster: outbounds::cluster_name(s, p), external: false }, build(s, p)))
        }
        _ => None,
    }
}

/// Kuma's `SNIFromTags` of a service subset: `service{mesh=m,k=v,...}`, keys sorted.
fn subset_sni(service: &str, mesh: &str, tags: &StringMap) -> String {
    let mut all: BTreeMap<&str, &str> = tags.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    all.remove("kuma.io/service");
    all.insert("mesh", mesh);
    let pairs: Vec<String> = all.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{service}{{{}}}", pairs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_cluster_names_match_kuma() {
        // meshhttproute testdata basic-real-meshservice: subset {region: us} of backend.
        let tags = StringMap::from([("region".to_string(), "us".to_string())]);
        assert_eq!(subset_cluster_name("backend", &tags), "backend-c72efb5be46fae6b");
        assert_eq!(subset_cluster_name("backend", &StringMap::new()), "backend");
    }

    #[test]
    fn backend_keys_ignore_weight_and_key_order() {
        let a = json!({"kind": "MeshService", "name": "b", "port": 80, "weight": 3});
        let b = json!({"port": 80, "name": "b", "kind": "MeshService"});
        assert_eq!(backend_key(&a), backend_key(&b));
    }

    #[test]
    fn subset_sni_sorts_tags_with_the_mesh() {
        let tags = StringMap::from([("version".to_string(), "v1".to_string())]);
        assert_eq!(subset_sni("backend", "m", &tags), "backend{mesh=m,version=v1}");
    }
}
