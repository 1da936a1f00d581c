//! What is compared: probes into Kuma's `xds` and ours, built from a golden's
//! JSON-patch `diff` (the policy's effect against the no-policy config), or, for
//! the `no-policies` cases, from a fixed set of policy-relevant fields.
//!
//! A probe reads the value at one place of both configs (absent is a value too)
//! and the two must be equal. Places are JSON pointers into the `xds` map
//! (`/<type URL>/<resource name>/<field>/...`), read in Kuma's final config: a
//! `remove` op whose path holds nothing in Kuma's config requires nothing there in
//! ours either; a `remove` followed by an `add` (a changed value) compares the new
//! value.
//!
//! Index normalization (the only one): inside the filter lists `filters`,
//! `httpFilters` and `listenerFilters`, an index of Kuma's config is read as "the
//! n-th filter named X", and ours is looked up by that name and rank. Kuma puts
//! filters meshc may not emit yet (RBAC before `tcp_proxy`) in front, which shifts
//! every index behind them; the filter itself, its config and the rank among
//! filters of the same name are still compared. Routes, filter chains, principals
//! and every other list are compared by index: their order is behaviour (first
//! match wins).

use std::collections::BTreeMap;

use serde_json::Value;

use super::xds::{CLUSTER, LISTENER, short_type};

/// Lists whose elements are read by `name` rather than by position.
const NAMED_LISTS: [&str; 3] = ["filters", "httpFilters", "listenerFilters"];

/// One place to compare.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Probe {
    /// The value at a path.
    At(Vec<String>),
    /// The elements named `name` of the filter list at a path, in order. An op
    /// that inserts or removes a filter (`.../httpFilters/1`) becomes this: after
    /// several inserts at one index, the index alone says nothing.
    Named(Vec<String>, String),
    /// A whole list. An op that inserts or removes an element of a list without
    /// names (`.../routes/1`, `.../principals/2`) becomes this, since later inserts
    /// shift the indices of earlier ones.
    List(Vec<String>),
    /// The `name`s of a list's elements, in order (a filter chain's filters).
    Names(Vec<String>),
}

/// A probe whose two values differ.
pub struct Mismatch {
    pub path: String,
    /// Where it belongs in the to-do summary: the path with indices as `*`.
    pub kind: String,
    pub want: Option<Value>,
    pub got: Option<Value>,
}

impl Probe {
    pub fn display(&self) -> String {
        match self {
            Probe::At(p) => display_path(p),
            Probe::Named(p, name) => format!("{}[name={name}]", display_path(p)),
            Probe::List(p) => format!("{}[*]", display_path(p)),
            Probe::Names(p) => format!("{}[*].name", display_path(p)),
        }
    }

    fn kind(&self) -> String {
        let (path, tail) = match self {
            Probe::At(p) => (p, String::new()),
            Probe::Named(p, name) => (p, format!("[name={name}]")),
            Probe::List(p) => (p, "[*]".to_string()),
            Probe::Names(p) => (p, "[*].name".to_string()),
        };
        let generic: Vec<String> = path
            .iter()
            .map(|s| if s.chars().all(|c| c.is_ascii_digit()) { "*".to_string() } else { s.clone() })
            .collect();
        format!("{}{tail}", display_path(&generic))
    }

    /// Compare Kuma's value at this probe with ours.
    pub fn check(&self, kuma: &Value, ours: &Value) -> Result<(), Mismatch> {
        let (want, got) = match self {
            Probe::At(p) => {
                let (k, o) = walk(kuma, ours, p);
                (k.cloned(), o.cloned())
            }
            Probe::Named(p, name) => {
                let (k, o) = walk(kuma, ours, p);
                (Some(named(k, name)), Some(named(o, name)))
            }
            Probe::List(p) => {
                let (k, o) = walk(kuma, ours, p);
                (k.cloned(), o.cloned())
            }
            Probe::Names(p) => {
                let (k, o) = walk(kuma, ours, p);
                (k.map(names), o.map(names))
            }
        };
        if want == got { Ok(()) } else { Err(Mismatch { path: self.display(), kind: self.kind(), want, got }) }
    }
}

/// `Listener inbound:IP_REDACTED:80 filterChains/0/...`: the type's short name,
/// the resource, the field path.
fn display_path(p: &[String]) -> String {
    match p {
        [] => String::new(),
        [t] => short_type(t).to_string(),
        [t, name] => format!("{} {name}", short_type(t)),
        [t, name, rest @ ..] => format!("{} {name} {}", short_type(t), rest.join("/")),
    }
}

/// The elements of a list named `name`, as a JSON list (empty when the list is absent).
fn named(list: Option<&Value>, name: &str) -> Value {
    let items = list.and_then(Value::as_array).into_iter().flatten();
    Value::Array(items.filter(|e| name_of(e) == Some(name)).cloned().collect())
}

