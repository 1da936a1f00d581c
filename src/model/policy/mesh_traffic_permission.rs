//! MeshTrafficPermission (`pkg/plugins/policies/meshtrafficpermission/`): which
//! clients may reach the selected proxies' inbounds (`from`, or `rules` matching
//! SPIFFE IDs / SNI).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::From;
use crate::kuma_enum;
use crate::model::choice::Choice;
use crate::model::common::{
    Match, TargetRef, TargetRefKind as K, TargetRefRules, non_empty, validate_matches, validate_target_ref,
};
use crate::model::{KindSpec, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations};

/// MeshTrafficPermission spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshTrafficPermission {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// Permissions per group of clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<From<Conf>>>,
    /// Inbound permissions by client identity (SPIFFE ID, SNI).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Rule>>,
}

kuma_enum! {
    /// What happens to traffic from the clients of a `from[]` item.
    pub enum Action { Allow = "Allow", Deny = "Deny", AllowWithShadowDeny = "AllowWithShadowDeny" }
}

/// `from[].default`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// Allow, Deny, or AllowWithShadowDeny (allow but log as if denied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Choice<Action>>,
}

/// A `rules[]` item.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Rule {
    /// The permissions of this rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub default: Option<RuleConf>,
}

/// `rules[].default`: lists of client matches per outcome.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RuleConf {
    /// Clients whose access is allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<Match>>,
    /// Clients whose access is allowed, but logged as if denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_with_shadow_deny: Option<Vec<Match>>,
    /// Clients whose access is denied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny: Option<Vec<Match>>,
}

impl KindSpec for MeshTrafficPermission {
    fn validate(&self, _ctx: &ValidateCtx, v: &mut Violations) {
        let (has_from, has_rules) = (non_empty(&self.from), non_empty(&self.rules));
        super::validate_top(
            v,
            &self.target_ref,
            TargetRefRules {
                supported: &[K::Mesh, K::MeshSubset, K::MeshService, K::MeshServiceSubset, K::Dataplane],
                inbound_policy: has_from || has_rules,
                ..Default::default()
            },
        );
        if has_from && has_rules {
            super::sections_message(v, "field 'from' must be empty when 'rules' is defined");
        }
        if !has_from && !has_rules {
            super::sections_message(v, "at least one of 'from' or 'rules' has to be defined");
        }
        let root = Path::root();
        for (i, rule) in self.rules.iter().flatten().enumerate() {
            let p = root.field("rules").index(i);
            let empty = RuleConf::default();
            let d = rule.default.as_ref().unwrap_or(&empty);
            if !non_empty(&d.deny) && !non_empty(&d.allow) && !non_empty(&d.allow_with_shadow_deny) {
                v.add(&p, "at least one of 'allow', 'allowWithShadowDeny', 'deny' has to be defined");
            }
            for (field, matches) in
                [("allow", &d.allow), ("allowWithShadowDeny", &d.allow_with_shadow_deny), ("deny", &d.deny)]
            {
                if let Some(m) = matches {
                    validate_matches(v, &p.field(field), m);
                }
            }
        }
        for (i, item) in self.from.iter().flatten().enumerate() {
            let p = root.field("from").index(i);
            let rules = TargetRefRules {
                supported: &[K::Mesh, K::MeshSubset, K::MeshService, K::MeshServiceSubset],
                ..Default::default()
            };
            validate_target_ref(v, &p.field("targetRef"), &item.target_ref, &rules);
            let action = item.default.as_ref().and_then(|d| d.action.as_ref());
            if action.is_none_or(|a| a.raw().is_empty()) {
                v.must_be_defined(&p.field("default").field("action"));
            }
        }
    }

    fn policy(&self) -> Option<PolicyView<'_>> {
        let mut view = super::view::<Conf, Conf, Conf>(&self.target_ref, None, self.from.as_deref(), None);
        view.rules = self.rules.as_ref().map_or(0, Vec::len);
        Some(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{self, meta, sorted};
    use crate::model::{Kind, PolicyRole};
    use serde_json::json;

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        sorted(testing::check::<MeshTrafficPermission>(
            &meta(Kind::MeshTrafficPermission, "test"),
            PolicyRole::System,
            spec,
        ))
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        sorted(testing::pairs(items))
    }

