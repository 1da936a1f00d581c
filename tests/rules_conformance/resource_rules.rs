//! `core/rules/outbound/testdata/{resourcerules,sort}`: outbound rules keyed by
//! real resources, and the order of `to[]` entries.
//!
//! Kuma's `resourcerules_test.go` runs each input as if its resources were
//! created on a global or zone control plane, Kubernetes or Universal, and
//! optionally synced (`-2-`) to another one. That changes only names and labels
//! (origin, zone, namespace, display name), which the harness applies to the
//! resources before building the rules. A synced copy only gets a hashed name,
//! which no rule reads (identities use the display name), so it is not hashed here.

use std::path::Path;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use meshc::model::Resource;
use meshc::rules::Policy;
use meshc::rules::resource::{Candidate, ResourceRule, resource_rules, sorted_entries};

use super::fixture::{cases, diff, golden, kuma, normalize_durations, resources};
use super::report::Report;

fn testdata(folder: &str) -> std::path::PathBuf {
    kuma().join("pkg/plugins/policies/core/rules/outbound/testdata").join(folder)
}

/// Kuma's test helper `matchedPolicies`: the policies named `matched-for-rules-*`.
fn matched(resources: &[Resource]) -> Vec<Policy<'_>> {
    resources.iter().filter(|r| r.meta.name.starts_with("matched-for-rules-")).filter_map(Policy::of).collect()
}

#[test]
fn sort() {
    let mut report = Report::new("sort");
    for (name, input) in cases(&testdata("sort"), ".input.yaml") {
        let rs = resources(&input);
        let policies = matched(&rs);
        let got: Vec<Value> = sorted_entries(&policies, &(0..policies.len()).collect::<Vec<_>>())
            .iter()
            .map(|o| {
                let p = &policies[o.policy];
                let item = &p.to[o.index];
                let mut entry = json!({"default": item.conf, "targetRef": item.target_ref});
                normalize_durations(&mut entry);
                json!({"name": p.name(), "ruleIndex": o.index, "entry": entry})
            })
            .collect();
        let want: Vec<Value> = golden(&input.with_file_name(format!("{name}.golden.yaml")))
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|e| {
                let mut entry = e["Entry"].clone();
                normalize_durations(&mut entry);
                json!({"name": e["Meta"]["name"], "ruleIndex": e["RuleIndex"], "entry": entry})
            })
            .collect();
        report.case(name, diff(&Value::Array(want), &Value::Array(got)));
    }
    report.finish();
}

/// Where the resources of a golden were created (and synced to).
const ENVS: [&str; 4] = ["global-uni", "global-k8s", "zone-uni", "zone-k8s"];

/// Relabel the resources (all but the Mesh) as Kuma's test does for a golden
/// named `<created on>[-2-<checked on>]`; `None` for an unknown name.
fn as_created(rs: &mut [Resource], golden: &str) -> Option<()> {
    let (created, synced) = match golden.split_once("-2-") {
        Some((c, s)) => (c, Some(s)),
        None => (golden, None),
    };
    if !ENVS.contains(&created) || synced.is_some_and(|s| !ENVS.contains(&s)) {
        return None;
    }
    let (global, k8s) = (created.starts_with("global"), created.ends_with("k8s"));
    for r in rs.iter_mut().filter(|r| r.meta.kind != meshc::model::Kind::Mesh) {
        let meta = &mut r.meta;
        let mut labels = meshc::model::common::StringMap::new();
        labels.insert("kuma.io/origin".into(), if global { "global" } else { "zone" }.into());
        labels.insert("kuma.io/display-name".into(), meta.name.clone());
        if !global {
            labels.insert("kuma.io/zone".into(), created.to_string());
        }
        if k8s {
            labels.insert("k8s.kuma.io/namespace".into(), "ns-k8s".into());
            labels.insert("kuma.io/mesh".into(), meta.mesh.clone().unwrap_or_default());
        }
        labels.extend(std::mem::take(&mut meta.labels));
        meta.namespace = labels.get("k8s.kuma.io/namespace").cloned();
        meta.labels = labels;
        if k8s {
            meta.name = format!("{}.ns-k8s", meta.name);
        }
        if synced.is_some() {
            meta.name = format!("{}-synced", meta.display_name());
        }
    }
    Some(())
}

