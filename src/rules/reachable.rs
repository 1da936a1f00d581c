//! Reachable services inferred from MeshTrafficPermission: Kuma's
//! `experimental.autoReachableServices` (`KUMA_EXPERIMENTAL_AUTO_REACHABLE_SERVICES`,
//! `pkg/plugins/policies/meshtrafficpermission/graph/`, reference §8.4), opt-in
//! with `meshc compile --auto-reachable-services`.
//!
//! A sidecar that may not call a service gets no outbound to it: with services
//! that each accept a handful of clients, that is the difference between a
//! config per proxy that grows with the mesh and one that does not.
//!
//! Kuma computes, once per mesh, the `from` rules of MeshTrafficPermission for
//! an artificial proxy standing for each destination, then asks each client
//! whether its identity is allowed:
//! - a legacy `kuma.io/service` destination stands as a proxy with one inbound
//!   tagged with that service and, from the first Dataplane that provides it, the
//!   tags [`SUPPORTED_TAGS`]; top-level `MeshSubset`/`MeshServiceSubset` tags of
//!   other keys are dropped (the policy then selects more, never less);
//! - a MeshService stands as a proxy tagged with its `selector.dataplaneTags` plus
//!   its `kuma.io/origin` and `kuma.io/zone` labels; top-level tags of other keys
//!   are dropped;
//! - policies whose top-level targetRef is a `Dataplane` are left out (no tags to
//!   match), and so are `rules[]` (Kuma reads `from` rules only) and shadow
//!   policies (`kuma.io/effect: shadow`);
//! - a client may reach a destination when the rule for one of its inbounds' tag
//!   sets is `Allow` or `AllowWithShadowDeny`; no rule (no MeshTrafficPermission
//!   selects the destination) means no;
//! - MeshExternalService and MeshMultiZoneService destinations are always reachable.
//!
//! Like Kuma, the graph does not look at the mesh's mTLS: without mTLS the
//! permissions are not enforced, but the outbounds are pruned all the same.
//! Static `reachableServices` (legacy destinations) and `reachableBackends`
//! (MeshService destinations) take precedence: where one is set, the graph is
//! not consulted for that kind (Kuma's `resolveVIPOutbounds`).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::Origin;
use super::policy::{Policy, Section};
use super::select::{self, Proxy};
use super::sort::compare_policies;
use super::subset::{self, SubsetItem, SubsetRule};
use crate::model::common::{StringMap, TargetRef, TargetRefKind};
use crate::model::dataplane::{Dataplane, Inbound, Networking};
use crate::model::meta::{Form, Meta, labels};
use crate::model::{Kind, PolicyRole, Resource, Spec};
use crate::world::{Service, ServiceKind};

/// The tags of a legacy service Kuma keeps for matching top-level subsets
/// (`graph/services.SupportedTags`): they are the same on every instance of a
/// Kubernetes service.
pub const SUPPORTED_TAGS: [&str; 4] =
    ["kuma.io/service", "k8s.kuma.io/namespace", "k8s.kuma.io/service-name", "k8s.kuma.io/service-port"];

/// A destination's identity: [`Service::key`], owned.
type ServiceId = (String, ServiceKind, Option<String>, Option<String>, String);

fn id(s: &Service) -> ServiceId {
    (s.mesh.clone(), s.kind, s.zone.clone(), s.namespace.clone(), s.name.clone())
}

/// The `from` rules of MeshTrafficPermission per destination, for every mesh.
#[derive(Debug, Default)]
pub struct Graph {
    /// The rules of each MeshService and legacy destination some
    /// MeshTrafficPermission selects; the others are denied.
    rules: HashMap<ServiceId, Arc<Vec<SubsetRule>>>,
}