    #[test]
    fn valid() {
        assert!(
            check(json!({
                "targetRef": {"kind": "Mesh"},
                "from": [
                    {"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}},
                    {"targetRef": {"kind": "MeshService", "name": "backend"}, "default": {"action": "Allow"}},
                    {"targetRef": {"kind": "MeshSubset", "tags": {"kuma.io/zone": "us-east", "env": "dev"}}, "default": {"action": "Deny"}},
                    {"targetRef": {"kind": "MeshServiceSubset", "name": "backend", "tags": {"version": "v1"}}, "default": {"action": "AllowWithShadowDeny"}}
                ]
            }))
            .is_empty()
        );
        assert!(
            check(json!({
                "targetRef": {"kind": "Mesh"},
                "rules": [{"default": {
                    "deny": [{"spiffeID": {"type": "Exact", "value": "spiffe://trust.domain/service"}}],
                    "allow": [{"spiffeID": {"type": "Prefix", "value": "spiffe://trust.domain"}}],
                    "allowWithShadowDeny": [{"spiffeID": {"type": "Exact", "value": "spiffe://trust.domain/service-2"}}]
                }}]
            }))
            .is_empty()
        );
        assert!(
            check(json!({
                "targetRef": {"kind": "Dataplane", "sectionName": "ze-port"},
                "rules": [{"default": {"allow": [{"sni": {"type": "Exact", "value": "sni.extsvc.default.zone-1.aws-aurora.8443"}}]}}]
            }))
            .is_empty()
        );
        assert!(check(json!({"targetRef": {"kind": "MeshService", "name": "backend"}, "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Deny"}}]})).is_empty());
    }

    #[test]
    fn invalid() {
        let empty = pairs(&[("spec", "at least one of 'from' or 'rules' has to be defined")]);
        assert_eq!(check(json!({"targetRef": {"kind": "Mesh"}, "from": []})), empty);
        assert_eq!(check(json!({"targetRef": {"kind": "Mesh"}, "rules": []})), empty);
        assert_eq!(
            check(json!({"targetRef": {"kind": "Dataplane", "sectionName": "test"}, "to": []})),
            pairs(&[
                ("spec.targetRef.sectionName", "can only be used with inbound policies"),
                ("spec", "at least one of 'from' or 'rules' has to be defined"),
            ])
        );
        assert_eq!(
            check(
                json!({"targetRef": {"kind": "MeshGateway", "name": "gw"}, "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Deny"}}]})
            ),
            pairs(&[("spec.targetRef.kind", "value 'MeshGateway' is not supported")])
        );
        assert_eq!(
            check(
                json!({"targetRef": {"kind": "Mesh"}, "from": [{"targetRef": {"kind": "MeshGatewayRoute", "name": "mgr-1"}, "default": {"action": "Allow"}}]})
            ),
            pairs(&[("spec.from[0].targetRef.kind", "value 'MeshGatewayRoute' is not supported")])
        );
        assert_eq!(
            check(json!({"targetRef": {"kind": "Mesh"}, "from": [{"targetRef": {"kind": "Mesh"}}]})),
            pairs(&[("spec.from[0].default.action", "must be defined")])
        );
        assert_eq!(
            check(json!({"targetRef": {"kind": "Mesh"}, "rules": [{"default": {"deny": []}}]})),
            pairs(&[("spec.rules[0]", "at least one of 'allow', 'allowWithShadowDeny', 'deny' has to be defined")])
        );
        assert_eq!(
            check(json!({"rules": [{}]})),
            pairs(&[("spec.rules[0]", "at least one of 'allow', 'allowWithShadowDeny', 'deny' has to be defined")])
        );
        assert_eq!(
            check(json!({
                "rules": [{"default": {"allow": []}}],
                "from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}}]
            })),
            pairs(&[
                ("spec", "field 'from' must be empty when 'rules' is defined"),
                ("spec.rules[0]", "at least one of 'allow', 'allowWithShadowDeny', 'deny' has to be defined"),
            ])
        );
    }

    #[test]
    fn rule_matches_are_validated() {
        let got = check(json!({
            "rules": [{"default": {"deny": [{"spiffeID": {"type": "Exact", "value": "some-service"}}], "allow": [{}]}}]
        }));
        assert!(got.iter().any(|(p, _)| p.starts_with("spec.rules[0].deny[0].spiffeID")), "{got:?}");
        assert!(
            got.contains(&("spec.rules[0].allow[0]".into(), "must specify at least one of 'spiffeID' or 'sni'".into()))
        );
    }
}
