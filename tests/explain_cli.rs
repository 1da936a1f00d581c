//! `meshc explain` on every example and golden input, in text and JSON; every
//! field's origin must name a policy item that really sets that field.

mod common;

use std::path::{Path, PathBuf};

use serde_json::Value;

use meshc::rules::Section;

fn inputs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for base in ["examples", "testdata/golden"] {
        for e in std::fs::read_dir(common::root().join(base)).unwrap() {
            let p = e.unwrap().path();
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            if !p.is_dir() || name == "invalid" {
                continue;
            }
            let input = if p.join("input").is_dir() { p.join("input") } else { p };
            if base == "examples" || name.starts_with("rules-") || name.starts_with("compile-") {
                dirs.push(input);
            }
        }
    }
    dirs.sort();
    dirs
}

fn check_origins(input: &Path, doc: &Value) -> Vec<String> {
    let outcome = meshc::validate::run(&[input.to_path_buf()], &Default::default());
    let implicit = meshc::rules::defaults::for_meshes(&outcome.resources, true);
    let set = meshc::rules::proxy::PolicySet::new(&outcome.resources, &implicit, Vec::new());
    let label = |i: usize| {
        meshc::rules::effective::OriginRef::of(
            &set,
            meshc::rules::Origin { policy: i, section: Section::Default, index: 0 },
        )
        .policy
    };
    let mut problems = Vec::new();
    let mut checked = 0;
    for proxy in doc.as_array().unwrap() {
        let places = proxy["inbounds"].as_array().unwrap().iter().chain(proxy["outbounds"].as_array().unwrap());
        let lists = places.map(|p| &p["policies"]).chain(std::iter::once(&proxy["proxy_wide"]));
        for effective in lists.filter_map(Value::as_array).flatten() {
            let origins = effective["origins"].as_array().unwrap();
            for (field, origin) in effective["fields"].as_object().unwrap() {
                let o = &origins[origin.as_u64().unwrap() as usize];
                let name = o["policy"].as_str().unwrap();
                let Some(p) = (0..set.policies.len()).find(|&i| label(i) == name) else {
                    problems.push(format!("{}: origin {name} is not a policy of the input", input.display()));
                    continue;
                };
                let section: Section = serde_json::from_value(o["section"].clone()).unwrap();
                let conf = set.policies[p].conf(section, o["index"].as_u64().unwrap() as usize);
                let merged = effective["conf"].pointer(field);
                // An element of a concatenated `append*` list sits at another index in its own conf.
                let (parent, last) = field.rsplit_once('/').unwrap_or(("", field));
                let appended =
                    parent.rsplit('/').next().is_some_and(|k| k.starts_with("append")) && last.parse::<usize>().is_ok();
                let route_rule = effective["kind"] == "MeshHTTPRoute" && parent == "/rules";
                let value = if route_rule {
                    // A route rule is credited to the conf whose rule has the same matches.
                    let matches = merged.and_then(|m| m.get("matches"));
                    let rules = conf.and_then(|c| c.get("rules")).and_then(Value::as_array);
                    rules.and_then(|l| l.iter().find(|r| r.get("matches") == matches)).and(merged)
                } else if appended {
                    conf.and_then(|c| c.pointer(parent))
                        .and_then(Value::as_array)
                        .and_then(|l| l.iter().find(|v| Some(*v) == merged))
                } else {
                    conf.and_then(|c| c.pointer(field))
                };
                if value.is_none() || merged != value {
                    problems.push(format!(
                        "{}: {field} = {:?} is attributed to {name} {}[{}], which sets {value:?}",
                        input.display(),
                        effective["conf"].pointer(field),
                        o["section"],
                        o["index"]
                    ));
                }
                checked += 1;
            }
        }
    }
    if input.to_string_lossy().contains("rules-") {
        assert!(checked > 0, "{}: no attributed field at all", input.display());
    }
    problems
}

