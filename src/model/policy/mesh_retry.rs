//! MeshRetry (`pkg/plugins/policies/meshretry/`): retries of outbound TCP, HTTP and
//! gRPC traffic, per destination (`to`).

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::{From, Rule, To};
use crate::findings::codes;
use crate::kuma_enum;
use crate::model::choice::Choice;
use crate::model::common::envoy_limits;
use crate::model::common::{
    Duration, StringMap, TargetRef, TargetRefKind as K, TargetRefRules, validate_greater_than_zero_or_nil,
    validate_target_ref,
};
use crate::model::{KindSpec, PolicyRole, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// MeshRetry spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshRetry {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// Retry configuration per group of destinations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<To<Conf>>>,
}

/// Retry configuration for a group of destinations.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// Retries of TCP connections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<Tcp>,
    /// Retries of HTTP requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Http>,
    /// Retries of gRPC requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc: Option<Grpc>,
}

/// TCP retry configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Tcp {
    /// Maximal number of TCP connection attempts before giving up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connect_attempt: Option<i64>,
}

/// HTTP retry configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Http {
    /// Number of attempts made on failed (and retriable) requests (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_retries: Option<i64>,
    /// Time after which a retry attempt times out (0 disables; default: the route timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<Duration>,
    /// Exponential backoff between retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub back_off: Option<BackOff>,
    /// Backoff used when the upstream returns one of the configured reset headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limited_back_off: Option<RateLimitedBackOff>,
    /// Conditions causing a retry: 5xx, GatewayError, Reset, Retriable4xx, ConnectFailure,
    /// EnvoyRatelimited, RefusedStream, Http3PostConnectFailure, HttpMethod*, or a status code.
    #[serde(default, deserialize_with = "strings_or_numbers", skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<Vec<String>>,
    /// Response headers that trigger a retry when present in the upstream response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retriable_response_headers: Option<Vec<HeaderMatch>>,
    /// Request headers that must be present for retries to be attempted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retriable_request_headers: Option<Vec<HeaderMatch>>,
    /// Predicates dictating how hosts are selected when requests are retried.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_selection: Option<Vec<Predicate>>,
    /// Maximum number of host selection reattempts before the last selected host is used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_selection_max_attempts: Option<i64>,
}

/// gRPC retry configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Grpc {
    /// Number of attempts made on failed (and retriable) requests (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub num_retries: Option<i64>,
    /// Maximum time each retry attempt can take (0 disables; default: the route timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<Duration>,
    /// Exponential backoff between retries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub back_off: Option<BackOff>,
    /// Backoff used when the upstream returns one of the configured reset headers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limited_back_off: Option<RateLimitedBackOff>,
    /// gRPC status conditions causing a retry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_on: Option<Vec<Choice<GrpcRetryOn>>>,
}

/// Exponential backoff between retries.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct BackOff {
    /// Time between retries (default 25ms; values below 1ms are rounded up).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_interval: Option<Duration>,
    /// Maximal time between retries (default 10 times `baseInterval`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_interval: Option<Duration>,
}

/// Backoff driven by reset headers (like Retry-After) in the upstream response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RateLimitedBackOff {
    /// Headers to read the reset time from, tried in order (case-insensitive).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reset_headers: Option<Vec<ResetHeader>>,
    /// Maximal time between retries (default 300s).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_interval: Option<Duration>,
}

kuma_enum! {
    /// Format of a reset header.
    pub enum RateLimitFormat { Seconds = "Seconds", UnixTimestamp = "UnixTimestamp" }
}

/// A reset header.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ResetHeader {
    /// Name of the reset header.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required, length(min = 1, max = 256), regex(pattern = r"^[a-z0-9!#$%&'*+\-.^_\x60|~]+$"))]
    pub name: Option<String>,
    /// Format of the reset header.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub format: Option<Choice<RateLimitFormat>>,
}

kuma_enum! {
    /// How a header is matched.
    pub enum HeaderMatchType {
        Exact = "Exact",
        Present = "Present",
        RegularExpression = "RegularExpression",
        Absent = "Absent",
        Prefix = "Prefix",
    }
}

fn default_header_match_type() -> Choice<HeaderMatchType> {
    Choice::Known(HeaderMatchType::Exact)
}