impl Graph {
    /// The graph of the world's `services` under the MeshTrafficPermissions of
    /// `resources`, computed once for every mesh; `dataplanes` give legacy
    /// services their supported tags.
    pub fn build(resources: &[Resource], services: &[Service], dataplanes: &[Proxy]) -> Graph {
        let policies: Vec<Policy> = resources
            .iter()
            .filter(|r| r.meta.kind == Kind::MeshTrafficPermission && !r.meta.is_shadow())
            .filter_map(Policy::of)
            .filter(|p| p.top_kind() != TargetRefKind::Dataplane)
            .collect();
        let legacy_tags = legacy_tags(dataplanes);
        // Destinations that match the same policies share their rules (usually all
        // but a few: the clique enumeration behind `from` rules is worth sharing).
        let mut cache: HashMap<Vec<usize>, Arc<Vec<SubsetRule>>> = HashMap::new();
        let rules = services
            .iter()
            .filter_map(|s| {
                let tags = match s.kind {
                    ServiceKind::Legacy => {
                        let mut tags =
                            legacy_tags.get(&(s.mesh.as_str(), s.name.as_str())).cloned().unwrap_or_default();
                        tags.insert(subset::SERVICE_TAG.to_string(), s.name.clone());
                        tags
                    }
                    ServiceKind::MeshService => mesh_service_tags(s),
                    ServiceKind::MeshExternalService | ServiceKind::MeshMultiZoneService => return None,
                };
                let keep: Vec<&str> = match s.kind {
                    ServiceKind::Legacy => SUPPORTED_TAGS.to_vec(),
                    _ => tags.keys().map(String::as_str).collect(),
                };
                destination_rules(&policies, &s.mesh, &tags, &keep, &mut cache).map(|r| (id(s), r))
            })
            .collect();
        Graph { rules }
    }

    /// What a client proxy may reach. `static_services` / `static_backends`: the
    /// proxy lists `reachableServices` / `reachableBackends`, which then decide
    /// alone for legacy / real-resource destinations.
    pub fn client<'g>(&'g self, dp: Proxy<'g>, static_services: bool, static_backends: bool) -> Client<'g> {
        let mut tag_sets: Vec<&StringMap> = dp.spec.inbounds().iter().map(|i| &i.tags).collect();
        tag_sets.extend(dp.spec.gateway().map(|g| &g.tags));
        Client { graph: self, tag_sets, static_services, static_backends }
    }

    /// Whether a proxy whose inbounds carry `tag_sets` may reach `s` (Kuma's
    /// `CanReachFromAny`).
    fn can_reach(&self, s: &Service, tag_sets: &[&StringMap]) -> bool {
        let Some(rules) = self.rules.get(&id(s)) else { return false };
        tag_sets.iter().any(|tags| subset::compute(rules, tags).is_some_and(|r| allows(&r.conf)))
    }
}

/// One client proxy's view of the [`Graph`].
pub struct Client<'g> {
    graph: &'g Graph,
    tag_sets: Vec<&'g StringMap>,
    static_services: bool,
    static_backends: bool,
}

impl Client<'_> {
    /// Whether the proxy keeps its outbound to `s`.
    pub fn allows(&self, s: &Service) -> bool {
        match s.kind {
            ServiceKind::MeshExternalService | ServiceKind::MeshMultiZoneService => true,
            ServiceKind::Legacy => self.static_services || self.graph.can_reach(s, &self.tag_sets),
            ServiceKind::MeshService => self.static_backends || self.graph.can_reach(s, &self.tag_sets),
        }
    }
}

/// `Allow` and `AllowWithShadowDeny` let traffic through; `Deny` does not.
fn allows(conf: &Value) -> bool {
    matches!(conf.get("action").and_then(Value::as_str), Some("Allow" | "AllowWithShadowDeny"))
}

/// The supported tags of each legacy service, from the first Dataplane (by name)
/// with an inbound of it (`graph/services.BuildServices`).
fn legacy_tags<'d>(dataplanes: &'d [Proxy]) -> HashMap<(&'d str, &'d str), StringMap> {
    let mut sorted: Vec<&Proxy> = dataplanes.iter().collect();
    sorted.sort_by(|a, b| {
        (&a.resource.meta.mesh, &a.resource.meta.name).cmp(&(&b.resource.meta.mesh, &b.resource.meta.name))
    });
    let mut out: HashMap<(&str, &str), StringMap> = HashMap::new();
    for dp in sorted {
        let mesh = dp.resource.meta.mesh.as_deref().unwrap_or_default();
        let sets = dp.spec.inbounds().iter().map(|i| &i.tags).chain(dp.spec.gateway().map(|g| &g.tags));
        for tags in sets {
            let Some(service) = tags.get(subset::SERVICE_TAG) else { continue };
            out.entry((mesh, service.as_str())).or_insert_with(|| {
                tags.iter()
                    .filter(|(k, _)| SUPPORTED_TAGS.contains(&k.as_str()))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            });
        }
    }
    out
}

