//! MeshProxyPatch (reference §5.11): the merged `appendModifications` applied,
//! in order, to the proxy's final listeners and clusters, after every other
//! configurer (this one is last in the registry), as Kuma's plugin does
//! (`pkg/plugins/policies/meshproxypatch/plugin/v1alpha1`).
//!
//! Resources are edited as Kuma edits them: as protobuf JSON with JSON names
//! (`connectTimeout`, `filterChains`, `typedConfig` with `@type`), so the JSON
//! pointers of `jsonPatches` read as in Kuma. `value` is read into the Envoy
//! message of its kind (unknown fields ignored, as Kuma does) and merged as
//! protobuf merges: messages field by field, lists appended, scalars,
//! durations and wrappers replaced.
//!
//! Origins (what `match.origin` compares with): meshc has no resource set with
//! origins, so each resource's origin is derived from the plan and its name:
//! inbound listeners and application clusters `inbound`; outbound listeners and
//! destination clusters `outbound`; `*:passthrough:*` `transparent`;
//! `_kuma:metrics:prometheus:*` and `_kuma:metrics:hijacker` `prometheus`;
//! `_kuma:metrics:opentelemetry:*` `open-telemetry`; `meshtrace:*`
//! `mesh-trace`; `kuma:dns` `dns`; what a modification adds `mesh-proxy-patch`.
//!
//! A modification that cannot be applied (a `value` that is not the Envoy
//! message, a JSON patch that fails, a result that is no longer a valid
//! message) leaves the configuration as it was before it and is reported as a
//! [`PatchProblem`] (see [`take_problems`]); Kuma refuses the whole proxy
//! configuration instead.

use std::cell::RefCell;
use std::collections::BTreeSet;

use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::listener::v3::{Filter, Listener};
use envoy_types::pb::envoy::config::route::v3::VirtualHost;
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::HttpFilter;
use prost::{Message, Name};
use prost_reflect::{DeserializeOptions, DynamicMessage, SerializeOptions};
use serde_json::{Map, Value};

use super::super::parts::HCM;
use super::Configurer;
use crate::findings::{Finding, Target, codes};
use crate::model::Kind;
use crate::model::choice::Choice;
use crate::model::common::StringMap;
use crate::model::policy::mesh_proxy_patch::{
    Conf, FilterMod, FilterOperation, JsonPatchBlock, JsonPatchOp, Modification, ResourceOperation,
};
use crate::plan::ProxyPlan;
use crate::rules::effective::{Condition, Effective, policy_name};
use crate::validate::violations::Path;

/// Kuma's origin of the resources a modification adds.
pub const ORIGIN_PATCH: &str = "mesh-proxy-patch";
const TAGS_METADATA: &str = "io.kuma.tags";

/// A modification meshc could not apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchProblem {
    /// The policy the modification comes from (`MeshProxyPatch/name`), when known.
    pub policy: Option<String>,
    /// Index into the merged `appendModifications`.
    pub index: usize,
    /// Path of the modification in its policy (`spec.default.appendModifications[i]`).
    pub path: String,
    /// `i` of that path: the modification's index in its own policy.
    pub modification: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for PatchProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let policy = self.policy.as_deref().unwrap_or("MeshProxyPatch");
        write!(f, "{policy}: {}: {}", self.path, self.message)
    }
}

thread_local! {
    /// Problems of the proxies built on this thread since the last [`take_problems`].
    static PROBLEMS: RefCell<Vec<PatchProblem>> = const { RefCell::new(Vec::new()) };
}

/// The problems of the MeshProxyPatch modifications applied on this thread
/// since the last call (the envoy stage builds one proxy per call on one
/// thread: call it right after `envoy::bootstrap` to get that proxy's).
pub fn take_problems() -> Vec<PatchProblem> {
    PROBLEMS.with(|p| std::mem::take(&mut *p.borrow_mut()))
}

/// Findings for the problems of the proxies compiled (each problem once, with
/// the first proxy it happened on), located at the modification in its policy.
pub fn findings(mut problems: Vec<(String, PatchProblem)>, resources: &[crate::model::Resource]) -> Vec<Finding> {
    problems.sort_by(|a, b| a.0.cmp(&b.0));
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (proxy, p) in problems {
        if !seen.insert((p.policy.clone(), p.path.clone(), p.message.clone())) {
            continue;
        }
        let policy = p.policy.as_deref().and_then(|name| {
            resources.iter().find(|r| r.meta.kind == Kind::MeshProxyPatch && policy_name(&r.meta) == name)
        });
        let message = format!("cannot be applied to proxy {proxy}, compiled without it: {}", p.message);
        let finding = match policy {
            Some(r) => {
                let mut path = Path::root().field("default");
                if let Some(i) = p.modification {
                    path = path.field("appendModifications").index(i);
                }
                r.meta.finding(codes::PROXY_PATCH_NOT_APPLIED, &path, Target::Value, message)
            }
            None => Finding::new(codes::PROXY_PATCH_NOT_APPLIED, format!("{p}: {message}"), Default::default()),
        };
        out.push(finding);
    }
    out
}

