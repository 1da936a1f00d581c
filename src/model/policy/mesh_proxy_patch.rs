//! MeshProxyPatch (`pkg/plugins/policies/meshproxypatch/`): raw modifications of the
//! Envoy resources Kuma generates (clusters, listeners, virtual hosts, network and
//! HTTP filters), by native Envoy YAML or RFC 6902 JSON patches.

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::kuma_enum;
use crate::model::choice::{Choice, KumaEnum};
use crate::model::common::{StringMap, TargetRef, TargetRefKind as K, TargetRefRules, validate_target_ref};
use crate::model::{KindSpec, PolicyRole, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// MeshProxyPatch spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshProxyPatch {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// The modifications applied to the selected proxies.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub default: Option<Conf>,
}

/// MeshProxyPatch configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// Modifications applied, in order, on the selected proxy's Envoy config.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append_modifications: Option<Vec<Modification>>,
}

/// One modification: exactly one of its fields must be set.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Modification {
    /// A modification of Envoy's Cluster resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterMod>,
    /// A modification of Envoy's Listener resources.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener: Option<ListenerMod>,
    /// A modification of Envoy's VirtualHosts in HTTP Connection Managers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_host: Option<VirtualHostMod>,
    /// A modification of the network filters of Listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_filter: Option<FilterMod>,
    /// A modification of the HTTP filters of HTTP Connection Managers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_filter: Option<FilterMod>,
}

kuma_enum! {
    /// Operations on a whole resource (cluster, listener, virtual host).
    pub enum ResourceOperation { Add = "Add", Remove = "Remove", Patch = "Patch" }
}

kuma_enum! {
    /// Operations on a filter of a chain.
    pub enum FilterOperation {
        Remove = "Remove",
        Patch = "Patch",
        AddFirst = "AddFirst",
        AddBefore = "AddBefore",
        AddAfter = "AddAfter",
        AddLast = "AddLast",
    }
}

kuma_enum! {
    /// RFC 6902 operations.
    pub enum JsonPatchOp { Add = "add", Remove = "remove", Replace = "replace", Move = "move", Copy = "copy" }
}

/// A modification of Envoy's Cluster resources.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ClusterMod {
    /// Conditions a cluster must meet to be modified (not with `Add`).
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_: Option<ClusterMatch>,
    /// Operation to execute on matched clusters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub operation: Option<Choice<ResourceOperation>>,
    /// The xDS resource in YAML, to add or to merge in (`Patch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// JSON patches to apply to the cluster (`Patch`, instead of `value`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_patches: Option<Vec<JsonPatchBlock>>,
}

/// Which clusters a modification applies to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ClusterMatch {
    /// Name of the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Origin of the cluster: the component that generated it (`inbound`, `outbound`,
    /// `transparent`, `prometheus`, `gateway`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// A modification of Envoy's Listener resources.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ListenerMod {
    /// Conditions a listener must meet to be modified (not with `Add`).
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_: Option<ListenerMatch>,
    /// Operation to execute on matched listeners.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub operation: Option<Choice<ResourceOperation>>,
    /// The xDS resource in YAML, to add or to merge in (`Patch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// JSON patches to apply to the listener (`Patch`, instead of `value`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_patches: Option<Vec<JsonPatchBlock>>,
}

/// Which listeners a modification applies to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ListenerMatch {
    /// Name of the listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Origin of the listener: the component that generated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Tags in the listener's `io.kuma.tags` filter metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<StringMap>,
}

/// A modification of Envoy's VirtualHosts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct VirtualHostMod {
    /// Conditions a virtual host must meet to be modified.
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub match_: Option<VirtualHostMatch>,
    /// Operation to execute on matched virtual hosts.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub operation: Option<Choice<ResourceOperation>>,
    /// The xDS resource in YAML, to add or to merge in (`Patch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// JSON patches to apply to the virtual host (`Patch`, instead of `value`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_patches: Option<Vec<JsonPatchBlock>>,
}

/// Which virtual hosts a modification applies to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct VirtualHostMatch {
    /// Name of the virtual host (not with `Add`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Origin of the virtual host: the component that generated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Name of the RouteConfiguration holding the virtual host.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route_configuration_name: Option<String>,
}

