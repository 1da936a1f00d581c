//! `core/matchers/testdata/matchedpolicies/*`: which policies of one type select
//! a Dataplane, in Kuma's order, and the rule views built from them
//! (`dataplane_test.go`, `matchers.MatchedPolicies`).
//!
//! Each case is `<n>.dataplane.yaml` + `<n>.policies.yaml` (+ `<n>.mes.yaml`).
//! Kuma hands `MatchedPolicies` the resources of one mesh, whatever `mesh:` the
//! fixture writes (some write `default` next to a `mesh-1` Dataplane); meshc
//! filters by mesh first, so the harness moves every resource into the
//! Dataplane's mesh. What the golden prints depends on the folder:
//!
//! - `dataplanepolicies`, `dataplane-kind`: the sorted matched policies
//!   (`DataplanePolicies`), compared by display name and labels.
//! - `fromrules`: per inbound listener (`address:port`, embedded listeners
//!   included) the legacy `from` rules and the inbound rules of
//!   MeshTrafficPermission.
//! - `torules`, `meshexternalservice`: the legacy `to` rules and the rules keyed
//!   by real resources.
//! - `meshgateways`: `GatewayRules` of a builtin gateway, keyed by MeshGateway
//!   listener, which needs MeshGateway resources (not modelled yet).
//!
//! `dataplane-kind` runs each input as if the Dataplane and the policies were
//! created on a global or zone control plane (Kubernetes or Universal) and
//! synced; the harness relabels the resources as Kuma's `test/resources`
//! metadata builders do (origin, zone, namespace, display name, policy role).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use meshc::model::common::StringMap;
use meshc::model::meta::labels;
use meshc::model::{Kind, PolicyRole, Resource};
use meshc::rules::inbound::inbound_rules;
use meshc::rules::proxy::{PolicySet, legacy_to_items, matched};
use meshc::rules::resource::{Candidate, ResourceRule, resource_rules};
use meshc::rules::select::Proxy;
use meshc::rules::sort::compare_policies;
use meshc::rules::subset::{self, SubsetItem, SubsetRule};
use meshc::rules::{Origin, Section};

use super::fixture::{self, diff, normalize_durations};
use super::report::Report;

fn testdata(folder: &str) -> PathBuf {
    fixture::kuma().join("pkg/plugins/policies/core/matchers/testdata/matchedpolicies").join(folder)
}

/// The inputs of one case: the Dataplane first, then the policies (and the
/// MeshExternalService), all in the Dataplane's mesh.
fn load(dir: &Path, case: &str) -> Result<Vec<Resource>, String> {
    let mut out = fixture::resources(&dir.join(format!("{case}.dataplane.yaml")));
    if out.len() != 1 || out[0].meta.kind != Kind::Dataplane {
        return Err(format!("{case}.dataplane.yaml: expected one Dataplane, read {}", out.len()));
    }
    let policies = dir.join(format!("{case}.policies.yaml"));
    let text = std::fs::read_to_string(&policies).map_err(|e| format!("{}: {e}", policies.display()))?;
    let outcome = meshc::validate::run_texts(vec![(case.to_string(), text)], &Default::default());
    if let Some(dup) = outcome.findings.iter().find(|f| f.code == meshc::findings::codes::DUPLICATE_KEY) {
        // Kuma's YAML reader keeps the last of duplicate keys (two documents
        // without `---` between them read as the second); meshc rejects them.
        return Err(format!(
            "{case}.policies.yaml: {} (meshc rejects the document; Kuma keeps the last key)",
            dup.message
        ));
    }
    out.extend(outcome.resources);
    let mes = dir.join(format!("{case}.mes.yaml"));
    if mes.exists() {
        out.extend(fixture::resources(&mes));
    }
    let mesh = out[0].meta.mesh.clone();
    for r in out.iter_mut().skip(1) {
        r.meta.mesh = mesh.clone();
    }
    Ok(out)
}

