//! Reading Kuma's fixtures and normalizing goldens for a comparison by meaning.

use std::path::{Path, PathBuf};

use serde_json::Value;

use meshc::model::Resource;
use meshc::source::yaml;

/// The Kuma fixture tree.
pub fn kuma() -> PathBuf {
    super::common::shared().join("conformance/kuma-v2.14.3")
}

/// Files directly in `dir` whose names end with `suffix`, sorted; with the case
/// name (the file name without the suffix).
pub fn cases(dir: &Path, suffix: &str) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().to_string();
            Some((name.strip_suffix(suffix)?.to_string(), p))
        })
        .collect();
    out.sort();
    out
}

/// Resources of a Universal-form YAML stream, through meshc's reading and validation.
pub fn resources(path: &Path) -> Vec<Resource> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    resources_of(&path.to_string_lossy(), &text)
}

pub fn resources_of(name: &str, text: &str) -> Vec<Resource> {
    let opts = meshc::validate::Options::default();
    meshc::validate::run_texts(vec![(name.to_string(), text.to_string())], &opts).resources
}

/// Every document of a YAML file as JSON.
pub fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    yaml::parse(&text, &Default::default()).documents.into_iter().filter_map(|d| d.value).collect()
}

/// The single document of a YAML golden (`null` when empty).
pub fn golden(path: &Path) -> Value {
    yaml_docs(path).into_iter().next().unwrap_or(Value::Null)
}

/// Durations written the way Go marshals them (`1m51s`) and as written (`111s`)
/// compare equal: every string that parses as a Go duration becomes its value in
/// nanoseconds.
pub fn normalize_durations(v: &mut Value) {
    match v {
        Value::String(s) => {
            if let Some(n) = meshc::model::common::parse_go_duration(s)
                && s.chars().next().is_some_and(|c| c.is_ascii_digit())
                && s.chars().last().is_some_and(|c| c.is_ascii_alphabetic())
            {
                *v = Value::String(format!("{n}ns"));
            }
        }
        Value::Array(a) => a.iter_mut().for_each(normalize_durations),
        Value::Object(o) => o.values_mut().for_each(normalize_durations),
        _ => {}
    }
}

/// A readable difference between two JSON values (empty when equal).
pub fn diff(want: &Value, got: &Value) -> Result<(), String> {
    if want == got {
        return Ok(());
    }
    let w = serde_json::to_string_pretty(want).unwrap();
    let g = serde_json::to_string_pretty(got).unwrap();
    let d = similar::TextDiff::from_lines(&w, &g);
    Err(format!("want (-) vs got (+):\n{}", d.unified_diff().context_radius(2)))
}