/// A modification of a network filter (in a Listener's filter chains) or of an HTTP
/// filter (in an HTTP Connection Manager).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct FilterMod {
    /// Conditions a filter must meet to be modified.
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_: Option<FilterMatch>,
    /// Operation to execute on matched filters.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub operation: Option<Choice<FilterOperation>>,
    /// The filter in YAML, to add or to merge in (`Patch`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// JSON patches to apply to the filter (`Patch`, instead of `value`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json_patches: Option<Vec<JsonPatchBlock>>,
}

/// Which filters a modification applies to.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct FilterMatch {
    /// Name of the filter, for example `envoy.filters.http.local_ratelimit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Name of the listener holding the filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener_name: Option<String>,
    /// Tags in the listener's `io.kuma.tags` filter metadata.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener_tags: Option<StringMap>,
    /// Origin of the listener: the component that generated it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// One RFC 6902 JSON patch operation.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct JsonPatchBlock {
    /// The operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub op: Option<Choice<JsonPatchOp>>,
    /// JSON pointer of the target location.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub path: Option<String>,
    /// The value (`add` and `replace` only); any JSON value.
    #[serde(default, deserialize_with = "present", skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// JSON pointer of the source location (`move` and `copy` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

/// A field that is present is `Some`, even when it is `null` (Go's `json.RawMessage`).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

const FILTER_BEFORE: &str = "must be defined. You need to pick a filter before which this one will be added";
const FILTER_AFTER: &str = "must be defined. You need to pick a filter after which this one will be added";

impl KindSpec for MeshProxyPatch {
    fn validate(&self, ctx: &ValidateCtx, v: &mut Violations) {
        if let Some(top) = &self.target_ref {
            let supported: &[K] = if ctx.role == PolicyRole::System {
                &[K::Mesh, K::MeshSubset, K::MeshService, K::MeshServiceSubset, K::MeshGateway, K::Dataplane]
            } else {
                &[K::Mesh, K::MeshSubset, K::Dataplane, K::MeshService, K::MeshServiceSubset]
            };
            validate_target_ref(
                v,
                &Path::root().field("targetRef"),
                top,
                &TargetRefRules { supported, ..Default::default() },
            );
        }
        let path = Path::root().field("default").field("appendModifications");
        let mods = self.default.as_ref().and_then(|d| d.append_modifications.as_deref()).unwrap_or_default();
        if mods.is_empty() {
            v.add_code(crate::findings::codes::KUMA_REQUIRED, &path, msg::MUST_NOT_BE_EMPTY);
        }
        for (i, m) in mods.iter().enumerate() {
            let p = path.index(i);
            let count = [
                m.cluster.is_some(),
                m.listener.is_some(),
                m.virtual_host.is_some(),
                m.network_filter.is_some(),
                m.http_filter.is_some(),
            ]
            .into_iter()
            .filter(|b| *b)
            .count();
            if count != 1 {
                v.add(
                    &p,
                    format!("exactly one modification can be defined at a time. Currently, {count} modifications are defined"),
                );
            } else if let Some(c) = &m.cluster {
                let r = ResourceMod { value: &c.value, patches: &c.json_patches, operation: &c.operation };
                validate_resource_mod(v, &p.field("cluster"), &r, c.match_.is_some().then_some(&["match"][..]));
            } else if let Some(l) = &m.listener {
                let r = ResourceMod { value: &l.value, patches: &l.json_patches, operation: &l.operation };
                validate_resource_mod(v, &p.field("listener"), &r, l.match_.is_some().then_some(&["match"][..]));
            } else if let Some(h) = &m.virtual_host {
                let r = ResourceMod { value: &h.value, patches: &h.json_patches, operation: &h.operation };
                let named = h.match_.as_ref().is_some_and(|m| m.name.is_some());
                validate_resource_mod(v, &p.field("virtualHost"), &r, named.then_some(&["match", "name"][..]));
            } else if let Some(f) = &m.network_filter {
                validate_filter_mod(v, &p.field("networkFilter"), f);
            } else if let Some(f) = &m.http_filter {
                validate_filter_mod(v, &p.field("httpFilter"), f);
            }
        }
    }

    fn policy(&self) -> Option<PolicyView<'_>> {
        Some(super::top_view(&self.target_ref))
    }
}

/// The parts of a cluster, listener or virtual host modification the rules look at.
struct ResourceMod<'a> {
    value: &'a Option<String>,
    patches: &'a Option<Vec<JsonPatchBlock>>,
    operation: &'a Option<Choice<ResourceOperation>>,
}

