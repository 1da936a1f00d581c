//! MeshHTTPRoute (reference §5.6): the merged rules of an HTTP outbound become
//! the routes of its virtual host, as Kuma's `meshhttproute` plugin builds them
//! (`listeners.go` `prepareRoutes`, `xds/configurer.go`, `xds/match.go`,
//! `xds/filters/*`):
//!
//! - one sort key per rule × match, a path-less match getting `PathPrefix /`;
//!   a catch-all `PathPrefix /` rule (to the outbound's own destination) is
//!   appended when no rule has exactly that match; a stable sort by Kuma's
//!   `CompareMatch` (Gateway API precedence);
//! - PathPrefix `/v1` becomes two Envoy routes, `path: /v1` and `prefix: /v1/`;
//! - route names: the contributing MeshHTTPRoute's KRI on an outbound to a real
//!   resource, the rule's matches hash on a legacy one (and for the catch-all);
//! - backendRefs become `cluster` (one) or `weighted_clusters`; a rule without
//!   backendRefs goes to the outbound's own cluster; backendRefs that resolve to
//!   nothing are dropped and a rule left with none is left out (Kuma 2.14).

use envoy_types::pb::envoy::config::core::v3::{
    HeaderValue, HeaderValueOption, RuntimeFractionalPercent, header_value_option::HeaderAppendAction,
};
use envoy_types::pb::envoy::config::route::v3::route_action::RequestMirrorPolicy;
use envoy_types::pb::envoy::config::route::v3::{
    HeaderMatcher, QueryParameterMatcher, RedirectAction, Route, RouteAction, RouteMatch, WeightedCluster,
    header_matcher::HeaderMatchSpecifier, query_parameter_matcher::QueryParameterMatchSpecifier, redirect_action,
    route, route_action, route_match, weighted_cluster::ClusterWeight,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_connection_manager;
use envoy_types::pb::envoy::r#type::matcher::v3::{
    RegexMatchAndSubstitute, RegexMatcher, StringMatcher, string_matcher::MatchPattern,
};
use envoy_types::pb::envoy::r#type::v3::{FractionalPercent, fractional_percent::DenominatorType};
use envoy_types::pb::google::protobuf::{BoolValue, Duration, UInt32Value};
use serde_json::Value;

use super::super::parts::ListenerParts;
use super::{At, Configurer, Place};
use crate::model::Kind;
use crate::model::policy::mesh_http_route::{
    Filter, FilterType, HeaderMatchType, HeaderModifier, HttpMatch, PathMatch, PathMatchType, PathRewriteType,
    QueryParamsMatchType, RequestMirror, RequestRedirect, Rule, UrlRewrite,
};
use crate::plan::OutboundPlan;
use crate::rules::effective::Effective;
use crate::rules::subset::hash_matches;

/// MeshHTTPRoute's configurer.
pub struct MeshHttpRoute;

impl Configurer for MeshHttpRoute {
    fn kind(&self) -> Kind {
        Kind::MeshHTTPRoute
    }

    fn listener(&self, place: &Place, confs: &[&Effective], listener: &mut ListenerParts) {
        let At::Outbound(o) = place.at else { return };
        if !o.protocol.is_http() {
            return;
        }
        // Sidecar outbounds have no hostnames: the conf without them.
        let Some(conf) = confs.iter().find(|e| e.conf.get("hostnames").is_none()) else { return };
        let routes = routes(o, &conf.conf);
        for m in listener.hcms() {
            if let Some(http_connection_manager::RouteSpecifier::RouteConfig(c)) = &mut m.route_specifier {
                for vh in &mut c.virtual_hosts {
                    vh.routes = routes.clone();
                }
            }
        }
    }
}

/// A merged rule: its matches as written (for the hash) and typed.
struct RuleIn {
    raw_matches: Vec<Value>,
    /// `default` as written (backendRefs are looked up by their JSON).
    raw_default: Value,
    rule: Rule,
}

/// The catch-all match `[{path: {value: /, type: PathPrefix}}]`.
fn catch_all() -> HttpMatch {
    HttpMatch {
        path: Some(PathMatch { type_: Some(PathMatchType::PathPrefix.into()), value: "/".to_string() }),
        ..Default::default()
    }
}

fn catch_all_raw() -> Vec<Value> {
    vec![serde_json::json!({"path": {"value": "/", "type": "PathPrefix"}})]
}

