//! MeshTrafficPermission (reference §8.3): which clients may reach an inbound,
//! as Kuma's RBAC. Only with mesh mTLS on, and only on the chains whose clients
//! present a mesh certificate ([`Chain::mesh_tls`]): the plaintext chain of a
//! PERMISSIVE inbound is not checked (Kuma's behaviour).
//!
//! * Legacy `from` path (Kuma's `RBACConfigurer`): one `ALLOW` policy named
//!   `MeshTrafficPermission` whose principals are the Allow and
//!   AllowWithShadowDeny subset rules (`spiffe://<mesh>/<service>` for
//!   `kuma.io/service`, `kuma://<tag>/<value>` for other tags, `not_id` for a
//!   negated tag, `and_ids` for several, `any` for all clients); Deny rules
//!   contribute nothing. AllowWithShadowDeny principals also make a `DENY`
//!   shadow policy.
//! * `rules` path (the RBAC matcher API): every deny list first, then the allow
//!   and allowWithShadowDeny lists, each action named by the KRI of the policy
//!   that set it, anything else denied (`default`); allowWithShadowDeny lists also
//!   make a shadow matcher. As in Kuma 2.14 (its e2e goldens `inbound-rules*`),
//!   once an inbound has `rules`, the `from` policies do not apply to it.
//! * No permission at all: an RBAC that allows nothing (Kuma's deny-all default).
//!
//! The filter is `envoy.filters.http.rbac`, first in the HTTP connection
//! manager, or else the network filter `envoy.filters.network.rbac` first in the
//! chain (Kuma prepends it, after the other inbound policies ran).

use envoy_types::pb::envoy::config::listener::v3::{ListenerFilter, listener_filter};
use envoy_types::pb::envoy::config::rbac::v3::{
    self as rbac, Permission, Policy, Principal, permission, principal, rbac::Action as RbacAction,
};
use envoy_types::pb::envoy::extensions::filters::http::rbac::v3::Rbac as HttpRbac;
use envoy_types::pb::envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector;
use envoy_types::pb::envoy::extensions::filters::network::rbac::v3::Rbac as NetworkRbac;
use envoy_types::pb::envoy::extensions::matching::common_inputs::network::v3::ServerNameInput;
use envoy_types::pb::envoy::extensions::matching::common_inputs::ssl::v3::UriSanInput;
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use envoy_types::pb::xds::core::v3::TypedExtensionConfig;
use envoy_types::pb::xds::r#type::matcher::v3 as xds;
use envoy_types::pb::xds::r#type::matcher::v3::matcher::{self, matcher_list::predicate};
use serde_json::Value;

use super::super::parts::{Chain, ListenerParts, Terminal, http_filter};
use super::super::proto::{any, network_filter, sanitize};
use super::{At, Configurer, Place};
use crate::model::Kind;
use crate::model::policy::mesh_traffic_permission::{Action, Conf};
use crate::rules::effective::{Condition, Direction, Effective};
use crate::rules::subset::{SERVICE_TAG, Tag};

const HTTP_RBAC: &str = "envoy.filters.http.rbac";
const NETWORK_RBAC: &str = "envoy.filters.network.rbac";
const TLS_INSPECTOR: &str = "envoy.filters.listener.tls_inspector";
/// The one policy name of the legacy path.
const POLICY_NAME: &str = "MeshTrafficPermission";
const RBAC_ACTION: &str = "envoy.filters.rbac.action";
const URI_SAN_INPUT: &str = "envoy.matching.inputs.uri_san";
const SERVER_NAME_INPUT: &str = "envoy.matching.inputs.server_name";
/// The action name of the matcher path's "anything else".
const DEFAULT_ACTION: &str = "default";

/// The RBAC configuration of an inbound's mesh chains.
#[derive(Debug, Clone, PartialEq)]
enum Access {
    /// Legacy path: policies (an `ALLOW` RBAC) and shadow policies.
    Rules { rules: rbac::Rbac, shadow: Option<rbac::Rbac> },
    /// Matcher path; `sni`: some entry matches the server name (needs the TLS inspector).
    Matcher { matcher: xds::Matcher, shadow: Option<xds::Matcher>, sni: bool },
}

