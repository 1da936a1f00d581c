//! `pkg/api-server/testdata/resources/inspect/dataplanes/_rules`: Kuma's inspect
//! API `GET /meshes/M/dataplanes/D/_rules` (`rulesForResource` in
//! `pkg/api-server/resource_endpoints.go`) over a whole Universal world.
//!
//! Each input starts with `#<URL> <status>` and holds every resource of the
//! control plane's store. The harness plays the API server: an unknown mesh or
//! Dataplane is a 404, a bad query a 400, and otherwise it builds, per policy
//! type that matches the Dataplane, the views Kuma shows:
//! - `proxyRule`: the single-item rule (MeshTrace, MeshProxyPatch, ...);
//! - `toRules`: the legacy tag-subset `to` rules (not in `meshServices.mode:
//!   Exclusive` meshes), from `proxy::legacy_to_items` (policy order, top-level
//!   MeshHTTPRoute policies expanded per route rule), as the compiler uses them;
//! - `toResourceRules`: the rules keyed by real resources;
//! - `fromRules`: per inbound, the legacy tag-subset `from` rules;
//! - `inboundRules`: per inbound, the inbound rules, one per `rules[]`/`from[]` item;
//! - `httpMatches`: the MeshHTTPRoute matches by hash.
//!
//! Kuma's test store creates no mesh default policies, so none are added.
//! Compared by meaning: confs with durations normalized (see [`normalize`] for a
//! YAML loading difference), origins by display name
//! and rule index, subsets as sets, resources by KRI, inbounds by port; policy
//! types as a map (their order is Kuma's plugin order, not a rules matter).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use meshc::model::mesh::MeshServicesMode;
use meshc::model::{Kind, Resource};
use meshc::rules::inbound::inbound_rules;
use meshc::rules::policy::is_single_item;
use meshc::rules::proxy::{self, Matched, PolicySet};
use meshc::rules::resource::resource_rules;
use meshc::rules::select::Proxy;
use meshc::rules::single::single_rule;
use meshc::rules::subset::{self, SubsetItem, SubsetRule};
use meshc::rules::{Origin, Section};
use meshc::world::{self, World};

use super::fixture::{cases, diff, kuma, normalize_durations, resources_of};
use super::report::Report;

fn testdata() -> PathBuf {
    kuma().join("pkg/api-server/testdata/resources/inspect/dataplanes/_rules")
}

#[test]
fn inspect_rules() {
    let mut report = Report::new("inspect/_rules");
    for (name, input) in cases(&testdata(), ".input.yaml") {
        let golden = input.with_file_name(format!("{name}.golden.json"));
        report.case(name, run_case(&input, &golden));
    }
    report.finish();
}

/// The request of a fixture's first line.
struct Request {
    mesh: String,
    dataplane: String,
    /// `_rules` or `_config`.
    endpoint: String,
    query: Vec<(String, String)>,
    status: u16,
}

fn request(first_line: &str) -> Result<Request, String> {
    let line = first_line.strip_prefix('#').ok_or("the first line is not `#<URL> <status>`")?;
    let (url, status) = line.trim().rsplit_once(' ').ok_or("no status on the first line")?;
    let status = status.parse().map_err(|e| format!("status {status}: {e}"))?;
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["meshes", mesh, "dataplanes", dataplane, endpoint] = segments.as_slice() else {
        return Err(format!("unexpected URL {url}"));
    };
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    Ok(Request {
        mesh: mesh.to_string(),
        dataplane: dataplane.to_string(),
        endpoint: endpoint.to_string(),
        query,
        status,
    })
}

fn run_case(input: &Path, golden: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let req = request(text.lines().next().unwrap_or_default())?;
    let golden_text = std::fs::read_to_string(golden).map_err(|e| format!("{}: {e}", golden.display()))?;
    let want: Value = serde_json::from_str(&golden_text).map_err(|e| format!("{}: {e}", golden.display()))?;
    let resources = resources_of(&input.to_string_lossy(), &text);
    let got = answer(&req, &resources)?;
    if req.status != 200 {
        let pick = |v: &Value| json!({"status": v["status"], "title": v["title"], "detail": v["detail"]});
        return diff(&pick(&want), &pick(&got));
    }
    if got.get("status").is_some() {
        return Err(format!("want {}, got {got}", req.status));
    }
    let reason = unsupported(&resources, &req);
    diff(&normalize_golden(&want), &got).map_err(|d| match reason {
        Some(r) => format!("{r}\n{d}"),
        None => d,
    })
}

/// What meshc does not model that a failing case may need (issue 6).
fn unsupported(resources: &[Resource], req: &Request) -> Option<String> {
    let dp = find_dataplane(resources, req)?;
    let proxy = Proxy::of(dp)?;
    if proxy.spec.is_gateway() {
        return Some("needs builtin gateways (MeshGateway listeners), which meshc does not model (issue 6)".into());
    }
    if !proxy.spec.listeners().is_empty() {
        return Some(
            "needs ZoneEgress listeners (`networking.listeners`), which meshc does not model (issue 6)".into(),
        );
    }
    None
}

