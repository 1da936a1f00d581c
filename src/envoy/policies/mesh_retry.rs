//! MeshRetry (reference §5.2): the merged conf of an outbound becomes the
//! `retry_policy` of every route of its listener (the `http` conf for `http`
//! destinations, the `grpc` conf for `grpc` ones) or, for `tcp` destinations,
//! the TCP proxy's `max_connect_attempts`. As in Kuma's
//! `meshretry/plugin/xds/configurer.go`, `http2` destinations get no retry
//! policy, and `numRetries: 0` means no retry policy at all (Envoy's default:
//! no retries). Kuma's default mesh policy (`mesh-retry-all-<mesh>`, applied by
//! the rules stage) gives every outbound one.
//!
//! A MeshHTTPRoute's own conf (`Condition::Route`, complete: the rules stage
//! merged what applies to the route into it) replaces the outbound's on that
//! route's Envoy routes, as Kuma looks the route's KRI up before the outbound's.

use envoy_types::pb::envoy::config::core::v3::Metadata;
use envoy_types::pb::envoy::config::route::v3::{HeaderMatcher, RetryPolicy, header_matcher, retry_policy};
use envoy_types::pb::envoy::extensions::retry::host::omit_host_metadata::v3::OmitHostMetadataConfig;
use envoy_types::pb::envoy::extensions::retry::host::previous_hosts::v3::PreviousHostsPredicate;
use envoy_types::pb::envoy::extensions::retry::priority::previous_priorities::v3::PreviousPrioritiesConfig;
use envoy_types::pb::envoy::r#type::matcher::v3::{RegexMatcher, StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::UInt32Value;

use super::super::parts::{ListenerParts, route_action, route_conf};
use super::super::proto::{any, metadata};
use super::mesh_timeout::duration;
use super::{At, Configurer, Place};
use crate::model::Kind;
use crate::model::common::Duration;
use crate::model::policy::mesh_retry::{
    BackOff, Conf, Grpc, GrpcRetryOn, HeaderMatch, HeaderMatchType, Http, Predicate, PredicateType, RateLimitFormat,
    RateLimitedBackOff,
};
use crate::rules::effective::{Condition, Effective};
use crate::world::Protocol;

/// Envoy's `retry_on` when an HTTP conf lists no condition (Kuma's `HttpRetryOnDefault`).
pub const HTTP_RETRY_ON_DEFAULT: &str = "gateway-error,connect-failure,refused-stream";
/// Envoy's `retry_on` when a gRPC conf lists no condition (Kuma's `GrpcRetryOnDefault`).
pub const GRPC_RETRY_ON_DEFAULT: &str =
    "cancelled,connect-failure,gateway-error,refused-stream,reset,resource-exhausted,unavailable";
/// Added to `retry_on` when status codes are retriable.
const RETRIABLE_STATUS_CODES: &str = "retriable-status-codes";
const METHOD_PREFIX: &str = "HttpMethod";

const PREVIOUS_HOSTS: &str = "envoy.retry_host_predicates.previous_hosts";
const OMIT_HOST_METADATA: &str = "envoy.retry_host_predicates.omit_host_metadata";
const PREVIOUS_PRIORITIES: &str = "envoy.retry_priorities.previous_priorities";

/// MeshRetry's configurer.
pub struct MeshRetry;

impl Configurer for MeshRetry {
    fn kind(&self) -> Kind {
        Kind::MeshRetry
    }

    fn listener(&self, place: &Place, confs: &[&Effective], listener: &mut ListenerParts) {
        let At::Outbound(outbound) = place.at else { return };
        if let Some(conf) = all_traffic(confs) {
            apply(&conf, outbound.protocol, listener);
        }
        for r in listener.routes() {
            let Some(e) = route_conf(outbound, confs, r) else { continue };
            let Ok(conf) = serde_json::from_value::<Conf>(e.conf.clone()) else { continue };
            // Kuma leaves a route whose conf makes no retry policy as it was.
            if let (Some(policy), Some(action)) = (retry_policy(&conf, outbound.protocol), route_action(r)) {
                action.retry_policy = Some(policy);
            }
        }
    }
}

