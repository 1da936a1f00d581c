//! MeshLoadBalancingStrategy (reference §5.5, §9): the merged `to` conf of an
//! outbound becomes its cluster's `lb_policy` and `*_lb_config`, the
//! `hash_policy[]` of every route of its listener (root `hashPolicies`, else
//! the ring-hash or Maglev ones), and locality-aware endpoint priorities: with
//! the policy, endpoints of other zones get priority 1 (0 when
//! `localityAwareness.disabled`); `localZone.affinityTags` split the local
//! endpoints into weighted sub-zones (`common_lb_config.locality_weighted_lb_config`),
//! `crossZone.failover` orders the other zones, and either sets the
//! assignment's `overprovisioning_factor` (Kuma's
//! `meshloadbalancingstrategy/plugin/v1alpha1/{plugin,locality_aware}.go`).
//!
//! A MeshHTTPRoute's own conf (`Condition::Route`, complete) replaces the
//! outbound's hash policies on that route's Envoy routes (Kuma looks the
//! route's KRI up first); the cluster keeps the outbound's conf.
//!
//! When the mesh routes cross-zone traffic through the zone egress, every
//! remote endpoint goes to one pseudo-locality `egress_<hash of the failover
//! rules>` at priority 1 (the egress applies the rules; Kuma's
//! `egressLocality`). Groups are ordered by locality name, as Kuma's
//! `CreateClusterLoadAssignment` orders them.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::cluster::v3::cluster::{
    self as cluster_pb, CommonLbConfig, LbPolicy, common_lb_config,
};
use envoy_types::pb::envoy::config::core::v3::{Locality, RuntimeDouble};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, LbEndpoint, LocalityLbEndpoints, cluster_load_assignment,
};
use envoy_types::pb::envoy::config::route::v3::route_action::{HashPolicy as EnvoyHashPolicy, hash_policy};
use envoy_types::pb::google::protobuf::{UInt32Value, UInt64Value, value};

use super::super::parts::{ClusterParts, ListenerParts, route_action, route_conf};
use super::mesh_timeout::duration;
use super::{At, Configurer, Place};
use crate::model::Kind;
use crate::model::common::Duration;
use crate::model::policy::mesh_load_balancing_strategy::{
    Conf, HashFunctionType, HashPolicy, HashPolicyType, LoadBalancer, LoadBalancerType, LocalityAwareness, ToZoneType,
    is_prime,
};
use crate::plan::ProxyPlan;
use crate::rules::effective::{Condition, Effective};

/// `overprovisioning_factor` when locality groups exist and no threshold is set.
const DEFAULT_OVERPROVISIONING_FACTOR: u32 = 200;
const LB_METADATA: &str = "envoy.lb";

/// MeshLoadBalancingStrategy's configurer.
pub struct MeshLoadBalancingStrategy;

impl Configurer for MeshLoadBalancingStrategy {
    fn kind(&self) -> Kind {
        Kind::MeshLoadBalancingStrategy
    }

    fn listener(&self, place: &Place, confs: &[&Effective], listener: &mut ListenerParts) {
        let At::Outbound(o) = place.at else { return };
        let outbound = all_traffic(confs).as_ref().and_then(envoy_hash_policies);
        for r in listener.routes() {
            let own = route_conf(o, confs, r).and_then(|e| serde_json::from_value::<Conf>(e.conf.clone()).ok());
            // Kuma's route configurer sets the hash policies of the conf found
            // first (the route's, else the outbound's), when it has any.
            let policies = match &own {
                Some(conf) => envoy_hash_policies(conf),
                None => outbound.clone(),
            };
            if let (Some(policies), Some(action)) = (policies, route_action(r)) {
                action.hash_policy = policies;
            }
        }
    }

    fn cluster(&self, place: &Place, confs: &[&Effective], cluster: &mut ClusterParts) {
        let At::Cluster(c) = place.at else { return };
        let Some(conf) = all_traffic(confs) else { return };
        apply_to_cluster(&conf, &mut cluster.cluster);
        let locality =
            Client { zone: place.plan.id.zone.as_deref(), tags: client_tags(place.plan), zone_egress: c.zone_egress };
        // A MeshExternalService keeps its own endpoint priorities (reached
        // directly) or is balanced by the egress: Kuma leaves it out of a
        // sidecar's locality (`NonMeshExternalService`).
        let external = c.destination.kind == crate::world::ServiceKind::MeshExternalService;
        if let Some(cla) = cluster.cluster.load_assignment.as_mut().filter(|_| !external) {
            apply_to_endpoints(&conf, &locality, cla);
        }
    }
}

/// The conf for all traffic of an outbound: `Condition::All`, or a legacy
/// `to` rule whose subset is everything.
fn all_traffic(confs: &[&Effective]) -> Option<Conf> {
    let e = confs.iter().find(|e| match &e.condition {
        Condition::All => true,
        Condition::Subset { tags, .. } => tags.is_empty(),
        Condition::Match(_) | Condition::Route(_) => false,
    })?;
    serde_json::from_value(e.conf.clone()).ok()
}