fn find_dataplane<'a>(resources: &'a [Resource], req: &Request) -> Option<&'a Resource> {
    resources.iter().find(|r| {
        r.meta.kind == Kind::Dataplane && r.meta.mesh.as_deref() == Some(&req.mesh) && r.meta.name == req.dataplane
    })
}

fn error(status: u16, title: &str, detail: &str) -> Value {
    json!({"status": status, "title": title, "detail": detail})
}

/// The API server's answer: an error, or the normalized rules view.
fn answer(req: &Request, resources: &[Resource]) -> Result<Value, String> {
    let mesh_exists = resources.iter().any(|r| r.meta.kind == Kind::Mesh && r.meta.name == req.mesh);
    if !mesh_exists {
        return Ok(error(404, "Failed to retrieve Mesh", "Not found"));
    }
    let Some(dp) = find_dataplane(resources, req) else {
        return Ok(error(404, "Could not retrieve Dataplane", "Not found"));
    };
    match req.endpoint.as_str() {
        "_rules" => rules_view(resources, dp),
        "_config" => {
            if let Some(bad) = config_params_error(&req.query) {
                return Ok(error(400, "Bad Request", &format!("bad request: {bad}")));
            }
            Err("`_config` answers the proxy's xDS configuration (and a JSON-patch diff with shadow policies), \
                 not a rules view: not compared by this harness"
                .into())
        }
        other => Err(format!("endpoint {other} is not an inspect rules endpoint")),
    }
}

/// Kuma's `configForProxyParams`: `shadow` must parse as a Go bool, `include`
/// may only list `diff`.
fn config_params_error(query: &[(String, String)]) -> Option<&'static str> {
    const GO_BOOLS: [&str; 12] = ["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False"];
    for (k, v) in query {
        match k.as_str() {
            "shadow" if !v.is_empty() && !GO_BOOLS.contains(&v.as_str()) => {
                return Some("unsupported value for query parameter 'shadow'");
            }
            "include" if !v.is_empty() && v.split(',').any(|i| i != "diff") => {
                return Some("unsupported value for query parameter 'include'");
            }
            _ => {}
        }
    }
    None
}

/// Durations normalized, and strings compared without one final newline: Kuma's
/// test store trims every document (`util/yaml.SplitYAML`), so a `|` block
/// scalar ending the file (MeshProxyPatch `value` in `meshgateway`) has no final
/// line break for go-yaml, while saphyr keeps one at the end of input.
fn normalize(v: &mut Value) {
    normalize_durations(v);
    match v {
        Value::String(s) if s.ends_with('\n') => {
            s.pop();
        }
        Value::Array(a) => a.iter_mut().for_each(normalize),
        Value::Object(o) => o.values_mut().for_each(normalize),
        _ => {}
    }
}

// ---- meshc's side -------------------------------------------------------------

fn rules_view(resources: &[Resource], dp: &Resource) -> Result<Value, String> {
    let proxy = Proxy::of(dp).ok_or("the Dataplane's spec did not parse")?;
    let mesh = dp.meta.mesh.as_deref().unwrap_or_default();
    let world = World::build(resources, &world::Options::default());
    let exclusive = world.mesh(mesh).is_some_and(|m| m.mesh_services_mode() == MeshServicesMode::Exclusive);
    let set = PolicySet::of_world(resources, &[], &world);
    let mut rules = Map::new();
    let mut http_matches: BTreeMap<String, Value> = BTreeMap::new();
    for kind in set.kinds(mesh) {
        let m = proxy::matched(&set, kind, proxy, false);
        let view = kind_view(&set, &m, proxy, kind, exclusive, &mut http_matches);
        if let Some(view) = view {
            rules.insert(kind.name().to_string(), view);
        }
    }
    let http_matches: Vec<Value> =
        http_matches.into_iter().map(|(hash, m)| json!({"hash": hash, "match": m})).collect();
    Ok(json!({"resource": resource_json(dp), "httpMatches": http_matches, "rules": rules}))
}

fn resource_json(dp: &Resource) -> Value {
    json!({"type": dp.meta.kind.name(), "mesh": dp.meta.mesh, "name": dp.meta.name, "labels": dp.meta.labels})
}

/// The display name of policy `i`.
fn name(set: &PolicySet, i: usize) -> Value {
    json!(set.policies[i].name())
}

