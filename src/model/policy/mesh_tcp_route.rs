//! MeshTCPRoute (`pkg/plugins/policies/meshtcproute/`): TCP routing for outbound
//! traffic (or MeshGateway listeners) to weighted backendRefs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::common::{BackendRef, TargetRef, TargetRefKind as K, TargetRefRules, validate_target_ref};
use crate::model::{KindSpec, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations};

/// MeshTCPRoute spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshTCPRoute {
    /// The proxies (or MeshGateway) this route applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// Destinations whose connections are routed, each with its routing rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1))]
    pub to: Option<Vec<To>>,
}

/// A `to[]` item: the rule applied to connections for `targetRef`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct To {
    /// The group of destinations (a MeshService, MeshExternalService,
    /// MeshMultiZoneService; `Mesh` under a MeshGateway).
    #[serde(default)]
    #[schemars(required)]
    pub target_ref: TargetRef,
    /// The routing rule (at most one) for this combination of top-level targetRef
    /// and destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required, length(max = 1))]
    pub rules: Option<Vec<Rule>>,
}

/// A routing rule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Rule {
    /// Routing configuration, merged with the rules of other policies.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub default: Option<RuleConf>,
}

/// Where matching connections go.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct RuleConf {
    /// Backends to forward connections to, with relative weights.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_refs: Option<Vec<BackendRef>>,
}

impl KindSpec for MeshTCPRoute {
    fn validate(&self, ctx: &ValidateCtx, v: &mut Violations) {
        let gateway = super::validate_route_top(v, &self.target_ref, ctx.role);
        let backend_rules = TargetRefRules {
            supported: &[K::MeshService, K::MeshServiceSubset, K::MeshExternalService, K::MeshMultiZoneService],
            ..Default::default()
        };
        for (i, to) in self.to.iter().flatten().enumerate() {
            let p = Path::root().field("to").index(i);
            super::validate_route_to(v, &p.field("targetRef"), &to.target_ref, gateway);
            for (j, rule) in to.rules.iter().flatten().enumerate() {
                let bp = p.field("rules").index(j).field("default").field("backendRefs");
                let refs = rule.default.as_ref().and_then(|d| d.backend_refs.as_deref()).unwrap_or_default();
                if refs.is_empty() {
                    v.must_be_defined(&bp);
                }
                for (k, b) in refs.iter().enumerate() {
                    validate_target_ref(v, &bp.index(k), &b.target, &backend_rules);
                    b.validate(v, &bp.index(k));
                }
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
                let refs = rule.default.as_ref().and_then(|d| d.backend_refs.as_deref()).unwrap_or_default();
                let bp = p.field("rules").index(j).field("default").field("backendRefs");
                for (k, b) in refs.iter().enumerate() {
                    view.references.push((bp.index(k), &b.target));
                }
            }
        }
        Some(view)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{self, meta, pairs};
    use crate::model::{Kind, PolicyRole};

    fn check_role(spec: serde_json::Value, role: PolicyRole) -> Vec<(String, String)> {
        testing::check::<MeshTCPRoute>(&meta(Kind::MeshTCPRoute, "route-1"), role, spec)
    }

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        check_role(spec, PolicyRole::System)
    }