/// The `name` of every element of a list, in order (`null` for an element without one).
fn names(list: &Value) -> Value {
    let items = list.as_array().into_iter().flatten();
    Value::Array(items.map(|e| e.get("name").cloned().unwrap_or(Value::Null)).collect())
}

fn name_of(v: &Value) -> Option<&str> {
    v.get("name").and_then(Value::as_str)
}

fn child<'a>(v: &'a Value, seg: &str) -> Option<&'a Value> {
    match v {
        Value::Object(o) => o.get(seg),
        Value::Array(a) => a.get(seg.parse::<usize>().ok()?),
        _ => None,
    }
}

/// Walk a path in Kuma's config and the corresponding place in ours (see the
/// module doc for filter lists).
fn walk<'a, 'b>(kuma: &'a Value, ours: &'b Value, path: &[String]) -> (Option<&'a Value>, Option<&'b Value>) {
    let (mut k, mut o) = (Some(kuma), Some(ours));
    let mut parent = "";
    for seg in path {
        let by_name = NAMED_LISTS
            .contains(&parent)
            .then(|| {
                let list = k?.as_array()?;
                let i = seg.parse::<usize>().ok()?;
                let name = name_of(list.get(i)?)?;
                let rank = list[..i].iter().filter(|e| name_of(e) == Some(name)).count();
                Some((list.get(i), name, rank))
            })
            .flatten();
        match by_name {
            Some((kuma_item, name, rank)) => {
                o = o.and_then(Value::as_array).and_then(|l| l.iter().filter(|e| name_of(e) == Some(name)).nth(rank));
                k = kuma_item;
            }
            None => {
                k = k.and_then(|v| child(v, seg));
                o = o.and_then(|v| child(v, seg));
            }
        }
        parent = seg;
    }
    (k, o)
}

/// A JSON pointer's segments (`~1` is `/`, `~0` is `~`).
pub fn pointer(p: &str) -> Vec<String> {
    p.split('/').skip(1).map(|s| s.replace("~1", "/").replace("~0", "~")).collect()
}

/// The probes of a golden's `diff`: one per op, duplicates dropped.
pub fn of_diff(diff: &[Value], kuma: &Value) -> Vec<Probe> {
    let mut probes: Vec<Probe> = diff.iter().filter_map(|op| of_op(op, kuma)).collect();
    probes.sort();
    probes.dedup();
    probes
}

fn of_op(op: &Value, kuma: &Value) -> Option<Probe> {
    let path = pointer(op.get("path")?.as_str()?);
    let (last, parent) = path.split_last()?;
    let is_index = last == "-" || last.chars().all(|c| c.is_ascii_digit());
    // Does the op insert into or remove from a list (rather than set a member)?
    let (parent_in_kuma, _) = walk(kuma, kuma, parent);
    let into_list = is_index && parent_in_kuma.is_none_or(Value::is_array);
    if !into_list {
        return Some(Probe::At(path));
    }
    let list_key = parent.last().map(String::as_str).unwrap_or_default();
    match op.get("value").and_then(name_of) {
        Some(name) if NAMED_LISTS.contains(&list_key) => Some(Probe::Named(parent.to_vec(), name.to_string())),
        _ => Some(Probe::List(parent.to_vec())),
    }
}

/// The fields compared for a `no-policies` case (an empty diff), each a pattern
/// whose `*` runs over Kuma's config; the last segment may be absent (absence is
/// compared). Chosen as the fields the policies under test set: timeouts, circuit
/// breakers, outlier detection, load balancing, retries, hash policies, access
/// logs, TLS parameters, RBAC rules. Patterns ending in `[*].name` compare the
/// names of a filter list in order (RBAC, fault injection, rate limit, Lua for
/// access logs of routes are filters; their order is the order Envoy runs them).
/// Resources of kuma-dp itself (`kuma:*`, `_kuma:*`, `self_*`: admin,
/// readiness, dynamic config) are not meshc's to generate and are skipped.
const NO_POLICY_FIELDS: &[&str] = &[
    "C/*/connectTimeout",
    "C/*/circuitBreakers",
    "C/*/outlierDetection",
    "C/*/lbPolicy",
    "C/*/commonLbConfig",
    "C/*/typedExtensionProtocolOptions/envoy.extensions.upstreams.http.v3.HttpProtocolOptions/commonHttpProtocolOptions",
    "C/*/transportSocket/typedConfig/commonTlsContext/tlsParams",
    "L/*/filterChains/*/transportSocket/typedConfig/commonTlsContext/tlsParams",
    "L/*/filterChains/*/filters/*/typedConfig/idleTimeout",
    "L/*/filterChains/*/filters/*/typedConfig/accessLog",
    "L/*/filterChains/*/filters/*/typedConfig/rules",
    "L/*/filterChains/*/filters/*/typedConfig/streamIdleTimeout",
    "L/*/filterChains/*/filters/*/typedConfig/requestHeadersTimeout",
    "L/*/filterChains/*/filters/*/typedConfig/commonHttpProtocolOptions",
    "L/*/filterChains/*/filters[*].name",
    "L/*/filterChains/*/filters/*/typedConfig/httpFilters[*].name",
    "L/*/filterChains/*/filters/*/typedConfig/httpFilters/*/typedConfig/rules",
    "L/*/filterChains/*/filters/*/typedConfig/routeConfig/virtualHosts/*/routes/*/route/timeout",
    "L/*/filterChains/*/filters/*/typedConfig/routeConfig/virtualHosts/*/routes/*/route/idleTimeout",
    "L/*/filterChains/*/filters/*/typedConfig/routeConfig/virtualHosts/*/routes/*/route/retryPolicy",
    "L/*/filterChains/*/filters/*/typedConfig/routeConfig/virtualHosts/*/routes/*/route/hashPolicy",
];