/// The route hash policies of a conf, if it has any.
fn envoy_hash_policies(conf: &Conf) -> Option<Vec<EnvoyHashPolicy>> {
    hash_policies(conf).map(|p| p.iter().filter_map(hash_policy).collect())
}

/// Kuma's `getHashPolicies`: the root list, else the ring-hash or Maglev one.
fn hash_policies(conf: &Conf) -> Option<&Vec<HashPolicy>> {
    if conf.hash_policies.is_some() {
        return conf.hash_policies.as_ref();
    }
    let lb = conf.load_balancer.as_ref()?;
    match lb.type_.as_ref().and_then(|t| t.known())? {
        LoadBalancerType::RingHash => lb.ring_hash.as_ref()?.hash_policies.as_ref(),
        LoadBalancerType::Maglev => lb.maglev.as_ref()?.hash_policies.as_ref(),
        _ => None,
    }
}

/// One route hash policy; `None` when its section is missing (validation
/// reported it). `SourceIP` hashes the source address, like `Connection`
/// with `sourceIP: true`.
fn hash_policy(p: &HashPolicy) -> Option<EnvoyHashPolicy> {
    let specifier = match p.type_.as_ref().and_then(|t| t.known())? {
        HashPolicyType::Header => hash_policy::PolicySpecifier::Header(hash_policy::Header {
            header_name: p.header.as_ref()?.name.clone().unwrap_or_default(),
            ..Default::default()
        }),
        HashPolicyType::Cookie => {
            let c = p.cookie.as_ref()?;
            hash_policy::PolicySpecifier::Cookie(hash_policy::Cookie {
                name: c.name.clone().unwrap_or_default(),
                ttl: c.ttl.as_ref().and_then(Duration::nanos).map(duration),
                path: c.path.clone().unwrap_or_default(),
                ..Default::default()
            })
        }
        HashPolicyType::Connection => {
            hash_policy::PolicySpecifier::ConnectionProperties(hash_policy::ConnectionProperties {
                source_ip: p.connection.as_ref()?.source_ip.unwrap_or(false),
            })
        }
        HashPolicyType::SourceIP => {
            hash_policy::PolicySpecifier::ConnectionProperties(hash_policy::ConnectionProperties { source_ip: true })
        }
        HashPolicyType::QueryParameter => hash_policy::PolicySpecifier::QueryParameter(hash_policy::QueryParameter {
            name: p.query_parameter.as_ref()?.name.clone().unwrap_or_default(),
        }),
        HashPolicyType::FilterState => hash_policy::PolicySpecifier::FilterState(hash_policy::FilterState {
            key: p.filter_state.as_ref()?.key.clone().unwrap_or_default(),
        }),
    };
    Some(EnvoyHashPolicy { policy_specifier: Some(specifier), terminal: p.terminal.unwrap_or(false) })
}

/// The load balancer and, with affinity tags, locality-weighted balancing.
fn apply_to_cluster(conf: &Conf, cluster: &mut Cluster) {
    let affinity = conf
        .locality_awareness
        .as_ref()
        .and_then(|l| l.local_zone.as_ref())
        .is_some_and(|z| z.affinity_tags.as_ref().is_some_and(|t| !t.is_empty()));
    if affinity {
        cluster.common_lb_config.get_or_insert_with(CommonLbConfig::default).locality_config_specifier =
            Some(common_lb_config::LocalityConfigSpecifier::LocalityWeightedLbConfig(Default::default()));
    }
    if let Some(lb) = &conf.load_balancer {
        load_balancer(lb, cluster);
    }
}