#[test]
fn explain_answers_for_every_proxy_in_text_and_json_with_true_origins() {
    let mut problems = Vec::new();
    for input in inputs() {
        let path = input.display().to_string();
        let text = common::run(&["explain", "--all", &path]);
        assert!(text.status.success(), "{path}: {}", String::from_utf8_lossy(&text.stderr));
        let json = common::run(&["explain", "--all", &path, "--format", "json"]);
        assert!(json.status.success(), "{path}: {}", String::from_utf8_lossy(&json.stderr));
        let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
        let proxies = doc.as_array().unwrap();
        let text = String::from_utf8(text.stdout).unwrap();
        assert_eq!(
            text.matches("\nDataplane ").count() + usize::from(text.starts_with("Dataplane ")),
            proxies.len(),
            "{path}"
        );
        problems.extend(check_origins(&input, &doc));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn explain_one_proxy_by_each_name_form() {
    let input = common::root().join("testdata/golden/rules-ordering/input").display().to_string();
    for name in ["backend-01", "default/backend-01"] {
        let out = common::run(&["explain", name, &input]);
        assert!(out.status.success(), "{name}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with("Dataplane backend-01 (mesh default)"), "{text}");
        assert!(text.contains("http.requestTimeout: 6s     <- MeshTimeout/f-dataplane-section from[0]"), "{text}");
    }
}

#[test]
fn unknown_proxy_is_a_usage_error_that_lists_proxies() {
    let input = common::root().join("testdata/golden/rules-ordering/input").display().to_string();
    let out = common::run(&["explain", "nope", &input]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no sidecar Dataplane `nope`") && err.contains("default/backend-01"), "{err}");
}

#[test]
fn policy_reach_lists_proxies_and_inbounds() {
    let input = common::root().join("testdata/golden/rules-ordering/input").display().to_string();
    let out = common::run(&["explain", "--policy", "MeshTimeout/f-dataplane-section", &input, "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reach = doc.as_array().unwrap();
    assert_eq!(reach.len(), 1, "{doc}");
    assert_eq!(reach[0]["proxy"]["name"], "backend-01");
    assert_eq!(reach[0]["inbounds"], serde_json::json!(["inbound:10.0.0.1:8080"]));
    let missing = common::run(&["explain", "--policy", "MeshTimeout/none", &input]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn shadow_policies_change_nothing_without_the_flag() {
    let input = common::root().join("testdata/golden/rules-shadow/input").display().to_string();
    let plain = common::run(&["explain", "api-01", &input]);
    let text = String::from_utf8(plain.stdout).unwrap();
    assert!(text.contains("http.requestTimeout: 10s") && !text.contains("candidate"), "{text}");
    let shadow = common::run(&["explain", "api-01", &input, "--shadow"]);
    let text = String::from_utf8(shadow.stdout).unwrap();
    assert!(text.contains("MeshTimeout/candidate from[0] (shadow)"), "{text}");
    assert!(text.contains("http.requestTimeout: 10s -> 2s"), "{text}");
}

fn explain_text(yaml: &str, args: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    common::write(dir.path(), "in.yaml", yaml);
    let input = dir.path().display().to_string();
    let mut all = vec!["explain", "--all", &input];
    all.extend(args);
    let out = common::run(&all);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

const WEB: &str = "type: Dataplane\nmesh: default\nname: web\nnetworking:\n  address: 10.0.0.1\n  inbound:\n  - port: 8080\n    tags: {kuma.io/service: web, kuma.io/protocol: http}\n";

#[test]
fn shadow_changes_are_found_in_every_client_group() {
    let yaml = format!(
        "type: Mesh\nname: default\nskipCreatingInitialPolicies: ['*']\n---\n{WEB}---\n\
         type: MeshTrafficPermission\nname: mtp\nmesh: default\nspec:\n  from:\n\
         \x20 - {{targetRef: {{kind: MeshService, name: a}}, default: {{action: Allow}}}}\n\
         \x20 - {{targetRef: {{kind: MeshService, name: b}}, default: {{action: Allow}}}}\n---\n\
         type: MeshTrafficPermission\nname: a-shadow\nmesh: default\nlabels: {{kuma.io/effect: shadow}}\nspec:\n  from:\n\
         \x20 - {{targetRef: {{kind: MeshService, name: b}}, default: {{action: Deny}}}}\n"
    );
    let text = explain_text(&yaml, &["--shadow"]);
    assert!(text.contains("(from kuma.io/service=b) MeshTrafficPermission action: Allow -> Deny"), "{text}");
    assert!(!text.contains("kuma.io/service=a) MeshTrafficPermission action"), "{text}");
}

#[test]
fn mesh_defaults_lose_to_a_users_global_policy() {
    let yaml = format!(
        "{WEB}---\ntype: MeshTimeout\nname: global-timeout\nmesh: default\nlabels: {{kuma.io/origin: global}}\nspec:\n  from:\n\
         \x20 - {{targetRef: {{kind: Mesh}}, default: {{idleTimeout: 5s}}}}\n"
    );
    let text = explain_text(&yaml, &[]);
    assert!(text.contains("idleTimeout: 5s"), "{text}");
    assert!(text.contains("<- MeshTimeout/global-timeout from[0]"), "{text}");
}

#[test]
fn policy_reach_counts_only_places_the_policy_configures() {
    let input = common::root().join("testdata/golden/rules-ordering/input").display().to_string();
    // A `to`-only policy reaches outbounds, not the inbounds its targetRef selects.
    let out = common::run(&["explain", "--policy", "meshtimeout/a-mesh-wide", &input, "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let backend = doc.as_array().unwrap().iter().find(|r| r["proxy"]["name"] == "backend-01").unwrap();
    assert_eq!(backend["outbounds"], serde_json::json!(["outbound:127.0.0.1:10001"]), "{doc}");
    // 0-from-global is overridden on every field: it reaches nothing.
    let out = common::run(&["explain", "--policy", "MeshTimeout/0-from-global", &input, "--format", "json"]);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc.as_array().unwrap().iter().all(|r| r["outbounds"].as_array().unwrap().is_empty()), "{doc}");
}

#[test]
fn a_policy_on_a_route_configures_the_routes_outbound_only() {
    let yaml = "type: Mesh\nname: default\nskipCreatingInitialPolicies: ['*']\nmeshServices: {mode: Exclusive}\n---\n\
        type: Dataplane\nmesh: default\nname: web\nnetworking:\n  address: 10.0.0.1\n  inbound:\n  - port: 8080\n    tags: {kuma.io/service: web, kuma.io/protocol: http}\n  transparentProxying: {redirectPortInbound: 15006, redirectPortOutbound: 15001}\n---\n\
        type: Dataplane\nmesh: default\nname: backend\nnetworking:\n  address: 10.0.0.2\n  inbound:\n  - port: 8080\n    tags: {kuma.io/service: backend, kuma.io/protocol: http}\n---\n\
        type: Dataplane\nmesh: default\nname: other\nnetworking:\n  address: 10.0.0.3\n  inbound:\n  - port: 8080\n    tags: {kuma.io/service: other, kuma.io/protocol: http}\n---\n\
        type: MeshHTTPRoute\nname: route-a\nmesh: default\nspec:\n  targetRef: {kind: Mesh}\n  to:\n  - targetRef: {kind: MeshService, name: backend}\n    rules:\n    - matches: [{path: {type: PathPrefix, value: /a}}]\n      default: {backendRefs: [{kind: MeshService, name: other, port: 8080}]}\n---\n\
        type: MeshTimeout\nname: on-route\nmesh: default\nspec:\n  targetRef: {kind: MeshHTTPRoute, name: route-a}\n  to:\n  - {targetRef: {kind: Mesh}, default: {http: {requestTimeout: 3s}}}\n";
    let text = explain_text(yaml, &[]);
    let web = &text[text.find("Dataplane web").unwrap()..];
    let backend_out = &web[web.find("MeshService backend").unwrap()..];
    let backend_out = &backend_out[..backend_out.find("\n\n").unwrap()];
    assert!(backend_out.contains("MeshTimeout (route MeshHTTPRoute/route-a)"), "{backend_out}");
    assert!(backend_out.contains("http.requestTimeout: 3s  <- MeshTimeout/on-route to[0]"), "{backend_out}");
    let other_out = &web[web.find("MeshService other").unwrap()..];
    let other_out = &other_out[..other_out.find("\n\n").unwrap()];
    assert!(!other_out.contains("on-route"), "{other_out}");
}