/// MeshProxyPatch's configurer.
pub struct MeshProxyPatch;

impl Configurer for MeshProxyPatch {
    fn kind(&self) -> Kind {
        Kind::MeshProxyPatch
    }

    fn bootstrap(&self, plan: &ProxyPlan, confs: &[&Effective], bootstrap: &mut Bootstrap) {
        let problems = apply(plan, confs, bootstrap);
        if !problems.is_empty() {
            PROBLEMS.with(|p| p.borrow_mut().extend(problems));
        }
    }
}

/// Apply the proxy-wide MeshProxyPatch conf to `bootstrap`; what could not be applied.
pub fn apply(plan: &ProxyPlan, confs: &[&Effective], bootstrap: &mut Bootstrap) -> Vec<PatchProblem> {
    let Some(e) = confs.iter().find(|e| e.condition == Condition::All) else { return Vec::new() };
    let conf: Conf = match serde_json::from_value(e.conf.clone()) {
        Ok(c) => c,
        Err(err) => {
            return vec![PatchProblem {
                policy: e.origins.first().map(|o| o.policy.clone()),
                index: 0,
                path: "spec.default".to_string(),
                modification: None,
                message: format!("cannot be read: {err}"),
            }];
        }
    };
    let mods = conf.append_modifications.unwrap_or_default();
    if mods.is_empty() {
        return Vec::new();
    }
    let Some(resources) = bootstrap.static_resources.as_mut() else { return Vec::new() };
    let mut set = match ResourceSet::of(plan, &resources.listeners, &resources.clusters) {
        Ok(s) => s,
        Err(message) => {
            return vec![PatchProblem {
                policy: None,
                index: 0,
                path: "spec.default".to_string(),
                modification: None,
                message,
            }];
        }
    };
    // Usually every modification applies: apply them all and decode once. Only
    // when one fails, start again one modification at a time (each on a copy,
    // decoded, kept if valid) to leave out just the failing ones.
    if mods.iter().all(|m| set.modify(m).is_ok())
        && let Ok((listeners, clusters)) = set.decode()
    {
        resources.listeners = listeners;
        resources.clusters = clusters;
        return Vec::new();
    }
    // The messages are untouched so far: read them again.
    let Ok(fresh) = ResourceSet::of(plan, &resources.listeners, &resources.clusters) else { return Vec::new() };
    set = fresh;
    let mut problems = Vec::new();
    for (i, m) in mods.iter().enumerate() {
        let mut next = set.clone();
        let result = next.modify(m).and_then(|()| next.decode());
        match result {
            Ok(_) => set = next,
            Err(message) => problems.push(PatchProblem {
                policy: policy_of(e, i),
                index: i,
                path: format!("spec.default.appendModifications[{}]", local_index(e, i)),
                modification: Some(local_index(e, i)),
                message,
            }),
        }
    }
    match set.decode() {
        Ok((listeners, clusters)) => {
            resources.listeners = listeners;
            resources.clusters = clusters;
        }
        Err(message) => problems.push(PatchProblem {
            policy: None,
            index: 0,
            path: "spec.default".into(),
            modification: None,
            message,
        }),
    }
    problems
}

/// The policy the `i`th merged modification came from (merged lists keep
/// per-item attribution in `fields`).
fn policy_of(e: &Effective, i: usize) -> Option<String> {
    let prefix = format!("/appendModifications/{i}/");
    let origin = e.fields.iter().find(|(k, _)| k.starts_with(&prefix)).map(|(_, o)| *o);
    origin.and_then(|o| e.origins.get(o)).or(e.origins.first()).map(|o| o.policy.clone())
}

/// The index of the `i`th merged modification inside its own policy: the
/// number of earlier modifications from the same policy.
fn local_index(e: &Effective, i: usize) -> usize {
    let origin_of = |j: usize| {
        let prefix = format!("/appendModifications/{j}/");
        e.fields.iter().find(|(k, _)| k.starts_with(&prefix)).map(|(_, o)| *o)
    };
    let mine = origin_of(i);
    if mine.is_none() {
        return i;
    }
    (0..i).filter(|&j| origin_of(j) == mine).count()
}