/// A `from` subset rule: the clients and what happens to them.
struct FromRule<'a> {
    tags: &'a [Tag],
    action: Action,
}

fn from_rules<'a>(confs: &[&'a Effective]) -> Vec<FromRule<'a>> {
    confs
        .iter()
        .filter_map(|e| {
            let Condition::Subset { direction: Direction::From, tags } = &e.condition else { return None };
            let conf = serde_json::from_value::<Conf>(e.conf.clone()).ok()?;
            let action = conf.action?.known()?;
            Some(FromRule { tags, action })
        })
        .collect()
}

/// The KRI of the policy that set the field at `pointer` (the last origin when unknown).
fn setter_kri(e: &Effective, pointer: &str) -> String {
    let origin = e.fields.get(pointer).and_then(|i| e.origins.get(*i)).or(e.origins.last());
    origin.map(|o| o.kri.clone()).unwrap_or_default()
}

/// The access an inbound's MeshTrafficPermission confs give.
fn access(mesh: &str, confs: &[&Effective]) -> Access {
    let rules: Vec<&Effective> = confs.iter().copied().filter(|e| e.condition == Condition::All).collect();
    if rules.is_empty() { legacy(mesh, &from_rules(confs)) } else { matchers(&rules) }
}

// ---- legacy path: RBAC policies and principals ----

fn exact(value: String) -> StringMatcher {
    StringMatcher { match_pattern: Some(string_matcher::MatchPattern::Exact(value)), ..Default::default() }
}

/// The identity a client certificate carries for a tag (reference §8.1).
fn tag_identity(mesh: &str, tag: &Tag) -> String {
    if tag.key == SERVICE_TAG {
        format!("spiffe://{mesh}/{}", tag.value)
    } else {
        format!("kuma://{}/{}", tag.key, tag.value)
    }
}

fn principal_of(identifier: principal::Identifier) -> Principal {
    Principal { identifier: Some(identifier) }
}

/// The principal of a subset: every tag's identity (negated ones under
/// `not_id`), `and_ids` for several, `any` for the empty subset.
fn subset_principal(mesh: &str, tags: &[Tag]) -> Principal {
    let mut ids: Vec<Principal> = tags
        .iter()
        .map(|t| {
            let id = principal_of(principal::Identifier::Authenticated(principal::Authenticated {
                principal_name: Some(exact(tag_identity(mesh, t))),
            }));
            if t.not { principal_of(principal::Identifier::NotId(Box::new(id))) } else { id }
        })
        .collect();
    match ids.len() {
        0 => principal_of(principal::Identifier::Any(true)),
        1 => ids.remove(0),
        _ => principal_of(principal::Identifier::AndIds(principal::Set { ids })),
    }
}

fn policy(principals: Vec<Principal>) -> Policy {
    Policy {
        permissions: vec![Permission { rule: Some(permission::Rule::Any(true)) }],
        principals,
        ..Default::default()
    }
}

fn legacy(mesh: &str, rules: &[FromRule]) -> Access {
    let principals = |action: Action| {
        rules.iter().filter(move |r| r.action == action).map(|r| subset_principal(mesh, r.tags)).collect::<Vec<_>>()
    };
    let shadow_principals = principals(Action::AllowWithShadowDeny);
    let mut allowed = principals(Action::Allow);
    allowed.extend(shadow_principals.iter().cloned());
    let mut rules = rbac::Rbac { action: RbacAction::Allow as i32, ..Default::default() };
    if !allowed.is_empty() {
        rules.policies.insert(POLICY_NAME.to_string(), policy(allowed));
    }
    let shadow = (!shadow_principals.is_empty()).then(|| rbac::Rbac {
        action: RbacAction::Deny as i32,
        policies: [(POLICY_NAME.to_string(), policy(shadow_principals))].into(),
        ..Default::default()
    });
    Access::Rules { rules, shadow }
}

// ---- rules path: the RBAC matcher API ----

fn typed<T: prost::Name + prost::Message>(name: &str, config: T) -> TypedExtensionConfig {
    TypedExtensionConfig { name: name.to_string(), typed_config: Some(any(config)) }
}

