//! MeshTimeout (reference §5.1): the merged conf of an inbound or outbound
//! becomes the cluster's connect and connection timeouts, the route's request
//! and stream idle timeouts, the HCM's request headers timeout and the TCP
//! proxy's idle timeout. A field no policy sets keeps Kuma's built-in value
//! ([`super::defaults`]); Kuma's default mesh policy (`mesh-timeout-all-<mesh>`,
//! applied by the rules stage) sets most of them.

use envoy_types::pb::google::protobuf::Duration;

use super::super::defaults::{
    CONNECT_TIMEOUT_SECS, CONNECTION_IDLE_TIMEOUT_SECS, ROUTE_IDLE_TIMEOUT_SECS, ROUTE_TIMEOUT_SECS,
};
use super::super::parts::{ClusterParts, ListenerParts, route_action, route_conf};
use super::{At, Configurer, Place};
use crate::model::Kind;
use crate::model::policy::mesh_timeout::Conf;
use crate::rules::effective::Effective;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// The timeouts of one inbound or outbound, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: i128,
    pub idle: i128,
    pub request: i128,
    pub stream_idle: i128,
    pub max_stream: i128,
    pub max_connection: i128,
    pub request_headers: i128,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: i128::from(CONNECT_TIMEOUT_SECS) * NANOS_PER_SEC,
            idle: i128::from(CONNECTION_IDLE_TIMEOUT_SECS) * NANOS_PER_SEC,
            request: i128::from(ROUTE_TIMEOUT_SECS) * NANOS_PER_SEC,
            stream_idle: i128::from(ROUTE_IDLE_TIMEOUT_SECS) * NANOS_PER_SEC,
            max_stream: 0,
            max_connection: 0,
            request_headers: 0,
        }
    }
}

impl Timeouts {
    /// The timeouts of a place from its effective policies: the MeshTimeout
    /// conf for all of its traffic (rules conditioned on a client identity need
    /// workload identity and are left to Kuma's built-in values).
    pub fn of(confs: &[&Effective]) -> Timeouts {
        let conf = confs.iter().find(|e| e.kind == Kind::MeshTimeout.name() && e.when.is_none());
        match conf {
            Some(e) => Timeouts::default().overlaid(e),
            None => Timeouts::default(),
        }
    }

    /// These timeouts with the fields a MeshTimeout conf sets replaced.
    pub fn overlaid(mut self, e: &Effective) -> Timeouts {
        let Ok(conf) = serde_json::from_value::<Conf>(e.conf.clone()) else { return self };
        let set = |slot: &mut i128, d: Option<&crate::model::common::Duration>| {
            if let Some(n) = d.and_then(|d| d.nanos()) {
                *slot = n;
            }
        };
        let t = &mut self;
        set(&mut t.connect, conf.connection_timeout.as_ref());
        set(&mut t.idle, conf.idle_timeout.as_ref());
        if let Some(http) = &conf.http {
            set(&mut t.request, http.request_timeout.as_ref());
            set(&mut t.stream_idle, http.stream_idle_timeout.as_ref());
            set(&mut t.max_stream, http.max_stream_duration.as_ref());
            set(&mut t.max_connection, http.max_connection_duration.as_ref());
            set(&mut t.request_headers, http.request_headers_timeout.as_ref());
        }
        self
    }

    /// The request and stream idle timeouts of one route.
    pub fn apply_to_route(&self, r: &mut envoy_types::pb::envoy::config::route::v3::Route) {
        if let Some(action) = route_action(r) {
            action.timeout = Some(duration(self.request));
            action.idle_timeout = Some(duration(self.stream_idle));
        }
    }

    /// The route, HCM and TCP proxy timeouts of a listener.
    pub fn apply_to_listener(&self, listener: &mut ListenerParts) {
        for m in listener.hcms() {
            m.request_headers_timeout = Some(duration(self.request_headers));
        }
        for r in listener.routes() {
            if let Some(action) = route_action(r) {
                action.timeout = Some(duration(self.request));
                action.idle_timeout = Some(duration(self.stream_idle));
            }
        }
        for t in listener.tcp_proxies() {
            t.idle_timeout = Some(duration(self.idle));
        }
    }

    /// The connect timeout of a cluster and, for HTTP upstreams, the
    /// connection's idle and duration limits.
    pub fn apply_to_cluster(&self, cluster: &mut ClusterParts) {
        cluster.cluster.connect_timeout = Some(duration(self.connect));
        let common = cluster.http_options.as_mut().and_then(|o| o.common_http_protocol_options.as_mut());
        if let Some(common) = common {
            common.idle_timeout = Some(duration(self.idle));
            common.max_connection_duration = Some(duration(self.max_connection));
            common.max_stream_duration = Some(duration(self.max_stream));
        }
    }
}

/// MeshTimeout's configurer.
pub struct MeshTimeout;

impl Configurer for MeshTimeout {
    fn kind(&self) -> Kind {
        Kind::MeshTimeout
    }

    fn listener(&self, place: &Place, confs: &[&Effective], listener: &mut ListenerParts) {
        Timeouts::of(confs).apply_to_listener(listener);
        // A MeshHTTPRoute's own conf (complete: Kuma's built-in values under it,
        // not the outbound's) configures its Envoy routes.
        let At::Outbound(o) = place.at else { return };
        for r in listener.routes() {
            if let Some(e) = route_conf(o, confs, r) {
                Timeouts::default().overlaid(e).apply_to_route(r);
            }
        }
    }

    fn cluster(&self, _place: &Place, confs: &[&Effective], cluster: &mut ClusterParts) {
        Timeouts::of(confs).apply_to_cluster(cluster);
    }
}

/// A protobuf Duration of `nanos` nanoseconds (negative values become 0).
pub fn duration(nanos: i128) -> Duration {
    let nanos = nanos.max(0);
    let seconds = i64::try_from(nanos / NANOS_PER_SEC).unwrap_or(i64::MAX);
    Duration { seconds, nanos: (nanos % NANOS_PER_SEC) as i32 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn effective(conf: serde_json::Value, when: Option<&str>) -> Effective {
        Effective {
            kind: "MeshTimeout",
            when: when.map(str::to_string),
            condition: Default::default(),
            conf,
            origins: Vec::new(),
            fields: Default::default(),
        }
    }

    #[test]
    fn unset_fields_keep_kumas_defaults() {
        let t =
            Timeouts::of(&[&effective(json!({"connectionTimeout": "51s", "http": {"requestTimeout": "1.5s"}}), None)]);
        assert_eq!(t.connect, 51 * NANOS_PER_SEC);
        assert_eq!(t.request, 1_500_000_000);
        assert_eq!(t.idle, Timeouts::default().idle);
        assert_eq!(duration(t.request), Duration { seconds: 1, nanos: 500_000_000 });
    }

    #[test]
    fn conditioned_rules_do_not_apply_to_all_traffic() {
        let t = Timeouts::of(&[&effective(json!({"connectionTimeout": "1s"}), Some("match {}"))]);
        assert_eq!(t, Timeouts::default());
    }
}
