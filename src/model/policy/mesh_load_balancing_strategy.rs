//! MeshLoadBalancingStrategy (`pkg/plugins/policies/meshloadbalancingstrategy/`):
//! load-balancing algorithm, hash policies and locality-aware (zone) load balancing
//! for outbound traffic (`to`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::To;
use crate::findings::codes;
use crate::kuma_enum;
use crate::model::choice::Choice;
use crate::model::common::{
    Duration, IntOrString, TargetRef, TargetRefKind as K, TargetRefRules, non_empty, validate_greater_than_zero_or_nil,
    validate_percentage, validate_target_ref,
};
use crate::model::{KindSpec, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// MeshLoadBalancingStrategy spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshLoadBalancingStrategy {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// Load-balancing configuration per group of destinations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<To<Conf>>>,
}

/// Load-balancing configuration for a group of destinations.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// Request/connection properties hashed to pick an endpoint, in order
    /// (the only field allowed for a MeshHTTPRoute destination).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_policies: Option<Vec<HashPolicy>>,
    /// The load-balancing algorithm.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<LoadBalancer>,
    /// Locality-aware (zone) load balancing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locality_awareness: Option<LocalityAwareness>,
}

/// Locality-aware load balancing.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct LocalityAwareness {
    /// Priorities when the local zone's endpoints are unavailable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cross_zone: Option<CrossZone>,
    /// Disable locality-aware load balancing: spread requests over all endpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    /// Priorities between endpoints inside the local zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub local_zone: Option<LocalZone>,
}

/// Load balancing inside the local zone.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct LocalZone {
    /// Tags whose values the client shares with preferred endpoints, in priority order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affinity_tags: Option<Vec<AffinityTag>>,
}

/// A tag for local-zone affinity.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct AffinityTag {
    /// The tag for which affinity is configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub key: Option<String>,
    /// Relative weight of the tag (all tags or none have one; default 90%/9%/1%...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<i64>,
}

/// Cross-zone failover.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CrossZone {
    /// Failover rules in order of priority.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover: Option<Vec<Failover>>,
    /// Percentage of live endpoints below which the next priority is used (default 50).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failover_threshold: Option<FailoverThreshold>,
}

/// One failover rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Failover {
    /// The client zones this rule applies to; all when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<FromZone>,
    /// The zones traffic may fail over to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub to: Option<ToZone>,
}

/// Client zones of a failover rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct FromZone {
    /// Zone names.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub zones: Option<Vec<String>>,
}

kuma_enum! {
    /// How target zones are picked from the available zones.
    pub enum ToZoneType { None = "None", Only = "Only", Any = "Any", AnyExcept = "AnyExcept" }
}

/// Target zones of a failover rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ToZone {
    /// How target zones are picked: `None`, `Only`, `Any`, `AnyExcept`.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<ToZoneType>>,
    /// Zone names (for `Only` and `AnyExcept`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zones: Option<Vec<String>>,
}

/// Failover threshold.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct FailoverThreshold {
    /// Percentage of live destination proxies (integer or decimal string).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub percentage: Option<IntOrString>,
}

kuma_enum! {
    /// Load-balancing algorithm.
    pub enum LoadBalancerType {
        RoundRobin = "RoundRobin",
        LeastRequest = "LeastRequest",
        RingHash = "RingHash",
        Random = "Random",
        Maglev = "Maglev",
    }
}

/// The load-balancing algorithm and its settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct LoadBalancer {
    /// The algorithm.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<LoadBalancerType>>,
    /// Least-request settings: pick the host with fewest active requests among N random ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub least_request: Option<LeastRequest>,
    /// Maglev consistent-hashing settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maglev: Option<Maglev>,
    /// Random selection (no settings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub random: Option<Random>,
    /// Ring-hash (ketama) consistent-hashing settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ring_hash: Option<RingHash>,
    /// Round robin (no settings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub round_robin: Option<RoundRobin>,
}

/// Round robin: no settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RoundRobin {}

/// Random: no settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Random {}