/// An HTTP header condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HeaderMatch {
    /// How to match the header value (default Exact).
    #[serde(rename = "type", default = "default_header_match_type")]
    pub type_: Choice<HeaderMatchType>,
    /// Name of the header (lower case; matched case-insensitively).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required, length(min = 1, max = 256), regex(pattern = r"^[a-z0-9!#$%&'*+\-.^_\x60|~]+$"))]
    pub name: Option<String>,
    /// Value to match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

kuma_enum! {
    /// Host selection predicate mode.
    pub enum PredicateType {
        OmitPreviousHosts = "OmitPreviousHosts",
        OmitHostsWithTags = "OmitHostsWithTags",
        OmitPreviousPriorities = "OmitPreviousPriorities",
    }
}

fn default_update_frequency() -> i64 {
    2
}

/// A host selection predicate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Predicate {
    /// Predicate mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub predicate: Option<Choice<PredicateType>>,
    /// Tags of the hosts to omit (required for OmitHostsWithTags).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<StringMap>,
    /// How often the priority load is updated (OmitPreviousPriorities; default 2).
    #[serde(default = "default_update_frequency")]
    pub update_frequency: i64,
}

kuma_enum! {
    /// gRPC retry conditions.
    pub enum GrpcRetryOn {
        Canceled = "Canceled",
        DeadlineExceeded = "DeadlineExceeded",
        Internal = "Internal",
        ResourceExhausted = "ResourceExhausted",
        Unavailable = "Unavailable",
    }
}

/// HTTP retryOn values other than status codes (`HTTPRetryOn` constants).
const HTTP_RETRY_ON: &[&str] = &[
    "5xx",
    "GatewayError",
    "Reset",
    "Retriable4xx",
    "ConnectFailure",
    "EnvoyRatelimited",
    "RefusedStream",
    "Http3PostConnectFailure",
    "HttpMethodConnect",
    "HttpMethodDelete",
    "HttpMethodGet",
    "HttpMethodHead",
    "HttpMethodOptions",
    "HttpMethodPatch",
    "HttpMethodPost",
    "HttpMethodPut",
    "HttpMethodTrace",
];

/// Status codes Go's `http.StatusText` knows (Kuma accepts those as retryOn items).
pub(crate) fn is_known_status(code: i64) -> bool {
    matches!(
        code,
        100..=103
            | 200..=208
            | 226
            | 300..=305
            | 307
            | 308
            | 400..=418
            | 421..=426
            | 428
            | 429
            | 431
            | 451
            | 500..=508
            | 510
            | 511
    )
}

/// A list of strings where YAML numbers (`- 500`) are read as their text.
fn strings_or_numbers<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let raw: Option<Vec<serde_json::Value>> = Option::deserialize(d)?;
    raw.map(|items| {
        items
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s),
                serde_json::Value::Number(n) => Ok(n.to_string()),
                other => Err(serde::de::Error::custom(format!("expected a string or a number, got {other}"))),
            })
            .collect()
    })
    .transpose()
}

impl KindSpec for MeshRetry {
    fn validate(&self, ctx: &ValidateCtx, v: &mut Violations) {
        let root = Path::root();
        let rules = if ctx.role == PolicyRole::System {
            TargetRefRules {
                supported: &[
                    K::Mesh,
                    K::MeshSubset,
                    K::MeshGateway,
                    K::MeshService,
                    K::MeshServiceSubset,
                    K::MeshHTTPRoute,
                    K::Dataplane,
                ],
                gateway_listener_tags: true,
                ..Default::default()
            }
        } else {
            TargetRefRules {
                supported: &[K::Mesh, K::MeshSubset, K::MeshService, K::MeshServiceSubset, K::Dataplane],
                ..Default::default()
            }
        };
        super::validate_top(v, &self.target_ref, rules);
        let to = self.to.as_deref().unwrap_or_default();
        if to.is_empty() {
            v.add_code(codes::POLICY_SECTIONS, &root.field("to"), "needs at least one item");
        }
        let top = super::top_kind(&self.target_ref);
        let supported: &[K] = match top {
            Some(K::MeshGateway | K::MeshHTTPRoute) => &[K::Mesh, K::MeshExternalService],
            _ => &[K::Mesh, K::MeshService, K::MeshExternalService, K::MeshMultiZoneService, K::MeshHTTPRoute],
        };
        for (i, item) in to.iter().enumerate() {
            let p = root.field("to").index(i);
            let rules = TargetRefRules { supported, ..Default::default() };
            validate_target_ref(v, &p.field("targetRef"), &item.target_ref, &rules);
            // Kuma roots the conf's violations at `default.conf`.
            validate_conf(v, &p.field("default").virtual_field("conf"), item.default.as_ref());
        }
    }

