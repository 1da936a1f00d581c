//! The rules of one proxy: which policies of each kind select it (and which of
//! its inbounds), in Kuma's order (reference §3.9 step 1–2).

use std::collections::BTreeMap;

use crate::model::common::TargetRefKind;
use crate::model::{Kind, Resource};

use serde_json::Value;

use super::effective::{Condition, Direction, Effective};
use super::inbound::inbound_rules;
use super::policy::{Policy, from_as_rules};
use super::resource::{self, Candidate, Targets};
use super::select::{self, Proxy, Selection};
use super::single::single_rule;
use super::sort::compare_policies;
use super::subset::{self, SERVICE_TAG, SubsetItem, SubsetRule};

/// Kuma's service name for traffic a transparent proxy passes through.
pub const PASS_THROUGH: &str = "pass_through";
use super::{Origin, Section};

/// Every policy of the input (and the implicit mesh defaults), parsed once and
/// indexed by mesh and kind. [`super::Origin::policy`] indexes `policies`.
pub struct PolicySet<'a> {
    pub policies: Vec<Policy<'a>>,
    /// What `to[]` entries can resolve to (see [`resource::world_candidates`]).
    pub candidates: Vec<Candidate>,
    /// Candidate identity -> index into `candidates`.
    candidate_index: std::collections::HashMap<(TargetRefKind, String, String, String, String), usize>,
    targets: Targets,
    /// Legacy `to` rules by kind and matched policies: proxies of one service
    /// usually match the same policies, and the clique enumeration is costly.
    to_rules_cache: std::sync::Mutex<ToRulesCache>,
    by_mesh: BTreeMap<(String, Kind), KindIndex>,
    /// MeshHTTPRoutes by mesh: (resource, index into `policies`).
    routes: BTreeMap<&'a str, Vec<(&'a Resource, usize)>>,
}