/// Least-request settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct LeastRequest {
    /// How strongly endpoints with active requests are penalised (default 1.0; not negative).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub active_request_bias: Option<IntOrString>,
    /// Number of random healthy hosts to choose from (default 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 2))]
    pub choice_count: Option<i64>,
}

kuma_enum! {
    /// Function hashing hosts onto the ring.
    pub enum HashFunctionType { XXHash = "XXHash", MurmurHash2 = "MurmurHash2" }
}

/// Ring-hash settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RingHash {
    /// Function hashing hosts onto the ring (default XXHash).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_function: Option<Choice<HashFunctionType>>,
    /// Request/connection properties hashed to pick an endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_policies: Option<Vec<HashPolicy>>,
    /// Maximum ring size (default and limit 8M entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 8000000))]
    pub max_ring_size: Option<i64>,
    /// Minimum ring size (default 1024 entries).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 8000000))]
    pub min_ring_size: Option<i64>,
}

/// Maglev settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Maglev {
    /// Request/connection properties hashed to pick an endpoint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_policies: Option<Vec<HashPolicy>>,
    /// Lookup table size, a prime (default 65537).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 5000011))]
    pub table_size: Option<i64>,
}

kuma_enum! {
    /// What a hash policy hashes.
    pub enum HashPolicyType {
        Header = "Header",
        Cookie = "Cookie",
        Connection = "Connection",
        SourceIP = "SourceIP",
        QueryParameter = "QueryParameter",
        FilterState = "FilterState",
    }
}

/// A request/connection property used to compute the hash.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HashPolicy {
    /// What is hashed; the matching section must be set.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<HashPolicyType>>,
    /// Stop at this policy if it produced a hash.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terminal: Option<bool>,
    /// Hash a request header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderHash>,
    /// Hash a cookie (generated with `ttl` when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cookie: Option<CookieHash>,
    /// Hash connection properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<ConnectionHash>,
    /// Hash a URL query parameter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_parameter: Option<QueryParameterHash>,
    /// Hash an object of the per-request filter state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_state: Option<FilterStateHash>,
}

/// Header hash.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HeaderHash {
    /// Name of the request header.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required, length(min = 1))]
    pub name: Option<String>,
}

/// Cookie hash.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct CookieHash {
    /// Name of the cookie.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required, length(min = 1))]
    pub name: Option<String>,
    /// Path of the generated cookie (absolute).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// TTL of the cookie generated when it is absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Duration>,
}

/// Connection hash.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ConnectionHash {
    /// Hash on the source IP address.
    #[serde(rename = "sourceIP", skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<bool>,
}

/// Query parameter hash.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct QueryParameterHash {
    /// Name of the URL query parameter (case-sensitive).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required, length(min = 1))]
    pub name: Option<String>,
}

/// Filter state hash.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct FilterStateHash {
    /// Key of the Envoy::Hashable object in the per-request filter state.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required, length(min = 1))]
    pub key: Option<String>,
}

const ONLY_HASH_POLICIES: &str =
    "field is not allowed when targetRef.kind is MeshHTTPRoute, only hashPolicies is supported";

impl KindSpec for MeshLoadBalancingStrategy {
    fn validate(&self, _ctx: &ValidateCtx, v: &mut Violations) {
        super::validate_top(
            v,
            &self.target_ref,
            TargetRefRules {
                supported: &[
                    K::Mesh,
                    K::MeshSubset,
                    K::MeshGateway,
                    K::MeshService,
                    K::MeshServiceSubset,
                    K::Dataplane,
                ],
                gateway_listener_tags: true,
                ..Default::default()
            },
        );
        let root = Path::root();
        if !non_empty(&self.to) {
            v.add_code(codes::POLICY_SECTIONS, &root.field("to"), "needs at least one item");
        }
        let top = super::top_kind(&self.target_ref);
        for (i, item) in self.to.iter().flatten().enumerate() {
            let p = root.field("to").index(i);
            let lb_set = item.default.as_ref().is_some_and(|d| d.load_balancer.is_some());
            let rules = match top {
                Some(K::MeshGateway) if lb_set => TargetRefRules {
                    supported: &[K::Mesh],
                    supported_error: Some("value is not supported, only Mesh is allowed if loadBalancer is set"),
                    ..Default::default()
                },
                Some(K::MeshGateway) => TargetRefRules {
                    supported: &[K::Mesh, K::MeshService, K::MeshMultiZoneService],
                    ..Default::default()
                },
                _ => TargetRefRules {
                    supported: &[K::Mesh, K::MeshService, K::MeshMultiZoneService, K::MeshHTTPRoute],
                    ..Default::default()
                },
            };
            validate_target_ref(v, &p.field("targetRef"), &item.target_ref, &rules);
            if item.target_ref.is(K::MeshExternalService) && top != Some(K::Mesh) {
                v.add_code(
                    codes::TARGETREF_KIND,
                    &p.field("targetRef").field("kind"),
                    "kind MeshExternalService is only allowed with targetRef.kind: Mesh as it is configured on the Zone Egress and shared by all clients in the mesh",
                );
            }
            if let Some(conf) = &item.default {
                validate_conf(v, &p.field("default"), conf, &item.target_ref);
            }
        }
    }