fn single(input: TypedExtensionConfig, pattern: xds::string_matcher::MatchPattern) -> matcher::matcher_list::Predicate {
    matcher::matcher_list::Predicate {
        match_type: Some(predicate::MatchType::SinglePredicate(predicate::SinglePredicate {
            input: Some(input),
            matcher: Some(predicate::single_predicate::Matcher::ValueMatch(xds::StringMatcher {
                match_pattern: Some(pattern),
                ..Default::default()
            })),
        })),
    }
}

/// One predicate for several: itself, or all of them (`and`) / any of them (`or`).
fn combine(mut list: Vec<matcher::matcher_list::Predicate>, and: bool) -> Option<matcher::matcher_list::Predicate> {
    match list.len() {
        0 => None,
        1 => list.pop(),
        _ => {
            let set = predicate::PredicateList { predicate: list };
            let t = if and { predicate::MatchType::AndMatcher(set) } else { predicate::MatchType::OrMatcher(set) };
            Some(matcher::matcher_list::Predicate { match_type: Some(t) })
        }
    }
}

/// A string match of a `rules[]` list item (`{type: Exact|Prefix, value}`).
fn pattern(m: &Value) -> Option<xds::string_matcher::MatchPattern> {
    let value = m.get("value")?.as_str()?.to_string();
    match m.get("type")?.as_str()? {
        "Exact" => Some(xds::string_matcher::MatchPattern::Exact(value)),
        "Prefix" => Some(xds::string_matcher::MatchPattern::Prefix(value)),
        _ => None,
    }
}

/// The predicate of one list item: its SPIFFE ID and SNI matches, both when
/// both are given. `sni` records an SNI match.
fn match_predicate(item: &Value, sni: &mut bool) -> Option<matcher::matcher_list::Predicate> {
    let mut parts = Vec::new();
    if let Some(p) = item.get("spiffeID").and_then(pattern) {
        parts.push(single(typed(URI_SAN_INPUT, UriSanInput::default()), p));
    }
    if let Some(p) = item.get("sni").and_then(pattern) {
        *sni = true;
        parts.push(single(typed(SERVER_NAME_INPUT, ServerNameInput::default()), p));
    }
    combine(parts, true)
}

fn on_match(action: RbacAction, name: &str) -> matcher::OnMatch {
    let action = rbac::Action { name: name.to_string(), action: action as i32 };
    matcher::OnMatch {
        on_match: Some(matcher::on_match::OnMatch::Action(typed(RBAC_ACTION, action))),
        ..Default::default()
    }
}

fn entry(
    predicate: matcher::matcher_list::Predicate,
    action: RbacAction,
    name: &str,
) -> matcher::matcher_list::FieldMatcher {
    matcher::matcher_list::FieldMatcher { predicate: Some(predicate), on_match: Some(on_match(action, name)) }
}

fn matcher_of(entries: Vec<matcher::matcher_list::FieldMatcher>) -> xds::Matcher {
    xds::Matcher {
        matcher_type: (!entries.is_empty())
            .then_some(matcher::MatcherType::MatcherList(matcher::MatcherList { matchers: entries })),
        on_no_match: Some(Box::new(on_match(RbacAction::Deny, DEFAULT_ACTION))),
    }
}

/// One list of a `rules` conf: its items' predicates and the KRI of the policy
/// that set it.
struct List {
    predicates: Vec<matcher::matcher_list::Predicate>,
    kri: String,
}

fn list(e: &Effective, field: &str, sni: &mut bool) -> Option<List> {
    let items = e.conf.get(field)?.as_array()?;
    let predicates: Vec<_> = items.iter().filter_map(|i| match_predicate(i, sni)).collect();
    (!predicates.is_empty()).then(|| List { predicates, kri: setter_kri(e, &format!("/{field}")) })
}