fn kind_view(
    set: &PolicySet,
    m: &Matched,
    proxy: Proxy,
    kind: Kind,
    exclusive: bool,
    http_matches: &mut BTreeMap<String, Value>,
) -> Option<Value> {
    let policies = &set.policies;
    let proxy_rule = if is_single_item(kind) { single_rule(policies, &m.policies) } else { None };
    let proxy_rule = proxy_rule.map(|r| {
        let mut conf = r.conf.clone();
        normalize(&mut conf);
        let origin: Vec<Value> = distinct(&r.origins).into_iter().map(|p| name(set, p)).collect();
        json!({"conf": conf, "origin": origin})
    });
    let to_rules = if exclusive { Vec::new() } else { subset::to_rules(&proxy::legacy_to_items(set, m)) };
    let resource = resource_rules(policies, &m.policies, &set.candidates);
    if kind == Kind::MeshHTTPRoute {
        let confs = to_rules.iter().map(|r| &r.conf).chain(resource.rules.values().flat_map(|r| r.confs.iter()));
        for conf in confs {
            for rule in conf.get("rules").and_then(Value::as_array).into_iter().flatten() {
                let matches = rule.get("matches").and_then(Value::as_array).cloned().unwrap_or_default();
                http_matches.insert(subset::hash_matches(&matches), Value::Array(matches));
            }
        }
    }
    let to_rules: Vec<Value> = to_rules.iter().map(|r| subset_rule_json(set, r)).collect();
    let to_resource_rules: Vec<Value> = resource
        .rules
        .values()
        .map(|r| {
            let mut conf = Value::Array(r.confs.clone());
            normalize(&mut conf);
            let origin: Vec<Value> = r.origins.iter().map(|o| json!([name(set, o.policy), o.index])).collect();
            json!({"resource": r.key.kri(), "conf": conf, "origin": origin})
        })
        .collect();
    let mut from_rules = Vec::new();
    let mut inbound = Vec::new();
    for (&index, selected) in &m.by_inbound {
        let Some(entry) = inbound_json(proxy, index) else { continue };
        let from: Vec<Value> =
            subset::from_rules(&from_items(set, selected, kind)).iter().map(|r| subset_rule_json(set, r)).collect();
        if !from.is_empty() {
            from_rules.push(json!({"inbound": entry, "rules": from}));
        }
        let rules: Vec<Value> = inbound_rules(policies, selected)
            .into_iter()
            .map(|r| {
                let mut conf = json!([r.conf]);
                normalize(&mut conf);
                let mut rule = json!({"conf": conf, "origin": [[name(set, r.origin.policy), r.origin.index]]});
                if let Some(matched) = r.matched {
                    rule["match"] = matched;
                }
                rule
            })
            .collect();
        if !rules.is_empty() {
            inbound.push(json!({"inbound": entry, "rules": rules}));
        }
    }
    let by_port = |v: &Value| v["inbound"]["port"].as_u64().unwrap_or_default();
    from_rules.sort_by_key(by_port);
    inbound.sort_by_key(by_port);
    if proxy_rule.is_none()
        && to_rules.is_empty()
        && to_resource_rules.is_empty()
        && from_rules.is_empty()
        && inbound.is_empty()
    {
        return None;
    }
    Some(json!({
        "proxyRule": proxy_rule,
        "toRules": to_rules,
        "toResourceRules": to_resource_rules,
        "fromRules": from_rules,
        "inboundRules": inbound,
        "warnings": [],
    }))
}

/// An inbound as the API names it: port, name (if any), tags.
fn inbound_json(proxy: Proxy, index: usize) -> Option<Value> {
    let inbound = proxy.spec.inbounds().get(index)?;
    let mut entry = json!({"port": inbound.port, "tags": inbound.tags});
    if let Some(name) = inbound.name.as_deref().filter(|n| !n.is_empty()) {
        entry["name"] = json!(name);
    }
    Some(entry)
}

/// The `from[]` items of the policies that selected one inbound, in policy order
/// (Kuma's `BuildFromRules`).
fn from_items<'a>(set: &'a PolicySet, selected: &[usize], kind: Kind) -> Vec<SubsetItem<'a>> {
    selected
        .iter()
        .flat_map(|&p| {
            set.policies[p].from.iter().map(move |item| SubsetItem {
                origin: Origin { policy: p, section: Section::From, index: item.index },
                target_ref: Cow::Borrowed(&item.target_ref),
                conf: &item.conf,
                kind,
            })
        })
        .collect()
}

fn subset_rule_json(set: &PolicySet, r: &SubsetRule) -> Value {
    let mut matchers: Vec<Value> = r.subset.iter().map(|t| json!([t.key, t.value, t.not])).collect();
    matchers.sort_by_key(Value::to_string);
    let mut conf = r.conf.clone();
    normalize(&mut conf);
    let origin: Vec<Value> = r.policies().into_iter().map(|p| name(set, p)).collect();
    json!({"conf": conf, "matchers": matchers, "origin": origin})
}