/// The conf for all traffic of a place: `Condition::All`, or a legacy `to`
/// rule whose subset is everything. Confs parsed leniently: an unreadable one
/// (validation reported it) applies nothing.
fn all_traffic(confs: &[&Effective]) -> Option<Conf> {
    let e = confs.iter().find(|e| match &e.condition {
        Condition::All => true,
        Condition::Subset { tags, .. } => tags.is_empty(),
        Condition::Match(_) | Condition::Route(_) => false,
    })?;
    serde_json::from_value(e.conf.clone()).ok()
}

/// Apply a conf to an outbound listener of `protocol`.
pub fn apply(conf: &Conf, protocol: Protocol, listener: &mut ListenerParts) {
    if protocol == Protocol::Tcp {
        if let Some(attempts) = conf.tcp.as_ref().and_then(|t| t.max_connect_attempt) {
            for t in listener.tcp_proxies() {
                t.max_connect_attempts = Some(UInt32Value { value: clamp_u32(attempts) });
            }
        }
        return;
    }
    let Some(policy) = retry_policy(conf, protocol) else { return };
    for r in listener.routes() {
        if let Some(action) = route_action(r) {
            action.retry_policy = Some(policy.clone());
        }
    }
}

/// The route retry policy of a conf for an outbound of `protocol` (`None`: no
/// retry policy; only `http` and `grpc` have one, as in Kuma).
pub fn retry_policy(conf: &Conf, protocol: Protocol) -> Option<RetryPolicy> {
    match protocol {
        Protocol::Http => conf.http.as_ref().and_then(http_policy),
        Protocol::Grpc => conf.grpc.as_ref().and_then(grpc_policy),
        Protocol::Http2 | Protocol::Tcp | Protocol::Kafka => None,
    }
}

fn http_policy(http: &Http) -> Option<RetryPolicy> {
    let mut p = base_policy(HTTP_RETRY_ON_DEFAULT, http.num_retries, http.per_try_timeout.as_ref())?;
    p.retry_back_off = http.back_off.as_ref().map(back_off);
    p.rate_limited_retry_back_off = http.rate_limited_back_off.as_ref().map(rate_limited_back_off);
    let split = split_retry_on(http.retry_on.as_deref().unwrap_or_default());
    if !split.retry_on.is_empty() {
        p.retry_on = split.retry_on;
    }
    if !split.status_codes.is_empty() {
        p.retriable_status_codes = split.status_codes;
        if !p.retry_on.split(',').any(|r| r == RETRIABLE_STATUS_CODES) {
            p.retry_on.push(',');
            p.retry_on.push_str(RETRIABLE_STATUS_CODES);
        }
    }
    p.retriable_request_headers = split.methods.iter().map(|m| exact(":method", m)).collect();
    p.retriable_request_headers.extend(http.retriable_request_headers.iter().flatten().map(header_matcher));
    p.retriable_headers = http.retriable_response_headers.iter().flatten().map(header_matcher).collect();
    if let Some(predicates) = &http.host_selection {
        host_selection(predicates, &mut p);
    }
    if let Some(n) = http.host_selection_max_attempts {
        p.host_selection_retry_max_attempts = n;
    }
    Some(p)
}

fn grpc_policy(grpc: &Grpc) -> Option<RetryPolicy> {
    let mut p = base_policy(GRPC_RETRY_ON_DEFAULT, grpc.num_retries, grpc.per_try_timeout.as_ref())?;
    let retry_on: Vec<&str> = grpc.retry_on.iter().flatten().filter_map(|c| c.known()).map(grpc_retry_on).collect();
    if !retry_on.is_empty() {
        p.retry_on = retry_on.join(",");
    }
    p.retry_back_off = grpc.back_off.as_ref().map(back_off);
    p.rate_limited_retry_back_off = grpc.rate_limited_back_off.as_ref().map(rate_limited_back_off);
    Some(p)
}

/// The fields HTTP and gRPC share; `None` when `numRetries` is 0 (no retries).
fn base_policy(retry_on: &str, num_retries: Option<i64>, per_try_timeout: Option<&Duration>) -> Option<RetryPolicy> {
    if num_retries == Some(0) {
        return None;
    }
    Some(RetryPolicy {
        retry_on: retry_on.to_string(),
        num_retries: num_retries.map(|n| UInt32Value { value: clamp_u32(n) }),
        per_try_timeout: per_try_timeout.and_then(Duration::nanos).map(duration),
        ..Default::default()
    })
}

