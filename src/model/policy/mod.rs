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
use crate::model::common::{Match, TargetRef, TargetRefKind, TargetRefRules, validate_matches, validate_target_ref};
use crate::model::{PolicyRole, PolicyView};
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

/// The section rules of a to/from/rules policy: `rules` excludes `to` and `from`,
/// and at least one of the three is set (arguments: whether each is non-empty).
pub fn validate_to_from_rules(v: &mut Violations, to: bool, from: bool, rules: bool) {
    if rules && (to || from) {
        sections_message(v, "fields 'to' and 'from' must be empty when 'rules' is defined");
    }
    if !to && !from && !rules {
        sections_message(v, "at least one of 'from', 'to' or 'rules' has to be defined");
    }
}

/// The route policies' (MeshHTTPRoute, MeshTCPRoute) top-level targetRef check:
/// gateways (with listener tags) only in `system` policies. Returns whether the
/// route is a gateway route (top-level `MeshGateway`).
pub fn validate_route_top(v: &mut Violations, target_ref: &Option<TargetRef>, role: PolicyRole) -> bool {
    use TargetRefKind as K;
    let rules = if role == PolicyRole::System {
        TargetRefRules {
            supported: &[K::Mesh, K::MeshGateway, K::MeshSubset, K::MeshService, K::MeshServiceSubset, K::Dataplane],
            gateway_listener_tags: true,
            ..Default::default()
        }
    } else {
        TargetRefRules {
            supported: &[K::Mesh, K::MeshSubset, K::MeshService, K::MeshServiceSubset, K::Dataplane],
            ..Default::default()
        }
    };
    validate_top(v, target_ref, rules);
    top_kind(target_ref) == Some(K::MeshGateway)
}

/// A route's `to[].targetRef`: `Mesh` under a gateway, else a service.
pub fn validate_route_to(v: &mut Violations, path: &Path, target_ref: &TargetRef, gateway: bool) {
    use TargetRefKind as K;
    let supported: &[K] =
        if gateway { &[K::Mesh] } else { &[K::MeshService, K::MeshExternalService, K::MeshMultiZoneService] };
    validate_target_ref(v, path, target_ref, &TargetRefRules { supported, ..Default::default() });
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

/// The [`PolicyView`] of a policy's top-level targetRef alone.
pub fn top_view(target_ref: &Option<TargetRef>) -> PolicyView<'_> {
    let mut view = PolicyView { target_ref: target_ref.as_ref(), ..Default::default() };
    if let Some(r) = target_ref {
        view.references.push((Path::root().field("targetRef"), r));
    }
    view
}

/// Build the [`PolicyView`] of a to/from/rules policy.
pub fn view<'a, T, F, R>(
    target_ref: &'a Option<TargetRef>,
    to: Option<&'a [To<T>]>,
    from: Option<&'a [From<F>]>,
    rules: Option<&'a [Rule<R>]>,
) -> PolicyView<'a> {
    let mut view = top_view(target_ref);
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