fn load_balancer(lb: &LoadBalancer, cluster: &mut Cluster) {
    let Some(kind) = lb.type_.as_ref().and_then(|t| t.known()) else { return };
    let u64_value = |n: i64| UInt64Value { value: u64::try_from(n.max(0)).unwrap_or(0) };
    match kind {
        LoadBalancerType::RoundRobin => cluster.lb_policy = LbPolicy::RoundRobin as i32,
        LoadBalancerType::Random => cluster.lb_policy = LbPolicy::Random as i32,
        LoadBalancerType::LeastRequest => {
            cluster.lb_policy = LbPolicy::LeastRequest as i32;
            if let Some(lr) = &lb.least_request {
                let config = cluster_pb::LeastRequestLbConfig {
                    choice_count: lr.choice_count.map(|n| UInt32Value { value: u32::try_from(n.max(0)).unwrap_or(0) }),
                    active_request_bias: lr
                        .active_request_bias
                        .as_ref()
                        .and_then(|b| b.as_f64())
                        .map(|default_value| RuntimeDouble { default_value, ..Default::default() }),
                    ..Default::default()
                };
                if config.choice_count.is_some() || config.active_request_bias.is_some() {
                    cluster.lb_config = Some(cluster_pb::LbConfig::LeastRequestLbConfig(config));
                }
            }
        }
        LoadBalancerType::RingHash => {
            cluster.lb_policy = LbPolicy::RingHash as i32;
            if let Some(rh) = &lb.ring_hash {
                let hash_function = match rh.hash_function.as_ref().and_then(|h| h.known()) {
                    Some(HashFunctionType::MurmurHash2) => cluster_pb::ring_hash_lb_config::HashFunction::MurmurHash2,
                    _ => cluster_pb::ring_hash_lb_config::HashFunction::XxHash,
                };
                cluster.lb_config = Some(cluster_pb::LbConfig::RingHashLbConfig(cluster_pb::RingHashLbConfig {
                    minimum_ring_size: rh.min_ring_size.map(u64_value),
                    maximum_ring_size: rh.max_ring_size.map(u64_value),
                    hash_function: hash_function as i32,
                }));
            }
        }
        LoadBalancerType::Maglev => {
            cluster.lb_policy = LbPolicy::Maglev as i32;
            // Envoy refuses a table size that is not prime (finding MESH3012): its default then.
            let size = lb.maglev.as_ref().and_then(|m| m.table_size).filter(|n| is_prime(*n));
            if let Some(size) = size {
                cluster.lb_config = Some(cluster_pb::LbConfig::MaglevLbConfig(cluster_pb::MaglevLbConfig {
                    table_size: Some(u64_value(size)),
                }));
            }
        }
    }
}

/// The client's zone and tags, for locality-aware balancing.
struct Client<'a> {
    zone: Option<&'a str>,
    tags: BTreeMap<String, String>,
    /// Remote endpoints go through the zone egress (Kuma's `egressEnabled`).
    zone_egress: bool,
}

