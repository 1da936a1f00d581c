//! MeshHealthCheck (reference §5.4): the merged `to` conf of an outbound adds
//! one active health check to its cluster (`health_checks[]`), checking by the
//! destination's protocol: HTTP for `http`/`http2` (HTTP/2 codec for
//! `http2`), gRPC for `grpc`, TCP for `tcp`; when the protocol's checker is
//! disabled, the TCP one if it is configured; otherwise none (Kuma's
//! `selectHealthCheckType`). It also sets the cluster's
//! `healthy_panic_threshold` (deprecated: MeshCircuitBreaker's, which runs
//! later, wins) and `zone_aware_lb_config.fail_traffic_on_panic`. Shape as in
//! Kuma's `meshhealthcheck/plugin/xds/configurer.go`.

use std::collections::{BTreeMap, BTreeSet};

use envoy_types::pb::envoy::config::cluster::v3::cluster::{CommonLbConfig, common_lb_config};
use envoy_types::pb::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, HealthCheck, TypedExtensionConfig, header_value_option, health_check,
};
use envoy_types::pb::envoy::extensions::health_check::event_sinks::file::v3::HealthCheckEventFileSink;
use envoy_types::pb::envoy::r#type::v3::{CodecClientType, Int64Range, Percent};
use envoy_types::pb::google::protobuf::{BoolValue, UInt32Value};

use super::super::parts::ClusterParts;
use super::super::proto::any;
use super::mesh_timeout::duration;
use super::{At, Configurer, Place};
use crate::model::Kind;
use crate::model::common::{Duration, IntOrString};
use crate::model::policy::mesh_health_check::{Conf, GrpcHealthCheck, HeaderModifier, HttpHealthCheck, TcpHealthCheck};
use crate::plan::ProxyPlan;
use crate::rules::effective::{Condition, Effective};
use crate::world::Protocol;

/// Kuma's defaults for unset fields (`configurer.go`).
const DEFAULT_INTERVAL_NANOS: i128 = 60_000_000_000;
const DEFAULT_TIMEOUT_NANOS: i128 = 15_000_000_000;
const DEFAULT_UNHEALTHY_THRESHOLD: i64 = 5;
const DEFAULT_HEALTHY_THRESHOLD: i64 = 1;
const DEFAULT_HTTP_PATH: &str = "/";
const EVENT_SINK_FILE: &str = "envoy.health_check.event_sinks.file";
/// The header carrying the client's tags on HTTP health checks.
const TAGS_HEADER: &str = "x-kuma-tags";

/// MeshHealthCheck's configurer.
pub struct MeshHealthCheck;

impl Configurer for MeshHealthCheck {
    fn kind(&self) -> Kind {
        Kind::MeshHealthCheck
    }

    fn cluster(&self, place: &Place, confs: &[&Effective], cluster: &mut ClusterParts) {
        let At::Cluster(c) = place.at else { return };
        let Some(conf) = all_traffic(confs) else { return };
        apply(&conf, c.protocol, &proxy_tags(place.plan), &mut cluster.cluster);
    }
}

/// The conf for all traffic of an outbound: `Condition::All`, or a legacy
/// `to` rule whose subset is everything.
fn all_traffic(confs: &[&Effective]) -> Option<Conf> {
    let e = confs.iter().find(|e| match &e.condition {
        Condition::All => true,
        Condition::Subset { tags, .. } => tags.is_empty(),
        Condition::Match(_) | Condition::Route(_) => false,
    })?;
    serde_json::from_value(e.conf.clone()).ok()
}

/// The proxy's inbound tags, every value of each (Kuma's `TagSet()`).
fn proxy_tags(plan: &ProxyPlan) -> BTreeMap<String, BTreeSet<String>> {
    let mut tags: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for i in &plan.inbounds {
        for (k, v) in &i.tags {
            tags.entry(k.clone()).or_default().insert(v.clone());
        }
    }
    tags
}

/// Which checker a conf gives a destination of `protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checker {
    Http,
    Grpc,
    Tcp,
}

fn enabled<T>(checker: Option<&T>, disabled: impl Fn(&T) -> Option<bool>) -> bool {
    checker.is_some_and(|c| disabled(c) != Some(true))
}

fn disabled<T>(checker: Option<&T>, is_disabled: impl Fn(&T) -> Option<bool>) -> bool {
    checker.is_some_and(|c| is_disabled(c) == Some(true))
}

