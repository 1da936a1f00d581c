//! `schemas/all.json`: one JSON Schema for a document of any kind, so an editor
//! (yaml-language-server's `yaml.schemas` glob) can map a whole policy directory
//! with mixed kinds to a single schema. It dispatches on `kind` (Kubernetes form)
//! and `type` (Universal form) with `if`/`then`, so a document is checked against
//! its own kind's schema only and errors name that kind's fields.
//!
//! Self-contained: every kind's definitions are copied in under a `<Kind>.` prefix
//! (kinds share definition names such as `Conf` that mean different things), so
//! the file works alone, fetched from a URL or copied anywhere.

use serde_json::{Map, Value, json};

use super::schema::{document_schema, file_name, render};
use crate::model::Kind;

/// File name of the combined schema in `schemas/`.
pub const FILE_NAME: &str = "all.json";

/// Every file of `schemas/` (`meshc schema --out`): one per kind, then
/// [`FILE_NAME`], as (file name, contents).
pub fn published() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> =
        Kind::ALL.iter().map(|&k| (file_name(k), render(&document_schema(k)))).collect();
    files.push((FILE_NAME.to_string(), render(&combined_schema())));
    files
}

/// The combined schema of a document of any kind meshc reads.
pub fn combined_schema() -> Value {
    let mut definitions = Map::new();
    let mut dispatch = Vec::new();
    let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    for &kind in Kind::ALL {
        let name = kind.name();
        let Value::Object(mut doc) = document_schema(kind) else { continue };
        if let Some(Value::Object(own)) = doc.remove("definitions") {
            for (def, mut schema) in own {
                prefix_refs(&mut schema, name);
                definitions.insert(format!("{name}.{def}"), schema);
            }
        }
        // The kind's two forms, each its own definition, so that a document is
        // checked against one form and errors point into it (an `anyOf` of both
        // would only say "matches neither").
        let forms = match doc.remove("anyOf") {
            Some(Value::Array(forms)) if forms.len() == 2 => forms,
            _ => continue,
        };
        let [mut kubernetes, mut universal]: [Value; 2] = match forms.try_into() {
            Ok(pair) => pair,
            Err(_) => continue,
        };
        prefix_refs(&mut kubernetes, name);
        prefix_refs(&mut universal, name);
        definitions.insert(format!("{name}.kubernetes"), kubernetes);
        definitions.insert(format!("{name}.universal"), universal);
        dispatch.push(json!({
            "if": { "required": ["kind"], "properties": { "kind": { "const": name } } },
            "then": { "$ref": format!("#/definitions/{name}.kubernetes") }
        }));
        dispatch.push(json!({
            "if": {
                "required": ["type"],
                "not": { "required": ["kind"] },
                "properties": { "type": { "const": name } }
            },
            "then": { "$ref": format!("#/definitions/{name}.universal") }
        }));
    }
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": format!("https://meshc.dev/schemas/{FILE_NAME}"),
        "title": "Kuma resource",
        "description": "Any Kuma resource meshc reads (kuma.io/v1alpha1), in Kubernetes form (apiVersion, kind, \
                        metadata, spec) or Universal form (type, name, mesh, spec): checked against its kind's schema.",
        "type": "object",
        "anyOf": [{ "required": ["kind"] }, { "required": ["type"] }],
        "properties": {
            "apiVersion": { "const": "kuma.io/v1alpha1" },
            "kind": { "description": "The kind (Kubernetes form).", "enum": names },
            "type": { "description": "The kind (Universal form).", "enum": names }
        },
        "allOf": dispatch,
        "definitions": Value::Object(definitions)
    })
}

/// Point a kind's `#/definitions/X` references at `#/definitions/<kind>.X`.
fn prefix_refs(v: &mut Value, kind: &str) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get_mut("$ref")
                && let Some(def) = r.strip_prefix("#/definitions/")
            {
                *r = format!("#/definitions/{kind}.{def}");
            }
            o.values_mut().for_each(|x| prefix_refs(x, kind));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| prefix_refs(x, kind)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validator() -> jsonschema::Validator {
        jsonschema::draft7::new(&combined_schema()).expect("the combined schema compiles")
    }

    fn errors(doc: Value) -> Vec<String> {
        validator().iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect()
    }

    #[test]
    fn every_reference_resolves() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        out.push(r.clone());
                    }
                    o.values().for_each(|x| refs(x, out));
                }
                Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
                _ => {}
            }
        }
        let schema = combined_schema();
        let mut all = Vec::new();
        refs(&schema, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let def = r.strip_prefix("#/definitions/").unwrap_or_else(|| panic!("local ref: {r}"));
            assert!(schema["definitions"].get(def).is_some(), "{r} resolves");
        }
    }

    #[test]
    fn dispatches_on_kind_and_type() {
        let good = json!({"type": "MeshTimeout", "name": "t", "mesh": "default",
            "spec": {"targetRef": {"kind": "Mesh"}, "to": [{"targetRef": {"kind": "Mesh"}, "default": {"idleTimeout": "1s"}}]}});
        assert!(errors(good).is_empty());
        let k8s = json!({"apiVersion": "kuma.io/v1alpha1", "kind": "MeshTrafficPermission",
            "metadata": {"name": "p", "namespace": "kuma-system"},
            "spec": {"from": [{"targetRef": {"kind": "Mesh"}, "default": {"action": "Allow"}}]}});
        assert!(errors(k8s.clone()).is_empty());
        // The kind's own field is checked: a MeshTrafficPermission action.
        let mut bad = k8s;
        bad["spec"]["from"][0]["default"]["action"] = json!("Alow");
        let e = errors(bad);
        assert!(e.iter().any(|m| m.contains("Alow") && m.contains("/spec/from/0/default/action")), "{e:?}");
        // An unknown kind, and neither kind nor type.
        assert!(
            !errors(json!({"apiVersion": "kuma.io/v1alpha1", "kind": "MeshServce", "metadata": {"name": "a"}}))
                .is_empty()
        );
        assert!(!errors(json!({"name": "x"})).is_empty());
        assert!(!errors(json!({"type": "MeshTimout", "name": "t"})).is_empty());
    }
}
