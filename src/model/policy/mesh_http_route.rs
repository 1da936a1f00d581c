//! MeshHTTPRoute (`pkg/plugins/policies/meshhttproute/`): HTTP routing for outbound
//! traffic (or MeshGateway listeners): matches, filters and weighted backendRefs.
//! Kuma's validator lives in `api/v1alpha1/validation.go`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::findings::codes;
use crate::kuma_enum;
use crate::model::choice::Choice;
use crate::model::common::envoy_limits;
use crate::model::common::{
    BackendRef, IntOrString, TargetRef, TargetRefKind as K, TargetRefRules, validate_target_ref,
};
use crate::model::{KindSpec, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// MeshHTTPRoute spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshHTTPRoute {
    /// The proxies (or MeshGateway) this route applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// Destinations whose requests are routed, each with its routing rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<To>>,
}

/// A `to[]` item: the rules applied to requests for `targetRef`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct To {
    /// The group of request destinations (a MeshService, MeshExternalService,
    /// MeshMultiZoneService; `Mesh` under a MeshGateway).
    #[serde(default)]
    #[schemars(required)]
    pub target_ref: TargetRef,
    /// Only with a top-level MeshGateway: limits the rules to requests for these hostnames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostnames: Option<Vec<String>>,
    /// Routing rules for this combination of top-level targetRef and destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub rules: Option<Vec<Rule>>,
}

/// A routing rule: which requests (`matches`) get which configuration (`default`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Rule {
    /// How to match HTTP requests this rule applies to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required, length(min = 1))]
    pub matches: Option<Vec<HttpMatch>>,
    /// Routing configuration, merged with the rules of other policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub default: Option<RuleConf>,
}

/// The configuration of a rule: filters to apply and where to send the request.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RuleConf {
    /// Request/response modifications, redirects, rewrites and mirrors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filters: Option<Vec<Filter>>,
    /// Where to forward matching requests, with relative weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_refs: Option<Vec<BackendRef>>,
}

/// One condition set of a rule (all of its parts must match).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HttpMatch {
    /// Match on the request path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathMatch>,
    /// Match on the HTTP method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<Choice<Method>>,
    /// Match on URL query parameters; all must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_params: Option<Vec<QueryParamsMatch>>,
    /// Match on request headers; all must match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Vec<HeaderMatch>>,
}

kuma_enum! {
    /// How a path is matched.
    pub enum PathMatchType { Exact = "Exact", PathPrefix = "PathPrefix", RegularExpression = "RegularExpression" }
}

kuma_enum! {
    /// HTTP methods a rule can match.
    pub enum Method {
        Connect = "CONNECT",
        Delete = "DELETE",
        Get = "GET",
        Head = "HEAD",
        Options = "OPTIONS",
        Patch = "PATCH",
        Post = "POST",
        Put = "PUT",
        Trace = "TRACE",
    }
}

kuma_enum! {
    /// How a query parameter is matched.
    pub enum QueryParamsMatchType { Exact = "Exact", RegularExpression = "RegularExpression" }
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

/// A path condition.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PathMatch {
    /// How the path is matched.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<PathMatchType>>,
    /// Exact or prefix matches must be an absolute path; a prefix matches only whole
    /// `/`-separated segments.
    #[serde(default)]
    #[schemars(required, length(min = 1))]
    pub value: String,
}

/// A query parameter condition.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct QueryParamsMatch {
    /// How the value is matched.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<QueryParamsMatchType>>,
    /// Name of the query parameter.
    #[serde(default)]
    #[schemars(required, length(min = 1))]
    pub name: String,
    /// Value to match.
    #[serde(default)]
    #[schemars(required)]
    pub value: String,
}

fn default_header_match_type() -> Choice<HeaderMatchType> {
    Choice::Known(HeaderMatchType::Exact)
}

/// A header condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HeaderMatch {
    /// How the header is matched (default `Exact`).
    #[serde(rename = "type", default = "default_header_match_type")]
    pub type_: Choice<HeaderMatchType>,
    /// Header name, lower case (matched case-insensitively).
    #[serde(default)]
    #[schemars(required, length(min = 1, max = 256), regex(pattern = r"^[a-z0-9!#$%&'*+\-.^_\x60|~]+$"))]
    pub name: String,
    /// Header value to match (must be empty for `Present` and `Absent`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
}