/// Kuma's `selectHealthCheckType`.
fn select(protocol: Protocol, conf: &Conf) -> Option<Checker> {
    let http = conf.http.as_ref();
    let grpc = conf.grpc.as_ref();
    let tcp_on = enabled(conf.tcp.as_ref(), |t: &TcpHealthCheck| t.disabled);
    let is_http = matches!(protocol, Protocol::Http | Protocol::Http2);
    if is_http && enabled(http, |h: &HttpHealthCheck| h.disabled) {
        return Some(Checker::Http);
    }
    if protocol == Protocol::Grpc && enabled(grpc, |g: &GrpcHealthCheck| g.disabled) {
        return Some(Checker::Grpc);
    }
    if protocol == Protocol::Tcp && tcp_on {
        return Some(Checker::Tcp);
    }
    let fallback = (is_http && disabled(http, |h: &HttpHealthCheck| h.disabled))
        || (protocol == Protocol::Grpc && disabled(grpc, |g: &GrpcHealthCheck| g.disabled));
    (fallback && tcp_on).then_some(Checker::Tcp)
}

/// Shape a cluster of a `protocol` destination by a conf; `tags` are the
/// client's, sent on HTTP checks.
pub fn apply(
    conf: &Conf,
    protocol: Protocol,
    tags: &BTreeMap<String, BTreeSet<String>>,
    cluster: &mut envoy_types::pb::envoy::config::cluster::v3::Cluster,
) {
    if let Some(p) = conf.healthy_panic_threshold.as_ref().and_then(IntOrString::as_f64) {
        cluster.common_lb_config.get_or_insert_with(CommonLbConfig::default).healthy_panic_threshold =
            Some(Percent { value: p });
    }
    if let Some(fail) = conf.fail_traffic_on_panic {
        let lb = cluster.common_lb_config.get_or_insert_with(CommonLbConfig::default);
        // Locality-weighted balancing has no such setting: Kuma ignores it there too.
        let specifier = lb
            .locality_config_specifier
            .get_or_insert_with(|| common_lb_config::LocalityConfigSpecifier::ZoneAwareLbConfig(Default::default()));
        if let common_lb_config::LocalityConfigSpecifier::ZoneAwareLbConfig(z) = specifier {
            z.fail_traffic_on_panic = fail;
        }
    }
    let Some(checker) = select(protocol, conf) else { return };
    let mut hc = base(conf);
    hc.health_checker = Some(match checker {
        Checker::Http => http_checker(protocol, conf.http.as_ref(), tags),
        Checker::Grpc => grpc_checker(conf.grpc.as_ref()),
        Checker::Tcp => tcp_checker(conf.tcp.as_ref()),
    });
    cluster.health_checks.push(hc);
}

/// Everything but the checker, with Kuma's defaults.
fn base(conf: &Conf) -> HealthCheck {
    let nanos = |d: Option<&Duration>| d.and_then(Duration::nanos);
    let threshold = |n: Option<i64>, default: i64| {
        Some(UInt32Value { value: u32::try_from(n.unwrap_or(default).max(0)).unwrap_or(u32::MAX) })
    };
    HealthCheck {
        interval: Some(duration(nanos(conf.interval.as_ref()).unwrap_or(DEFAULT_INTERVAL_NANOS))),
        timeout: Some(duration(nanos(conf.timeout.as_ref()).unwrap_or(DEFAULT_TIMEOUT_NANOS))),
        unhealthy_threshold: threshold(conf.unhealthy_threshold, DEFAULT_UNHEALTHY_THRESHOLD),
        healthy_threshold: threshold(conf.healthy_threshold, DEFAULT_HEALTHY_THRESHOLD),
        initial_jitter: nanos(conf.initial_jitter.as_ref()).map(duration),
        interval_jitter: nanos(conf.interval_jitter.as_ref()).map(duration),
        interval_jitter_percent: conf
            .interval_jitter_percent
            .map(|p| u32::try_from(p.max(0)).unwrap_or(u32::MAX))
            .unwrap_or(0),
        event_logger: conf
            .event_log_path
            .iter()
            .map(|path| TypedExtensionConfig {
                name: EVENT_SINK_FILE.to_string(),
                typed_config: Some(any(HealthCheckEventFileSink { event_log_path: path.clone() })),
            })
            .collect(),
        always_log_health_check_failures: conf.always_log_health_check_failures.unwrap_or(false),
        no_traffic_interval: nanos(conf.no_traffic_interval.as_ref()).map(duration),
        reuse_connection: conf.reuse_connection.map(|value| BoolValue { value }),
        ..Default::default()
    }
}

