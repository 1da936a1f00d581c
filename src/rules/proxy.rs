//! The rules of one proxy: which policies of each kind select it (and which of
//! its inbounds), in Kuma's order (reference §3.9 step 1–2).

use std::collections::BTreeMap;

use crate::model::{Kind, Resource};

use super::Origin;
use super::effective::Effective;
use super::inbound::inbound_rules;
use super::policy::Policy;
use super::select::{self, Proxy, Selection};
use super::sort::compare_policies;

/// Every policy of the input (and the implicit mesh defaults), parsed once and
/// indexed by mesh and kind. [`super::Origin::policy`] indexes `policies`.
pub struct PolicySet<'a> {
    pub policies: Vec<Policy<'a>>,
    by_mesh: BTreeMap<(String, Kind), Vec<usize>>,
    routes: BTreeMap<&'a str, Vec<&'a Resource>>,
}

impl<'a> PolicySet<'a> {
    /// The policies of `resources`, then of `implicit` (Kuma's mesh defaults).
    pub fn new(resources: &'a [Resource], implicit: &'a [Resource]) -> PolicySet<'a> {
        let mut policies: Vec<Policy<'a>> = resources.iter().chain(implicit).filter_map(Policy::of).collect();
        // Input order must not matter: equal policies in Kuma's order stay in identity order.
        policies.sort_by(|a, b| identity(a.resource).cmp(&identity(b.resource)));
        let mut by_mesh: BTreeMap<(String, Kind), Vec<usize>> = BTreeMap::new();
        let mut routes: BTreeMap<&str, Vec<&Resource>> = BTreeMap::new();
        for (i, p) in policies.iter().enumerate() {
            let mesh = p.resource.meta.mesh.as_deref().unwrap_or_default();
            by_mesh.entry((mesh.to_string(), p.kind())).or_default().push(i);
            if p.kind() == Kind::MeshHTTPRoute {
                routes.entry(mesh).or_default().push(p.resource);
            }
        }
        PolicySet { policies, by_mesh, routes }
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
        self.by_mesh.get(&(mesh.to_string(), kind)).map_or(&[], Vec::as_slice)
    }

    /// Kuma's `IsReferenced` for a top-level `MeshHTTPRoute` name in `mesh`.
    pub fn route(&self, mesh: &str, name: &str) -> Option<&'a Resource> {
        let list = self.routes.get(mesh)?;
        list.iter()
            .copied()
            .find(|r| r.meta.display_name() == name)
            .or_else(|| list.iter().copied().find(|r| r.meta.name == name))
    }

    /// What `policy` selects of `proxy`.
    pub fn selection(&self, policy: usize, proxy: Proxy) -> Selection {
        let p = &self.policies[policy];
        let mesh = p.resource.meta.mesh.as_deref().unwrap_or_default();
        let lookup = |name: &str| self.route(mesh, name);
        select::selection(p.resource, Some(&p.top), proxy, &lookup)
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
    for &i in set.of(mesh, kind) {
        if set.policies[i].is_shadow() && !shadow {
            continue;
        }
        let s = set.selection(i, proxy);
        if s.is_empty() {
            out.unmatched.push(i);
            continue;
        }
        out.policies.push(i);
        for inbound in s.inbounds {
            out.by_inbound.entry(inbound).or_default().push(i);
        }
    }
    let order = |a: &usize, b: &usize| compare_policies(&set.policies[*a], &set.policies[*b]);
    out.policies.sort_by(order);
    for list in out.by_inbound.values_mut() {
        list.sort_by(order);
    }
    out
}

/// Every policy kind's matches for one proxy.
#[derive(Debug, Clone, Default)]
pub struct ProxyRules {
    pub kinds: Vec<Matched>,
}

/// Match every policy of the proxy's mesh against it (Kuma's `MatchedPolicies`
/// for each policy type).
pub fn for_proxy(set: &PolicySet, proxy: Proxy, shadow: bool) -> ProxyRules {
    let mesh = proxy.resource.meta.mesh.as_deref().unwrap_or_default();
    ProxyRules { kinds: set.kinds(mesh).into_iter().map(|k| matched(set, k, proxy, shadow)).collect() }
}

impl ProxyRules {
    /// Per policy kind, the effective conf of the catch-all inbound rules of
    /// inbound `index` (`networking.inbound[index]`).
    pub fn inbound(&self, set: &PolicySet, index: usize) -> Vec<Effective> {
        let mut out = Vec::new();
        for m in &self.kinds {
            let (Some(kind), Some(selected)) = (m.kind, m.by_inbound.get(&index)) else { continue };
            let rules = inbound_rules(&set.policies, selected);
            let all: Vec<(Origin, &serde_json::Value)> =
                rules.iter().filter(|r| r.matched.is_none()).map(|r| (r.origin, &r.conf)).collect();
            out.extend(Effective::merge(set, kind, &all));
        }
        out
    }
}