    fn policy(&self) -> Option<PolicyView<'_>> {
        Some(super::view::<Conf, Conf, Conf>(&self.target_ref, self.to.as_deref(), None, None))
    }
}

fn validate_conf(v: &mut Violations, path: &Path, conf: &Conf, to: &TargetRef) {
    let hash_path = path.field("hashPolicies");
    if to.is(K::MeshHTTPRoute) {
        validate_hash_policies(v, &hash_path, conf.hash_policies.as_deref());
        if conf.load_balancer.is_some() {
            v.add(&path.field("loadBalancer"), ONLY_HASH_POLICIES);
        }
        if conf.locality_awareness.is_some() {
            v.add(&path.field("localityAwareness"), ONLY_HASH_POLICIES);
        }
        return;
    }
    let lb_path = path.field("loadBalancer");
    if let Some(lb) = &conf.load_balancer {
        validate_load_balancer(v, &lb_path, lb);
    }
    if let Some(la) = &conf.locality_awareness {
        validate_locality_awareness(v, &path.field("localityAwareness"), la, to);
    }
    validate_hash_policies(v, &hash_path, conf.hash_policies.as_deref());
    if let (Some(_), Some(lb)) = (&conf.hash_policies, &conf.load_balancer) {
        let root_level = "hashPolicies already specified in the root level";
        if lb.ring_hash.as_ref().is_some_and(|r| r.hash_policies.is_some()) {
            v.add(&lb_path.field("ringHash").field("hashPolicies"), root_level);
        }
        if lb.maglev.as_ref().is_some_and(|m| m.hash_policies.is_some()) {
            v.add(&lb_path.field("maglev").field("hashPolicies"), root_level);
        }
    }
}

/// Trial division; table sizes are at most 5000011, so at most ~1100 steps.
pub(crate) fn is_prime(n: i64) -> bool {
    n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0)
}

fn validate_load_balancer(v: &mut Violations, path: &Path, lb: &LoadBalancer) {
    match lb.type_.as_ref().and_then(Choice::known) {
        Some(LoadBalancerType::RingHash) => {
            if let Some(r) = &lb.ring_hash {
                let p = path.field("ringHash").field("hashPolicies");
                validate_hash_policies(v, &p, r.hash_policies.as_deref());
                // Envoy's defaults apply to an unset bound (1024 and 8M entries).
                let (min, max) = (r.min_ring_size.unwrap_or(1024), r.max_ring_size.unwrap_or(8_388_608));
                if min > max {
                    let field = if r.min_ring_size.is_some() { "minRingSize" } else { "maxRingSize" };
                    v.add_code(
                        codes::ENVOY_REJECTS,
                        &path.field("ringHash").field(field),
                        format!("minRingSize ({min}) must not be greater than maxRingSize ({max})"),
                    );
                }
            }
        }
        Some(LoadBalancerType::Maglev) => {
            if let Some(m) = &lb.maglev {
                let p = path.field("maglev").field("hashPolicies");
                validate_hash_policies(v, &p, m.hash_policies.as_deref());
                if let Some(size) = m.table_size.filter(|n| *n > 0 && !is_prime(*n)) {
                    v.add_code(
                        codes::ENVOY_IGNORES,
                        &path.field("maglev").field("tableSize"),
                        format!(
                            "must be a prime number for Envoy's Maglev table, {size} is not (e.g. 65537); \
                             where it takes effect meshc leaves Envoy's default (65537)"
                        ),
                    );
                }
            }
        }
        Some(LoadBalancerType::LeastRequest) => {
            if let Some(bias) = lb.least_request.as_ref().and_then(|l| l.active_request_bias.as_ref()) {
                let p = path.field("leastRequest").field("activeRequestBias");
                match bias.as_f64() {
                    None => v.add(&p, msg::VALID_NUMBER),
                    Some(f) if f < 0.0 => v.add(&p, "must be greater or equal then: 0"),
                    Some(_) => {}
                }
            }
        }
        _ => {}
    }
}

