//! The `envoy` stage: a [`ProxyPlan`] becomes an Envoy `Bootstrap` made of
//! envoy-types messages (never hand-built JSON). One module per concern; the
//! built-in defaults Kuma's generators use when no policy says otherwise are
//! named once, in [`defaults`].

mod cluster;
pub mod defaults;
mod dns;
mod listener;
pub mod parts;
pub mod policies;
mod proto;
mod tls;
mod zone;

use envoy_types::pb::envoy::config::bootstrap::v3::{Admin, Bootstrap, bootstrap::StaticResources};
use envoy_types::pb::envoy::config::core::v3::{Node, TrafficDirection};

use crate::plan::ProxyPlan;
use policies::{At, Place, Timeouts};

/// The whole static configuration of one proxy: the generators' listeners and
/// clusters, each shaped by every policy's configurer, then the configurers'
/// edits of the whole (their own resources, final patches).
pub fn bootstrap(plan: &ProxyPlan) -> Bootstrap {
    let mut listeners = Vec::new();
    let mut clusters = Vec::new();
    for inbound in &plan.inbounds {
        let place = Place { plan, at: At::Inbound(inbound) };
        let mut listener = listener::inbound(plan, inbound);
        policies::configure_listener(&place, &mut listener);
        listeners.push(listener.encode());
        let mut cluster = cluster::inbound(plan, inbound);
        policies::configure_cluster(&place, &mut cluster);
        clusters.push(cluster.encode());
    }
    for outbound in &plan.outbounds {
        let place = Place { plan, at: At::Outbound(outbound) };
        let mut listener = listener::outbound(outbound);
        policies::configure_listener(&place, &mut listener);
        listeners.push(listener.encode());
    }
    // Each cluster with its destination's confs, whether an outbound or only a
    // route backendRef sends to it.
    for c in &plan.clusters {
        let mut cluster = cluster::outbound(plan, c);
        policies::configure_cluster(&Place { plan, at: At::Cluster(c) }, &mut cluster);
        clusters.push(cluster.encode());
    }
    if let Some(tp) = &plan.transparent_proxy {
        // As in Kuma, the passthrough TCP proxies keep Envoy's own idle timeout;
        // the outbound ones log what MeshAccessLog says of passed-through traffic.
        let mut passthrough_listeners = listener::passthrough(plan, tp);
        let mut passthrough_clusters = cluster::passthrough(tp);
        policies::mesh_passthrough::apply(plan, tp, &mut passthrough_listeners, &mut passthrough_clusters);
        for mut l in passthrough_listeners {
            if l.listener.traffic_direction == TrafficDirection::Outbound as i32 {
                policies::passthrough_access_log(plan, &mut l);
            }
            listeners.push(l.encode());
        }
        for mut c in passthrough_clusters {
            Timeouts::default().apply_to_cluster(&mut c);
            clusters.push(c.encode());
        }
    }
    if let Some(dns) = &plan.dns {
        listeners.push(dns::listener(dns));
    }
    if let Some(z) = &plan.zone_proxy {
        listeners.push(zone::zone_listener(plan, z));
        clusters.extend(zone::zone_clusters(plan, z));
    }
    // Duplicate inbound clusters (two inbounds to one application port) are one cluster.
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    clusters.dedup_by(|a, b| a.name == b.name);
    let mut bootstrap = Bootstrap {
        node: Some(Node { id: plan.node_id.clone(), cluster: plan.node_cluster.clone(), ..Default::default() }),
        admin: Some(Admin { address: Some(proto::socket("127.0.0.1", plan.admin_port)), ..Default::default() }),
        static_resources: Some(StaticResources { listeners, clusters, secrets: Vec::new() }),
        ..Default::default()
    };
    policies::configure_bootstrap(plan, &mut bootstrap);
    bootstrap
}
