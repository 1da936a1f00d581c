//! Kuma's legacy tag-subset rules (`BuildRules` in `core/rules/rules.go` and
//! `core/rules/subsetutils`, MADR 007, reference §3.6 item 1).
//!
//! Each `from[]`/`to[]` item's targetRef is read as a set of proxies described by
//! tags (`Mesh` = all, `MeshSubset` = its tags, `MeshService` = `kuma.io/service`,
//! `MeshServiceSubset` = both). The rules partition the tag space so that every
//! proxy falls into exactly one subset whose conf is the merge of every item that
//! covers it: for `from`, each maximal group of pairwise-overlapping items (a
//! clique) is expanded into every positive/negated combination of its tags.
//! Plugins that still key on `kuma.io/service` (MeshTrafficPermission's RBAC, the
//! legacy outbounds) read them through [`compute`].

use std::borrow::Cow;
use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::Origin;
use super::merge::{self, Strategy};
use super::policy::Section;
use crate::model::Kind;
use crate::model::common::{StringMap, TargetRef, TargetRefKind};

/// The tag every proxy carries with its service name.
pub const SERVICE_TAG: &str = "kuma.io/service";

/// The artificial tag that keys a MeshHTTPRoute rule in the `to` rules of a
/// policy whose top-level targetRef is that route (`RuleMatchesHashTag`).
pub const RULE_MATCHES_HASH_TAG: &str = "__rule-matches-hash__";

/// `key = value`, or `key != value` when `not`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
    pub not: bool,
}

impl Tag {
    fn new(key: &str, value: &str, not: bool) -> Tag {
        Tag { key: key.to_string(), value: value.to_string(), not }
    }
}

/// One rule: the proxies it covers, the merged conf and the items merged into it
/// (in merge order; several items can come from one policy).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubsetRule {
    pub subset: Vec<Tag>,
    pub conf: Value,
    pub origins: Vec<Origin>,
}

impl SubsetRule {
    /// The distinct policies behind the rule, in order of first contribution
    /// (Kuma's `Rule.Origin`).
    pub fn policies(&self) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for o in &self.origins {
            if !out.contains(&o.policy) {
                out.push(o.policy);
            }
        }
        out
    }
}

/// One `from[]`/`to[]` item of a policy of `kind`. The targetRef is owned for the
/// items [`route_to_items`] makes up.
#[derive(Debug, Clone)]
pub struct SubsetItem<'a> {
    pub origin: Origin,
    pub target_ref: Cow<'a, TargetRef>,
    pub conf: &'a Value,
    pub kind: Kind,
}

/// The tag subset of a targetRef (`asSubset`); `None` for kinds that are not tag
/// based (Kuma errors with "can't represent X as tags" for MeshGateway and
/// MeshHTTPRoute items and leaves out real-resource kinds; meshc leaves all of
/// them out).
pub fn subset_of(target_ref: &TargetRef) -> Option<Vec<Tag>> {
    let tags = || target_ref.tags.iter().flatten().map(|(k, v)| Tag::new(k, v, false));
    let service = || Tag::new(SERVICE_TAG, target_ref.name(), false);
    match target_ref.kind()? {
        TargetRefKind::Mesh => Some(Vec::new()),
        TargetRefKind::MeshSubset => Some(tags().collect()),
        TargetRefKind::MeshService => Some(vec![service()]),
        TargetRefKind::MeshServiceSubset => Some(std::iter::once(service()).chain(tags()).collect()),
        _ => None,
    }
}

/// `from` rules (with negations): client subsets of an inbound.
pub fn from_rules(items: &[SubsetItem]) -> Vec<SubsetRule> {
    build(items, true)
}

/// `to` rules (without negations): destination subsets of outbounds.
pub fn to_rules(items: &[SubsetItem]) -> Vec<SubsetRule> {
    build(items, false)
}

/// Kuma's `Rules.Compute`: the first rule whose subset contains a proxy with `tags`.
pub fn compute<'r>(rules: &'r [SubsetRule], tags: &StringMap) -> Option<&'r SubsetRule> {
    rules.iter().find(|r| contains_element(&r.subset, tags))
}