/// The Envoy routes of an outbound from its merged MeshHTTPRoute conf.
pub fn routes(o: &OutboundPlan, conf: &Value) -> Vec<Route> {
    let mut rules: Vec<RuleIn> = conf
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let rule: Rule = serde_json::from_value(r.clone()).ok()?;
            let raw_matches = r.get("matches").and_then(Value::as_array).cloned().unwrap_or_default();
            let raw_default = r.get("default").cloned().unwrap_or(Value::Null);
            Some(RuleIn { raw_matches, raw_default, rule })
        })
        .collect();
    let has_catch_all = rules.iter().any(|r| r.rule.matches.as_deref() == Some(&[catch_all()][..]));
    if !has_catch_all {
        let rule = Rule { matches: Some(vec![catch_all()]), default: None };
        rules.push(RuleIn { raw_matches: catch_all_raw(), raw_default: Value::Null, rule });
    }
    // One sort key per rule × match; a path-less match matches every path.
    let mut keyed: Vec<(HttpMatch, usize)> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let matches = r.rule.matches.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| vec![catch_all()]);
        for mut m in matches {
            if m.path.is_none() {
                m.path = catch_all().path;
            }
            keyed.push((m, i));
        }
    }
    keyed.sort_by(|a, b| compare_match(&a.0, &b.0));
    let mut out = Vec::new();
    for (m, i) in keyed {
        let r = &rules[i];
        let hash = hash_matches(&r.raw_matches);
        let name = o.routing.rules.get(&hash).map(|s| s.envoy_name.clone()).unwrap_or(hash);
        let default = r.rule.default.clone().unwrap_or_default();
        let refs = r.raw_default.get("backendRefs").and_then(Value::as_array).map(Vec::as_slice);
        let Some(action) = route_action(o, refs) else { continue };
        let filters = default.filters.as_deref().unwrap_or_default();
        let raw_filters = r.raw_default.get("filters").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let prefix = m.path.as_ref().is_some_and(|p| p.type_.as_ref().is_some_and(|t| t.is(PathMatchType::PathPrefix)));
        for route_match in route_matches(&m) {
            let mut route = Route {
                name: name.clone(),
                r#match: Some(route_match),
                action: Some(route::Action::Route(action.clone())),
                ..Default::default()
            };
            for (f, raw) in filters.iter().zip(raw_filters) {
                apply_filter(&mut route, f, raw, prefix, o);
            }
            out.push(route);
        }
    }
    out
}

/// Kuma's `CompareMatch`: Exact path, then PathPrefix (longer first), then
/// RegularExpression (longer first), then no path; then a method; then more
/// headers; then more query parameters.
pub fn compare_match(a: &HttpMatch, b: &HttpMatch) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    fn rank(p: &Option<PathMatch>) -> (u8, std::cmp::Reverse<usize>) {
        let Some(p) = p else { return (3, std::cmp::Reverse(0)) };
        let kind = p.type_.as_ref().and_then(|t| t.known());
        match kind {
            Some(PathMatchType::Exact) => (0, std::cmp::Reverse(0)),
            Some(PathMatchType::PathPrefix) => (1, std::cmp::Reverse(p.value.len())),
            Some(PathMatchType::RegularExpression) => (2, std::cmp::Reverse(p.value.len())),
            None => (3, std::cmp::Reverse(0)),
        }
    }
    let headers = |m: &HttpMatch| m.headers.as_ref().map_or(0, Vec::len);
    let queries = |m: &HttpMatch| m.query_params.as_ref().map_or(0, Vec::len);
    rank(&a.path)
        .cmp(&rank(&b.path))
        .then_with(|| b.method.is_some().cmp(&a.method.is_some()))
        .then_with(|| headers(b).cmp(&headers(a)))
        .then_with(|| queries(b).cmp(&queries(a)))
        .then(Ordering::Equal)
}

fn regex(r: &str) -> RegexMatcher {
    RegexMatcher { regex: r.to_string(), ..Default::default() }
}

fn string_match(p: MatchPattern) -> StringMatcher {
    StringMatcher { match_pattern: Some(p), ..Default::default() }
}