fn http_checker(
    protocol: Protocol,
    http: Option<&HttpHealthCheck>,
    tags: &BTreeMap<String, BTreeSet<String>>,
) -> health_check::HealthChecker {
    let default = HttpHealthCheck::default();
    let http = http.unwrap_or(&default);
    let codec = if protocol == Protocol::Http2 { CodecClientType::Http2 } else { CodecClientType::Http1 };
    health_check::HealthChecker::HttpHealthCheck(health_check::HttpHealthCheck {
        path: http.path.clone().unwrap_or_else(|| DEFAULT_HTTP_PATH.to_string()),
        request_headers_to_add: request_headers(http.request_headers_to_add.as_ref(), tags),
        expected_statuses: http
            .expected_statuses
            .iter()
            .flatten()
            .map(|s| Int64Range { start: *s, end: s.saturating_add(1) })
            .collect(),
        codec_client_type: codec as i32,
        ..Default::default()
    })
}

/// Kuma's `tags.Serialize`: `&key=v1,v2&` per key, keys and values sorted.
fn serialize_tags(tags: &BTreeMap<String, BTreeSet<String>>) -> String {
    tags.iter()
        .map(|(k, vs)| format!("&{k}={}&", vs.iter().map(String::as_str).collect::<Vec<_>>().join(",")))
        .collect()
}