/// The policy type of a case (`getResourceType`): the one kind of the file
/// besides MeshHTTPRoute, else MeshHTTPRoute.
fn policy_type(rs: &[Resource]) -> Kind {
    let policy = |r: &&Resource| r.meta.kind.is_policy();
    rs.iter().filter(policy).map(|r| r.meta.kind).find(|k| *k != Kind::MeshHTTPRoute).unwrap_or(Kind::MeshHTTPRoute)
}

/// The views of one case, built once: the set, the proxy and the matches of `kind`.
struct Case<'a> {
    set: PolicySet<'a>,
    proxy: Proxy<'a>,
    kind: Kind,
}

impl<'a> Case<'a> {
    fn new(rs: &'a [Resource], kind: Kind) -> Result<Case<'a>, String> {
        let proxy = Proxy::of(&rs[0]).ok_or("the Dataplane's spec did not parse")?;
        let candidates: Vec<Candidate> = rs.iter().filter_map(Candidate::of_resource).collect();
        Ok(Case { set: PolicySet::new(rs, &[], candidates), proxy, kind })
    }

    fn name(&self, p: usize) -> &str {
        self.set.policies[p].name()
    }

    /// `DataplanePolicies`: display name and labels of each, in Kuma's order.
    fn dataplane_policies(&self) -> Value {
        let m = matched(&self.set, self.kind, self.proxy, false);
        let items = m.policies.iter().map(|&p| {
            let meta = &self.set.policies[p].resource.meta;
            json!({"name": meta.display_name(), "labels": meta.labels})
        });
        Value::Array(items.collect())
    }

    /// Per inbound listener (`address:port`) the sorted policies that selected
    /// it: inbounds and embedded listeners (`matchedPoliciesByInbound`).
    fn by_listener(&self) -> BTreeMap<String, Vec<usize>> {
        let m = matched(&self.set, self.kind, self.proxy, false);
        let dp = self.proxy.spec;
        let networking = dp.networking.clone().unwrap_or_default();
        let key = |address: &str, port: Option<i64>| format!("{address}:{}", port.unwrap_or(0));
        let mut out: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (&i, policies) in &m.by_inbound {
            let inbound = &dp.inbounds()[i];
            out.entry(key(inbound.dataplane_address(&networking), inbound.port)).or_default().extend(policies);
        }
        for &p in &m.policies {
            for l in self.set.selection(p, self.proxy).listeners {
                let listener = &dp.listeners()[l];
                let address = listener.address.as_deref().or(networking.address.as_deref()).unwrap_or_default();
                out.entry(key(address, listener.port)).or_default().push(p);
            }
        }
        let order = |a: &usize, b: &usize| compare_policies(&self.set.policies[*a], &self.set.policies[*b]);
        for list in out.values_mut() {
            list.sort_by(order);
        }
        out
    }

    /// `FromRules`: per inbound listener, the legacy `from` rules and the inbound rules.
    fn inbound_view(&self) -> Value {
        let mut rules = Map::new();
        let mut inbound = Map::new();
        for (key, selected) in self.by_listener() {
            let items: Vec<SubsetItem> = selected
                .iter()
                .flat_map(|&p| {
                    let policy = &self.set.policies[p];
                    policy.from.iter().map(move |item| SubsetItem {
                        origin: Origin { policy: p, section: Section::From, index: item.index },
                        target_ref: Cow::Borrowed(&item.target_ref),
                        conf: &item.conf,
                        kind: policy.kind(),
                    })
                })
                .collect();
            rules.insert(key.clone(), self.subset_rules(&subset::from_rules(&items)));
            let list = inbound_rules(&self.set.policies, &selected).into_iter().map(|r| {
                let mut conf = r.conf;
                normalize_durations(&mut conf);
                json!({"conf": conf, "match": r.matched, "policy": self.name(r.origin.policy), "ruleIndex": r.origin.index})
            });
            inbound.insert(key, Value::Array(list.collect()));
        }
        json!({"rules": rules, "inboundRules": inbound})
    }

    /// `ToRules`: the legacy `to` rules (top-level MeshHTTPRoute policies keyed
    /// by route rule) and the rules keyed by real resources.
    fn outbound_view(&self) -> Result<Value, String> {
        let m = matched(&self.set, self.kind, self.proxy, false);
        // The legacy `to` items exactly as the compiler builds them.
        let items = legacy_to_items(&self.set, &m);
        let resource = resource_rules(&self.set.policies, &m.policies, &self.set.candidates);
        let resource: Map<String, Value> =
            resource.rules.values().map(|r| (r.key.kri(), self.resource_rule(r))).collect();
        Ok(json!({"rules": self.subset_rules(&subset::to_rules(&items)), "resourceRules": resource}))
    }

    fn subset_rules(&self, rules: &[SubsetRule]) -> Value {
        let out = rules.iter().map(|r| {
            let subset = r.subset.iter().map(|t| json!([t.key, t.value, t.not])).collect();
            let origin = r.policies().into_iter().map(|p| json!(self.name(p))).collect();
            subset_rule(subset, r.conf.clone(), origin)
        });
        Value::Array(out.collect())
    }

    fn resource_rule(&self, rule: &ResourceRule) -> Value {
        let origin = |o: &Origin| json!([self.name(o.policy), o.index]);
        let by_matches: Map<String, Value> = rule
            .origin_by_matches
            .iter()
            .map(|(m, o)| (subset::hash_matches(m.as_array().map(Vec::as_slice).unwrap_or_default()), origin(o)))
            .collect();
        resource_rule(Value::Array(rule.confs.clone()), rule.origins.iter().map(origin).collect(), by_matches)
    }
}

/// A legacy rule as compared: subset as a sorted set, conf, origin policies.
fn subset_rule(mut subset: Vec<Value>, mut conf: Value, origin: Vec<Value>) -> Value {
    subset.sort_by_key(Value::to_string);
    normalize_durations(&mut conf);
    json!({"subset": subset, "conf": conf, "origin": origin})
}

/// A real-resource rule as compared: confs, origins (policy, to-index), origin by matches hash.
fn resource_rule(mut conf: Value, origins: Vec<Value>, by_matches: Map<String, Value>) -> Value {
    normalize_durations(&mut conf);
    json!({"conf": conf, "origins": origins, "originByMatches": by_matches})
}

/// A golden's resource name: its display name.
fn golden_name(r: &Value) -> Value {
    r["labels"][labels::DISPLAY_NAME].as_str().or(r["name"].as_str()).map_or(Value::Null, |s| json!(s))
}

fn golden_subset_rules(rules: &Value) -> Value {
    let rules = rules.as_array().map(Vec::as_slice).unwrap_or_default();
    let out = rules.iter().map(|r| {
        let subset = r["Subset"].as_array().map(Vec::as_slice).unwrap_or_default();
        let subset = subset.iter().map(|t| json!([t["Key"], t["Value"], t["Not"]])).collect();
        let origin = r["Origin"].as_array().map(Vec::as_slice).unwrap_or_default().iter().map(golden_name).collect();
        subset_rule(subset, r["Conf"].clone(), origin)
    });
    Value::Array(out.collect())
}

fn golden_resource_rule(v: &Value) -> Value {
    let origin = |o: &Value| json!([golden_name(&o["Resource"]), o["RuleIndex"]]);
    let by_matches: Map<String, Value> = v["OriginByMatches"]
        .as_object()
        .map(|m| m.iter().map(|(k, o)| (k.clone(), origin(o))).collect())
        .unwrap_or_default();
    let origins = v["Origin"].as_array().map(|a| a.iter().map(origin).collect()).unwrap_or_default();
    resource_rule(v["Conf"].clone(), origins, by_matches)
}

fn golden_dataplane_policies(golden: &Value) -> Value {
    let items = golden["items"].as_array().map(Vec::as_slice).unwrap_or_default();
    let out = items.iter().map(|r| {
        let labels = r.get("labels").cloned().unwrap_or_else(|| json!({}));
        json!({"name": golden_name(r), "labels": labels})
    });
    Value::Array(out.collect())
}

fn golden_from_rules(golden: &Value) -> Value {
    let rules: Map<String, Value> = golden["Rules"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), golden_subset_rules(v))).collect())
        .unwrap_or_default();
    let inbound: Map<String, Value> = golden["InboundRules"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, list)| {
                    let list = list.as_array().map(Vec::as_slice).unwrap_or_default().iter().map(|r| {
                        let mut conf = r["conf"].clone();
                        normalize_durations(&mut conf);
                        let policy = golden_name(&r["origin"]["Resource"]);
                        json!({"conf": conf, "match": r["match"], "policy": policy, "ruleIndex": r["origin"]["RuleIndex"]})
                    });
                    (k.clone(), Value::Array(list.collect()))
                })
                .collect()
        })
        .unwrap_or_default();
    json!({"rules": rules, "inboundRules": inbound})
}

