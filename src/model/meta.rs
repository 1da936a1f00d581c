//! The resource envelope: Kubernetes form (`apiVersion`/`kind`/`metadata`/`spec`)
//! and Universal form (`type`/`name`/`mesh`/`labels`/`spec`, or the spec fields
//! inline for the legacy proto kinds), reduced to one [`Meta`].

use serde_json::{Map, Value};

use super::{Kind, Scope, UNSUPPORTED_KUMA_KINDS};
use crate::findings::{Finding, Location, ResourceId, Target, codes};
use crate::model::common::StringMap;
use crate::source::Document;
use crate::validate::violations::Path;

/// Well-known labels (reference §2.3).
pub mod labels {
    pub const MESH: &str = "kuma.io/mesh";
    pub const DISPLAY_NAME: &str = "kuma.io/display-name";
    pub const ORIGIN: &str = "kuma.io/origin";
    pub const ZONE: &str = "kuma.io/zone";
    pub const NAMESPACE: &str = "k8s.kuma.io/namespace";
    pub const POLICY_ROLE: &str = "kuma.io/policy-role";
    pub const EFFECT: &str = "kuma.io/effect";
    pub const ENV: &str = "kuma.io/env";
    /// meshc's own: codes to suppress on this resource (label or annotation).
    pub const SUPPRESS: &str = "meshc.io/suppress";
    /// meshc's own annotation on resources meshc made up (not read from any file):
    /// why they exist, e.g. `mesh-default`. Only [`super::IMPLICIT_FILE`] makes a
    /// resource implicit; a user writing this annotation changes nothing.
    pub const IMPLICIT: &str = "meshc.io/implicit";
}

/// The `file` of resources meshc made up rather than read (the policies Kuma
/// creates with every mesh): no input file has this index, so no finding or
/// suppression keyed by `(file, doc)` can land on a user's document, and
/// positions of such resources never resolve.
pub const IMPLICIT_FILE: usize = usize::MAX;

/// Which of Kuma's two YAML forms a document uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Kubernetes,
    Universal,
}

/// Everything about a resource except its spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Meta {
    pub kind: Kind,
    pub form: Form,
    /// The name as written (`metadata.name` or `name`).
    pub name: String,
    /// Kubernetes namespace (`metadata.namespace`, or the `k8s.kuma.io/namespace`
    /// label in Universal form).
    pub namespace: Option<String>,
    /// The mesh; `None` for global kinds.
    pub mesh: Option<String>,
    /// Labels, with the computed ones Kuma adds (`k8s.kuma.io/namespace`).
    pub labels: StringMap,
    pub annotations: StringMap,
    pub file: usize,
    pub doc: usize,
    /// Pointer of the spec object in the document (`/spec`, or `` when inline).
    pub spec_pointer: String,
    /// Pointer of the name node (`/metadata/name` or `/name`).
    pub name_pointer: String,
}

impl Meta {
    /// Kuma's display name: the `kuma.io/display-name` label (or annotation), else the name.
    pub fn display_name(&self) -> &str {
        self.labels
            .get(labels::DISPLAY_NAME)
            .or_else(|| self.annotations.get(labels::DISPLAY_NAME))
            .map(String::as_str)
            .unwrap_or(&self.name)
    }

