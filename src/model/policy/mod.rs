//! targetRef policies, one module per kind: types (mirroring Kuma's CRD, with its
//! defaults), and Kuma's validator (`pkg/plugins/policies/<name>/api/v1alpha1/validator.go`).
//!
//! Shared here: the generic `to` / `from` / `rules` section items and the checks
//! every to/from/rules policy makes.

pub mod mesh_access_log;
pub mod mesh_circuit_breaker;
pub mod mesh_fault_injection;
pub mod mesh_health_check;
pub mod mesh_http_route;
pub mod mesh_load_balancing_strategy;
pub mod mesh_metric;
pub mod mesh_passthrough;
pub mod mesh_proxy_patch;
pub mod mesh_rate_limit;
pub mod mesh_retry;
pub mod mesh_tcp_route;
pub mod mesh_timeout;
pub mod mesh_tls;
pub mod mesh_trace;
pub mod mesh_traffic_permission;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::findings::codes;
use crate::model::PolicyView;
use crate::model::common::{Match, TargetRef, TargetRefKind, TargetRefRules, validate_matches, validate_target_ref};
use crate::validate::violations::{Path, Violations};

/// A `to[]` item: outbound traffic to `targetRef` gets `default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields, transform = require_target_ref)]
pub struct To<C> {
    /// The destinations this item configures.
    #[serde(default)]
    #[schemars(required)]
    pub target_ref: TargetRef,
    /// The configuration for those destinations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<C>,
}

/// A `from[]` item: inbound traffic from clients matching `targetRef` gets `default`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields, transform = require_target_ref)]
pub struct From<C> {
    /// The clients this item configures.
    #[serde(default)]
    #[schemars(required)]
    pub target_ref: TargetRef,
    /// The configuration for traffic from those clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<C>,
}

/// `targetRef` is parsed leniently (a missing one is Kuma's "kind: must be defined")
/// but published as required, as in Kuma's CRDs.
fn require_target_ref(schema: &mut schemars::Schema) {
    if let Some(obj) = schema.as_object_mut() {
        let required = obj.entry("required").or_insert_with(|| serde_json::json!([]));
        if let Some(list) = required.as_array_mut().filter(|l| !l.iter().any(|r| r == "targetRef")) {
            list.push("targetRef".into());
        }
    }
}

/// A `rules[]` item (inbound rules, Kuma 2.9+; `matches` 2.13+).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Rule<C> {
    /// Client identities this rule applies to; all clients when empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<Match>>,
    /// The configuration for matching inbound traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<C>,
}

/// The top-level targetRef, with Kuma's "omitted means Mesh".
pub fn top_kind(target_ref: &Option<TargetRef>) -> Option<TargetRefKind> {
    match target_ref {
        None => Some(TargetRefKind::Mesh),
        Some(r) => r.kind(),
    }
}

/// Validate the top-level targetRef if present (an omitted one is `Mesh`, always valid).
pub fn validate_top(v: &mut Violations, target_ref: &Option<TargetRef>, rules: TargetRefRules) {
    if let Some(r) = target_ref {
        validate_target_ref(v, &Path::root().field("targetRef"), r, &rules);
    }
}

/// Validate `matches` of every rule.
pub fn validate_rule_matches<C>(v: &mut Violations, rules: &[Rule<C>]) {
    for (i, rule) in rules.iter().enumerate() {
        if let Some(m) = &rule.matches {
            validate_matches(v, &Path::root().field("rules").index(i).field("matches"), m);
        }
    }
}

/// "fields 'to' and 'from' must be empty when 'rules' is defined" and friends.
pub fn sections_message(v: &mut Violations, message: &str) {
    v.add_code(codes::POLICY_SECTIONS, &Path::root(), message);
}

/// Does the scope include gateways? (`IncludesGateways`: MeshGateway, MeshHTTPRoute,
/// or Mesh/MeshSubset without `proxyTypes: [Sidecar]` only.)
pub fn includes_gateways(target_ref: &Option<TargetRef>) -> bool {
    let mesh = TargetRef::mesh();
    let r = target_ref.as_ref().unwrap_or(&mesh);
    match r.kind() {
        Some(TargetRefKind::MeshGateway | TargetRefKind::MeshHTTPRoute) => true,
        Some(TargetRefKind::Mesh | TargetRefKind::MeshSubset) => match &r.proxy_types {
            None => true,
            Some(types) => {
                types.is_empty() || types.iter().any(|t| t.is(crate::model::common::targetref::ProxyType::Gateway))
            }
        },
        _ => false,
    }
}

/// Build the [`PolicyView`] of a to/from/rules policy.
pub fn view<'a, T, F, R>(
    target_ref: &'a Option<TargetRef>,
    to: Option<&'a [To<T>]>,
    from: Option<&'a [From<F>]>,
    rules: Option<&'a [Rule<R>]>,
) -> PolicyView<'a> {
    let mut view = PolicyView { target_ref: target_ref.as_ref(), ..Default::default() };
    if let Some(r) = target_ref {
        view.references.push((Path::root().field("targetRef"), r));
    }
    for (i, item) in to.unwrap_or_default().iter().enumerate() {
        view.to.push(&item.target_ref);
        view.references.push((Path::root().field("to").index(i).field("targetRef"), &item.target_ref));
    }
    for item in from.unwrap_or_default() {
        view.from.push(&item.target_ref);
    }
    view.rules = rules.map_or(0, <[_]>::len);
    view
}