impl<'a> PolicySet<'a> {
    /// The policies of `resources` and `implicit` (Kuma's mesh defaults,
    /// [`super::defaults::for_meshes`]) over a resolved world: their `to[]`
    /// entries may name its meshes, services and MeshHTTPRoutes.
    pub fn of_world(resources: &'a [Resource], implicit: &'a [Resource], world: &crate::world::World) -> PolicySet<'a> {
        PolicySet::new(resources, implicit, resource::world_candidates(world, resources))
    }

    /// The policies of `resources`, then of `implicit` (Kuma's mesh defaults),
    /// with the resources their `to[]` entries may name.
    pub fn new(resources: &'a [Resource], implicit: &'a [Resource], candidates: Vec<Candidate>) -> PolicySet<'a> {
        let mut policies: Vec<Policy<'a>> = resources.iter().chain(implicit).filter_map(Policy::of).collect();
        // Input order must not matter: equal policies in Kuma's order stay in identity order.
        policies.sort_by(|a, b| identity(a.resource).cmp(&identity(b.resource)));
        let mut by_mesh: BTreeMap<(String, Kind), KindIndex> = BTreeMap::new();
        let mut routes: BTreeMap<&str, Vec<(&Resource, usize)>> = BTreeMap::new();
        for (i, p) in policies.iter().enumerate() {
            let mesh = p.resource.meta.mesh.as_deref().unwrap_or_default();
            by_mesh.entry((mesh.to_string(), p.kind())).or_default().add(i, p);
            if p.kind() == Kind::MeshHTTPRoute {
                routes.entry(mesh).or_default().push((p.resource, i));
            }
        }
        let targets = resource::resolve_targets(&policies, &candidates);
        let candidate_index = candidates
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (kind, mesh, zone, namespace, name) = c.identity();
                ((kind, mesh.to_string(), zone.to_string(), namespace.to_string(), name.to_string()), i)
            })
            .collect();
        PolicySet {
            policies,
            candidates,
            candidate_index,
            targets,
            to_rules_cache: Default::default(),
            by_mesh,
            routes,
        }
    }

    /// The policy kinds present in `mesh`, in kind order.
    pub fn kinds(&self, mesh: &str) -> Vec<Kind> {
        self.by_mesh
            .range((mesh.to_string(), Kind::ALL[0])..)
            .take_while(|((m, _), _)| m == mesh)
            .map(|((_, k), _)| *k)
            .collect()
    }

    /// The policies of one kind in `mesh` (indices into `policies`).
    pub fn of(&self, mesh: &str, kind: Kind) -> &[usize] {
        self.by_mesh.get(&(mesh.to_string(), kind)).map_or(&[], |k| k.all.as_slice())
    }

    /// The policies of one kind in `mesh` that may select `proxy` (ascending):
    /// those whose top-level targetRef names another service or Dataplane are
    /// left out without running the selection.
    fn candidates(&self, mesh: &str, kind: Kind, proxy: Proxy) -> Vec<usize> {
        let Some(index) = self.by_mesh.get(&(mesh.to_string(), kind)) else { return Vec::new() };
        let mut out = index.always.clone();
        let services = proxy.spec.inbounds().iter().map(|i| &i.tags).chain(proxy.spec.gateway().map(|g| &g.tags));
        for service in services.filter_map(|tags| tags.get("kuma.io/service")) {
            out.extend(index.by_service.get(service).into_iter().flatten());
        }
        out.extend(index.by_name.get(proxy.resource.meta.display_name()).into_iter().flatten());
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The candidate of a world service (`None` for legacy `kuma.io/service` ones).
    pub fn candidate_of(&self, s: &crate::world::Service) -> Option<usize> {
        let key = (
            resource::target_kind(s.kind)?,
            s.mesh.clone(),
            s.zone.clone().unwrap_or_default(),
            s.namespace.clone().unwrap_or_default(),
            s.display_name.clone(),
        );
        self.candidate_index.get(&key).copied()
    }

    /// The conf each origin names, paired with it.
    pub fn confs(&self, origins: &[Origin]) -> Vec<(Origin, &Value)> {
        origins.iter().filter_map(|o| Some((*o, self.policies[o.policy].conf(o.section, o.index)?))).collect()
    }

    /// The legacy `to` rules of the `to[]` items of the matched policies ([`legacy_to_items`]).
    fn legacy_to_rules(&self, m: &Matched) -> std::sync::Arc<Vec<SubsetRule>> {
        let key = (m.kind.unwrap_or(Kind::MeshTimeout), m.policies.clone());
        if let Some(rules) = self.to_rules_cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return rules;
        }
        let rules = std::sync::Arc::new(subset::to_rules(&legacy_to_items(self, m)));
        if let Ok(mut cache) = self.to_rules_cache.lock() {
            cache.insert(key, rules.clone());
        }
        rules
    }

    /// Kuma's `IsReferenced` for a top-level `MeshHTTPRoute` name in `mesh`.
    pub fn route(&self, mesh: &str, name: &str) -> Option<&'a Resource> {
        self.route_policy(mesh, name).map(|i| self.policies[i].resource)
    }

    /// The MeshHTTPRoute a top-level `MeshHTTPRoute` name refers to, as an index into `policies`.
    pub fn route_policy(&self, mesh: &str, name: &str) -> Option<usize> {
        self.routes.get(mesh)?.iter().find(|(r, _)| r.meta.display_name() == name).map(|(_, i)| *i)
    }

    /// Does MeshHTTPRoute `route` (an index into `policies`) route traffic to
    /// `dest` (an index into `candidates`): does a `to[]` entry of it name `dest`?
    pub fn routes_to(&self, route: usize, dest: usize) -> bool {
        self.policies[route].to.iter().any(|item| {
            let o = Origin { policy: route, section: Section::To, index: item.index };
            self.targets.of(&o).iter().any(|(c, _)| self.candidates[*c].same_resource(&self.candidates[dest]))
        })
    }

    /// What `policy` selects of `proxy`.
    pub fn selection(&self, policy: usize, proxy: Proxy) -> Selection {
        let p = &self.policies[policy];
        let mesh = p.resource.meta.mesh.as_deref().unwrap_or_default();
        let lookup = |name: &str| self.route(mesh, name);
        select::selection(p.resource, Some(&p.top), proxy, &lookup)
    }
}

type ToRulesCache = std::collections::HashMap<(Kind, Vec<usize>), std::sync::Arc<Vec<SubsetRule>>>;

/// The policies of one mesh and kind, by what their top-level targetRef names.
#[derive(Debug, Default)]
struct KindIndex {
    all: Vec<usize>,
    /// Mesh, MeshSubset, Dataplane by labels, MeshHTTPRoute, ...: selection decides.
    always: Vec<usize>,
    /// MeshService / MeshServiceSubset by `kuma.io/service` name.
    by_service: std::collections::HashMap<String, Vec<usize>>,
    /// Dataplane by name.
    by_name: std::collections::HashMap<String, Vec<usize>>,
}

