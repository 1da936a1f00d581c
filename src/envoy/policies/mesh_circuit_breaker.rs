//! MeshCircuitBreaker (reference §5.3): `connectionLimits` become the
//! cluster's default-priority `circuit_breakers.thresholds[0]` (keeping
//! `track_remaining`), `outlierDetection` its `outlier_detection` (every
//! detector: a detector left out is switched off, `enforcing_*: 0`) and
//! `common_lb_config.healthy_panic_threshold`. `to` confs shape outbound
//! clusters, `from`/`rules` confs the inbound `localhost:<port>` cluster
//! (Kuma's `meshcircuitbreaker/plugin/xds/configurer.go`). Kuma's default mesh
//! policy (`mesh-circuit-breaker-all-<mesh>`) limits every outbound.
//!
//! Runs after MeshHealthCheck (see the registry): its panic threshold replaces
//! the deprecated MeshHealthCheck one, as in Kuma's
//! `outbound-overwrite-meshhealthcheck-healthypanicthreshold` case.

use envoy_types::pb::envoy::config::cluster::v3::{
    CircuitBreakers, Cluster, OutlierDetection as EnvoyOutlier, circuit_breakers::Thresholds, cluster::CommonLbConfig,
};
use envoy_types::pb::envoy::r#type::v3::Percent;
use envoy_types::pb::google::protobuf::UInt32Value;

use super::super::parts::ClusterParts;
use super::mesh_timeout::duration;
use super::{Configurer, Place};
use crate::model::Kind;
use crate::model::common::{Duration, IntOrString};
use crate::model::policy::mesh_circuit_breaker::{Conf, ConnectionLimits, Detectors, OutlierDetection};
use crate::rules::effective::{Condition, Effective};

/// MeshCircuitBreaker's configurer.
pub struct MeshCircuitBreaker;

impl Configurer for MeshCircuitBreaker {
    fn kind(&self) -> Kind {
        Kind::MeshCircuitBreaker
    }

    fn cluster(&self, _place: &Place, confs: &[&Effective], cluster: &mut ClusterParts) {
        if let Some(conf) = all_traffic(confs) {
            apply(&conf, &mut cluster.cluster);
        }
    }
}

/// The conf for all traffic of a place: `Condition::All`, or a legacy rule
/// whose subset is everything (rules for some clients or destinations only
/// cannot shape one cluster).
fn all_traffic(confs: &[&Effective]) -> Option<Conf> {
    let e = confs.iter().find(|e| match &e.condition {
        Condition::All => true,
        Condition::Subset { tags, .. } => tags.is_empty(),
        Condition::Match(_) | Condition::Route(_) => false,
    })?;
    serde_json::from_value(e.conf.clone()).ok()
}

/// Shape a cluster by a conf.
pub fn apply(conf: &Conf, cluster: &mut Cluster) {
    if let Some(limits) = &conf.connection_limits {
        cluster.circuit_breakers = Some(CircuitBreakers { thresholds: vec![thresholds(limits)], ..Default::default() });
    }
    if let Some(outlier) = conf.outlier_detection.as_ref().filter(|o| o.disabled != Some(true)) {
        cluster.outlier_detection = Some(outlier_detection(outlier));
        if let Some(p) = outlier.healthy_panic_threshold.as_ref().and_then(IntOrString::as_f64) {
            cluster.common_lb_config.get_or_insert_with(CommonLbConfig::default).healthy_panic_threshold =
                Some(Percent { value: p });
        }
    }
}

fn thresholds(l: &ConnectionLimits) -> Thresholds {
    Thresholds {
        max_connection_pools: l.max_connection_pools.map(u32_value),
        max_connections: l.max_connections.map(u32_value),
        max_pending_requests: l.max_pending_requests.map(u32_value),
        max_retries: l.max_retries.map(u32_value),
        max_requests: l.max_requests.map(u32_value),
        track_remaining: true,
        ..Default::default()
    }
}