fn back_off(b: &BackOff) -> retry_policy::RetryBackOff {
    retry_policy::RetryBackOff {
        base_interval: b.base_interval.as_ref().and_then(Duration::nanos).map(duration),
        max_interval: b.max_interval.as_ref().and_then(Duration::nanos).map(duration),
    }
}

fn rate_limited_back_off(r: &RateLimitedBackOff) -> retry_policy::RateLimitedRetryBackOff {
    retry_policy::RateLimitedRetryBackOff {
        reset_headers: r
            .reset_headers
            .iter()
            .flatten()
            .map(|h| retry_policy::ResetHeader {
                name: h.name.clone().unwrap_or_default(),
                format: match h.format.as_ref().and_then(|f| f.known()) {
                    Some(RateLimitFormat::UnixTimestamp) => retry_policy::ResetHeaderFormat::UnixTimestamp as i32,
                    _ => retry_policy::ResetHeaderFormat::Seconds as i32,
                },
            })
            .collect(),
        max_interval: r.max_interval.as_ref().and_then(Duration::nanos).map(duration),
    }
}

/// An HTTP `retryOn` list, split as Kuma splits it.
#[derive(Debug, Default, PartialEq)]
struct RetryOn {
    /// Envoy's comma-separated conditions (`5xx,reset`).
    retry_on: String,
    /// Status codes (`503`): `retriable_status_codes`.
    status_codes: Vec<u32>,
    /// HTTP methods (`HttpMethodGet` -> `GET`): `retriable_request_headers` on `:method`.
    methods: Vec<String>,
}

/// Kuma's `splitRetryOn`: a status code Go knows is retriable, `HttpMethodX`
/// is a method, every other item an Envoy condition (PascalCase to Envoy's
/// hyphenated name). Unknown items were reported by validation; they are skipped.
fn split_retry_on(items: &[String]) -> RetryOn {
    let mut out = RetryOn::default();
    let mut conditions = Vec::new();
    for item in items {
        if let Ok(code) = item.parse::<u32>() {
            if crate::model::policy::mesh_retry::is_known_status(i64::from(code)) {
                out.status_codes.push(code);
            }
        } else if let Some(method) = item.strip_prefix(METHOD_PREFIX) {
            out.methods.push(method.to_ascii_uppercase());
        } else if let Some(c) = http_retry_on(item) {
            conditions.push(c);
        }
    }
    out.retry_on = conditions.join(",");
    out
}

/// Kuma's `HttpRetryOnEnumToEnvoyValue` for the conditions.
fn http_retry_on(item: &str) -> Option<&'static str> {
    Some(match item {
        "5xx" => "5xx",
        "GatewayError" => "gateway-error",
        "Reset" => "reset",
        "Retriable4xx" => "retriable-4xx",
        "ConnectFailure" => "connect-failure",
        "EnvoyRatelimited" => "envoy-ratelimited",
        "RefusedStream" => "refused-stream",
        "Http3PostConnectFailure" => "http3-post-connect-failure",
        _ => return None,
    })
}

/// Kuma's `GrpcRetryOnEnumToEnvoyValue`.
fn grpc_retry_on(c: GrpcRetryOn) -> &'static str {
    match c {
        GrpcRetryOn::Canceled => "cancelled",
        GrpcRetryOn::DeadlineExceeded => "deadline-exceeded",
        GrpcRetryOn::Internal => "internal",
        GrpcRetryOn::ResourceExhausted => "resource-exhausted",
        GrpcRetryOn::Unavailable => "unavailable",
    }
}