fn matchers(rules: &[&Effective]) -> Access {
    let mut sni = false;
    let (mut deny, mut allow, mut shadow) = (Vec::new(), Vec::new(), Vec::new());
    for e in rules {
        if let Some(l) = list(e, "deny", &mut sni) {
            deny.extend(combine(l.predicates, false).map(|p| entry(p, RbacAction::Deny, &l.kri)));
        }
        let allowed = list(e, "allow", &mut sni);
        let shadowed = list(e, "allowWithShadowDeny", &mut sni);
        if let Some(s) = &shadowed {
            shadow.extend(combine(s.predicates.clone(), false).map(|p| entry(p, RbacAction::Deny, &s.kri)));
        }
        // Lists of one policy are one entry; of two, one each in merge order.
        let mut lists: Vec<List> = allowed.into_iter().chain(shadowed).collect();
        if lists.len() == 2 && lists[0].kri == lists[1].kri {
            let second = lists.remove(1);
            lists[0].predicates.extend(second.predicates);
        }
        for l in lists {
            allow.extend(combine(l.predicates, false).map(|p| entry(p, RbacAction::Allow, &l.kri)));
        }
    }
    deny.extend(allow);
    Access::Matcher { matcher: matcher_of(deny), shadow: (!shadow.is_empty()).then(|| matcher_of(shadow)), sni }
}

// ---- filters ----

impl Access {
    fn apply(&self, chain: &mut Chain, listener_name: &str) {
        let (rules, shadow_rules, matcher, shadow_matcher) = match self {
            Access::Rules { rules, shadow } => (Some(rules.clone()), shadow.clone(), None, None),
            Access::Matcher { matcher, shadow, .. } => (None, None, Some(matcher.clone()), shadow.clone()),
        };
        match &mut chain.terminal {
            Terminal::Http(m) => {
                let config = HttpRbac { rules, shadow_rules, matcher, shadow_matcher, ..Default::default() };
                m.http_filters.insert(0, http_filter(HTTP_RBAC, config));
            }
            Terminal::Tcp(_) => {
                let config = NetworkRbac {
                    // The dot makes the stats `<listener>.rbac.allowed`.
                    stat_prefix: format!("{}.", sanitize(listener_name)),
                    rules,
                    shadow_rules,
                    matcher,
                    shadow_matcher,
                    ..Default::default()
                };
                chain.filters.insert(0, network_filter(NETWORK_RBAC, config));
            }
        }
    }
}

// ---- what the RBAC decides, for `meshc report` ----

/// What an inbound's RBAC does with a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Allowed, and a shadow rule logs it as denied (`AllowWithShadowDeny`).
    AllowShadowDenied,
    Deny,
    /// An entry matches on the server name (SNI) the client sends, which is not
    /// known offline: allowed for some names, not for others.
    DependsOnSni,
}

/// What the RBAC this module writes for an inbound with the MeshTrafficPermission
/// confs among `policies` (mesh mTLS on) decides for clients: read off the same
/// `Access` the filter is built from, so the two cannot disagree.
pub struct Decider(Access);

impl Decider {
    pub fn new(mesh: &str, policies: &[Effective]) -> Decider {
        let confs: Vec<&Effective> = policies.iter().filter(|e| e.kind == Kind::MeshTrafficPermission.name()).collect();
        Decider(access(mesh, &confs))
    }

    /// What a ZoneEgress decides for clients of a MeshExternalService, from
    /// [`crate::plan::zone_proxies::egress_permissions`].
    pub fn egress(mesh: &str, permissions: &[Effective], allow_without_policy: bool) -> Decider {
        Decider(egress_access(mesh, permissions, allow_without_policy))
    }

    /// The decision for a client whose certificate carries `uris` (its URI SANs).
    pub fn decide(&self, uris: &[String]) -> Decision {
        // Server-name entries matched by every name, then by none: the same outcome
        // both ways means the SNI does not matter.
        let (any_sni, no_sni) = (self.outcome(uris, true), self.outcome(uris, false));
        match (any_sni == no_sni, no_sni) {
            (false, _) => Decision::DependsOnSni,
            (true, (false, _)) => Decision::Deny,
            (true, (true, true)) => Decision::AllowShadowDenied,
            (true, (true, false)) => Decision::Allow,
        }
    }