/// The proxy's listeners and clusters as JSON, with their origins.
#[derive(Debug, Clone)]
struct ResourceSet {
    listeners: Vec<Resource>,
    clusters: Vec<Resource>,
}

#[derive(Debug, Clone)]
struct Resource {
    name: String,
    origin: String,
    json: Value,
}

impl ResourceSet {
    fn of(plan: &ProxyPlan, listeners: &[Listener], clusters: &[Cluster]) -> Result<ResourceSet, String> {
        let inbound_listeners: BTreeSet<&str> = plan.inbounds.iter().map(|i| i.name.as_str()).collect();
        let outbound_listeners: BTreeSet<&str> = plan.outbounds.iter().map(|o| o.name.as_str()).collect();
        let inbound_clusters: BTreeSet<&str> = plan.inbounds.iter().map(|i| i.cluster.as_str()).collect();
        let outbound_clusters: BTreeSet<&str> = plan.clusters.iter().map(|c| c.name.as_str()).collect();
        let listener = |l: &Listener| -> Result<Resource, String> {
            let origin = if inbound_listeners.contains(l.name.as_str()) {
                "inbound"
            } else if outbound_listeners.contains(l.name.as_str()) {
                "outbound"
            } else {
                system_origin(&l.name)
            };
            Ok(Resource { name: l.name.clone(), origin: origin.to_string(), json: to_json(l)? })
        };
        let cluster = |c: &Cluster| -> Result<Resource, String> {
            let origin = if inbound_clusters.contains(c.name.as_str()) {
                "inbound"
            } else if outbound_clusters.contains(c.name.as_str()) {
                "outbound"
            } else {
                system_origin(&c.name)
            };
            Ok(Resource { name: c.name.clone(), origin: origin.to_string(), json: to_json(c)? })
        };
        Ok(ResourceSet {
            listeners: listeners.iter().map(listener).collect::<Result<_, _>>()?,
            clusters: clusters.iter().map(cluster).collect::<Result<_, _>>()?,
        })
    }

    /// Every resource back into its message: a modification must leave valid ones.
    fn decode(&self) -> Result<(Vec<Listener>, Vec<Cluster>), String> {
        let listeners = self
            .listeners
            .iter()
            .map(|r| {
                from_json::<Listener>(&r.json).map_err(|e| format!("listener {:?} is no longer valid: {e}", r.name))
            })
            .collect::<Result<_, _>>()?;
        let clusters = self
            .clusters
            .iter()
            .map(|r| from_json::<Cluster>(&r.json).map_err(|e| format!("cluster {:?} is no longer valid: {e}", r.name)))
            .collect::<Result<_, _>>()?;
        Ok((listeners, clusters))
    }

