//! Kuma's `core/rules/testdata/rules/{from,to,single}`: legacy tag-subset rules
//! and single-item rules (`rules_test.go`, "BuildRules"). Kuma feeds the policies
//! of a file in file order, unsorted: `from` items of every policy for one inbound
//! (`BuildFromRules`), `to` items of every non-route policy with MeshHTTPRoutes as
//! the route world (`BuildToRules`), each policy's `default` (`BuildSingleItemRules`).
//!
//! Compared by meaning: each rule's subset (as a set of key/value/not), conf
//! (durations normalized) and origin policies (type and name, in order).

use std::borrow::Cow;
use std::path::PathBuf;

use serde_json::{Value, json};

use meshc::model::common::TargetRefKind;
use meshc::model::{Kind, Resource};
use meshc::rules::single::single_rule;
use meshc::rules::subset::{self, SubsetItem, SubsetRule};
use meshc::rules::{Origin, Policy, Section};

use super::fixture;
use super::report::Report;

fn folder(name: &str) -> PathBuf {
    fixture::kuma().join("pkg/plugins/policies/core/rules/testdata/rules").join(name)
}

/// Run every `<case>.input.yaml` of a folder through `build` and compare with
/// the golden's rule list (picked by `want`).
fn run(
    name: &str,
    report: &'static str,
    want: fn(&Value) -> Result<Value, String>,
    build: fn(&[Resource]) -> Result<Value, String>,
) {
    let mut r = Report::new(report);
    for (case, input) in fixture::cases(&folder(name), ".input.yaml") {
        let golden = fixture::golden(&input.with_file_name(format!("{case}.golden.yaml")));
        let result = want(&golden).and_then(|w| {
            let got = build(&fixture::resources(&input))?;
            fixture::diff(&w, &got)
        });
        r.case(case, result);
    }
    r.finish();
}

#[test]
fn rules_from() {
    run("from", "rules/from", |g| inbound_rules(g).map(|r| normalize_golden(&r)), build_from);
}

#[test]
fn rules_to() {
    run(
        "to",
        "rules/to",
        |g| {
            let resource_rules = g.get("ResourceRules").and_then(Value::as_object);
            if resource_rules.is_some_and(|m| !m.is_empty()) {
                return Err("needs resource rules (another module)".into());
            }
            Ok(normalize_golden(g.get("Rules").unwrap_or(&Value::Null)))
        },
        build_to,
    );
}

#[test]
fn rules_single() {
    run("single", "rules/single", |g| Ok(normalize_golden(g.get("Rules").unwrap_or(&Value::Null))), build_single);
}

/// The one inbound's rule list of a `from` golden (`Rules: {127.0.0.1:80: [...]}`).
fn inbound_rules(golden: &Value) -> Result<Value, String> {
    let by_inbound = golden.get("Rules").and_then(Value::as_object).ok_or("golden has no Rules map")?;
    match by_inbound.values().collect::<Vec<_>>().as_slice() {
        [one] => Ok((*one).clone()),
        other => Err(format!("golden has {} inbounds, expected 1", other.len())),
    }
}

fn policies(resources: &[Resource]) -> Vec<Policy<'_>> {
    resources.iter().filter_map(Policy::of).collect()
}

fn build_from(resources: &[Resource]) -> Result<Value, String> {
    let policies = policies(resources);
    let items: Vec<SubsetItem> = policies
        .iter()
        .enumerate()
        .flat_map(|(p, policy)| {
            policy.from.iter().map(move |item| SubsetItem {
                origin: Origin { policy: p, section: Section::From, index: item.index },
                target_ref: Cow::Borrowed(&item.target_ref),
                conf: &item.conf,
                kind: policy.kind(),
            })
        })
        .collect();
    Ok(normalize_got(&subset::from_rules(&items), &policies))
}

fn build_to(resources: &[Resource]) -> Result<Value, String> {
    let (routes, others): (Vec<&Resource>, Vec<&Resource>) =
        resources.iter().partition(|r| r.meta.kind == Kind::MeshHTTPRoute);
    let policies: Vec<Policy> = others.into_iter().filter_map(Policy::of).collect();
    let mut items: Vec<SubsetItem> = Vec::new();
    for (p, policy) in policies.iter().enumerate() {
        if policy.top_kind() == TargetRefKind::MeshHTTPRoute {
            let route = routes
                .iter()
                .find(|r| r.meta.display_name() == policy.top.name() && r.meta.mesh == policy.resource.meta.mesh)
                .ok_or("can't resolve MeshHTTPRoute policy")?;
            let spec = route.spec.as_ref().map(|s| s.to_json()).unwrap_or(Value::Null);
            items.extend(subset::route_to_items(p, policy.kind(), &policy.to, &spec));
            continue;
        }
        items.extend(policy.to.iter().map(|item| SubsetItem {
            origin: Origin { policy: p, section: Section::To, index: item.index },
            target_ref: Cow::Borrowed(&item.target_ref),
            conf: &item.conf,
            kind: policy.kind(),
        }));
    }
    Ok(normalize_got(&subset::to_rules(&items), &policies))
}

fn build_single(resources: &[Resource]) -> Result<Value, String> {
    let policies = policies(resources);
    let Some(rule) = single_rule(&policies, &(0..policies.len()).collect::<Vec<_>>()) else { return Ok(json!([])) };
    let as_subset_rule = SubsetRule { subset: Vec::new(), conf: rule.conf, origins: rule.origins };
    Ok(normalize_got(&[as_subset_rule], &policies))
}

/// `{subset: [[key, value, not]] sorted, conf, origin: ["Type/name"]}` per rule.
fn normalized(mut subset: Vec<Value>, mut conf: Value, origin: Vec<Value>) -> Value {
    subset.sort_by_key(Value::to_string);
    fixture::normalize_durations(&mut conf);
    json!({"subset": subset, "conf": conf, "origin": origin})
}

fn normalize_golden(rules: &Value) -> Value {
    let rules = rules.as_array().map(Vec::as_slice).unwrap_or_default();
    let out = rules.iter().map(|r| {
        let subset = r.get("Subset").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let subset = subset.iter().map(|t| json!([t["Key"], t["Value"], t["Not"]])).collect();
        let origin = r.get("Origin").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        let origin = origin
            .iter()
            .map(|o| json!(format!("{}/{}", o["type"].as_str().unwrap_or(""), o["name"].as_str().unwrap_or(""))))
            .collect();
        normalized(subset, r.get("Conf").cloned().unwrap_or(Value::Null), origin)
    });
    Value::Array(out.collect())
}

fn normalize_got(rules: &[SubsetRule], policies: &[Policy]) -> Value {
    let out = rules.iter().map(|r| {
        let subset = r.subset.iter().map(|t| json!([t.key, t.value, t.not])).collect();
        let origin = r
            .policies()
            .into_iter()
            .map(|i| json!(format!("{}/{}", policies[i].kind().name(), policies[i].name())))
            .collect();
        normalized(subset, r.conf.clone(), origin)
    });
    Value::Array(out.collect())
}