    /// (allowed, logged as denied by a shadow rule) when server-name entries match or not.
    fn outcome(&self, uris: &[String], sni: bool) -> (bool, bool) {
        match &self.0 {
            Access::Rules { rules, shadow } => {
                (rbac_matches(rules, uris), shadow.as_ref().is_some_and(|s| rbac_matches(s, uris)))
            }
            Access::Matcher { matcher, shadow, .. } => (
                matcher_action(matcher, uris, sni).map(|(action, _)| action) == Some(RbacAction::Allow),
                // Only a shadow entry denies in the shadow: its "anything else" is no verdict.
                shadow.as_ref().and_then(|s| matcher_action(s, uris, sni)) == Some((RbacAction::Deny, true)),
            ),
        }
    }
}

/// Whether some policy of `rbac` has a principal the client matches (every
/// permission here is `any`).
fn rbac_matches(rbac: &rbac::Rbac, uris: &[String]) -> bool {
    rbac.policies.values().any(|p| p.principals.iter().any(|pr| principal_matches(pr, uris)))
}

fn principal_matches(p: &Principal, uris: &[String]) -> bool {
    match &p.identifier {
        Some(principal::Identifier::Any(any)) => *any,
        Some(principal::Identifier::Authenticated(a)) => a.principal_name.as_ref().is_some_and(|m| {
            let pattern = match &m.match_pattern {
                Some(string_matcher::MatchPattern::Exact(e)) => Some((e, false)),
                Some(string_matcher::MatchPattern::Prefix(p)) => Some((p, true)),
                _ => None,
            };
            pattern.is_some_and(|(value, prefix)| uris.iter().any(|u| pattern_matches(value, prefix, u)))
        }),
        Some(principal::Identifier::NotId(inner)) => !principal_matches(inner, uris),
        Some(principal::Identifier::AndIds(set)) => set.ids.iter().all(|i| principal_matches(i, uris)),
        Some(principal::Identifier::OrIds(set)) => set.ids.iter().any(|i| principal_matches(i, uris)),
        _ => false,
    }
}

/// An exact or prefix string match.
fn pattern_matches(value: &str, prefix: bool, candidate: &str) -> bool {
    if prefix { candidate.starts_with(value) } else { candidate == value }
}

/// The action of the first entry of a matcher list the client matches (and `true`),
/// else `on_no_match`'s (and `false`). `sni`: whether server-name predicates match.
fn matcher_action(m: &xds::Matcher, uris: &[String], sni: bool) -> Option<(RbacAction, bool)> {
    let entries = match &m.matcher_type {
        Some(matcher::MatcherType::MatcherList(list)) => list.matchers.as_slice(),
        _ => &[],
    };
    let hit = entries.iter().find(|e| e.predicate.as_ref().is_some_and(|p| predicate_matches(p, uris, sni)));
    let on_match = match hit {
        Some(e) => e.on_match.as_ref(),
        None => m.on_no_match.as_deref(),
    };
    match on_match?.on_match.as_ref()? {
        matcher::on_match::OnMatch::Action(action) => {
            let value = &action.typed_config.as_ref()?.value;
            let decoded = <rbac::Action as prost::Message>::decode(value.as_slice()).ok()?;
            Some((RbacAction::try_from(decoded.action).ok()?, hit.is_some()))
        }
        _ => None,
    }
}

fn predicate_matches(p: &matcher::matcher_list::Predicate, uris: &[String], sni: bool) -> bool {
    match &p.match_type {
        Some(predicate::MatchType::SinglePredicate(single)) => {
            let Some(predicate::single_predicate::Matcher::ValueMatch(m)) = &single.matcher else { return false };
            let pattern = match &m.match_pattern {
                Some(xds::string_matcher::MatchPattern::Exact(e)) => Some((e, false)),
                Some(xds::string_matcher::MatchPattern::Prefix(p)) => Some((p, true)),
                _ => None,
            };
            let Some((value, prefix)) = pattern else { return false };
            match single.input.as_ref().map(|i| i.name.as_str()) {
                Some(URI_SAN_INPUT) => uris.iter().any(|u| pattern_matches(value, prefix, u)),
                Some(SERVER_NAME_INPUT) => sni,
                _ => false,
            }
        }
        Some(predicate::MatchType::AndMatcher(list)) => list.predicate.iter().all(|p| predicate_matches(p, uris, sni)),
        Some(predicate::MatchType::OrMatcher(list)) => list.predicate.iter().any(|p| predicate_matches(p, uris, sni)),
        _ => false,
    }
}