/// `validateClusterMod` / `validateListenerMod` / `validateVirtualHostMod`. `add_match`
/// is the field path (under `path`) of a match that `Add` forbids, when it is set.
fn validate_resource_mod(v: &mut Violations, path: &Path, m: &ResourceMod, add_match: Option<&[&str]>) {
    match m.operation.as_ref().and_then(Choice::known) {
        Some(ResourceOperation::Add) => {
            if let Some(fields) = add_match {
                let p = fields.iter().fold(path.clone(), |p, f| p.field(f));
                v.add(&p, msg::MUST_NOT_BE_DEFINED);
            }
            validate_resource_value(v, &path.field("value"), m.value.as_deref());
        }
        Some(ResourceOperation::Patch) => validate_patch(v, path, m.value.as_deref(), m.patches.as_deref()),
        Some(ResourceOperation::Remove) => {
            if m.value.is_some() {
                v.add(&path.field("value"), msg::MUST_NOT_BE_DEFINED);
            }
        }
        None => v.add(&path.field("operation"), operations_message(&["Add", "Patch", "Remove"])),
    }
}

fn validate_filter_mod(v: &mut Violations, path: &Path, f: &FilterMod) {
    let name = f.match_.as_ref().and_then(|m| m.name.as_ref());
    let name_path = path.field("match").field("name");
    match f.operation.as_ref().and_then(Choice::known) {
        Some(FilterOperation::AddFirst | FilterOperation::AddLast) => {
            validate_resource_value(v, &path.field("value"), f.value.as_deref());
        }
        Some(op @ (FilterOperation::AddBefore | FilterOperation::AddAfter)) => {
            if name.is_none() {
                v.add(&name_path, if op == FilterOperation::AddBefore { FILTER_BEFORE } else { FILTER_AFTER });
            }
            validate_resource_value(v, &path.field("value"), f.value.as_deref());
        }
        Some(FilterOperation::Patch) => {
            if name.is_none() {
                v.must_be_defined(&name_path);
            }
            validate_patch(v, path, f.value.as_deref(), f.json_patches.as_deref());
        }
        Some(FilterOperation::Remove) => {
            if f.value.is_some() {
                v.add(&path.field("value"), msg::MUST_NOT_BE_DEFINED);
            }
        }
        None => v.add(
            &path.field("operation"),
            operations_message(&["AddFirst", "AddLast", "AddBefore", "AddAfter", "Patch", "Remove"]),
        ),
    }
}

fn operations_message(ops: &[&str]) -> String {
    let quoted: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
    format!("invalid operation. Available operations: {}", quoted.join(", "))
}

/// `validateResourceValue`: the value is required and must read as an Envoy resource.
fn validate_resource_value(v: &mut Violations, path: &Path, value: Option<&str>) {
    match value {
        None => v.must_be_defined(path),
        Some(value) => {
            if let Some(err) = envoy_value_error(value) {
                v.add(path, format!("native Envoy resource is not valid: {err}"));
            }
        }
    }
}

/// `validatePatch`: exactly one of `value` and `jsonPatches`.
fn validate_patch(v: &mut Violations, path: &Path, value: Option<&str>, patches: Option<&[JsonPatchBlock]>) {
    let entity = path.last_field().unwrap_or_default();
    let patches = patches.unwrap_or_default();
    match value {
        Some(value) => {
            if !patches.is_empty() {
                v.add(path, msg::must_have_only_one(&entity, &["value", "jsonPatches"]));
            } else if let Some(err) = envoy_value_error(value) {
                v.add(&path.field("value"), format!("native Envoy resource is not valid: {err}"));
            }
        }
        None if !patches.is_empty() => validate_json_patches(v, &path.field("jsonPatches"), patches),
        None => v.add(path, msg::must_have_exactly_one_of(&entity, &["value", "jsonPatches"])),
    }
}

/// Kuma reads the value as YAML (falling back to the raw text as JSON) into the Envoy
/// proto, unknown fields allowed. Without Envoy's protos we check that it is a
/// document that could be one: a mapping (or nothing).
fn envoy_value_error(value: &str) -> Option<String> {
    let parsed = crate::source::yaml::parse(value, &crate::source::Limits::default());
    let doc = if parsed.problems.is_empty() {
        parsed.documents.into_iter().next().and_then(|d| d.value).unwrap_or(Value::Null)
    } else {
        match serde_json::from_str::<Value>(value) {
            Ok(v) => v,
            Err(e) if e.is_eof() => return Some("unexpected EOF".into()),
            Err(e) => return Some(e.to_string()),
        }
    };
    let kind = match doc {
        Value::Null | Value::Object(_) => return None,
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
    };
    Some(format!("json: cannot unmarshal {kind} into Go value of type map[string]json.RawMessage"))
}

