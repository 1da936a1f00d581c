//! Clusters: the local application behind each inbound, every outbound
//! destination with its endpoints inline, and the passthrough clusters of a
//! transparent proxy.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::cluster::v3::{
    CircuitBreakers, Cluster, circuit_breakers::Thresholds, cluster::ClusterDiscoveryType, cluster::DiscoveryType,
    cluster::DnsLookupFamily, cluster::LbPolicy, cluster::TransportSocketMatch,
};
use envoy_types::pb::envoy::config::core::v3::{
    Address, BindConfig, Http1ProtocolOptions, Http2ProtocolOptions, HttpProtocolOptions as CommonHttpOptions,
    Locality, Pipe, SocketAddress, address, socket_address,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{
    HttpProtocolOptions, http_protocol_options, http_protocol_options::explicit_http_config,
};
use envoy_types::pb::google::protobuf::UInt32Value;

use super::parts::ClusterParts;
use super::proto::{metadata, sanitize, socket};
use super::tls;
use crate::plan::{
    ClusterPlan, ClusterTls, INBOUND_PASSTHROUGH_SOURCE_V4, INBOUND_PASSTHROUGH_SOURCE_V6, InboundPlan, ProxyPlan,
    TransparentProxy,
};
use crate::world::{self, Protocol};

/// A cluster with Kuma's circuit breaker thresholds (timeouts: MeshTimeout's configurer).
fn base(name: &str, kind: DiscoveryType) -> Cluster {
    Cluster {
        name: name.to_string(),
        alt_stat_name: sanitize(name),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(kind as i32)),
        circuit_breakers: Some(CircuitBreakers {
            thresholds: vec![Thresholds { track_remaining: true, ..Default::default() }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Explicit HTTP/1.1 (for `http`) or HTTP/2 (otherwise) to the upstream, with
/// common options (connection timeouts, set by MeshTimeout's configurer) for
/// HTTP protocols.
fn http_options(protocol: Protocol) -> HttpProtocolOptions {
    let config = if protocol == Protocol::Http {
        explicit_http_config::ProtocolConfig::HttpProtocolOptions(Http1ProtocolOptions::default())
    } else {
        explicit_http_config::ProtocolConfig::Http2ProtocolOptions(Http2ProtocolOptions::default())
    };
    HttpProtocolOptions {
        common_http_protocol_options: protocol.is_http().then(CommonHttpOptions::default),
        upstream_protocol_options: Some(http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(
            http_protocol_options::ExplicitHttpConfig { protocol_config: Some(config) },
        )),
        ..Default::default()
    }
}

/// A MeshExternalService endpoint `unix:///path` is an Envoy pipe address.
fn unix_path(address: &str) -> Option<&str> {
    address.strip_prefix("unix://")
}

fn lb_endpoint(address: &str, port: u32, weight: u32, tags: &crate::model::common::StringMap) -> LbEndpoint {
    let address = match unix_path(address) {
        Some(path) => {
            Address { address: Some(address::Address::Pipe(Pipe { path: path.to_string(), ..Default::default() })) }
        }
        None => socket(address, port),
    };
    LbEndpoint {
        host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
            address: Some(address),
            ..Default::default()
        })),
        load_balancing_weight: (weight > 0).then_some(UInt32Value { value: weight }),
        metadata: (!tags.is_empty()).then(|| metadata("envoy.lb", tags)),
        ..Default::default()
    }
}

/// Endpoints grouped by (priority, zone), in that order. `priority_sub_zones`:
/// Kuma's locality of MeshExternalService endpoints, sub-zone `priority-<n>`.
fn load_assignment(name: &str, endpoints: &[world::Endpoint], priority_sub_zones: bool) -> ClusterLoadAssignment {
    let mut groups: BTreeMap<(u32, Option<&str>), Vec<LbEndpoint>> = BTreeMap::new();
    for e in endpoints {
        groups
            .entry((e.priority, e.zone.as_deref()))
            .or_default()
            .push(lb_endpoint(&e.address, e.port, e.weight, &e.tags));
    }
    ClusterLoadAssignment {
        cluster_name: name.to_string(),
        endpoints: groups
            .into_iter()
            .map(|((priority, zone), lb_endpoints)| LocalityLbEndpoints {
                locality: if priority_sub_zones {
                    Some(Locality {
                        zone: zone.unwrap_or_default().to_string(),
                        sub_zone: format!("priority-{priority}"),
                        ..Default::default()
                    })
                } else {
                    zone.map(|z| Locality { zone: z.to_string(), ..Default::default() })
                },
                lb_endpoints,
                priority,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// The local application behind an inbound (`localhost:<port>`).
pub fn inbound(plan: &ProxyPlan, i: &InboundPlan) -> ClusterParts {
    let mut c = base(&i.cluster, DiscoveryType::Static);
    c.load_assignment = Some(ClusterLoadAssignment {
        cluster_name: i.cluster.clone(),
        endpoints: vec![LocalityLbEndpoints {
            lb_endpoints: vec![lb_endpoint(&i.workload_address, i.workload_port, 0, &Default::default())],
            ..Default::default()
        }],
        ..Default::default()
    });
    if plan.transparent_proxy.is_some() {
        let source = if i.workload_address.contains(':') {
            INBOUND_PASSTHROUGH_SOURCE_V6
        } else {
            INBOUND_PASSTHROUGH_SOURCE_V4
        };
        c.upstream_bind_config = Some(bind(source));
    }
    // The application speaks its own protocol: HTTP/1.1 for http, HTTP/2 for http2 and grpc.
    ClusterParts { cluster: c, http_options: i.protocol.is_http().then(|| http_options(i.protocol)) }
}

fn bind(source: &str) -> BindConfig {
    BindConfig {
        source_address: Some(SocketAddress {
            address: source.to_string(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(0)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// An outbound destination.
pub fn outbound(plan: &ProxyPlan, c: &ClusterPlan) -> ClusterParts {
    let external = c.destination.kind == world::ServiceKind::MeshExternalService;
    // Kuma's ProvidedEndpointCluster: STRICT_DNS as soon as one endpoint is a
    // hostname (IPs and unix sockets are static), IPv4 lookups unless the proxy is IPv6.
    let dns = c.endpoints.iter().any(|e| !e.is_ip() && unix_path(&e.address).is_none());
    let mut cluster = base(&c.name, if dns { DiscoveryType::StrictDns } else { DiscoveryType::Static });
    if dns && external {
        let ipv6 = plan.inbounds.first().is_some_and(|i| i.address.contains(':'));
        cluster.dns_lookup_family = if ipv6 { DnsLookupFamily::Auto } else { DnsLookupFamily::V4Only } as i32;
    }
    cluster.load_assignment = Some(load_assignment(&c.name, &c.endpoints, external));
    // Between sidecars (and to HTTP/2 external services) the upstream is HTTP/2,
    // whatever the application protocol; an `http` external service gets HTTP/1.1.
    let http_options = if c.http2 {
        let protocol = if c.protocol == Protocol::Http { Protocol::Http2 } else { c.protocol };
        Some(http_options(protocol))
    } else {
        (c.protocol == Protocol::Http).then(|| http_options(Protocol::Http))
    };
    match (&c.tls, &plan.mtls) {
        (ClusterTls::Mesh { sni, sans }, Some(mtls)) => {
            cluster.transport_socket = Some(tls::mesh_upstream(mtls, sni, sans))
        }
        // Kuma's MeshExternalService TLS: one transport socket match, named after the
        // first endpoint (the cluster when there is none: Envoy needs a name), that
        // matches every endpoint.
        (ClusterTls::External(t), _) => {
            cluster.transport_socket_matches = vec![TransportSocketMatch {
                name: c.endpoints.first().map_or_else(|| c.name.clone(), |e| e.address.clone()),
                transport_socket: Some(tls::external_upstream(t)),
                ..Default::default()
            }]
        }
        _ => {}
    }
    ClusterParts { cluster, http_options }
}

/// `outbound:passthrough:*` (to wherever the application connected) and
/// `inbound:passthrough:*` (to the application, from 127.0.0.6 / ::6).
pub fn passthrough(tp: &TransparentProxy) -> Vec<ClusterParts> {
    let mut out = Vec::new();
    for (enabled, family, source) in
        [(tp.ipv4, "ipv4", INBOUND_PASSTHROUGH_SOURCE_V4), (tp.ipv6, "ipv6", INBOUND_PASSTHROUGH_SOURCE_V6)]
    {
        if !enabled {
            continue;
        }
        let mut outbound = base(&format!("outbound:passthrough:{family}"), DiscoveryType::OriginalDst);
        outbound.lb_policy = LbPolicy::ClusterProvided as i32;
        if !tp.passthrough {
            // Mesh passthrough off: unknown destinations go nowhere.
            outbound = base(&format!("outbound:passthrough:{family}"), DiscoveryType::Static);
        }
        out.push(ClusterParts::new(outbound));
        let mut inbound = base(&format!("inbound:passthrough:{family}"), DiscoveryType::OriginalDst);
        inbound.lb_policy = LbPolicy::ClusterProvided as i32;
        inbound.upstream_bind_config = Some(bind(source));
        out.push(ClusterParts::new(inbound));
    }
    out
}