    fn policy(&self) -> Option<PolicyView<'_>> {
        Some(super::view::<Conf, (), ()>(
            &self.target_ref,
            self.to.as_deref(),
            None::<&[From<()>]>,
            None::<&[Rule<()>]>,
        ))
    }
}

fn validate_conf(v: &mut Violations, path: &Path, conf: Option<&Conf>) {
    let empty = Conf::default();
    let conf = conf.unwrap_or(&empty);
    if conf.tcp.is_none() && conf.http.is_none() && conf.grpc.is_none() {
        v.add(path, "at least one of the 'tcp', 'http', 'grpc' must be specified");
    }
    if let Some(tcp) = &conf.tcp {
        let p = path.field("tcp");
        match tcp.max_connect_attempt {
            None => v.add(&p, msg::MUST_NOT_BE_EMPTY),
            n => validate_greater_than_zero_or_nil(v, &p.field("maxConnectAttempt"), n),
        }
    }
    if let Some(http) = &conf.http {
        validate_http(v, &path.field("http"), http);
    }
    if let Some(grpc) = &conf.grpc {
        validate_grpc(v, &path.field("grpc"), grpc);
    }
}

fn validate_http(v: &mut Violations, path: &Path, http: &Http) {
    // `hostSelectionMaxAttempts` alone does not count, as in Kuma.
    if http.num_retries.is_none()
        && http.per_try_timeout.is_none()
        && http.back_off.is_none()
        && http.retry_on.is_none()
        && http.retriable_request_headers.is_none()
        && http.retriable_response_headers.is_none()
        && http.rate_limited_back_off.is_none()
        && http.host_selection.is_none()
    {
        v.add(path, msg::MUST_NOT_BE_EMPTY);
    }
    if let Some(b) = &http.back_off {
        validate_back_off(v, &path.field("backOff"), b);
    }
    if let Some(r) = &http.rate_limited_back_off {
        validate_rate_limited_back_off(v, &path.field("rateLimitedBackOff"), r);
    }
    for (i, item) in http.retry_on.iter().flatten().enumerate() {
        let known = HTTP_RETRY_ON.contains(&item.as_str()) || item.parse::<i64>().is_ok_and(is_known_status);
        if !known {
            v.add(&path.field("retryOn").index(i), format!("unknown item '{item}'"));
        }
    }
    for (name, headers) in [
        ("retriableRequestHeaders", &http.retriable_request_headers),
        ("retriableResponseHeaders", &http.retriable_response_headers),
    ] {
        for (i, h) in headers.iter().flatten().enumerate() {
            if h.type_.is(HeaderMatchType::RegularExpression) {
                let vp = path.field(name).index(i).field("value");
                envoy_limits::validate_regex(v, &vp, h.value.as_deref().unwrap_or_default());
            }
        }
    }
    if let Some(predicates) = &http.host_selection {
        let base = path.field("hostSelection");
        let mut priority_set = false;
        for (i, p) in predicates.iter().enumerate() {
            let pp = base.index(i);
            match p.predicate.as_ref().and_then(Choice::known) {
                Some(PredicateType::OmitHostsWithTags) => {
                    if p.tags.is_none() {
                        v.must_be_defined(&pp.field("tags"));
                    }
                }
                Some(PredicateType::OmitPreviousPriorities) => {
                    if priority_set {
                        v.add(&pp.field("predicate"), "OmitPreviousPriorities must only be specified once");
                    }
                    if p.update_frequency <= 0 {
                        v.add(&pp.field("updateFrequency"), msg::DEFINED_AND_GREATER_THAN_ZERO);
                    }
                    priority_set = true;
                }
                Some(PredicateType::OmitPreviousHosts) => {}
                None => {
                    let raw = p.predicate.as_ref().map(Choice::raw).unwrap_or_default();
                    v.add_code(codes::KUMA_ENUM, &pp.field("predicate"), format!("unknown predicate type '{raw}'"));
                }
            }
        }
    }
}