/// Kuma's `ValidateJsonPatchBlock`.
fn validate_json_patches(v: &mut Violations, path: &Path, patches: &[JsonPatchBlock]) {
    if patches.is_empty() {
        v.add_code(crate::findings::codes::KUMA_REQUIRED, path, msg::MUST_NOT_BE_EMPTY);
    }
    for (i, patch) in patches.iter().enumerate() {
        let p = path.index(i);
        let op = patch.op.as_ref().and_then(Choice::known);
        match &patch.op {
            Some(c) => v.one_of(&p.field("op"), c),
            None => v.add_code(
                crate::findings::codes::KUMA_ENUM,
                &p.field("op"),
                msg::must_be_one_of("op", JsonPatchOp::NAMES),
            ),
        }
        let move_copy = matches!(op, Some(JsonPatchOp::Move | JsonPatchOp::Copy));
        if move_copy && patch.from.is_none() {
            v.add(&p.field("from"), one_of_op("from", "must not be empty", &["move", "copy"]));
        } else if !move_copy && patch.from.is_some() {
            v.add(&p.field("from"), one_of_op("from", "is allowed only", &["move", "copy"]));
        }
        let add_replace = matches!(op, Some(JsonPatchOp::Add | JsonPatchOp::Replace));
        if add_replace && patch.value.is_none() {
            v.add(&p.field("value"), one_of_op("value", "must not be empty", &["add", "replace"]));
        } else if !add_replace && patch.value.is_some() {
            v.add(&p.field("value"), one_of_op("value", "is allowed only", &["add", "replace"]));
        }
        match patch.path.as_deref() {
            None => v.must_be_defined(&p.field("path")),
            Some("" | "/") if op == Some(JsonPatchOp::Remove) => v.add(&p.field("path"), "root path cannot be removed"),
            _ => {}
        }
    }
}