/// The client's tags, then `add` (appended), then `set` (overwriting); a
/// comma-separated value is one header per item, as Kuma splits it.
fn request_headers(
    headers: Option<&HeaderModifier>,
    tags: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<HeaderValueOption> {
    let mut out = Vec::new();
    if !tags.is_empty() {
        out.push(HeaderValueOption {
            header: Some(HeaderValue {
                key: TAGS_HEADER.to_string(),
                value: serialize_tags(tags),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    let actions = [
        (headers.and_then(|h| h.add.as_ref()), header_value_option::HeaderAppendAction::AppendIfExistsOrAdd),
        (headers.and_then(|h| h.set.as_ref()), header_value_option::HeaderAppendAction::OverwriteIfExistsOrAdd),
    ];
    for (list, action) in actions {
        for h in list.into_iter().flatten() {
            let name = h.name.clone().unwrap_or_default();
            for value in h.value.as_deref().unwrap_or_default().split(',') {
                out.push(HeaderValueOption {
                    header: Some(HeaderValue { key: name.clone(), value: value.to_string(), ..Default::default() }),
                    append_action: action as i32,
                    ..Default::default()
                });
            }
        }
    }
    out
}

fn grpc_checker(grpc: Option<&GrpcHealthCheck>) -> health_check::HealthChecker {
    health_check::HealthChecker::GrpcHealthCheck(health_check::GrpcHealthCheck {
        service_name: grpc.and_then(|g| g.service_name.clone()).unwrap_or_default(),
        authority: grpc.and_then(|g| g.authority.clone()).unwrap_or_default(),
        ..Default::default()
    })
}

/// Kuma hex-encodes the configured text as the payload (Envoy's `text` is hex).
fn tcp_checker(tcp: Option<&TcpHealthCheck>) -> health_check::HealthChecker {
    let payload = |s: &String| health_check::Payload { payload: Some(health_check::payload::Payload::Text(hex(s))) };
    health_check::HealthChecker::TcpHealthCheck(health_check::TcpHealthCheck {
        send: tcp.and_then(|t| t.send.as_ref()).map(payload),
        receive: tcp.and_then(|t| t.receive.as_ref()).into_iter().flatten().map(payload).collect(),
        ..Default::default()
    })
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::cluster::v3::Cluster;
    use serde_json::json;

    fn conf(v: serde_json::Value) -> Conf {
        serde_json::from_value(v).expect("conf")
    }

    #[test]
    fn checker_follows_the_protocol_with_tcp_fallback() {
        let all = conf(json!({"http": {}, "grpc": {}, "tcp": {}}));
        assert_eq!(select(Protocol::Http, &all), Some(Checker::Http));
        assert_eq!(select(Protocol::Http2, &all), Some(Checker::Http));
        assert_eq!(select(Protocol::Grpc, &all), Some(Checker::Grpc));
        assert_eq!(select(Protocol::Tcp, &all), Some(Checker::Tcp));
        assert_eq!(select(Protocol::Kafka, &all), None);
        let http_off = conf(json!({"http": {"disabled": true}, "tcp": {}}));
        assert_eq!(select(Protocol::Http, &http_off), Some(Checker::Tcp));
        // Disabled with no TCP checker to fall back to: no health check (Kuma's golden).
        assert_eq!(select(Protocol::Http, &conf(json!({"http": {"disabled": true}}))), None);
        // Only a TCP checker for an HTTP destination: none (fallback needs http disabled).
        assert_eq!(select(Protocol::Http, &conf(json!({"tcp": {}}))), None);
        assert_eq!(select(Protocol::Grpc, &conf(json!({"grpc": {"disabled": true}, "tcp": {}}))), Some(Checker::Tcp));
    }

    #[test]
    fn every_field_maps() {
        let c = conf(json!({
            "interval": "10s", "timeout": "2s", "unhealthyThreshold": 3, "healthyThreshold": 1,
            "initialJitter": "13s", "intervalJitter": "15s", "intervalJitterPercent": 10,
            "healthyPanicThreshold": "62.9", "failTrafficOnPanic": true, "noTrafficInterval": "16s",
            "eventLogPath": "/tmp/log.txt", "alwaysLogHealthCheckFailures": true, "reuseConnection": true,
            "http": {"path": "/health", "expectedStatuses": [200, 201],
                "requestHeadersToAdd": {"add": [{"name": "x-some-header", "value": "a,b"}],
                    "set": [{"name": "x-other", "value": "v"}]}}
        }));
        let tags = BTreeMap::from([("kuma.io/service".to_string(), BTreeSet::from(["web".to_string()]))]);
        let mut cluster = Cluster::default();
        apply(&c, Protocol::Http, &tags, &mut cluster);
        let lb = cluster.common_lb_config.expect("lb");
        assert_eq!(lb.healthy_panic_threshold, Some(Percent { value: 62.9 }));
        assert!(matches!(
            lb.locality_config_specifier,
            Some(common_lb_config::LocalityConfigSpecifier::ZoneAwareLbConfig(z)) if z.fail_traffic_on_panic
        ));
        let hc = &cluster.health_checks[0];
        assert_eq!(hc.interval, Some(duration(10_000_000_000)));
        assert_eq!(hc.interval_jitter_percent, 10);
        assert_eq!(hc.event_logger[0].name, EVENT_SINK_FILE);
        assert_eq!(hc.reuse_connection, Some(BoolValue { value: true }));
        let Some(health_check::HealthChecker::HttpHealthCheck(http)) = &hc.health_checker else {
            panic!("http checker")
        };
        assert_eq!(http.path, "/health");
        assert_eq!(http.expected_statuses[1], Int64Range { start: 201, end: 202 });
        let headers: Vec<(String, String)> = http
            .request_headers_to_add
            .iter()
            .filter_map(|h| h.header.as_ref().map(|h| (h.key.clone(), h.value.clone())))
            .collect();
        assert_eq!(headers[0], (TAGS_HEADER.to_string(), "&kuma.io/service=web&".to_string()));
        assert_eq!(headers.len(), 4, "{headers:?}");
        assert_eq!(http.codec_client_type, CodecClientType::Http1 as i32);
    }

    #[test]
    fn defaults_and_tcp_payloads() {
        let mut cluster = Cluster::default();
        apply(
            &conf(json!({"tcp": {"send": "ping", "receive": ["pong"]}})),
            Protocol::Tcp,
            &BTreeMap::new(),
            &mut cluster,
        );
        let hc = &cluster.health_checks[0];
        assert_eq!(hc.interval, Some(duration(DEFAULT_INTERVAL_NANOS)));
        assert_eq!(hc.timeout, Some(duration(DEFAULT_TIMEOUT_NANOS)));
        assert_eq!(hc.unhealthy_threshold, Some(UInt32Value { value: 5 }));
        assert_eq!(hc.healthy_threshold, Some(UInt32Value { value: 1 }));
        let Some(health_check::HealthChecker::TcpHealthCheck(tcp)) = &hc.health_checker else { panic!("tcp") };
        assert_eq!(
            tcp.send.as_ref().and_then(|p| p.payload.clone()),
            Some(health_check::payload::Payload::Text("70696e67".into()))
        );
        assert_eq!(tcp.receive.len(), 1);
        assert!(cluster.common_lb_config.is_none());
    }

    #[test]
    fn tags_serialize_like_kuma() {
        let tags = BTreeMap::from([
            ("b".to_string(), BTreeSet::from(["2".to_string(), "1".to_string()])),
            ("a".to_string(), BTreeSet::from(["x".to_string()])),
        ]);
        assert_eq!(serialize_tags(&tags), "&a=x&&b=1,2&");
    }
}