fn validate_locality_awareness(v: &mut Violations, path: &Path, la: &LocalityAwareness, to: &TargetRef) {
    if let Some(local) = &la.local_zone {
        let tags = local.affinity_tags.as_deref().unwrap_or_default();
        let base = path.field("localZone").field("affinityTags");
        let mut with_weight = 0;
        for (i, tag) in tags.iter().enumerate() {
            if tag.key.as_deref().is_none_or(str::is_empty) {
                v.add_code(codes::KUMA_REQUIRED, &base.index(i).field("key"), msg::MUST_NOT_BE_EMPTY);
            }
            validate_greater_than_zero_or_nil(v, &base.index(i).field("weight"), tag.weight);
            if tag.weight.is_some() {
                with_weight += 1;
            }
        }
        if with_weight > 0 && with_weight != tags.len() {
            v.add(&base, "all or none affinity tags should have weight");
        }
        // Envoy refuses locality weights that add up past 32 bits.
        let total = tags.iter().filter_map(|t| t.weight).map(|w| w.max(0)).fold(0, i64::saturating_add);
        if total > i64::from(u32::MAX) {
            v.add_code(
                codes::ENVOY_REJECTS,
                &base,
                format!("weights add up to {total}, more than Envoy accepts ({}); scale them down", u32::MAX),
            );
        }
    }
    if let Some(cross) = &la.cross_zone {
        validate_cross_zone(v, &path.field("crossZone"), cross, to);
    }
}

fn validate_cross_zone(v: &mut Violations, path: &Path, cross: &CrossZone, to: &TargetRef) {
    if to.is(K::MeshService) && (to.section_name.as_deref().is_some_and(|s| !s.is_empty()) || to.has_labels()) {
        v.add(path, format!("{}: MeshService traffic is local", msg::MUST_NOT_BE_SET));
    }
    for (i, failover) in cross.failover.iter().flatten().enumerate() {
        let p = path.field("failover").index(i);
        if let Some(from) = &failover.from {
            let zones = p.field("from").field("zones");
            let from_zones = from.zones.as_deref().unwrap_or_default();
            if from_zones.is_empty() {
                v.add_code(codes::KUMA_REQUIRED, &zones, msg::MUST_NOT_BE_EMPTY);
            }
            for (j, zone) in from_zones.iter().enumerate() {
                if zone.is_empty() {
                    v.add_code(codes::KUMA_REQUIRED, &zones.index(j), msg::MUST_NOT_BE_EMPTY);
                }
            }
        }
        let to_zones = p.field("to").field("zones");
        let to_zone = failover.to.as_ref();
        let has_zones = to_zone.and_then(|t| t.zones.as_ref()).is_some_and(|z| !z.is_empty());
        match to_zone.and_then(|t| t.type_.as_ref()).and_then(Choice::known) {
            Some(t @ (ToZoneType::Any | ToZoneType::None)) => {
                if has_zones {
                    v.add(
                        &to_zones,
                        format!("must be empty when type is {}", crate::model::choice::KumaEnum::name(&t)),
                    );
                }
            }
            Some(t @ (ToZoneType::AnyExcept | ToZoneType::Only)) => {
                if !has_zones {
                    v.add(
                        &to_zones,
                        format!("must not be empty when type is {}", crate::model::choice::KumaEnum::name(&t)),
                    );
                }
            }
            None => v.add(&p.field("to").field("type"), "unrecognized type"),
        }
    }
    if let Some(threshold) = &cross.failover_threshold {
        // An omitted percentage is Go's zero IntOrString, i.e. 0.
        let zero = IntOrString::Int(0);
        let percentage = threshold.percentage.as_ref().unwrap_or(&zero);
        validate_percentage(v, &path.field("failoverThreshold").field("percentage"), Some(percentage), true, false);
    }
}

