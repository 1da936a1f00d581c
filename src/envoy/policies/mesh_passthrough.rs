//! MeshPassthrough (reference §7): what a transparent-proxy sidecar lets out of
//! the mesh, as Kuma's plugin shapes it
//! (`pkg/plugins/policies/meshpassthrough/plugin/v1alpha1/plugin.go`,
//! `plugin/xds/{order.go,listeners_filter_chain.go,configurer.go,clusters.go}`).
//!
//! The policy acts on the `outbound:passthrough:ipv4|ipv6` listeners and
//! clusters (what iptables sends when no outbound listener matches), not on
//! inbounds or outbounds, so it is not a [`super::Configurer`]: the envoy stage
//! calls [`apply`] on the passthrough resources before encoding them.
//!
//! - `None` with the mesh's passthrough on: the passthrough clusters go (the
//!   listeners stay and lead nowhere). `All` with the mesh's passthrough off:
//!   they become the ORIGINAL_DST clusters the mesh would have had.
//! - `Matched` (the default): the passthrough clusters go; with `appendMatch`,
//!   every filter chain of the passthrough listeners is replaced by one chain
//!   per match (HTTP domains of one protocol and port share one chain with a
//!   virtual host each), each to its own ORIGINAL_DST cluster.
//!
//! Two matches that would make the same Envoy filter chain (Envoy refuses the
//! listener) keep the first in `appendMatch` order; the other is dropped and
//! reported (MESH5012, see [`findings`]).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use envoy_types::pb::envoy::config::cluster::v3::{
    Cluster, cluster::ClusterDiscoveryType, cluster::DiscoveryType, cluster::LbPolicy,
};
use envoy_types::pb::envoy::config::core::v3::{CidrRange, Http2ProtocolOptions};
use envoy_types::pb::envoy::config::core::v3::{DataSource, data_source};
use envoy_types::pb::envoy::config::listener::v3::{
    FilterChainMatch, ListenerFilter, ListenerFilterChainMatchPredicate, listener_filter,
    listener_filter_chain_match_predicate,
};
use envoy_types::pb::envoy::config::route::v3::{
    DirectResponseAction, RouteConfiguration, RouteMatch, VirtualHost, route, route_match,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::listener::http_inspector::v3::HttpInspector;
use envoy_types::pb::envoy::extensions::filters::listener::original_dst::v3::OriginalDst;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options, http_protocol_options::explicit_http_config,
};
use envoy_types::pb::envoy::r#type::v3::Int32Range;
use envoy_types::pb::google::protobuf::UInt32Value;
use prost::Message;

use super::super::listener;
use super::super::parts::{Chain, ClusterParts, ListenerParts, ROUTER, Terminal, http_filter};
use super::super::proto::{any, sanitize};
use crate::findings::{Finding, Target, codes};
use crate::model::Kind;
use crate::model::policy::mesh_passthrough::{Conf, MatchType as ApiMatchType, PassthroughMode, ProtocolType};
use crate::plan::{ProxyPlan, TransparentProxy};
use crate::rules::effective::{Condition, Effective, policy_name};
use crate::rules::proxy::PolicySet;
use crate::validate::violations::Path;

/// Kuma's body of the 503 answer to a domain no match allows.
pub const NO_MATCH_BODY: &str = "This response comes from Kuma Sidecar. No routes matched this domain - check configuration of your MeshPassthrough policy.\n";
const ORIGINAL_DST: &str = "envoy.filters.listener.original_dst";
const TLS_INSPECTOR: &str = "envoy.filters.listener.tls_inspector";
const HTTP_INSPECTOR: &str = "envoy.filters.listener.http_inspector";
const OUTBOUND_PASSTHROUGH: &str = "outbound:passthrough:";

/// Kuma's match types, in Kuma's enum order: a chain of a later type comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MatchType {
    Wildcard,
    Domain,
    Cidr,
    CidrV6,
    Ip,
    IpV6,
}

impl MatchType {
    fn is_domain(self) -> bool {
        matches!(self, MatchType::Domain | MatchType::Wildcard)
    }

    /// Whether a chain of this type goes on the IPv6 (`true`) or IPv4 listener;
    /// domains go on both.
    fn on(self, ipv6: bool) -> bool {
        match self {
            MatchType::Domain | MatchType::Wildcard => true,
            MatchType::Ip | MatchType::Cidr => !ipv6,
            MatchType::IpV6 | MatchType::CidrV6 => ipv6,
        }
    }
}

/// Kuma's protocols, in chain order (Kuma names a mysql chain and cluster `tcp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    Tls,
    Tcp,
    Mysql,
    Http,
    Http2,
    Grpc,
}

impl Protocol {
    fn of(p: ProtocolType) -> Protocol {
        match p {
            ProtocolType::Tls => Protocol::Tls,
            ProtocolType::Tcp => Protocol::Tcp,
            ProtocolType::Mysql => Protocol::Mysql,
            ProtocolType::Http => Protocol::Http,
            ProtocolType::Http2 => Protocol::Http2,
            ProtocolType::Grpc => Protocol::Grpc,
        }
    }

    fn is_l7(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Http2 | Protocol::Grpc)
    }

    /// Kuma's order of chains by protocol (mysql is a TCP chain to Kuma).
    fn rank(self) -> u8 {
        match self {
            Protocol::Tls => 0,
            Protocol::Tcp | Protocol::Mysql => 1,
            Protocol::Http => 2,
            Protocol::Http2 => 3,
            Protocol::Grpc => 4,
        }
    }

    /// The protocol in names.
    fn name(self) -> &'static str {
        match self {
            Protocol::Tls => "tls",
            Protocol::Tcp | Protocol::Mysql => "tcp",
            Protocol::Http => "http",
            Protocol::Http2 => "http2",
            Protocol::Grpc => "grpc",
        }
    }
}