kuma_enum! {
    /// Kinds of filter.
    pub enum FilterType {
        RequestHeaderModifier = "RequestHeaderModifier",
        ResponseHeaderModifier = "ResponseHeaderModifier",
        RequestRedirect = "RequestRedirect",
        UrlRewrite = "URLRewrite",
        RequestMirror = "RequestMirror",
    }
}

/// A filter; the field named after `type` holds its configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Filter {
    /// Which filter this is.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<FilterType>>,
    /// Headers to set, add or remove on the request (one action per header name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_header_modifier: Option<HeaderModifier>,
    /// Headers to set, add or remove on the response (one action per header name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_header_modifier: Option<HeaderModifier>,
    /// Answer with a redirect instead of forwarding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_redirect: Option<RequestRedirect>,
    /// Rewrite the host or path while forwarding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_rewrite: Option<UrlRewrite>,
    /// Mirror requests to another backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_mirror: Option<RequestMirror>,
}

/// Header modifications; values of repeated headers use RFC 7230 comma formatting.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HeaderModifier {
    /// Headers to add, appending to existing values.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub add: Option<Vec<HeaderKeyValue>>,
    /// Headers to set, replacing existing values.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub set: Option<Vec<HeaderKeyValue>>,
    /// Names of headers to remove.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 16))]
    pub remove: Option<Vec<String>>,
}

/// A header name and value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct HeaderKeyValue {
    /// Header name.
    #[serde(default)]
    #[schemars(required, length(min = 1, max = 256), regex(pattern = r"^[a-z0-9!#$%&'*+\-.^_\x60|~]+$"))]
    pub name: String,
    /// Header value.
    #[serde(default)]
    #[schemars(required)]
    pub value: String,
}

kuma_enum! {
    /// Scheme of a redirect's `Location`.
    pub enum Scheme { Http = "http", Https = "https" }
}

kuma_enum! {
    /// How a path is rewritten.
    pub enum PathRewriteType { ReplaceFullPath = "ReplaceFullPath", ReplacePrefixMatch = "ReplacePrefixMatch" }
}

const HOSTNAME_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

fn default_status_code() -> i64 {
    302
}

/// A redirect response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RequestRedirect {
    /// Scheme of the `Location` header; the request's when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheme: Option<Choice<Scheme>>,
    /// Hostname of the `Location` header (an RFC 1123 hostname, not an IP address).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = HOSTNAME_PATTERN))]
    pub hostname: Option<String>,
    /// How the path of the `Location` header is built; the request path when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathRewrite>,
    /// Port of the `Location` header; the request's when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i64>,
    /// HTTP status code of the redirect (default 302).
    #[serde(default = "default_status_code")]
    #[schemars(extend("enum" = [301, 302, 303, 307, 308]))]
    pub status_code: i64,
}

/// A path rewrite.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct PathRewrite {
    /// Which rewrite to do.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<PathRewriteType>>,
    /// The whole new path (`ReplaceFullPath`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace_full_path: Option<String>,
    /// The replacement of the matched prefix (`ReplacePrefixMatch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replace_prefix_match: Option<String>,
}

/// A URL rewrite while forwarding.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct UrlRewrite {
    /// New value of the Host header.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = HOSTNAME_PATTERN))]
    pub hostname: Option<String>,
    /// Path rewrite.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathRewrite>,
    /// Rewrite the Host header to the upstream host's hostname (MeshGateway only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_to_backend_hostname: Option<bool>,
}

/// Mirroring of requests to another backend.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RequestMirror {
    /// Where mirrored requests go.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub backend_ref: Option<BackendRef>,
    /// Percentage of requests to mirror; all when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentage: Option<IntOrString>,
}

/// `metadata.UnresolvedBackendServiceTag`: the name Kuma's Gateway API converter gives
/// a backend it could not resolve, accepted despite its `/`.
const UNRESOLVED_BACKEND: &str = "kuma.io/unresolved-backend";

impl KindSpec for MeshHTTPRoute {
    fn validate(&self, ctx: &ValidateCtx, v: &mut Violations) {
        let gateway = super::validate_route_top(v, &self.target_ref, ctx.role);
        for (i, to) in self.to.iter().flatten().enumerate() {
            let p = Path::root().field("to").index(i);
            super::validate_route_to(v, &p.field("targetRef"), &to.target_ref, gateway);
            for (j, rule) in to.rules.iter().flatten().enumerate() {
                validate_rule(v, &p.field("rules").index(j), rule, gateway);
            }
            if !gateway && to.hostnames.as_ref().is_some_and(|h| !h.is_empty()) {
                v.add(&p.field("hostnames"), msg::MUST_NOT_BE_DEFINED);
            }
        }
    }