    fn modify(&mut self, m: &Modification) -> Result<(), String> {
        if let Some(c) = &m.cluster {
            let matches = |r: &Resource| {
                let m = c.match_.as_ref();
                m.and_then(|m| m.name.as_ref()).is_none_or(|n| *n == r.name)
                    && m.and_then(|m| m.origin.as_ref()).is_none_or(|o| *o == r.origin)
            };
            let value = c.value.as_deref().map(read_value::<Cluster>).transpose()?;
            return modify_resources(&mut self.clusters, op(&c.operation)?, value, c.json_patches.as_deref(), matches);
        }
        if let Some(l) = &m.listener {
            let matches = |r: &Resource| {
                let m = l.match_.as_ref();
                m.and_then(|m| m.name.as_ref()).is_none_or(|n| *n == r.name)
                    && m.and_then(|m| m.origin.as_ref()).is_none_or(|o| *o == r.origin)
                    && m.and_then(|m| m.tags.as_ref()).is_none_or(|t| tags_match(t, &r.json))
            };
            let value = l.value.as_deref().map(read_value::<Listener>).transpose()?;
            return modify_resources(&mut self.listeners, op(&l.operation)?, value, l.json_patches.as_deref(), matches);
        }
        if let Some(v) = &m.virtual_host {
            let value = v.value.as_deref().map(read_value::<VirtualHost>).transpose()?;
            let operation = op(&v.operation)?;
            let m = v.match_.as_ref();
            for r in &mut self.listeners {
                if m.and_then(|m| m.origin.as_ref()).is_some_and(|o| *o != r.origin) {
                    continue;
                }
                for hcm in hcms(&mut r.json) {
                    let Some(config) = hcm.get_mut("routeConfig").and_then(Value::as_object_mut) else { continue };
                    let config_name = config.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                    if m.and_then(|m| m.route_configuration_name.as_ref()).is_some_and(|n| *n != config_name) {
                        continue;
                    }
                    let Some(hosts) = array_at(config, "virtualHosts") else { continue };
                    let named = |h: &Value| {
                        m.and_then(|m| m.name.as_ref())
                            .is_none_or(|n| h.get("name").and_then(Value::as_str) == Some(n.as_str()))
                    };
                    match operation {
                        ResourceOperation::Add => hosts.push(value.clone().unwrap_or_default()),
                        ResourceOperation::Remove => hosts.retain(|h| !named(h)),
                        ResourceOperation::Patch => {
                            for h in hosts.iter_mut().filter(|h| named(h)) {
                                patch(h, value.as_ref(), v.json_patches.as_deref())?;
                            }
                        }
                    }
                }
            }
            return Ok(());
        }
        if let Some(f) = &m.network_filter {
            let value = f.value.as_deref().map(read_value::<Filter>).transpose()?;
            let operation = filter_op(f)?;
            for r in self.listeners.iter_mut().filter(|r| filter_listener_matches(f, r)) {
                for chain in chains(&mut r.json) {
                    if let Some(filters) = array_at(chain, "filters") {
                        modify_filters(filters, operation, f, value.as_ref())?;
                    }
                }
            }
            return Ok(());
        }
        if let Some(f) = &m.http_filter {
            let value = f.value.as_deref().map(read_value::<HttpFilter>).transpose()?;
            let operation = filter_op(f)?;
            for r in self.listeners.iter_mut().filter(|r| filter_listener_matches(f, r)) {
                for hcm in hcms(&mut r.json) {
                    if let Some(filters) = array_at(hcm, "httpFilters") {
                        modify_filters(filters, operation, f, value.as_ref())?;
                    }
                }
            }
            return Ok(());
        }
        Err("defines no modification".to_string())
    }
}

/// The origin of a resource no inbound or outbound owns, from Kuma's names.
fn system_origin(name: &str) -> &'static str {
    if name.starts_with("inbound:passthrough:")
        || name.starts_with("outbound:passthrough:")
        || name == "self_transparentproxy_no_destination_inbound"
    {
        "transparent"
    } else if name.starts_with("_kuma:metrics:prometheus") || name == super::mesh_metric::METRICS_CLUSTER {
        "prometheus"
    } else if name.starts_with(super::mesh_metric::OTEL_CLUSTER) {
        "open-telemetry"
    } else if name.starts_with("meshtrace:") {
        "mesh-trace"
    } else if name == "kuma:dns" {
        "dns"
    } else if name.starts_with("inbound:") || name.starts_with("localhost:") {
        "inbound"
    } else {
        "outbound"
    }
}

fn op(o: &Option<Choice<ResourceOperation>>) -> Result<ResourceOperation, String> {
    o.as_ref().and_then(Choice::known).ok_or_else(|| "has no valid operation (Add, Remove or Patch)".to_string())
}

fn filter_op(f: &FilterMod) -> Result<FilterOperation, String> {
    f.operation
        .as_ref()
        .and_then(Choice::known)
        .ok_or_else(|| "has no valid operation (AddFirst, AddLast, AddBefore, AddAfter, Patch or Remove)".to_string())
}

/// Add, remove or patch whole clusters or listeners.
fn modify_resources(
    resources: &mut Vec<Resource>,
    operation: ResourceOperation,
    value: Option<Value>,
    patches: Option<&[JsonPatchBlock]>,
    matches: impl Fn(&Resource) -> bool,
) -> Result<(), String> {
    match operation {
        ResourceOperation::Add => {
            let json = value.ok_or("Add needs a value")?;
            let name = json.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            let added = Resource { name: name.clone(), origin: ORIGIN_PATCH.to_string(), json };
            // Kuma's resource set holds one resource per name: the added one replaces it.
            match resources.iter_mut().find(|r| r.name == name) {
                Some(r) => *r = added,
                None => resources.push(added),
            }
        }
        ResourceOperation::Remove => resources.retain(|r| !matches(r)),
        ResourceOperation::Patch => {
            for r in resources.iter_mut().filter(|r| matches(r)) {
                patch(&mut r.json, value.as_ref(), patches)?;
                // The name may be patched too.
                r.name = r.json.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
            }
        }
    }
    Ok(())
}

