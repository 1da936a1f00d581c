//! JSON Schemas generated from the model types: one per kind, used to check every
//! spec (jsonschema) and published in `schemas/` for editors.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::findings::{Code, Target, codes};
use crate::model::common::DURATION_PATTERN;
use crate::model::{Kind, Scope};

/// The JSON Schema (draft 7) of a kind's spec.
pub fn spec_schema(kind: Kind) -> Value {
    let mut generator = schemars::generate::SchemaSettings::draft07().into_generator();
    let schema = kind.spec_schema(&mut generator);
    let mut v = schema.to_value();
    tidy(&mut v);
    if let Value::Object(o) = &mut v {
        o.insert("title".into(), Value::String(format!("{} spec", kind.name())));
    }
    v
}

/// Make the generated schema say what Kuma accepts: an unset field is absent, not
/// null (nulls are removed from input before validation, as Kubernetes does), and
/// a `#[serde(default)]` of `{}` is not a default worth publishing.
fn tidy(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::Array(types)) = o.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let t = types.remove(0);
                    o.insert("type".into(), t);
                }
            }
            if let Some(Value::Array(values)) = o.get_mut("enum") {
                values.retain(|x| !x.is_null());
            }
            if o.get("default") == Some(&json!({})) {
                o.remove("default");
            }
            if let Some(Value::Array(any)) = o.get("anyOf")
                && any.len() == 2
                && any.iter().any(|s| s == &json!({"type": "null"}))
            {
                let other = any.iter().find(|s| *s != &json!({"type": "null"})).cloned().unwrap_or_default();
                o.remove("anyOf");
                match other {
                    Value::Object(m) if m.len() == 1 && m.contains_key("$ref") => {
                        o.insert("allOf".into(), json!([Value::Object(m)]));
                    }
                    Value::Object(m) => o.extend(m),
                    _ => {}
                }
            }
            o.values_mut().for_each(tidy);
        }
        Value::Array(a) => a.iter_mut().for_each(tidy),
        _ => {}
    }
}

/// Remove `key: null` entries everywhere: Kubernetes and Kuma treat them as unset.
pub fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(o) => {
            o.retain(|_, x| !x.is_null());
            o.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// File name of a kind's published schema (`meshtimeout.json`).
pub fn file_name(kind: Kind) -> String {
    format!("{}.json", kind.name().to_ascii_lowercase())
}

/// The published schema of a whole document of `kind`, in either form, for editors
/// (yaml-language-server) and other tools.
pub fn document_schema(kind: Kind) -> Value {
    let spec = spec_schema(kind);
    let Value::Object(mut spec) = spec else { unreachable!("schemas are objects") };
    let definitions = spec.remove("definitions").unwrap_or_else(|| json!({}));
    spec.remove("$schema");
    spec.remove("title");
    let spec_name = format!("{}Spec", kind.name());
    let mut definitions = match definitions {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    definitions.insert(spec_name.clone(), Value::Object(spec.clone()));
    let spec_ref = json!({ "$ref": format!("#/definitions/{spec_name}") });
    let string_map = json!({ "type": "object", "additionalProperties": { "type": "string" } });

    let mut k8s_props = json!({
        "apiVersion": { "const": "kuma.io/v1alpha1" },
        "kind": { "const": kind.name() },
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": { "type": "string" },
                "namespace": { "type": "string" },
                "labels": string_map,
                "annotations": string_map
            }
        },
        "spec": spec_ref,
        "status": { "type": "object" }
    });
    if kind.is_legacy() && kind.scope() == Scope::Mesh {
        k8s_props["mesh"] = json!({ "type": "string" });
    }
    let kubernetes = json!({
        "title": format!("{} (Kubernetes form)", kind.name()),
        "type": "object",
        "required": ["apiVersion", "kind", "metadata"],
        "additionalProperties": false,
        "properties": k8s_props
    });

    let mut envelope = json!({
        "type": { "const": kind.name() },
        "name": { "type": "string" },
        "labels": string_map,
        "creationTime": { "type": "string" },
        "modificationTime": { "type": "string" }
    });
    if kind.scope() == Scope::Mesh {
        envelope["mesh"] = json!({ "type": "string" });
    }
    let universal = if kind.is_legacy() {
        // The spec fields sit next to the envelope keys.
        let mut u = spec.clone();
        let props = u.entry("properties").or_insert_with(|| json!({}));
        if let (Value::Object(props), Value::Object(env)) = (props, envelope) {
            props.extend(env);
        }
        let required = u.entry("required").or_insert_with(|| json!([]));
        if let Value::Array(r) = required {
            r.extend([json!("type"), json!("name")]);
        }
        u.insert("title".into(), json!(format!("{} (Universal form)", kind.name())));
        Value::Object(u)
    } else {
        let mut props = envelope;
        props["spec"] = spec_ref;
        props["status"] = json!({ "type": "object" });
        json!({
            "title": format!("{} (Universal form)", kind.name()),
            "type": "object",
            "required": ["type", "name"],
            "additionalProperties": false,
            "properties": props
        })
    };
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": format!("https://meshc.dev/schemas/{}", file_name(kind)),
        "title": kind.name(),
        "description": format!("A Kuma {} resource (kuma.io/v1alpha1), as meshc reads it.", kind.name()),
        "anyOf": [kubernetes, universal],
        "definitions": Value::Object(std::mem::take(&mut definitions))
    })
}

