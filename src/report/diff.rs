//! What a change does, as a pull request's reviewer reads it: the report of the
//! input against the report of its base (`--against DIR`, `--against-git REF`),
//! per proxy (places and effective fields), per service pair (access), and in
//! the findings, services and policies.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;
use serde_json::Value;

use super::model::{ConfRow, FindingRow, ProxyRow, Report};

/// The verdict "before" of a pair the base did not have (a new client or destination).
pub const ABSENT: u8 = b'_';

/// Most access changes listed (a mesh-wide deny can flip millions of pairs).
pub const MAX_ACCESS_CHANGES: usize = 2_000;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Diff {
    /// What the input was compared with: `DIR` or `git REF`.
    pub against: String,
    /// The base has errors, so it has no proxies or access to compare with: only
    /// findings, services and policies are.
    pub base_has_errors: bool,
    pub findings_added: Vec<FindingRow>,
    pub findings_removed: Vec<FindingRow>,
    /// `Kind mesh/name` of services only in the input, only in the base.
    pub services_added: Vec<String>,
    pub services_removed: Vec<String>,
    /// Policy labels (`Kind/name`, `mesh`) only in the input, only in the base.
    pub policies_added: Vec<String>,
    pub policies_removed: Vec<String>,
    /// Proxies added, removed or whose effective policies change, by identity.
    pub proxies: Vec<ProxyChange>,
    /// Client -> destination pairs whose verdict changes (at most [`MAX_ACCESS_CHANGES`]).
    pub access: Vec<AccessChange>,
    /// How many access changes there are in all.
    pub access_total: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProxyChange {
    /// `mesh/name` (`ProxyId::dir()`).
    pub dir: String,
    /// `added`, `removed` or `changed`.
    pub status: &'static str,
    /// The proxy in the input's report, unless removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy: Option<usize>,
    pub changes: Vec<FieldChange>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldChange {
    /// `inbound backend (service backend, port 8080)`, `MeshService web port 80`, `proxy`.
    pub place: String,
    /// The policy kind; empty when a whole place comes or goes.
    pub kind: String,
    /// `http.requestTimeout`; empty when a whole place or kind comes or goes.
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<Value>,
    /// The policy that sets the new value (an index into the input's `policies`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AccessChange {
    /// Indices into the input's `services`.
    pub client: usize,
    pub destination: usize,
    /// Verdict characters (see `access.legend`); [`ABSENT`] where the pair did not exist.
    pub before: char,
    pub after: char,
}

/// What `head` changes against `base`.
pub fn diff(base: &Report, head: &Report, against: String) -> Diff {
    let (findings_added, findings_removed) = findings(base, head);
    let (services_added, services_removed) = added_removed(&service_names(base), &service_names(head));
    let (policies_added, policies_removed) = added_removed(&policy_names(base), &policy_names(head));
    // A base with errors was not compiled: every proxy and pair would look new.
    let (access, access_total) = if base.has_errors { (Vec::new(), 0) } else { access(base, head) };
    let proxies = if base.has_errors { Vec::new() } else { proxies(base, head) };
    Diff {
        against,
        base_has_errors: base.has_errors,
        findings_added,
        findings_removed,
        services_added,
        services_removed,
        policies_added,
        policies_removed,
        proxies,
        access,
        access_total,
    }
}

fn added_removed(base: &BTreeSet<String>, head: &BTreeSet<String>) -> (Vec<String>, Vec<String>) {
    (head.difference(base).cloned().collect(), base.difference(head).cloned().collect())
}

/// Findings compared without their position: moving a line is no change.
fn findings(base: &Report, head: &Report) -> (Vec<FindingRow>, Vec<FindingRow>) {
    let key = |f: &FindingRow| (f.code.clone(), f.resource.clone(), f.message.clone());
    let base_keys: BTreeSet<_> = base.findings.iter().map(key).collect();
    let head_keys: BTreeSet<_> = head.findings.iter().map(key).collect();
    let added = head.findings.iter().filter(|f| !base_keys.contains(&key(f))).cloned().collect();
    let removed = base.findings.iter().filter(|f| !head_keys.contains(&key(f))).cloned().collect();
    (added, removed)
}

fn service_key(r: &Report, s: usize) -> String {
    let s = &r.services[s];
    format!("{} {}/{}", s.kind, s.mesh, s.label())
}

fn service_names(r: &Report) -> BTreeSet<String> {
    (0..r.services.len()).map(|s| service_key(r, s)).collect()
}

fn policy_names(r: &Report) -> BTreeSet<String> {
    r.policies.iter().filter(|p| !p.implicit).map(|p| format!("{} (mesh {})", p.label, p.mesh)).collect()
}

/// One proxy's effective confs: (place, kind, traffic) -> conf.
type Places<'r> = BTreeMap<(String, &'static str, Option<String>), &'r ConfRow>;

fn places<'r>(r: &'r Report, p: &ProxyRow) -> (Places<'r>, BTreeSet<String>) {
    let mut out = Places::new();
    let mut names = BTreeSet::new();
    let lists = p
        .inbounds
        .iter()
        .chain(&p.outbounds)
        .map(|place| (r.place_name(place), place.policies))
        .chain(p.proxy_wide.map(|l| ("proxy".to_string(), l)));
    for (place, list) in lists {
        names.insert(place.clone());
        for &c in &r.lists[list] {
            let conf = &r.confs[c];
            out.insert((place.clone(), conf.kind, conf.when.clone()), conf);
        }
    }
    (out, names)
}

