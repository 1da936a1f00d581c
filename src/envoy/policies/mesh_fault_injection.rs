//! MeshFaultInjection (reference §5.9): on an HTTP inbound, every fault of
//! every effective conf becomes one `envoy.filters.http.fault` filter before
//! the router, as Kuma's `meshfaultinjection/plugin/xds/configurer.go` builds
//! them:
//! - a legacy `from` tag-subset rule limits its faults to clients whose
//!   `x-kuma-tags` header matches the subset (one regex for the positive tags,
//!   one inverted for the negated ones);
//! - a `rules[]` item matching a client `spiffeID` wraps each fault in an
//!   `ExtensionWithMatcher` that skips the filter unless the client
//!   certificate's URI SAN matches (Kuma 2.14's shape);
//! - a conf for all clients applies to every request.
//!
//! Percentages (an integer or a decimal string) become a `FractionalPercent`
//! exactly as Kuma's `ConvertPercentage` does it, bandwidth limits kbps.

use envoy_types::pb::envoy::config::core::v3::TypedExtensionConfig;
use envoy_types::pb::envoy::config::route::v3::{HeaderMatcher, header_matcher};
use envoy_types::pb::envoy::extensions::common::matching::v3::ExtensionWithMatcher;
use envoy_types::pb::envoy::extensions::filters::common::fault::v3::{
    FaultDelay, FaultRateLimit, fault_delay, fault_rate_limit,
};
use envoy_types::pb::envoy::extensions::filters::common::matcher::action::v3::SkipFilter;
use envoy_types::pb::envoy::extensions::filters::http::fault::v3::{FaultAbort, HttpFault, fault_abort};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter;
use envoy_types::pb::envoy::extensions::matching::common_inputs::ssl::v3::UriSanInput;
use envoy_types::pb::envoy::r#type::matcher::v3::{RegexMatcher, StringMatcher, string_matcher};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent};
use envoy_types::pb::xds::core::v3::TypedExtensionConfig as XdsExtension;
use envoy_types::pb::xds::r#type::matcher::v3 as xds;

use super::super::parts::{ListenerParts, add_http_filter, http_filter};
use super::super::proto::any;
use super::mesh_timeout::duration;
use super::{At, Configurer, Place};
use crate::model::Kind;
use crate::model::common::IntOrString;
use crate::model::policy::mesh_fault_injection::{Conf, FaultInjection};
use crate::rules::effective::{Condition, Direction, Effective};
use crate::rules::subset::Tag;
use crate::world::Protocol;

pub const FAULT_FILTER: &str = "envoy.filters.http.fault";
/// The request header Kuma's clients describe themselves in.
const TAGS_HEADER: &str = "x-kuma-tags";

/// MeshFaultInjection's configurer.
pub struct MeshFaultInjection;

impl Configurer for MeshFaultInjection {
    fn kind(&self) -> Kind {
        Kind::MeshFaultInjection
    }

    fn listener(&self, place: &Place, confs: &[&Effective], listener: &mut ListenerParts) {
        // Kuma injects faults on HTTP and HTTP/2 inbounds only (not gRPC).
        let At::Inbound(inbound) = place.at else { return };
        if !matches!(inbound.protocol, Protocol::Http | Protocol::Http2) {
            return;
        }
        let filters: Vec<HttpFilter> = confs.iter().flat_map(|e| filters(e)).collect();
        if filters.is_empty() {
            return;
        }
        for m in listener.hcms() {
            for f in &filters {
                add_http_filter(m, f.clone());
            }
        }
    }
}

/// Who a conf's faults are for.
enum Clients<'a> {
    All,
    Tags(&'a [Tag]),
    UriSan(xds::StringMatcher),
}