/// The probes of a `no-policies` case.
pub fn no_policies(kuma: &Value) -> Vec<Probe> {
    let mut probes = Vec::new();
    for pattern in NO_POLICY_FIELDS {
        let (pattern, names) = match pattern.strip_suffix("[*].name") {
            Some(list) => (list, true),
            None => (*pattern, false),
        };
        let mut segs: Vec<String> = pattern.split('/').map(str::to_string).collect();
        segs[0] = if segs[0] == "C" { CLUSTER } else { LISTENER }.to_string();
        let mut found = Vec::new();
        expand(kuma, &segs, &mut Vec::new(), &mut found);
        probes.extend(found.into_iter().map(|p| match p {
            Probe::At(path) if names => Probe::Names(path),
            other => other,
        }));
    }
    probes.sort();
    probes.dedup();
    probes
}

fn expand(node: &Value, rest: &[String], at: &mut Vec<String>, out: &mut Vec<Probe>) {
    let Some((seg, tail)) = rest.split_first() else {
        out.push(Probe::At(at.clone()));
        return;
    };
    if tail.is_empty() && seg != "*" {
        at.push(seg.clone());
        out.push(Probe::At(at.clone()));
        at.pop();
        return;
    }
    let children: Vec<(String, &Value)> = match (seg.as_str(), node) {
        ("*", Value::Object(o)) => o.iter().map(|(k, v)| (k.clone(), v)).collect(),
        ("*", Value::Array(a)) => a.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
        (s, v) => child(v, s).map(|c| vec![(s.to_string(), c)]).unwrap_or_default(),
    };
    for (key, value) in children {
        // The resource level (`/<type>/<name>`): kuma-dp's own resources are skipped.
        if at.len() == 1 && ["kuma:", "_kuma:", "self_"].iter().any(|p| key.starts_with(p)) {
            continue;
        }
        at.push(key);
        expand(value, tail, at, out);
        at.pop();
    }
}

/// Failing probes counted by kind, for the to-do summary.
pub fn tally<'a>(mismatches: impl Iterator<Item = &'a Mismatch>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for m in mismatches {
        *out.entry(m.kind.clone()).or_default() += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn xds(filters: Value) -> Value {
        json!({ LISTENER: { "l": { "filterChains": [{ "filters": filters }] } } })
    }

    #[test]
    fn filters_are_found_by_name_and_rank() {
        let kuma = xds(json!([{"name": "rbac"}, {"name": "tcp", "typedConfig": {"idleTimeout": "50s"}}]));
        let ours = xds(json!([{"name": "tcp", "typedConfig": {"idleTimeout": "50s"}}]));
        let path: Vec<String> = [LISTENER, "l", "filterChains", "0", "filters", "1", "typedConfig", "idleTimeout"]
            .map(String::from)
            .to_vec();
        let path = Probe::At(path);
        assert!(path.check(&kuma, &ours).is_ok());
        let ours_other = xds(json!([{"name": "tcp", "typedConfig": {"idleTimeout": "1s"}}]));
        assert!(path.check(&kuma, &ours_other).is_err());
    }

    #[test]
    fn inserts_into_lists_compare_the_list() {
        let kuma = xds(json!([{"name": "hcm"}]));
        let op =
            json!({"op": "add", "path": format!("/{}/l/filterChains/1", LISTENER.replace('/', "~1")), "value": {}});
        assert!(matches!(of_op(&op, &kuma), Some(Probe::List(_))));
        let op = json!({"op": "add", "path": format!("/{}/l/filterChains/0/filters/0", LISTENER.replace('/', "~1")),
                        "value": {"name": "fault"}});
        assert!(matches!(of_op(&op, &kuma), Some(Probe::Named(_, n)) if n == "fault"));
    }
}