impl KindIndex {
    fn add(&mut self, i: usize, p: &Policy) {
        use crate::model::common::TargetRefKind as K;
        self.all.push(i);
        let name = p.top.name().to_string();
        match p.top_kind() {
            K::MeshService | K::MeshServiceSubset => self.by_service.entry(name).or_default().push(i),
            K::Dataplane if !p.top.has_labels() && !name.is_empty() => self.by_name.entry(name).or_default().push(i),
            _ => self.always.push(i),
        }
    }
}

fn identity(r: &Resource) -> (Option<&str>, Kind, Option<&str>, &str, &str) {
    (r.meta.mesh.as_deref(), r.meta.kind, r.meta.zone(), r.meta.namespace.as_deref().unwrap_or_default(), &r.meta.name)
}

/// The policies of one kind that select a proxy.
#[derive(Debug, Clone, Default)]
pub struct Matched {
    pub kind: Option<Kind>,
    /// Sorted with Kuma's `SortByTargetRef`: least specific first, the last wins.
    pub policies: Vec<usize>,
    /// Per `networking.inbound[]` index: the policies that selected that inbound.
    pub by_inbound: BTreeMap<usize, Vec<usize>>,
    /// Policies of this kind in the mesh that select nothing of this proxy.
    pub unmatched: Vec<usize>,
}

/// Which policies of `kind` select `proxy`. Shadow policies (`kuma.io/effect:
/// shadow`) count only with `shadow`, as Kuma's inspect shows them.
pub fn matched(set: &PolicySet, kind: Kind, proxy: Proxy, shadow: bool) -> Matched {
    let mesh = proxy.resource.meta.mesh.as_deref().unwrap_or_default();
    let mut out = Matched { kind: Some(kind), ..Default::default() };
    for i in set.candidates(mesh, kind, proxy) {
        if set.policies[i].is_shadow() && !shadow {
            continue;
        }
        let s = set.selection(i, proxy);
        if s.is_empty() {
            continue;
        }
        out.policies.push(i);
        for inbound in s.inbounds {
            out.by_inbound.entry(inbound).or_default().push(i);
        }
    }
    // Both ascending: everything of the kind that did not match.
    let mut matched = out.policies.iter().peekable();
    for &i in set.of(mesh, kind) {
        if matched.next_if_eq(&&i).is_none() && (shadow || !set.policies[i].is_shadow()) {
            out.unmatched.push(i);
        }
    }
    let order = |a: &usize, b: &usize| compare_policies(&set.policies[*a], &set.policies[*b]);
    out.policies.sort_by(order);
    for list in out.by_inbound.values_mut() {
        list.sort_by(order);
    }
    out
}

/// Every policy kind's matches for one proxy, and the views built from them.
#[derive(Debug, Default)]
pub struct ProxyRules {
    pub kinds: Vec<Matched>,
    /// Per entry of `kinds`: the `to[]` entries of its policies in merge order.
    entries: Vec<Vec<Origin>>,
    /// Per entry of `kinds`: the legacy `to` rules, built on first use.
    to_rules: Vec<std::cell::OnceCell<std::sync::Arc<Vec<SubsetRule>>>>,
    /// Per entry of `kinds`: its entries by the resource they resolve to, built on first use.
    entry_index: Vec<std::cell::OnceCell<EntryIndex>>,
}

/// Positions in a kind's sorted entries, by what they resolve to: the
/// entries that name the mesh apply to every destination, the others only to
/// the resource they name.
#[derive(Debug, Default)]
struct EntryIndex {
    mesh: Vec<usize>,
    by_candidate: std::collections::HashMap<usize, Vec<usize>>,
}

impl EntryIndex {
    fn new(set: &PolicySet, entries: &[Origin]) -> EntryIndex {
        let mut index = EntryIndex::default();
        for (pos, o) in entries.iter().enumerate() {
            for (candidate, _) in set.targets.of(o) {
                if set.candidates[*candidate].kind == TargetRefKind::Mesh {
                    index.mesh.push(pos);
                } else {
                    index.by_candidate.entry(*candidate).or_default().push(pos);
                }
            }
        }
        index
    }