    /// Kuma's core name: `<name>.<namespace>` for namespaced Kubernetes objects.
    pub fn core_name(&self) -> String {
        match (&self.form, &self.namespace) {
            (Form::Kubernetes, Some(ns)) => format!("{}.{ns}", self.name),
            _ => self.name.clone(),
        }
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    pub fn zone(&self) -> Option<&str> {
        self.label(labels::ZONE)
    }

    pub fn origin(&self) -> Option<&str> {
        self.label(labels::ORIGIN)
    }

    /// `kuma.io/effect: shadow`: ignored for real config.
    pub fn is_shadow(&self) -> bool {
        self.label(labels::EFFECT) == Some("shadow")
    }

    /// Made up by meshc (a Kuma mesh default policy), not read from the input.
    pub fn is_implicit(&self) -> bool {
        self.file == IMPLICIT_FILE
    }

    /// Why an implicit resource exists (the `meshc.io/implicit` annotation).
    pub fn implicit_reason(&self) -> Option<&str> {
        self.annotations.get(labels::IMPLICIT).map(String::as_str).filter(|_| self.is_implicit())
    }

    /// Finding codes suppressed on this resource by `meshc.io/suppress`.
    pub fn suppressed_codes(&self) -> Vec<String> {
        let raw = self.labels.get(labels::SUPPRESS).or_else(|| self.annotations.get(labels::SUPPRESS));
        raw.map(|s| s.split(',').map(|c| c.trim().to_ascii_uppercase()).filter(|c| !c.is_empty()).collect())
            .unwrap_or_default()
    }

    pub fn id(&self) -> ResourceId {
        ResourceId {
            kind: self.kind.name().to_string(),
            mesh: self.mesh.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// Prefix of Kuma's field paths for this kind (`spec` for new-style kinds).
    pub fn path_prefix(&self) -> Option<&'static str> {
        if self.kind.is_legacy() { None } else { Some("spec") }
    }

    /// The document pointer of a spec path.
    pub fn pointer(&self, path: &Path) -> String {
        if path.is_resource_name() {
            return self.name_pointer.clone();
        }
        format!("{}{}", self.spec_pointer, path.pointer())
    }

    pub fn location(&self, path: &Path, target: Target) -> Location {
        Location::pointer(self.file, self.doc, self.pointer(path), target)
    }

    /// A finding about this resource at a spec path.
    pub fn finding(
        &self,
        code: crate::findings::Code,
        path: &Path,
        target: Target,
        message: impl Into<String>,
    ) -> Finding {
        Finding::new(code, message, self.location(path, target))
            .with_resource(self.id())
            .with_field(path.kuma(self.path_prefix()))
    }
}

/// Options of envelope parsing.
#[derive(Debug, Clone)]
pub struct EnvelopeOptions {
    /// Skip documents that are not kuma.io resources instead of reporting them.
    pub ignore_unknown: bool,
}

/// The outcome of reading one document's envelope.
pub enum Envelope {
    /// A resource of a kind meshc models, with its spec object and status.
    Resource { meta: Box<Meta>, spec: Value, status: Option<Value> },
    /// Not a resource meshc reads (reported or silently skipped).
    Skipped,
}

/// Read the envelope of a document; problems become findings.
///
/// The document is consumed: its spec moves into the resource without a copy.
pub fn read_envelope(mut doc: Document, opts: &EnvelopeOptions, findings: &mut Vec<Finding>) -> Envelope {
    let value = std::mem::take(&mut doc.value);
    let doc = &doc;
    let at = |pointer: &str, target: Target| Location::pointer(doc.file, doc.index, pointer, target);
    let Value::Object(obj) = value else {
        let what = if value.is_array() { "a list" } else { "a scalar" };
        findings.push(Finding::new(
            codes::NOT_A_MAPPING,
            format!("document is {what}, expected a resource (a mapping)"),
            Location::at(doc.file, doc.start),
        ));
        return Envelope::Skipped;
    };
    let not_kuma = |findings: &mut Vec<Finding>, why: String| {
        if !opts.ignore_unknown {
            findings.push(Finding::new(codes::NOT_KUMA, why, at("", Target::Value)));
        }
        Envelope::Skipped
    };

    if obj.contains_key("apiVersion") || obj.contains_key("kind") {
        let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or_default();
        let kind_name = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
        let (group, version) = api.split_once('/').unwrap_or(("", api));
        if group != "kuma.io" {
            return not_kuma(
                findings,
                format!(
                    "`apiVersion: {api}` `kind: {kind_name}` is not a kuma.io resource (use --ignore-unknown to skip such documents)"
                ),
            );
        }
        let Some(kind) = Kind::from_name(kind_name) else {
            return unsupported(findings, kind_name, at("/kind", Target::Value));
        };
        if version != "v1alpha1" {
            findings.push(Finding::new(
                codes::BAD_ENVELOPE,
                format!("unsupported apiVersion `{api}`: meshc reads kuma.io/v1alpha1"),
                at("/apiVersion", Target::Value),
            ));
            return Envelope::Skipped;
        }
        return kubernetes(doc, kind, obj, findings);
    }
    if let Some(t) = obj.get("type") {
        let type_name = t.as_str().unwrap_or_default();
        let Some(kind) = Kind::from_name(type_name) else {
            if UNSUPPORTED_KUMA_KINDS.contains(&type_name) {
                return unsupported(findings, type_name, at("/type", Target::Value));
            }
            let hint = crate::validate::hints::for_kind(type_name);
            return not_kuma(findings, format!("`type: {t}` is not a Kuma resource type{hint}"));
        };
        return universal(doc, kind, obj, findings);
    }
    not_kuma(
        findings,
        "not a Kuma resource: it has neither `apiVersion: kuma.io/v1alpha1` + `kind` nor a Universal `type` (use --ignore-unknown to skip such documents)"
            .to_string(),
    )
}

fn unsupported(findings: &mut Vec<Finding>, kind: &str, loc: Location) -> Envelope {
    let msg = if UNSUPPORTED_KUMA_KINDS.contains(&kind) {
        format!("kind `{kind}` is a Kuma kind that meshc does not support; it is ignored")
    } else {
        format!("unknown kuma.io kind `{kind}`; it is ignored{}", crate::validate::hints::for_kind(kind))
    };
    findings.push(Finding::new(codes::UNSUPPORTED_KIND, msg, loc));
    Envelope::Skipped
}

struct EnvelopeReader<'a> {
    doc: &'a Document,
    kind: Kind,
    findings: &'a mut Vec<Finding>,
    ok: bool,
    /// Findings from this document start here (they get its identity at the end).
    first: usize,
}

impl EnvelopeReader<'_> {
    fn problem(&mut self, code: crate::findings::Code, pointer: &str, target: Target, msg: String) {
        self.ok = false;
        self.findings.push(Finding::new(code, msg, Location::pointer(self.doc.file, self.doc.index, pointer, target)));
    }