/// `BuildRules(list, withNegations)`.
fn build(items: &[SubsetItem], with_negations: bool) -> Vec<SubsetRule> {
    let items: Vec<(&SubsetItem, Vec<Tag>)> =
        items.iter().filter_map(|i| subset_of(&i.target_ref).map(|s| (i, s))).collect();
    if items.is_empty() {
        return Vec::new();
    }
    let keys: BTreeSet<&str> = items.iter().flat_map(|(_, s)| s.iter().map(|t| t.key.as_str())).collect();
    let mut rules = Vec::new();
    if !with_negations && keys.len() <= 1 {
        // One rule per distinct subset, more tags first: no two subsets of a
        // single key overlap except with the empty one.
        let mut seen: BTreeSet<Vec<Tag>> = BTreeSet::new();
        for (_, subset) in &items {
            let mut canonical = subset.clone();
            canonical.sort();
            if seen.insert(canonical.clone()) {
                rules.extend(rule_for(canonical, &items));
            }
        }
        rules.sort_by_key(|r: &SubsetRule| std::cmp::Reverse(r.subset.len()));
        return rules;
    }
    let subsets: Vec<&Vec<Tag>> = items.iter().map(|(_, s)| s).collect();
    let n = subsets.len();
    let adjacent: Vec<Vec<bool>> =
        (0..n).map(|i| (0..n).map(|j| i != j && intersect(subsets[i], subsets[j])).collect()).collect();
    let mut groups = maximal_cliques(&adjacent);
    // `sortComponents`: members ascending, groups by their joined ids descending
    // (as strings, so "10" < "2").
    for g in &mut groups {
        g.sort_unstable();
    }
    let joined = |g: &Vec<usize>| g.iter().map(usize::to_string).collect::<Vec<_>>().join(":");
    groups.sort_by_key(|g| std::cmp::Reverse(joined(g)));
    for group in &groups {
        let tags: BTreeSet<(&str, &str)> =
            group.iter().flat_map(|&i| subsets[i].iter().map(|t| (t.key.as_str(), t.value.as_str()))).collect();
        for subset in combinations(&tags.into_iter().collect::<Vec<_>>()) {
            rules.extend(rule_for(subset, &items));
        }
    }
    rules.sort_by_key(|r: &SubsetRule| std::cmp::Reverse(r.subset.iter().filter(|t| !t.not).count()));
    rules
}

/// `createRule`: merge, in item order, every item whose subset contains `subset`.
/// A conf that splits (MeshHTTPRoute hostnames) gives one rule per part.
fn rule_for(subset: Vec<Tag>, items: &[(&SubsetItem, Vec<Tag>)]) -> Vec<SubsetRule> {
    let relevant: Vec<&SubsetItem> = items.iter().filter(|(_, s)| is_subset(s, &subset)).map(|(i, _)| *i).collect();
    let Some(first) = relevant.first() else { return Vec::new() };
    let confs: Vec<&Value> = relevant.iter().map(|i| i.conf).collect();
    let origins: Vec<Origin> = relevant.iter().map(|i| i.origin).collect();
    merge::merge(Strategy::of(first.kind), &confs)
        .into_iter()
        .map(|conf| SubsetRule { subset: subset.clone(), conf, origins: origins.clone() })
        .collect()
}

/// `Subset.IsSubset`: whether every proxy in `other` is in `ss` (the empty set
/// holds every proxy).
pub fn is_subset(ss: &[Tag], other: &[Tag]) -> bool {
    ss.iter().all(|tag| {
        let mut same_key = other.iter().filter(|o| o.key == tag.key).peekable();
        same_key.peek().is_some() && same_key.all(|o| tag_contains(tag, o))
    })
}

/// Whether `t2`'s proxies are all in `t1`'s (same key assumed).
fn tag_contains(t1: &Tag, t2: &Tag) -> bool {
    match (t1.not, t2.not) {
        (a, b) if a == b => t1.value == t2.value,
        (true, false) => t1.value != t2.value,
        _ => false,
    }
}

/// `Subset.Intersect`: whether some proxy is in both (only contradicting
/// positive tags of one key separate two subsets).
pub fn intersect(a: &[Tag], b: &[Tag]) -> bool {
    if a.is_empty() || b.is_empty() {
        return true;
    }
    a.iter().filter(|t| !t.not).all(|t| b.iter().filter(|o| !o.not && o.key == t.key).all(|o| o.value == t.value))
}

