//! Listeners and clusters while policies still shape them: the HTTP connection
//! manager, the TCP proxy and a cluster's upstream HTTP options are kept typed
//! (not yet packed into `Any`), so that each policy's configurer can edit the
//! fields it owns; [`ListenerParts::encode`] and [`ClusterParts::encode`] pack
//! them once, at the end.

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::TransportSocket;
use envoy_types::pb::envoy::config::listener::v3::{Filter, FilterChain, FilterChainMatch, Listener};
use envoy_types::pb::envoy::config::route::v3::{Route, RouteAction, route};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, HttpFilter, http_connection_manager,
};
use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::HttpProtocolOptions;

use super::proto::{any, network_filter};

pub const HCM: &str = "envoy.filters.network.http_connection_manager";
pub const TCP_PROXY: &str = "envoy.filters.network.tcp_proxy";
pub const ROUTER: &str = "envoy.filters.http.router";
const HTTP_OPTIONS_KEY: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// A listener and its filter chains, typed.
#[derive(Debug, Clone)]
pub struct ListenerParts {
    /// Everything but `filter_chains`.
    pub listener: Listener,
    pub chains: Vec<Chain>,
}

/// One filter chain: network filters in order, then the terminal filter.
#[derive(Debug, Clone)]
pub struct Chain {
    /// The chain's name (empty: none), as Kuma names the chains it adds.
    pub name: String,
    pub filter_chain_match: Option<FilterChainMatch>,
    pub transport_socket: Option<TransportSocket>,
    /// Clients on this chain present a certificate of the mesh (Kuma mTLS):
    /// their identity is known.
    pub mesh_tls: bool,
    /// Network filters before the terminal one (RBAC, rate limits), in order.
    pub filters: Vec<Filter>,
    pub terminal: Terminal,
}

/// The filter that ends a chain. (A TCP proxy is about twice the size of the
/// boxed HCM; a listener has a handful of chains, so it is not boxed.)
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Terminal {
    Http(Box<HttpConnectionManager>),
    Tcp(TcpProxy),
}

impl Chain {
    pub fn new(terminal: Terminal) -> Chain {
        Chain {
            name: String::new(),
            filter_chain_match: None,
            transport_socket: None,
            mesh_tls: false,
            filters: Vec::new(),
            terminal,
        }
    }

    fn encode(self) -> FilterChain {
        let mut filters = self.filters;
        filters.push(match self.terminal {
            Terminal::Http(m) => network_filter(HCM, *m),
            Terminal::Tcp(t) => network_filter(TCP_PROXY, t),
        });
        FilterChain {
            name: self.name,
            filter_chain_match: self.filter_chain_match,
            transport_socket: self.transport_socket,
            filters,
            ..Default::default()
        }
    }
}

impl ListenerParts {
    pub fn new(listener: Listener, chains: Vec<Chain>) -> ListenerParts {
        ListenerParts { listener, chains }
    }

    /// The HTTP connection managers of every chain.
    pub fn hcms(&mut self) -> impl Iterator<Item = &mut HttpConnectionManager> {
        self.chains.iter_mut().filter_map(|c| match &mut c.terminal {
            Terminal::Http(m) => Some(m.as_mut()),
            Terminal::Tcp(_) => None,
        })
    }

    /// The TCP proxies of every chain.
    pub fn tcp_proxies(&mut self) -> impl Iterator<Item = &mut TcpProxy> {
        self.chains.iter_mut().filter_map(|c| match &mut c.terminal {
            Terminal::Tcp(t) => Some(t),
            Terminal::Http(_) => None,
        })
    }

    /// Every route of every chain's inline route configuration.
    pub fn routes(&mut self) -> impl Iterator<Item = &mut Route> {
        self.hcms().flat_map(routes)
    }

    pub fn encode(self) -> Listener {
        Listener { filter_chains: self.chains.into_iter().map(Chain::encode).collect(), ..self.listener }
    }
}

/// The routes of an HTTP connection manager's inline route configuration.
pub fn routes(m: &mut HttpConnectionManager) -> impl Iterator<Item = &mut Route> {
    let config = match &mut m.route_specifier {
        Some(http_connection_manager::RouteSpecifier::RouteConfig(c)) => Some(c),
        _ => None,
    };
    config.into_iter().flat_map(|c| c.virtual_hosts.iter_mut()).flat_map(|vh| vh.routes.iter_mut())
}

/// The forwarding action of a route, if it forwards (not a redirect or a direct response).
pub fn route_action(r: &mut Route) -> Option<&mut RouteAction> {
    match &mut r.action {
        Some(route::Action::Route(a)) => Some(a),
        _ => None,
    }
}

/// The MeshHTTPRoute (its display name, as [`crate::rules::effective::Condition::Route`]
/// names it) whose rule produced `route`, a route of outbound `o`'s listener;
/// `None` for routes no MeshHTTPRoute made (the catch-all to the destination).
/// Configurers of policies that can target a MeshHTTPRoute (MeshTimeout,
/// MeshRetry, ...) use it to apply `Route`-conditioned confs to its routes only.
pub fn route_source<'a>(o: &'a crate::plan::OutboundPlan, route: &Route) -> Option<&'a str> {
    o.routing.rules.values().find(|s| s.envoy_name == route.name).map(|s| s.route.as_str())
}

/// The conf a MeshHTTPRoute of outbound `o` has of its own, for `route` (one
/// of its Envoy routes): the `Route`-conditioned conf among `confs` naming the
/// route's source. It is complete (the rules stage merged what applies to the
/// route into it), so a configurer applies it to that route instead of the
/// outbound's conf; `None`: the outbound's conf applies.
pub fn route_conf<'c>(
    o: &crate::plan::OutboundPlan,
    confs: &[&'c crate::rules::effective::Effective],
    route: &Route,
) -> Option<&'c crate::rules::effective::Effective> {
    use crate::rules::effective::Condition;
    let source = route_source(o, route)?;
    confs.iter().copied().find(|e| matches!(&e.condition, Condition::Route(name) if name == source))
}

/// Add an HTTP filter before the router (which must stay last), after the
/// filters added before it.
pub fn add_http_filter(m: &mut HttpConnectionManager, filter: HttpFilter) {
    let at = m.http_filters.iter().position(|f| f.name == ROUTER).unwrap_or(m.http_filters.len());
    m.http_filters.insert(at, filter);
}

/// A typed HTTP filter.
pub fn http_filter<T: prost::Name + prost::Message>(name: &str, config: T) -> HttpFilter {
    use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_filter;
    HttpFilter {
        name: name.to_string(),
        config_type: Some(http_filter::ConfigType::TypedConfig(any(config))),
        ..Default::default()
    }
}

/// A cluster and its upstream HTTP options, typed.
#[derive(Debug, Clone)]
pub struct ClusterParts {
    pub cluster: Cluster,
    /// `typed_extension_protocol_options[envoy.extensions.upstreams.http.v3.HttpProtocolOptions]`.
    pub http_options: Option<HttpProtocolOptions>,
}

impl ClusterParts {
    pub fn new(cluster: Cluster) -> ClusterParts {
        ClusterParts { cluster, http_options: None }
    }

    pub fn encode(self) -> Cluster {
        let mut cluster = self.cluster;
        if let Some(options) = self.http_options {
            cluster.typed_extension_protocol_options.insert(HTTP_OPTIONS_KEY.to_string(), any(options));
        }
        cluster
    }
}
