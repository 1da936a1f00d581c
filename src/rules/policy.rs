//! A policy as the rules engine sees it: kind-agnostic sections of JSON confs.
//!
//! Kuma merges policies by marshalling each item's `GetDefault()` to JSON
//! (`core/rules/merge`), so the engine works on the JSON of the typed spec (CRD
//! defaults filled in, unset fields left out) and needs to know only the few
//! kinds whose `GetDefault` is not the item's `default` (the two routes).

use serde::Serialize;
use serde_json::{Map, Value};

use crate::model::common::{TargetRef, TargetRefKind};
use crate::model::{Kind, PolicyRole, Resource};

/// Where in a policy a conf comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    To,
    From,
    Rules,
    Default,
}

impl Section {
    pub fn name(self) -> &'static str {
        match self {
            Section::To => "to",
            Section::From => "from",
            Section::Rules => "rules",
            Section::Default => "default",
        }
    }
}

/// One `to[]` / `from[]` item: its targetRef and the conf Kuma merges for it.
#[derive(Debug, Clone)]
pub struct Item {
    pub index: usize,
    pub target_ref: TargetRef,
    pub conf: Value,
}

/// One `rules[]` item (inbound rules): client matches and conf.
#[derive(Debug, Clone)]
pub struct RuleItem {
    pub index: usize,
    /// `matches[]` as written; empty means all clients.
    pub matches: Vec<Value>,
    pub conf: Value,
}

/// A policy of one of the targetRef kinds, ready for selection, sorting and merging.
#[derive(Debug, Clone)]
pub struct Policy<'a> {
    pub resource: &'a Resource,
    /// Top-level targetRef; an omitted one is `{kind: Mesh}`.
    pub top: TargetRef,
    pub to: Vec<Item>,
    pub from: Vec<Item>,
    pub rules: Vec<RuleItem>,
    /// The `default` of a single-item policy (MeshPassthrough, MeshTrace, ...).
    pub single: Option<Value>,
}

/// Policy kinds whose `from[]` Kuma also reads as inbound rules (`IsFromAsRules`).
pub fn from_as_rules(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::MeshTimeout | Kind::MeshCircuitBreaker | Kind::MeshAccessLog | Kind::MeshRateLimit | Kind::MeshTLS
    )
}

/// Policy kinds that have only a top-level `default` (Kuma's `SingleItemRules`).
pub fn is_single_item(kind: Kind) -> bool {
    matches!(kind, Kind::MeshPassthrough | Kind::MeshTrace | Kind::MeshMetric | Kind::MeshProxyPatch)
}

impl<'a> Policy<'a> {
    /// The engine's view of a policy resource (`None` for other kinds or a spec
    /// that did not parse).
    pub fn of(resource: &'a Resource) -> Option<Policy<'a>> {
        if !resource.meta.kind.is_policy() {
            return None;
        }
        let spec = resource.spec.as_ref()?.to_json();
        Some(Policy::from_json(resource, &spec))
    }

    /// The view of a policy from the JSON of its spec.
    pub fn from_json(resource: &'a Resource, spec: &Value) -> Policy<'a> {
        let kind = resource.meta.kind;
        let target_ref = |v: &Value| -> TargetRef {
            v.get("targetRef").and_then(|t| serde_json::from_value(t.clone()).ok()).unwrap_or_default()
        };
        let top =
            spec.get("targetRef").and_then(|t| serde_json::from_value(t.clone()).ok()).unwrap_or_else(TargetRef::mesh);
        let items = |section: &str, conf: &dyn Fn(&Value) -> Value| -> Vec<Item> {
            let list = spec.get(section).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            list.iter()
                .enumerate()
                .map(|(index, item)| Item { index, target_ref: target_ref(item), conf: conf(item) })
                .collect()
        };
        let default_of = |item: &Value| item.get("default").cloned().unwrap_or_else(|| Value::Object(Map::new()));
        let to = match kind {
            Kind::MeshHTTPRoute => items("to", &http_route_default),
            Kind::MeshTCPRoute => items("to", &tcp_route_default),
            _ => items("to", &default_of),
        };
        let rules = spec.get("rules").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let rules = rules
            .iter()
            .enumerate()
            .map(|(index, rule)| RuleItem {
                index,
                matches: rule.get("matches").and_then(Value::as_array).cloned().unwrap_or_default(),
                conf: default_of(rule),
            })
            .collect();
        let single = if is_single_item(kind) { Some(default_of(spec)) } else { None };
        Policy { resource, top, to, from: items("from", &default_of), rules, single }
    }

    pub fn kind(&self) -> Kind {
        self.resource.meta.kind
    }

    pub fn role(&self) -> PolicyRole {
        self.resource.role
    }

    pub fn name(&self) -> &str {
        self.resource.meta.display_name()
    }

    pub fn top_kind(&self) -> TargetRefKind {
        self.top.kind().unwrap_or(TargetRefKind::Mesh)
    }

    /// Kuma's `IsShadow`: left out of real config, shown by `explain --shadow`.
    pub fn is_shadow(&self) -> bool {
        self.resource.meta.is_shadow()
    }

    /// The conf of one item: `to[index]`, `from[index]`, `rules[index]`, or the
    /// single-item `default`. Every [`super::Origin`] names one.
    pub fn conf(&self, section: Section, index: usize) -> Option<&Value> {
        match section {
            Section::To => self.to.get(index).map(|i| &i.conf),
            Section::From => self.from.get(index).map(|i| &i.conf),
            Section::Rules => self.rules.get(index).map(|i| &i.conf),
            Section::Default => self.single.as_ref(),
        }
    }

    /// Whether the policy configures inbound traffic (`from` or `rules`).
    pub fn affects_inbounds(&self) -> bool {
        !self.from.is_empty() || !self.rules.is_empty()
    }
}

/// MeshHTTPRoute's `To.GetDefault()`: the rules reversed (so that after merging,
/// where later wins, the first rule of a policy still wins; `Transform` reverses
/// back) and the hostnames.
fn http_route_default(item: &Value) -> Value {
    let mut conf = Map::new();
    let mut rules = item.get("rules").and_then(Value::as_array).cloned().unwrap_or_default();
    rules.reverse();
    conf.insert("rules".into(), Value::Array(rules));
    if let Some(h) = item.get("hostnames").filter(|h| h.as_array().is_some_and(|a| !a.is_empty())) {
        conf.insert("hostnames".into(), h.clone());
    }
    Value::Object(conf)
}

/// MeshTCPRoute's `To.GetDefault()`: only the first rule counts; without rules,
/// traffic goes to the to-targetRef itself.
fn tcp_route_default(item: &Value) -> Value {
    if let Some(first) = item.get("rules").and_then(Value::as_array).and_then(|r| r.first()) {
        return first.clone();
    }
    let mut backend = item.get("targetRef").cloned().unwrap_or_else(|| Value::Object(Map::new()));
    if let Some(obj) = backend.as_object_mut() {
        obj.insert("weight".into(), Value::from(1));
    }
    serde_json::json!({ "default": { "backendRefs": [backend] } })
}