/// The proxy's inbound tags (first value of each key), for affinity.
fn client_tags(plan: &ProxyPlan) -> BTreeMap<String, String> {
    let mut tags = BTreeMap::new();
    for i in &plan.inbounds {
        for (k, v) in &i.tags {
            tags.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    tags
}

impl Client<'_> {
    fn is_local(&self, l: &LocalityLbEndpoints) -> bool {
        let zone = l.locality.as_ref().map(|l| l.zone.as_str()).unwrap_or_default();
        zone.is_empty() || Some(zone) == self.zone
    }
}

/// The weight of the affinity tag `rank` places from the last of `count` tags
/// without explicit weights. Kuma's `9 * 10^rank` (90% to the first tag, 9% to
/// the next, ...) while the weights of all tags fit Envoy's 32-bit locality
/// weight sum (up to 9 tags); `2^rank` up to 31 tags (each tag still outweighs
/// all later ones together); beyond that `rank + 1`, which keeps only the order.
fn affinity_weight(rank: usize, count: usize) -> u32 {
    let rank = u32::try_from(rank).unwrap_or(u32::MAX);
    match count {
        0..=9 => 9 * 10_u32.pow(rank),
        10..=31 => 1 << rank,
        _ => rank.saturating_add(1),
    }
}

/// Priorities, affinity sub-zones and cross-zone failover of the endpoints.
fn apply_to_endpoints(conf: &Conf, client: &Client, cla: &mut ClusterLoadAssignment) {
    let la = conf.locality_awareness.as_ref();
    let aware = la.and_then(|l| l.disabled) != Some(true);
    // Kuma's NonLocalPriority.
    for group in &mut cla.endpoints {
        if !client.is_local(group) {
            group.priority = u32::from(aware);
        }
    }
    let Some(la) = la.filter(|l| l.local_zone.is_some() || l.cross_zone.is_some()) else { return };
    let mut local = Vec::new();
    let mut remote = Vec::new();
    for group in std::mem::take(&mut cla.endpoints) {
        let zone = group.locality.as_ref().map(|l| l.zone.clone()).unwrap_or_default();
        let target = if client.is_local(&group) { &mut local } else { &mut remote };
        target.extend(group.lb_endpoints.into_iter().map(|e| (zone.clone(), e)));
    }
    let local_zone = client.zone.unwrap_or_default().to_string();
    // Local endpoints: the first affinity tag whose value the client shares.
    let tags = la.local_zone.as_ref().and_then(|z| z.affinity_tags.clone()).unwrap_or_default();
    let weighted = tags.iter().any(|t| t.weight.is_some());
    let mut groups: BTreeMap<(u32, String, String), (u32, Vec<LbEndpoint>)> = BTreeMap::new();
    for (_, e) in local {
        let endpoint_tags = lb_tags(&e);
        let matched = tags.iter().enumerate().find_map(|(i, t)| {
            let key = t.key.as_deref()?;
            let value = client.tags.get(key)?;
            (endpoint_tags.get(key) == Some(value)).then(|| {
                let weight = if weighted {
                    u32::try_from(t.weight.unwrap_or(1).max(1)).unwrap_or(u32::MAX)
                } else {
                    affinity_weight(tags.len() - i - 1, tags.len())
                };
                (format!("{key}={value}"), weight)
            })
        });
        let (sub_zone, weight) = matched.unwrap_or_default();
        let weight = if sub_zone.is_empty() { 1 } else { weight };
        groups.entry((0, local_zone.clone(), sub_zone)).or_insert((weight, Vec::new())).1.push(e);
    }
    // Remote endpoints: the first failover rule for this zone that keeps them,
    // else dropped; through the zone egress, all in one pseudo-locality.
    let rules = cross_zone_groups(la, &local_zone);
    let egress = client.zone_egress.then(|| egress_locality(&rules));
    for (zone, e) in remote {
        let target = match &egress {
            Some(egress) => Some((1, egress.clone())),
            None => rules.iter().find(|g| g.keeps(&zone)).map(|g| (g.priority, zone)),
        };
        if let Some((priority, zone)) = target {
            groups.entry((priority, zone, String::new())).or_insert((0, Vec::new())).1.push(e);
        }
    }
    let mut endpoints: Vec<LocalityLbEndpoints> = groups
        .into_iter()
        .map(|((priority, zone, sub_zone), (weight, lb_endpoints))| LocalityLbEndpoints {
            locality: (!zone.is_empty() || !sub_zone.is_empty()).then(|| Locality {
                zone,
                sub_zone,
                ..Default::default()
            }),
            lb_endpoints,
            load_balancing_weight: (weight > 0).then_some(UInt32Value { value: weight }),
            priority,
            ..Default::default()
        })
        .collect();
    // Kuma orders localities by region + zone + sub-zone.
    endpoints.sort_by_cached_key(|g| {
        let l = g.locality.clone().unwrap_or_default();
        (format!("{}{}{}", l.region, l.zone, l.sub_zone), g.priority)
    });
    cla.endpoints = endpoints;
    cla.policy = Some(cluster_load_assignment::Policy {
        overprovisioning_factor: Some(UInt32Value { value: overprovisioning_factor(conf) }),
        ..Default::default()
    });
}

/// A failover rule that applies to the client's zone (Kuma's `CrossZoneLbGroup`):
/// its priority is its place in the list plus one, so skipped rules leave gaps.
struct CrossZoneGroup {
    kind: ToZoneType,
    zones: std::collections::BTreeSet<String>,
    priority: u32,
}

impl CrossZoneGroup {
    /// Whether this rule sends traffic to endpoints of `zone`.
    fn keeps(&self, zone: &str) -> bool {
        match self.kind {
            ToZoneType::Any => true,
            ToZoneType::AnyExcept => !self.zones.contains(zone),
            ToZoneType::Only => self.zones.contains(zone),
            ToZoneType::None => false,
        }
    }
}

/// The failover rules that apply to a client in `local_zone`, in order.
fn cross_zone_groups(la: &LocalityAwareness, local_zone: &str) -> Vec<CrossZoneGroup> {
    let rules = la.cross_zone.as_ref().and_then(|c| c.failover.as_ref());
    rules
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, rule)| rule.from.as_ref().is_none_or(|f| f.zones.iter().flatten().any(|z| z == local_zone)))
        .filter_map(|(i, rule)| {
            let to = rule.to.as_ref()?;
            Some(CrossZoneGroup {
                kind: to.type_.as_ref().and_then(|t| t.known())?,
                zones: to.zones.iter().flatten().cloned().collect(),
                priority: u32::try_from(i + 1).unwrap_or(u32::MAX),
            })
        })
        .collect()
}

/// Kuma's `egressLocality`: `egress_` and the first 8 characters of the
/// base64 SHA-256 of the rules (`<priority>:<zones>;` for Only,
/// `<priority>:Any;`, `<priority>:AnyExcept:<zones>;`, zones sorted and
/// comma-joined, None rules left out).
fn egress_locality(rules: &[CrossZoneGroup]) -> String {
    use sha2::{Digest, Sha256};
    let mut description = String::new();
    for g in rules {
        let zones = g.zones.iter().map(String::as_str).collect::<Vec<_>>().join(",");
        match g.kind {
            ToZoneType::Only => description.push_str(&format!("{}:{zones};", g.priority)),
            ToZoneType::Any => description.push_str(&format!("{}:Any;", g.priority)),
            ToZoneType::AnyExcept => description.push_str(&format!("{}:AnyExcept:{zones};", g.priority)),
            ToZoneType::None => {}
        }
    }
    let hash = crate::certs::pem::encode_base64(&Sha256::digest(description.as_bytes()));
    format!("egress_{}", hash.get(..8).unwrap_or(&hash))
}

/// The endpoint's tags, from its `envoy.lb` metadata.
fn lb_tags(e: &LbEndpoint) -> BTreeMap<String, String> {
    let fields = e.metadata.as_ref().and_then(|m| m.filter_metadata.get(LB_METADATA)).map(|s| &s.fields);
    fields
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| match &v.kind {
            Some(value::Kind::StringValue(s)) => Some((k.clone(), s.clone())),
            _ => None,
        })
        .collect()
}

