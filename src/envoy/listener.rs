//! Listeners: one per inbound (to the local application), one per outbound
//! (to a service), and the passthrough listeners of a transparent proxy.

use envoy_types::pb::envoy::config::core::v3::{CidrRange, HttpProtocolOptions, TrafficDirection};
use envoy_types::pb::envoy::config::listener::v3::{FilterChainMatch, Listener, ListenerFilter, listener_filter};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route, route_action, route_match,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::google::protobuf::{BoolValue, Duration, UInt32Value};

use super::defaults::{INBOUND_STREAM_IDLE_TIMEOUT_SECS, INTERNAL_CIDRS};
use super::parts::{Chain, ListenerParts, ROUTER, Terminal, http_filter};
use super::policies::inbound_mode;
use super::proto::{any, metadata, sanitize, secs, socket};
use super::tls::{self, KUMA_ALPN};
use crate::plan::{InboundPlan, OutboundPlan, ProxyPlan, TlsMode, TransparentProxy};

const TLS_INSPECTOR: &str = "envoy.filters.listener.tls_inspector";
const TAGS_METADATA: &str = "io.kuma.tags";

/// A route sending everything to `cluster` (timeouts: MeshTimeout's configurer).
pub(super) fn route_to(cluster: &str, name: Option<String>) -> Route {
    Route {
        name: name.unwrap_or_default(),
        r#match: Some(RouteMatch {
            path_specifier: Some(route_match::PathSpecifier::Prefix("/".to_string())),
            ..Default::default()
        }),
        action: Some(route::Action::Route(RouteAction {
            cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(cluster.to_string())),
            ..Default::default()
        })),
        ..Default::default()
    }
}

pub(super) fn hcm(stat_prefix: &str, route_config: RouteConfiguration) -> Terminal {
    Terminal::Http(Box::new(HttpConnectionManager {
        stat_prefix: stat_prefix.to_string(),
        http_filters: vec![http_filter(ROUTER, Router::default())],
        route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig(route_config)),
        common_http_protocol_options: Some(HttpProtocolOptions {
            idle_timeout: Some(Duration::default()),
            ..Default::default()
        }),
        internal_address_config: Some(internal_address_config()),
        ..Default::default()
    }))
}

/// Kuma's known internal CIDRs (`ipam.knownInternalCIDRs`): which clients an
/// HTTP connection manager treats as internal.
pub fn internal_address_config() -> http_connection_manager::InternalAddressConfig {
    http_connection_manager::InternalAddressConfig {
        cidr_ranges: INTERNAL_CIDRS
            .iter()
            .map(|(prefix, len)| CidrRange {
                address_prefix: prefix.to_string(),
                prefix_len: Some(UInt32Value { value: *len }),
            })
            .collect(),
        ..Default::default()
    }
}

/// A TCP proxy to `cluster` (idle timeout: MeshTimeout's configurer).
pub(super) fn tcp(stat_prefix: &str, cluster: &str) -> Terminal {
    Terminal::Tcp(TcpProxy {
        stat_prefix: stat_prefix.to_string(),
        cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster(cluster.to_string())),
        ..Default::default()
    })
}

/// The chain that takes inbound traffic to the application; `mtls`: its
/// clients present a mesh certificate. With mesh mTLS on, every HTTP chain
/// (plaintext ones of PERMISSIVE too, as in Kuma) replaces the client
/// certificate header with the verified peer's URI, so an application never
/// trusts one a plaintext client wrote.
fn inbound_chain(plan: &ProxyPlan, i: &InboundPlan, mtls: bool) -> Chain {
    if !i.protocol.is_http() {
        return Chain { mesh_tls: mtls, ..Chain::new(tcp(&format!("localhost_{}", i.workload_port), &i.cluster)) };
    }
    let route_config = RouteConfiguration {
        name: format!("inbound:{}", i.service),
        virtual_hosts: vec![VirtualHost {
            name: i.service.clone(),
            domains: vec!["*".to_string()],
            routes: vec![route_to(&i.cluster, None)],
            ..Default::default()
        }],
        request_headers_to_remove: vec!["x-kuma-tags".to_string()],
        validate_clusters: Some(BoolValue { value: false }),
        ..Default::default()
    };
    let mut terminal = hcm(&format!("localhost_{}", i.workload_port), route_config);
    if let Terminal::Http(m) = &mut terminal {
        m.stream_idle_timeout = Some(secs(INBOUND_STREAM_IDLE_TIMEOUT_SECS));
        if plan.mtls.is_some() {
            m.forward_client_cert_details = http_connection_manager::ForwardClientCertDetails::SanitizeSet as i32;
            m.set_current_client_cert_details =
                Some(http_connection_manager::SetCurrentClientCertDetails { uri: true, ..Default::default() });
        }
    }
    Chain { mesh_tls: mtls, ..Chain::new(terminal) }
}

pub(super) fn tls_inspector() -> ListenerFilter {
    ListenerFilter {
        name: TLS_INSPECTOR.to_string(),
        config_type: Some(listener_filter::ConfigType::TypedConfig(any(TlsInspector::default()))),
        ..Default::default()
    }
}