/// `Subset.ContainsElement`: whether a proxy with `tags` is in the subset.
pub fn contains_element(ss: &[Tag], tags: &StringMap) -> bool {
    if ss.is_empty() {
        return true;
    }
    if tags.is_empty() {
        return false;
    }
    let mut overlap = false;
    for tag in ss {
        match tags.get(&tag.key) {
            Some(v) => {
                overlap = true;
                if (*v == tag.value) == tag.not {
                    return false;
                }
            }
            None if !tag.not => return false,
            None => {}
        }
    }
    overlap || ss.iter().all(|t| t.not)
}

/// Every positive/negated combination of `tags` (sorted by key, then value), in
/// the order of Kuma's `SubsetIter`: per key, one positive value (last value
/// first) or all values negated; the first key counts fastest and the all-first
/// choice comes last.
fn combinations(tags: &[(&str, &str)]) -> Vec<Vec<Tag>> {
    let mut dims: Vec<(&str, Vec<&str>)> = Vec::new();
    for &(k, v) in tags {
        match dims.last_mut() {
            Some((key, vals)) if *key == k => {
                if !vals.contains(&v) {
                    vals.push(v);
                }
            }
            _ => dims.push((k, vec![v])),
        }
    }
    let current = |idx: &[usize]| -> Vec<Tag> {
        let mut out = Vec::new();
        for ((key, vals), &choice) in dims.iter().zip(idx) {
            if choice == vals.len() {
                out.extend(vals.iter().map(|v| Tag::new(key, v, true)));
            } else {
                out.push(Tag::new(key, vals[vals.len() - choice - 1], false));
            }
        }
        out
    };
    let mut idx = vec![0usize; dims.len()];
    let mut out = Vec::new();
    'next: loop {
        for i in 0..idx.len() {
            idx[i] += 1;
            if idx[i] <= dims[i].1.len() {
                out.push(current(&idx));
                continue 'next;
            }
            idx[i] = 0;
        }
        out.push(current(&idx));
        return out;
    }
}

/// Maximal cliques (Bron–Kerbosch with pivoting); isolated nodes are cliques of
/// one. The set of cliques is what matters: callers sort them.
fn maximal_cliques(adjacent: &[Vec<bool>]) -> Vec<Vec<usize>> {
    fn expand(adj: &[Vec<bool>], r: &mut Vec<usize>, p: Vec<usize>, mut x: Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if p.is_empty() && x.is_empty() {
            out.push(r.clone());
            return;
        }
        let pivot = p.iter().chain(&x).copied().max_by_key(|&u| p.iter().filter(|&&v| adj[u][v]).count());
        let candidates: Vec<usize> = p.iter().copied().filter(|&v| pivot.is_none_or(|u| !adj[u][v])).collect();
        let mut p = p;
        for v in candidates {
            r.push(v);
            let np = p.iter().copied().filter(|&w| adj[v][w]).collect();
            let nx = x.iter().copied().filter(|&w| adj[v][w]).collect();
            expand(adj, r, np, nx, out);
            r.pop();
            p.retain(|&w| w != v);
            x.push(v);
        }
    }
    let mut out = Vec::new();
    expand(adjacent, &mut Vec::new(), (0..adjacent.len()).collect(), Vec::new(), &mut out);
    out
}