    fn policy(&self) -> Option<PolicyView<'_>> {
        let mut view = super::top_view(&self.target_ref);
        for (i, to) in self.to.iter().flatten().enumerate() {
            let p = Path::root().field("to").index(i);
            view.to.push(&to.target_ref);
            view.references.push((p.field("targetRef"), &to.target_ref));
            for (j, rule) in to.rules.iter().flatten().enumerate() {
                let Some(conf) = &rule.default else { continue };
                let rp = p.field("rules").index(j).field("default");
                for (k, f) in conf.filters.iter().flatten().enumerate() {
                    if let Some(b) = f.request_mirror.as_ref().and_then(|m| m.backend_ref.as_ref()) {
                        let bp = rp.field("filters").index(k).field("requestMirror").field("backendRef");
                        view.references.push((bp, &b.target));
                    }
                }
                for (k, b) in conf.backend_refs.iter().flatten().enumerate() {
                    view.references.push((rp.field("backendRefs").index(k), &b.target));
                }
            }
        }
        Some(view)
    }
}

fn validate_rule(v: &mut Violations, path: &Path, rule: &Rule, gateway: bool) {
    let matches = rule.matches.as_deref().unwrap_or_default();
    for (i, m) in matches.iter().enumerate() {
        validate_match(v, &path.field("matches").index(i), m);
    }
    let empty = RuleConf::default();
    let conf = rule.default.as_ref().unwrap_or(&empty);
    let dp = path.field("default");
    for (i, f) in conf.filters.iter().flatten().enumerate() {
        validate_filter(v, &dp.field("filters").index(i), f, matches, gateway);
    }
    let backend_refs = conf.backend_refs.as_deref().unwrap_or_default();
    let bp = dp.field("backendRefs");
    if backend_refs.is_empty() && gateway {
        let redirect = conf.filters.iter().flatten().any(|f| is_type(f, FilterType::RequestRedirect));
        // A rule that only redirects needs no backend.
        if !redirect {
            v.add_code(codes::KUMA_REQUIRED, &bp, msg::MUST_NOT_BE_EMPTY);
        }
    }
    let rules = TargetRefRules {
        supported: &[K::MeshService, K::MeshServiceSubset, K::MeshExternalService, K::MeshMultiZoneService],
        ..Default::default()
    };
    for (i, b) in backend_refs.iter().enumerate() {
        let p = bp.index(i);
        validate_backend_target(v, &p, &b.target, &rules);
        b.validate(v, &p);
    }
    // Envoy refuses weighted clusters whose weights add up past 32 bits.
    let total: i64 = backend_refs.iter().map(|b| b.weight.max(0)).fold(0, i64::saturating_add);
    if backend_refs.len() > 1 && total > i64::from(u32::MAX) {
        v.add_code(
            codes::ENVOY_REJECTS,
            &bp,
            format!("weights add up to {total}, more than Envoy accepts ({}); scale them down", u32::MAX),
        );
    } else if let [b] = backend_refs {
        envoy_limits::validate_u32(v, &bp.index(0).field("weight"), b.weight.max(0));
    }
}

fn is_type(f: &Filter, t: FilterType) -> bool {
    f.type_.as_ref().is_some_and(|c| c.is(t))
}

/// `ValidateTargetRef` with `AllowedInvalidNames: [kuma.io/unresolved-backend]`.
fn validate_backend_target(v: &mut Violations, path: &Path, r: &TargetRef, rules: &TargetRefRules) {
    if r.name.as_deref() == Some(UNRESOLVED_BACKEND) {
        // Only the name's character set is relaxed: check the rest with a valid name.
        let mut renamed = r.clone();
        renamed.name = Some("unresolved-backend".into());
        validate_target_ref(v, path, &renamed, rules);
    } else {
        validate_target_ref(v, path, r, rules);
    }
}

