//! MeshTLS (reference §8.2): per inbound, the mTLS mode (Strict: one chain
//! requiring a mesh certificate; Permissive: Kuma's three chains, plaintext
//! accepted) overriding the mesh backend's, and the TLS versions and cipher
//! suites of the inbound's Kuma mTLS chains and of every mesh outbound cluster.
//!
//! The mode shapes the inbound listener's chains, so the listener generator asks
//! [`inbound_mode`] for it (Kuma's MeshTLS plugin rebuilds the inbound listeners
//! before any other policy runs: same result). Nothing happens with mesh mTLS off.

use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::TlsParameters;

use super::super::parts::ListenerParts;
use super::super::tls;
use super::{At, Configurer, Place};
use crate::model::Kind;
use crate::model::policy::mesh_tls::{Conf, Mode};
use crate::plan::{ClusterTls, InboundPlan, ProxyPlan, TlsMode};
use crate::rules::effective::{Condition, Effective};

/// The MeshTLS conf of an inbound for all of its traffic (`from: Mesh` and
/// `rules` are both catch-all), if a policy sets one.
fn conf_of(policies: &[Effective]) -> Option<Conf> {
    policies
        .iter()
        .filter(|e| e.kind == Kind::MeshTLS.name())
        .find(|e| match &e.condition {
            Condition::All => true,
            Condition::Subset { tags, .. } => tags.is_empty(),
            _ => false,
        })
        .and_then(|e| serde_json::from_value::<Conf>(e.conf.clone()).ok())
}

/// The mTLS mode of an inbound: the MeshTLS `mode` if one is set, else the
/// mesh backend's (Kuma's `getMeshTLSMode`).
pub fn inbound_mode(i: &InboundPlan, mesh_mode: TlsMode) -> TlsMode {
    match conf_of(&i.policies).and_then(|c| c.mode).and_then(|m| m.known()) {
        Some(Mode::Strict) => TlsMode::Strict,
        Some(Mode::Permissive) => TlsMode::Permissive,
        None => mesh_mode,
    }
}

/// The TLS parameters a conf sets (`None` when it sets neither versions nor ciphers).
fn params(conf: &Conf) -> Option<TlsParameters> {
    let ciphers: Vec<String> = conf.tls_ciphers.iter().flatten().map(|c| c.raw()).collect();
    if conf.tls_version.is_none() && ciphers.is_empty() {
        return None;
    }
    let version = conf.tls_version.clone().unwrap_or_default();
    Some(TlsParameters {
        tls_minimum_protocol_version: tls::protocol_version(&version.min.raw()),
        tls_maximum_protocol_version: tls::protocol_version(&version.max.raw()),
        cipher_suites: ciphers,
        ..Default::default()
    })
}

/// MeshTLS's configurer.
pub struct MeshTls;

impl Configurer for MeshTls {
    fn kind(&self) -> Kind {
        Kind::MeshTLS
    }

    /// Versions and ciphers on the inbound's Kuma mTLS chains.
    fn listener(&self, place: &Place, _confs: &[&Effective], listener: &mut ListenerParts) {
        let At::Inbound(inbound) = place.at else { return };
        if place.plan.mtls.is_none() {
            return;
        }
        let Some(params) = conf_of(&inbound.policies).as_ref().and_then(params) else { return };
        for chain in listener.chains.iter_mut().filter(|c| c.mesh_tls) {
            if let Some(socket) = &mut chain.transport_socket {
                tls::set_tls_params(socket, &params);
            }
        }
    }

    /// Versions and ciphers of the first inbound on every mesh outbound cluster
    /// (as Kuma: one client-side TLS setting per proxy).
    fn bootstrap(&self, plan: &ProxyPlan, _confs: &[&Effective], bootstrap: &mut Bootstrap) {
        if plan.mtls.is_none() {
            return;
        }
        let Some(first) = plan.inbounds.first() else { return };
        let Some(params) = conf_of(&first.policies).as_ref().and_then(params) else { return };
        let mesh_clusters: std::collections::HashSet<&str> = plan
            .clusters
            .iter()
            .filter(|c| matches!(c.tls, ClusterTls::Mesh { .. }))
            .map(|c| c.name.as_str())
            .collect();
        let clusters = bootstrap.static_resources.iter_mut().flat_map(|s| s.clusters.iter_mut());
        for cluster in clusters.filter(|c| mesh_clusters.contains(c.name.as_str())) {
            if let Some(socket) = &mut cluster.transport_socket {
                tls::set_tls_params(socket, &params);
            }
            for m in &mut cluster.transport_socket_matches {
                if let Some(socket) = &mut m.transport_socket {
                    tls::set_tls_params(socket, &params);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn effective(conf: serde_json::Value) -> Effective {
        Effective {
            kind: "MeshTLS",
            when: None,
            condition: Condition::All,
            conf,
            origins: Vec::new(),
            fields: Default::default(),
        }
    }

    #[test]
    fn policy_mode_overrides_the_mesh() {
        let conf = conf_of(&[effective(json!({"mode": "Permissive"}))]);
        assert_eq!(conf.and_then(|c| c.mode).and_then(|m| m.known()), Some(Mode::Permissive));
        assert!(conf_of(&[]).is_none());
    }

    #[test]
    fn versions_and_ciphers_become_envoy_params() {
        let conf: Conf = serde_json::from_value(
            json!({"tlsVersion": {"min": "TLS12", "max": "TLS13"}, "tlsCiphers": ["ECDHE-ECDSA-AES256-GCM-SHA384"]}),
        )
        .unwrap();
        let p = params(&conf).unwrap();
        assert_eq!(p.tls_minimum_protocol_version, tls::protocol_version("TLS12"));
        assert_eq!(p.tls_maximum_protocol_version, tls::protocol_version("TLS13"));
        assert_eq!(p.cipher_suites, ["ECDHE-ECDSA-AES256-GCM-SHA384"]);
        assert!(params(&serde_json::from_value::<Conf>(json!({"mode": "Strict"})).unwrap()).is_none());
    }
}
