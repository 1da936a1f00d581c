//! Kuma's policy roles (`pkg/core/resources/labels/compute.go`, MADR 054).

use serde::Serialize;

use super::meta::{Form, Meta, labels};
use super::{PolicyView, common::TargetRefKind};

/// The `kuma.io/policy-role` of a policy. Ordered as Kuma merges them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyRole {
    System,
    Producer,
    Consumer,
    WorkloadOwner,
}

impl PolicyRole {
    pub fn name(self) -> &'static str {
        match self {
            PolicyRole::System => "system",
            PolicyRole::Producer => "producer",
            PolicyRole::Consumer => "consumer",
            PolicyRole::WorkloadOwner => "workload-owner",
        }
    }

    pub fn from_name(s: &str) -> Option<PolicyRole> {
        [PolicyRole::System, PolicyRole::Producer, PolicyRole::Consumer, PolicyRole::WorkloadOwner]
            .into_iter()
            .find(|r| r.name() == s)
    }
}

/// Why a role cannot be computed (Kuma rejects the policy).
pub const MIX_TO_FROM: &str = "it's not allowed to mix 'to' and 'from' arrays in the same policy";
pub const MIX_PRODUCER_CONSUMER: &str = "it's not allowed to mix producer and consumer items in the same policy";

/// Compute the role Kuma gives a policy. Universal resources and those in the
/// system namespace are `system` (a Universal copy synced from Kubernetes keeps
/// the role label it carries).
pub fn compute(meta: &Meta, view: &PolicyView, system_namespace: &str) -> Result<PolicyRole, &'static str> {
    let namespace = match (meta.form, meta.namespace.as_deref()) {
        (Form::Kubernetes, Some(ns)) if ns != system_namespace => ns,
        (Form::Universal, _) => {
            return Ok(meta.label(labels::POLICY_ROLE).and_then(PolicyRole::from_name).unwrap_or(PolicyRole::System));
        }
        _ => return Ok(PolicyRole::System),
    };
    let (has_to, has_from) = (!view.to.is_empty(), !view.from.is_empty());
    if has_to && has_from {
        return Err(MIX_TO_FROM);
    }
    if has_from || view.rules > 0 || !has_to {
        return Ok(PolicyRole::WorkloadOwner);
    }
    let producer = |r: &&&crate::model::common::TargetRef| {
        matches!(r.kind(), Some(TargetRefKind::MeshService | TargetRefKind::MeshHTTPRoute))
            && !r.name().is_empty()
            && r.namespace.as_deref().is_none_or(|ns| ns.is_empty() || ns == namespace)
    };
    let producers = view.to.iter().filter(producer).count();
    match producers {
        0 => Ok(PolicyRole::Consumer),
        n if n == view.to.len() => Ok(PolicyRole::Producer),
        _ => Err(MIX_PRODUCER_CONSUMER),
    }
}
