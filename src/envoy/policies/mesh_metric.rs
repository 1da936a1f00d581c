//! MeshMetric (reference §5.11): what a stock Envoy can do of it, statically.
//!
//! Kuma serves metrics through kuma-dp: the Prometheus listener
//! (`_kuma:metrics:prometheus:<clientId|default-backend>`) forwards to kuma-dp's
//! metrics hijacker (`_kuma:metrics:hijacker`, a unix socket), which scrapes
//! Envoy and the applications, applies the profiles and selectors, and pushes
//! OpenTelemetry. Without kuma-dp, meshc keeps Kuma's listener and cluster
//! names but points the cluster at Envoy's own admin listener and rewrites the
//! path to `/stats/prometheus` (`?usedonly` unless `includeUnused`); profiles
//! and selectors become the bootstrap's `stats_config.stats_matcher`; an
//! OpenTelemetry backend becomes an `envoy.stat_sinks.open_telemetry` stats sink
//! pushing to `_kuma:metrics:opentelemetry:<endpoint>` every `refreshInterval`.
//! Application metrics (`applications`) need kuma-dp and are not compiled.

use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
use envoy_types::pb::envoy::config::core::v3::{CidrRange, GrpcService, TrafficDirection, grpc_service};
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::config::metrics::v3::{StatsConfig, StatsMatcher, StatsSink, stats_matcher, stats_sink};
use envoy_types::pb::envoy::config::route::v3::{
    Route, RouteAction, RouteConfiguration, RouteMatch, VirtualHost, route, route_action, route_match,
};
use envoy_types::pb::envoy::extensions::filters::http::router::v3::Router;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::{
    HttpConnectionManager, http_connection_manager,
};
use envoy_types::pb::envoy::extensions::stat_sinks::open_telemetry::v3::{SinkConfig, sink_config};
use envoy_types::pb::envoy::r#type::matcher::v3::{ListStringMatcher, RegexMatcher, StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::{BoolValue, Duration, UInt32Value};

use super::super::parts::{Chain, ListenerParts, ROUTER, Terminal, http_filter};
use super::super::proto::{any, sanitize, socket};
use super::Configurer;
use super::mesh_trace::{endpoint_host_port, http2_options, provided_endpoint_cluster};
use crate::model::Kind;
use crate::model::choice::Choice;
use crate::model::policy::mesh_metric::{BackendType, Conf, ProfileName, Selector, SelectorType};
use crate::plan::ProxyPlan;
use crate::rules::effective::{Condition, Effective};

/// Kuma's Prometheus listener name, before `:<clientId>`.
pub const PROMETHEUS_LISTENER: &str = "_kuma:metrics:prometheus";
/// The name of a Prometheus backend without `clientId`.
const DEFAULT_BACKEND: &str = "default-backend";
/// Kuma's metrics cluster name (kuma-dp's hijacker there, Envoy's admin here).
pub const METRICS_CLUSTER: &str = "_kuma:metrics:hijacker";
/// Kuma's OpenTelemetry metrics cluster name, before `:<backend name>`.
pub const OTEL_CLUSTER: &str = "_kuma:metrics:opentelemetry";
/// Envoy's Prometheus exposition on its admin listener.
const ADMIN_PROMETHEUS_PATH: &str = "/stats/prometheus";
const OTEL_GRPC_PORT: u32 = 4317;
/// Kuma's default `refreshInterval` of an OpenTelemetry backend.
const DEFAULT_REFRESH_SECS: i64 = 60;
const OTEL_SINK: &str = "envoy.stat_sinks.open_telemetry";
/// Where the Prometheus listener binds when the Dataplane has no inbound to take its address from.
const ANY_ADDRESS: &str = "0.0.0.0";

/// MeshMetric's configurer.
pub struct MeshMetric;

impl Configurer for MeshMetric {
    fn kind(&self) -> Kind {
        Kind::MeshMetric
    }