struct Compiled {
    schema: Value,
    validator: jsonschema::Validator,
}

fn compiled(kind: Kind) -> &'static Compiled {
    static ALL: OnceLock<HashMap<Kind, Compiled>> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        Kind::ALL
            .iter()
            .map(|&k| {
                let schema = spec_schema(k);
                let validator = jsonschema::options()
                    .should_validate_formats(true)
                    .build(&schema)
                    .unwrap_or_else(|e| panic!("generated schema of {} does not compile: {e}", k.name()));
                (k, Compiled { schema, validator })
            })
            .collect()
    });
    &all[&kind]
}

/// A schema violation at a pointer relative to the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct SchemaError {
    pub code: Code,
    pub pointer: String,
    pub target: Target,
    pub message: String,
}

/// Check a spec against its kind's schema.
pub fn check(kind: Kind, spec: &Value) -> Vec<SchemaError> {
    let c = compiled(kind);
    if c.validator.is_valid(spec) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for err in c.validator.iter_errors(spec) {
        let at = err.instance_path().as_str().to_string();
        use jsonschema::error::ValidationErrorKind as E;
        let (code, pointer, target, message) = match err.kind() {
            E::AdditionalProperties { unexpected } => {
                for name in unexpected {
                    let known = known_properties(&c.schema, err.schema_path().as_str());
                    let mut message = format!("unknown field {}", crate::findings::excerpt(name));
                    if let Some(s) = suggest(name, &known) {
                        message.push_str(&format!(", did you mean `{s}`?"));
                    } else if !known.is_empty() && known.len() <= 12 {
                        message.push_str(&format!("; expected one of: {}", known.join(", ")));
                    }
                    out.push(SchemaError {
                        code: codes::UNKNOWN_FIELD,
                        pointer: format!("{at}/{}", escape(name)),
                        target: Target::Key,
                        message,
                    });
                }
                continue;
            }
            E::Required { property } => {
                let name = property.as_str().unwrap_or_default();
                (
                    codes::MISSING_FIELD,
                    format!("{at}/{}", escape(name)),
                    Target::Value,
                    format!("missing required field `{name}`"),
                )
            }
            E::Type { kind } => {
                let expected = format!("{kind:?}").to_lowercase().replace(['"', '[', ']', '(', ')'], "");
                let expected = expected.trim_start_matches("single").trim_start_matches("multiple").to_string();
                let found = crate::model::meta::type_name(err.instance());
                (codes::WRONG_TYPE, at, Target::Value, format!("expected {}, found {found}", article(&expected)))
            }
            E::Enum { options } => {
                let field = at.rsplit('/').find(|s| s.parse::<usize>().is_err()).unwrap_or_default().to_string();
                // Strings quoted as Kuma quotes them, numbers as they are.
                let allowed: Vec<String> = options.as_array().into_iter().flatten().map(Value::to_string).collect();
                let mut message = format!("{field:?} must be one of [{}]", allowed.join(", "));
                if let Some(value) = err.instance().as_str() {
                    let names = options.as_array().into_iter().flatten().filter_map(Value::as_str);
                    message.push_str(&super::hints::did_you_mean(value, names));
                }
                (codes::NOT_ALLOWED_VALUE, at, Target::Value, message)
            }
            E::Pattern { pattern } if pattern == DURATION_PATTERN => (
                codes::BAD_DURATION,
                at,
                Target::Value,
                format!("{} is not a valid duration (examples: 10s, 1m30s, 500ms)", short(err.instance())),
            ),
            E::Pattern { pattern } => {
                let msg = match pattern_meaning(pattern) {
                    Some(meaning) => format!("{} is not {meaning}", short(err.instance())),
                    None => format!("{} does not match the pattern {pattern}", short(err.instance())),
                };
                (codes::BAD_FORMAT, at, Target::Value, msg)
            }
            E::Format { format } => {
                (codes::BAD_FORMAT, at, Target::Value, format!("{} is not a valid {format}", short(err.instance())))
            }
            // The value is shown shortened: a too-long string or list can be megabytes.
            E::MaxLength { limit } => {
                let msg = format!("{} is longer than {limit} characters", short(err.instance()));
                (codes::OUT_OF_RANGE, at, Target::Value, msg)
            }
            E::MaxItems { limit } => {
                let msg = format!("the list has more than {limit} items");
                (codes::OUT_OF_RANGE, at, Target::Value, msg)
            }
            E::MaxProperties { limit } => {
                let msg = format!("the mapping has more than {limit} entries");
                (codes::OUT_OF_RANGE, at, Target::Value, msg)
            }
            E::Minimum { .. }
            | E::Maximum { .. }
            | E::ExclusiveMinimum { .. }
            | E::ExclusiveMaximum { .. }
            | E::MinItems { .. }
            | E::MinLength { .. }
            | E::MinProperties { .. } => (codes::OUT_OF_RANGE, at, Target::Value, err.to_string()),
            E::AnyOf { .. } | E::OneOfNotValid { .. } => {
                let found = crate::model::meta::type_name(err.instance());
                (codes::WRONG_TYPE, at, Target::Value, format!("{found} is not an accepted form of this field"))
            }
            _ => (codes::SCHEMA, at, Target::Value, err.to_string()),
        };
        out.push(SchemaError { code, pointer, target, message });
    }
    out
}