fn filter_listener_matches(f: &FilterMod, r: &Resource) -> bool {
    let Some(m) = &f.match_ else { return true };
    m.listener_name.as_ref().is_none_or(|n| *n == r.name)
        && m.origin.as_ref().is_none_or(|o| *o == r.origin)
        && m.listener_tags.as_ref().is_none_or(|t| tags_match(t, &r.json))
}

/// Kuma's `TagSelector.Matches` over the listener's `io.kuma.tags` metadata
/// (`*` matches any value of a present tag).
fn tags_match(selector: &StringMap, listener: &Value) -> bool {
    let tags = listener.pointer("/metadata/filterMetadata").and_then(|m| m.get(TAGS_METADATA));
    selector.iter().all(|(k, v)| {
        let actual = tags.and_then(|t| t.get(k)).and_then(Value::as_str);
        actual.is_some_and(|a| v == "*" || a == v)
    })
}

/// Edit a list of network filters or HTTP filters.
fn modify_filters(
    filters: &mut Vec<Value>,
    operation: FilterOperation,
    f: &FilterMod,
    value: Option<&Value>,
) -> Result<(), String> {
    let name = f.match_.as_ref().and_then(|m| m.name.as_deref());
    let named = |v: &Value| name.is_none_or(|n| v.get("name").and_then(Value::as_str) == Some(n));
    let position = || name.and_then(|n| filters.iter().position(|v| v.get("name").and_then(Value::as_str) == Some(n)));
    let new = || value.cloned().ok_or("needs a value");
    match operation {
        FilterOperation::AddFirst => filters.insert(0, new()?),
        FilterOperation::AddLast => filters.push(new()?),
        FilterOperation::AddBefore => {
            if let Some(i) = position() {
                filters.insert(i, new()?);
            }
        }
        FilterOperation::AddAfter => {
            if let Some(i) = position() {
                filters.insert(i + 1, new()?);
            }
        }
        FilterOperation::Remove => filters.retain(|v| !named(v)),
        FilterOperation::Patch => {
            for filter in filters.iter_mut().filter(|v| named(v)) {
                patch_typed_config(filter, value, f.json_patches.as_deref())?;
            }
        }
    }
    Ok(())
}

/// Patch a filter's `typedConfig`: merge the value's (same type), or apply the
/// JSON patches to the config message itself (without `@type`), as Kuma does.
fn patch_typed_config(
    filter: &mut Value,
    value: Option<&Value>,
    patches: Option<&[JsonPatchBlock]>,
) -> Result<(), String> {
    let Some(config) = filter.get_mut("typedConfig") else {
        return Err(format!("filter {} has no typedConfig to patch", filter.get("name").unwrap_or(&Value::Null)));
    };
    if let Some(patches) = patches.filter(|p| !p.is_empty()) {
        let type_url = config.get("@type").cloned().unwrap_or(Value::Null);
        if let Some(obj) = config.as_object_mut() {
            obj.remove("@type");
        }
        json_patch(config, patches)?;
        match config.as_object_mut() {
            Some(obj) => {
                obj.insert("@type".to_string(), type_url);
            }
            None => return Err("the JSON patches leave a typedConfig that is not an object".to_string()),
        }
        return Ok(());
    }
    let Some(src) = value.and_then(|v| v.get("typedConfig")) else { return Ok(()) };
    if src.get("@type") != config.get("@type") {
        return Err(format!(
            "the value's typedConfig is a {} but the filter's is a {}",
            src.get("@type").unwrap_or(&Value::Null),
            config.get("@type").unwrap_or(&Value::Null)
        ));
    }
    merge(config, src);
    Ok(())
}

/// Patch one resource: the JSON patches if any, else merge the value.
fn patch(target: &mut Value, value: Option<&Value>, patches: Option<&[JsonPatchBlock]>) -> Result<(), String> {
    match patches.filter(|p| !p.is_empty()) {
        Some(p) => json_patch(target, p),
        None => {
            if let Some(v) = value {
                merge(target, v);
            }
            Ok(())
        }
    }
}