/// MeshTrafficPermission's configurer.
/// The RBAC network filter of a ZoneEgress chain to a MeshExternalService
/// (Kuma's egress `NetworkRBAC`): the `from` rules of the MeshTrafficPermissions
/// that target the service, as on an inbound; with none, every client of the
/// mesh (`allow_without_policy`) or none (the Mesh's
/// `routing.defaultForbidMeshExternalServiceAccess`).
pub fn egress_filter(
    mesh: &str,
    listener_name: &str,
    permissions: &[Effective],
    allow_without_policy: bool,
) -> envoy_types::pb::envoy::config::listener::v3::Filter {
    let (rules, shadow_rules) = match egress_access(mesh, permissions, allow_without_policy) {
        Access::Rules { rules, shadow } => (Some(rules), shadow),
        Access::Matcher { .. } => (None, None),
    };
    let config =
        NetworkRbac { stat_prefix: format!("{}.", sanitize(listener_name)), rules, shadow_rules, ..Default::default() };
    network_filter(NETWORK_RBAC, config)
}

/// The access a ZoneEgress chain to a MeshExternalService gives (see [`egress_filter`]).
fn egress_access(mesh: &str, permissions: &[Effective], allow_without_policy: bool) -> Access {
    let confs: Vec<&Effective> = permissions.iter().collect();
    let rules = from_rules(&confs);
    let everyone = [FromRule { tags: &[], action: Action::Allow }];
    let rules: &[FromRule] = match (rules.is_empty(), allow_without_policy) {
        (true, true) => &everyone,
        _ => &rules,
    };
    legacy(mesh, rules)
}

pub struct MeshTrafficPermission;

impl Configurer for MeshTrafficPermission {
    fn kind(&self) -> Kind {
        Kind::MeshTrafficPermission
    }