    /// The entries (in merge order) that may configure `candidate`.
    fn near(&self, entries: &[Origin], candidate: usize) -> Vec<Origin> {
        let mut positions: Vec<usize> = self.mesh.clone();
        positions.extend(self.by_candidate.get(&candidate).into_iter().flatten());
        positions.sort_unstable();
        positions.dedup();
        positions.into_iter().map(|p| entries[p]).collect()
    }
}

/// Match every policy of the proxy's mesh against it (Kuma's `MatchedPolicies`
/// for each policy type).
pub fn for_proxy(set: &PolicySet, proxy: Proxy, shadow: bool) -> ProxyRules {
    let mesh = proxy.resource.meta.mesh.as_deref().unwrap_or_default();
    let kinds: Vec<Matched> = set.kinds(mesh).into_iter().map(|k| matched(set, k, proxy, shadow)).collect();
    let entries = kinds.iter().map(|m| resource::sorted_entries(&set.policies, &m.policies)).collect();
    let to_rules = kinds.iter().map(|_| std::cell::OnceCell::new()).collect();
    let entry_index = kinds.iter().map(|_| std::cell::OnceCell::new()).collect();
    ProxyRules { kinds, entries, to_rules, entry_index }
}

impl ProxyRules {
    /// Per policy kind, the effective confs of inbound `index`
    /// (`networking.inbound[index]`): the catch-all inbound rules merged, each
    /// rule with a client match, and the legacy `from` rules of kinds that do not
    /// read `from` as rules (MeshTrafficPermission, MeshFaultInjection).
    pub fn inbound(&self, set: &PolicySet, index: usize) -> Vec<Effective> {
        let mut out = Vec::new();
        for m in &self.kinds {
            let (Some(kind), Some(selected)) = (m.kind, m.by_inbound.get(&index)) else { continue };
            let rules = inbound_rules(&set.policies, selected);
            let all: Vec<(Origin, &Value)> =
                rules.iter().filter(|r| r.matched.is_none()).map(|r| (r.origin, &r.conf)).collect();
            out.extend(Effective::merge(set, kind, &all));
            for r in rules.iter().filter(|r| r.matched.is_some()) {
                let condition = r.matched.clone().map_or(Condition::All, Condition::Match);
                out.extend(Effective::merge(set, kind, &[(r.origin, &r.conf)]).map(|e| e.on(condition)));
            }
            if from_as_rules(kind) {
                continue;
            }
            let items: Vec<SubsetItem> = selected
                .iter()
                .filter(|&&p| set.policies[p].rules.is_empty())
                .flat_map(|&p| {
                    set.policies[p].from.iter().map(move |item| SubsetItem {
                        origin: Origin { policy: p, section: Section::From, index: item.index },
                        target_ref: std::borrow::Cow::Borrowed(&item.target_ref),
                        conf: &item.conf,
                        kind,
                    })
                })
                .collect();
            for rule in subset::from_rules(&items) {
                out.push(subset_effective(set, kind, &rule, Direction::From));
            }
        }
        out
    }

    /// Per policy kind, the effective conf of an outbound to `dest` (an index
    /// into the set's candidates; port `section`): the real-resource rule, or
    /// for a legacy `kuma.io/service` destination (`dest` `None`) the legacy
    /// `to` rule of `service`.
    pub fn outbound(&self, set: &PolicySet, dest: Option<usize>, section: &str, service: &str) -> Vec<Effective> {
        let mut out = Vec::new();
        for (k, m) in self.kinds.iter().enumerate() {
            let Some(kind) = m.kind else { continue };
            if let Some(dest) = dest {
                let index = self.entry_index[k].get_or_init(|| EntryIndex::new(set, &self.entries[k]));
                let near = index.near(&self.entries[k], dest);
                let (candidates, targets) = (&set.candidates, &set.targets);
                let rule = resource::rule_for(&set.policies, &near, targets, candidates, &candidates[dest], section);
                let outbound_origins = rule.as_ref().map(|r| r.origins.clone()).unwrap_or_default();
                if let Some(rule) = rule {
                    let confs = set.confs(&rule.origins);
                    for conf in rule.confs {
                        out.push(Effective::attributed(set, kind, conf, &confs));
                    }
                }
                let entries = Entries { all: &self.entries[k], index };
                out.extend(route_confs(set, kind, m, dest, entries, &outbound_origins));
                continue;
            }
            let rules = self.to_rules[k].get_or_init(|| set.legacy_to_rules(m));
            let tags = crate::model::common::StringMap::from([("kuma.io/service".to_string(), service.to_string())]);
            if let Some(rule) = subset::compute(rules, &tags) {
                out.push(subset_effective(set, kind, rule, Direction::To));
            }
        }
        out
    }