/// The `to` items of a policy whose top-level targetRef is the MeshHTTPRoute
/// `route_spec` (`buildToListWithRoutes`): for every rule of every route `to[]`
/// entry and every `to[]` item of the policy, an item keyed by the hash of the
/// rule's matches — `MeshSubset` for a route entry to `Mesh`/`MeshSubset`,
/// otherwise `MeshServiceSubset` of the entry's service.
pub fn route_to_items<'a>(
    policy: usize,
    kind: Kind,
    to: &'a [super::policy::Item],
    route_spec: &Value,
) -> Vec<SubsetItem<'a>> {
    let mut out = Vec::new();
    for entry in route_spec.get("to").and_then(Value::as_array).into_iter().flatten() {
        let entry_ref: TargetRef =
            entry.get("targetRef").and_then(|t| serde_json::from_value(t.clone()).ok()).unwrap_or_default();
        for rule in entry.get("rules").and_then(Value::as_array).into_iter().flatten() {
            let matches = rule.get("matches").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
            let hash = hash_matches(matches);
            for item in to {
                let tags = StringMap::from([(RULE_MATCHES_HASH_TAG.to_string(), hash.clone())]);
                let target_ref = match entry_ref.kind() {
                    Some(TargetRefKind::Mesh | TargetRefKind::MeshSubset) => TargetRef {
                        kind: Some(TargetRefKind::MeshSubset.into()),
                        tags: Some(tags),
                        ..Default::default()
                    },
                    _ => TargetRef {
                        kind: Some(TargetRefKind::MeshServiceSubset.into()),
                        name: entry_ref.name.clone(),
                        tags: Some(tags),
                        ..Default::default()
                    },
                };
                out.push(SubsetItem {
                    origin: Origin { policy, section: Section::To, index: item.index },
                    target_ref: Cow::Owned(target_ref),
                    conf: &item.conf,
                    kind,
                });
            }
        }
    }
    out
}

/// Kuma's `HashMatches`: base64 of the SHA-256 of the matches marshalled as Go
/// does, fields in struct order (`Match{path, method, queryParams, headers}`,
/// `PathMatch{value, type}`, query and header matches `{type, name, value}`).
pub fn hash_matches(matches: &[Value]) -> String {
    let mut text = String::new();
    go_json(&Value::Array(matches.to_vec()), Context::Matches, &mut text);
    base64(&Sha256::digest(text.as_bytes()))
}

#[derive(Clone, Copy)]
enum Context {
    Matches,
    Match,
    Path,
    TypeNameValue,
    Other,
}

fn go_json(v: &Value, ctx: Context, out: &mut String) {
    match v {
        Value::Array(items) => {
            let inner = match ctx {
                Context::Matches => Context::Match,
                other => other,
            };
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(item, inner, out);
            }
            out.push(']');
        }
        Value::Object(obj) => {
            let order: &[&str] = match ctx {
                Context::Match => &["path", "method", "queryParams", "headers"],
                Context::Path => &["value", "type"],
                Context::TypeNameValue => &["type", "name", "value"],
                _ => &[],
            };
            let mut keys: Vec<&String> = order.iter().filter_map(|k| obj.get_key_value(*k).map(|(k, _)| k)).collect();
            keys.extend(obj.keys().filter(|k| !order.contains(&k.as_str())));
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let child = match (ctx, key.as_str()) {
                    (Context::Match, "path") => Context::Path,
                    (Context::Match, "queryParams" | "headers") => Context::TypeNameValue,
                    _ => Context::Other,
                };
                out.push_str(&go_string(key));
                out.push(':');
                go_json(&obj[key.as_str()], child, out);
            }
            out.push('}');
        }
        Value::String(s) => out.push_str(&go_string(s)),
        other => out.push_str(&other.to_string()),
    }
}

