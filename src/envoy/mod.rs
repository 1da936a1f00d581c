//! The `envoy` stage: a [`ProxyPlan`] becomes an Envoy `Bootstrap` made of
//! envoy-types messages (never hand-built JSON). One module per concern; the
//! built-in defaults Kuma's generators use when no policy says otherwise are
//! named once, in [`defaults`].

mod cluster;
pub mod defaults;
mod dns;
mod listener;
mod proto;
mod timeout;
mod tls;

use envoy_types::pb::envoy::config::bootstrap::v3::{Admin, Bootstrap, bootstrap::StaticResources};
use envoy_types::pb::envoy::config::core::v3::Node;

use crate::plan::ProxyPlan;
use timeout::Timeouts;

/// The whole static configuration of one proxy.
pub fn bootstrap(plan: &ProxyPlan) -> Bootstrap {
    let mut listeners = Vec::new();
    let mut clusters = Vec::new();
    for inbound in &plan.inbounds {
        let t = Timeouts::of(&inbound.policies);
        listeners.push(listener::inbound(plan, inbound, &t));
        clusters.push(cluster::inbound(plan, inbound, &t));
    }
    // The outbounds of one cluster reach one destination port: one conf.
    let mut cluster_timeouts = std::collections::HashMap::new();
    for outbound in &plan.outbounds {
        let t = Timeouts::of(&outbound.policies);
        listeners.push(listener::outbound(outbound, &t));
        cluster_timeouts.entry(outbound.cluster.as_str()).or_insert(t);
    }
    for c in &plan.clusters {
        let t = cluster_timeouts.get(c.name.as_str()).copied().unwrap_or_default();
        clusters.push(cluster::outbound(plan, c, &t));
    }
    if let Some(tp) = &plan.transparent_proxy {
        listeners.extend(listener::passthrough(plan, tp));
        clusters.extend(cluster::passthrough(tp));
    }
    if let Some(dns) = &plan.dns {
        listeners.push(dns::listener(dns));
    }
    // Duplicate inbound clusters (two inbounds to one application port) are one cluster.
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    clusters.dedup_by(|a, b| a.name == b.name);
    Bootstrap {
        node: Some(Node { id: plan.node_id.clone(), cluster: plan.node_cluster.clone(), ..Default::default() }),
        admin: Some(Admin { address: Some(proto::socket("127.0.0.1", plan.admin_port)), ..Default::default() }),
        static_resources: Some(StaticResources { listeners, clusters, secrets: Vec::new() }),
        ..Default::default()
    }
}