/// The Envoy matches of one match: a PathPrefix other than `/` is two.
fn route_matches(m: &HttpMatch) -> Vec<RouteMatch> {
    use route_match::PathSpecifier;
    let specifiers = match &m.path {
        None => vec![PathSpecifier::Prefix("/".to_string())],
        Some(p) => match p.type_.as_ref().and_then(|t| t.known()) {
            Some(PathMatchType::Exact) => vec![PathSpecifier::Path(p.value.clone())],
            Some(PathMatchType::RegularExpression) => vec![PathSpecifier::SafeRegex(regex(&p.value))],
            _ if p.value == "/" => vec![PathSpecifier::Prefix("/".to_string())],
            _ => {
                let trimmed = p.value.strip_suffix('/').unwrap_or(&p.value);
                vec![PathSpecifier::Path(trimmed.to_string()), PathSpecifier::Prefix(format!("{trimmed}/"))]
            }
        },
    };
    specifiers
        .into_iter()
        .map(|s| {
            let mut rm = RouteMatch { path_specifier: Some(s), ..Default::default() };
            if let Some(method) = m.method.as_ref() {
                rm.headers.push(HeaderMatcher {
                    name: ":method".to_string(),
                    header_match_specifier: Some(HeaderMatchSpecifier::StringMatch(string_match(MatchPattern::Exact(
                        method.raw(),
                    )))),
                    ..Default::default()
                });
            }
            let mut seen = std::collections::BTreeSet::new();
            for q in m.query_params.iter().flatten() {
                if !seen.insert(q.name.clone()) {
                    continue;
                }
                let pattern = if q.type_.as_ref().is_some_and(|t| t.is(QueryParamsMatchType::RegularExpression)) {
                    MatchPattern::SafeRegex(regex(&q.value))
                } else {
                    MatchPattern::Exact(q.value.clone())
                };
                rm.query_parameters.push(QueryParameterMatcher {
                    name: q.name.clone(),
                    query_parameter_match_specifier: Some(QueryParameterMatchSpecifier::StringMatch(string_match(
                        pattern,
                    ))),
                });
            }
            let mut seen = std::collections::BTreeSet::new();
            for h in m.headers.iter().flatten() {
                if !seen.insert(h.name.clone()) {
                    continue;
                }
                let specifier = match h.type_.known() {
                    Some(HeaderMatchType::Present) => HeaderMatchSpecifier::PresentMatch(true),
                    Some(HeaderMatchType::Absent) => HeaderMatchSpecifier::PresentMatch(false),
                    Some(HeaderMatchType::RegularExpression) => {
                        HeaderMatchSpecifier::StringMatch(string_match(MatchPattern::SafeRegex(regex(&h.value))))
                    }
                    Some(HeaderMatchType::Prefix) if h.value.is_empty() => HeaderMatchSpecifier::PresentMatch(true),
                    Some(HeaderMatchType::Prefix) => {
                        HeaderMatchSpecifier::StringMatch(string_match(MatchPattern::Prefix(h.value.clone())))
                    }
                    _ => HeaderMatchSpecifier::StringMatch(string_match(MatchPattern::Exact(h.value.clone()))),
                };
                rm.headers.push(HeaderMatcher {
                    name: h.name.clone(),
                    header_match_specifier: Some(specifier),
                    ..Default::default()
                });
            }
            rm
        })
        .collect()
}