/// Kuma's `MakeOneOfErr`: `"from" is allowed only when "op" is one of ["move", "copy"]`.
fn one_of_op(field: &str, message: &str, values: &[&str]) -> String {
    let quoted: Vec<String> = values.iter().map(|x| format!("{x:?}")).collect();
    format!("{field:?} {message} when \"op\" is one of [{}]", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{self, meta, pairs};
    use crate::model::{Kind, PolicyRole};

    fn check_role(spec: serde_json::Value, role: PolicyRole) -> Vec<(String, String)> {
        testing::check::<MeshProxyPatch>(&meta(Kind::MeshProxyPatch, "mpp"), role, spec)
    }

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        check_role(spec, PolicyRole::System)
    }

    fn mods(m: serde_json::Value) -> serde_json::Value {
        serde_json::json!({"targetRef": {"kind": "Mesh"}, "default": {"appendModifications": m}})
    }

    const EOF: &str = "native Envoy resource is not valid: unexpected EOF";
    const RESOURCE_OPS: &str = r#"invalid operation. Available operations: "Add", "Patch", "Remove""#;
    const FILTER_OPS: &str =
        r#"invalid operation. Available operations: "AddFirst", "AddLast", "AddBefore", "AddAfter", "Patch", "Remove""#;

    #[test]
    fn valid_modifications() {
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshGateway", "name": "gateway"},
            "default": {"appendModifications": [
                {"cluster": {"operation": "Add", "value": "name: xyz\nconnectTimeout: 5s\ntype: STATIC\n"}},
                {"cluster": {"operation": "Patch", "jsonPatches": [
                    {"op": "replace", "path": "/foo/bar", "value": "baz"},
                    {"op": "add", "path": "/foo/bar", "value": {"bar": "baz"}},
                    {"op": "remove", "path": "/foo"},
                    {"op": "copy", "from": "/a", "path": "/b"}
                ]}},
                {"cluster": {"operation": "Remove", "match": {"origin": "inbound"}}},
                {"listener": {"operation": "Patch", "match": {"name": "inbound:127.0.0.1:8080"}, "value": "address:\n  socketAddress:\n    portValue: 8080\n"}},
                {"networkFilter": {"operation": "AddBefore", "match": {"name": "envoy.filters.network.direct_response"}, "value": "name: envoy.filters.network.tcp_proxy\n"}},
                {"httpFilter": {"operation": "Patch", "match": {"name": "envoy.filters.http.router"}, "jsonPatches": [{"op": "replace", "path": "/dynamicStats", "value": false}]}},
                {"virtualHost": {"operation": "Add", "match": {"routeConfigurationName": "outbound:backend"}, "value": "{\"name\": \"vh\"}"}},
                {"httpFilter": {"operation": "Remove"}}
            ]}
        });
        assert_eq!(check(spec), pairs(&[]));
    }

    #[test]
    fn empty_default_and_modification() {
        assert_eq!(
            check(serde_json::json!({"targetRef": {"kind": "Mesh"}})),
            pairs(&[("spec.default.appendModifications", "must not be empty")])
        );
        assert_eq!(
            check(mods(serde_json::json!([{}]))),
            pairs(&[(
                "spec.default.appendModifications[0]",
                "exactly one modification can be defined at a time. Currently, 0 modifications are defined"
            )])
        );
        let two = serde_json::json!([{
            "cluster": {"operation": "Remove"},
            "listener": {"operation": "Remove"}
        }]);
        assert_eq!(
            check(mods(two)),
            pairs(&[(
                "spec.default.appendModifications[0]",
                "exactly one modification can be defined at a time. Currently, 2 modifications are defined"
            )])
        );
    }

    #[test]
    fn invalid_cluster_modifications() {
        let spec = mods(serde_json::json!([
            {"cluster": {"operation": "AddFirst"}},
            {"cluster": {"operation": "Add", "value": "{"}},
            {"cluster": {"operation": "Patch", "value": "{"}},
            {"cluster": {"operation": "Add", "match": {"name": "inbound:127.0.0.1:80"}, "value": "name: xyz\n"}},
            {"cluster": {"operation": "Remove", "value": "name: xyz\n"}},
            {"cluster": {"operation": "Add"}},
            {"cluster": {"operation": "Patch"}},
            {"cluster": {"operation": "Patch", "value": "{}", "jsonPatches": [{"op": "remove", "path": ""}]}},
        ]));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.default.appendModifications[0].cluster.operation", RESOURCE_OPS),
                ("spec.default.appendModifications[1].cluster.value", EOF),
                ("spec.default.appendModifications[2].cluster.value", EOF),
                ("spec.default.appendModifications[3].cluster.match", "must not be defined"),
                ("spec.default.appendModifications[4].cluster.value", "must not be defined"),
                ("spec.default.appendModifications[5].cluster.value", "must be defined"),
                (
                    "spec.default.appendModifications[6].cluster",
                    "cluster must have exactly one defined: value, jsonPatches"
                ),
                (
                    "spec.default.appendModifications[7].cluster",
                    "cluster must have only one type defined: value, jsonPatches"
                ),
            ])
        );
    }

    #[test]
    fn invalid_listener_and_virtual_host_modifications() {
        let spec = mods(serde_json::json!([
            {"listener": {"operation": "AddFirst"}},
            {"listener": {"operation": "Add", "value": "{"}},
            {"listener": {"operation": "Add", "match": {"name": "x"}, "value": "name: xyz\n"}},
            {"listener": {"operation": "Patch", "value": "name: xyz\n", "jsonPatches": [{"op": "remove", "path": ""}]}},
            {"virtualHost": {"operation": "Add", "match": {"name": "xyz"}, "value": "{"}},
            {"virtualHost": {"operation": "AddFirst"}},
            {"virtualHost": {"operation": "Remove", "value": "{"}},
        ]));
        assert_eq!(
            check(spec),
            pairs(&[
                ("spec.default.appendModifications[0].listener.operation", RESOURCE_OPS),
                ("spec.default.appendModifications[1].listener.value", EOF),
                ("spec.default.appendModifications[2].listener.match", "must not be defined"),
                (
                    "spec.default.appendModifications[3].listener",
                    "listener must have only one type defined: value, jsonPatches"
                ),
                ("spec.default.appendModifications[4].virtualHost.match.name", "must not be defined"),
                ("spec.default.appendModifications[4].virtualHost.value", EOF),
                ("spec.default.appendModifications[5].virtualHost.operation", RESOURCE_OPS),
                ("spec.default.appendModifications[6].virtualHost.value", "must not be defined"),
            ])
        );
    }

    #[test]
    fn invalid_filter_operations() {
        for kind in ["networkFilter", "httpFilter"] {
            let m = |x: serde_json::Value| serde_json::json!({ kind: x });
            let spec = mods(serde_json::json!([
                m(serde_json::json!({"operation": "AddFirst", "value": "{"})),
                m(serde_json::json!({"operation": "AddBefore", "value": "{"})),
                m(serde_json::json!({"operation": "AddAfter", "value": "{"})),
                m(serde_json::json!({"operation": "Patch", "value": "{"})),
                m(serde_json::json!({"operation": "Remove", "value": "{"})),
                m(serde_json::json!({"operation": "Add"})),
                m(
                    serde_json::json!({"operation": "Patch", "value": "{}", "jsonPatches": [{"op": "remove", "path": ""}]})
                ),
            ]));
            let p = |i: usize, rest: &str| format!("spec.default.appendModifications[{i}].{kind}{rest}");
            let only_one = format!("{kind} must have only one type defined: value, jsonPatches");
            let expected = vec![
                (p(0, ".value"), EOF.to_string()),
                (p(1, ".match.name"), FILTER_BEFORE.to_string()),
                (p(1, ".value"), EOF.to_string()),
                (p(2, ".match.name"), FILTER_AFTER.to_string()),
                (p(2, ".value"), EOF.to_string()),
                (p(3, ".match.name"), "must be defined".to_string()),
                (p(3, ".value"), EOF.to_string()),
                (p(4, ".value"), "must not be defined".to_string()),
                (p(5, ".operation"), FILTER_OPS.to_string()),
                (p(6, ".match.name"), "must be defined".to_string()),
                (p(6, ""), only_one),
            ];
            assert_eq!(check(spec), expected, "{kind}");
        }
    }

    #[test]
    fn invalid_json_patches() {
        let spec = mods(serde_json::json!([
            {"cluster": {"operation": "Patch", "jsonPatches": [
                {"op": "unsupported_operation", "path": ""},
                {"op": "remove", "path": "/a/b/c", "value": "foo"},
                {"op": "add", "path": "/a/b/c"},
                {"op": "replace", "path": "/a", "from": "", "value": null},
                {"op": "move", "path": "/a"},
                {"op": "remove", "path": "/"},
                {"op": "copy", "from": "/x"},
            ]}}
        ]));
        let p = |i: usize, f: &str| format!("spec.default.appendModifications[0].cluster.jsonPatches[{i}].{f}");
        let expected = vec![
            (p(0, "op"), r#""op" must be one of ["add", "remove", "replace", "move", "copy"]"#.to_string()),
            (p(1, "value"), r#""value" is allowed only when "op" is one of ["add", "replace"]"#.to_string()),
            (p(2, "value"), r#""value" must not be empty when "op" is one of ["add", "replace"]"#.to_string()),
            (p(3, "from"), r#""from" is allowed only when "op" is one of ["move", "copy"]"#.to_string()),
            (p(4, "from"), r#""from" must not be empty when "op" is one of ["move", "copy"]"#.to_string()),
            (p(5, "path"), "root path cannot be removed".to_string()),
            (p(6, "path"), "must be defined".to_string()),
        ];
        assert_eq!(check(spec), expected);
    }

    #[test]
    fn target_ref_kinds() {
        let spec = serde_json::json!({
            "targetRef": {"kind": "Unknown"},
            "default": {"appendModifications": [{"virtualHost": {"operation": "Remove"}}]}
        });
        assert_eq!(check(spec), pairs(&[("spec.targetRef.kind", "value 'Unknown' is not supported")]));
        let spec = serde_json::json!({
            "targetRef": {"kind": "MeshGateway", "name": "gw"},
            "default": {"appendModifications": [{"cluster": {"operation": "Remove"}}]}
        });
        assert_eq!(check(spec.clone()), pairs(&[]));
        assert_eq!(
            check_role(spec, PolicyRole::WorkloadOwner),
            pairs(&[("spec.targetRef.kind", "value 'MeshGateway' is not supported")])
        );
    }

    #[test]
    fn value_that_is_not_a_resource() {
        let spec = mods(serde_json::json!([
            {"cluster": {"operation": "Add", "value": "just a string"}},
            {"cluster": {"operation": "Patch", "value": "- a\n- b\n"}},
        ]));
        assert_eq!(
            check(spec),
            pairs(&[
                (
                    "spec.default.appendModifications[0].cluster.value",
                    "native Envoy resource is not valid: json: cannot unmarshal string into Go value of type map[string]json.RawMessage"
                ),
                (
                    "spec.default.appendModifications[1].cluster.value",
                    "native Envoy resource is not valid: json: cannot unmarshal array into Go value of type map[string]json.RawMessage"
                ),
            ])
        );
    }
}