/// Protobuf merge on protobuf JSON: objects field by field, lists appended,
/// everything else (scalars, durations, wrappers) replaced; an `Any` of
/// another type is replaced whole.
fn merge(dst: &mut Value, src: &Value) {
    match (dst, src) {
        (Value::Object(d), Value::Object(s)) => {
            if d.get("@type").is_some_and(|t| s.get("@type").is_some_and(|u| u != t)) {
                *d = s.clone();
                return;
            }
            for (k, v) in s {
                match d.get_mut(k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        d.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (Value::Array(d), Value::Array(s)) => d.extend(s.iter().cloned()),
        (d, s) => *d = s.clone(),
    }
}

/// The HTTP connection managers' configs of every chain of a listener.
fn hcms(listener: &mut Value) -> Vec<&mut Map<String, Value>> {
    chains(listener)
        .into_iter()
        .flat_map(|c| c.get_mut("filters").and_then(Value::as_array_mut).into_iter().flatten())
        .filter(|f| f.get("name").and_then(Value::as_str) == Some(HCM))
        .filter_map(|f| f.get_mut("typedConfig").and_then(Value::as_object_mut))
        .collect()
}

fn chains(listener: &mut Value) -> Vec<&mut Map<String, Value>> {
    listener
        .get_mut("filterChains")
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
        .collect()
}

/// The list at `key`, created when absent (a non-list is replaced).
fn array_at<'a>(obj: &'a mut Map<String, Value>, key: &str) -> Option<&'a mut Vec<Value>> {
    let slot = obj.entry(key.to_string()).or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        *slot = Value::Array(Vec::new());
    }
    slot.as_array_mut()
}

/// A modification's `value`: YAML (or JSON) read into the Envoy message `M`,
/// returned as its protobuf JSON (defaults dropped, as protobuf merge ignores them).
fn read_value<M: Message + Name + Default>(text: &str) -> Result<Value, String> {
    let parsed = crate::source::yaml::parse(text, &crate::source::Limits::default());
    let doc = match parsed.problems.is_empty() {
        true => parsed.documents.into_iter().next().and_then(|d| d.value).unwrap_or(Value::Null),
        false => serde_json::from_str(text).map_err(|e| format!("value is not YAML or JSON: {e}"))?,
    };
    let doc = if doc.is_null() { Value::Object(Map::new()) } else { doc };
    let message: M = decode::<M>(&doc, false).map_err(|e| format!("value is not a valid {}: {e}", M::NAME))?;
    to_json(&message)
}

/// A message as protobuf JSON with JSON names (Kuma's `util_proto.ToJSON`).
fn to_json<M: Message + Name>(msg: &M) -> Result<Value, String> {
    let pool = crate::emit::descriptor::pool()?;
    let name = M::full_name();
    let descriptor = pool.get_message_by_name(&name).ok_or_else(|| format!("{name} is not in the descriptor set"))?;
    let dynamic = DynamicMessage::decode(descriptor, msg.encode_to_vec().as_slice()).map_err(|e| e.to_string())?;
    dynamic.serialize_with_options(serde_json::value::Serializer, &SerializeOptions::new()).map_err(|e| e.to_string())
}

/// Protobuf JSON back into a message, every field known.
fn from_json<M: Message + Name + Default>(value: &Value) -> Result<M, String> {
    decode(value, true)
}

fn decode<M: Message + Name + Default>(value: &Value, deny_unknown: bool) -> Result<M, String> {
    let pool = crate::emit::descriptor::pool()?;
    let name = M::full_name();
    let descriptor = pool.get_message_by_name(&name).ok_or_else(|| format!("{name} is not in the descriptor set"))?;
    let options = DeserializeOptions::new().deny_unknown_fields(deny_unknown);
    let dynamic = DynamicMessage::deserialize_with_options(descriptor, value, &options).map_err(|e| e.to_string())?;
    dynamic.transcode_to::<M>().map_err(|e| e.to_string())
}

/// RFC 6902 with Kuma's options: negative list indices count from the end,
/// removing a missing path is a no-op, `add` creates missing parents.
fn json_patch(doc: &mut Value, patches: &[JsonPatchBlock]) -> Result<(), String> {
    for (i, p) in patches.iter().enumerate() {
        let path = p.path.as_deref().unwrap_or_default();
        let result = match p.op.as_ref().and_then(Choice::known) {
            Some(JsonPatchOp::Add) => add(doc, path, p.value.clone().unwrap_or(Value::Null), true),
            Some(JsonPatchOp::Remove) => remove(doc, path, true).map(|_| ()),
            Some(JsonPatchOp::Replace) => {
                remove(doc, path, false).and_then(|_| add(doc, path, p.value.clone().unwrap_or(Value::Null), false))
            }
            Some(JsonPatchOp::Move) => {
                let from = p.from.as_deref().unwrap_or_default();
                remove(doc, from, false).and_then(|v| add(doc, path, v.unwrap_or(Value::Null), false))
            }
            Some(JsonPatchOp::Copy) => {
                let from = p.from.as_deref().unwrap_or_default();
                match doc.pointer(from).cloned() {
                    Some(v) => add(doc, path, v, false),
                    None => Err(format!("from {from:?} does not exist")),
                }
            }
            None => Err("unknown op".to_string()),
        };
        result.map_err(|e| {
            format!("jsonPatches[{i}] ({} {path}): {e}", p.op.as_ref().map(Choice::raw).unwrap_or_default())
        })?;
    }
    Ok(())
}