/// The forwarding action of a rule: its backendRefs (or the outbound's own
/// cluster), `None` when none of them resolves.
fn route_action(o: &OutboundPlan, backend_refs: Option<&[Value]>) -> Option<RouteAction> {
    let mut split: Vec<(String, u32)> = Vec::new();
    let mut external = false;
    match backend_refs {
        None => split.push((o.cluster.clone(), 100)),
        Some(refs) => {
            for r in refs {
                let weight = r.get("weight").and_then(Value::as_i64).unwrap_or(1);
                let Ok(weight) = u32::try_from(weight) else { continue };
                if weight == 0 {
                    continue;
                }
                let Some(b) = o.routing.cluster(r) else { continue };
                external |= b.external;
                match split.iter_mut().find(|(c, _)| *c == b.cluster) {
                    Some((_, w)) => *w = w.saturating_add(weight),
                    None => split.push((b.cluster.clone(), weight)),
                }
            }
        }
    }
    let specifier = match split.as_slice() {
        [] => return None,
        [(cluster, _)] => route_action::ClusterSpecifier::Cluster(cluster.clone()),
        many => route_action::ClusterSpecifier::WeightedClusters(WeightedCluster {
            clusters: many
                .iter()
                .map(|(name, weight)| ClusterWeight {
                    name: name.clone(),
                    weight: Some(UInt32Value { value: *weight }),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }),
    };
    Some(RouteAction {
        cluster_specifier: Some(specifier),
        // MeshTimeout's configurer sets it.
        timeout: Some(Duration::default()),
        host_rewrite_specifier: external
            .then_some(route_action::HostRewriteSpecifier::AutoHostRewrite(BoolValue { value: true })),
        ..Default::default()
    })
}

fn apply_filter(route: &mut Route, f: &Filter, raw: &Value, prefix: bool, o: &OutboundPlan) {
    let Some(kind) = f.type_.as_ref().and_then(|t| t.known()) else { return };
    match kind {
        FilterType::RequestHeaderModifier => {
            if let Some(m) = &f.request_header_modifier {
                let (add, remove) = header_modifiers(m);
                route.request_headers_to_add.extend(add);
                route.request_headers_to_remove.extend(remove);
            }
        }
        FilterType::ResponseHeaderModifier => {
            if let Some(m) = &f.response_header_modifier {
                let (add, remove) = header_modifiers(m);
                route.response_headers_to_add.extend(add);
                route.response_headers_to_remove.extend(remove);
            }
        }
        FilterType::RequestRedirect => {
            if let Some(r) = &f.request_redirect {
                route.action = Some(route::Action::Redirect(redirect(r, prefix, route)));
            }
        }
        FilterType::UrlRewrite => {
            if let Some(r) = &f.url_rewrite {
                url_rewrite(route, r, prefix);
            }
        }
        FilterType::RequestMirror => {
            if let Some(m) = &f.request_mirror {
                let backend_ref = raw.get("requestMirror").and_then(|m| m.get("backendRef"));
                mirror(route, m, backend_ref, o);
            }
        }
    }
}

/// Kuma's `headerModifiers`: `set` replaces (its comma-separated values after
/// the first are appended), `add` appends, `remove` removes.
fn header_modifiers(m: &HeaderModifier) -> (Vec<HeaderValueOption>, Vec<String>) {
    let option = |name: &str, value: &str, action: HeaderAppendAction| HeaderValueOption {
        header: Some(HeaderValue { key: name.to_string(), value: value.to_string(), ..Default::default() }),
        append_action: action as i32,
        ..Default::default()
    };
    let mut out = Vec::new();
    for h in m.set.iter().flatten() {
        for (i, v) in h.value.split(',').enumerate() {
            let action = if i == 0 {
                HeaderAppendAction::OverwriteIfExistsOrAdd
            } else {
                HeaderAppendAction::AppendIfExistsOrAdd
            };
            out.push(option(&h.name, v, action));
        }
    }
    for h in m.add.iter().flatten() {
        for v in h.value.split(',') {
            out.push(option(&h.name, v, HeaderAppendAction::AppendIfExistsOrAdd));
        }
    }
    (out, m.remove.clone().unwrap_or_default())
}

fn regex_rewrite(substitution: &str) -> RegexMatchAndSubstitute {
    RegexMatchAndSubstitute { pattern: Some(regex(".*")), substitution: substitution.to_string() }
}

/// The `prefix_rewrite` of a ReplacePrefixMatch on the `prefix: /p/` variant of
/// a PathPrefix: the matched prefix ends with the separator, so the replacement
/// must too, or `/p/x` -> `/newx` (Kuma writes the replacement as is; meshc
/// keeps Gateway API's `/p/x` -> `/new/x`).
fn with_separator(replacement: &str) -> String {
    if replacement.ends_with('/') { replacement.to_string() } else { format!("{replacement}/") }
}

fn is_exact_variant(route: &Route) -> bool {
    matches!(route.r#match.as_ref().and_then(|m| m.path_specifier.as_ref()), Some(route_match::PathSpecifier::Path(_)))
}

fn redirect(r: &RequestRedirect, prefix: bool, route: &Route) -> RedirectAction {
    let mut out = RedirectAction {
        host_redirect: r.hostname.clone().unwrap_or_default(),
        port_redirect: r.port.and_then(|p| u32::try_from(p).ok()).unwrap_or_default(),
        scheme_rewrite_specifier: r
            .scheme
            .as_ref()
            .map(|s| redirect_action::SchemeRewriteSpecifier::SchemeRedirect(s.raw())),
        response_code: match r.status_code {
            302 => redirect_action::RedirectResponseCode::Found,
            303 => redirect_action::RedirectResponseCode::SeeOther,
            307 => redirect_action::RedirectResponseCode::TemporaryRedirect,
            308 => redirect_action::RedirectResponseCode::PermanentRedirect,
            _ => redirect_action::RedirectResponseCode::MovedPermanently,
        } as i32,
        ..Default::default()
    };
    if let Some(path) = &r.path {
        use redirect_action::PathRewriteSpecifier;
        match path.type_.as_ref().and_then(|t| t.known()) {
            Some(PathRewriteType::ReplaceFullPath) => {
                let full = path.replace_full_path.clone().unwrap_or_default();
                out.path_rewrite_specifier = Some(PathRewriteSpecifier::RegexRewrite(regex_rewrite(&full)));
            }
            Some(PathRewriteType::ReplacePrefixMatch) if prefix => {
                let to = path.replace_prefix_match.clone().unwrap_or_default();
                out.path_rewrite_specifier = Some(if is_exact_variant(route) {
                    PathRewriteSpecifier::RegexRewrite(regex_rewrite(&to))
                } else {
                    PathRewriteSpecifier::PrefixRewrite(with_separator(&to))
                });
            }
            _ => {}
        }
    }
    out
}

fn url_rewrite(route: &mut Route, r: &UrlRewrite, prefix: bool) {
    let exact_variant = is_exact_variant(route);
    let Some(route::Action::Route(action)) = &mut route.action else { return };
    if let Some(host) = &r.hostname {
        action.host_rewrite_specifier = Some(route_action::HostRewriteSpecifier::HostRewriteLiteral(host.clone()));
    }
    let Some(path) = &r.path else { return };
    match path.type_.as_ref().and_then(|t| t.known()) {
        Some(PathRewriteType::ReplaceFullPath) => {
            action.regex_rewrite = Some(regex_rewrite(path.replace_full_path.as_deref().unwrap_or_default()));
        }
        Some(PathRewriteType::ReplacePrefixMatch) if prefix => {
            let to = path.replace_prefix_match.clone().unwrap_or_default();
            if exact_variant {
                action.regex_rewrite = Some(regex_rewrite(&to));
            } else {
                action.prefix_rewrite = with_separator(&to);
            }
        }
        _ => {}
    }
}

/// Kuma's `ConvertPercentage`: a whole percentage out of a hundred, else
/// out of a million.
fn fraction(percent: f64) -> FractionalPercent {
    if percent.fract() == 0.0 {
        FractionalPercent { numerator: percent as u32, denominator: DenominatorType::Hundred as i32 }
    } else {
        FractionalPercent {
            numerator: (percent * 10_000.0).round() as u32,
            denominator: DenominatorType::Million as i32,
        }
    }
}

fn mirror(route: &mut Route, m: &RequestMirror, backend_ref: Option<&Value>, o: &OutboundPlan) {
    // A mirror whose backend does not resolve leaves the request alone.
    let Some(b) = backend_ref.and_then(|r| o.routing.cluster(r)) else { return };
    let Some(route::Action::Route(action)) = &mut route.action else { return };
    let runtime_fraction = m
        .percentage
        .as_ref()
        .and_then(|p| p.as_f64())
        .map(|p| RuntimeFractionalPercent { default_value: Some(fraction(p)), ..Default::default() });
    action.request_mirror_policies.push(RequestMirrorPolicy {
        cluster: b.cluster.clone(),
        runtime_fraction,
        ..Default::default()
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(v: Value) -> HttpMatch {
        serde_json::from_value(v).unwrap_or_default()
    }

    #[test]
    fn gateway_api_precedence() {
        let mut list = [
            m(json!({"path": {"type": "PathPrefix", "value": "/"}})),
            m(json!({"path": {"type": "RegularExpression", "value": "/x.*"}})),
            m(json!({"path": {"type": "PathPrefix", "value": "/long"}})),
            m(
                json!({"path": {"type": "PathPrefix", "value": "/"}, "headers": [{"type": "Exact", "name": "a", "value": "b"}]}),
            ),
            m(json!({"path": {"type": "Exact", "value": "/e"}})),
            m(json!({"path": {"type": "PathPrefix", "value": "/"}, "method": "GET"})),
        ];
        list.sort_by(compare_match);
        let paths: Vec<String> = list.iter().map(|m| serde_json::to_string(m).unwrap_or_default()).collect();
        assert!(paths[0].contains("/e"));
        assert!(paths[1].contains("/long"));
        assert!(paths[2].contains("GET"), "method before headers: {paths:?}");
        assert!(paths[3].contains("headers"));
        assert!(paths[5].contains("RegularExpression"));
    }

    #[test]
    fn path_prefix_is_two_envoy_matches() {
        let got = route_matches(&m(json!({"path": {"type": "PathPrefix", "value": "/v1/"}})));
        let specs: Vec<_> = got.into_iter().map(|r| r.path_specifier).collect();
        assert_eq!(
            specs,
            vec![
                Some(route_match::PathSpecifier::Path("/v1".into())),
                Some(route_match::PathSpecifier::Prefix("/v1/".into()))
            ]
        );
    }

    #[test]
    fn percentages_follow_kuma() {
        assert_eq!(fraction(50.0).numerator, 50);
        assert_eq!(fraction(0.5), FractionalPercent { numerator: 5000, denominator: DenominatorType::Million as i32 });
    }
}
