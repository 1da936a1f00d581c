//! `meshc explain`: which policies reach a proxy, what they merge into on each
//! inbound and outbound, and which policy, section and item set each field: the
//! `plan` stage with its origins, offline (Kuma's inspect API and shadow mode
//! without a control plane).

use serde::Serialize;

use crate::compile::Selection;
use crate::emit::ProxyId;
use crate::findings::Finding;
use crate::plan::{self, ProxyPlan};
use crate::rules::effective::{Effective, OriginRef};
use crate::rules::proxy::{self, PolicySet, ProxyRules};
use crate::rules::{Origin, Section};
use crate::world::{self, World};

/// The explanation of one proxy.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    pub proxy: ProxyId,
    pub inbounds: Vec<Place>,
    pub outbounds: Vec<Place>,
    /// Proxy-wide (single-item) policies.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub proxy_wide: Vec<Effective>,
    /// Per kind, the policies that select this proxy, in merge order (the last wins).
    pub matched: Vec<KindPolicies>,
    /// Per kind, the policies of the mesh whose top-level targetRef selects
    /// nothing of this proxy.
    pub unmatched: Vec<KindPolicies>,
    /// With `--shadow`: what the shadow policies would change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub shadow_changes: Vec<ShadowChange>,
}

/// An inbound or outbound and its effective policies.
#[derive(Debug, Clone, Serialize)]
pub struct Place {
    /// The Envoy listener name (`inbound:10.0.0.1:8080`, `outbound:241.0.0.1:80`).
    pub listener: String,
    /// What it is, as people say it (`inbound backend (port 8080)`, `MeshService backend port 80`).
    pub describe: String,
    pub policies: Vec<Effective>,
}

#[derive(Debug, Clone, Serialize)]
pub struct KindPolicies {
    pub kind: &'static str,
    pub policies: Vec<String>,
}