    /// The confs of the traffic a transparent proxy passes through to
    /// destinations it has no outbound for (Kuma's `pass_through` service): the
    /// legacy `to` rule of MeshAccessLog for that service, the one kind Kuma
    /// applies to the passthrough listeners (its `applyToTransparentProxyListeners`).
    pub fn passthrough(&self, set: &PolicySet) -> Vec<Effective> {
        let tags = crate::model::common::StringMap::from([(SERVICE_TAG.to_string(), PASS_THROUGH.to_string())]);
        let mut out = Vec::new();
        for (k, m) in self.kinds.iter().enumerate() {
            if m.kind != Some(Kind::MeshAccessLog) {
                continue;
            }
            let rules = self.to_rules[k].get_or_init(|| set.legacy_to_rules(m));
            if let Some(rule) = subset::compute(rules, &tags) {
                out.push(subset_effective(set, Kind::MeshAccessLog, rule, Direction::To));
            }
        }
        out
    }

    /// The proxy-wide confs of single-item kinds (MeshPassthrough, MeshTrace,
    /// MeshMetric, MeshProxyPatch).
    pub fn proxy_wide(&self, set: &PolicySet) -> Vec<Effective> {
        let mut out = Vec::new();
        for m in &self.kinds {
            let Some(kind) = m.kind.filter(|k| super::policy::is_single_item(*k)) else { continue };
            let Some(rule) = single_rule(&set.policies, &m.policies) else { continue };
            out.push(Effective::attributed(set, kind, rule.conf, &set.confs(&rule.origins)));
        }
        out
    }
}

/// The `to[]` items the legacy tag-subset `to` rules are built from (Kuma's
/// `legacyBuildToRules`): the matched policies in their order (`SortByTargetRef`)
/// and each policy's items in written order, with no per-entry sort (unlike the
/// real-resource rules, a `to: Mesh` item written after a `to: MeshService` one
/// overrides it). Policies with a `to` MeshHTTPRoute entry are left out; a
/// policy whose top-level targetRef is a MeshHTTPRoute contributes one item per
/// route rule, keyed by the rule's matches hash (so it configures that route
/// only, not every outbound), or nothing when the route does not resolve.
pub fn legacy_to_items<'s>(set: &'s PolicySet, m: &Matched) -> Vec<SubsetItem<'s>> {
    let Some(kind) = m.kind else { return Vec::new() };
    let mut items = Vec::new();
    for &p in &m.policies {
        let policy = &set.policies[p];
        if policy.to.iter().any(|i| i.target_ref.kind() == Some(TargetRefKind::MeshHTTPRoute)) {
            continue;
        }
        if policy.top_kind() == TargetRefKind::MeshHTTPRoute {
            let mesh = policy.resource.meta.mesh.as_deref().unwrap_or_default();
            let Some(route) = set.route(mesh, policy.top.name()) else { continue };
            let spec = route.spec.as_ref().map(|s| s.to_json()).unwrap_or(Value::Null);
            items.extend(subset::route_to_items(p, kind, &policy.to, &spec));
            continue;
        }
        items.extend(policy.to.iter().map(|item| SubsetItem {
            origin: Origin { policy: p, section: Section::To, index: item.index },
            target_ref: std::borrow::Cow::Borrowed(&item.target_ref),
            conf: &item.conf,
            kind,
        }));
    }
    items
}

/// The sorted `to[]` entries of one kind and their index.
#[derive(Clone, Copy)]
struct Entries<'e> {
    all: &'e [Origin],
    index: &'e EntryIndex,
}

/// What configures the traffic of one MeshHTTPRoute.
#[derive(Default)]
struct RouteParts {
    /// The origins of the route's own rule (`to[]` entries naming it, and the
    /// `to: Mesh` entries relevant to it), when some entry names it.
    own: Option<Vec<Origin>>,
    /// The items of policies whose top-level targetRef is the route.
    top_level: Vec<Origin>,
}