    #[test]
    fn top_level_kind_not_supported() {
        let spec = serde_json::json!({
            "targetRef": {"kind": "BlahBlah", "name": "frontend"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "backend"}}]
        });
        assert_eq!(check(spec), pairs(&[("spec.targetRef.kind", "value 'BlahBlah' is not supported")]));
        let spec = serde_json::json!({"targetRef": {"kind": "MeshGateway", "name": "edge"}, "to": []});
        assert_eq!(
            check_role(spec, PolicyRole::Producer),
            pairs(&[("spec.targetRef.kind", "value 'MeshGateway' is not supported")])
        );
    }

    #[test]
    fn to_mesh_not_supported() {
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshService", "name": "frontend"},
            "to": [{"targetRef": {"kind": "Mesh"}}]
        });
        assert_eq!(check(spec), pairs(&[("spec.to[0].targetRef.kind", "value 'Mesh' is not supported")]));
    }

    #[test]
    fn to_mesh_service_not_supported_under_gateway() {
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshGateway", "name": "edge"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "backend"}}]
        });
        assert_eq!(check(spec), pairs(&[("spec.to[0].targetRef.kind", "value 'MeshService' is not supported")]));
    }

    #[test]
    fn invalid_backend_refs() {
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshService", "name": "frontend"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "backend"}, "rules": [
                {"default": {"backendRefs": [{"kind": "MeshServiceSubset", "tags": {"version": "v1"}}]}}
            ]}]
        });
        assert_eq!(
            check(spec),
            pairs(&[("spec.to[0].rules[0].default.backendRefs[0].name", "must be set when kind is MeshServiceSubset")])
        );
    }

    #[test]
    fn missing_port_in_backend_refs() {
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshService", "name": "frontend"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "backend"}, "rules": [
                {"default": {"backendRefs": [{"kind": "MeshMultiZoneService", "name": "test-server"}]}}
            ]}]
        });
        assert_eq!(
            check(spec),
            pairs(&[(
                "spec.to[0].rules[0].default.backendRefs[0].port",
                "must be defined with kind MeshMultiZoneService"
            )])
        );
    }

    #[test]
    fn rule_without_backend_refs() {
        let spec = serde_json::json!({
            "to": [{"targetRef": {"kind": "MeshService", "name": "backend"}, "rules": [{"default": {}}, {}]}]
        });
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.to[0].rules[0].default.backendRefs", "must be defined"),
                ("spec.to[0].rules[1].default.backendRefs", "must be defined"),
            ])
        );
    }

    #[test]
    fn valid_resources() {
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshService", "name": "frontend"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "backend"}, "rules": [
                {"default": {"backendRefs": [{"kind": "MeshService", "name": "other"}]}}
            ]}]
        });
        assert_eq!(check(spec), pairs(&[]));
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshService", "name": "frontend"},
            "to": [{"targetRef": {"kind": "MeshService", "name": "backend"}}]
        });
        assert_eq!(check(spec), pairs(&[]));
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshGateway", "name": "edge", "tags": {"port": "6000"}},
            "to": [{"targetRef": {"kind": "Mesh"}, "rules": [
                {"default": {"backendRefs": [{"kind": "MeshService", "name": "other"}]}}
            ]}]
        });
        assert_eq!(check(spec), pairs(&[]));
        let spec = serde_json::json!({
            "targetRef": {"kind": "Mesh"},
            "to": [
                {"targetRef": {"kind": "MeshService", "name": "backend", "sectionName": "8080"}, "rules": [
                    {"default": {"backendRefs": [{"kind": "MeshMultiZoneService", "name": "other", "port": 8080}]}}
                ]},
                {"targetRef": {"kind": "MeshMultiZoneService", "name": "other", "sectionName": "8080"}, "rules": [
                    {"default": {"backendRefs": [{"kind": "MeshService", "name": "backend", "port": 8080}]}}
                ]}
            ]
        });
        assert_eq!(check(spec), pairs(&[]));
    }

    #[test]
    fn references_and_defaults() {
        let spec: MeshTCPRoute = serde_json::from_value(serde_json::json!({
            "to": [{"targetRef": {"kind": "MeshService", "name": "backend"}, "rules": [
                {"default": {"backendRefs": [{"kind": "MeshService", "name": "v1"}, {"kind": "MeshService", "name": "v2", "weight": 3}]}}
            ]}]
        }))
        .unwrap();
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(json["to"][0]["rules"][0]["default"]["backendRefs"][0]["weight"], 1);
        let view = spec.policy().unwrap();
        let refs: Vec<_> = view.references.iter().map(|(p, r)| (p.kuma(Some("spec")), r.name().to_string())).collect();
        assert_eq!(
            refs,
            [
                ("spec.to[0].targetRef".to_string(), "backend".to_string()),
                ("spec.to[0].rules[0].default.backendRefs[0]".to_string(), "v1".to_string()),
                ("spec.to[0].rules[0].default.backendRefs[1]".to_string(), "v2".to_string()),
            ]
        );
    }
}