fn validate_match(v: &mut Violations, path: &Path, m: &HttpMatch) {
    if let Some(pm) = &m.path {
        let vp = path.field("path").field("value");
        match pm.type_.as_ref().and_then(Choice::known) {
            Some(PathMatchType::PathPrefix) if pm.value != "/" => {
                if pm.value.ends_with('/') {
                    v.add(
                        &vp,
                        "does not need a trailing slash because only a `/`-separated prefix or an entire path is matched",
                    );
                }
                if !pm.value.starts_with('/') {
                    v.add(&vp, "must be an absolute path");
                }
            }
            Some(PathMatchType::Exact) if !pm.value.starts_with('/') => v.add(&vp, "must be an absolute path"),
            Some(PathMatchType::RegularExpression) => envoy_limits::validate_regex(v, &vp, &pm.value),
            _ => {}
        }
    }
    let mut seen = std::collections::HashSet::new();
    for (i, q) in m.query_params.iter().flatten().enumerate() {
        if !seen.insert(q.name.as_str()) {
            let p = path.field("queryParams").index(i).field("name");
            v.add(&p, format!("multiple entries for name {}", q.name));
        }
        if q.type_.as_ref().is_some_and(|t| t.is(QueryParamsMatchType::RegularExpression)) {
            envoy_limits::validate_regex(v, &path.field("queryParams").index(i).field("value"), &q.value);
        }
    }
    for (i, h) in m.headers.iter().flatten().enumerate() {
        let valueless = h.type_.is(HeaderMatchType::Present) || h.type_.is(HeaderMatchType::Absent);
        if valueless && !h.value.is_empty() {
            v.add(&path.field("headers").index(i).field("value"), msg::MUST_NOT_BE_DEFINED);
        }
        if h.type_.is(HeaderMatchType::RegularExpression) {
            envoy_limits::validate_regex(v, &path.field("headers").index(i).field("value"), &h.value);
        }
    }
}

/// Kuma's `hasAnyMatchesWithoutPrefix` (no matches means the default `/` prefix).
fn any_match_without_prefix(matches: &[HttpMatch]) -> bool {
    matches
        .iter()
        .any(|m| !m.path.as_ref().and_then(|p| p.type_.as_ref()).is_some_and(|t| t.is(PathMatchType::PathPrefix)))
}

const PREFIX_ONLY: &str = "can only appear if all matches match a path prefix";

fn validate_filter(v: &mut Violations, path: &Path, f: &Filter, matches: &[HttpMatch], gateway: bool) {
    let Some(t) = f.type_.as_ref().and_then(Choice::known) else {
        return;
    };
    match t {
        FilterType::RequestHeaderModifier | FilterType::ResponseHeaderModifier => {
            let (name, modifier) = if t == FilterType::RequestHeaderModifier {
                ("requestHeaderModifier", &f.request_header_modifier)
            } else {
                ("responseHeaderModifier", &f.response_header_modifier)
            };
            match modifier {
                None => v.must_be_defined(&path.field(name)),
                Some(m) => validate_header_modifier(v, &path.field(name), m),
            }
        }
        FilterType::RequestRedirect => {
            let p = path.field("requestRedirect");
            let Some(r) = &f.request_redirect else {
                return v.must_be_defined(&p);
            };
            if r.path.as_ref().is_some_and(|x| x.replace_prefix_match.is_some()) && any_match_without_prefix(matches) {
                v.add(&p.field("path").field("replacePrefixMatch"), PREFIX_ONLY);
            }
            validate_precise_hostname(v, &p.field("hostname"), r.hostname.as_deref());
            validate_path_rewrite(v, &p.field("path"), r.path.as_ref());
        }
        FilterType::UrlRewrite => {
            let p = path.field("urlRewrite");
            let Some(r) = &f.url_rewrite else {
                return v.must_be_defined(&p);
            };
            if r.path.as_ref().is_some_and(|x| x.replace_prefix_match.is_some()) && any_match_without_prefix(matches) {
                v.add(&p.field("path").field("replacePrefixMatch"), PREFIX_ONLY);
            }
            validate_precise_hostname(v, &p.field("hostname"), r.hostname.as_deref());
            validate_path_rewrite(v, &p.field("path"), r.path.as_ref());
            if r.host_to_backend_hostname == Some(true) {
                let hp = p.field("hostToBackendHostname");
                if !gateway {
                    v.add(&hp, "can only be set with MeshGateway");
                }
                if r.hostname.is_some() {
                    v.add(&hp, "cannot be set together with hostname");
                }
            }
        }
        FilterType::RequestMirror => {
            let p = path.field("requestMirror");
            let Some(m) = &f.request_mirror else {
                return v.must_be_defined(&p);
            };
            let missing = TargetRef::default();
            let target = m.backend_ref.as_ref().map_or(&missing, |b| &b.target);
            let rules = TargetRefRules { supported: &[K::MeshService, K::MeshServiceSubset], ..Default::default() };
            validate_target_ref(v, &p.field("backendRef"), target, &rules);
        }
    }
}

