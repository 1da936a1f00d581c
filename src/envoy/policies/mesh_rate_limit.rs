//! MeshRateLimit (reference §5.8): a sidecar's inbound `from`/`rules` conf
//! becomes Envoy's local rate limits, shaped as Kuma's
//! `meshratelimit/plugin/xds/configurer.go` shapes them:
//! - HTTP: an `envoy.filters.http.local_ratelimit` filter (only a stat prefix)
//!   before the router, and the token bucket, status and headers in every
//!   route's `typed_per_filter_config`;
//! - TCP: Kuma's network `LocalRateLimit` filter first on every chain of the
//!   inbound (Kuma names it by its type, not `envoy.filters.network.local_ratelimit`).
//!
//! `disabled: true` (or no rate) configures nothing. Rules conditioned on a
//! client (`matches` with `spiffeID`/`sni`) need Kuma's workload identity
//! filter state and are left out: only the conf for all clients applies.

use envoy_types::pb::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, RuntimeFractionalPercent, header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::extensions::filters::http::local_ratelimit::v3::LocalRateLimit as HttpLocalRateLimit;
use envoy_types::pb::envoy::extensions::filters::network::local_ratelimit::v3::LocalRateLimit as TcpLocalRateLimit;
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, HttpStatus, TokenBucket, fractional_percent};
use envoy_types::pb::google::protobuf::UInt32Value;

use super::super::parts::{ListenerParts, add_http_filter, http_filter, routes};
use super::super::proto::{any, network_filter};
use super::mesh_timeout::duration;
use super::{At, Configurer, Place};
use crate::model::Kind;
use crate::model::policy::mesh_rate_limit::{Conf, LocalHttp, LocalTcp, Rate};
use crate::rules::effective::{Condition, Effective};

/// The HTTP filter's name (and its key in a route's `typed_per_filter_config`).
pub const HTTP_FILTER: &str = "envoy.filters.http.local_ratelimit";
/// The name Kuma gives the network filter: its type's full name.
pub const TCP_FILTER: &str = "envoy.extensions.filters.network.local_ratelimit.v3.LocalRateLimit";
const HTTP_STAT_PREFIX: &str = "rate_limit";
const TCP_STAT_PREFIX: &str = "tcp_rate_limit";

/// MeshRateLimit's configurer.
pub struct MeshRateLimit;

impl Configurer for MeshRateLimit {
    fn kind(&self) -> Kind {
        Kind::MeshRateLimit
    }

    fn listener(&self, place: &Place, confs: &[&Effective], listener: &mut ListenerParts) {
        if !matches!(place.at, At::Inbound(_)) {
            return;
        }
        let Some(local) = all_clients(confs).and_then(|c| c.local) else { return };
        if let Some(http) = local.http.as_ref().and_then(route_config) {
            for m in listener.hcms() {
                for r in routes(m) {
                    r.typed_per_filter_config.entry(HTTP_FILTER.to_string()).or_insert_with(|| any(http.clone()));
                }
                let filter = http_filter(
                    HTTP_FILTER,
                    HttpLocalRateLimit { stat_prefix: HTTP_STAT_PREFIX.to_string(), ..Default::default() },
                );
                match m.http_filters.iter_mut().find(|f| f.name == HTTP_FILTER) {
                    Some(existing) => *existing = filter,
                    None => add_http_filter(m, filter),
                }
            }
        }
        if let Some(tcp) = local.tcp.as_ref().and_then(tcp_config) {
            for chain in &mut listener.chains {
                let filter = network_filter(TCP_FILTER, tcp.clone());
                match chain.filters.iter_mut().find(|f| f.name == TCP_FILTER) {
                    Some(existing) => *existing = filter,
                    None => chain.filters.insert(0, filter),
                }
            }
        }
    }
}

/// The merged conf for every client of the inbound, if any.
fn all_clients(confs: &[&Effective]) -> Option<Conf> {
    let e = confs.iter().find(|e| e.condition == Condition::All)?;
    serde_json::from_value(e.conf.clone()).ok()
}

/// A token bucket of `rate`: `num` tokens, refilled to `num` every `interval`.
fn bucket(rate: &Rate) -> Option<TokenBucket> {
    let num = u32::try_from(rate.num?).ok().filter(|n| *n > 0)?;
    let interval = rate.interval.as_ref()?.nanos()?;
    Some(TokenBucket {
        max_tokens: num,
        tokens_per_fill: Some(UInt32Value { value: num }),
        fill_interval: Some(duration(interval)),
    })
}