    /// Give the envelope's findings the resource they are about, once it is known,
    /// so that they can be suppressed per resource and show it in every format.
    fn attribute(&mut self, name: Option<&str>, namespace: Option<&str>, mesh: Option<&str>) {
        let Some(name) = name.filter(|n| !n.is_empty()) else { return };
        let id = ResourceId {
            kind: self.kind.name().to_string(),
            mesh: mesh.map(str::to_string),
            namespace: namespace.map(str::to_string),
            name: name.to_string(),
        };
        for f in &mut self.findings[self.first..] {
            f.resource.get_or_insert_with(|| id.clone());
        }
    }

    fn string(&mut self, obj: &Map<String, Value>, key: &str, base: &str) -> Option<String> {
        match obj.get(key) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                let msg = format!("`{key}` must be a string, found {}", type_name(other));
                self.problem(codes::BAD_ENVELOPE, &format!("{base}/{key}"), Target::Value, msg);
                None
            }
        }
    }

    fn string_map(&mut self, obj: &Map<String, Value>, key: &str, base: &str) -> StringMap {
        let mut out = StringMap::new();
        match obj.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                for (k, v) in m {
                    match v {
                        Value::String(s) => {
                            out.insert(k.clone(), s.clone());
                        }
                        other => {
                            let p = format!("{base}/{key}/{}", k.replace('~', "~0").replace('/', "~1"));
                            let msg = format!(
                                "values of `{key}` must be strings, found {} for `{k}` (quote it: \"{}\")",
                                type_name(other),
                                other
                            );
                            self.problem(codes::BAD_ENVELOPE, &p, Target::Value, msg);
                        }
                    }
                }
            }
            Some(other) => {
                let msg = format!("`{key}` must be a mapping of strings, found {}", type_name(other));
                self.problem(codes::BAD_ENVELOPE, &format!("{base}/{key}"), Target::Value, msg);
            }
        }
        out
    }

    fn unknown_keys(&mut self, obj: &Map<String, Value>, allowed: &[&str], base: &str, what: &str) {
        for key in obj.keys() {
            if !allowed.contains(&key.as_str()) {
                let msg = format!("unknown field `{key}` in {what}; expected one of: {}", allowed.join(", "));
                let p = format!("{base}/{}", key.replace('~', "~0").replace('/', "~1"));
                self.problem(codes::UNKNOWN_FIELD, &p, Target::Key, msg);
            }
        }
    }
}