    fn listener(&self, place: &Place, confs: &[&Effective], listener: &mut ListenerParts) {
        let (At::Inbound(inbound), Some(mtls)) = (place.at, &place.plan.mtls) else { return };
        let access = access(&mtls.mesh, confs);
        for chain in listener.chains.iter_mut().filter(|c| c.mesh_tls) {
            access.apply(chain, &inbound.name);
        }
        if let Access::Matcher { sni: true, .. } = access
            && !listener.listener.listener_filters.iter().any(|f| f.name == TLS_INSPECTOR)
        {
            listener.listener.listener_filters.push(ListenerFilter {
                name: TLS_INSPECTOR.to_string(),
                config_type: Some(listener_filter::ConfigType::TypedConfig(any(TlsInspector::default()))),
                ..Default::default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::effective::OriginRef;
    use serde_json::json;

    fn tag(key: &str, value: &str, not: bool) -> Tag {
        Tag { key: key.to_string(), value: value.to_string(), not }
    }

    fn origin(kri: &str) -> OriginRef {
        OriginRef {
            policy: String::new(),
            section: crate::rules::Section::From,
            index: 0,
            implicit: false,
            shadow: false,
            kri: kri.to_string(),
        }
    }

    fn from(tags: Vec<Tag>, action: &str) -> Effective {
        Effective {
            kind: "MeshTrafficPermission",
            when: None,
            condition: Condition::Subset { direction: Direction::From, tags },
            conf: json!({ "action": action }),
            origins: vec![origin("kri_mtp_m___p_")],
            fields: [("/action".to_string(), 0)].into(),
        }
    }

    fn authenticated(name: &str) -> Principal {
        principal_of(principal::Identifier::Authenticated(principal::Authenticated {
            principal_name: Some(exact(name.to_string())),
        }))
    }

    #[test]
    fn service_and_other_tags_have_their_identity() {
        assert_eq!(subset_principal("m", &[tag(SERVICE_TAG, "web", false)]), authenticated("spiffe://m/web"));
        assert_eq!(subset_principal("m", &[tag("version", "v1", false)]), authenticated("kuma://version/v1"));
        assert_eq!(subset_principal("m", &[]), principal_of(principal::Identifier::Any(true)));
    }

    #[test]
    fn negated_tags_are_not_ids_under_and_ids() {
        let p = subset_principal("m", &[tag(SERVICE_TAG, "web", true), tag("app", "a", false)]);
        let want = principal_of(principal::Identifier::AndIds(principal::Set {
            ids: vec![
                principal_of(principal::Identifier::NotId(Box::new(authenticated("spiffe://m/web")))),
                authenticated("kuma://app/a"),
            ],
        }));
        assert_eq!(p, want);
    }

    #[test]
    fn deny_rules_add_no_principal_and_shadow_deny_is_shadowed() {
        let confs = [
            from(vec![tag(SERVICE_TAG, "bad", false)], "Deny"),
            from(vec![tag(SERVICE_TAG, "web", false)], "Allow"),
            from(vec![tag(SERVICE_TAG, "new", false)], "AllowWithShadowDeny"),
        ];
        let Access::Rules { rules, shadow } = access("m", &confs.iter().collect::<Vec<_>>()) else { panic!("legacy") };
        let allowed = &rules.policies[POLICY_NAME].principals;
        assert_eq!(allowed, &[authenticated("spiffe://m/web"), authenticated("spiffe://m/new")]);
        let shadow = shadow.expect("shadow rules");
        assert_eq!(shadow.action, RbacAction::Deny as i32);
        assert_eq!(shadow.policies[POLICY_NAME].principals, [authenticated("spiffe://m/new")]);
    }

    #[test]
    fn no_permission_denies_everything() {
        let Access::Rules { rules, shadow } = access("m", &[]) else { panic!("legacy") };
        assert_eq!(rules.action, RbacAction::Allow as i32);
        assert!(rules.policies.is_empty(), "an ALLOW RBAC with no policy allows nothing");
        assert!(shadow.is_none());
        let Access::Rules { rules, .. } = access("m", &[&from(vec![], "Deny")]) else { panic!("legacy") };
        assert!(rules.policies.is_empty());
    }

    #[test]
    fn rules_deny_first_then_allow_named_by_policy() {
        let e = Effective {
            kind: "MeshTrafficPermission",
            when: None,
            condition: Condition::All,
            conf: json!({
                "deny": [{"spiffeID": {"type": "Exact", "value": "spiffe://m/bad"}}],
                "allow": [{"spiffeID": {"type": "Prefix", "value": "spiffe://m/"}}],
                "allowWithShadowDeny": [{"spiffeID": {"type": "Exact", "value": "spiffe://m/new"}, "sni": {"type": "Exact", "value": "x"}}],
            }),
            origins: vec![origin("kri_mtp_m___a_"), origin("kri_mtp_m___b_")],
            fields: [("/deny".to_string(), 0), ("/allow".to_string(), 1), ("/allowWithShadowDeny".to_string(), 1)]
                .into(),
        };
        let Access::Matcher { matcher, shadow, sni } = access("m", &[&e]) else { panic!("matcher") };
        assert!(sni);
        let Some(matcher::MatcherType::MatcherList(list)) = matcher.matcher_type else { panic!("list") };
        let names: Vec<(String, i32)> = list
            .matchers
            .iter()
            .map(|m| match &m.on_match.as_ref().and_then(|o| o.on_match.clone()) {
                Some(matcher::on_match::OnMatch::Action(a)) => {
                    let a: rbac::Action =
                        prost::Message::decode(a.typed_config.as_ref().unwrap().value.as_slice()).unwrap();
                    (a.name, a.action)
                }
                _ => panic!("action"),
            })
            .collect();
        assert_eq!(
            names,
            [
                ("kri_mtp_m___a_".to_string(), RbacAction::Deny as i32),
                ("kri_mtp_m___b_".to_string(), RbacAction::Allow as i32)
            ]
        );
        let Some(predicate::MatchType::OrMatcher(or)) = &list.matchers[1].predicate.as_ref().unwrap().match_type else {
            panic!("allow and shadow lists of one policy are one entry")
        };
        assert_eq!(or.predicate.len(), 2);
        assert!(shadow.is_some());
    }
}