/// A domain an HTTP chain has a virtual host for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub value: String,
    pub match_type: MatchType,
}

/// One filter chain to build (per listener family), as Kuma's `FilterChainMatch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matcher {
    pub protocol: Protocol,
    /// 0: every port.
    pub port: u32,
    pub match_type: MatchType,
    /// The domain, IP or CIDR as written; empty for an HTTP chain of domains.
    pub value: String,
    /// The virtual hosts of an HTTP chain of domains, in Kuma's order.
    pub routes: Vec<Route>,
    /// Index in `appendMatch` of the first match behind this chain.
    pub first: usize,
    /// A port-less match repeated on a port: its chain gives way to the
    /// port's own chains.
    pub repeated: bool,
}

/// A match of `appendMatch` meshc cannot build (Envoy would refuse the listener).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// Index in the merged `appendMatch`.
    pub index: usize,
    pub message: String,
}

/// A chain's identity before ordering: protocol, port, match type, value.
type Key = (Protocol, u32, MatchType, String);

/// Kuma's `sortDomains`: more labels first, then alphabetical.
fn domain_order(a: &str, b: &str) -> std::cmp::Ordering {
    let labels = |s: &str| s.split('.').count();
    labels(b).cmp(&labels(a)).then_with(|| a.cmp(b))
}

/// The prefix length of a CIDR (0 when it does not parse).
fn prefix_len(cidr: &str) -> u32 {
    cidr.split_once('/').and_then(|(_, b)| b.parse().ok()).unwrap_or(0)
}

