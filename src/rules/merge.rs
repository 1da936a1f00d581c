//! Merging confs in sort order (Kuma's `core/rules/merge`, MADR 017, reference §3.5).
//!
//! JSON Merge Patch (RFC 7396) folds the confs: objects merge key by key, scalars
//! and lists replace. Two exceptions: object fields named `append*` (Go fields
//! `Append...`) are concatenated across all confs, and MeshHTTPRoute confs are
//! split per hostname and their `rules` merged by identical `matches`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::model::Kind;

/// How a kind's confs merge beyond plain merge patch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Strategy {
    /// The list field merged by key (`policyMerge:"mergeValuesByKey"`), keyed by `matches`.
    pub by_key: Option<&'static str>,
    /// The string-list field that splits confs into groups (`policyMerge:"mergeValues"`).
    pub split_by: Option<&'static str>,
    /// Reverse the merged by-key list at the end (MeshHTTPRoute's `Transform`).
    pub reverse_by_key: bool,
}

impl Strategy {
    /// The merge strategy of a conf of `kind`.
    pub fn of(kind: Kind) -> Strategy {
        match kind {
            Kind::MeshHTTPRoute => {
                Strategy { by_key: Some("rules"), split_by: Some("hostnames"), reverse_by_key: true }
            }
            _ => Strategy::default(),
        }
    }
}

/// Whether an object key is one of Kuma's `Append*` list fields.
fn is_append_key(key: &str) -> bool {
    key.strip_prefix("append").is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_uppercase()))
}

/// Merge confs (in order, later wins). Returns one conf per `split_by` group (one
/// group for most kinds); nothing for no confs.
pub fn merge(strategy: Strategy, confs: &[&Value]) -> Vec<Value> {
    if confs.is_empty() {
        return Vec::new();
    }
    groups(strategy, confs).into_iter().map(|group| merge_group(strategy, &group)).collect()
}

/// Merge confs into one value (kinds without `split_by`).
pub fn merge_one(strategy: Strategy, confs: &[&Value]) -> Option<Value> {
    merge(strategy, confs).into_iter().next()
}

/// Split confs by the values of the `split_by` field: a conf goes into the group
/// of each of its values (with the field narrowed to that value), or into the
/// `""` group when it has none. Groups in order of first appearance.
fn groups(strategy: Strategy, confs: &[&Value]) -> Vec<Vec<Value>> {
    let Some(field) = strategy.split_by else {
        return vec![confs.iter().map(|c| (*c).clone()).collect()];
    };
    let mut order: Vec<String> = Vec::new();
    let mut by_key: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for conf in confs {
        let keys: Vec<String> = conf
            .get(field)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .filter(|k: &Vec<String>| !k.is_empty())
            .unwrap_or_else(|| vec![String::new()]);
        for key in keys {
            let mut copy = (*conf).clone();
            if !key.is_empty()
                && let Some(obj) = copy.as_object_mut()
            {
                obj.insert(field.to_string(), Value::Array(vec![Value::String(key.clone())]));
            }
            if !by_key.contains_key(&key) {
                order.push(key.clone());
            }
            by_key.entry(key).or_default().push(copy);
        }
    }
    order.into_iter().map(|k| by_key.remove(&k).unwrap_or_default()).collect()
}

fn merge_group(strategy: Strategy, confs: &[Value]) -> Value {
    let mut acc = confs[0].clone();
    for patch in &confs[1..] {
        merge_patch(&mut acc, patch);
    }
    let by_key = strategy.by_key;
    let concatenated = |key: &str| is_append_key(key) || by_key == Some(key);
    concatenate_lists(&mut acc, confs, &concatenated);
    if let Some(field) = by_key
        && let Some(list) = acc.get_mut(field).and_then(Value::as_array_mut)
    {
        let mut merged = merge_by_matches(std::mem::take(list));
        if strategy.reverse_by_key {
            merged.reverse();
        }
        *list = merged;
    }
    acc
}

/// RFC 7396 with nulls pruned (Kuma's `mergePatchDocs`).
pub fn merge_patch(doc: &mut Value, patch: &Value) {
    let (Some(doc_obj), Some(patch_obj)) = (doc.as_object_mut(), patch.as_object()) else {
        *doc = pruned(patch);
        return;
    };
    for (k, v) in patch_obj {
        if v.is_null() {
            doc_obj.remove(k);
            continue;
        }
        match doc_obj.get_mut(k) {
            Some(cur) if cur.is_object() && v.is_object() => merge_patch(cur, v),
            _ => {
                doc_obj.insert(k.clone(), pruned(v));
            }
        }
    }
}