/// A JSON string as Go's `encoding/json` writes it (HTML-safe escapes).
fn go_string(s: &str) -> String {
    let quoted = Value::String(s.to_string()).to_string();
    quoted.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tr(v: Value) -> TargetRef {
        serde_json::from_value(v).unwrap()
    }

    fn items<'a>(refs: &'a [TargetRef], confs: &'a [Value]) -> Vec<SubsetItem<'a>> {
        refs.iter()
            .zip(confs)
            .enumerate()
            .map(|(index, (r, c))| SubsetItem {
                origin: Origin { policy: 0, section: Section::From, index },
                target_ref: Cow::Borrowed(r),
                conf: c,
                kind: Kind::MeshTrafficPermission,
            })
            .collect()
    }

    fn tag(k: &str, v: &str, not: bool) -> Tag {
        Tag::new(k, v, not)
    }

    fn sorted(mut s: Vec<Tag>) -> Vec<Tag> {
        s.sort();
        s
    }

    #[test]
    fn from_negations_partition_the_clients() {
        let refs = [tr(json!({"kind": "Mesh"})), tr(json!({"kind": "MeshSubset", "tags": {"env": "dev"}}))];
        let confs = [json!({"action": "Allow"}), json!({"action": "Deny"})];
        let rules = from_rules(&items(&refs, &confs));
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].subset, vec![tag("env", "dev", false)]);
        assert_eq!(rules[0].conf, json!({"action": "Deny"}));
        assert_eq!(rules[0].origins.len(), 2);
        assert_eq!(rules[1].subset, vec![tag("env", "dev", true)]);
        assert_eq!(rules[1].conf, json!({"action": "Allow"}));
        let dev = StringMap::from([("env".into(), "dev".into())]);
        let prod = StringMap::from([("env".into(), "prod".into())]);
        assert_eq!(compute(&rules, &dev).map(|r| &r.conf), Some(&json!({"action": "Deny"})));
        assert_eq!(compute(&rules, &prod).map(|r| &r.conf), Some(&json!({"action": "Allow"})));
    }

    #[test]
    fn from_cliques_keep_disjoint_values_apart() {
        // env=dev and env=prod never meet; each forms a clique with zone=east.
        let refs = [
            tr(json!({"kind": "MeshSubset", "tags": {"zone": "east"}})),
            tr(json!({"kind": "MeshSubset", "tags": {"env": "dev"}})),
            tr(json!({"kind": "MeshSubset", "tags": {"env": "prod"}})),
        ];
        let confs = [json!({"a": 1}), json!({"b": 2}), json!({"c": 3})];
        let rules = from_rules(&items(&refs, &confs));
        let positive: Vec<Vec<Tag>> =
            rules.iter().filter(|r| r.subset.iter().all(|t| !t.not)).map(|r| sorted(r.subset.clone())).collect();
        assert_eq!(
            positive,
            vec![
                vec![tag("env", "prod", false), tag("zone", "east", false)],
                vec![tag("env", "dev", false), tag("zone", "east", false)],
            ]
        );
        assert_eq!(rules[0].conf, json!({"a": 1, "c": 3}));
        assert!(
            rules
                .iter()
                .all(|r| !(r.subset.contains(&tag("env", "dev", false))
                    && r.subset.contains(&tag("env", "prod", false))))
        );
    }

    #[test]
    fn to_single_key_takes_the_fast_path() {
        let refs = [tr(json!({"kind": "Mesh"})), tr(json!({"kind": "MeshService", "name": "foo"}))];
        let confs = [json!({"t": "1s"}), json!({"t": "2s"})];
        let rules = to_rules(&items(&refs, &confs));
        assert_eq!(rules.len(), 2, "no negated rules: {rules:?}");
        assert_eq!(rules[0].subset, vec![tag(SERVICE_TAG, "foo", false)]);
        assert_eq!(rules[0].conf, json!({"t": "2s"}));
        assert!(rules[1].subset.is_empty());
    }

    #[test]
    fn subset_iteration_matches_kuma_order() {
        let got = combinations(&[("env", "dev"), ("env", "prod"), ("zone", "east")]);
        let want = vec![
            vec![tag("env", "dev", false), tag("zone", "east", false)],
            vec![tag("env", "dev", true), tag("env", "prod", true), tag("zone", "east", false)],
            vec![tag("env", "prod", false), tag("zone", "east", true)],
            vec![tag("env", "dev", false), tag("zone", "east", true)],
            vec![tag("env", "dev", true), tag("env", "prod", true), tag("zone", "east", true)],
            vec![tag("env", "prod", false), tag("zone", "east", false)],
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn cliques_are_maximal() {
        let adj = |edges: &[(usize, usize)], n: usize| {
            let mut a = vec![vec![false; n]; n];
            for &(i, j) in edges {
                a[i][j] = true;
                a[j][i] = true;
            }
            a
        };
        let mut got = maximal_cliques(&adj(&[(0, 1), (0, 2), (1, 2), (2, 3)], 5));
        got.iter_mut().for_each(|c| c.sort_unstable());
        got.sort();
        assert_eq!(got, vec![vec![0, 1, 2], vec![2, 3], vec![4]]);
    }

    #[test]
    fn matches_hash_as_kuma() {
        let m = [json!({"path": {"type": "Exact", "value": "/"}})];
        assert_eq!(hash_matches(&m), "JNNc6//C3P17nUsOJm5f4kqG+U3v8pXhS0od9C3+oss=");
    }
}