/// The tags a MeshService's artificial proxy carries
/// (`graph/backends.BuildRules`): its `selector.dataplaneTags` (a generated
/// MeshService selects `kuma.io/service: <name>`), `kuma.io/origin` and `kuma.io/zone`.
fn mesh_service_tags(s: &Service) -> StringMap {
    let mut tags = match s.resource.and_then(|r| r.spec.as_ref()) {
        Some(Spec::MeshService(ms)) => {
            ms.selector.as_ref().and_then(|sel| sel.dataplane_tags.clone()).unwrap_or_default()
        }
        _ => StringMap::from([(subset::SERVICE_TAG.to_string(), s.name.clone())]),
    };
    for key in [labels::ORIGIN, labels::ZONE] {
        if let Some(v) = s.labels.get(key).filter(|v| !v.is_empty()) {
            tags.insert(key.to_string(), v.clone());
        }
    }
    tags
}

/// The `from` rules of the one inbound of an artificial proxy of `mesh` tagged
/// `tags`, under `policies` whose top-level tags are cut to the keys in `keep`
/// (`graph/util.ComputeMtpRulesForTags`); `None` when no policy selects it.
fn destination_rules(
    policies: &[Policy],
    mesh: &str,
    tags: &StringMap,
    keep: &[&str],
    cache: &mut HashMap<Vec<usize>, Arc<Vec<SubsetRule>>>,
) -> Option<Arc<Vec<SubsetRule>>> {
    let resource = artificial_proxy(mesh, tags);
    let proxy = Proxy::of(&resource)?;
    let mut matched: Vec<(usize, Policy)> = policies
        .iter()
        .enumerate()
        .filter(|(_, p)| p.resource.meta.mesh.as_deref() == Some(mesh))
        .filter_map(|(i, p)| {
            let trimmed = Policy { top: trim(&p.top, keep), ..p.clone() };
            let selected = !select::selection(p.resource, Some(&trimmed.top), proxy, &|_| None).inbounds.is_empty();
            selected.then_some((i, trimmed))
        })
        .collect();
    if matched.is_empty() {
        return None;
    }
    matched.sort_by(|a, b| compare_policies(&a.1, &b.1));
    let key: Vec<usize> = matched.iter().map(|(i, _)| *i).collect();
    if let Some(rules) = cache.get(&key) {
        return Some(rules.clone());
    }
    let items: Vec<SubsetItem> = matched
        .iter()
        .filter(|(_, p)| p.rules.is_empty())
        .flat_map(|(i, p)| {
            p.from.iter().map(move |item| SubsetItem {
                origin: Origin { policy: *i, section: Section::From, index: item.index },
                target_ref: std::borrow::Cow::Borrowed(&item.target_ref),
                conf: &item.conf,
                kind: Kind::MeshTrafficPermission,
            })
        })
        .collect();
    let rules = Arc::new(subset::from_rules(&items));
    cache.insert(key, rules.clone());
    Some(rules)
}

/// A top-level targetRef with the subset tags of keys outside `keep` dropped
/// (`trimNotSupportedTags`): it selects more proxies, never fewer.
fn trim(top: &TargetRef, keep: &[&str]) -> TargetRef {
    let mut out = top.clone();
    if let Some(tags) = &mut out.tags {
        tags.retain(|k, _| keep.contains(&k.as_str()));
    }
    out
}