/// The confs of one real-resource outbound's MeshHTTPRoutes (those routing to
/// `dest`), one per route (`when: route MeshHTTPRoute/<name>`), each complete:
/// the `envoy` stage applies it to the route's Envoy routes instead of the
/// outbound's conf, over Kuma's built-in values.
///
/// - A route named by `to[]` entries has its own rule, as in Kuma's
///   `ResourceRules`: those entries merged over the `to: Mesh` entries (the
///   outbound's MeshService entries are not relevant to a route; Kuma's
///   plugins look the route's KRI up first and fall back to the outbound's
///   rule only when the route has none).
/// - Policies whose top-level targetRef is the route (Kuma's legacy form)
///   are merged over that rule, or over the outbound's rule (`outbound`, the
///   origins of its conf) when the route has none.
fn route_confs(
    set: &PolicySet,
    kind: Kind,
    m: &Matched,
    dest: usize,
    entries: Entries,
    outbound: &[Origin],
) -> Vec<Effective> {
    let mut by_route: BTreeMap<usize, RouteParts> = BTreeMap::new();
    let mut named: Vec<usize> = entries
        .index
        .by_candidate
        .keys()
        .copied()
        .filter(|&c| set.candidates[c].kind == TargetRefKind::MeshHTTPRoute)
        .collect();
    named.sort_unstable();
    for candidate in named {
        let c = &set.candidates[candidate];
        let Some(route) = set.route_policy(&c.mesh, &c.name).filter(|&r| set.routes_to(r, dest)) else { continue };
        let near = entries.index.near(entries.all, candidate);
        let rule = resource::rule_for(&set.policies, &near, &set.targets, &set.candidates, c, "");
        // As in Kuma, the route has a rule of its own only when an entry names it
        // (not the `to: Mesh` entries alone, nor a top-level-route policy's items).
        let names_route = |o: &Origin| set.targets.of(o).iter().any(|(t, _)| *t == candidate);
        if let Some(rule) = rule.filter(|r| r.origins.iter().any(names_route)) {
            by_route.entry(route).or_default().own = Some(rule.origins);
        }
    }
    for &p in &m.policies {
        let policy = &set.policies[p];
        if policy.top_kind() != TargetRefKind::MeshHTTPRoute {
            continue;
        }
        let mesh = policy.resource.meta.mesh.as_deref().unwrap_or_default();
        let Some(route) = set.route_policy(mesh, policy.top.name()).filter(|&r| set.routes_to(r, dest)) else {
            continue;
        };
        let items = policy.to.iter().map(|item| Origin { policy: p, section: Section::To, index: item.index });
        by_route.entry(route).or_default().top_level.extend(items);
    }
    by_route
        .into_iter()
        .filter_map(|(route, parts)| {
            let mut origins = parts.own.unwrap_or_else(|| outbound.to_vec());
            origins.extend(parts.top_level);
            let condition = Condition::Route(set.policies[route].name().to_string());
            Effective::merge(set, kind, &set.confs(&origins)).map(|e| e.on(condition))
        })
        .collect()
}