fn pruned(v: &Value) -> Value {
    match v {
        Value::Object(o) => {
            Value::Object(o.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), pruned(v))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(pruned).collect()),
        other => other.clone(),
    }
}

/// Replace each concatenated list of the merged value by the concatenation of
/// that list across all confs, recursing through objects only (as Kuma's
/// `appendSlices` recurses through structs, not through slices).
fn concatenate_lists(acc: &mut Value, confs: &[Value], concatenated: &dyn Fn(&str) -> bool) {
    let Some(obj) = acc.as_object_mut() else { return };
    for (key, value) in obj.iter_mut() {
        if value.is_array() && concatenated(key) {
            let all = confs.iter().filter_map(|c| c.get(key)).filter_map(Value::as_array).flatten().cloned();
            *value = Value::Array(all.collect());
        } else if value.is_object() {
            let children: Vec<Value> =
                confs.iter().filter_map(|c| c.get(key)).filter(|v| v.is_object()).cloned().collect();
            concatenate_lists(value, &children, &|k| is_append_key(k));
        }
    }
}

/// `mergeValuesByKey` on a list of `{matches, default}` rules: rules with equal
/// `matches` become one, whose `default` is the merge of theirs in order and
/// which takes the position of the last of them.
fn merge_by_matches(rules: Vec<Value>) -> Vec<Value> {
    struct Acc {
        key: Value,
        defaults: Vec<Value>,
        skip: bool,
    }
    let mut accs: Vec<Acc> = Vec::new();
    for rule in rules {
        let key = rule.get("matches").cloned().unwrap_or(Value::Null);
        let mut defaults = Vec::new();
        for acc in accs.iter_mut().filter(|a| !a.skip && a.key == key) {
            defaults.append(&mut acc.defaults);
            acc.skip = true;
        }
        defaults.push(rule.get("default").cloned().unwrap_or_else(|| Value::Object(Map::new())));
        accs.push(Acc { key, defaults, skip: false });
    }
    accs.into_iter()
        .filter(|a| !a.skip)
        .map(|a| {
            let refs: Vec<&Value> = a.defaults.iter().collect();
            let default = merge_one(Strategy::default(), &refs).unwrap_or_else(|| Value::Object(Map::new()));
            let mut rule = Map::new();
            if !a.key.is_null() {
                rule.insert("matches".into(), a.key);
            }
            rule.insert("default".into(), default);
            Value::Object(rule)
        })
        .collect()
}