/// The filter chains of a conf, in Kuma's order (`GetOrderedMatchers`):
/// protocol, match type (IPv6 > IP > CIDRv6 > CIDR > Domain > Wildcard), higher
/// port first, domains with more labels first then alphabetical, longer CIDR
/// prefix first (then, where Kuma leaves the order to Go's map iteration, by
/// value). A port-less matcher is repeated on every port some match names:
/// Envoy picks the chains of the destination port first, and would not look at
/// the port-less ones when a connection's port has a chain of its own.
pub fn matchers(conf: &Conf) -> Vec<Matcher> {
    // (protocol, port, type, value) -> (routes, first index, repeated)
    let mut by_key: BTreeMap<Key, (BTreeSet<Route>, usize, bool)> = BTreeMap::new();
    let mut ports: BTreeSet<u32> = BTreeSet::new();
    for (i, m) in conf.append_match.iter().flatten().enumerate() {
        let (Some(kind), Some(protocol), Some(value)) =
            (m.type_.as_ref().and_then(|t| t.known()), m.protocol.known(), m.value.as_deref())
        else {
            continue;
        };
        let Some(port) = u32::try_from(m.port.unwrap_or(0)).ok().filter(|p| *p <= 65535) else { continue };
        let protocol = Protocol::of(protocol);
        // Domain names are case-insensitive: `API.example.com` and `api.example.com`
        // are one virtual host (Envoy refuses two) and one SNI.
        let lowered;
        let value = if kind == ApiMatchType::Domain {
            lowered = value.to_ascii_lowercase();
            lowered.as_str()
        } else {
            value
        };
        let match_type = match kind {
            ApiMatchType::Domain if value.starts_with('*') => MatchType::Wildcard,
            ApiMatchType::Domain => MatchType::Domain,
            ApiMatchType::Ip if value.contains(':') => MatchType::IpV6,
            ApiMatchType::Ip => MatchType::Ip,
            ApiMatchType::Cidr if value.split('/').next().is_some_and(|a| a.contains(':')) => MatchType::CidrV6,
            ApiMatchType::Cidr => MatchType::Cidr,
        };
        ports.insert(port);
        if protocol.is_l7() && match_type.is_domain() {
            // Domains of one L7 protocol and port share a chain: one virtual host each.
            let e =
                by_key.entry((protocol, port, MatchType::Domain, String::new())).or_insert((BTreeSet::new(), i, false));
            e.0.insert(Route { value: value.to_string(), match_type });
        } else {
            by_key.entry((protocol, port, match_type, value.to_string())).or_insert((BTreeSet::new(), i, false));
        }
    }
    let port_less: Vec<_> =
        by_key.iter().filter(|(k, _)| k.1 == 0).map(|(k, v)| (k.clone(), v.clone())).collect::<Vec<_>>();
    for ((protocol, _, match_type, value), (routes, first, _)) in port_less {
        for port in ports.iter().copied().filter(|p| *p != 0) {
            let e = by_key.entry((protocol, port, match_type, value.clone())).or_insert((BTreeSet::new(), first, true));
            e.0.extend(routes.iter().cloned());
        }
    }
    let mut out: Vec<Matcher> = by_key
        .into_iter()
        .map(|((protocol, port, match_type, value), (routes, first, repeated))| {
            let mut routes: Vec<Route> = routes.into_iter().collect();
            routes.sort_by(|a, b| b.match_type.cmp(&a.match_type).then_with(|| domain_order(&a.value, &b.value)));
            Matcher { protocol, port, match_type, value, routes, first, repeated }
        })
        .collect();
    out.sort_by(|a, b| {
        a.protocol
            .rank()
            .cmp(&b.protocol.rank())
            .then_with(|| b.match_type.cmp(&a.match_type))
            .then_with(|| b.port.cmp(&a.port))
            .then_with(|| {
                if a.match_type.is_domain() {
                    domain_order(&a.value, &b.value)
                } else if matches!(a.match_type, MatchType::Cidr | MatchType::CidrV6) {
                    prefix_len(&b.value).cmp(&prefix_len(&a.value))
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .then_with(|| b.routes.len().cmp(&a.routes.len()))
            .then_with(|| a.value.cmp(&b.value))
            .then_with(|| a.protocol.cmp(&b.protocol))
    });
    out
}

fn port_name(port: u32) -> String {
    if port == 0 { "*".to_string() } else { port.to_string() }
}

/// Kuma's `FilterChainName`: `meshpassthrough_<proto>_<port|*>` for an HTTP
/// chain of domains, else `meshpassthrough_<proto>_<value>_<port|*>`.
pub fn chain_name(m: &Matcher) -> String {
    if m.value.is_empty() {
        format!("meshpassthrough_{}_{}", m.protocol.name(), port_name(m.port))
    } else {
        cluster_name(&m.value, m.protocol, m.port)
    }
}

/// Kuma's `ClusterName`: `meshpassthrough_<proto>_<value>_<port|*>`.
pub fn cluster_name(value: &str, protocol: Protocol, port: u32) -> String {
    format!("meshpassthrough_{}_{}_{}", protocol.name(), value, port_name(port))
}

/// `prefix_ranges` for an IP or CIDR match (a CIDR's network address, as Go's
/// `net.ParseCIDR` gives it).
fn prefix_ranges(m: &Matcher) -> Vec<CidrRange> {
    let range =
        |address_prefix: String, len: u32| CidrRange { address_prefix, prefix_len: Some(UInt32Value { value: len }) };
    match m.match_type {
        MatchType::Ip => vec![range(m.value.clone(), 32)],
        MatchType::IpV6 => vec![range(m.value.clone(), 128)],
        MatchType::Cidr | MatchType::CidrV6 => {
            let Some((addr, _)) = m.value.split_once('/') else { return Vec::new() };
            let len = prefix_len(&m.value);
            let network = match addr.parse::<std::net::IpAddr>() {
                Ok(std::net::IpAddr::V4(a)) => {
                    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len.min(32)) };
                    std::net::Ipv4Addr::from(u32::from(a) & mask).to_string()
                }
                Ok(std::net::IpAddr::V6(a)) => {
                    let mask = if len == 0 { 0 } else { u128::MAX << (128 - len.min(128)) };
                    std::net::Ipv6Addr::from(u128::from(a) & mask).to_string()
                }
                Err(_) => addr.to_string(),
            };
            vec![range(network, len)]
        }
        MatchType::Domain | MatchType::Wildcard => Vec::new(),
    }
}

/// Kuma's `no_match` virtual host: a 503 explaining why.
fn no_match() -> VirtualHost {
    VirtualHost {
        name: "no_match".to_string(),
        domains: vec!["*".to_string()],
        routes: vec![envoy_types::pb::envoy::config::route::v3::Route {
            r#match: Some(RouteMatch {
                path_specifier: Some(route_match::PathSpecifier::Prefix("/".to_string())),
                ..Default::default()
            }),
            action: Some(route::Action::DirectResponse(DirectResponseAction {
                status: 503,
                body: Some(DataSource {
                    specifier: Some(data_source::Specifier::InlineString(NO_MATCH_BODY.to_string())),
                    ..Default::default()
                }),
                ..Default::default()
            })),
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The virtual hosts of an HTTP chain, and the clusters they send to.
fn virtual_hosts(m: &Matcher, clusters: &mut BTreeMap<String, Protocol>) -> Vec<VirtualHost> {
    if !m.value.is_empty() {
        let cluster = cluster_name(&m.value, m.protocol, m.port);
        clusters.insert(cluster.clone(), m.protocol);
        return vec![VirtualHost {
            name: m.value.clone(),
            domains: vec!["*".to_string()],
            routes: vec![listener::route_to(&cluster, None)],
            ..Default::default()
        }];
    }
    let mut hosts: Vec<VirtualHost> = m
        .routes
        .iter()
        .map(|r| {
            // A Host header may carry the port (RFC 9110).
            let mut domains = vec![r.value.clone()];
            if m.port != 0 {
                domains.push(format!("{}:{}", r.value, m.port));
            } else if r.match_type == MatchType::Domain {
                domains.push(format!("{}:*", r.value));
            }
            let cluster = cluster_name(&r.value, m.protocol, m.port);
            clusters.insert(cluster.clone(), m.protocol);
            VirtualHost {
                name: r.value.clone(),
                domains,
                routes: vec![listener::route_to(&cluster, None)],
                ..Default::default()
            }
        })
        .collect();
    hosts.push(no_match());
    hosts
}

/// One chain of the listener, and the clusters it sends to.
fn chain(m: &Matcher, clusters: &mut BTreeMap<String, Protocol>) -> (String, Chain) {
    let name = chain_name(m);
    let mut chain_match = FilterChainMatch {
        destination_port: (m.port != 0).then_some(UInt32Value { value: m.port }),
        prefix_ranges: prefix_ranges(m),
        ..Default::default()
    };
    let terminal = if m.protocol.is_l7() {
        chain_match.application_protocols = vec!["http/1.1".to_string(), "h2c".to_string()];
        chain_match.transport_protocol = "raw_buffer".to_string();
        let route_config =
            RouteConfiguration { name: name.clone(), virtual_hosts: virtual_hosts(m, clusters), ..Default::default() };
        Terminal::Http(Box::new(HttpConnectionManager {
            stat_prefix: sanitize(&name),
            http_filters: vec![http_filter(ROUTER, Router::default())],
            route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig(route_config)),
            internal_address_config: Some(listener::internal_address_config()),
            ..Default::default()
        }))
    } else {
        match m.protocol {
            Protocol::Tls => {
                chain_match.transport_protocol = "tls".to_string();
                if m.match_type.is_domain() {
                    chain_match.server_names = vec![m.value.clone()];
                }
            }
            // Kuma matches no transport protocol for mysql (the inspectors are off on its ports).
            Protocol::Mysql => {}
            _ => chain_match.transport_protocol = "raw_buffer".to_string(),
        }
        let cluster = cluster_name(&m.value, m.protocol, m.port);
        clusters.insert(cluster.clone(), m.protocol);
        Terminal::Tcp(TcpProxy {
            stat_prefix: sanitize(&cluster),
            cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster(cluster)),
            ..Default::default()
        })
    };
    (name.clone(), Chain { name, filter_chain_match: Some(chain_match), ..Chain::new(terminal) })
}

/// The chains of one listener family, keeping the first (in `appendMatch`
/// order) of chains Envoy would take for one another (same name or same
/// match); the matches of the others are dropped.
fn chains(
    matchers: &[Matcher],
    ipv6: bool,
    clusters: &mut BTreeMap<String, Protocol>,
    dropped: &mut Vec<Dropped>,
) -> Vec<Chain> {
    // (position in Kuma's order, matcher, chain name, chain, its clusters)
    type Built<'m> = (usize, &'m Matcher, String, Chain, BTreeMap<String, Protocol>);
    let mut built: Vec<Built> = matchers
        .iter()
        .enumerate()
        .filter(|(_, m)| m.match_type.on(ipv6))
        .map(|(order, m)| {
            let mut own = BTreeMap::new();
            let (name, c) = chain(m, &mut own);
            (order, m, name, c, own)
        })
        .collect();
    built.sort_by_key(|b| (b.1.repeated, b.1.first, b.0));
    let mut names = HashSet::new();
    let mut matches = HashSet::new();
    let mut kept = Vec::new();
    for (order, m, name, c, own) in built {
        let key = c.filter_chain_match.as_ref().map(Message::encode_to_vec).unwrap_or_default();
        if names.contains(&name) || matches.contains(&key) {
            dropped.push(Dropped {
                index: m.first,
                message: format!(
                    "its {} chain for {} on port {} ({name}) matches the same connections as an earlier \
                     match's chain; Envoy would refuse the listener, so it is left out on that port",
                    m.protocol.name(),
                    if m.value.is_empty() { "domains" } else { &m.value },
                    port_name(m.port)
                ),
            });
            continue;
        }
        names.insert(name);
        matches.insert(key);
        clusters.extend(own);
        kept.push((order, c));
    }
    kept.sort_by_key(|k| k.0);
    kept.into_iter().map(|k| k.1).collect()
}