/// An inbound listener. With mesh mTLS: STRICT is one chain requiring a mesh
/// client certificate; PERMISSIVE is Kuma's three chains in Kuma's order
/// (plaintext, the application's own TLS passed through, Kuma mTLS). The mode
/// is the inbound's MeshTLS mode, else the mesh backend's.
pub fn inbound(plan: &ProxyPlan, i: &InboundPlan) -> ListenerParts {
    let l = Listener {
        name: i.name.clone(),
        address: Some(socket(&i.address, i.port)),
        traffic_direction: TrafficDirection::Inbound as i32,
        metadata: (!i.tags.is_empty()).then(|| metadata(TAGS_METADATA, &i.tags)),
        bind_to_port: plan.transparent_proxy.is_some().then_some(BoolValue { value: false }),
        enable_reuse_port: Some(BoolValue { value: true }),
        ..Default::default()
    };
    match &plan.mtls {
        None => ListenerParts::new(l, vec![inbound_chain(plan, i, false)]),
        Some(mtls) if inbound_mode(i, mtls.mode) == TlsMode::Strict => ListenerParts::new(
            l,
            vec![Chain { transport_socket: Some(tls::mesh_downstream(mtls)), ..inbound_chain(plan, i, true) }],
        ),
        Some(mtls) => {
            let chain_match = |transport: &str, alpn: &[&str]| {
                Some(FilterChainMatch {
                    transport_protocol: transport.to_string(),
                    application_protocols: alpn.iter().map(|s| s.to_string()).collect(),
                    ..Default::default()
                })
            };
            let chains = vec![
                Chain { filter_chain_match: chain_match("raw_buffer", &[]), ..inbound_chain(plan, i, false) },
                Chain {
                    filter_chain_match: chain_match("tls", &[]),
                    ..Chain::new(tcp(&format!("localhost_{}", i.workload_port), &i.cluster))
                },
                Chain {
                    filter_chain_match: chain_match("tls", &[KUMA_ALPN]),
                    transport_socket: Some(tls::mesh_downstream(mtls)),
                    ..inbound_chain(plan, i, true)
                },
            ];
            ListenerParts::new(Listener { listener_filters: vec![tls_inspector()], ..l }, chains)
        }
    }
}

/// An outbound listener: HTTP connection manager for HTTP protocols, TCP proxy otherwise.
pub fn outbound(o: &OutboundPlan) -> ListenerParts {
    let stat_prefix = sanitize(&o.cluster);
    let terminal = if o.protocol.is_http() {
        let route_config = RouteConfiguration {
            name: o.destination.kri.clone().unwrap_or_else(|| format!("outbound:{}", o.destination.name)),
            virtual_hosts: vec![VirtualHost {
                name: o.cluster.clone(),
                domains: vec!["*".to_string()],
                routes: vec![route_to(&o.cluster, None)],
                ..Default::default()
            }],
            validate_clusters: Some(BoolValue { value: false }),
            ..Default::default()
        };
        let mut terminal = hcm(&stat_prefix, route_config);
        if let Terminal::Http(m) = &mut terminal {
            m.normalize_path = Some(BoolValue { value: true });
        }
        terminal
    } else {
        tcp(&stat_prefix, &o.cluster)
    };
    let l = Listener {
        name: o.name.clone(),
        address: Some(socket(&o.address.to_string(), o.port)),
        traffic_direction: TrafficDirection::Outbound as i32,
        metadata: Some(metadata(TAGS_METADATA, &o.tags)),
        bind_to_port: (!o.bind).then_some(BoolValue { value: false }),
        ..Default::default()
    };
    ListenerParts::new(l, vec![Chain::new(terminal)])
}

/// The listeners iptables redirects to: `outbound:passthrough:*` (15001) and
/// `inbound:passthrough:*` (15006), which hand connections to the virtual
/// listeners by original destination, else pass them through.
///
/// The inbound one only passes the proxy's declared inbound ports (one chain
/// each, matched by destination port, as Kuma does): a connection to any other
/// port of the application finds no chain and is closed, so nothing reaches the
/// application around its inbound listeners. Unless an inbound is PERMISSIVE
/// (mesh mode or MeshTLS): then, as in Kuma, one chain passes every port.
pub fn passthrough(plan: &ProxyPlan, tp: &TransparentProxy) -> Vec<ListenerParts> {
    let mut inbound_ports: Vec<u32> = plan.inbounds.iter().map(|i| i.port).collect();
    inbound_ports.sort_unstable();
    inbound_ports.dedup();
    let permissive = plan
        .mtls
        .as_ref()
        .is_some_and(|m| plan.inbounds.iter().any(|i| inbound_mode(i, m.mode) == TlsMode::Permissive));
    let mut out = Vec::new();
    for (enabled, family, any_address) in [(tp.ipv4, "ipv4", "0.0.0.0"), (tp.ipv6, "ipv6", "::")] {
        if !enabled {
            continue;
        }
        let outbound = format!("outbound:passthrough:{family}");
        let listener = Listener {
            name: outbound.clone(),
            address: Some(socket(any_address, tp.redirect_port_outbound)),
            traffic_direction: TrafficDirection::Outbound as i32,
            use_original_dst: Some(BoolValue { value: true }),
            ..Default::default()
        };
        out.push(ListenerParts::new(listener, vec![Chain::new(tcp(&sanitize(&outbound), &outbound))]));
        if inbound_ports.is_empty() {
            continue;
        }
        let inbound = format!("inbound:passthrough:{family}");
        let listener = Listener {
            name: inbound.clone(),
            address: Some(socket(any_address, tp.redirect_port_inbound)),
            traffic_direction: TrafficDirection::Inbound as i32,
            use_original_dst: Some(BoolValue { value: true }),
            enable_reuse_port: Some(BoolValue { value: true }),
            ..Default::default()
        };
        let chain = || Chain::new(tcp(&sanitize(&inbound), &inbound));
        let chains = if permissive {
            vec![chain()]
        } else {
            inbound_ports
                .iter()
                .map(|port| Chain {
                    filter_chain_match: Some(FilterChainMatch {
                        destination_port: Some(UInt32Value { value: *port }),
                        ..Default::default()
                    }),
                    ..chain()
                })
                .collect()
        };
        out.push(ListenerParts::new(listener, chains));
    }
    out
}