/// Which conf set each leaf of a merged value: JSON pointer -> index into
/// `confs`. A leaf is a scalar, a replaced list or an empty object; elements
/// of a concatenated list are attributed one by one.
///
/// With a `by_key` strategy (MeshHTTPRoute), each merged rule is attributed as
/// a whole to the last conf with a rule of the same `matches` (Kuma's
/// `OriginByMatches`).
pub fn attribute(strategy: Strategy, merged: &Value, confs: &[&Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let Some(key) = strategy.by_key else {
        attribute_at(merged, confs, &mut Vec::new(), &mut out);
        return out;
    };
    let Some(obj) = merged.as_object() else { return out };
    for (field, value) in obj {
        let mut path = vec![field.clone()];
        match value.as_array() {
            Some(rules) if field == key => {
                for (i, rule) in rules.iter().enumerate() {
                    let matches = rule.get("matches");
                    let same = |r: &Value| r.get("matches") == matches;
                    let owner = confs
                        .iter()
                        .rposition(|c| c.get(key).and_then(Value::as_array).is_some_and(|list| list.iter().any(same)));
                    if let Some(c) = owner {
                        out.insert(format!("/{}/{i}", escape(field)), c);
                    }
                }
            }
            _ => attribute_at(value, confs, &mut path, &mut out),
        }
    }
    out
}

/// A JSON pointer segment.
fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn attribute_at(value: &Value, confs: &[&Value], path: &mut Vec<String>, out: &mut BTreeMap<String, usize>) {
    fn at<'v>(c: &'v Value, path: &[String]) -> Option<&'v Value> {
        path.iter().try_fold(c, |cur, seg| cur.get(seg))
    }
    let pointer = |path: &[String]| path.iter().map(|s| format!("/{}", escape(s))).collect::<String>();
    match value {
        Value::Object(obj) if !obj.is_empty() => {
            for (k, v) in obj {
                path.push(k.clone());
                attribute_at(v, confs, path, out);
                path.pop();
            }
        }
        Value::Array(items) if path.last().is_some_and(|k| is_append_key(k)) => {
            let mut i = 0;
            for (c, conf) in confs.iter().enumerate() {
                let n = at(conf, path).and_then(Value::as_array).map_or(0, Vec::len);
                for _ in 0..n {
                    if i < items.len() {
                        out.insert(format!("{}/{i}", pointer(path)), c);
                    }
                    i += 1;
                }
            }
        }
        _ => {
            if let Some(c) = confs.iter().rposition(|c| at(c, path).is_some()) {
                out.insert(pointer(path), c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn merge_plain(confs: &[Value]) -> Value {
        let refs: Vec<&Value> = confs.iter().collect();
        merge_one(Strategy::default(), &refs).unwrap()
    }

    #[test]
    fn objects_merge_and_lists_replace() {
        let merged = merge_plain(&[
            json!({"http": {"requestTimeout": "1s", "x": [1, 2]}, "idleTimeout": "5s"}),
            json!({"http": {"x": [3]}, "connectionTimeout": "2s"}),
        ]);
        assert_eq!(
            merged,
            json!({"http": {"requestTimeout": "1s", "x": [3]}, "idleTimeout": "5s", "connectionTimeout": "2s"})
        );
    }

    #[test]
    fn append_fields_concatenate_at_any_object_depth() {
        let merged = merge_plain(&[
            json!({"appendMatch": [{"a": 1}], "sidecar": {"profiles": {"appendProfiles": [{"name": "All"}]}}}),
            json!({"appendMatch": [{"b": 2}], "sidecar": {"profiles": {"appendProfiles": [{"name": "Basic"}]}}}),
        ]);
        assert_eq!(merged["appendMatch"], json!([{"a": 1}, {"b": 2}]));
        assert_eq!(merged["sidecar"]["profiles"]["appendProfiles"], json!([{"name": "All"}, {"name": "Basic"}]));
    }

    #[test]
    fn http_route_rules_merge_by_matches_and_split_by_hostname() {
        let m = |p: &str| json!([{"path": {"type": "PathPrefix", "value": p}}]);
        // Confs as `GetDefault` gives them: rules reversed.
        let a =
            json!({"rules": [{"matches": m("/b"), "default": {"x": 1}}, {"matches": m("/a"), "default": {"x": 1}}]});
        let b = json!({"rules": [{"matches": m("/a"), "default": {"x": 2}}], "hostnames": ["h1"]});
        let out = merge(Strategy::of(Kind::MeshHTTPRoute), &[&a, &b]);
        assert_eq!(out.len(), 2, "one group without hostnames, one for h1");
        assert_eq!(
            out[0]["rules"],
            json!([{"matches": m("/a"), "default": {"x": 1}}, {"matches": m("/b"), "default": {"x": 1}}])
        );
        assert_eq!(out[1]["hostnames"], json!(["h1"]));
    }

    #[test]
    fn http_route_rules_are_attributed_one_by_one() {
        let m = |p: &str| json!([{"path": {"type": "PathPrefix", "value": p}}]);
        let a = json!({"rules": [{"matches": m("/a"), "default": {"x": 1}}]});
        let b = json!({"rules": [{"matches": m("/b"), "default": {"x": 2}}]});
        let strategy = Strategy::of(Kind::MeshHTTPRoute);
        let merged = merge_one(strategy, &[&a, &b]).unwrap();
        let who = attribute(strategy, &merged, &[&a, &b]);
        let owner = |p: &str| merged["rules"].as_array().unwrap().iter().position(|r| r["matches"] == m(p)).unwrap();
        assert_eq!(who[&format!("/rules/{}", owner("/a"))], 0);
        assert_eq!(who[&format!("/rules/{}", owner("/b"))], 1);
    }

    #[test]
    fn attribution_names_the_last_setter_of_each_leaf() {
        let a = json!({"http": {"requestTimeout": "1s"}, "idleTimeout": "5s"});
        let b = json!({"http": {"requestTimeout": "2s"}});
        let merged = merge_plain(&[a.clone(), b.clone()]);
        let who = attribute(Strategy::default(), &merged, &[&a, &b]);
        assert_eq!(who["/http/requestTimeout"], 1);
        assert_eq!(who["/idleTimeout"], 0);
    }
}