fn validate_grpc(v: &mut Violations, path: &Path, grpc: &Grpc) {
    if grpc.num_retries.is_none()
        && grpc.per_try_timeout.is_none()
        && grpc.back_off.is_none()
        && grpc.retry_on.is_none()
        && grpc.rate_limited_back_off.is_none()
    {
        v.add(path, msg::MUST_NOT_BE_EMPTY);
    }
    if let Some(b) = &grpc.back_off {
        validate_back_off(v, &path.field("backOff"), b);
    }
    if let Some(r) = &grpc.rate_limited_back_off {
        validate_rate_limited_back_off(v, &path.field("rateLimitedBackOff"), r);
    }
    for (i, item) in grpc.retry_on.iter().flatten().enumerate() {
        if !item.is_known() {
            v.add_code(codes::KUMA_ENUM, &path.field("retryOn").index(i), format!("unknown item '{}'", item.raw()));
        }
    }
}

fn validate_back_off(v: &mut Violations, path: &Path, b: &BackOff) {
    if b.base_interval.is_none() && b.max_interval.is_none() {
        v.add(path, msg::MUST_NOT_BE_EMPTY);
    }
}

fn validate_rate_limited_back_off(v: &mut Violations, path: &Path, r: &RateLimitedBackOff) {
    if let Some(d) = &r.max_interval {
        v.duration_required_positive(&path.field("maxInterval"), Some(d));
    }
    match &r.reset_headers {
        None => v.must_be_defined(&path.field("resetHeaders")),
        Some(headers) => {
            for (i, h) in headers.iter().enumerate() {
                if h.name.as_deref().unwrap_or_default().is_empty() {
                    v.must_be_defined(&path.field("resetHeaders").index(i).field("name"));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{self, meta, pairs};
    use crate::model::{Kind, PolicyRole};

    fn check_as(spec: serde_json::Value, role: PolicyRole) -> Vec<(String, String)> {
        testing::check::<MeshRetry>(&meta(Kind::MeshRetry, "mr"), role, spec)
    }

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        check_as(spec, PolicyRole::System)
    }

    fn to_mesh(default: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": {"kind": "Mesh"}, "default": default}]})
    }

    #[test]
    fn valid_full_example() {
        let spec = serde_json::json!({
            "targetRef": {"kind": "Mesh"},
            "to": [
                {"targetRef": {"kind": "Mesh"}, "default": {"tcp": {"maxConnectAttempt": 5}}},
                {"targetRef": {"kind": "MeshService", "name": "backend"}, "default": {
                    "tcp": {"maxConnectAttempt": 5},
                    "http": {
                        "numRetries": 10, "perTryTimeout": "20s",
                        "backOff": {"baseInterval": "15s", "maxInterval": "20m"},
                        "rateLimitedBackOff": {"resetHeaders": [
                            {"name": "retry-after-http", "format": "Seconds"},
                            {"name": "x-retry-after-http", "format": "UnixTimestamp"}], "maxInterval": "21m"},
                        "retryOn": ["5xx", "GatewayError", "Reset", "Retriable4xx", "ConnectFailure",
                            "EnvoyRatelimited", "RefusedStream", "Http3PostConnectFailure", "HttpMethodConnect",
                            "HttpMethodDelete", "HttpMethodGet", "HttpMethodHead", "HttpMethodOptions",
                            "HttpMethodPatch", "HttpMethodPost", "HttpMethodPut", "HttpMethodTrace", 500, 409, 503],
                        "retriableRequestHeaders": [{"type": "Prefix", "name": "x-my-header-1", "value": "kuma-value-"}],
                        "retriableResponseHeaders": [{"name": "x-my-header-6", "value": "exact-value"}]
                    },
                    "grpc": {
                        "numRetries": 10, "perTryTimeout": "20s",
                        "backOff": {"baseInterval": "15s", "maxInterval": "20m"},
                        "rateLimitedBackOff": {"resetHeaders": [{"name": "retry-after-grpc", "format": "Seconds"}], "maxInterval": "21m"},
                        "retryOn": ["Canceled", "DeadlineExceeded", "Internal", "ResourceExhausted", "Unavailable"]
                    }
                }}
            ]
        });
        assert_eq!(check(spec), pairs(&[]));
        assert_eq!(
            check(
                serde_json::json!({"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": {"kind": "MeshMultiZoneService", "name": "web-backend"}, "default": {"http": {"numRetries": 5}}}]})
            ),
            pairs(&[])
        );
        assert_eq!(
            check(to_mesh(
                serde_json::json!({"http": {"numRetries": 5, "retryOn": [], "retriableRequestHeaders": []}})
            )),
            pairs(&[])
        );
        assert_eq!(
            check(
                serde_json::json!({"targetRef": {"kind": "MeshHTTPRoute", "name": "route-1"}, "to": [{"targetRef": {"kind": "Mesh"}, "default": {"http": {"retryOn": [500, 409]}}}]})
            ),
            pairs(&[])
        );
    }

    #[test]
    fn defaults_applied() {
        let s: MeshRetry = serde_json::from_value(to_mesh(serde_json::json!({"http": {
            "hostSelection": [{"predicate": "OmitPreviousPriorities"}],
            "retriableRequestHeaders": [{"name": "x"}]
        }})))
        .unwrap();
        let http = s.to.as_ref().unwrap()[0].default.as_ref().unwrap().http.as_ref().unwrap();
        assert_eq!(http.host_selection.as_ref().unwrap()[0].update_frequency, 2);
        assert!(http.retriable_request_headers.as_ref().unwrap()[0].type_.is(HeaderMatchType::Exact));
    }

    #[test]
    fn empty_to_and_unsupported_kinds() {
        assert_eq!(
            check(serde_json::json!({"targetRef": {"kind": "MeshService", "name": "backend"}, "to": []})),
            pairs(&[("spec.to", "needs at least one item")])
        );
        let spec = serde_json::json!({"targetRef": {"kind": "Mesh"}, "to": [
            {"targetRef": {"kind": "MeshSubset", "tags": {"version": "v1"}}, "default": {"http": {"numRetries": 1}}},
            {"targetRef": {"kind": "MeshServiceSubset", "name": "backend", "tags": {"kuma.io/zone": "us-east"}}, "default": {"grpc": {"numRetries": 1}}}
        ]});
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].targetRef.kind", "value 'MeshSubset' is not supported"),
                ("spec.to[1].targetRef.kind", "value 'MeshServiceSubset' is not supported"),
            ])
        );
    }

    #[test]
    fn empty_default_and_sections() {
        assert_eq!(
            check(to_mesh(serde_json::json!({}))),
            pairs(&[("spec.to[0].default.conf", "at least one of the 'tcp', 'http', 'grpc' must be specified")])
        );
        assert_eq!(
            check(to_mesh(serde_json::json!({"tcp": {}, "http": {}, "grpc": {}}))),
            pairs(&[
                ("spec.to[0].default.conf.tcp", "must not be empty"),
                ("spec.to[0].default.conf.http", "must not be empty"),
                ("spec.to[0].default.conf.grpc", "must not be empty"),
            ])
        );
        assert_eq!(
            check(to_mesh(serde_json::json!({"tcp": {"maxConnectAttempt": 0}}))),
            pairs(&[("spec.to[0].default.conf.tcp.maxConnectAttempt", "must be greater than 0")])
        );
    }

    #[test]
    fn back_offs() {
        assert_eq!(
            check(to_mesh(serde_json::json!({"http": {"backOff": {}}}))),
            pairs(&[("spec.to[0].default.conf.http.backOff", "must not be empty")])
        );
        assert_eq!(
            check(to_mesh(serde_json::json!({"grpc": {"rateLimitedBackOff": {}}}))),
            pairs(&[("spec.to[0].default.conf.grpc.rateLimitedBackOff.resetHeaders", "must be defined")])
        );
        assert_eq!(
            check(to_mesh(
                serde_json::json!({"http": {"rateLimitedBackOff": {"resetHeaders": [{"name": "", "format": "UnixTimestamp"}]}}})
            )),
            pairs(&[("spec.to[0].default.conf.http.rateLimitedBackOff.resetHeaders[0].name", "must be defined")])
        );
    }

    #[test]
    fn retry_on_values() {
        assert_eq!(
            check(to_mesh(
                serde_json::json!({"http": {"retryOn": ["WRONG_VALUE", "5XX", "reset", "DEADLINE_EXCEEDED", 123, 952]}})
            )),
            pairs(&[
                ("spec.to[0].default.conf.http.retryOn[0]", "unknown item 'WRONG_VALUE'"),
                ("spec.to[0].default.conf.http.retryOn[1]", "unknown item '5XX'"),
                ("spec.to[0].default.conf.http.retryOn[2]", "unknown item 'reset'"),
                ("spec.to[0].default.conf.http.retryOn[3]", "unknown item 'DEADLINE_EXCEEDED'"),
                ("spec.to[0].default.conf.http.retryOn[4]", "unknown item '123'"),
                ("spec.to[0].default.conf.http.retryOn[5]", "unknown item '952'"),
            ])
        );
        assert_eq!(
            check(to_mesh(serde_json::json!({"grpc": {"retryOn": [500, "reset", "wrong"]}}))),
            pairs(&[
                ("spec.to[0].default.conf.grpc.retryOn[0]", "unknown item '500'"),
                ("spec.to[0].default.conf.grpc.retryOn[1]", "unknown item 'reset'"),
                ("spec.to[0].default.conf.grpc.retryOn[2]", "unknown item 'wrong'"),
            ])
        );
    }

    #[test]
    fn host_selection() {
        assert_eq!(
            check(to_mesh(serde_json::json!({"http": {"hostSelection": [{"predicate": "OmitHostsWithTags"}]}}))),
            pairs(&[("spec.to[0].default.conf.http.hostSelection[0].tags", "must be defined")])
        );
        assert_eq!(
            check(to_mesh(
                serde_json::json!({"http": {"hostSelection": [{"predicate": "OmitPreviousPriorities", "updateFrequency": 0}]}})
            )),
            pairs(&[(
                "spec.to[0].default.conf.http.hostSelection[0].updateFrequency",
                "must be defined and greater than zero"
            )])
        );
        assert_eq!(
            check(to_mesh(serde_json::json!({"http": {"hostSelection": [
                {"predicate": "OmitPreviousHosts"}, {"predicate": "IncorrectPredicateType"}]}}))),
            pairs(&[(
                "spec.to[0].default.conf.http.hostSelection[1].predicate",
                "unknown predicate type 'IncorrectPredicateType'"
            )])
        );
        assert_eq!(
            check(to_mesh(serde_json::json!({"http": {"hostSelection": [
                {"predicate": "OmitPreviousPriorities", "updateFrequency": 3},
                {"predicate": "OmitPreviousHosts"},
                {"predicate": "OmitPreviousPriorities", "updateFrequency": 1}]}}))),
            pairs(&[(
                "spec.to[0].default.conf.http.hostSelection[2].predicate",
                "OmitPreviousPriorities must only be specified once"
            )])
        );
    }

    #[test]
    fn top_level_kinds() {
        let spec = serde_json::json!({"targetRef": {"kind": "MeshGateway", "name": "gateway-1"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "web-backend"}, "default": {"tcp": {"maxConnectAttempt": 5}}}]});
        assert_eq!(
            check(spec.clone()),
            pairs(&[("spec.to[0].targetRef.kind", "value 'MeshService' is not supported")])
        );
        assert_eq!(
            check_as(spec, PolicyRole::Consumer),
            pairs(&[
                ("spec.targetRef.kind", "value 'MeshGateway' is not supported"),
                ("spec.to[0].targetRef.kind", "value 'MeshService' is not supported"),
            ])
        );
        let spec = serde_json::json!({"targetRef": {"kind": "MeshHTTPRoute", "name": "route-1"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "web-backend"}, "default": {"http": {"retryOn": ["5xx"]}}}]});
        assert_eq!(check(spec), pairs(&[("spec.to[0].targetRef.kind", "value 'MeshService' is not supported")]));
    }
}