/// A new path goes into a header (`:path`, `Location`): no CR, LF or NUL.
fn validate_path_rewrite(v: &mut Violations, path: &Path, rewrite: Option<&PathRewrite>) {
    let Some(r) = rewrite else { return };
    for (name, value) in [("replaceFullPath", &r.replace_full_path), ("replacePrefixMatch", &r.replace_prefix_match)] {
        if let Some(value) = value {
            envoy_limits::validate_header_value(v, &path.field(name), value);
        }
    }
}

fn validate_header_modifier(v: &mut Violations, path: &Path, m: &HeaderModifier) {
    if m.set.is_none() && m.add.is_none() && m.remove.is_none() {
        v.add(path, msg::must_have_at_least_one(&["set", "add", "remove"]));
        return;
    }
    let mut seen = std::collections::HashSet::new();
    let mut check = |v: &mut Violations, p: Path, name: &str| {
        if !seen.insert(name.to_string()) {
            v.add(&p.field("name"), "duplicate header name");
        }
    };
    for (section, items) in [("set", &m.set), ("add", &m.add)] {
        for (i, h) in items.iter().flatten().enumerate() {
            let p = path.field(section).index(i);
            check(v, p.clone(), &h.name);
            envoy_limits::validate_modifiable_header(v, &p.field("name"), &h.name);
            envoy_limits::validate_header_value(v, &p.field("value"), &h.value);
        }
    }
    for (i, name) in m.remove.iter().flatten().enumerate() {
        check(v, path.field("remove").index(i), name);
        envoy_limits::validate_modifiable_header(v, &path.field("remove").index(i), name);
    }
}

const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// Kuma's `validatePreciseHostname`: not an IP, then Kubernetes' `IsDNS1123Subdomain`.
fn validate_precise_hostname(v: &mut Violations, path: &Path, hostname: Option<&str>) {
    let Some(h) = hostname else { return };
    if is_ip_sloppy(h) {
        v.add_code(codes::BAD_ADDRESS, path, "cannot be an IP address");
        return;
    }
    if h.len() > 253 {
        v.add_code(codes::BAD_ADDRESS, path, "must be no more than 253 characters");
    }
    if !matches_dns1123_regex(h) {
        v.add_code(codes::BAD_ADDRESS, path, DNS1123_SUBDOMAIN_MSG);
    }
}

/// Go's `netutils.ParseIPSloppy`: IPv6, or IPv4 whose octets may have leading zeros.
fn is_ip_sloppy(s: &str) -> bool {
    if s.contains(':') {
        return s.parse::<std::net::Ipv6Addr>().is_ok();
    }
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 4
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u32>().is_ok_and(|n| n <= 255))
}