fn distinct(origins: &[Origin]) -> Vec<usize> {
    let mut out = Vec::new();
    for o in origins {
        if !out.contains(&o.policy) {
            out.push(o.policy);
        }
    }
    out
}

// ---- Kuma's side --------------------------------------------------------------

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// A resource meta's display name.
fn display_name(meta: &Value) -> Value {
    meta["labels"].get("kuma.io/display-name").cloned().unwrap_or_else(|| meta["name"].clone())
}

/// The KRI of a `resourceMeta` with a section.
fn kri(meta: &Value, section: &str) -> String {
    let kind = meta["type"].as_str().unwrap_or_default();
    let short = Kind::from_name(kind).map_or("", Kind::short_name);
    let label = |k: &str| meta["labels"].get(k).and_then(Value::as_str).unwrap_or_default().to_string();
    let name = display_name(meta).as_str().unwrap_or_default().to_string();
    let mesh = if kind == "Mesh" { String::new() } else { meta["mesh"].as_str().unwrap_or_default().to_string() };
    format!("kri_{short}_{mesh}_{}_{}_{name}_{section}", label("kuma.io/zone"), label("k8s.kuma.io/namespace"))
}

fn golden_subset_rule(r: &Value) -> Value {
    let mut matchers: Vec<Value> =
        list(r, "matchers").iter().map(|t| json!([t["key"], t["value"], t["not"]])).collect();
    matchers.sort_by_key(Value::to_string);
    let mut conf = r["conf"].clone();
    normalize(&mut conf);
    let origin: Vec<Value> = list(r, "origin").iter().map(display_name).collect();
    json!({"conf": conf, "matchers": matchers, "origin": origin})
}

fn golden_inbound(v: &Value) -> Value {
    let i = &v["inbound"];
    let mut entry = json!({"port": i["port"], "tags": i["tags"]});
    if let Some(name) = i.get("name").filter(|n| !n.is_null()) {
        entry["name"] = name.clone();
    }
    entry
}

fn normalize_golden(g: &Value) -> Value {
    let mut rules = Map::new();
    for r in list(g, "rules") {
        let proxy_rule = r.get("proxyRule").filter(|p| !p.is_null()).map(|p| {
            let mut conf = p["conf"].clone();
            normalize(&mut conf);
            let origin: Vec<Value> = list(p, "origin").iter().map(display_name).collect();
            json!({"conf": conf, "origin": origin})
        });
        let mut to_resource_rules: Vec<Value> = list(r, "toResourceRules")
            .iter()
            .map(|rr| {
                let mut conf = rr["conf"].clone();
                normalize(&mut conf);
                let origin: Vec<Value> = list(rr, "origin")
                    .iter()
                    .map(|o| json!([display_name(&o["resourceMeta"]), o["ruleIndex"]]))
                    .collect();
                let section = rr["resourceSectionName"].as_str().unwrap_or_default();
                json!({"resource": kri(&rr["resourceMeta"], section), "conf": conf, "origin": origin})
            })
            .collect();
        to_resource_rules.sort_by(|a, b| a["resource"].as_str().cmp(&b["resource"].as_str()));
        let from_rules: Vec<Value> = list(r, "fromRules")
            .iter()
            .map(|f| {
                let rules: Vec<Value> = list(f, "rules").iter().map(golden_subset_rule).collect();
                json!({"inbound": golden_inbound(f), "rules": rules})
            })
            .collect();
        let inbound: Vec<Value> = list(r, "inboundRules")
            .iter()
            .map(|f| {
                let rules: Vec<Value> = list(f, "rules")
                    .iter()
                    .map(|ir| {
                        let mut conf = ir["conf"].clone();
                        normalize(&mut conf);
                        let origin: Vec<Value> = list(ir, "origin")
                            .iter()
                            .map(|o| json!([display_name(&o["resourceMeta"]), o["ruleIndex"]]))
                            .collect();
                        let mut rule = json!({"conf": conf, "origin": origin});
                        if let Some(m) = ir.get("match").filter(|m| !m.is_null()) {
                            rule["match"] = m.clone();
                        }
                        rule
                    })
                    .collect();
                json!({"inbound": golden_inbound(f), "rules": rules})
            })
            .collect();
        let view = json!({
            "proxyRule": proxy_rule,
            "toRules": list(r, "toRules").iter().map(golden_subset_rule).collect::<Vec<_>>(),
            "toResourceRules": to_resource_rules,
            "fromRules": from_rules,
            "inboundRules": inbound,
            "warnings": r["warnings"],
        });
        rules.insert(r["type"].as_str().unwrap_or_default().to_string(), view);
    }
    let mut matches: Vec<Value> = list(g, "httpMatches").to_vec();
    matches.sort_by(|a, b| a["hash"].as_str().cmp(&b["hash"].as_str()));
    json!({"resource": g["resource"], "httpMatches": matches, "rules": rules})
}