/// Kuma's artificial Dataplane: address 1.1.1.1, one inbound on port 1234 with
/// `tags`, no labels, no namespace.
fn artificial_proxy(mesh: &str, tags: &StringMap) -> Resource {
    let inbound = Inbound { port: Some(1234), tags: tags.clone(), ..Default::default() };
    let networking = Networking { address: Some("1.1.1.1".into()), inbound: vec![inbound], ..Default::default() };
    Resource {
        meta: Meta {
            kind: Kind::Dataplane,
            form: Form::Universal,
            name: String::new(),
            namespace: None,
            mesh: Some(mesh.to_string()),
            labels: StringMap::new(),
            annotations: StringMap::new(),
            file: 0,
            doc: 0,
            spec_pointer: String::new(),
            name_pointer: String::new(),
        },
        spec: Some(Spec::Dataplane(Box::new(Dataplane { networking: Some(networking), ..Default::default() }))),
        status: None,
        role: PolicyRole::System,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::World;

    fn resources(yaml: &str) -> Vec<Resource> {
        crate::validate::run_texts(vec![("t.yaml".into(), yaml.into())], &Default::default()).resources
    }

    const MESH_MTLS: &str = "type: Mesh\nname: m\nmtls: {enabledBackend: ca, backends: [{name: ca, type: builtin}]}\n";

    /// A sidecar of `service` with extra inbound tags (`k: v` pairs, YAML flow).
    fn dp(name: &str, service: &str, extra: &str) -> String {
        format!(
            "---\ntype: Dataplane\nname: {name}\nmesh: m\nnetworking:\n  address: 10.0.0.{}\n  inbound:\n  \
             - {{port: 8080, tags: {{kuma.io/service: {service}{extra}}}}}\n  transparentProxying: {{redirectPortInbound: 15006, redirectPortOutbound: 15001}}\n",
            name.len() + service.len()
        )
    }

    fn mtp(name: &str, top: &str, from: &[(&str, &str)]) -> String {
        let from: String = from
            .iter()
            .map(|(target, action)| format!("  - {{targetRef: {target}, default: {{action: {action}}}}}\n"))
            .collect();
        format!("---\ntype: MeshTrafficPermission\nname: {name}\nmesh: m\nspec:\n  targetRef: {top}\n  from:\n{from}")
    }

    /// The `kind/name` of every service the Dataplane `client` keeps an outbound to.
    fn reachable(yaml: &str, client: &str) -> Vec<String> {
        let rs = resources(yaml);
        let opts = crate::world::Options { auto_reachable_services: true, ..Default::default() };
        let world = World::build(&rs, &opts);
        let Some(graph) = &world.reachable else { panic!("no graph") };
        let Some(dp) = world.dataplanes.iter().find(|d| d.resource.meta.name == client) else { panic!("no {client}") };
        let c = graph.client(*dp, false, false);
        let mut out: Vec<String> =
            world.services.iter().filter(|s| c.allows(s)).map(|s| format!("{}/{}", s.kind.short(), s.name)).collect();
        out.sort();
        out
    }

    fn three_services() -> String {
        format!("{MESH_MTLS}{}{}{}", dp("web-1", "web", ""), dp("api-1", "api", ", version: v1"), dp("db-1", "db", ""))
    }

    #[test]
    fn no_permission_reaches_nothing() {
        assert_eq!(reachable(&three_services(), "web-1"), Vec::<String>::new());
    }

    #[test]
    fn allow_and_allow_with_shadow_deny_reach_deny_does_not() {
        let yaml = format!(
            "{}{}{}{}",
            three_services(),
            mtp("a", "{kind: MeshService, name: api}", &[("{kind: MeshService, name: web}", "Allow")]),
            mtp("d", "{kind: MeshService, name: db}", &[("{kind: MeshService, name: web}", "AllowWithShadowDeny")]),
            mtp("w", "{kind: MeshService, name: web}", &[("{kind: MeshService, name: web}", "Deny")]),
        );
        assert_eq!(reachable(&yaml, "web-1"), ["svc/api", "svc/db"]);
        assert_eq!(reachable(&yaml, "api-1"), Vec::<String>::new());
    }

    #[test]
    fn negation_denies_one_client_of_an_allowed_mesh() {
        let yaml = format!(
            "{}{}",
            three_services(),
            mtp(
                "db",
                "{kind: MeshService, name: db}",
                &[("{kind: Mesh}", "Allow"), ("{kind: MeshSubset, tags: {version: v1}}", "Deny")]
            ),
        );
        // api carries `version: v1`: the `version != v1` rule does not cover it.
        assert_eq!(reachable(&yaml, "web-1"), ["svc/db"]);
        assert_eq!(reachable(&yaml, "api-1"), Vec::<String>::new());
    }

    #[test]
    fn unsupported_top_level_tags_widen_supported_ones_do_not() {
        let k8s = ", k8s.kuma.io/namespace: shop";
        let yaml = format!(
            "{MESH_MTLS}{}{}{}{}{}",
            dp("web-1", "web", ""),
            dp("api-1", "api", &format!("{k8s}, version: v2")),
            dp("db-1", "db", ", k8s.kuma.io/namespace: data"),
            // `version` is dropped: api v2 is reachable although only v1 is selected.
            mtp("api", "{kind: MeshSubset, tags: {kuma.io/service: api, version: v1}}", &[("{kind: Mesh}", "Allow")]),
            // `k8s.kuma.io/namespace` is kept: db (namespace data) is not selected.
            mtp("shop", "{kind: MeshSubset, tags: {k8s.kuma.io/namespace: shop}}", &[("{kind: Mesh}", "Allow")]),
        );
        assert_eq!(reachable(&yaml, "web-1"), ["svc/api"]);
    }

    #[test]
    fn dataplane_targets_rules_and_shadow_policies_are_left_out() {
        let yaml = format!(
            "{}{}{}{}",
            three_services(),
            "---\ntype: MeshTrafficPermission\nname: by-labels\nmesh: m\nspec:\n  targetRef: {kind: Dataplane, labels: {app: x}}\n  \
             from: [{targetRef: {kind: Mesh}, default: {action: Allow}}]\n",
            "---\ntype: MeshTrafficPermission\nname: rules\nmesh: m\nspec:\n  targetRef: {kind: Mesh}\n  \
             rules: [{default: {allow: [{spiffeID: {type: Prefix, value: 'spiffe://m/'}}]}}]\n",
            "---\ntype: MeshTrafficPermission\nname: shadow\nmesh: m\nlabels: {kuma.io/effect: shadow}\nspec:\n  \
             targetRef: {kind: Mesh}\n  from: [{targetRef: {kind: Mesh}, default: {action: Allow}}]\n",
        );
        assert_eq!(reachable(&yaml, "web-1"), Vec::<String>::new());
    }

    #[test]
    fn external_and_multi_zone_services_are_always_reachable() {
        let yaml = format!(
            "{}{}{}{}{}",
            MESH_MTLS.replace("name: m\n", "name: m\nmeshServices: {mode: Exclusive}\n"),
            dp("web-1", "web", ", app: web"),
            dp("api-1", "api", ", app: api"),
            "---\ntype: MeshService\nname: api\nmesh: m\nlabels: {app: api}\nspec:\n  selector: {dataplaneTags: {app: api}}\n  \
             ports: [{port: 80, targetPort: 8080}]\n---\ntype: MeshMultiZoneService\nname: api-all\nmesh: m\nspec:\n  \
             selector: {meshService: {matchLabels: {app: api}}}\n  ports: [{port: 80}]\n",
            "---\ntype: MeshExternalService\nname: ext\nmesh: m\nspec:\n  match: {type: HostnameGenerator, port: 443, protocol: tcp}\n  \
             endpoints: [{address: ext.example.com, port: 443}]\n",
        );
        assert_eq!(reachable(&yaml, "web-1"), ["extsvc/ext", "mzsvc/api-all"]);
        // A MeshService is matched by its dataplaneTags: `app` selects `api`; the
        // MeshService generated for `web` (dataplaneTags `kuma.io/service: web`) and
        // the legacy services do not have the key, so for them the subset widens to all.
        let allowed =
            format!("{yaml}{}", mtp("api", "{kind: MeshSubset, tags: {app: api}}", &[("{kind: Mesh}", "Allow")]));
        let all = ["extsvc/ext", "msvc/api", "msvc/web", "mzsvc/api-all", "svc/api", "svc/web"];
        assert_eq!(reachable(&allowed, "web-1"), all);
        let only_api = format!(
            "{yaml}{}",
            mtp("api", "{kind: MeshSubset, tags: {app: api, kuma.io/service: api}}", &[("{kind: Mesh}", "Allow")])
        );
        // Both keys: the MeshService keeps `app`, the legacy services `kuma.io/service`.
        assert_eq!(reachable(&only_api, "web-1"), ["extsvc/ext", "msvc/api", "mzsvc/api-all", "svc/api"]);
    }

    #[test]
    fn mtls_off_prunes_all_the_same_as_kuma_does() {
        // Kuma's graph builder does not look at the mesh's mTLS (the permissions are
        // not enforced then, but the outbounds are pruned).
        let yaml = three_services().replace(MESH_MTLS, "type: Mesh\nname: m\n");
        assert_eq!(reachable(&yaml, "web-1"), Vec::<String>::new());
        let allowed = format!("{yaml}{}", mtp("all", "{kind: Mesh}", &[("{kind: Mesh}", "Allow")]));
        assert_eq!(reachable(&allowed, "web-1"), ["svc/api", "svc/db", "svc/web"]);
    }

    #[test]
    fn static_lists_decide_alone_for_their_kind() {
        let yaml = three_services();
        let rs = resources(&yaml);
        let opts = crate::world::Options { auto_reachable_services: true, ..Default::default() };
        let world = World::build(&rs, &opts);
        let (Some(graph), Some(dp)) = (&world.reachable, world.dataplanes.first()) else { panic!("no graph") };
        let Some(s) = world.services.iter().find(|s| s.kind == ServiceKind::Legacy) else {
            panic!("no legacy service")
        };
        assert!(!graph.client(*dp, false, false).allows(s));
        assert!(graph.client(*dp, true, false).allows(s));
        assert!(!graph.client(*dp, false, true).allows(s));
    }
}