/// `uint32(100 / P) × 100` for a failover threshold of P percent (integer
/// truncation as in Kuma: 50 -> 200, 70 -> 100), else 200.
fn overprovisioning_factor(conf: &Conf) -> u32 {
    let threshold = conf
        .locality_awareness
        .as_ref()
        .and_then(|l| l.cross_zone.as_ref())
        .and_then(|c| c.failover_threshold.as_ref())
        .and_then(|t| t.percentage.as_ref())
        .and_then(|p| p.as_f64());
    match threshold {
        Some(p) if p > 0.0 => ((100.0 / p) as u32).saturating_mul(100),
        _ => DEFAULT_OVERPROVISIONING_FACTOR,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::common::StringMap;
    use serde_json::json;

    #[test]
    fn affinity_weights_keep_order_and_fit_32_bits() {
        assert_eq!((0..3).rev().map(|r| affinity_weight(r, 3)).collect::<Vec<_>>(), vec![900, 90, 9]);
        for count in [1, 9, 10, 20, 31, 32, 100] {
            let weights: Vec<u64> = (0..count).rev().map(|r| u64::from(affinity_weight(r, count))).collect();
            assert!(weights.windows(2).all(|w| w[0] > w[1]), "{count}: {weights:?}");
            // Plus 1 for the endpoints that match no tag.
            assert!(weights.iter().sum::<u64>() < u64::from(u32::MAX), "{count}");
        }
    }

    fn conf(v: serde_json::Value) -> Conf {
        serde_json::from_value(v).expect("conf")
    }

    #[test]
    fn load_balancers_map_to_lb_policy_and_config() {
        let mut c = Cluster::default();
        apply_to_cluster(
            &conf(
                json!({"loadBalancer": {"type": "RingHash", "ringHash": {"minRingSize": 100, "maxRingSize": 10000, "hashFunction": "MurmurHash2"}}}),
            ),
            &mut c,
        );
        assert_eq!(c.lb_policy, LbPolicy::RingHash as i32);
        let Some(cluster_pb::LbConfig::RingHashLbConfig(rh)) = &c.lb_config else { panic!("ring hash") };
        assert_eq!(rh.minimum_ring_size, Some(UInt64Value { value: 100 }));
        assert_eq!(rh.hash_function, cluster_pb::ring_hash_lb_config::HashFunction::MurmurHash2 as i32);
        let mut c = Cluster::default();
        apply_to_cluster(&conf(json!({"loadBalancer": {"type": "Maglev", "maglev": {"tableSize": 17}}})), &mut c);
        assert_eq!(c.lb_policy, LbPolicy::Maglev as i32);
        let mut c = Cluster::default();
        apply_to_cluster(
            &conf(
                json!({"loadBalancer": {"type": "LeastRequest", "leastRequest": {"activeRequestBias": "1.3", "choiceCount": 4}}}),
            ),
            &mut c,
        );
        let Some(cluster_pb::LbConfig::LeastRequestLbConfig(lr)) = &c.lb_config else { panic!("least request") };
        assert_eq!(lr.active_request_bias.as_ref().map(|b| b.default_value), Some(1.3));
        let mut c = Cluster::default();
        apply_to_cluster(&conf(json!({"loadBalancer": {"type": "Random"}})), &mut c);
        assert_eq!((c.lb_policy, c.lb_config.is_none()), (LbPolicy::Random as i32, true));
    }

    #[test]
    fn root_hash_policies_win_over_the_load_balancers() {
        let c = conf(json!({"hashPolicies": [{"type": "Cookie", "cookie": {"name": "session_id"}}],
            "loadBalancer": {"type": "Maglev", "maglev": {"hashPolicies": [{"type": "Header", "header": {"name": "x"}}]}}}));
        let policies = hash_policies(&c).expect("policies");
        assert_eq!(policies.len(), 1);
        let p = hash_policy(&policies[0]).expect("policy");
        assert!(
            matches!(p.policy_specifier, Some(hash_policy::PolicySpecifier::Cookie(ref k)) if k.name == "session_id")
        );
        let c = conf(json!({"loadBalancer": {"type": "RingHash", "ringHash": {"hashPolicies": [
            {"type": "Header", "header": {"name": "x"}, "terminal": true},
            {"type": "SourceIP", "connection": {"sourceIP": true}},
            {"type": "QueryParameter", "queryParameter": {"name": "q"}},
            {"type": "FilterState", "filterState": {"key": "k"}}]}}}));
        let policies: Vec<EnvoyHashPolicy> =
            hash_policies(&c).expect("policies").iter().filter_map(hash_policy).collect();
        assert_eq!(policies.len(), 4);
        assert!(policies[0].terminal);
        // Hash policies of a load balancer without hashing: none.
        assert!(hash_policies(&conf(json!({"loadBalancer": {"type": "RoundRobin"}}))).is_none());
    }

    fn endpoint(tags: &[(&str, &str)]) -> LbEndpoint {
        let map: StringMap = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        LbEndpoint { metadata: Some(super::super::super::proto::metadata(LB_METADATA, &map)), ..Default::default() }
    }

    fn group(zone: &str, endpoints: Vec<LbEndpoint>) -> LocalityLbEndpoints {
        LocalityLbEndpoints {
            locality: Some(Locality { zone: zone.into(), ..Default::default() }),
            lb_endpoints: endpoints,
            ..Default::default()
        }
    }

    #[test]
    fn affinity_tags_weight_local_endpoints_and_drop_remote_ones() {
        let client = Client {
            zone: Some("z1"),
            tags: BTreeMap::from([("k8s.io/node".into(), "n1".into())]),
            zone_egress: false,
        };
        let mut cla = ClusterLoadAssignment {
            endpoints: vec![
                group("z1", vec![endpoint(&[("k8s.io/node", "n1")]), endpoint(&[("k8s.io/node", "n2")])]),
                group("z2", vec![endpoint(&[])]),
            ],
            ..Default::default()
        };
        let c = conf(
            json!({"localityAwareness": {"localZone": {"affinityTags": [{"key": "k8s.io/node"}, {"key": "k8s.io/az"}]}}}),
        );
        apply_to_endpoints(&c, &client, &mut cla);
        let summary: Vec<(String, u32, u32, usize)> = cla
            .endpoints
            .iter()
            .map(|g| {
                let l = g.locality.clone().unwrap_or_default();
                (l.sub_zone, g.priority, g.load_balancing_weight.map(|w| w.value).unwrap_or(0), g.lb_endpoints.len())
            })
            .collect();
        assert_eq!(summary, vec![(String::new(), 0, 1, 1), ("k8s.io/node=n1".into(), 0, 90, 1)]);
        assert_eq!(cla.policy.and_then(|p| p.overprovisioning_factor), Some(UInt32Value { value: 200 }));
    }

    #[test]
    fn failover_orders_remote_zones_and_disabled_flattens_priorities() {
        let client = Client { zone: Some("z1"), tags: BTreeMap::new(), zone_egress: false };
        let cla = || ClusterLoadAssignment {
            endpoints: vec![
                group("z1", vec![endpoint(&[])]),
                group("z2", vec![endpoint(&[])]),
                group("z3", vec![endpoint(&[])]),
            ],
            ..Default::default()
        };
        let mut with_rules = cla();
        let c = conf(json!({"localityAwareness": {"crossZone": {"failover": [
            {"to": {"type": "Only", "zones": ["z3"]}}, {"to": {"type": "Any"}}], "failoverThreshold": {"percentage": 70}}}}));
        apply_to_endpoints(&c, &client, &mut with_rules);
        let priorities: Vec<(String, u32)> =
            with_rules.endpoints.iter().map(|g| (g.locality.clone().unwrap_or_default().zone, g.priority)).collect();
        // Localities in Kuma's order (by name), each at its rule's priority.
        assert_eq!(priorities, vec![("z1".into(), 0), ("z2".into(), 2), ("z3".into(), 1)]);
        assert_eq!(with_rules.policy.and_then(|p| p.overprovisioning_factor), Some(UInt32Value { value: 100 }));
        let mut plain = cla();
        apply_to_endpoints(&conf(json!({"loadBalancer": {"type": "Random"}})), &client, &mut plain);
        assert_eq!(plain.endpoints.iter().map(|g| g.priority).collect::<Vec<_>>(), vec![0, 1, 1]);
        let mut disabled = cla();
        apply_to_endpoints(&conf(json!({"localityAwareness": {"disabled": true}})), &client, &mut disabled);
        assert_eq!(disabled.endpoints.iter().map(|g| g.priority).collect::<Vec<_>>(), vec![0, 0, 0]);
    }

    /// An endpoint of Kuma's plugin tests (`createEndpointWith`): port 8080,
    /// tags `kuma.io/protocol: http`, `kuma.io/zone` and the extra ones.
    fn kuma_endpoint(zone: &str, address: &str, extra: &[(&str, &str)]) -> (String, LbEndpoint) {
        let mut tags: Vec<(&str, &str)> = vec![("kuma.io/protocol", "http"), ("kuma.io/zone", zone)];
        tags.extend_from_slice(extra);
        let map: StringMap = tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let e = LbEndpoint {
            host_identifier: Some(envoy_types::pb::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier::Endpoint(
                envoy_types::pb::envoy::config::endpoint::v3::Endpoint {
                    address: Some(super::super::super::proto::socket(address, 8080)),
                    ..Default::default()
                },
            )),
            metadata: Some(super::super::super::proto::metadata(LB_METADATA, &map)),
            ..Default::default()
        };
        (zone.to_string(), e)
    }

    /// Endpoints grouped by zone, as the cluster stage hands them over.
    fn by_zone(endpoints: Vec<(String, LbEndpoint)>) -> ClusterLoadAssignment {
        let mut zones: BTreeMap<String, Vec<LbEndpoint>> = BTreeMap::new();
        for (zone, e) in endpoints {
            zones.entry(zone).or_default().push(e);
        }
        ClusterLoadAssignment {
            endpoints: zones.into_iter().map(|(z, es)| group(&z, es)).collect(),
            ..Default::default()
        }
    }

    /// (zone, sub-zone, priority, locality weight, endpoint addresses) per group, in order.
    type Summary = Vec<(String, String, u32, Option<u32>, Vec<String>)>;

    fn summary(cla: &ClusterLoadAssignment) -> Summary {
        use envoy_types::pb::envoy::config::core::v3::{address, socket_address};
        use envoy_types::pb::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier;
        cla.endpoints
            .iter()
            .map(|g| {
                let l = g.locality.clone().unwrap_or_default();
                let addresses = g
                    .lb_endpoints
                    .iter()
                    .filter_map(|e| match &e.host_identifier {
                        Some(HostIdentifier::Endpoint(ep)) => match ep.address.as_ref()?.address.as_ref()? {
                            address::Address::SocketAddress(sa) => {
                                let port = match sa.port_specifier {
                                    Some(socket_address::PortSpecifier::PortValue(p)) => p,
                                    _ => 0,
                                };
                                Some(format!("{}:{port}", sa.address))
                            }
                            _ => None,
                        },
                        _ => None,
                    })
                    .collect();
                (l.zone, l.sub_zone, g.priority, g.load_balancing_weight.map(|w| w.value), addresses)
            })
            .collect()
    }

    fn row(zone: &str, sub_zone: &str, priority: u32, weight: Option<u32>, addresses: &[&str]) -> Summary {
        vec![(zone.into(), sub_zone.into(), priority, weight, addresses.iter().map(|a| format!("{a}:8080")).collect())]
    }

    /// The client and conf of Kuma's `locality_aware_basic` plugin test
    /// (`meshloadbalancingstrategy/plugin/v1alpha1/plugin_test.go`).
    fn kuma_basic() -> (Client<'static>, Conf) {
        let client = Client {
            zone: Some("zone-1"),
            tags: BTreeMap::from([
                ("kuma.io/service".into(), "backend".into()),
                ("kuma.io/zone".into(), "zone-1".into()),
                ("k8s.io/node".into(), "node1".into()),
                ("k8s.io/az".into(), "test".into()),
                ("k8s.io/region".into(), "test".into()),
            ]),
            zone_egress: false,
        };
        let c = conf(json!({"loadBalancer": {"type": "Random"}, "localityAwareness": {
            "localZone": {"affinityTags": [
                {"key": "k8s.io/node", "weight": 9000}, {"key": "k8s.io/az", "weight": 900},
                {"key": "k8s.io/region", "weight": 90}]},
            "crossZone": {"failover": [
                {"to": {"type": "AnyExcept", "zones": ["zone-3", "zone-4", "zone-5"]}},
                {"from": {"zones": ["zone-1"]}, "to": {"type": "Only", "zones": ["zone-3"]}},
                {"to": {"type": "Only", "zones": ["zone-4"]}}]}}}));
        (client, c)
    }

    /// Kuma's `testdata/locality_aware_basic.endpoints.golden.yaml`, field by
    /// field: sub-zones with their weights, the local group without a sub-zone
    /// at weight 1, remote zones at their rule's priority without a weight,
    /// zone-5 (no rule) dropped, localities ordered by name, factor 200.
    #[test]
    fn kuma_locality_aware_basic_golden() {
        let (client, c) = kuma_basic();
        let mut cla = by_zone(vec![
            kuma_endpoint("zone-1", "192.168.1.1", &[("k8s.io/node", "node1")]),
            kuma_endpoint("zone-1", "192.168.1.2", &[("k8s.io/node", "node2")]),
            kuma_endpoint("zone-1", "192.168.1.3", &[("k8s.io/az", "test")]),
            kuma_endpoint("zone-1", "192.168.1.4", &[("k8s.io/region", "test")]),
            kuma_endpoint("zone-2", "192.168.1.5", &[]),
            kuma_endpoint("zone-3", "192.168.1.6", &[]),
            kuma_endpoint("zone-4", "192.168.1.7", &[]),
            kuma_endpoint("zone-5", "192.168.1.8", &[]),
        ]);
        apply_to_endpoints(&c, &client, &mut cla);
        let want: Summary = [
            row("zone-1", "", 0, Some(1), &["192.168.1.2"]),
            row("zone-1", "k8s.io/az=test", 0, Some(900), &["192.168.1.3"]),
            row("zone-1", "k8s.io/node=node1", 0, Some(9000), &["192.168.1.1"]),
            row("zone-1", "k8s.io/region=test", 0, Some(90), &["192.168.1.4"]),
            row("zone-2", "", 1, None, &["192.168.1.5"]),
            row("zone-3", "", 2, None, &["192.168.1.6"]),
            row("zone-4", "", 3, None, &["192.168.1.7"]),
        ]
        .concat();
        assert_eq!(summary(&cla), want);
        assert_eq!(cla.policy.and_then(|p| p.overprovisioning_factor), Some(UInt32Value { value: 200 }));
    }

    /// Kuma's `testdata/locality_aware_basic_egress_enabled.endpoints.golden.yaml`:
    /// through the zone egress every remote endpoint is in one pseudo-locality
    /// named after the rules (`egress_+9ESnM2K`), priority 1, listed first.
    #[test]
    fn kuma_locality_aware_basic_egress_golden() {
        let (mut client, c) = kuma_basic();
        client.zone_egress = true;
        let mut cla = by_zone(vec![
            kuma_endpoint("zone-1", "192.168.1.1", &[("k8s.io/node", "node1")]),
            kuma_endpoint("zone-1", "192.168.1.2", &[("k8s.io/node", "node2")]),
            kuma_endpoint("zone-1", "192.168.1.3", &[("k8s.io/az", "test")]),
            kuma_endpoint("zone-1", "192.168.1.4", &[("k8s.io/region", "test")]),
            kuma_endpoint("zone-2", "192.168.1.5", &[]),
        ]);
        apply_to_endpoints(&c, &client, &mut cla);
        let want: Summary = [
            row("egress_+9ESnM2K", "", 1, None, &["192.168.1.5"]),
            row("zone-1", "", 0, Some(1), &["192.168.1.2"]),
            row("zone-1", "k8s.io/az=test", 0, Some(900), &["192.168.1.3"]),
            row("zone-1", "k8s.io/node=node1", 0, Some(9000), &["192.168.1.1"]),
            row("zone-1", "k8s.io/region=test", 0, Some(90), &["192.168.1.4"]),
        ]
        .concat();
        assert_eq!(summary(&cla), want);
        // Every remote zone shares the one pseudo-locality, whatever the rules say of it.
        let mut cla = by_zone(vec![
            kuma_endpoint("zone-1", "192.168.1.1", &[]),
            kuma_endpoint("zone-3", "192.168.1.6", &[]),
            kuma_endpoint("zone-5", "192.168.1.8", &[]),
        ]);
        apply_to_endpoints(&c, &client, &mut cla);
        let zones: Vec<(String, u32, usize)> =
            summary(&cla).into_iter().map(|(z, _, p, _, a)| (z, p, a.len())).collect();
        assert_eq!(zones, vec![("egress_+9ESnM2K".into(), 1, 2), ("zone-1".into(), 0, 1)]);
    }

    #[test]
    fn egress_locality_hashes_kumas_rule_description() {
        let la = |v: serde_json::Value| conf(json!({"localityAwareness": {"crossZone": {"failover": v}}}));
        let c = la(json!([{"to": {"type": "AnyExcept", "zones": ["zone-5", "zone-3", "zone-4"]}},
            {"from": {"zones": ["zone-1"]}, "to": {"type": "Only", "zones": ["zone-3"]}},
            {"to": {"type": "Only", "zones": ["zone-4"]}}]));
        let groups = cross_zone_groups(c.locality_awareness.as_ref().expect("la"), "zone-1");
        // "1:AnyExcept:zone-3,zone-4,zone-5;2:zone-3;3:zone-4;"
        assert_eq!(egress_locality(&groups), "egress_+9ESnM2K");
        // From zone-2 the second rule does not apply: "1:AnyExcept:zone-3,zone-4,zone-5;3:zone-4;".
        let groups = cross_zone_groups(c.locality_awareness.as_ref().expect("la"), "zone-2");
        assert_eq!(groups.iter().map(|g| g.priority).collect::<Vec<_>>(), vec![1, 3]);
        // None rules are left out of the description; no rules hash the empty string.
        let c = la(json!([{"to": {"type": "None"}}]));
        assert_eq!(
            egress_locality(&cross_zone_groups(c.locality_awareness.as_ref().expect("la"), "z")),
            "egress_47DEQpj8"
        );
    }

    #[test]
    fn overprovisioning_factor_truncates_like_kuma() {
        let with = |p: serde_json::Value| {
            overprovisioning_factor(&conf(
                json!({"localityAwareness": {"crossZone": {"failoverThreshold": {"percentage": p}}}}),
            ))
        };
        assert_eq!(with(json!(50)), 200);
        assert_eq!(with(json!(70)), 100);
        assert_eq!(with(json!(99)), 100);
        assert_eq!(with(json!("33.3")), 300);
        assert_eq!(with(json!(100)), 100);
        assert_eq!(overprovisioning_factor(&conf(json!({}))), 200);
    }
}
