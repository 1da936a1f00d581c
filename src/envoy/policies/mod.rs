//! Policies into Envoy: one configurer per policy kind, one file each, run in
//! [`REGISTRY`] order over every inbound, outbound and cluster of a proxy (as
//! Kuma's policy plugins run over the resources its generators built). A
//! configurer is called for every place, with the place's effective confs of its
//! kind (possibly none: Kuma's built-in values then apply), and edits only the
//! fields its policy owns.

mod mesh_access_log;
mod mesh_circuit_breaker;
mod mesh_fault_injection;
mod mesh_health_check;
mod mesh_http_route;
mod mesh_load_balancing_strategy;
mod mesh_metric;
pub mod mesh_passthrough;
pub mod mesh_proxy_patch;
mod mesh_rate_limit;
mod mesh_retry;
mod mesh_tcp_route;
mod mesh_timeout;
mod mesh_tls;
mod mesh_trace;
pub mod mesh_traffic_permission;

use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;

use super::parts::{ClusterParts, ListenerParts};
use crate::model::Kind;
use crate::plan::{ClusterPlan, InboundPlan, OutboundPlan, ProxyPlan};
use crate::rules::effective::Effective;

pub use mesh_access_log::passthrough as passthrough_access_log;
pub use mesh_timeout::Timeouts;
pub use mesh_tls::inbound_mode;

/// Where a configurer is applied.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub plan: &'a ProxyPlan,
    pub at: At<'a>,
}

#[derive(Debug, Clone, Copy)]
pub enum At<'a> {
    /// An inbound: its listener, and the cluster of the local application.
    Inbound(&'a InboundPlan),
    /// An outbound: its listener.
    Outbound(&'a OutboundPlan),
    /// An outbound cluster, with the confs of its own destination (also when
    /// only a route backendRef sends to it).
    Cluster(&'a ClusterPlan),
}

impl Place<'_> {
    /// The effective confs of `kind` here: the place's own, or for proxy-wide
    /// kinds (MeshTrace, MeshMetric, MeshPassthrough, MeshProxyPatch) the proxy's.
    pub fn confs(&self, kind: Kind) -> Vec<&Effective> {
        let own = match self.at {
            At::Inbound(i) => &i.policies,
            At::Outbound(o) => &o.policies,
            At::Cluster(c) => &c.policies,
        };
        own.iter().chain(&self.plan.policies).filter(|e| e.kind == kind.name()).collect()
    }
}

/// What one policy kind does to Envoy resources.
pub trait Configurer: Sync {
    fn kind(&self) -> Kind;

    /// Edit an inbound's or outbound's listener.
    fn listener(&self, _place: &Place, _confs: &[&Effective], _listener: &mut ListenerParts) {}

    /// Edit a cluster: the local application's of an inbound (`At::Inbound`),
    /// or an outbound cluster (`At::Cluster`, with its destination's confs).
    fn cluster(&self, _place: &Place, _confs: &[&Effective], _cluster: &mut ClusterParts) {}

    /// Edit the whole configuration once it is complete (clusters and
    /// listeners of its own, final patches), with the proxy-wide confs.
    fn bootstrap(&self, _plan: &ProxyPlan, _confs: &[&Effective], _bootstrap: &mut Bootstrap) {}
}

/// Every configurer, in the order they run.
pub static REGISTRY: &[&dyn Configurer] = &[
    // Routes first: the configurers after them see every route.
    &mesh_http_route::MeshHttpRoute,
    &mesh_tcp_route::MeshTcpRoute,
    &mesh_tls::MeshTls,
    &mesh_load_balancing_strategy::MeshLoadBalancingStrategy,
    &mesh_access_log::MeshAccessLog,
    &mesh_fault_injection::MeshFaultInjection,
    &mesh_rate_limit::MeshRateLimit,
    &mesh_timeout::MeshTimeout,
    // MeshHealthCheck before MeshCircuitBreaker: the breaker's panic threshold wins.
    &mesh_health_check::MeshHealthCheck,
    &mesh_circuit_breaker::MeshCircuitBreaker,
    &mesh_retry::MeshRetry,
    &mesh_trace::MeshTrace,
    &mesh_metric::MeshMetric,
    // After the other inbound filters: it puts its RBAC filter first.
    &mesh_traffic_permission::MeshTrafficPermission,
    // Last: it patches what every other configurer made.
    &mesh_proxy_patch::MeshProxyPatch,
];

/// Run every configurer over a place's listener.
pub fn configure_listener(place: &Place, listener: &mut ListenerParts) {
    for c in REGISTRY {
        c.listener(place, &place.confs(c.kind()), listener);
    }
}

/// Run every configurer over a place's cluster.
pub fn configure_cluster(place: &Place, cluster: &mut ClusterParts) {
    for c in REGISTRY {
        c.cluster(place, &place.confs(c.kind()), cluster);
    }
}

/// Run every configurer over the complete configuration.
pub fn configure_bootstrap(plan: &ProxyPlan, bootstrap: &mut Bootstrap) {
    for c in REGISTRY {
        let confs: Vec<&Effective> = plan.policies.iter().filter(|e| e.kind == c.kind().name()).collect();
        c.bootstrap(plan, &confs, bootstrap);
    }
}