/// One field a shadow policy would change.
#[derive(Debug, Clone, Serialize)]
pub struct ShadowChange {
    pub place: String,
    pub kind: &'static str,
    pub field: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Where one policy reaches (`explain --policy`).
#[derive(Debug, Clone, Serialize)]
pub struct Reach {
    pub proxy: ProxyId,
    /// Inbounds (listener names) the top-level targetRef selects.
    pub inbounds: Vec<String>,
    /// Outbounds whose effective conf takes something from the policy.
    pub outbounds: Vec<String>,
    /// The policy contributes to the proxy-wide conf.
    pub proxy_wide: bool,
}

/// The explanations of the proxies `selection` keeps, sorted by identity.
pub fn explain(
    resources: &[crate::model::Resource],
    world_opts: &world::Options,
    plan_opts: &plan::Options,
    selection: &Selection,
) -> (Vec<Explanation>, Vec<Finding>) {
    let world = World::build(resources, world_opts);
    let implicit = crate::rules::defaults::for_meshes(resources, world_opts.default_mesh_exists);
    let policies = PolicySet::of_world(resources, &implicit, &world);
    let mut findings = world.findings.clone();
    let mut out = Vec::new();
    for dp in world.dataplanes.iter().filter(|dp| !dp.spec.is_gateway()) {
        if !selection.keeps(&plan::proxy_id(dp.resource)) {
            continue;
        }
        let rules = proxy::for_proxy(&policies, *dp, plan_opts.shadow);
        let (plan, f) = plan::plan_with_rules(&world, &policies, &rules, *dp, plan_opts);
        findings.extend(f);
        let shadow_changes = if plan_opts.shadow {
            let real = plan::Options { shadow: false, ..plan_opts.clone() };
            changes(&plan::plan_sidecar(&world, &policies, *dp, &real).0, &plan)
        } else {
            Vec::new()
        };
        out.push(explanation(&policies, &rules, plan, shadow_changes));
    }
    out.sort_by(|a, b| a.proxy.cmp(&b.proxy));
    (out, findings)
}

fn explanation(set: &PolicySet, rules: &ProxyRules, plan: ProxyPlan, shadow_changes: Vec<ShadowChange>) -> Explanation {
    let names = |list: &[usize]| -> Vec<String> {
        list.iter()
            .map(|&i| OriginRef::of(set, Origin { policy: i, section: Section::Default, index: 0 }).policy_label())
            .collect()
    };
    let per_kind = |pick: &dyn Fn(&proxy::Matched) -> &[usize]| -> Vec<KindPolicies> {
        rules
            .kinds
            .iter()
            .filter(|m| !pick(m).is_empty())
            .filter_map(|m| Some(KindPolicies { kind: m.kind?.name(), policies: names(pick(m)) }))
            .collect()
    };
    let matched = per_kind(&|m| &m.policies);
    let unmatched = per_kind(&|m| &m.unmatched);
    let inbounds = plan
        .inbounds
        .iter()
        .map(|i| Place {
            listener: i.name.clone(),
            describe: format!("inbound {} (service {}, port {})", i.section, i.service, i.port),
            policies: i.policies.clone(),
        })
        .collect();
    let outbounds = plan
        .outbounds
        .iter()
        .map(|o| Place {
            listener: o.name.clone(),
            describe: format!("{} {} port {}", o.destination.kind.name(), o.destination.name, o.destination.port),
            policies: o.policies.clone(),
        })
        .collect();
    Explanation { proxy: plan.id, inbounds, outbounds, proxy_wide: plan.policies, matched, unmatched, shadow_changes }
}

/// Every place of a plan with its effective confs.
fn places(plan: &ProxyPlan) -> Vec<(String, &[Effective])> {
    let mut out: Vec<(String, &[Effective])> = Vec::new();
    out.extend(plan.inbounds.iter().map(|i| (i.name.clone(), i.policies.as_slice())));
    out.extend(plan.outbounds.iter().map(|o| (o.name.clone(), o.policies.as_slice())));
    out.push(("proxy".to_string(), plan.policies.as_slice()));
    out
}

/// The fields that differ between the plan without and with shadow policies.
fn changes(real: &ProxyPlan, shadow: &ProxyPlan) -> Vec<ShadowChange> {
    let mut out = Vec::new();
    type Key<'e> = (String, &'static str, Option<&'e str>);
    fn keyed(plan: &ProxyPlan) -> Vec<(Key<'_>, &Effective)> {
        let mut out = Vec::new();
        for (p, list) in places(plan) {
            out.extend(list.iter().map(|e| ((p.clone(), e.kind, e.when.as_deref()), e)));
        }
        out
    }
    let before: std::collections::BTreeMap<Key, &Effective> = keyed(real).into_iter().collect();
    let after: std::collections::BTreeMap<Key, &Effective> = keyed(shadow).into_iter().collect();
    let keys: std::collections::BTreeSet<&Key> = before.keys().chain(after.keys()).collect();
    for key in keys {
        let b = before.get(key).map(|e| &e.conf);
        let a = after.get(key).map(|e| &e.conf);
        if a == b {
            continue;
        }
        let fields: std::collections::BTreeSet<&String> =
            before.get(key).into_iter().chain(after.get(key)).flat_map(|e| e.fields.keys()).collect();
        for field in fields {
            let vb = b.and_then(|c| c.pointer(field)).cloned();
            let va = a.and_then(|c| c.pointer(field)).cloned();
            if vb != va {
                let place = match key.2 {
                    Some(when) => format!("{} ({when})", key.0),
                    None => key.0.clone(),
                };
                out.push(ShadowChange { place, kind: key.1, field: dotted(field), before: vb, after: va });
            }
        }
    }
    out
}

/// `/http/requestTimeout` as `http.requestTimeout`.
pub fn dotted(pointer: &str) -> String {
    pointer
        .trim_start_matches('/')
        .split('/')
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect::<Vec<_>>()
        .join(".")
}

/// Where a policy (`KIND/NAME`, the display name, optionally `.namespace`) reaches.
pub fn reach(
    resources: &[crate::model::Resource],
    world_opts: &world::Options,
    plan_opts: &plan::Options,
    policy: &str,
) -> Result<Vec<Reach>, String> {
    let (kind, name) = policy
        .split_once('/')
        .ok_or_else(|| format!("`{policy}`: expected KIND/NAME, e.g. MeshTimeout/timeout-backend"))?;
    let kind = crate::model::Kind::ALL
        .iter()
        .copied()
        .find(|k| k.is_policy() && k.name().eq_ignore_ascii_case(kind))
        .ok_or_else(|| format!("`{kind}` is not a policy kind (e.g. MeshTimeout, MeshTrafficPermission)"))?;
    let world = World::build(resources, world_opts);
    let implicit = crate::rules::defaults::for_meshes(resources, world_opts.default_mesh_exists);
    let set = PolicySet::of_world(resources, &implicit, &world);
    let wanted: Vec<usize> = (0..set.policies.len())
        .filter(|&i| {
            let p = &set.policies[i];
            let label = OriginRef::of(&set, Origin { policy: i, section: Section::Default, index: 0 }).policy;
            p.kind() == kind && (label == policy || p.name() == name || p.resource.meta.name == name)
        })
        .collect();
    if wanted.is_empty() {
        return Err(format!("no {} named `{name}` in the input", kind.name()));
    }
    // A shadow policy is asked about for what it would do.
    let shadow = plan_opts.shadow || wanted.iter().any(|&i| set.policies[i].is_shadow());
    let plan_opts = &plan::Options { shadow, ..plan_opts.clone() };
    let labels: Vec<String> = wanted
        .iter()
        .map(|&i| OriginRef::of(&set, Origin { policy: i, section: Section::Default, index: 0 }).policy)
        .collect();
    let mut out = Vec::new();
    for dp in world.dataplanes.iter().filter(|dp| !dp.spec.is_gateway()) {
        let selections: Vec<_> = wanted.iter().map(|&i| set.selection(i, *dp)).collect();
        if selections.iter().all(|s| s.is_empty()) {
            continue;
        }
        let (plan, _) = plan::plan_sidecar(&world, &set, *dp, plan_opts);
        // A place counts when a field of its effective conf comes from the policy.
        let from_policy = |list: &[Effective]| {
            list.iter()
                .any(|e| e.fields.values().any(|&o| e.origins.get(o).is_some_and(|o| labels.contains(&o.policy))))
        };
        let inbound_policy = wanted.iter().any(|&i| set.policies[i].affects_inbounds());
        let selected: std::collections::BTreeSet<usize> =
            selections.iter().filter(|_| inbound_policy).flat_map(|s| s.inbounds.iter().copied()).collect();
        out.push(Reach {
            proxy: plan.id.clone(),
            inbounds: plan.inbounds.iter().filter(|i| selected.contains(&i.index)).map(|i| i.name.clone()).collect(),
            outbounds: plan.outbounds.iter().filter(|o| from_policy(&o.policies)).map(|o| o.name.clone()).collect(),
            proxy_wide: from_policy(&plan.policies),
        });
    }
    out.sort_by(|a, b| a.proxy.cmp(&b.proxy));
    Ok(out)
}