/// The regex of Kubernetes' `IsDNS1123Subdomain` (no per-label length limit).
fn matches_dns1123_regex(s: &str) -> bool {
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    s.split('.').all(label_ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{self, meta, pairs};
    use crate::model::{Kind, PolicyRole};

    fn check_role(spec: serde_json::Value, role: PolicyRole) -> Vec<(String, String)> {
        testing::check::<MeshHTTPRoute>(&meta(Kind::MeshHTTPRoute, "route-1"), role, spec)
    }

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        check_role(spec, PolicyRole::System)
    }

    fn frontend_to(rules: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "targetRef": {"kind": "MeshService", "name": "frontend"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "frontend"}, "rules": rules}]
        })
    }

    #[test]
    fn top_level_kind_not_supported() {
        let spec = serde_json::json!({"targetRef": {"kind": "BlahBlah", "name": "frontend"}, "to": []});
        assert_eq!(check(spec), pairs(&[("spec.targetRef.kind", "value 'BlahBlah' is not supported")]));
    }

    #[test]
    fn top_level_gateway_only_for_system_role() {
        let spec = serde_json::json!({"targetRef": {"kind": "MeshGateway", "name": "edge"}, "to": []});
        assert_eq!(check(spec.clone()), pairs(&[]));
        assert_eq!(
            check_role(spec, PolicyRole::Consumer),
            pairs(&[("spec.targetRef.kind", "value 'MeshGateway' is not supported")])
        );
    }

    #[test]
    fn to_target_ref_kinds() {
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshService", "name": "frontend"},
            "to": [{"targetRef": {"kind": "BlahBlah", "name": "frontend"}}, {"targetRef": {"kind": "Mesh"}}]
        });
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].targetRef.kind", "value 'BlahBlah' is not supported"),
                ("spec.to[1].targetRef.kind", "value 'Mesh' is not supported"),
            ])
        );
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshGateway", "name": "edge"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "backend"}}]
        });
        assert_eq!(check(spec), pairs(&[("spec.to[0].targetRef.kind", "value 'MeshService' is not supported")]));
    }

    #[test]
    fn incorrect_path_match_value() {
        let spec = frontend_to(serde_json::json!([{"matches": [
            {"path": {"value": "relative", "type": "Exact"}},
            {"path": {"value": "/trailing/slash/", "type": "PathPrefix"}},
            {"path": {"value": "relative", "type": "PathPrefix"}},
        ]}]));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].rules[0].matches[0].path.value", "must be an absolute path"),
                (
                    "spec.to[0].rules[0].matches[1].path.value",
                    "does not need a trailing slash because only a `/`-separated prefix or an entire path is matched"
                ),
                ("spec.to[0].rules[0].matches[2].path.value", "must be an absolute path"),
            ])
        );
    }

    #[test]
    fn repeated_query_param_names() {
        let spec = frontend_to(serde_json::json!([{"matches": [{"queryParams": [
            {"type": "Exact", "name": "foo", "value": "bar"},
            {"type": "Exact", "name": "foo", "value": "baz"},
        ]}]}]));
        assert_eq!(
            check(spec),
            pairs(&[("spec.to[0].rules[0].matches[0].queryParams[1].name", "multiple entries for name foo")])
        );
    }

    #[test]
    fn empty_filters() {
        let spec = frontend_to(serde_json::json!([{"default": {"filters": [
            {"type": "RequestHeaderModifier"},
            {"type": "ResponseHeaderModifier"},
            {"type": "RequestRedirect"},
            {"type": "RequestMirror"},
            {"type": "URLRewrite"},
        ]}}]));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].rules[0].default.filters[0].requestHeaderModifier", "must be defined"),
                ("spec.to[0].rules[0].default.filters[1].responseHeaderModifier", "must be defined"),
                ("spec.to[0].rules[0].default.filters[2].requestRedirect", "must be defined"),
                ("spec.to[0].rules[0].default.filters[3].requestMirror", "must be defined"),
                ("spec.to[0].rules[0].default.filters[4].urlRewrite", "must be defined"),
            ])
        );
    }

    #[test]
    fn invalid_header_modifiers() {
        let spec = frontend_to(serde_json::json!([{"default": {"filters": [
            {"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [
                {"name": "foo", "value": "bar"}, {"name": "foo", "value": "bazz"}
            ]}},
            {"type": "ResponseHeaderModifier", "responseHeaderModifier": {}},
            {"type": "ResponseHeaderModifier", "responseHeaderModifier": {
                "set": [{"name": "foo", "value": "bar"}],
                "add": [{"name": "foo", "value": "bar"}],
                "remove": ["foo"]
            }},
        ]}}]));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].rules[0].default.filters[0].requestHeaderModifier.set[1].name", "duplicate header name"),
                (
                    "spec.to[0].rules[0].default.filters[1].responseHeaderModifier",
                    "must have at least one defined: set, add, remove"
                ),
                ("spec.to[0].rules[0].default.filters[2].responseHeaderModifier.add[0].name", "duplicate header name"),
                (
                    "spec.to[0].rules[0].default.filters[2].responseHeaderModifier.remove[0].name",
                    "duplicate header name"
                ),
            ])
        );
    }

    #[test]
    fn prefix_rewrite_without_prefix_match() {
        let filters = serde_json::json!([
            {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/other"}}},
            {"type": "RequestRedirect", "requestRedirect": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/other"}}},
        ]);
        let spec = frontend_to(serde_json::json!([{
            "matches": [{"path": {"value": "/prefix", "type": "Exact"}}],
            "default": {"filters": filters.clone()}
        }]));
        assert_eq!(
            check(spec),
            pairs(&[
                (
                    "spec.to[0].rules[0].default.filters[0].urlRewrite.path.replacePrefixMatch",
                    "can only appear if all matches match a path prefix"
                ),
                (
                    "spec.to[0].rules[0].default.filters[1].requestRedirect.path.replacePrefixMatch",
                    "can only appear if all matches match a path prefix"
                ),
            ])
        );
        // Valid with a prefix match.
        let spec = frontend_to(serde_json::json!([{
            "matches": [{"path": {"value": "/prefix", "type": "PathPrefix"}}],
            "default": {"filters": filters}
        }]));
        assert_eq!(check(spec), pairs(&[]));
    }

    #[test]
    fn header_present_absent_with_value() {
        let spec = frontend_to(serde_json::json!([{"matches": [{"headers": [
            {"type": "Present", "name": "foo", "value": "x"},
            {"type": "Absent", "name": "foo", "value": "x"},
            {"name": "foo", "value": "x"},
        ]}]}]));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].rules[0].matches[0].headers[0].value", "must not be defined"),
                ("spec.to[0].rules[0].matches[0].headers[1].value", "must not be defined"),
            ])
        );
    }

    #[test]
    fn invalid_backend_refs() {
        let spec = frontend_to(serde_json::json!([{
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "default": {"backendRefs": [
                {"kind": "MeshServiceSubset", "tags": {"version": "v1"}},
                {"kind": "MeshMultiZoneService", "name": "other"},
                {"kind": "MeshService", "name": "kuma.io/unresolved-backend"},
                {"kind": "MeshService", "name": "Bad/Name"},
            ]}
        }]));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].rules[0].default.backendRefs[0].name", "must be set when kind is MeshServiceSubset"),
                ("spec.to[0].rules[0].default.backendRefs[1].port", "must be defined with kind MeshMultiZoneService"),
                (
                    "spec.to[0].rules[0].default.backendRefs[3].name",
                    "invalid characters: must consist of lower case alphanumeric characters, '-', '.' and '_'."
                ),
            ])
        );
    }

    #[test]
    fn hostnames_and_host_to_backend_only_with_gateway() {
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshService", "name": "frontend"},
            "to": [{
                "targetRef": {"kind": "MeshService", "name": "backend"},
                "hostnames": ["backend.com"],
                "rules": [{
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "default": {
                        "filters": [{"type": "URLRewrite", "urlRewrite": {"hostToBackendHostname": true}}],
                        "backendRefs": [{"kind": "MeshService", "name": "backend"}]
                    }
                }]
            }]
        });
        assert_eq!(
            check(spec),
            pairs(&[
                (
                    "spec.to[0].rules[0].default.filters[0].urlRewrite.hostToBackendHostname",
                    "can only be set with MeshGateway"
                ),
                ("spec.to[0].hostnames", "must not be defined"),
            ])
        );
    }

    #[test]
    fn gateway_rules() {
        // Backends are required under a MeshGateway ...
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshGateway", "name": "edge"},
            "to": [{"targetRef": {"kind": "Mesh"}, "rules": [{
                "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                "default": {"filters": [{"type": "URLRewrite", "urlRewrite": {
                    "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/other"}
                }}]}
            }]}]
        });
        assert_eq!(check(spec), pairs(&[("spec.to[0].rules[0].default.backendRefs", "must not be empty")]));
        // ... unless the rule redirects; hostnames and hostToBackendHostname are fine.
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshGateway", "name": "edge", "tags": {"port": "8080"}},
            "to": [{"targetRef": {"kind": "Mesh"}, "hostnames": ["example.com"], "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "default": {"filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https"}}]}
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
                    "default": {
                        "filters": [{"type": "URLRewrite", "urlRewrite": {"hostToBackendHostname": true}}],
                        "backendRefs": [{"kind": "MeshService", "name": "backend"}]
                    }
                }
            ]}]
        });
        assert_eq!(check(spec), pairs(&[]));
    }

    #[test]
    fn invalid_backend_ref_in_request_mirror() {
        let spec = frontend_to(serde_json::json!([{
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "default": {"filters": [
                {"type": "RequestMirror", "requestMirror": {"backendRef": {"kind": "MeshServiceSubset", "tags": {"version": "v1"}}}},
                {"type": "RequestMirror", "requestMirror": {"percentage": 10}},
            ]}
        }]));
        assert_eq!(
            check(spec),
            pairs(&[
                (
                    "spec.to[0].rules[0].default.filters[0].requestMirror.backendRef.name",
                    "must be set when kind is MeshServiceSubset"
                ),
                ("spec.to[0].rules[0].default.filters[1].requestMirror.backendRef.kind", "must be defined"),
            ])
        );
    }

    #[test]
    fn invalid_hostnames() {
        let long = format!("{}.com", ["a23456789"; 26].join("."));
        let hosts = [
            "127.0.0.1",
            "2001:db8:3333:4444:5555:6666:7777:8888",
            "a..bc",
            "ec2-35-160-210-253.us-west-2-.compute.amazonaws.com",
            "mx.foo.com.",
            long.as_str(),
            "valid.example.com",
        ];
        let mut filters = Vec::new();
        for h in hosts {
            filters.push(serde_json::json!({"type": "RequestRedirect", "requestRedirect": {"hostname": h}}));
        }
        for h in hosts {
            filters.push(serde_json::json!({"type": "URLRewrite", "urlRewrite": {"hostname": h}}));
        }
        let spec = frontend_to(serde_json::json!([{
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "default": {"filters": filters}
        }]));
        let got = check(spec);
        let mut expected = Vec::new();
        for (base, kind) in [(0, "requestRedirect"), (7, "urlRewrite")] {
            let p = |i: usize| format!("spec.to[0].rules[0].default.filters[{}].{kind}.hostname", base + i);
            expected.push((p(0), "cannot be an IP address".to_string()));
            expected.push((p(1), "cannot be an IP address".to_string()));
            expected.push((p(2), DNS1123_SUBDOMAIN_MSG.to_string()));
            expected.push((p(3), DNS1123_SUBDOMAIN_MSG.to_string()));
            expected.push((p(4), DNS1123_SUBDOMAIN_MSG.to_string()));
            expected.push((p(5), "must be no more than 253 characters".to_string()));
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn valid_resources() {
        let spec = serde_json::json!({"targetRef": {"kind": "MeshService", "name": "frontend"}, "to": []});
        assert_eq!(check(spec), pairs(&[]));
        let spec = serde_json::json!({
            "targetRef": {"kind": "Mesh"},
            "to": [{"targetRef": {"kind": "MeshService", "labels": {"kuma.io/display-name": "backend"}}, "rules": [
                {
                    "matches": [{"path": {"value": "/v1", "type": "PathPrefix"}}],
                    "default": {"backendRefs": [{"kind": "MeshService", "labels": {"kuma.io/display-name": "backend"}, "port": 8080}]}
                },
                {
                    "matches": [{"path": {"value": "/v2", "type": "PathPrefix"}}],
                    "default": {"backendRefs": [{"kind": "MeshMultiZoneService", "labels": {"kuma.io/display-name": "backend"}, "port": 8080}]}
                }
            ]}]
        });
        assert_eq!(check(spec), pairs(&[]));
    }

    #[test]
    fn defaults_and_references() {
        let spec: MeshHTTPRoute = serde_json::from_value(serde_json::json!({
            "targetRef": {"kind": "Mesh"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "backend"}, "rules": [{
                "matches": [{"headers": [{"name": "x"}]}],
                "default": {
                    "filters": [
                        {"type": "RequestRedirect", "requestRedirect": {"scheme": "https"}},
                        {"type": "RequestMirror", "requestMirror": {"backendRef": {"kind": "MeshService", "name": "mirror"}}}
                    ],
                    "backendRefs": [{"kind": "MeshService", "name": "v1"}]
                }
            }]}]
        }))
        .unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        let conf = &json["to"][0]["rules"][0];
        assert_eq!(conf["matches"][0]["headers"][0]["type"], "Exact");
        assert_eq!(conf["default"]["filters"][0]["requestRedirect"]["statusCode"], 302);
        assert_eq!(conf["default"]["backendRefs"][0]["weight"], 1);
        let view = spec.policy().unwrap();
        let refs: Vec<_> = view.references.iter().map(|(p, r)| (p.kuma(Some("spec")), r.name().to_string())).collect();
        assert_eq!(
            refs,
            [
                ("spec.targetRef".to_string(), String::new()),
                ("spec.to[0].targetRef".to_string(), "backend".to_string()),
                ("spec.to[0].rules[0].default.filters[1].requestMirror.backendRef".to_string(), "mirror".to_string()),
                ("spec.to[0].rules[0].default.backendRefs[0]".to_string(), "v1".to_string()),
            ]
        );
        assert_eq!(view.to.len(), 1);
    }
}
