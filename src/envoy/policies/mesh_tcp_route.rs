//! MeshTCPRoute (reference §5.7): the first rule's backendRefs of an outbound
//! become its TCP proxy's `cluster` (one) or `weighted_clusters` (several), as
//! Kuma's `meshtcproute` plugin does. An HTTP outbound belongs to MeshHTTPRoute
//! when one targets it; when only a MeshTCPRoute does, its traffic is proxied as
//! TCP (the HTTP connection manager gives way to a TCP proxy). backendRefs that
//! resolve to nothing are dropped; when none is left the outbound keeps its own
//! destination.

use envoy_types::pb::envoy::extensions::filters::network::tcp_proxy::v3::{TcpProxy, tcp_proxy};
use serde_json::Value;

use super::super::parts::{ListenerParts, Terminal};
use super::{At, Configurer, Place};
use crate::model::Kind;
use crate::plan::OutboundPlan;
use crate::rules::effective::Effective;

/// MeshTCPRoute's configurer.
pub struct MeshTcpRoute;

impl Configurer for MeshTcpRoute {
    fn kind(&self) -> Kind {
        Kind::MeshTCPRoute
    }

    fn listener(&self, place: &Place, confs: &[&Effective], listener: &mut ListenerParts) {
        let At::Outbound(o) = place.at else { return };
        let Some(conf) = confs.first() else { return };
        if o.protocol.is_http() && !place.confs(Kind::MeshHTTPRoute).is_empty() {
            return;
        }
        let Some(specifier) = cluster_specifier(o, &conf.conf) else { return };
        for chain in &mut listener.chains {
            match &mut chain.terminal {
                Terminal::Tcp(t) => t.cluster_specifier = Some(specifier.clone()),
                Terminal::Http(m) => {
                    chain.terminal = Terminal::Tcp(TcpProxy {
                        stat_prefix: m.stat_prefix.clone(),
                        cluster_specifier: Some(specifier.clone()),
                        ..Default::default()
                    });
                }
            }
        }
    }
}

/// The TCP proxy's destination from `default.backendRefs` (weights summed per
/// cluster, zero weights and unresolvable refs left out).
fn cluster_specifier(o: &OutboundPlan, conf: &Value) -> Option<tcp_proxy::ClusterSpecifier> {
    let refs = conf.get("default").and_then(|d| d.get("backendRefs")).and_then(Value::as_array)?;
    let mut split: Vec<(String, u32)> = Vec::new();
    for r in refs {
        let weight = r.get("weight").and_then(Value::as_i64).unwrap_or(1);
        let Some(weight) = u32::try_from(weight).ok().filter(|w| *w > 0) else { continue };
        let Some(b) = o.routing.cluster(r) else { continue };
        match split.iter_mut().find(|(c, _)| *c == b.cluster) {
            Some((_, w)) => *w = w.saturating_add(weight),
            None => split.push((b.cluster.clone(), weight)),
        }
    }
    match split.as_slice() {
        [] => None,
        [(cluster, _)] => Some(tcp_proxy::ClusterSpecifier::Cluster(cluster.clone())),
        many => Some(tcp_proxy::ClusterSpecifier::WeightedClusters(tcp_proxy::WeightedCluster {
            clusters: many
                .iter()
                .map(|(name, weight)| tcp_proxy::weighted_cluster::ClusterWeight {
                    name: name.clone(),
                    weight: *weight,
                    ..Default::default()
                })
                .collect(),
        })),
    }
}