    fn bootstrap(&self, plan: &ProxyPlan, confs: &[&Effective], bootstrap: &mut Bootstrap) {
        let Some(e) = confs.iter().find(|e| e.condition == Condition::All) else { return };
        let Ok(conf) = serde_json::from_value::<Conf>(e.conf.clone()) else { return };
        let backends = conf.backends.as_deref().unwrap_or_default();
        // Kuma configures nothing without a backend.
        if backends.is_empty() {
            return;
        }
        let include_unused = conf.sidecar.as_ref().and_then(|s| s.include_unused).unwrap_or(false);
        let mut listeners = Vec::new();
        let mut clusters = Vec::new();
        let mut sinks = Vec::new();
        let mut flush: Option<Duration> = None;
        for backend in backends {
            match (backend.type_.as_ref().and_then(Choice::known), &backend.prometheus, &backend.open_telemetry) {
                (Some(BackendType::Prometheus), Some(p), _) => {
                    let name = format!("{PROMETHEUS_LISTENER}:{}", p.client_id.as_deref().unwrap_or(DEFAULT_BACKEND));
                    let Ok(port) = u32::try_from(p.port) else { continue };
                    listeners.push(prometheus_listener(plan, &name, port, &p.path, include_unused));
                    if !clusters
                        .iter()
                        .any(|c: &envoy_types::pb::envoy::config::cluster::v3::Cluster| c.name == METRICS_CLUSTER)
                    {
                        clusters.push(provided_endpoint_cluster(METRICS_CLUSTER, "127.0.0.1", plan.admin_port));
                    }
                }
                (Some(BackendType::OpenTelemetry), _, Some(o)) if !o.endpoint.is_empty() => {
                    let Some((host, port)) = endpoint_host_port(&o.endpoint, Some(OTEL_GRPC_PORT)) else { continue };
                    let name = format!("{OTEL_CLUSTER}:{}", o.endpoint.replace('/', "").replace(':', "-"));
                    let mut cluster = provided_endpoint_cluster(&name, &host, port);
                    cluster.typed_extension_protocol_options.insert(
                        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions".to_string(),
                        any(http2_options()),
                    );
                    clusters.push(cluster);
                    sinks.push(otel_sink(&name));
                    let every = o.refresh_interval.as_ref().and_then(|d| d.nanos()).map(nanos_duration);
                    // One flush interval per Envoy: the shortest asked for.
                    let every = every.unwrap_or(Duration { seconds: DEFAULT_REFRESH_SECS, nanos: 0 });
                    if flush.as_ref().is_none_or(|f| (every.seconds, every.nanos) < (f.seconds, f.nanos)) {
                        flush = Some(every);
                    }
                }
                _ => {}
            }
        }
        if let Some(resources) = bootstrap.static_resources.as_mut() {
            resources.listeners.extend(listeners);
            for c in clusters {
                if !resources.clusters.iter().any(|x| x.name == c.name) {
                    resources.clusters.push(c);
                }
            }
        }
        bootstrap.stats_sinks.extend(sinks);
        if flush.is_some() {
            bootstrap.stats_flush_interval = flush;
        }
        if let Some(matcher) = conf.sidecar.as_ref().and_then(|s| s.profiles.as_ref()).and_then(stats_matcher) {
            bootstrap.stats_config.get_or_insert_with(StatsConfig::default).stats_matcher = Some(matcher);
        }
    }
}

fn nanos_duration(n: i128) -> Duration {
    let n = n.max(0);
    Duration { seconds: i64::try_from(n / 1_000_000_000).unwrap_or(i64::MAX), nanos: (n % 1_000_000_000) as i32 }
}