fn kubernetes(doc: &Document, kind: Kind, mut obj: Map<String, Value>, findings: &mut Vec<Finding>) -> Envelope {
    let first = findings.len();
    let mut r = EnvelopeReader { doc, kind, findings, ok: true, first };
    let legacy_mesh = kind.is_legacy() && kind.scope() == Scope::Mesh;
    let mut allowed = vec!["apiVersion", "kind", "metadata", "spec", "status"];
    if legacy_mesh {
        allowed.push("mesh");
    }
    r.unknown_keys(&obj, &allowed, "", &format!("a Kubernetes {} resource", kind.name()));
    let empty = Map::new();
    let metadata = match obj.get("metadata") {
        Some(Value::Object(m)) => m,
        None => {
            r.problem(codes::BAD_ENVELOPE, "", Target::Value, "missing `metadata`".into());
            &empty
        }
        Some(other) => {
            let msg = format!("`metadata` must be a mapping, found {}", type_name(other));
            r.problem(codes::BAD_ENVELOPE, "/metadata", Target::Value, msg);
            &empty
        }
    };
    let name = r.string(metadata, "name", "/metadata");
    if name.as_deref().is_none_or(str::is_empty) && r.ok {
        r.problem(codes::BAD_ENVELOPE, "/metadata", Target::Value, "missing `metadata.name`".into());
    }
    let namespace = r.string(metadata, "namespace", "/metadata").filter(|s| !s.is_empty());
    let mut labels = r.string_map(metadata, "labels", "/metadata");
    let annotations = r.string_map(metadata, "annotations", "/metadata");
    let mesh = match kind.scope() {
        Scope::Global => None,
        Scope::Mesh if legacy_mesh => Some(r.string(&obj, "mesh", "").unwrap_or_else(|| "default".into())),
        Scope::Mesh => Some(labels.get(labels::MESH).cloned().unwrap_or_else(|| "default".into())),
    };
    if let Some(ns) = &namespace {
        labels.entry(labels::NAMESPACE.to_string()).or_insert_with(|| ns.clone());
    }
    if annotations.contains_key(labels::DISPLAY_NAME) && !labels.contains_key(labels::DISPLAY_NAME) {
        labels.insert(labels::DISPLAY_NAME.into(), annotations[labels::DISPLAY_NAME].clone());
    }
    let spec = spec_object(&mut r, obj.remove("spec"), "/spec");
    r.attribute(name.as_deref(), namespace.as_deref(), mesh.as_deref());
    let ok = r.ok;
    let (Some(name), Some(spec), true) = (name, spec, ok) else { return Envelope::Skipped };
    Envelope::Resource {
        status: obj.remove("status"),
        meta: Box::new(Meta {
            kind,
            form: Form::Kubernetes,
            name,
            namespace,
            mesh,
            labels,
            annotations,
            file: doc.file,
            doc: doc.index,
            spec_pointer: "/spec".into(),
            name_pointer: "/metadata/name".into(),
        }),
        spec,
    }
}

/// Keys of the Universal envelope (besides the spec).
const UNIVERSAL_KEYS: &[&str] = &["type", "name", "mesh", "labels", "creationTime", "modificationTime", "kri", "snis"];

fn universal(doc: &Document, kind: Kind, mut obj: Map<String, Value>, findings: &mut Vec<Finding>) -> Envelope {
    let first = findings.len();
    let mut r = EnvelopeReader { doc, kind, findings, ok: true, first };
    let name = r.string(&obj, "name", "");
    if name.as_deref().is_none_or(str::is_empty) && r.ok {
        r.problem(codes::BAD_ENVELOPE, "", Target::Value, "missing `name`".into());
    }
    let labels = r.string_map(&obj, "labels", "");
    let mesh = r.string(&obj, "mesh", "");
    let mesh = match kind.scope() {
        Scope::Mesh => Some(mesh.unwrap_or_else(|| "default".into())),
        Scope::Global => {
            if mesh.is_some() {
                let msg = format!("`mesh` must not be set: {} is a global resource", kind.name());
                r.problem(codes::BAD_ENVELOPE, "/mesh", Target::Key, msg);
            }
            None
        }
    };
    let mut status = None;
    let (spec, spec_pointer) = if kind.is_legacy() {
        obj.retain(|k, _| !UNIVERSAL_KEYS.contains(&k.as_str()));
        (Some(Value::Object(obj)), String::new())
    } else {
        let mut allowed = UNIVERSAL_KEYS.to_vec();
        allowed.extend(["spec", "status"]);
        r.unknown_keys(&obj, &allowed, "", &format!("a Universal {} resource", kind.name()));
        status = obj.remove("status");
        (spec_object(&mut r, obj.remove("spec"), "/spec"), "/spec".to_string())
    };
    let namespace = labels.get(labels::NAMESPACE).cloned();
    r.attribute(name.as_deref(), namespace.as_deref(), mesh.as_deref());
    let ok = r.ok;
    let (Some(name), Some(spec), true) = (name, spec, ok) else { return Envelope::Skipped };
    Envelope::Resource {
        meta: Box::new(Meta {
            kind,
            form: Form::Universal,
            name,
            namespace,
            mesh,
            labels,
            annotations: StringMap::new(),
            file: doc.file,
            doc: doc.index,
            spec_pointer,
            name_pointer: "/name".into(),
        }),
        spec,
        status,
    }
}

fn spec_object(r: &mut EnvelopeReader, spec: Option<Value>, pointer: &str) -> Option<Value> {
    match spec {
        None | Some(Value::Null) => Some(Value::Object(Map::new())),
        Some(v @ Value::Object(_)) => Some(v),
        Some(other) => {
            let msg = format!("`spec` must be a mapping, found {}", type_name(&other));
            r.problem(codes::WRONG_TYPE, pointer, Target::Value, msg);
            None
        }
    }
}

pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}