/// The fault filters of one effective conf, in the order of its `http` list.
/// Conditions meshc cannot express (an `sni` match, `to` subsets) give none.
fn filters(e: &Effective) -> Vec<HttpFilter> {
    let clients = match &e.condition {
        Condition::All => Clients::All,
        Condition::Subset { direction: Direction::From, tags } => Clients::Tags(tags),
        Condition::Match(m) => match spiffe_matcher(m) {
            Some(s) => Clients::UriSan(s),
            None => return Vec::new(),
        },
        Condition::Subset { direction: Direction::To, .. } | Condition::Route(_) => return Vec::new(),
    };
    let Ok(conf) = serde_json::from_value::<Conf>(e.conf.clone()) else { return Vec::new() };
    let mut out = Vec::new();
    for fault in conf.http.iter().flatten() {
        let mut config = fault_config(fault);
        match &clients {
            Clients::All => out.push(http_filter(FAULT_FILTER, config)),
            Clients::Tags(tags) => {
                config.headers = tag_headers(tags);
                out.push(http_filter(FAULT_FILTER, config));
            }
            // Named, as in Kuma, by the KRI of the policy the rule comes from.
            Clients::UriSan(san) => {
                let name = e.origins.first().map_or(FAULT_FILTER, |o| o.kri.as_str());
                out.push(http_filter(name, skip_unless(san.clone(), config)))
            }
        }
    }
    out
}

/// One fault as Envoy's fault filter config.
fn fault_config(fault: &FaultInjection) -> HttpFault {
    let delay = fault.delay.as_ref().map(|d| FaultDelay {
        percentage: d.percentage.as_ref().map(percent),
        fault_delay_secifier: d
            .value
            .as_ref()
            .and_then(|v| v.nanos())
            .map(|n| fault_delay::FaultDelaySecifier::FixedDelay(duration(n))),
    });
    let abort = fault.abort.as_ref().map(|a| FaultAbort {
        percentage: a.percentage.as_ref().map(percent),
        error_type: a.http_status.and_then(|s| u32::try_from(s).ok()).map(fault_abort::ErrorType::HttpStatus),
        ..Default::default()
    });
    let response_rate_limit = fault.response_bandwidth.as_ref().map(|b| FaultRateLimit {
        percentage: b.percentage.as_ref().map(percent),
        limit_type: b
            .limit
            .as_deref()
            .and_then(kbps)
            .map(|limit_kbps| fault_rate_limit::LimitType::FixedLimit(fault_rate_limit::FixedLimit { limit_kbps })),
    });
    HttpFault { delay, abort, response_rate_limit, ..Default::default() }
}

/// Kuma's `ConvertPercentage`: a whole number of percent over 100, else a
/// whole number of hundredths over 10,000, else (rounded) over 1,000,000.
/// The float arithmetic is Go's, so the same inputs land on the same side.
pub fn percent(p: &IntOrString) -> FractionalPercent {
    use fractional_percent::DenominatorType as D;
    let value = p.as_f64().unwrap_or(0.0).clamp(0.0, f64::from(u32::MAX) / 10_000.0);
    let (numerator, denominator) = if value.floor() == value {
        (value, D::Hundred)
    } else if (100.0 * value).floor() == 100.0 * value {
        (100.0 * value, D::TenThousand)
    } else {
        ((10_000.0 * value).round(), D::Million)
    };
    FractionalPercent { numerator: numerator as u32, denominator: denominator as i32 }
}

/// A bandwidth (`<n> kbps|Mbps|Gbps`, the space optional) in kbps.
pub fn kbps(limit: &str) -> Option<u64> {
    let limit = limit.trim();
    let digits = limit.find(|c: char| !c.is_ascii_digit()).unwrap_or(limit.len());
    let value: u64 = limit[..digits].parse().ok()?;
    let factor = match limit[digits..].trim_start() {
        "kbps" => 1,
        "Mbps" => 1_000,
        "Gbps" => 1_000_000,
        _ => return None,
    };
    value.checked_mul(factor)
}

/// Kuma's `MatchingRegex` over the `x-kuma-tags` header (`&k=v1,v2&...&`):
/// every tag present with the value among its values; `*` any value.
pub fn tags_regex<'a>(tags: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut sorted: Vec<(&str, &str)> = tags.into_iter().collect();
    sorted.sort();
    sorted.dedup_by(|a, b| a.0 == b.0);
    let mut re = String::from(".*");
    for (key, value) in sorted {
        let value = if value == "*" { String::new() } else { format!("[^&]*{value}[,&]").replace('.', r"\.") };
        re.push_str(&format!("&{key}={value}.*"));
    }
    re
}

