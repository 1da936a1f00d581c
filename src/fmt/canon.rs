//! The canonical form of one resource: key order and filled-in defaults, applied
//! to the tree of [`super::cst`].
//!
//! Key order: the envelope first (Kubernetes `apiVersion, kind, metadata{name,
//! namespace, labels, annotations}, spec, status`; Universal `type, name, mesh,
//! labels, creationTime, modificationTime, spec, status`), then spec fields in the
//! order the model declares them (the order serde serializes the typed spec in,
//! which is the order of the kind's schema: `targetRef` before `to`/`from`/`rules`,
//! `targetRef{kind, name, namespace, labels, sectionName, tags, proxyTypes}`).
//! Keys the model does not know keep their relative order after the known ones.
//! Labels, annotations and every map the model holds as a map are sorted by key.
//! Lists keep their order: it is meaningful in Kuma.
//!
//! Defaults: a scalar field the kind's JSON Schema gives a `default` for (the
//! CRD defaults Kuma applies on admission, which the model fills in when it reads
//! a spec), missing from a block mapping that the model reads, is written out
//! with that value. Nothing else is added: not object or list defaults, not
//! empty strings (Go zero values of required fields, which Kuma reports as
//! missing), not fields inside flow collections (`{kind: Mesh}` keeps its text),
//! not the fields the control plane overwrites as it runs (`NOT_FILLED`).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::cst::{Entry, Leaf, Node};
use crate::model::{Form, Kind, Meta, Spec};

/// The typed spec as serde writes it: keys in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Map(Vec<(String, Shape)>),
    Seq(Vec<Shape>),
    Leaf(Value),
}