/// Kuma's `HashMatches`: base64 of the SHA-256 of the matches marshalled by Go,
/// whose struct field order differs from the YAML's.
fn matches_hash(matches: &Value) -> String {
    base64(&Sha256::digest(go_json(matches, "").as_bytes()))
}

/// JSON text with object keys in the Go struct order of the field they are in.
fn go_json(v: &Value, field: &str) -> String {
    let order: &[&str] = match field {
        "" => &["path", "method", "queryParams", "headers"],
        "path" => &["value", "type"],
        "headers" | "queryParams" => &["type", "name", "value"],
        _ => &[],
    };
    match v {
        Value::Array(a) => format!("[{}]", a.iter().map(|e| go_json(e, field)).collect::<Vec<_>>().join(",")),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort_by_key(|k| order.iter().position(|f| f == k).unwrap_or(order.len()));
            let fields: Vec<String> =
                keys.iter().map(|k| format!("{}:{}", Value::String((*k).clone()), go_json(&o[*k], k))).collect();
            format!("{{{}}}", fields.join(","))
        }
        other => other.to_string(),
    }
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A rule as compared: conf, origins (policy display name, to-index), section,
/// origin by matches hash.
fn rule_json(rule: &ResourceRule, policies: &[Policy]) -> Value {
    let origin = |o: &meshc::rules::Origin| json!([policies[o.policy].name(), o.index]);
    let by_matches: Map<String, Value> =
        rule.origin_by_matches.iter().map(|(m, o)| (matches_hash(m), origin(o))).collect();
    let mut conf = Value::Array(rule.confs.clone());
    normalize_durations(&mut conf);
    json!({
        "conf": conf,
        "origins": rule.origins.iter().map(origin).collect::<Vec<_>>(),
        "section": rule.key.section,
        "originByMatches": by_matches,
    })
}

fn golden_rule(v: &Value) -> Value {
    let origin = |o: &Value| json!([o["Resource"]["Labels"]["kuma.io/display-name"], o["RuleIndex"]]);
    let by_matches: Map<String, Value> = v["OriginByMatches"]
        .as_object()
        .map(|m| m.iter().map(|(k, o)| (k.clone(), origin(o))).collect())
        .unwrap_or_default();
    let mut conf = v["Conf"].clone();
    normalize_durations(&mut conf);
    json!({
        "conf": conf,
        "origins": v["Origin"].as_array().map(|a| a.iter().map(origin).collect::<Vec<_>>()).unwrap_or_default(),
        "section": v["ResourceSectionName"],
        "originByMatches": by_matches,
    })
}

fn resource_rules_case(input: &Path, golden_path: &Path, env: &str) -> Result<(), String> {
    let mut rs = resources(input);
    as_created(&mut rs, env).ok_or_else(|| format!("unknown environment {env}"))?;
    let policies = matched(&rs);
    let candidates: Vec<Candidate> = rs.iter().filter_map(Candidate::of_resource).collect();
    let rules = resource_rules(&policies, &(0..policies.len()).collect::<Vec<_>>(), &candidates);
    let got: Map<String, Value> = rules.rules.values().map(|r| (r.key.kri(), rule_json(r, &policies))).collect();
    let want: Map<String, Value> = golden(golden_path)
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), golden_rule(v))).collect())
        .unwrap_or_default();
    diff(&Value::Object(want), &Value::Object(got))
}

#[test]
fn resourcerules() {
    let mut report = Report::new("resourcerules");
    let dir = testdata("resourcerules");
    for (name, input) in cases(&dir, ".input.yaml") {
        for (env, golden_path) in cases(&dir.join(&name), ".golden.yaml") {
            report.case(format!("{name}/{env}"), resource_rules_case(&input, &golden_path, &env));
        }
    }
    report.finish();
}