fn golden_to_rules(golden: &Value) -> Value {
    let resource: Map<String, Value> = golden["ResourceRules"]
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), golden_resource_rule(v))).collect())
        .unwrap_or_default();
    json!({"rules": golden_subset_rules(&golden["Rules"]), "resourceRules": resource})
}

/// The case names of a folder (`<name>.dataplane.yaml`).
fn cases(dir: &Path) -> Vec<String> {
    fixture::cases(dir, ".dataplane.yaml").into_iter().map(|(name, _)| name).collect()
}

/// Run every case of `folder`: `view` builds meshc's view for the case's
/// resources, `want` reads the golden.
fn run(folder: &'static str, view: fn(&[Resource]) -> Result<Value, String>, want: fn(&Value) -> Value) {
    let dir = testdata(folder.rsplit('/').next().unwrap_or(folder));
    let mut report = Report::new(folder);
    for case in cases(&dir) {
        let golden = fixture::golden(&dir.join(format!("{case}.golden.yaml")));
        let result = load(&dir, &case).and_then(|rs| view(&rs)).and_then(|got| diff(&want(&golden), &got));
        report.case(case, result);
    }
    report.finish();
}

#[test]
fn dataplanepolicies() {
    run(
        "matchedpolicies/dataplanepolicies",
        |rs| Ok(Case::new(rs, policy_type(rs))?.dataplane_policies()),
        golden_dataplane_policies,
    );
}