fn outlier_detection(o: &OutlierDetection) -> EnvoyOutlier {
    let mut out = EnvoyOutlier {
        interval: o.interval.as_ref().and_then(Duration::nanos).map(duration),
        base_ejection_time: o.base_ejection_time.as_ref().and_then(Duration::nanos).map(duration),
        split_external_local_origin_errors: o.split_external_and_local_errors.unwrap_or(false),
        max_ejection_percent: o.max_ejection_percent.map(u32_value),
        ..Default::default()
    };
    detectors(&mut out, &o.detectors.clone().unwrap_or_default());
    out
}

/// Every detector: on (`enforcing_*: 100`) with its settings when configured,
/// off (`enforcing_*: 0`) otherwise. Without any `detectors` Kuma switches off
/// only the three consecutive-failure ones and leaves Envoy's defaults for the
/// success-rate and failure-percentage ones, and so does meshc.
fn detectors(out: &mut EnvoyOutlier, d: &Detectors) {
    let enforcing = |on: bool| Some(u32_value(if on { 100 } else { 0 }));
    let consecutive = |c: &Option<crate::model::policy::mesh_circuit_breaker::Consecutive>| {
        c.as_ref().and_then(|c| c.consecutive).map(u32_value)
    };
    let total = consecutive(&d.total_failures);
    out.enforcing_consecutive_5xx = enforcing(total.is_some());
    out.consecutive_5xx = total;
    let local = consecutive(&d.local_origin_failures);
    out.enforcing_consecutive_local_origin_failure = enforcing(local.is_some());
    out.consecutive_local_origin_failure = local;
    let gateway = consecutive(&d.gateway_failures);
    out.enforcing_consecutive_gateway_failure = enforcing(gateway.is_some());
    out.consecutive_gateway_failure = gateway;
    if d == &Detectors::default() {
        return;
    }
    out.enforcing_success_rate = enforcing(d.success_rate.is_some());
    // Takes effect only with split_external_local_origin_errors.
    out.enforcing_local_origin_success_rate = enforcing(d.success_rate.is_some());
    if let Some(s) = &d.success_rate {
        out.success_rate_minimum_hosts = s.minimum_hosts.map(u32_value);
        out.success_rate_request_volume = s.request_volume.map(u32_value);
        out.success_rate_stdev_factor = s.standard_deviation_factor.as_ref().and_then(thousandths).map(u32_value);
    }
    out.enforcing_failure_percentage = enforcing(d.failure_percentage.is_some());
    out.enforcing_failure_percentage_local_origin = enforcing(d.failure_percentage.is_some());
    if let Some(f) = &d.failure_percentage {
        out.failure_percentage_minimum_hosts = f.minimum_hosts.map(u32_value);
        out.failure_percentage_request_volume = f.request_volume.map(u32_value);
        out.failure_percentage_threshold = f.threshold.map(u32_value);
    }
}