/// The Prometheus listener: `path` (prefix) rewritten to Envoy's admin
/// exposition, on the Dataplane's address (its first inbound's).
fn prometheus_listener(plan: &ProxyPlan, name: &str, port: u32, path: &str, include_unused: bool) -> Listener {
    let address = plan.inbounds.first().map(|i| i.address.as_str()).unwrap_or(ANY_ADDRESS);
    let rewrite =
        if include_unused { ADMIN_PROMETHEUS_PATH.to_string() } else { format!("{ADMIN_PROMETHEUS_PATH}?usedonly") };
    let route = Route {
        r#match: Some(RouteMatch {
            path_specifier: Some(route_match::PathSpecifier::Prefix(path.to_string())),
            ..Default::default()
        }),
        action: Some(route::Action::Route(RouteAction {
            cluster_specifier: Some(route_action::ClusterSpecifier::Cluster(METRICS_CLUSTER.to_string())),
            prefix_rewrite: rewrite,
            ..Default::default()
        })),
        ..Default::default()
    };
    let hcm = HttpConnectionManager {
        stat_prefix: sanitize(name),
        http_filters: vec![http_filter(ROUTER, Router::default())],
        route_specifier: Some(http_connection_manager::RouteSpecifier::RouteConfig(RouteConfiguration {
            validate_clusters: Some(BoolValue { value: false }),
            virtual_hosts: vec![VirtualHost {
                name: name.to_string(),
                domains: vec!["*".to_string()],
                routes: vec![route],
                ..Default::default()
            }],
            ..Default::default()
        })),
        internal_address_config: Some(http_connection_manager::InternalAddressConfig {
            cidr_ranges: vec![CidrRange {
                address_prefix: "127.0.0.1".to_string(),
                prefix_len: Some(UInt32Value { value: 32 }),
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    let listener = Listener {
        name: name.to_string(),
        address: Some(socket(address, port)),
        enable_reuse_port: Some(BoolValue { value: true }),
        traffic_direction: TrafficDirection::Inbound as i32,
        ..Default::default()
    };
    ListenerParts::new(listener, vec![Chain::new(Terminal::Http(Box::new(hcm)))]).encode()
}

fn otel_sink(cluster: &str) -> StatsSink {
    let config = SinkConfig {
        protocol_specifier: Some(sink_config::ProtocolSpecifier::GrpcService(GrpcService {
            target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(grpc_service::EnvoyGrpc {
                cluster_name: cluster.to_string(),
                ..Default::default()
            })),
            ..Default::default()
        })),
        ..Default::default()
    };
    StatsSink { name: OTEL_SINK.to_string(), config_type: Some(stats_sink::ConfigType::TypedConfig(any(config))) }
}

/// The profiles as Envoy's stats matcher, which decides which stats exist at
/// all. A profile of `None` only keeps `include`d stats (none: every stat is
/// rejected); `All` and `Basic` (kuma-dp's curated list, not reproduced) keep
/// every stat but the `exclude`d ones. Envoy takes an inclusion or an
/// exclusion list, not both, so `include` does not win back stats `exclude`
/// removes under `All`/`Basic`. `None` when nothing is filtered.
fn stats_matcher(profiles: &crate::model::policy::mesh_metric::Profiles) -> Option<StatsMatcher> {
    let names: Vec<ProfileName> =
        profiles.append_profiles.iter().flatten().filter_map(|p| p.name.as_ref().and_then(Choice::known)).collect();
    let only_none = !names.is_empty() && names.iter().all(|n| *n == ProfileName::None);
    let list = |selectors: &Option<Vec<Selector>>| -> Vec<StringMatcher> {
        selectors.iter().flatten().filter_map(string_matcher).collect()
    };
    let matcher = if only_none {
        let include = list(&profiles.include);
        if include.is_empty() {
            stats_matcher::StatsMatcher::RejectAll(true)
        } else {
            stats_matcher::StatsMatcher::InclusionList(ListStringMatcher { patterns: include })
        }
    } else {
        let exclude = list(&profiles.exclude);
        if exclude.is_empty() {
            return None;
        }
        stats_matcher::StatsMatcher::ExclusionList(ListStringMatcher { patterns: exclude })
    };
    Some(StatsMatcher { stats_matcher: Some(matcher) })
}

/// Between two words of a Prometheus name: `_`, or in the stat name `.`,
/// `_` or a tag value Envoy moves into a label (`.<cluster name>.`).
const WORD_GAP: &str = r"(?:[._]|\..+\.)";

/// A selector of Prometheus metric names as a matcher of Envoy stat names.
/// Envoy's Prometheus name of a stat is `envoy_` + the stat name with `.` as
/// `_`, minus the tag values it extracts into labels (a cluster's name, an
/// HCM's stat prefix): so the selector drops a leading `envoy_` and each `_`
/// in it matches [`WORD_GAP`]. Tags Envoy takes off the end of a name (a
/// response code: `upstream_rq_200` is `upstream_rq`) are not undone, so
/// `Exact` selectors of such families need `Prefix`. Envoy matches the whole
/// stat name (RE2).
fn string_matcher(s: &Selector) -> Option<StringMatcher> {
    let body = |literal: &str| -> String {
        let literal = literal.strip_prefix("envoy_").unwrap_or(literal);
        literal.split('_').map(regex::escape).collect::<Vec<_>>().join(WORD_GAP)
    };
    let regex = match s.type_.as_ref().and_then(Choice::known)? {
        SelectorType::Exact => body(&s.match_),
        SelectorType::Prefix => format!("{}.*", body(&s.match_)),
        SelectorType::Contains => format!(".*{}.*", body(&s.match_)),
        SelectorType::Regex => format!(".*(?:{}).*", regex_on_stat_names(&s.match_)),
    };
    Some(StringMatcher {
        match_pattern: Some(string_matcher::MatchPattern::SafeRegex(RegexMatcher { regex, ..Default::default() })),
        ..Default::default()
    })
}

/// A regex of Prometheus names as one of stat names: a leading `envoy_`
/// (after an optional `^`) is dropped, and every `_` outside a character
/// class and not escaped matches [`WORD_GAP`].
fn regex_on_stat_names(re: &str) -> String {
    let (anchor, rest) = match re.strip_prefix('^') {
        Some(r) => ("^", r),
        None => ("", re),
    };
    let rest = rest.strip_prefix("envoy_").unwrap_or(rest);
    let mut out = String::from(anchor);
    let (mut escaped, mut in_class) = (false, false);
    for c in rest.chars() {
        match c {
            _ if escaped => {
                escaped = false;
                out.push(c);
            }
            '\\' => {
                escaped = true;
                out.push(c);
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '_' if !in_class => out.push_str(WORD_GAP),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn selector(t: &str, m: &str) -> Selector {
        serde_json::from_value(json!({"type": t, "match": m})).unwrap()
    }

    fn regex_of(m: Option<StringMatcher>) -> String {
        match m.and_then(|m| m.match_pattern) {
            Some(string_matcher::MatchPattern::SafeRegex(r)) => r.regex,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn selectors_read_stat_names() {
        let g = WORD_GAP;
        assert_eq!(regex_of(string_matcher(&selector("Exact", "envoy_server_live"))), format!("server{g}live"));
        assert_eq!(regex_of(string_matcher(&selector("Prefix", "envoy_cluster_"))), format!("cluster{g}.*"));
        assert_eq!(regex_of(string_matcher(&selector("Contains", "rq_5xx"))), format!(".*rq{g}5xx.*"));
        assert_eq!(regex_on_stat_names(r"^envoy_a\_b[_x]_c"), format!(r"^a\_b[_x]{g}c"));
        let full = |re: &str, name: &str| regex::Regex::new(&format!("^(?:{re})$")).unwrap().is_match(name);
        let exact = regex_of(string_matcher(&selector("Exact", "envoy_cluster_upstream_rq_total")));
        assert!(full(&exact, "cluster.localhost_8080.upstream_rq_total"), "{exact}");
        assert!(full(&exact, "cluster.upstream_rq_total"));
        assert!(!full(&exact, "cluster.x.upstream_rq_time"));
        let re = regex_of(string_matcher(&selector("Regex", "envoy_cluster_external_upstream_rq_.*")));
        assert!(full(&re, "cluster.web.external.upstream_rq_200"), "{re}");
        for s in ["Exact", "Prefix", "Contains"] {
            let re = regex_of(string_matcher(&selector(s, "envoy_a.b_(c)")));
            assert!(regex::Regex::new(&re).is_ok(), "{re}");
        }
    }

    #[test]
    fn none_profile_without_include_rejects_all() {
        let p = serde_json::from_value(json!({"appendProfiles": [{"name": "None"}]})).unwrap();
        assert_eq!(stats_matcher(&p).unwrap().stats_matcher, Some(stats_matcher::StatsMatcher::RejectAll(true)));
        let all = serde_json::from_value(json!({"appendProfiles": [{"name": "All"}]})).unwrap();
        assert!(stats_matcher(&all).is_none());
    }
}