/// The header matchers of a tag subset: the positive tags must match, the
/// negated ones must not.
fn tag_headers(tags: &[Tag]) -> Vec<HeaderMatcher> {
    let matcher = |not: bool| {
        let of: Vec<(&str, &str)> =
            tags.iter().filter(|t| t.not == not).map(|t| (t.key.as_str(), t.value.as_str())).collect();
        (!of.is_empty()).then(|| HeaderMatcher {
            name: TAGS_HEADER.to_string(),
            header_match_specifier: Some(header_matcher::HeaderMatchSpecifier::StringMatch(StringMatcher {
                match_pattern: Some(string_matcher::MatchPattern::SafeRegex(RegexMatcher {
                    regex: tags_regex(of),
                    ..Default::default()
                })),
                ..Default::default()
            })),
            invert_match: not,
            ..Default::default()
        })
    };
    [matcher(false), matcher(true)].into_iter().flatten().collect()
}

/// The URI SAN matcher of a `matches[]` item with a `spiffeID` and no `sni`.
fn spiffe_matcher(m: &serde_json::Value) -> Option<xds::StringMatcher> {
    if m.get("sni").is_some() {
        return None;
    }
    let spiffe = m.get("spiffeID")?;
    let value = spiffe.get("value")?.as_str()?.to_string();
    let pattern = match spiffe.get("type").and_then(|t| t.as_str()) {
        Some("Exact") => xds::string_matcher::MatchPattern::Exact(value),
        Some("Prefix") => xds::string_matcher::MatchPattern::Prefix(value),
        _ => return None,
    };
    Some(xds::StringMatcher { match_pattern: Some(pattern), ..Default::default() })
}

/// A fault filter that is skipped unless the client certificate's URI SAN matches.
fn skip_unless(san: xds::StringMatcher, fault: HttpFault) -> ExtensionWithMatcher {
    use xds::matcher::matcher_list::{FieldMatcher, Predicate, predicate};
    let single = Predicate {
        match_type: Some(predicate::MatchType::SinglePredicate(predicate::SinglePredicate {
            input: Some(XdsExtension {
                name: "envoy.matching.inputs.uri_san".to_string(),
                typed_config: Some(any(UriSanInput {})),
            }),
            matcher: Some(predicate::single_predicate::Matcher::ValueMatch(san)),
        })),
    };
    let not = Predicate { match_type: Some(predicate::MatchType::NotMatcher(Box::new(single))) };
    let skip = xds::matcher::OnMatch {
        on_match: Some(xds::matcher::on_match::OnMatch::Action(XdsExtension {
            name: "skip".to_string(),
            typed_config: Some(any(SkipFilter {})),
        })),
        ..Default::default()
    };
    ExtensionWithMatcher {
        xds_matcher: Some(xds::Matcher {
            matcher_type: Some(xds::matcher::MatcherType::MatcherList(xds::matcher::MatcherList {
                matchers: vec![FieldMatcher { predicate: Some(not), on_match: Some(skip) }],
            })),
            ..Default::default()
        }),
        extension_config: Some(TypedExtensionConfig { name: FAULT_FILTER.to_string(), typed_config: Some(any(fault)) }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fractional_percent::DenominatorType as D;

    fn p(v: IntOrString) -> (u32, i32) {
        let f = percent(&v);
        (f.numerator, f.denominator)
    }

    #[test]
    fn percentages_convert_as_kuma_does() {
        assert_eq!(p(IntOrString::Int(10)), (10, D::Hundred as i32));
        assert_eq!(p(IntOrString::String("2.5".into())), (250, D::TenThousand as i32));
        assert_eq!(p(IntOrString::String("62.9".into())), (6290, D::TenThousand as i32));
        assert_eq!(p(IntOrString::String("33.3".into())), (333_000, D::Million as i32));
        assert_eq!(p(IntOrString::String("0".into())), (0, D::Hundred as i32));
    }

    #[test]
    fn bandwidths_are_kbps() {
        assert_eq!(kbps("111 Mbps"), Some(111_000));
        assert_eq!(kbps("5kbps"), Some(5));
        assert_eq!(kbps("2 Gbps"), Some(2_000_000));
        assert_eq!(kbps("2 gbps"), None);
        assert_eq!(kbps("Mbps"), None);
    }

    #[test]
    fn tag_regex_is_kumas() {
        assert_eq!(tags_regex([("kuma.io/service", "demo-client")]), ".*&kuma.io/service=[^&]*demo-client[,&].*");
        assert_eq!(tags_regex([("version", "v1.2"), ("app", "*")]), r".*&app=.*&version=[^&]*v1\.2[,&].*");
    }
}