/// `value × 1000`, truncated, computed on the decimal text as Kuma does with a
/// decimal type (so `1.9` is 1900, not 1899 as in binary floating point).
fn thousandths(value: &IntOrString) -> Option<i64> {
    let text = match value {
        IntOrString::Int(i) => return i.checked_mul(1000),
        IntOrString::String(s) => s.trim(),
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() || !whole.chars().chain(fraction.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let mut milli: i64 = 0;
    for (i, c) in fraction.chars().take(3).enumerate() {
        milli += i64::from(c.to_digit(10)?) * 10_i64.pow(2 - i as u32);
    }
    let n = whole.checked_mul(1000)?.checked_add(milli)?;
    Some(if negative { -n } else { n })
}

fn u32_value(n: i64) -> UInt32Value {
    UInt32Value { value: u32::try_from(n.max(0)).unwrap_or(u32::MAX) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shaped(conf: serde_json::Value) -> Cluster {
        let conf: Conf = serde_json::from_value(conf).expect("conf");
        let mut c = Cluster::default();
        apply(&conf, &mut c);
        c
    }

    #[test]
    fn limits_replace_the_thresholds_and_keep_track_remaining() {
        let c = shaped(json!({"connectionLimits": {"maxConnectionPools": 5, "maxConnections": 10,
            "maxPendingRequests": 2, "maxRetries": 1, "maxRequests": 32}}));
        let t = &c.circuit_breakers.expect("breakers").thresholds;
        assert_eq!(t.len(), 1);
        assert!(t[0].track_remaining);
        assert_eq!(t[0].max_connection_pools, Some(u32_value(5)));
        assert_eq!(t[0].max_pending_requests, Some(u32_value(2)));
        assert_eq!(t[0].max_requests, Some(u32_value(32)));
        assert!(c.outlier_detection.is_none());
    }

    #[test]
    fn every_detector_maps_as_in_kumas_golden() {
        let c = shaped(json!({"outlierDetection": {"disabled": false, "interval": "5s", "baseEjectionTime": "30s",
            "maxEjectionPercent": 20, "splitExternalAndLocalErrors": true, "healthyPanicThreshold": 20,
            "detectors": {"totalFailures": {"consecutive": 10}, "gatewayFailures": {"consecutive": 10},
                "localOriginFailures": {"consecutive": 10},
                "successRate": {"minimumHosts": 5, "requestVolume": 10, "standardDeviationFactor": 1900},
                "failurePercentage": {"requestVolume": 10, "minimumHosts": 5, "threshold": 85}}}}));
        let o = c.outlier_detection.expect("outlier");
        assert_eq!(o.success_rate_stdev_factor, Some(u32_value(1_900_000)));
        assert_eq!(o.enforcing_failure_percentage_local_origin, Some(u32_value(100)));
        assert_eq!(o.consecutive_gateway_failure, Some(u32_value(10)));
        assert!(o.split_external_local_origin_errors);
        assert_eq!(c.common_lb_config.and_then(|l| l.healthy_panic_threshold), Some(Percent { value: 20.0 }));
        assert!(c.circuit_breakers.is_none());
    }

    #[test]
    fn absent_detectors_are_switched_off() {
        let o = shaped(json!({"outlierDetection": {"detectors": {"totalFailures": {"consecutive": 3}}}}))
            .outlier_detection
            .expect("outlier");
        assert_eq!(o.enforcing_consecutive_5xx, Some(u32_value(100)));
        assert_eq!(o.enforcing_consecutive_gateway_failure, Some(u32_value(0)));
        assert_eq!(o.enforcing_success_rate, Some(u32_value(0)));
        assert_eq!(o.enforcing_failure_percentage, Some(u32_value(0)));
        let o = shaped(json!({"outlierDetection": {"interval": "1s"}})).outlier_detection.expect("outlier");
        assert_eq!(o.enforcing_consecutive_local_origin_failure, Some(u32_value(0)));
        assert_eq!(o.enforcing_success_rate, None);
    }

    #[test]
    fn disabled_outlier_detection_sets_nothing() {
        let c = shaped(json!({"outlierDetection": {"disabled": true, "healthyPanicThreshold": 10,
            "detectors": {"totalFailures": {"consecutive": 3}}}}));
        assert!(c.outlier_detection.is_none());
        assert!(c.common_lb_config.is_none());
    }

    #[test]
    fn standard_deviation_factor_is_exact() {
        assert_eq!(thousandths(&IntOrString::String("1.9".into())), Some(1900));
        assert_eq!(thousandths(&IntOrString::String("0.0015".into())), Some(1));
        assert_eq!(thousandths(&IntOrString::Int(2)), Some(2000));
        assert_eq!(thousandths(&IntOrString::String("x".into())), None);
        assert_eq!(thousandths(&IntOrString::String(".".into())), None);
    }
}