fn hundred_percent(runtime_key: &str) -> Option<RuntimeFractionalPercent> {
    Some(RuntimeFractionalPercent {
        default_value: Some(FractionalPercent {
            numerator: 100,
            denominator: fractional_percent::DenominatorType::Hundred as i32,
        }),
        runtime_key: runtime_key.to_string(),
    })
}

/// The per-route config of an HTTP rate limit (Kuma's `NewRateLimitConfiguration`):
/// `None` when disabled or without a rate.
pub fn route_config(http: &LocalHttp) -> Option<HttpLocalRateLimit> {
    if http.disabled == Some(true) {
        return None;
    }
    let token_bucket = bucket(http.request_rate.as_ref()?)?;
    let on = http.on_rate_limit.as_ref();
    let headers = on.and_then(|o| o.headers.as_ref());
    let header = |name: &Option<String>, value: &str, action: HeaderAppendAction| HeaderValueOption {
        header: Some(HeaderValue {
            key: name.clone().unwrap_or_default(),
            value: value.to_string(),
            ..Default::default()
        }),
        append_action: action as i32,
        ..Default::default()
    };
    let mut response_headers_to_add = Vec::new();
    for h in headers.and_then(|h| h.add.as_ref()).into_iter().flatten() {
        let value = h.value.as_deref().unwrap_or_default();
        response_headers_to_add.push(header(&h.name, value, HeaderAppendAction::AppendIfExistsOrAdd));
    }
    // Kuma sets one header per comma-separated value of a `set` header.
    for h in headers.and_then(|h| h.set.as_ref()).into_iter().flatten() {
        for value in h.value.as_deref().unwrap_or_default().split(',') {
            response_headers_to_add.push(header(&h.name, value, HeaderAppendAction::OverwriteIfExistsOrAdd));
        }
    }
    let status = on.and_then(|o| o.status).and_then(|s| i32::try_from(s).ok()).filter(|s| *s != 0);
    Some(HttpLocalRateLimit {
        stat_prefix: HTTP_STAT_PREFIX.to_string(),
        status: status.map(|code| HttpStatus { code }),
        token_bucket: Some(token_bucket),
        filter_enabled: hundred_percent("local_rate_limit_enabled"),
        filter_enforced: hundred_percent("local_rate_limit_enforced"),
        response_headers_to_add,
        ..Default::default()
    })
}

/// The network filter of a TCP connection rate limit: `None` when disabled or without a rate.
fn tcp_config(tcp: &LocalTcp) -> Option<TcpLocalRateLimit> {
    if tcp.disabled == Some(true) {
        return None;
    }
    let token_bucket = bucket(tcp.connection_rate.as_ref()?)?;
    Some(TcpLocalRateLimit {
        stat_prefix: TCP_STAT_PREFIX.to_string(),
        token_bucket: Some(token_bucket),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn http(v: serde_json::Value) -> LocalHttp {
        serde_json::from_value(v).expect("conf")
    }

    #[test]
    fn set_headers_split_on_commas_after_added_ones() {
        let c = route_config(&http(json!({
            "requestRate": {"num": 5, "interval": "10s"},
            "onRateLimit": {"status": 423, "headers": {
                "set": [{"name": "x-a", "value": "1,2"}], "add": [{"name": "x-b", "value": "3"}]}}})))
        .expect("config");
        let h: Vec<(String, String, i32)> = c
            .response_headers_to_add
            .iter()
            .map(|h| {
                let v = h.header.clone().unwrap_or_default();
                (v.key, v.value, h.append_action)
            })
            .collect();
        let (append, overwrite) =
            (HeaderAppendAction::AppendIfExistsOrAdd as i32, HeaderAppendAction::OverwriteIfExistsOrAdd as i32);
        assert_eq!(
            h,
            vec![
                ("x-b".into(), "3".into(), append),
                ("x-a".into(), "1".into(), overwrite),
                ("x-a".into(), "2".into(), overwrite)
            ]
        );
        assert_eq!(c.status, Some(HttpStatus { code: 423 }));
        let b = c.token_bucket.expect("bucket");
        assert_eq!((b.max_tokens, b.tokens_per_fill.map(|t| t.value)), (5, Some(5)));
    }

    #[test]
    fn disabled_or_rateless_configures_nothing() {
        assert!(route_config(&http(json!({"disabled": true, "requestRate": {"num": 5, "interval": "1s"}}))).is_none());
        assert!(route_config(&http(json!({"onRateLimit": {"status": 429}}))).is_none());
        let tcp: LocalTcp = serde_json::from_value(json!({"connectionRate": {"num": 0, "interval": "1s"}})).unwrap();
        assert!(tcp_config(&tcp).is_none());
    }
}
