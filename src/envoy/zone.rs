//! ZoneIngress and ZoneEgress configs ([`crate::plan::zone_proxies`]): one
//! listener whose TLS inspector reads the SNI, one filter chain per SNI in the
//! plan's order, and the chains' clusters.
//!
//! Shape as in Kuma's goldens (`pkg/xds/generator/testdata/ingress/`,
//! `pkg/xds/generator/egress/testdata/`): chains match `transport_protocol: tls`
//! and `server_names: [<SNI>]`; passthrough chains are a TCP proxy with stat
//! prefix = the sanitized cluster name; egress chains to a MeshExternalService
//! terminate Kuma mTLS (client certificate of the mesh required), run a network
//! RBAC, then an HTTP connection manager (route configuration and virtual host
//! named after the cluster) or a TCP proxy. A listener with no chain answers
//! every connection with Kuma's `{"proxy":..,"zone":..}` direct response.

use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::{DataSource, TrafficDirection, data_source};
use envoy_types::pb::envoy::config::listener::v3::{FilterChain, FilterChainMatch, Listener};
use envoy_types::pb::envoy::config::route::v3::{RouteConfiguration, VirtualHost};
use envoy_types::pb::envoy::extensions::filters::network::direct_response::v3::Config as DirectResponse;
use envoy_types::pb::google::protobuf::BoolValue;

use super::parts::{Chain, ListenerParts};
use super::policies::mesh_traffic_permission::egress_filter;
use super::policies::{self, At, Place};
use super::proto::{network_filter, sanitize, socket};
use super::{cluster, listener, tls};
use crate::plan::ProxyPlan;
use crate::plan::zone_proxies::{ZoneChain, ZoneProxyPlan};

const DIRECT_RESPONSE: &str = "envoy.filters.network.direct_response";

/// The chain of one SNI.
fn chain(z: &ZoneProxyPlan, c: &ZoneChain) -> Chain {
    let filter_chain_match = Some(FilterChainMatch {
        server_names: vec![c.sni.clone()],
        transport_protocol: "tls".to_string(),
        ..Default::default()
    });
    let stat_prefix = sanitize(&c.cluster);
    let Some(t) = &c.terminate else {
        return Chain { filter_chain_match, ..Chain::new(listener::tcp(&stat_prefix, &c.cluster)) };
    };
    let terminal = if c.protocol.is_http() {
        let route_config = RouteConfiguration {
            name: c.cluster.clone(),
            virtual_hosts: vec![VirtualHost {
                name: c.cluster.clone(),
                domains: vec!["*".to_string()],
                routes: vec![listener::route_to(&c.cluster, None)],
                ..Default::default()
            }],
            validate_clusters: Some(BoolValue { value: false }),
            ..Default::default()
        };
        listener::hcm(&stat_prefix, route_config)
    } else {
        listener::tcp(&stat_prefix, &c.cluster)
    };
    Chain {
        name: String::new(),
        filter_chain_match,
        transport_socket: Some(tls::mesh_downstream(&t.mtls)),
        mesh_tls: true,
        filters: vec![egress_filter(&t.mtls.mesh, &z.listener, &t.permissions, t.allow_without_policy)],
        terminal,
    }
}

/// The zone proxy's one listener.
pub fn zone_listener(plan: &ProxyPlan, z: &ZoneProxyPlan) -> Listener {
    let l = Listener {
        name: z.listener.clone(),
        address: Some(socket(&z.address, z.port)),
        traffic_direction: TrafficDirection::Inbound as i32,
        listener_filters: vec![listener::tls_inspector()],
        ..Default::default()
    };
    let chains = z.chains.iter().map(|c| chain(z, c)).collect();
    let mut encoded = ListenerParts::new(l, chains).encode();
    // Kuma names the chains that terminate mTLS (after their cluster); the rest are anonymous.
    for (fc, c) in encoded.filter_chains.iter_mut().zip(&z.chains) {
        if c.terminate.is_some() {
            fc.name = c.name.clone();
        }
    }
    if encoded.filter_chains.is_empty() {
        let body =
            format!(r#"{{"proxy":"{}","zone":"{}"}}"#, plan.id.core_name(), z.zone.as_deref().unwrap_or_default());
        let response = DirectResponse {
            response: Some(DataSource {
                specifier: Some(data_source::Specifier::InlineString(body)),
                ..Default::default()
            }),
        };
        encoded
            .filter_chains
            .push(FilterChain { filters: vec![network_filter(DIRECT_RESPONSE, response)], ..Default::default() });
    }
    encoded
}

/// The chains' clusters, each with Kuma's built-in values (every configurer
/// runs with no conf: a zone proxy has no policies of its own).
pub fn zone_clusters(plan: &ProxyPlan, z: &ZoneProxyPlan) -> Vec<Cluster> {
    z.clusters
        .iter()
        .map(|c| {
            let mut parts = cluster::outbound(plan, c);
            policies::configure_cluster(&Place { plan, at: At::Cluster(c) }, &mut parts);
            parts.encode()
        })
        .collect()
}