fn string_match(name: &str, pattern: string_matcher::MatchPattern) -> HeaderMatcher {
    HeaderMatcher {
        name: name.to_string(),
        header_match_specifier: Some(header_matcher::HeaderMatchSpecifier::StringMatch(StringMatcher {
            match_pattern: Some(pattern),
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn exact(name: &str, value: &str) -> HeaderMatcher {
    string_match(name, string_matcher::MatchPattern::Exact(value.to_string()))
}

/// Kuma's `headerMatcher` (type Exact when unset).
fn header_matcher(h: &HeaderMatch) -> HeaderMatcher {
    let name = h.name.as_deref().unwrap_or_default();
    let value = h.value.clone().unwrap_or_default();
    match h.type_.known().unwrap_or(HeaderMatchType::Exact) {
        HeaderMatchType::Exact => exact(name, &value),
        HeaderMatchType::Prefix => string_match(name, string_matcher::MatchPattern::Prefix(value)),
        HeaderMatchType::RegularExpression => string_match(
            name,
            string_matcher::MatchPattern::SafeRegex(RegexMatcher { regex: value, ..Default::default() }),
        ),
        HeaderMatchType::Present | HeaderMatchType::Absent => HeaderMatcher {
            name: name.to_string(),
            header_match_specifier: Some(header_matcher::HeaderMatchSpecifier::PresentMatch(
                h.type_.known() == Some(HeaderMatchType::Present),
            )),
            ..Default::default()
        },
    }
}

/// Host selection predicates, in order; `OmitPreviousPriorities` is the retry priority.
fn host_selection(predicates: &[Predicate], p: &mut RetryPolicy) {
    for predicate in predicates {
        match predicate.predicate.as_ref().and_then(|c| c.known()) {
            Some(PredicateType::OmitPreviousHosts) => p.retry_host_predicate.push(retry_policy::RetryHostPredicate {
                name: PREVIOUS_HOSTS.to_string(),
                config_type: Some(retry_policy::retry_host_predicate::ConfigType::TypedConfig(any(
                    PreviousHostsPredicate::default(),
                ))),
            }),
            Some(PredicateType::OmitHostsWithTags) => {
                let tags = predicate.tags.clone().unwrap_or_default();
                let config = OmitHostMetadataConfig { metadata_match: Some(lb_metadata(&tags)) };
                p.retry_host_predicate.push(retry_policy::RetryHostPredicate {
                    name: OMIT_HOST_METADATA.to_string(),
                    config_type: Some(retry_policy::retry_host_predicate::ConfigType::TypedConfig(any(config))),
                });
            }
            Some(PredicateType::OmitPreviousPriorities) => {
                let config = PreviousPrioritiesConfig {
                    update_frequency: i32::try_from(predicate.update_frequency).unwrap_or(i32::MAX),
                };
                p.retry_priority = Some(retry_policy::RetryPriority {
                    name: PREVIOUS_PRIORITIES.to_string(),
                    config_type: Some(retry_policy::retry_priority::ConfigType::TypedConfig(any(config))),
                });
            }
            None => {}
        }
    }
}

/// `filter_metadata["envoy.lb"]` = the tags (Kuma's `envoy_meta.LbMetadata`).
fn lb_metadata(tags: &crate::model::common::StringMap) -> Metadata {
    metadata("envoy.lb", tags)
}

fn clamp_u32(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn conf(v: serde_json::Value) -> Conf {
        serde_json::from_value(v).expect("conf")
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn retry_on_splits_conditions_status_codes_and_methods() {
        let split = split_retry_on(&strings(&[
            "5xx",
            "GatewayError",
            "Reset",
            "Retriable4xx",
            "ConnectFailure",
            "EnvoyRatelimited",
            "RefusedStream",
            "Http3PostConnectFailure",
            "429",
            "HttpMethodGet",
            "HttpMethodPost",
            "999",
        ]));
        assert_eq!(
            split.retry_on,
            "5xx,gateway-error,reset,retriable-4xx,connect-failure,envoy-ratelimited,refused-stream,http3-post-connect-failure"
        );
        // 999 is no status Go knows: Kuma's validator rejects it, the mapping skips it.
        assert_eq!(split.status_codes, vec![429]);
        assert_eq!(split.methods, strings(&["GET", "POST"]));
    }

    #[test]
    fn status_codes_add_retriable_status_codes_once() {
        let p = retry_policy(&conf(json!({"http": {"retryOn": [503, "5xx"]}})), Protocol::Http).expect("policy");
        assert_eq!(p.retry_on, "5xx,retriable-status-codes");
        assert_eq!(p.retriable_status_codes, vec![503]);
        // Only codes: the default conditions stay, plus retriable-status-codes.
        let p = retry_policy(&conf(json!({"http": {"retryOn": ["503"]}})), Protocol::Http).expect("policy");
        assert_eq!(p.retry_on, format!("{HTTP_RETRY_ON_DEFAULT},retriable-status-codes"));
    }

    #[test]
    fn unset_retry_on_is_envoys_default_per_protocol() {
        let c = conf(json!({"http": {"numRetries": 2}, "grpc": {"numRetries": 3}}));
        assert_eq!(retry_policy(&c, Protocol::Http).map(|p| p.retry_on), Some(HTTP_RETRY_ON_DEFAULT.to_string()));
        let grpc = retry_policy(&c, Protocol::Grpc).expect("grpc");
        assert_eq!(grpc.retry_on, GRPC_RETRY_ON_DEFAULT);
        assert_eq!(grpc.num_retries, Some(UInt32Value { value: 3 }));
        // As in Kuma: no retry policy for http2 or tcp routes.
        assert_eq!(retry_policy(&c, Protocol::Http2), None);
        assert_eq!(retry_policy(&c, Protocol::Tcp), None);
    }

    #[test]
    fn zero_retries_means_no_policy() {
        assert_eq!(retry_policy(&conf(json!({"http": {"numRetries": 0, "retryOn": ["5xx"]}})), Protocol::Http), None);
        assert_eq!(retry_policy(&conf(json!({"grpc": {"numRetries": 0}})), Protocol::Grpc), None);
    }

    #[test]
    fn every_http_field_maps() {
        let c = conf(json!({"http": {
            "numRetries": 1,
            "perTryTimeout": "2s",
            "backOff": {"baseInterval": "3s", "maxInterval": "4m"},
            "rateLimitedBackOff": {"maxInterval": "5s", "resetHeaders": [
                {"name": "retry-after-http", "format": "Seconds"},
                {"name": "x-retry-after-http", "format": "UnixTimestamp"}]},
            "retryOn": ["5xx", "HttpMethodDelete"],
            "retriableResponseHeaders": [{"name": "x-retry-regex", "type": "RegularExpression", "value": ".*"}],
            "retriableRequestHeaders": [{"name": "x-retry-prefix", "type": "Prefix", "value": "prefix-"},
                {"name": "x-present", "type": "Present"}, {"name": "x-absent", "type": "Absent"}],
            "hostSelection": [{"predicate": "OmitPreviousHosts"},
                {"predicate": "OmitHostsWithTags", "tags": {"test": "test"}},
                {"predicate": "OmitPreviousPriorities", "updateFrequency": 3}],
            "hostSelectionMaxAttempts": 2
        }}));
        let p = retry_policy(&c, Protocol::Http).expect("policy");
        assert_eq!(p.num_retries, Some(UInt32Value { value: 1 }));
        assert_eq!(p.per_try_timeout, Some(duration(2_000_000_000)));
        let back_off = p.retry_back_off.expect("back off");
        assert_eq!(back_off.max_interval, Some(duration(240_000_000_000)));
        let rate = p.rate_limited_retry_back_off.expect("rate limited");
        assert_eq!(rate.reset_headers[1].format, retry_policy::ResetHeaderFormat::UnixTimestamp as i32);
        assert_eq!(rate.reset_headers[0].format, retry_policy::ResetHeaderFormat::Seconds as i32);
        assert_eq!(p.retry_on, "5xx");
        let names: Vec<&str> = p.retriable_request_headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, [":method", "x-retry-prefix", "x-present", "x-absent"]);
        assert_eq!(
            p.retriable_request_headers[3].header_match_specifier,
            Some(header_matcher::HeaderMatchSpecifier::PresentMatch(false))
        );
        assert_eq!(p.retriable_headers.len(), 1);
        let predicates: Vec<&str> = p.retry_host_predicate.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(predicates, [PREVIOUS_HOSTS, OMIT_HOST_METADATA]);
        assert_eq!(p.retry_priority.map(|r| r.name), Some(PREVIOUS_PRIORITIES.to_string()));
        assert_eq!(p.host_selection_retry_max_attempts, 2);
    }

    #[test]
    fn grpc_conditions_map_to_envoy_names() {
        let c = conf(
            json!({"grpc": {"retryOn": ["Canceled", "DeadlineExceeded", "Internal", "ResourceExhausted", "Unavailable"]}}),
        );
        let p = retry_policy(&c, Protocol::Grpc).expect("policy");
        assert_eq!(p.retry_on, "cancelled,deadline-exceeded,internal,resource-exhausted,unavailable");
        assert_eq!(p.num_retries, None);
    }
}