fn validate_hash_policies(v: &mut Violations, path: &Path, policies: Option<&[HashPolicy]>) {
    for (i, policy) in policies.unwrap_or_default().iter().enumerate() {
        let p = path.index(i);
        match policy.type_.as_ref().and_then(Choice::known) {
            Some(HashPolicyType::Header) if policy.header.is_none() => v.must_be_defined(&p.field("header")),
            Some(HashPolicyType::Cookie) => match &policy.cookie {
                None => v.must_be_defined(&p.field("cookie")),
                Some(c) => {
                    if c.path.as_deref().is_some_and(|s| !s.starts_with('/')) {
                        v.add(&p.field("cookie").field("path"), "must be an absolute path");
                    }
                }
            },
            Some(HashPolicyType::QueryParameter) if policy.query_parameter.is_none() => {
                v.must_be_defined(&p.field("queryParameter"))
            }
            Some(HashPolicyType::FilterState) if policy.filter_state.is_none() => {
                v.must_be_defined(&p.field("filterState"))
            }
            Some(HashPolicyType::Connection | HashPolicyType::SourceIP) if policy.connection.is_none() => {
                v.must_be_defined(&p.field("connection"))
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{self, meta, sorted};
    use crate::model::{Kind, PolicyRole};
    use serde_json::json;

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        sorted(testing::check::<MeshLoadBalancingStrategy>(
            &meta(Kind::MeshLoadBalancingStrategy, "test"),
            PolicyRole::System,
            spec,
        ))
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        sorted(testing::pairs(items))
    }

    fn to(default: serde_json::Value) -> serde_json::Value {
        json!({"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": {"kind": "MeshService", "name": "svc-1"}, "default": default}]})
    }

    #[test]
    fn valid() {
        for spec in [
            json!({"targetRef": {"kind": "MeshService", "name": "svc-1"}, "to": [{"targetRef": {"kind": "MeshService", "name": "svc-2"}, "default": {
                "localityAwareness": {"disabled": true},
                "loadBalancer": {"type": "Maglev", "maglev": {"hashPolicies": [{"type": "Cookie", "cookie": {"name": "c", "ttl": "1s", "path": "/abs"}}]}}
            }}]}),
            to(json!({"loadBalancer": {"type": "LeastRequest", "leastRequest": {"activeRequestBias": "1.3"}}})),
            to(json!({"localityAwareness": {
                "localZone": {"affinityTags": [{"key": "k8s/node"}, {"key": "k8s/az"}]},
                "crossZone": {"failover": [
                    {"from": {"zones": ["zone-1"]}, "to": {"type": "Only", "zones": ["zone-2"]}},
                    {"from": {"zones": ["zone-3"]}, "to": {"type": "Any"}},
                    {"from": {"zones": ["zone-4"]}, "to": {"type": "AnyExcept", "zones": ["zone-1"]}},
                    {"to": {"type": "None"}}
                ], "failoverThreshold": {"percentage": 70}}
            }})),
            json!({"targetRef": {"kind": "MeshGateway", "name": "edge", "tags": {"name": "listener-1"}},
                   "to": [{"targetRef": {"kind": "MeshService", "name": "svc-2"}, "default": {"localityAwareness": {"disabled": true}}}]}),
            json!({"to": [{"targetRef": {"kind": "MeshHTTPRoute", "name": "r"}, "default": {"hashPolicies": [{"type": "Header", "header": {"name": "x"}}]}}]}),
        ] {
            assert_eq!(check(spec.clone()), Vec::<(String, String)>::new(), "{spec}");
        }
    }

    #[test]
    fn invalid_sections() {
        assert_eq!(
            check(json!({"targetRef": {"kind": "MeshGatewayRoute", "name": "route-1"}, "to": []})),
            pairs(&[
                ("spec.targetRef.kind", "value 'MeshGatewayRoute' is not supported"),
                ("spec.to", "needs at least one item")
            ])
        );
        assert_eq!(
            check(json!({"targetRef": {"kind": "MeshService", "name": "svc-1"}, "to": [
                {"targetRef": {"kind": "MeshServiceSubset", "name": "svc-2", "tags": {"version": "v1"}}},
                {"targetRef": {"kind": "MeshService", "name": "real", "sectionName": "http"}, "default": {"localityAwareness": {"crossZone": {}}}}
            ]})),
            pairs(&[
                ("spec.to[0].targetRef.kind", "value 'MeshServiceSubset' is not supported"),
                ("spec.to[1].default.localityAwareness.crossZone", "must not be set: MeshService traffic is local"),
            ])
        );
        assert_eq!(
            check(
                json!({"targetRef": {"kind": "MeshGateway", "name": "edge-gateway"}, "to": [{"targetRef": {"kind": "MeshService", "name": "svc-1"},
                "default": {"loadBalancer": {"type": "LeastRequest", "leastRequest": {"activeRequestBias": "1.3"}}}}]})
            ),
            pairs(&[(
                "spec.to[0].targetRef.kind",
                "value is not supported, only Mesh is allowed if loadBalancer is set"
            )])
        );
        assert_eq!(
            check(json!({"to": [{"targetRef": {"kind": "MeshHTTPRoute", "name": "r"}, "default": {
                "loadBalancer": {"type": "Random"}, "localityAwareness": {"disabled": true}}}]})),
            pairs(&[
                ("spec.to[0].default.loadBalancer", ONLY_HASH_POLICIES),
                ("spec.to[0].default.localityAwareness", ONLY_HASH_POLICIES),
            ])
        );
    }

    #[test]
    fn invalid_conf() {
        assert_eq!(
            check(to(json!({"loadBalancer": {"type": "RingHash", "ringHash": {"hashPolicies": [
                {"type": "Header"}, {"type": "Cookie"}, {"type": "Connection"}, {"type": "QueryParameter"}, {"type": "FilterState"}, {"type": "SourceIP"}
            ]}}}))),
            pairs(&[
                ("spec.to[0].default.loadBalancer.ringHash.hashPolicies[0].header", "must be defined"),
                ("spec.to[0].default.loadBalancer.ringHash.hashPolicies[1].cookie", "must be defined"),
                ("spec.to[0].default.loadBalancer.ringHash.hashPolicies[2].connection", "must be defined"),
                ("spec.to[0].default.loadBalancer.ringHash.hashPolicies[3].queryParameter", "must be defined"),
                ("spec.to[0].default.loadBalancer.ringHash.hashPolicies[4].filterState", "must be defined"),
                ("spec.to[0].default.loadBalancer.ringHash.hashPolicies[5].connection", "must be defined"),
            ])
        );
        assert_eq!(
            check(to(json!({"loadBalancer": {"type": "Maglev", "maglev": {"hashPolicies": [
                {"type": "Cookie", "cookie": {"name": "c", "path": "relative-path"}}]}}}))),
            pairs(&[(
                "spec.to[0].default.loadBalancer.maglev.hashPolicies[0].cookie.path",
                "must be an absolute path"
            )])
        );
        assert_eq!(
            check(to(json!({"hashPolicies": [{"type": "Header", "header": {"name": "x"}}],
                "loadBalancer": {"type": "Maglev", "maglev": {"hashPolicies": []}}}))),
            pairs(&[(
                "spec.to[0].default.loadBalancer.maglev.hashPolicies",
                "hashPolicies already specified in the root level"
            )])
        );
        assert_eq!(
            check(to(json!({"loadBalancer": {"type": "LeastRequest", "leastRequest": {"activeRequestBias": -1}}}))),
            pairs(&[(
                "spec.to[0].default.loadBalancer.leastRequest.activeRequestBias",
                "must be greater or equal then: 0"
            )])
        );
        assert_eq!(
            check(to(
                json!({"localityAwareness": {"localZone": {"affinityTags": [{"key": "k8s/node", "weight": 0}, {"key": "", "weight": 10}]}}})
            )),
            pairs(&[
                ("spec.to[0].default.localityAwareness.localZone.affinityTags[0].weight", "must be greater than 0"),
                ("spec.to[0].default.localityAwareness.localZone.affinityTags[1].key", "must not be empty"),
            ])
        );
        assert_eq!(
            check(to(
                json!({"localityAwareness": {"localZone": {"affinityTags": [{"key": "k8s/node", "weight": 10}, {"key": "k8s/az"}]}}})
            )),
            pairs(&[(
                "spec.to[0].default.localityAwareness.localZone.affinityTags",
                "all or none affinity tags should have weight"
            )])
        );
        let threshold = |p: serde_json::Value| {
            check(to(json!({"localityAwareness": {"crossZone": {"failoverThreshold": {"percentage": p}}}})))
        };
        let path = "spec.to[0].default.localityAwareness.crossZone.failoverThreshold.percentage";
        assert_eq!(threshold(json!(0)), pairs(&[(path, "must be greater than 0")]));
        assert_eq!(threshold(json!("hello")), pairs(&[(path, "string must be a valid number")]));
        assert_eq!(threshold(json!(101)), pairs(&[(path, "must be in inclusive range [0.0, 100.0]")]));
    }

    #[test]
    fn failover_rules() {
        let cz = "spec.to[0].default.localityAwareness.crossZone";
        let got = check(to(json!({"localityAwareness": {"crossZone": {"failover": [
            {"from": {"zones": ["zone-1"]}, "to": {"type": "None", "zones": ["zone-1"]}},
            {"from": {"zones": ["zone-1", ""]}, "to": {"type": "Any"}},
            {"to": {"type": "Any", "zones": ["zone-1"]}},
            {"to": {"type": "Only", "zones": []}},
            {"to": {"type": "Only"}},
            {"to": {"type": "AnyExcept", "zones": []}},
            {"to": {"type": "AnyExcept"}},
            {"from": {"zones": []}, "to": {"type": "Nope"}},
            {"from": {}}
        ]}}})));
        let want: Vec<(String, &str)> = vec![
            (format!("{cz}.failover[0].to.zones"), "must be empty when type is None"),
            (format!("{cz}.failover[1].from.zones[1]"), "must not be empty"),
            (format!("{cz}.failover[2].to.zones"), "must be empty when type is Any"),
            (format!("{cz}.failover[3].to.zones"), "must not be empty when type is Only"),
            (format!("{cz}.failover[4].to.zones"), "must not be empty when type is Only"),
            (format!("{cz}.failover[5].to.zones"), "must not be empty when type is AnyExcept"),
            (format!("{cz}.failover[6].to.zones"), "must not be empty when type is AnyExcept"),
            (format!("{cz}.failover[7].from.zones"), "must not be empty"),
            (format!("{cz}.failover[7].to.type"), "unrecognized type"),
            (format!("{cz}.failover[8].from.zones"), "must not be empty"),
            (format!("{cz}.failover[8].to.type"), "unrecognized type"),
        ];
        let mut want: Vec<(String, String)> = want.into_iter().map(|(a, b)| (a, b.to_string())).collect();
        want.sort();
        assert_eq!(got, want);
    }

    #[test]
    fn external_service_only_with_top_mesh() {
        assert_eq!(
            check(json!({"targetRef": {"kind": "MeshSubset", "tags": {"kuma.io/service": "test"}},
                "to": [{"targetRef": {"kind": "MeshExternalService", "name": "svc-1"}, "default": {"localityAwareness": {"disabled": true}}}]})),
            pairs(&[
                ("spec.to[0].targetRef.kind", "value 'MeshExternalService' is not supported"),
                (
                    "spec.to[0].targetRef.kind",
                    "kind MeshExternalService is only allowed with targetRef.kind: Mesh as it is configured on the Zone Egress and shared by all clients in the mesh"
                ),
            ])
        );
    }
}