/// The tokens of a JSON pointer (`~1` is `/`, `~0` is `~`).
fn tokens(pointer: &str) -> Result<Vec<String>, String> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let rest = pointer.strip_prefix('/').ok_or_else(|| format!("{pointer:?} is not a JSON pointer"))?;
    Ok(rest.split('/').map(|t| t.replace("~1", "/").replace("~0", "~")).collect())
}

/// A list index: a number (negative from the end), or `-` (past the end) when `allow_end`.
fn index(token: &str, len: usize, allow_end: bool) -> Result<usize, String> {
    if allow_end && token == "-" {
        return Ok(len);
    }
    let i: i64 = token.parse().map_err(|_| format!("{token:?} is not a list index"))?;
    let i = if i < 0 { i + len as i64 } else { i };
    let max = if allow_end { len } else { len.saturating_sub(1) };
    if i < 0 || i as usize > max || (!allow_end && len == 0) {
        return Err(format!("index {token} is out of range (list of {len})"));
    }
    Ok(i as usize)
}

fn add(doc: &mut Value, pointer: &str, value: Value, create: bool) -> Result<(), String> {
    let tokens = tokens(pointer)?;
    let Some((last, parents)) = tokens.split_last() else {
        *doc = value;
        return Ok(());
    };
    let mut at = doc;
    for (n, t) in parents.iter().enumerate() {
        let next_is_index =
            parents.get(n + 1).unwrap_or(last).parse::<i64>().is_ok() || parents.get(n + 1).unwrap_or(last) == "-";
        at = match at {
            Value::Object(o) => {
                if !o.contains_key(t.as_str()) {
                    if !create {
                        return Err(format!("{t:?} does not exist"));
                    }
                    o.insert(
                        t.clone(),
                        if next_is_index { Value::Array(Vec::new()) } else { Value::Object(Map::new()) },
                    );
                }
                o.get_mut(t.as_str()).ok_or("missing")?
            }
            Value::Array(a) => {
                let i = index(t, a.len(), false)?;
                &mut a[i]
            }
            _ => return Err(format!("{t:?} is under a value that is not an object or a list")),
        };
    }
    match at {
        Value::Object(o) => {
            o.insert(last.clone(), value);
        }
        Value::Array(a) => {
            let i = index(last, a.len(), true)?;
            a.insert(i, value);
        }
        _ => return Err(format!("{last:?} is under a value that is not an object or a list")),
    }
    Ok(())
}