impl<'de> serde::Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Shape;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Shape, E> {
                Ok(Shape::Leaf(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Shape, E> {
                Ok(Shape::Leaf(Value::from(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Shape, E> {
                Ok(Shape::Leaf(Value::from(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Shape, E> {
                Ok(Shape::Leaf(serde_json::Number::from_f64(v).map(Value::Number).unwrap_or(Value::Null)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Shape, E> {
                Ok(Shape::Leaf(Value::String(v.to_string())))
            }
            fn visit_unit<E>(self) -> Result<Shape, E> {
                Ok(Shape::Leaf(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Shape, A::Error> {
                let mut items = Vec::new();
                while let Some(x) = a.next_element()? {
                    items.push(x);
                }
                Ok(Shape::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Shape, A::Error> {
                let mut entries = Vec::new();
                while let Some((k, v)) = a.next_entry::<String, Shape>()? {
                    entries.push((k, v));
                }
                Ok(Shape::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

macro_rules! spec_json {
    ($spec:expr; $($variant:ident),* $(,)?) => {
        match $spec { $(Spec::$variant(s) => serde_json::to_string(s),)* }
    };
}

/// The typed spec serialized with its fields in declaration order. The match is
/// exhaustive: a new kind fails to compile here until it is listed.
pub fn shape(spec: &Spec) -> Option<Shape> {
    let json = spec_json!(spec;
        Mesh, Dataplane, ZoneIngress, ZoneEgress, MeshService, MeshExternalService, MeshMultiZoneService,
        HostnameGenerator, MeshHTTPRoute, MeshTCPRoute, MeshTLS, MeshLoadBalancingStrategy, MeshPassthrough,
        MeshAccessLog, MeshTrace, MeshFaultInjection, MeshRateLimit, MeshTimeout, MeshTrafficPermission,
        MeshHealthCheck, MeshCircuitBreaker, MeshRetry, MeshMetric, MeshProxyPatch,
    )
    .ok()?;
    serde_json::from_str(&json).ok()
}

/// (field name, default value) pairs of every property with a `default` in a
/// kind's spec schema.
fn schema_defaults(kind: Kind) -> &'static HashSet<(String, String)> {
    static ALL: OnceLock<HashMap<Kind, HashSet<(String, String)>>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        Kind::ALL
            .iter()
            .map(|k| {
                let mut set = HashSet::new();
                collect_defaults(&crate::validate::schema::spec_schema(*k), &mut set);
                (*k, set)
            })
            .collect()
    });
    static EMPTY: OnceLock<HashSet<(String, String)>> = OnceLock::new();
    all.get(&kind).unwrap_or_else(|| EMPTY.get_or_init(HashSet::new))
}

fn collect_defaults(schema: &Value, out: &mut HashSet<(String, String)>) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Object(props)) = map.get("properties") {
                for (name, prop) in props {
                    if let Some(d) = prop.get("default") {
                        out.insert((name.clone(), d.to_string()));
                    }
                }
            }
            map.values().for_each(|v| collect_defaults(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_defaults(v, out)),
        _ => {}
    }
}

/// The fields filled in, for the report: (JSON pointer, value).
pub type Filled = Vec<(String, Value)>;

const K8S_ENVELOPE: &[&str] = &["apiVersion", "kind", "metadata", "spec", "status"];
const K8S_METADATA: &[&str] = &["name", "namespace", "labels", "annotations"];
const UNIVERSAL_ENVELOPE: &[&str] = &["type", "name", "mesh", "labels", "creationTime", "modificationTime"];

/// Put `root` (the document's block mapping) in canonical form and apply the same
/// defaults to `value` (the document as JSON), so the result can be checked.
pub fn canonicalize(root: &mut Vec<Entry>, value: &mut Value, meta: &Meta, spec: Option<&Spec>) -> Filled {
    let shape = spec.and_then(shape);
    let mut c = Canon { kind: meta.kind, defaults: schema_defaults(meta.kind), filled: Vec::new() };
    match meta.form {
        Form::Kubernetes => {
            order(root, &rank_by(K8S_ENVELOPE));
            for e in root.iter_mut() {
                match (e.key.as_str(), &mut e.value) {
                    ("metadata", Node::Map(m)) => {
                        order(m, &rank_by(K8S_METADATA));
                        sort_maps(m, &["labels", "annotations"]);
                    }
                    ("spec", node) => {
                        let v = value.get_mut("spec");
                        c.walk(node, shape.as_ref(), v, "/spec".into());
                    }
                    _ => {}
                }
            }
        }
        Form::Universal => {
            let legacy = meta.kind.is_legacy();
            let mut known: Vec<&str> = UNIVERSAL_ENVELOPE.to_vec();
            if legacy {
                // The spec fields are inline, after the envelope.
                if let Some(Shape::Map(fields)) = &shape {
                    known.extend(fields.iter().map(|(k, _)| k.as_str()).filter(|k| !UNIVERSAL_ENVELOPE.contains(k)));
                }
            } else {
                known.extend(["spec", "status"]);
            }
            sort_maps(root, &["labels"]);
            if legacy {
                // Walk the root as the spec (defaults only among spec fields).
                let mut node = Node::Map(std::mem::take(root));
                c.walk_filtered(&mut node, shape.as_ref(), Some(value), String::new(), UNIVERSAL_ENVELOPE);
                if let Node::Map(m) = node {
                    *root = m;
                }
            } else {
                for e in root.iter_mut() {
                    if e.key == "spec" {
                        let v = value.get_mut("spec");
                        c.walk(&mut e.value, shape.as_ref(), v, "/spec".into());
                    }
                }
            }
            order(root, &rank_by(&known));
        }
    }
    c.filled
}

/// Defaults that are not written out, though the schema has them: fields the
/// control plane overwrites as it runs, so a committed value would only mislead
/// (MeshService `state` starts `Unavailable` and Kuma sets it from the endpoints'
/// health; meshc computes it the same way and never reads it).
const NOT_FILLED: &[(Kind, &str, &str)] = &[(Kind::MeshService, "/spec", "state")];

struct Canon<'a> {
    kind: Kind,
    defaults: &'a HashSet<(String, String)>,
    filled: Filled,
}

impl Canon<'_> {
    fn walk(&mut self, node: &mut Node, shape: Option<&Shape>, value: Option<&mut Value>, pointer: String) {
        self.walk_filtered(node, shape, value, pointer, &[]);
    }

    /// `skip`: keys of the map at this level that are not the model's (the
    /// Universal envelope of a legacy kind).
    fn walk_filtered(
        &mut self,
        node: &mut Node,
        shape: Option<&Shape>,
        mut value: Option<&mut Value>,
        pointer: String,
        skip: &[&str],
    ) {
        match (node, shape) {
            (Node::Map(entries), Some(Shape::Map(fields))) => {
                for (k, v) in fields {
                    if skip.contains(&k.as_str()) || entries.iter().any(|e| &e.key == k) {
                        continue;
                    }
                    let Shape::Leaf(leaf) = v else { continue };
                    // An empty string is Go's zero value of a required field, not a CRD default.
                    let zero = leaf.is_null() || leaf.as_str() == Some("");
                    if zero || !self.defaults.contains(&(k.clone(), leaf.to_string())) {
                        continue;
                    }
                    if NOT_FILLED.iter().any(|(kind, at, key)| *kind == self.kind && *at == pointer && key == k) {
                        continue;
                    }
                    let Some(text) = scalar_text(leaf) else { continue };
                    let Some(Value::Object(obj)) = value.as_deref_mut() else { continue };
                    obj.insert(k.clone(), leaf.clone());
                    self.filled.push((format!("{pointer}/{}", escape(k)), leaf.clone()));
                    entries.push(Entry {
                        before: Vec::new(),
                        key_text: k.clone(),
                        key: k.clone(),
                        value: Node::Leaf(Leaf::new(text)),
                        eol: None,
                    });
                }
                let known: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
                if skip.is_empty() {
                    order(entries, &rank_by(&known));
                }
                for e in entries.iter_mut() {
                    if skip.contains(&e.key.as_str()) {
                        continue;
                    }
                    let child_shape = fields.iter().find(|(k, _)| *k == e.key).map(|(_, s)| s);
                    let child_value = match value.as_deref_mut() {
                        Some(Value::Object(o)) => o.get_mut(&e.key),
                        _ => None,
                    };
                    let p = format!("{pointer}/{}", escape(&e.key));
                    self.walk(&mut e.value, child_shape, child_value, p);
                }
            }
            (Node::Seq(items), Some(Shape::Seq(shapes))) => {
                for (i, item) in items.iter_mut().enumerate() {
                    let child_value = match value.as_deref_mut() {
                        Some(Value::Array(a)) => a.get_mut(i),
                        _ => None,
                    };
                    self.walk(&mut item.value, shapes.get(i), child_value, format!("{pointer}/{i}"));
                }
            }
            _ => {}
        }
    }
}

fn escape(k: &str) -> String {
    k.replace('~', "~0").replace('/', "~1")
}

fn rank_by<'a>(known: &'a [&'a str]) -> impl Fn(&str) -> usize + 'a {
    move |k| known.iter().position(|x| *x == k).unwrap_or(usize::MAX)
}

/// Stable sort: known keys by rank, unknown ones after them in their order.
fn order(entries: &mut [Entry], rank: &impl Fn(&str) -> usize) {
    entries.sort_by_key(|e| rank(&e.key));
}

/// Sort the entries of the maps under `keys` by key.
fn sort_maps(entries: &mut [Entry], keys: &[&str]) {
    for e in entries.iter_mut() {
        if keys.contains(&e.key.as_str())
            && let Node::Map(m) = &mut e.value
        {
            m.sort_by(|a, b| a.key.cmp(&b.key));
        }
    }
}

/// A default scalar as YAML text: plain when it reads back as the same value,
/// else a JSON (double-quoted) string.
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::Bool(_) | Value::Number(_) => Some(v.to_string()),
        Value::String(s) => {
            let plain = !s.is_empty()
                && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '/' | '-'))
                && s.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '_');
            let reads_back = plain && {
                let parsed = crate::source::yaml::parse(&format!("k: {s}\n"), &crate::source::Limits::default());
                parsed.documents.first().and_then(|d| d.value.as_ref()).and_then(|d| d.get("k")) == Some(v)
            };
            Some(if reads_back { s.clone() } else { serde_json::to_string(s).ok()? })
        }
        _ => None,
    }
}