fn proxies(base: &Report, head: &Report) -> Vec<ProxyChange> {
    let base_by_dir: HashMap<&str, &ProxyRow> = base.proxies.iter().map(|p| (p.dir.as_str(), p)).collect();
    let head_dirs: BTreeSet<&str> = head.proxies.iter().map(|p| p.dir.as_str()).collect();
    let mut out = Vec::new();
    for (i, p) in head.proxies.iter().enumerate() {
        let Some(old) = base_by_dir.get(p.dir.as_str()) else {
            out.push(ProxyChange { dir: p.dir.clone(), status: "added", proxy: Some(i), changes: Vec::new() });
            continue;
        };
        let changes = proxy_changes(base, old, head, p);
        if !changes.is_empty() {
            out.push(ProxyChange { dir: p.dir.clone(), status: "changed", proxy: Some(i), changes });
        }
    }
    for p in base.proxies.iter().filter(|p| !head_dirs.contains(p.dir.as_str())) {
        out.push(ProxyChange { dir: p.dir.clone(), status: "removed", proxy: None, changes: Vec::new() });
    }
    out.sort_by(|a, b| a.dir.cmp(&b.dir));
    out
}

fn proxy_changes(base: &Report, old: &ProxyRow, head: &Report, new: &ProxyRow) -> Vec<FieldChange> {
    let (before, before_places) = places(base, old);
    let (after, after_places) = places(head, new);
    let mut out = Vec::new();
    let whole = |place: &str, before: Option<&str>, after: Option<&str>| FieldChange {
        place: place.to_string(),
        kind: String::new(),
        field: String::new(),
        before: before.map(|s| Value::String(s.to_string())),
        after: after.map(|s| Value::String(s.to_string())),
        by: None,
    };
    for place in after_places.difference(&before_places) {
        out.push(whole(place, None, Some("added")));
    }
    for place in before_places.difference(&after_places) {
        out.push(whole(place, Some("removed"), None));
    }
    let keys: BTreeSet<_> = before.keys().chain(after.keys()).collect();
    for key in keys {
        let (place, kind, when) = key;
        if !before_places.contains(place) || !after_places.contains(place) {
            continue;
        }
        let (b, a) = (before.get(key), after.get(key));
        if b.map(|c| &c.conf) == a.map(|c| &c.conf) {
            continue;
        }
        let place = match when {
            Some(w) => format!("{place} ({w})"),
            None => place.clone(),
        };
        let fields: BTreeSet<&String> = b.into_iter().chain(a).flat_map(|c| c.fields.keys()).collect();
        for field in fields {
            let vb = b.and_then(|c| c.conf.pointer(field)).cloned();
            let va = a.and_then(|c| c.conf.pointer(field)).cloned();
            if vb == va {
                continue;
            }
            let by = a.and_then(|c| c.fields.get(field)).and_then(|&o| a?.origins.get(o)).map(|o| o.policy);
            out.push(FieldChange {
                place: place.clone(),
                kind: kind.to_string(),
                field: crate::explain::dotted(field),
                before: vb,
                after: va,
                by,
            });
        }
    }
    out
}

/// The verdicts of a column of the access matrix, one byte per client.
fn row(r: &Report, column: usize) -> Option<&[u8]> {
    let id = *r.access.row_of.get(column)?;
    r.access.rows.get(id).map(|s| s.as_bytes())
}

