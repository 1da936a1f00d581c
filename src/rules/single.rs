//! Single-item rules (Kuma's `BuildSingleItemRules`, reference §3.6 item 4):
//! MeshPassthrough, MeshTrace, MeshMetric and MeshProxyPatch have one proxy-wide
//! `default`, so every matched policy's conf is merged into one, in the order
//! given (`SortByTargetRef`: later wins).

use serde::Serialize;
use serde_json::Value;

use super::Origin;
use super::merge::{self, Strategy};
use super::policy::{Policy, Section};

/// The merged proxy-wide conf and the policies merged into it, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SingleRule {
    pub conf: Value,
    pub origins: Vec<Origin>,
}

/// Merge the `default` of the `matched` policies (indices into `policies`, in
/// merge order; `Origin::policy` indexes `policies`). Policies without a
/// single-item default are skipped; `None` when none has one.
pub fn single_rule(policies: &[Policy], matched: &[usize]) -> Option<SingleRule> {
    let items: Vec<(usize, &Value)> =
        matched.iter().filter_map(|&i| policies[i].single.as_ref().map(|c| (i, c))).collect();
    let kind = policies.get(items.first()?.0)?.kind();
    let confs: Vec<&Value> = items.iter().map(|(_, c)| *c).collect();
    let conf = merge::merge_one(Strategy::of(kind), &confs)?;
    let origins = items.iter().map(|&(policy, _)| Origin { policy, section: Section::Default, index: 0 }).collect();
    Some(SingleRule { conf, origins })
}