/// What the schemas' patterns mean, in words: a regular expression is a poor message.
fn pattern_meaning(pattern: &str) -> Option<&'static str> {
    match pattern {
        r"^[a-z0-9!#$%&'*+\-.^_\x60|~]+$" => {
            Some("a valid header name (lower-case letters, digits and !#$%&'*+-.^_`|~, as HTTP/2 requires)")
        }
        r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$" => {
            Some("a valid hostname (lower-case RFC 1123: letters, digits, `-` and `.`)")
        }
        r"^[a-z]([a-z0-9]|[._][a-z0-9])*$" => {
            Some("a valid attribute name (lower-case letters and digits, single `.` or `_` between them)")
        }
        _ => None,
    }
}

fn article(s: &str) -> String {
    match s {
        "object" => "a mapping".into(),
        "array" => "a list".into(),
        "integer" => "an integer".into(),
        "null" => "null".into(),
        other => format!("a {other}"),
    }
}

fn short(v: &Value) -> String {
    match v {
        Value::String(s) => crate::findings::excerpt(s),
        other => crate::findings::excerpt(&other.to_string()),
    }
}

fn escape(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The property names of the schema object that raised `additionalProperties`.
fn known_properties(root: &Value, schema_path: &str) -> Vec<String> {
    let mut node = root;
    let mut segments = crate::source::yaml::pointer_segments(schema_path);
    segments.pop(); // "additionalProperties"
    for seg in segments {
        if seg == "$ref" {
            let Some(target) = node.get("$ref").and_then(Value::as_str) else { return Vec::new() };
            match root.pointer(target.trim_start_matches('#')) {
                Some(n) => node = n,
                None => return Vec::new(),
            }
            continue;
        }
        let next = match node {
            Value::Object(o) => o.get(&seg),
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return Vec::new(),
        }
    }
    // A `$ref`-only node: look through it.
    if let Some(n) = node.get("$ref").and_then(Value::as_str).and_then(|t| root.pointer(t.trim_start_matches('#'))) {
        node = n;
    }
    let mut names: Vec<String> =
        node.get("properties").and_then(Value::as_object).map(|p| p.keys().cloned().collect()).unwrap_or_default();
    names.sort();
    names
}

/// The closest known name, if it is close enough to be a typo and no other known
/// name is as close (`TLS15` is as near `TLS10` as `TLS13`: no guess then).
pub fn suggest(name: &str, known: &[String]) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let mut close: Vec<(usize, &String)> = known
        .iter()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4) && *d < k.len())
        .collect();
    close.sort();
    close.dedup_by(|a, b| a.1 == b.1);
    match close.as_slice() {
        [(best, k), rest @ ..] if rest.first().is_none_or(|(next, _)| next > best) => Some((*k).clone()),
        _ => None,
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Pretty JSON with a trailing newline, as committed.
pub fn render(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialize");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_schema_compiles() {
        for k in Kind::ALL {
            let _ = compiled(*k);
            let _ = document_schema(*k);
        }
    }

    /// A too-long value is shown shortened, and a known pattern in words.
    #[test]
    fn messages_show_long_values_shortened_and_patterns_in_words() {
        let header = |name: String| {
            serde_json::json!({"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": {"kind": "Mesh"}, "default": {
                "http": {"rateLimitedBackOff": {"resetHeaders": [{"name": name, "format": "Seconds"}]}}}}]})
        };
        let long = check(Kind::MeshRetry, &header("x".repeat(10_000)));
        let long: Vec<_> = long.iter().filter(|e| e.code == codes::OUT_OF_RANGE).collect();
        assert!(long.len() == 1 && long[0].message.len() < 200, "{long:?}");
        assert!(long[0].message.ends_with("is longer than 256 characters"), "{long:?}");
        let upper = check(Kind::MeshRetry, &header("Retry-After".into()));
        assert!(upper.iter().any(|e| e.code == codes::BAD_FORMAT && e.message.contains("is not a valid header name")));
    }

    #[test]
    fn suggestions() {
        let known = vec!["targetRef".to_string(), "to".to_string(), "from".to_string()];
        assert_eq!(suggest("targetref", &known), Some("targetRef".into()));
        assert_eq!(suggest("tagetRef", &known), Some("targetRef".into()));
        assert_eq!(suggest("xyz", &known), None);
        let versions: Vec<String> = ["TLS10", "TLS11", "TLS12", "TLS13"].map(String::from).to_vec();
        assert_eq!(suggest("TLS15", &versions), None, "a tie is no guess");
        assert_eq!(suggest("TSL13", &versions), Some("TLS13".into()), "two edits away, the others three");
        assert_eq!(suggest("tls13", &versions), Some("TLS13".into()));
    }

    #[test]
    fn schemas_dir_is_fresh() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
        let bless = std::env::var_os("MESHC_BLESS").is_some();
        let mut stale = Vec::new();
        for (name, want) in super::super::combined_schema::published() {
            let path = dir.join(name);
            if std::fs::read_to_string(&path).ok().as_deref() != Some(want.as_str()) {
                if bless {
                    std::fs::create_dir_all(&dir).unwrap();
                    std::fs::write(&path, want).unwrap();
                } else {
                    stale.push(path.display().to_string());
                }
            }
        }
        assert!(
            stale.is_empty(),
            "stale schemas (run `MESHC_BLESS=1 cargo test` or `meshc schema --out schemas`): {stale:?}"
        );
    }
}