/// Pairs whose verdict differs, matched across the reports by service identity.
fn access(base: &Report, head: &Report) -> (Vec<AccessChange>, usize) {
    let base_index: HashMap<String, usize> = (0..base.services.len()).map(|s| (service_key(base, s), s)).collect();
    let to_base: Vec<Option<usize>> =
        (0..head.services.len()).map(|s| base_index.get(&service_key(head, s)).copied()).collect();
    let base_client: HashMap<usize, usize> = base.access.clients.iter().enumerate().map(|(i, &c)| (c, i)).collect();
    let base_column: HashMap<usize, usize> =
        base.access.destinations.iter().enumerate().map(|(i, &d)| (d, i)).collect();
    let mut out = Vec::new();
    let mut total = 0;
    for (column, &d) in head.access.destinations.iter().enumerate() {
        let Some(after_row) = row(head, column) else { continue };
        let before_row = to_base[d].and_then(|b| base_column.get(&b)).and_then(|&col| row(base, col));
        for (i, &c) in head.access.clients.iter().enumerate() {
            let after = after_row.get(i).copied().unwrap_or(b'-');
            let before = to_base[c]
                .and_then(|b| base_client.get(&b))
                .and_then(|&bi| before_row?.get(bi).copied())
                .unwrap_or(ABSENT);
            if before != after {
                total += 1;
                if out.len() < MAX_ACCESS_CHANGES {
                    out.push(AccessChange {
                        client: c,
                        destination: d,
                        before: char::from(before),
                        after: char::from(after),
                    });
                }
            }
        }
    }
    (out, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::build::tests::{MESH, WEB_TO_BACKEND, mesh_of, report_of};

    fn report_of_texts(action: &str) -> Report {
        report_of(mesh_of(&WEB_TO_BACKEND.replace("ACTION", action), MESH))
    }

    #[test]
    fn a_flipped_permission_shows_per_proxy_and_per_pair() {
        let base = report_of_texts("Allow");
        let head = report_of_texts("Deny");
        let d = diff(&base, &head, "base".into());
        assert_eq!(d.access_total, 1);
        let a = &d.access[0];
        assert_eq!(
            (head.services[a.client].name.as_str(), head.services[a.destination].name.as_str()),
            ("web", "backend")
        );
        assert_eq!((a.before, a.after), ('A', 'D'));
        assert_eq!(d.proxies.len(), 1);
        let p = &d.proxies[0];
        assert_eq!((p.dir.as_str(), p.status), ("m/backend-1", "changed"));
        let c = &p.changes[0];
        assert_eq!((c.kind.as_str(), c.field.as_str()), ("MeshTrafficPermission", "action"));
        assert_eq!((c.before.clone(), c.after.clone()), (Some("Allow".into()), Some("Deny".into())));
        assert!(diff(&head, &head, "same".into()).proxies.is_empty());
    }

    #[test]
    fn outbounds_are_told_apart_by_their_service() {
        let timeout = |idle: &str| {
            format!(
                "type: MeshTimeout\nname: t\nmesh: m\nspec:\n  targetRef:\n    kind: Mesh\n  to:\n    - targetRef:\n\
                 \x20       kind: Mesh\n      default:\n        idleTimeout: {idle}\n"
            )
        };
        let base = report_of(mesh_of(&timeout("10s"), MESH));
        let head = report_of(mesh_of(&timeout("20s"), MESH));
        let d = diff(&base, &head, "base".into());
        let web = d.proxies.iter().find(|p| p.dir == "m/web-1").expect("web-1 changes");
        let places: Vec<&str> =
            web.changes.iter().filter(|c| c.field == "idleTimeout").map(|c| c.place.as_str()).collect();
        assert_eq!(
            places,
            ["MeshService backend port 8080", "MeshService other port 8080", "MeshService web port 8080"]
        );
    }

    #[test]
    fn a_change_to_one_zones_service_is_told_from_the_other_zones() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/multizone-services");
        let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
            .map(|p| (p.display().to_string(), std::fs::read_to_string(&p).unwrap()))
            .collect();
        files.sort();
        let base = report_of(files.clone());
        files.push((
            "timeout.yaml".into(),
            "type: MeshTimeout\nname: east-redis\nmesh: multizone\nspec:\n  targetRef:\n    kind: Mesh\n  to:\n\
             \x20   - targetRef:\n        kind: MeshService\n        labels:\n          kuma.io/display-name: redis\n\
             \x20         kuma.io/zone: zone-east\n      default:\n        idleTimeout: 42s\n"
                .into(),
        ));
        let head = report_of(files);
        let d = diff(&base, &head, "base".into());
        let places: BTreeSet<&str> = d
            .proxies
            .iter()
            .flat_map(|p| &p.changes)
            .filter(|c| c.field == "idleTimeout")
            .map(|c| c.place.as_str())
            .collect();
        assert_eq!(places.into_iter().collect::<Vec<_>>(), ["MeshService redis (zone zone-east) port 6379"]);
    }

    #[test]
    fn a_base_with_errors_compares_only_what_it_has() {
        let base = report_of(vec![("bad.yaml".into(), "type: Mesh\nname: m\nbogus: 1\n".into())]);
        let head = report_of_texts("Allow");
        let d = diff(&base, &head, "base".into());
        assert!(d.base_has_errors);
        assert!(d.proxies.is_empty() && d.access.is_empty() && d.access_total == 0);
        assert!(!d.findings_removed.is_empty(), "the base's errors are gone in the input");
    }
}