/// The ports of mysql matches, in `appendMatch` order: the inspectors wait for
/// the client to speak, a mysql server speaks first.
fn mysql_ports(conf: &Conf) -> Vec<u32> {
    let mut ports = Vec::new();
    for m in conf.append_match.iter().flatten() {
        if m.protocol.known() == Some(ProtocolType::Mysql)
            && let Some(p) = m.port.and_then(|p| u32::try_from(p).ok())
            && !ports.contains(&p)
        {
            ports.push(p);
        }
    }
    ports
}

fn listener_filter<T: prost::Name + prost::Message>(name: &str, config: T, disabled_ports: &[u32]) -> ListenerFilter {
    use listener_filter_chain_match_predicate::{MatchSet, Rule};
    let port_rule = |p: &u32| ListenerFilterChainMatchPredicate {
        rule: Some(Rule::DestinationPortRange(Int32Range { start: *p as i32, end: *p as i32 + 1 })),
    };
    let filter_disabled = match disabled_ports {
        [] => None,
        [one] => Some(port_rule(one)),
        many => Some(ListenerFilterChainMatchPredicate {
            rule: Some(Rule::OrMatch(MatchSet { rules: many.iter().map(port_rule).collect() })),
        }),
    };
    ListenerFilter {
        name: name.to_string(),
        config_type: Some(listener_filter::ConfigType::TypedConfig(any(config))),
        filter_disabled,
    }
}

/// Kuma's listener filters of a passthrough listener with matches:
/// `original_dst`, then `tls_inspector` and `http_inspector` (both off on mysql
/// ports), each unless the listener has it already.
fn ensure_listener_filters(l: &mut ListenerParts, mysql: &[u32]) {
    let has = |l: &ListenerParts, name: &str| l.listener.listener_filters.iter().any(|f| f.name == name);
    if !has(l, ORIGINAL_DST) {
        l.listener.listener_filters.push(listener_filter(ORIGINAL_DST, OriginalDst::default(), &[]));
    }
    if !has(l, TLS_INSPECTOR) {
        l.listener.listener_filters.push(listener_filter(TLS_INSPECTOR, TlsInspector::default(), mysql));
    }
    if !has(l, HTTP_INSPECTOR) {
        l.listener.listener_filters.push(listener_filter(HTTP_INSPECTOR, HttpInspector::default(), mysql));
    }
}

/// An ORIGINAL_DST cluster (HTTP/2 to the upstream for http2 and grpc);
/// timeouts: the caller's, as for every passthrough cluster.
fn passthrough_cluster(name: &str, protocol: Protocol) -> ClusterParts {
    let cluster = Cluster {
        name: name.to_string(),
        alt_stat_name: sanitize(name),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(DiscoveryType::OriginalDst as i32)),
        lb_policy: LbPolicy::ClusterProvided as i32,
        ..Default::default()
    };
    let http_options = matches!(protocol, Protocol::Http2 | Protocol::Grpc).then(|| HttpProtocolOptions {
        upstream_protocol_options: Some(http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(
            http_protocol_options::ExplicitHttpConfig {
                protocol_config: Some(explicit_http_config::ProtocolConfig::Http2ProtocolOptions(
                    Http2ProtocolOptions::default(),
                )),
            },
        )),
        ..Default::default()
    });
    ClusterParts { cluster, http_options }
}