/// A subset rule as an [`Effective`]: its origins are the items merged into it.
pub(crate) fn subset_effective(set: &PolicySet, kind: Kind, rule: &SubsetRule, direction: Direction) -> Effective {
    let confs = set.confs(&rule.origins);
    let condition = Condition::Subset { direction, tags: rule.subset.clone() };
    Effective::attributed(set, kind, rule.conf.clone(), &confs).on(condition)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resources(yaml: &str) -> Vec<Resource> {
        crate::validate::run_texts(vec![("t.yaml".into(), yaml.into())], &Default::default()).resources
    }

    const WORLD: &str = "type: Mesh\nname: m\n---\n\
        type: Dataplane\nname: dp\nmesh: m\nnetworking:\n  address: 10.0.0.1\n  inbound:\n\
        \x20 - {port: 80, tags: {kuma.io/service: web}}\n";

    /// The MeshTimeout conf of the legacy outbound to `service` of the one proxy.
    fn legacy_timeout(policies: &str, service: &str) -> Option<Value> {
        let rs = resources(&format!("{WORLD}---\n{policies}"));
        let set = PolicySet::new(&rs, &[], Vec::new());
        let dp = rs.iter().find_map(Proxy::of)?;
        let rules = for_proxy(&set, dp, false);
        let out = rules.outbound(&set, None, "", service);
        out.into_iter().find(|e| e.kind == Kind::MeshTimeout.name()).map(|e| e.conf)
    }

    #[test]
    fn legacy_to_items_keep_written_order_within_a_policy() {
        // Kuma's legacy `to` rules merge items in policy order, then written order:
        // the `Mesh` item written last overrides the `MeshService` one.
        let conf = legacy_timeout(
            "type: MeshTimeout\nname: mt\nmesh: m\nspec:\n  targetRef: {kind: Mesh}\n  to:\n\
             \x20 - {targetRef: {kind: MeshService, name: foo}, default: {idleTimeout: 1s}}\n\
             \x20 - {targetRef: {kind: Mesh}, default: {idleTimeout: 2s}}\n",
            "foo",
        );
        assert_eq!(conf, Some(json!({"idleTimeout": "2s"})));
    }

    #[test]
    fn to_route_entries_get_the_routes_own_rule_over_mesh_entries_only() {
        // Kuma's ResourceRules: a MeshHTTPRoute's rule merges the `to: Mesh`
        // entries and the entries naming the route; the MeshService entry
        // configures the outbound, not the route.
        let yaml = format!(
            "{WORLD}---\ntype: MeshService\nname: backend\nmesh: m\nspec:\n  selector: {{dataplaneTags: {{app: b}}}}\n  ports:\n  - {{port: 80, targetPort: 80}}\n---\n\
             type: MeshHTTPRoute\nname: r\nmesh: m\nspec:\n  to:\n\
             \x20 - targetRef: {{kind: MeshService, name: backend}}\n    rules:\n\
             \x20   - {{matches: [{{path: {{type: PathPrefix, value: /api}}}}], default: {{}}}}\n---\n\
             type: MeshTimeout\nname: mt\nmesh: m\nspec:\n  to:\n\
             \x20 - {{targetRef: {{kind: Mesh}}, default: {{idleTimeout: 1s}}}}\n\
             \x20 - {{targetRef: {{kind: MeshService, name: backend}}, default: {{http: {{requestTimeout: 2s}}}}}}\n\
             \x20 - {{targetRef: {{kind: MeshHTTPRoute, name: r}}, default: {{http: {{streamIdleTimeout: 3s}}}}}}\n"
        );
        let rs = resources(&yaml);
        let candidates: Vec<Candidate> = rs.iter().filter_map(Candidate::of_resource).collect();
        let dest = candidates.iter().position(|c| c.kind == TargetRefKind::MeshService);
        let set = PolicySet::new(&rs, &[], candidates);
        let Some(dp) = rs.iter().find_map(Proxy::of) else { panic!("no proxy") };
        let out = for_proxy(&set, dp, false).outbound(&set, dest, "", "backend");
        let timeouts = out.iter().filter(|e| e.kind == Kind::MeshTimeout.name());
        let conf = |c: &Condition| timeouts.clone().find(|e| e.condition == *c).map(|e| e.conf.clone());
        assert_eq!(conf(&Condition::All), Some(json!({"idleTimeout": "1s", "http": {"requestTimeout": "2s"}})));
        let route = conf(&Condition::Route("r".into()));
        assert_eq!(route, Some(json!({"idleTimeout": "1s", "http": {"streamIdleTimeout": "3s"}})));
    }

    #[test]
    fn route_targeted_policies_configure_their_route_only() {
        let route = "type: MeshHTTPRoute\nname: r\nmesh: m\nspec:\n  targetRef: {kind: Mesh}\n  to:\n\
             \x20 - targetRef: {kind: MeshService, name: backend}\n    rules:\n\
             \x20   - {matches: [{path: {type: PathPrefix, value: /api}}], default: {backendRefs: [{kind: MeshService, name: backend}]}}\n---\n\
             type: MeshTimeout\nname: on-route\nmesh: m\nspec:\n  targetRef: {kind: MeshHTTPRoute, name: r}\n  to:\n\
             \x20 - {targetRef: {kind: Mesh}, default: {http: {requestTimeout: 15s}}}\n";
        assert_eq!(legacy_timeout(route, "other"), None, "not every outbound of the proxy");
        assert_eq!(legacy_timeout(route, "backend"), None, "only the route's own rule (by matches hash)");
        let items = {
            let rs = resources(&format!("{WORLD}---\n{route}"));
            let set = PolicySet::new(&rs, &[], Vec::new());
            let dp = rs.iter().find_map(Proxy::of).map(|p| matched(&set, Kind::MeshTimeout, p, false));
            dp.map(|m| legacy_to_items(&set, &m).iter().map(|i| i.target_ref.kind()).collect::<Vec<_>>())
        };
        assert_eq!(items, Some(vec![Some(TargetRefKind::MeshServiceSubset)]));
    }
}