#[test]
fn fromrules() {
    run(
        "matchedpolicies/fromrules",
        |rs| Ok(Case::new(rs, Kind::MeshTrafficPermission)?.inbound_view()),
        golden_from_rules,
    );
}

#[test]
fn torules() {
    run("matchedpolicies/torules", |rs| Case::new(rs, policy_type(rs))?.outbound_view(), golden_to_rules);
}

#[test]
fn meshexternalservice() {
    run("matchedpolicies/meshexternalservice", |rs| Case::new(rs, policy_type(rs))?.outbound_view(), golden_to_rules);
}

#[test]
fn meshgateways() {
    run(
        "matchedpolicies/meshgateways",
        |_| {
            Err("GatewayRules of a builtin gateway need MeshGateway resources, which meshc does not model (issue 6)"
                .into())
        },
        |g| g.clone(),
    );
}

/// How Kuma's test builds a resource's metadata (`pkg/test/resources`).
#[derive(Clone, Copy)]
enum Origin2 {
    GlobalUni,
    GlobalK8s,
    ZoneUni,
    ZoneK8s,
}

/// A metadata builder: where created, whether synced (name hashed: not
/// simulated, no rule reads it), and the role/namespace wrappers.
#[derive(Clone, Copy)]
struct Meta {
    created: Origin2,
    synced: bool,
    role: Option<PolicyRole>,
}

const fn meta(created: Origin2) -> Meta {
    Meta { created, synced: false, role: None }
}
const fn synced(created: Origin2) -> Meta {
    Meta { created, synced: true, role: None }
}
const fn system(m: Meta) -> Meta {
    Meta { role: Some(PolicyRole::System), ..m }
}
const fn producer(m: Meta) -> Meta {
    Meta { role: Some(PolicyRole::Producer), ..m }
}