/// The proxy's MeshPassthrough conf, if a policy selects it.
pub fn conf(plan: &ProxyPlan) -> Option<(&Effective, Conf)> {
    let e = plan.policies.iter().find(|e| e.kind == Kind::MeshPassthrough.name() && e.condition == Condition::All)?;
    let conf = serde_json::from_value(e.conf.clone()).ok()?;
    Some((e, conf))
}

fn is_outbound_passthrough(name: &str) -> bool {
    name.starts_with(OUTBOUND_PASSTHROUGH)
}

/// Apply the proxy's MeshPassthrough conf to its passthrough listeners and
/// clusters (the generators' `outbound:passthrough:*` and `inbound:passthrough:*`).
pub fn apply(
    plan: &ProxyPlan,
    tp: &TransparentProxy,
    listeners: &mut [ListenerParts],
    clusters: &mut Vec<ClusterParts>,
) {
    if let Some((_, conf)) = conf(plan) {
        apply_conf(&conf, tp, listeners, clusters);
    }
}

/// [`apply`] with the conf given.
pub fn apply_conf(
    conf: &Conf,
    tp: &TransparentProxy,
    listeners: &mut [ListenerParts],
    clusters: &mut Vec<ClusterParts>,
) {
    let mesh = tp.passthrough;
    match conf.mode() {
        Some(PassthroughMode::None) if mesh => {
            clusters.retain(|c| !is_outbound_passthrough(&c.cluster.name));
        }
        Some(PassthroughMode::All) if !mesh => {
            // The clusters the mesh would have with passthrough on.
            let open = super::super::cluster::passthrough(&TransparentProxy { passthrough: true, ..tp.clone() });
            for c in clusters.iter_mut().filter(|c| is_outbound_passthrough(&c.cluster.name)) {
                if let Some(o) = open.iter().find(|o| o.cluster.name == c.cluster.name) {
                    *c = o.clone();
                }
            }
        }
        Some(PassthroughMode::Matched) => {
            clusters.retain(|c| !is_outbound_passthrough(&c.cluster.name));
            let matchers = matchers(conf);
            if matchers.is_empty() {
                return;
            }
            let mysql = mysql_ports(conf);
            let mut needed = BTreeMap::new();
            for l in listeners.iter_mut().filter(|l| is_outbound_passthrough(&l.listener.name)) {
                let ipv6 = l.listener.name.ends_with("ipv6");
                // A listener without a match of its family keeps its chain (as in Kuma).
                if !matchers.iter().any(|m| m.match_type.on(ipv6)) {
                    continue;
                }
                l.chains = chains(&matchers, ipv6, &mut needed, &mut Vec::new());
                ensure_listener_filters(l, &mysql);
            }
            clusters.extend(needed.into_iter().map(|(name, protocol)| passthrough_cluster(&name, protocol)));
        }
        _ => {}
    }
}

/// The matches of a conf meshc leaves out (they would make a filter chain an
/// earlier match makes), over both listener families.
pub fn dropped(conf: &Conf) -> Vec<Dropped> {
    let matchers = matchers(conf);
    let mut out = Vec::new();
    for ipv6 in [false, true] {
        chains(&matchers, ipv6, &mut BTreeMap::new(), &mut out);
    }
    out.sort_by(|a, b| a.index.cmp(&b.index).then_with(|| a.message.cmp(&b.message)));
    out.dedup();
    out
}