/// Remove the value at `pointer`; with `allow_missing`, a missing one is no error.
fn remove(doc: &mut Value, pointer: &str, allow_missing: bool) -> Result<Option<Value>, String> {
    let tokens = tokens(pointer)?;
    let Some((last, parents)) = tokens.split_last() else {
        return Ok(Some(std::mem::take(doc)));
    };
    let mut at = doc;
    for t in parents {
        let next = match at {
            Value::Object(o) => o.get_mut(t.as_str()),
            Value::Array(a) => match index(t, a.len(), false) {
                Ok(i) => a.get_mut(i),
                Err(_) => None,
            },
            _ => None,
        };
        match next {
            Some(n) => at = n,
            None if allow_missing => return Ok(None),
            None => return Err(format!("{pointer:?} does not exist")),
        }
    }
    let removed = match at {
        Value::Object(o) => o.remove(last.as_str()),
        Value::Array(a) => match index(last, a.len(), false) {
            Ok(i) => Some(a.remove(i)),
            Err(_) => None,
        },
        _ => None,
    };
    match removed {
        Some(v) => Ok(Some(v)),
        None if allow_missing => Ok(None),
        None => Err(format!("{pointer:?} does not exist")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn block(v: Value) -> JsonPatchBlock {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn json_patch_ops() {
        let mut doc = json!({"a": {"b": [1, 2, 3]}, "c": "x"});
        let patches = [
            block(json!({"op": "replace", "path": "/c", "value": "y"})),
            block(json!({"op": "add", "path": "/a/b/-", "value": 4})),
            block(json!({"op": "remove", "path": "/a/b/-1"})),
            block(json!({"op": "add", "path": "/d/e", "value": true})),
            block(json!({"op": "remove", "path": "/missing/x"})),
            block(json!({"op": "copy", "from": "/c", "path": "/f"})),
            block(json!({"op": "move", "from": "/f", "path": "/g"})),
        ];
        json_patch(&mut doc, &patches).unwrap();
        assert_eq!(doc, json!({"a": {"b": [1, 2, 3]}, "c": "y", "d": {"e": true}, "g": "y"}));
        let err = json_patch(&mut doc, &[block(json!({"op": "replace", "path": "/nope", "value": 1}))]).unwrap_err();
        assert!(err.contains("jsonPatches[0]"), "{err}");
    }

    #[test]
    fn merge_is_protobuf_merge() {
        let mut dst = json!({"connectTimeout": "5s", "list": [1], "o": {"a": 1, "b": 2}});
        merge(&mut dst, &json!({"connectTimeout": "1s", "list": [2], "o": {"b": 3}}));
        assert_eq!(dst, json!({"connectTimeout": "1s", "list": [1, 2], "o": {"a": 1, "b": 3}}));
    }

    #[test]
    fn values_read_as_envoy_messages() {
        let v = read_value::<Cluster>("name: x\nconnectTimeout: 2s\n").unwrap();
        assert_eq!(v, json!({"name": "x", "connectTimeout": "2s"}));
        assert!(read_value::<Cluster>("connectTimeout: forever").is_err());
        let snake = read_value::<Cluster>("connect_timeout: 2s").unwrap();
        assert_eq!(snake, json!({"connectTimeout": "2s"}));
    }

    /// The plans of a one-proxy world with `patch` (the default mesh policies apply too).
    fn plan_with(patch: &str) -> crate::plan::ProxyPlan {
        let world = "type: Mesh\nname: m\n---\ntype: Dataplane\nmesh: m\nname: web-01\nnetworking:\n  address: 10.0.0.1\n  inbound:\n    - port: 8080\n      tags:\n        kuma.io/service: web\n        kuma.io/protocol: http\n";
        let texts = vec![("world.yaml".to_string(), world.to_string()), ("patch.yaml".to_string(), patch.to_string())];
        let opts = crate::compile::Options {
            validate: Default::default(),
            world: Default::default(),
            plan: crate::plan::Options { secrets_dir: "secrets".into(), shadow: false, system_ca_path: None },
            selection: Default::default(),
        };
        let compiled = crate::compile::run_texts(texts, &opts);
        assert!(!compiled.has_errors(), "{:?}", compiled.outcome.findings);
        compiled.proxies.into_iter().next().expect("one proxy").0
    }

    #[test]
    fn a_failing_modification_is_a_problem_and_changes_nothing() {
        let plan = plan_with(
            "type: MeshProxyPatch\nname: bad\nmesh: m\nspec:\n  default:\n    appendModifications:\n      - cluster:\n          operation: Patch\n          jsonPatches:\n            - op: replace\n              path: /connectTimeout\n              value: forever\n      - cluster:\n          operation: Patch\n          jsonPatches:\n            - op: replace\n              path: /nope\n              value: 1\n      - cluster:\n          operation: Patch\n          match:\n            origin: inbound\n          value: 'connectTimeout: 3s'\n",
        );
        let _ = take_problems();
        let bootstrap = crate::envoy::bootstrap(&plan);
        let problems = take_problems();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].policy.as_deref(), Some("MeshProxyPatch/bad"));
        assert_eq!(problems[0].path, "spec.default.appendModifications[0]");
        assert!(problems[0].message.contains("no longer valid"), "{}", problems[0]);
        assert_eq!(problems[1].path, "spec.default.appendModifications[1]");
        assert!(problems[1].message.contains("jsonPatches[0]"), "{}", problems[1]);
        // The third modification still applied.
        let clusters = &bootstrap.static_resources.as_ref().unwrap().clusters;
        let local = clusters.iter().find(|c| c.name == "localhost:8080").unwrap();
        assert_eq!(local.connect_timeout.as_ref().map(|d| d.seconds), Some(3));
    }

    #[test]
    fn origins_from_names() {
        assert_eq!(system_origin("outbound:passthrough:ipv4"), "transparent");
        assert_eq!(system_origin("_kuma:metrics:prometheus:default-backend"), "prometheus");
        assert_eq!(system_origin("meshtrace:zipkin"), "mesh-trace");
    }
}