/// The environments of `dataplane_test.go` ("should match by kind Dataplane"):
/// golden name, Dataplane metadata, policy metadata.
const ENVIRONMENTS: [(&str, Meta, Meta); 14] = {
    use Origin2::*;
    [
        ("uni-zone", meta(ZoneUni), meta(ZoneUni)),
        ("k8s-zone", meta(ZoneK8s), meta(ZoneK8s)),
        ("policy-from-global-uni-zone-uni-on-global", synced(ZoneUni), system(meta(GlobalUni))),
        ("policy-from-global-uni-zone-uni-on-zone", meta(ZoneUni), system(synced(GlobalUni))),
        ("policy-from-global-uni-zone-k8s-on-zone", meta(ZoneK8s), system(synced(GlobalUni))),
        ("policy-from-global-uni-zone-k8s-on-global", synced(ZoneK8s), system(meta(GlobalUni))),
        ("policy-from-global-k8s-zone-uni-on-zone", meta(ZoneUni), system(synced(GlobalK8s))),
        ("policy-from-global-k8s-zone-uni-on-global", synced(ZoneUni), system(meta(GlobalK8s))),
        ("policy-from-global-k8s-zone-k8s-on-zone", meta(ZoneK8s), system(synced(GlobalK8s))),
        ("policy-from-global-k8s-zone-k8s-on-global", synced(ZoneK8s), system(meta(GlobalK8s))),
        ("policy-global-uni-dpp-k8s-on-zone", meta(ZoneUni), system(synced(GlobalUni))),
        ("policy-global-uni-dpp-k8s-on-global", synced(ZoneUni), system(meta(GlobalUni))),
        ("policy-from-k8s-to-uni", meta(ZoneUni), producer(synced(ZoneK8s))),
        ("policy-from-k8s-to-k8s", meta(ZoneK8s), producer(synced(ZoneK8s))),
    ]
};

/// Relabel a resource as `m` builds its metadata: the builder's labels, the
/// resource's own labels over them, then the role and (system) namespace.
fn relabel(r: &mut Resource, m: Meta) {
    let meta = &mut r.meta;
    let name = meta.name.clone();
    let mut l = StringMap::new();
    let (global, k8s, zone) = match m.created {
        Origin2::GlobalUni => (true, false, None),
        Origin2::GlobalK8s => (true, true, None),
        Origin2::ZoneUni => (false, false, Some("zone-uni")),
        Origin2::ZoneK8s => (false, true, Some("zone-k8s")),
    };
    l.insert(labels::ORIGIN.into(), if global { "global" } else { "zone" }.into());
    l.insert(labels::DISPLAY_NAME.into(), name.clone());
    if let Some(zone) = zone {
        l.insert(labels::ZONE.into(), zone.into());
    }
    if k8s {
        l.insert(labels::NAMESPACE.into(), "ns-k8s".into());
        l.insert(labels::MESH.into(), meta.mesh.clone().unwrap_or_default());
    }
    l.extend(std::mem::take(&mut meta.labels));
    if let Some(role) = m.role {
        l.insert(labels::POLICY_ROLE.into(), role.name().into());
        if role == PolicyRole::System {
            l.insert(labels::NAMESPACE.into(), "kuma-system".into());
        }
    }
    meta.namespace = l.get(labels::NAMESPACE).cloned();
    meta.name = match (m.synced, k8s) {
        (true, _) => format!("{name}-synced"),
        (false, true) => format!("{name}.ns-k8s"),
        (false, false) => name,
    };
    meta.labels = l;
    r.role = r.meta.label(labels::POLICY_ROLE).and_then(PolicyRole::from_name).unwrap_or(PolicyRole::System);
}

#[test]
fn dataplane_kind() {
    let dir = testdata("dataplane-kind");
    let mut report = Report::new("matchedpolicies/dataplane-kind");
    for case in cases(&dir) {
        for (env, dp_meta, policy_meta) in ENVIRONMENTS {
            let path = dir.join(&case).join(format!("{env}.golden.yaml"));
            let result = load(&dir, &case).and_then(|mut rs| {
                let kind = policy_type(&rs);
                relabel(&mut rs[0], dp_meta);
                rs.iter_mut().filter(|r| r.meta.kind == kind).for_each(|r| relabel(r, policy_meta));
                let got = Case::new(&rs, kind)?.dataplane_policies();
                diff(&golden_dataplane_policies(&fixture::golden(&path)), &got)
            });
            report.case(format!("{case}/{env}"), result);
        }
    }
    report.finish();
}