/// The findings of one planned proxy: a MeshPassthrough selecting a proxy
/// without transparent proxy (MESH5011: ignored, as Kuma warns), and matches
/// left out (MESH5012).
pub fn findings(plan: &ProxyPlan, set: &PolicySet) -> Vec<Finding> {
    let Some((e, conf)) = conf(plan) else { return Vec::new() };
    let resource_of = |origin: Option<usize>| {
        let name = &e.origins.get(origin?)?.policy;
        set.policies.iter().map(|p| p.resource).find(|r| &policy_name(&r.meta) == name)
    };
    let at = |origin: Option<usize>, path: &Path, code, message: String| match resource_of(origin) {
        Some(r) => r.meta.finding(code, path, Target::Value, message),
        None => Finding::new(code, message, Default::default()),
    };
    let default = Path::root().field("default");
    if plan.transparent_proxy.is_none() {
        let origin = e.origins.iter().rposition(|o| !o.implicit);
        return vec![at(
            origin,
            &default,
            codes::PASSTHROUGH_WITHOUT_TRANSPARENT_PROXY,
            format!(
                "selects proxy {}, which runs without transparent proxy: MeshPassthrough does not apply to it \
                 (as in Kuma); enable transparent proxying on its Dataplane or leave it out of the targetRef",
                plan.id
            ),
        )];
    }
    if conf.mode() != Some(PassthroughMode::Matched) {
        return Vec::new();
    }
    dropped(&conf)
        .into_iter()
        .map(|d| {
            let origin_of = |i: usize| e.fields.get(&format!("/appendMatch/{i}")).copied();
            let origin = origin_of(d.index);
            // The match's index in its own policy: the merged list concatenates the policies' lists.
            let own = (0..d.index).filter(|i| origin_of(*i) == origin).count();
            let message = format!("on proxy {}: {}; remove or change one of them", plan.id, d.message);
            at(origin, &default.field("appendMatch").index(own), codes::PASSTHROUGH_MATCH_DROPPED, message)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Domains differing only in case are one virtual host (Envoy refuses a
    /// route configuration that lists a domain twice).
    #[test]
    fn domains_are_case_insensitive() {
        let conf: Conf = serde_json::from_value(serde_json::json!({"appendMatch": [
            {"type": "Domain", "value": "api.example.com", "protocol": "http", "port": 80},
            {"type": "Domain", "value": "API.Example.com", "protocol": "http", "port": 80},
        ]}))
        .unwrap();
        let m = matchers(&conf);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].routes.iter().map(|r| r.value.as_str()).collect::<Vec<_>>(), ["api.example.com"]);
    }
    use envoy_types::pb::envoy::config::listener::v3::Listener;
    use serde_json::json;

    fn conf(v: serde_json::Value) -> Conf {
        serde_json::from_value(v).unwrap()
    }

    fn names(c: &Conf) -> Vec<String> {
        matchers(c).iter().map(chain_name).collect()
    }

    fn tp(passthrough: bool) -> TransparentProxy {
        TransparentProxy {
            redirect_port_outbound: 15001,
            redirect_port_inbound: 15006,
            ipv4: true,
            ipv6: true,
            passthrough,
            policies: Vec::new(),
        }
    }

    /// The generator's outbound passthrough listeners (one TCP chain each).
    fn listeners() -> Vec<ListenerParts> {
        ["ipv4", "ipv6"]
            .iter()
            .map(|f| {
                let name = format!("outbound:passthrough:{f}");
                let tcp = TcpProxy {
                    stat_prefix: sanitize(&name),
                    cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster(name.clone())),
                    ..Default::default()
                };
                ListenerParts::new(Listener { name, ..Default::default() }, vec![Chain::new(Terminal::Tcp(tcp))])
            })
            .collect()
    }

    fn cluster_names(cs: &[ClusterParts]) -> Vec<(String, i32)> {
        cs.iter()
            .map(|c| {
                let kind = match c.cluster.cluster_discovery_type {
                    Some(ClusterDiscoveryType::Type(t)) => t,
                    _ => -1,
                };
                (c.cluster.name.clone(), kind)
            })
            .collect()
    }

    #[test]
    fn chains_in_kuma_order() {
        let c = conf(json!({"appendMatch": [
            {"type": "CIDR", "value": "10.0.0.0/8", "port": 80},
            {"type": "CIDR", "value": "10.1.0.0/16", "port": 80},
            {"type": "IP", "value": "10.1.1.1", "port": 80},
            {"type": "IP", "value": "fd00::1", "port": 80},
            {"type": "CIDR", "value": "fd00::/8", "port": 80},
            {"type": "IP", "value": "10.1.1.1", "port": 9090},
            {"type": "Domain", "value": "*.example.com", "port": 443, "protocol": "tls"},
            {"type": "Domain", "value": "example.com", "port": 443, "protocol": "tls"},
            {"type": "Domain", "value": "a.b.example.com", "port": 443, "protocol": "tls"},
            {"type": "Domain", "value": "z.com", "port": 8080, "protocol": "grpc"},
            {"type": "Domain", "value": "y.com", "port": 8081, "protocol": "http"},
        ]}));
        assert_eq!(
            names(&c),
            [
                // tls first: domains with more labels first, then the wildcard.
                "meshpassthrough_tls_a.b.example.com_443",
                "meshpassthrough_tls_example.com_443",
                "meshpassthrough_tls_*.example.com_443",
                // tcp: IPv6 > IP (higher port first) > CIDRv6 > CIDR (longer prefix first).
                "meshpassthrough_tcp_fd00::1_80",
                "meshpassthrough_tcp_10.1.1.1_9090",
                "meshpassthrough_tcp_10.1.1.1_80",
                "meshpassthrough_tcp_fd00::/8_80",
                "meshpassthrough_tcp_10.1.0.0/16_80",
                "meshpassthrough_tcp_10.0.0.0/8_80",
                // then http, then grpc; one chain per protocol and port for domains.
                "meshpassthrough_http_8081",
                "meshpassthrough_grpc_8080",
            ]
        );
        assert_eq!(cluster_name("1.2.3.4", Protocol::Mysql, 0), "meshpassthrough_tcp_1.2.3.4_*");
    }

    #[test]
    fn domains_of_a_chain_in_kuma_order() {
        let c = conf(json!({"appendMatch": [
            {"type": "Domain", "value": "*.example.com", "port": 80, "protocol": "http"},
            {"type": "Domain", "value": "www.example.com", "port": 80, "protocol": "http"},
            {"type": "Domain", "value": "a.example.com", "port": 80, "protocol": "http"},
            {"type": "Domain", "value": "x.y.example.com", "port": 80, "protocol": "http"},
        ]}));
        let m = matchers(&c);
        let routes: Vec<&str> = m[0].routes.iter().map(|r| r.value.as_str()).collect();
        assert_eq!(routes, ["x.y.example.com", "a.example.com", "www.example.com", "*.example.com"]);
        let mut clusters = BTreeMap::new();
        let hosts = virtual_hosts(&m[0], &mut clusters);
        assert_eq!(hosts[0].domains, ["x.y.example.com", "x.y.example.com:80"]);
        assert_eq!(hosts.last().map(|h| h.name.as_str()), Some("no_match"));
        assert!(clusters.contains_key("meshpassthrough_http_*.example.com_80"));
    }

    #[test]
    fn port_less_matchers_are_repeated_on_every_port() {
        let c = conf(json!({"appendMatch": [
            {"type": "IP", "value": "1.1.1.1"},
            {"type": "IP", "value": "2.2.2.2", "port": 443},
            {"type": "Domain", "value": "api.example.com", "protocol": "http"},
            {"type": "Domain", "value": "www.example.com", "port": 80, "protocol": "http"},
        ]}));
        assert_eq!(
            names(&c),
            [
                "meshpassthrough_tcp_1.1.1.1_443",
                "meshpassthrough_tcp_2.2.2.2_443",
                "meshpassthrough_tcp_1.1.1.1_80",
                "meshpassthrough_tcp_1.1.1.1_*",
                "meshpassthrough_http_443",
                "meshpassthrough_http_80",
                "meshpassthrough_http_*",
            ]
        );
        let m = matchers(&c);
        let http80 = m.iter().find(|m| chain_name(m) == "meshpassthrough_http_80").unwrap();
        let routes: Vec<&str> = http80.routes.iter().map(|r| r.value.as_str()).collect();
        assert_eq!(routes, ["api.example.com", "www.example.com"]);
        assert!(!http80.repeated, "its own match makes it");
        let any = m.iter().find(|m| chain_name(m) == "meshpassthrough_http_*").unwrap();
        let hosts = virtual_hosts(any, &mut BTreeMap::new());
        assert_eq!(hosts[0].domains, ["api.example.com", "api.example.com:*"]);
    }

    #[test]
    fn same_chain_twice_keeps_the_first_and_reports_the_other() {
        // A port-less http domain repeated on the grpc port gives way to the grpc chain.
        let c = conf(json!({"appendMatch": [
            {"type": "Domain", "value": "api.example.com", "protocol": "http"},
            {"type": "Domain", "value": "grpc.example.com", "port": 9000, "protocol": "grpc"},
            {"type": "IP", "value": "1.1.1.1", "port": 3306, "protocol": "mysql"},
            {"type": "IP", "value": "1.1.1.1", "port": 3306, "protocol": "tcp"},
        ]}));
        let d = dropped(&c);
        assert_eq!(d.iter().map(|d| d.index).collect::<Vec<_>>(), [0, 3], "{d:?}");
        let mut ls = listeners();
        let mut cs = Vec::new();
        apply_conf(&c, &tp(true), &mut ls, &mut cs);
        let v4: Vec<&str> = ls[0].chains.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            v4,
            [
                "meshpassthrough_tcp_1.1.1.1_3306",
                "meshpassthrough_http_3306",
                "meshpassthrough_http_*",
                "meshpassthrough_grpc_9000"
            ]
        );
        assert!(dropped(&conf(json!({"appendMatch": [{"type": "IP", "value": "1.1.1.1"}]}))).is_empty());
    }

    #[test]
    fn modes_and_the_mesh_passthrough_flag() {
        let outbound = |cs: &[ClusterParts]| -> Vec<(String, i32)> {
            cluster_names(cs).into_iter().filter(|(n, _)| n.starts_with("outbound:")).collect()
        };
        let original_dst = DiscoveryType::OriginalDst as i32;
        let run = |mode: &str, mesh: bool, matches: serde_json::Value| {
            let c = conf(json!({"passthroughMode": mode, "appendMatch": matches}));
            let mut ls = listeners();
            let mut cs = super::super::super::cluster::passthrough(&tp(mesh));
            apply_conf(&c, &tp(mesh), &mut ls, &mut cs);
            (ls, cs)
        };
        // None with the mesh's passthrough on: the outbound passthrough clusters go.
        let (ls, cs) = run("None", true, json!([]));
        assert!(outbound(&cs).is_empty());
        assert_eq!(cluster_names(&cs).len(), 2, "the inbound ones stay");
        assert_eq!(ls[0].chains.len(), 1);
        // None with it off: nothing to do (the clusters lead nowhere already).
        let (_, cs) = run("None", false, json!([]));
        assert_eq!(outbound(&cs).len(), 2);
        assert!(outbound(&cs).iter().all(|(_, t)| *t == DiscoveryType::Static as i32));
        // All with it off: ORIGINAL_DST clusters, as with the mesh's passthrough on.
        let (ls, cs) = run("All", false, json!([{"type": "IP", "value": "1.1.1.1"}]));
        assert_eq!(
            outbound(&cs),
            [
                ("outbound:passthrough:ipv4".to_string(), original_dst),
                ("outbound:passthrough:ipv6".to_string(), original_dst)
            ]
        );
        assert_eq!(ls[0].chains[0].name, "", "All ignores appendMatch");
        // All with it on: no change.
        let (_, cs) = run("All", true, json!([]));
        assert_eq!(outbound(&cs).len(), 2);
        // Matched without matches: the clusters go, the listeners keep their chain.
        let (ls, cs) = run("Matched", true, json!([]));
        assert!(outbound(&cs).is_empty());
        assert_eq!(ls[0].chains[0].name, "");
        // Matched with an IPv4 match: the IPv4 listener's chains are replaced, the
        // IPv6 one (no match of its family) keeps its own.
        let (ls, cs) =
            run("Matched", false, json!([{"type": "IP", "value": "1.1.1.1", "port": 443, "protocol": "tls"}]));
        assert!(outbound(&cs).is_empty());
        assert_eq!(
            ls[0].chains.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(),
            ["meshpassthrough_tls_1.1.1.1_443"]
        );
        assert_eq!(ls[1].chains[0].name, "");
        assert!(ls[1].listener.listener_filters.is_empty());
        let filters: Vec<&str> = ls[0].listener.listener_filters.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(filters, [ORIGINAL_DST, TLS_INSPECTOR, HTTP_INSPECTOR]);
        assert_eq!(cluster_names(&cs).iter().filter(|(n, _)| n.starts_with("meshpassthrough_")).count(), 1);
    }

    #[test]
    fn mysql_ports_disable_the_inspectors() {
        let c = conf(json!({"appendMatch": [
            {"type": "IP", "value": "172.12.2.2", "port": 3306, "protocol": "mysql"},
        ]}));
        let mut ls = listeners();
        apply_conf(&c, &tp(true), &mut ls, &mut Vec::new());
        let f = &ls[0].listener.listener_filters;
        assert!(f[0].filter_disabled.is_none());
        let one = Some(ListenerFilterChainMatchPredicate {
            rule: Some(listener_filter_chain_match_predicate::Rule::DestinationPortRange(Int32Range {
                start: 3306,
                end: 3307,
            })),
        });
        assert_eq!(f[1].filter_disabled, one);
        assert_eq!(f[2].filter_disabled, one);
        let m = ls[0].chains[0].filter_chain_match.clone().unwrap();
        assert_eq!(m.transport_protocol, "", "Kuma matches no transport protocol for mysql");
    }

    /// Kuma's plugin golden `testdata/http-domains.listener.golden.yaml` and
    /// `http-domains.clusters.golden.yaml` (input: www.example.com:80 and
    /// www.anotherexample.com:8080, http), field by field. Differences: Kuma's
    /// golden names the listener with its unified naming
    /// (`self_transparentproxy_passthrough_outbound_ipv4`; meshc uses the legacy
    /// `outbound:passthrough:ipv4`), its HCM's internal addresses are the test
    /// proxy's (127.0.0.1/32; meshc's are Kuma's default list), and the clusters
    /// golden in the stored version carries one more cluster from an older input.
    #[test]
    fn reproduces_kuma_http_domains_golden() {
        let c = conf(json!({"appendMatch": [
            {"type": "Domain", "value": "www.example.com", "port": 80, "protocol": "http"},
            {"type": "Domain", "value": "www.anotherexample.com", "port": 8080, "protocol": "http"},
        ]}));
        let mut ls = listeners();
        let mut cs = super::super::super::cluster::passthrough(&tp(true));
        apply_conf(&c, &tp(true), &mut ls, &mut cs);
        for l in &mut ls {
            let expected = [
                ("meshpassthrough_http_8080", 8080, "www.anotherexample.com"),
                ("meshpassthrough_http_80", 80, "www.example.com"),
            ];
            assert_eq!(l.chains.len(), 2);
            for (chain, (name, port, domain)) in l.chains.iter_mut().zip(expected) {
                assert_eq!(chain.name, name);
                let m = chain.filter_chain_match.as_ref().unwrap();
                assert_eq!(m.application_protocols, ["http/1.1", "h2c"]);
                assert_eq!(m.destination_port, Some(UInt32Value { value: port }));
                assert_eq!(m.transport_protocol, "raw_buffer");
                assert!(m.prefix_ranges.is_empty() && m.server_names.is_empty());
                let Terminal::Http(hcm) = &chain.terminal else { panic!("{name}: not an HCM") };
                assert_eq!(hcm.stat_prefix, name);
                assert_eq!(hcm.http_filters.iter().map(|f| f.name.as_str()).collect::<Vec<_>>(), [ROUTER]);
                let Some(http_connection_manager::RouteSpecifier::RouteConfig(rc)) = &hcm.route_specifier else {
                    panic!("{name}: no inline routes")
                };
                assert_eq!(rc.name, name);
                assert_eq!(rc.virtual_hosts.len(), 2);
                let vh = &rc.virtual_hosts[0];
                assert_eq!(vh.name, domain);
                assert_eq!(vh.domains, [domain.to_string(), format!("{domain}:{port}")]);
                let Some(route::Action::Route(a)) = &vh.routes[0].action else { panic!() };
                let cluster = format!("meshpassthrough_http_{domain}_{port}");
                assert_eq!(
                    a.cluster_specifier,
                    Some(envoy_types::pb::envoy::config::route::v3::route_action::ClusterSpecifier::Cluster(cluster))
                );
                let nm = &rc.virtual_hosts[1];
                assert_eq!((nm.name.as_str(), nm.domains.as_slice()), ("no_match", ["*".to_string()].as_slice()));
                let Some(route::Action::DirectResponse(d)) = &nm.routes[0].action else { panic!() };
                assert_eq!(d.status, 503);
                let body = d.body.as_ref().and_then(|b| b.specifier.clone());
                assert_eq!(
                    body,
                    Some(data_source::Specifier::InlineString(
                        "This response comes from Kuma Sidecar. No routes matched this domain - check \
                         configuration of your MeshPassthrough policy.\n"
                            .to_string()
                    ))
                );
            }
            let filters: Vec<&str> = l.listener.listener_filters.iter().map(|f| f.name.as_str()).collect();
            assert_eq!(
                filters,
                [
                    "envoy.filters.listener.original_dst",
                    "envoy.filters.listener.tls_inspector",
                    "envoy.filters.listener.http_inspector"
                ]
            );
        }
        let ours: Vec<&ClusterParts> = cs.iter().filter(|c| c.cluster.name.starts_with("meshpassthrough_")).collect();
        let expected = [
            ("meshpassthrough_http_www.anotherexample.com_8080", "meshpassthrough_http_www_anotherexample_com_8080"),
            ("meshpassthrough_http_www.example.com_80", "meshpassthrough_http_www_example_com_80"),
        ];
        assert_eq!(ours.len(), 2);
        for (c, (name, stat)) in ours.iter().zip(expected) {
            assert_eq!((c.cluster.name.as_str(), c.cluster.alt_stat_name.as_str()), (name, stat));
            assert_eq!(
                c.cluster.cluster_discovery_type,
                Some(ClusterDiscoveryType::Type(DiscoveryType::OriginalDst as i32))
            );
            assert_eq!(c.cluster.lb_policy, LbPolicy::ClusterProvided as i32);
            assert!(c.http_options.is_none(), "HTTP/1.1 upstream for http");
        }
        assert!(cs.iter().all(|c| !c.cluster.name.starts_with("outbound:")), "Matched removes the default clusters");
    }
}
