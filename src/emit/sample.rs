//! Small, valid Envoy bootstraps for tests of this stage (unit and integration):
//! built from envoy-types messages exactly as the envoy stage would.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::bootstrap::v3::{Admin, Bootstrap, bootstrap::StaticResources};
use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    Address, Node, SocketAddress, TransportSocket, address, socket_address, transport_socket,
};
use envoy_types::pb::envoy::config::endpoint::v3::{
    ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints, lb_endpoint,
};
use envoy_types::pb::envoy::config::listener::v3::{
    Filter, FilterChain, Listener, ListenerFilter, filter, listener_filter,
};
use envoy_types::pb::envoy::config::rbac::v3::{Permission, Policy, Principal, Rbac, permission, principal, rbac};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route, route_action, route_match,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, http_connection_manager, http_filter,
};
use envoy_types::pb::envoy::extensions::filters::network::rbac::v3::Rbac as NetworkRbac;
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use envoy_types::pb::envoy::extensions::filters::udp::dns_filter::v3::DnsFilterConfig;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext;
use envoy_types::pb::google::protobuf::Duration;
use envoy_types::util::pack_any;

/// A bootstrap Envoy runs as is: admin on 127.0.0.1, one HTTP listener (HCM +
/// router) routing everything to one STATIC cluster.
pub fn http_bootstrap(node_id: &str) -> Bootstrap {
    Bootstrap {
        node: Some(Node { id: node_id.into(), cluster: "backend".into(), ..Default::default() }),
        admin: Some(Admin { address: Some(socket(9901, false)), ..Default::default() }),
        static_resources: Some(StaticResources {
            listeners: vec![http_listener("inbound:127.0.0.1:10000", 10000)],
            clusters: vec![static_cluster("backend", 8080)],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Every kind of `Any`-packed config the envoy stage emits, plus an RBAC policy
/// map of several entries (a `HashMap`: random iteration order).
pub fn every_filter_bootstrap() -> Bootstrap {
    let mut bootstrap = http_bootstrap("every-filter");
    let resources = bootstrap.static_resources.get_or_insert_with(Default::default);
    resources.listeners.push(tcp_listener());
    resources.listeners.push(dns_listener());
    bootstrap
}

pub fn socket(port: u32, udp: bool) -> Address {
    let protocol = if udp { socket_address::Protocol::Udp } else { socket_address::Protocol::Tcp };
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: "127.0.0.1".into(),
            protocol: protocol as i32,
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

pub fn static_cluster(name: &str, port: u32) -> Cluster {
    let endpoint = LbEndpoint {
        host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
            address: Some(socket(port, false)),
            ..Default::default()
        })),
        ..Default::default()
    };
    Cluster {
        name: name.into(),
        connect_timeout: Some(Duration { seconds: 5, nanos: 0 }),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(cluster::DiscoveryType::Static as i32)),
        load_assignment: Some(ClusterLoadAssignment {
            cluster_name: name.into(),
            endpoints: vec![LocalityLbEndpoints { lb_endpoints: vec![endpoint], ..Default::default() }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn http_listener(name: &str, port: u32) -> Listener {
    let route = Route {
        r#match: Some(RouteMatch {
            path_specifier: Some(route_match::PathSpecifier::Prefix("/".into())),
            ..Default::default()
        }),
        action: Some(route::Action::Route(RouteAction {
            cluster_specifier: Some(route_action::ClusterSpecifier::Cluster("backend".into())),
            ..Default::default()
        })),
        ..Default::default()
    };
    let hcm = HttpConnectionManager {
        stat_prefix: "backend".into(),
        route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig(RouteConfiguration {
            name: "backend".into(),
            virtual_hosts: vec![VirtualHost {
                name: "backend".into(),
                domains: vec!["*".into()],
                routes: vec![route],
                ..Default::default()
            }],
            ..Default::default()
        })),
        http_filters: vec![HttpFilter {
            name: "envoy.filters.http.router".into(),
            config_type: Some(http_filter::ConfigType::TypedConfig(pack_any(Router::default()))),
            ..Default::default()
        }],
        ..Default::default()
    };
    Listener {
        name: name.into(),
        address: Some(socket(port, false)),
        filter_chains: vec![FilterChain {
            filters: vec![network_filter("envoy.filters.network.http_connection_manager", pack_any(hcm))],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn network_filter(name: &str, config: envoy_types::pb::google::protobuf::Any) -> Filter {
    Filter { name: name.into(), config_type: Some(filter::ConfigType::TypedConfig(config)) }
}

fn tcp_listener() -> Listener {
    let policies: HashMap<String, Policy> = ["a", "b", "c", "d", "e", "f", "g", "h"]
        .into_iter()
        .map(|name| (format!("MeshTrafficPermission/{name}"), allow_all()))
        .collect();
    let rbac = NetworkRbac {
        stat_prefix: "tcp.".into(),
        rules: Some(Rbac { action: rbac::Action::Allow as i32, policies, ..Default::default() }),
        ..Default::default()
    };
    let tcp = TcpProxy {
        stat_prefix: "backend".into(),
        cluster_specifier: Some(tcp_proxy::ClusterSpecifier::Cluster("backend".into())),
        ..Default::default()
    };
    let tls = TransportSocket {
        name: "envoy.transport_sockets.tls".into(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(pack_any(DownstreamTlsContext::default()))),
    };
    Listener {
        name: "inbound:127.0.0.1:10001".into(),
        address: Some(socket(10001, false)),
        filter_chains: vec![FilterChain {
            filters: vec![
                network_filter("envoy.filters.network.rbac", pack_any(rbac)),
                network_filter("envoy.filters.network.tcp_proxy", pack_any(tcp)),
            ],
            transport_socket: Some(tls),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn allow_all() -> Policy {
    Policy {
        permissions: vec![Permission { rule: Some(permission::Rule::Any(true)) }],
        principals: vec![Principal { identifier: Some(principal::Identifier::Any(true)) }],
        ..Default::default()
    }
}

fn dns_listener() -> Listener {
    let dns = DnsFilterConfig { stat_prefix: "dns".into(), ..Default::default() };
    Listener {
        name: "dns:127.0.0.1:15053".into(),
        address: Some(socket(15053, true)),
        listener_filters: vec![ListenerFilter {
            name: "envoy.filters.udp.dns_filter".into(),
            config_type: Some(listener_filter::ConfigType::TypedConfig(pack_any(dns))),
            ..Default::default()
        }],
        ..Default::default()
    }
}
