//! Hostile resource names: nothing a resource is called can make meshc write
//! outside the directory it was given (`compile --out`, `--format xds`, `certs
//! --out`), give two proxies one directory (even on a case-insensitive file
//! system), exceed a file system's 255-byte name limit, or panic. Names Kuma
//! rejects get MESH1004; here it is suppressed, so the writers are tested on
//! their own.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{meshc, run_bounded};
use meshc::emit::layout::{MAX_SEGMENT, ProxyId, ProxyKind, escape_segment};
use serde_json::{Value, json};

/// Names that have broken path handling somewhere: separators, dot segments,
/// option-like, control and bidi characters, non-ASCII, case twins, escape
/// lookalikes, Windows device names, and names whose escaped segment is longer
/// than NAME_MAX (253 and 300 ASCII bytes, 100 two-byte characters = 600 escaped bytes).
fn hostile_names() -> Vec<String> {
    let mut names: Vec<String> = [
        "/",
        "..",
        ".",
        "-rf",
        "--out",
        "a/b",
        "../../etc/x",
        "/etc/passwd",
        "a\tb",
        "a\u{7}b",
        "a\u{1b}[31mb",
        "é日本",
        "\u{202e}rtl",
        "Web",
        "web",
        "WEB",
        "a b",
        "%2E%2E",
        "%2e%2e",
        "~",
        "CON",
        "nul",
        "a:b",
        "a\\b",
        " ",
        "a.",
        ".hidden",
        "a..b",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.push("a".repeat(253));
    names.push("b".repeat(300));
    names.push("é".repeat(100));
    names.push(format!("{}.y", "x".repeat(254)));
    names
}

fn mesh(name: &str) -> Value {
    json!({"type": "Mesh", "name": name, "mtls": {"enabledBackend": "ca", "backends": [{"name": "ca", "type": "builtin"}]}})
}

fn dataplane(i: usize, name: &str, mesh: &str, zone: Option<&str>) -> Value {
    let mut dp = json!({
        "type": "Dataplane", "name": name, "mesh": mesh,
        "networking": {"address": format!("10.0.{}.{}", i / 250, i % 250 + 1),
                       "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web"}}]},
    });
    if let Some(zone) = zone {
        dp["labels"] = json!({ "kuma.io/zone": zone });
    }
    dp
}

/// The input for one kind of name: every hostile name used at once.
fn input(kind: &str) -> Vec<Value> {
    let names = hostile_names();
    let mut docs = vec![mesh("default")];
    match kind {
        "Dataplane" => docs.extend(names.iter().enumerate().map(|(i, n)| dataplane(i, n, "default", None))),
        "namespace" => docs.extend(names.iter().enumerate().map(|(i, n)| {
            json!({"apiVersion": "kuma.io/v1alpha1", "kind": "Dataplane", "mesh": "default",
                   "metadata": {"name": "web", "namespace": n},
                   "spec": {"networking": {"address": format!("10.0.0.{}", i + 1),
                                           "inbound": [{"port": 8080, "tags": {"kuma.io/service": "web"}}]}}})
        })),
        "Mesh" => {
            for (i, n) in names.iter().enumerate() {
                docs.push(mesh(n));
                docs.push(dataplane(i, "web", n, None));
            }
        }
        "zone" => {
            docs.extend(names.iter().enumerate().map(|(i, n)| dataplane(i, &format!("web-{i}"), "default", Some(n))))
        }
        "ZoneIngress" | "ZoneEgress" => {
            for (i, n) in names.iter().enumerate() {
                let mut z = json!({"type": kind, "name": n, "networking": {"address": format!("10.1.0.{}", i + 1), "port": 10001}});
                // The zone is hostile too: the next name.
                z["zone"] = json!(names[(i + 1) % names.len()]);
                if kind == "ZoneIngress" {
                    z["networking"]["advertisedAddress"] = json!(format!("203.0.113.{}", i + 1));
                    z["networking"]["advertisedPort"] = json!(10001);
                }
                docs.push(z);
            }
            docs.push(dataplane(0, "web", "default", Some("east")));
        }
        other => panic!("unknown kind {other}"),
    }
    docs
}

/// Every path under `dir`, relative, without following symbolic links.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let t = e.file_type().unwrap();
            assert!(!t.is_symlink(), "meshc made a symbolic link: {}", p.display());
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
            if t.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

struct Run {
    code: i32,
    stderr: String,
}

fn run_in(root: &Path, args: &[&str]) -> Run {
    let mut cmd = meshc();
    cmd.current_dir(root).args(args).args(["--suppress", "MESH1004", "--color", "never"]);
    let out = run_bounded(cmd, None, Duration::from_secs(120));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked") && !stderr.contains("MESH9001"), "{args:?}: meshc panicked: {stderr}");
    let code = out.status.code().unwrap_or(-1);
    assert!(code == 0 || code == 1, "{args:?}: exit {code}: {stderr}");
    Run { code, stderr }
}

/// The proxies' files in a compiled directory: every manifest path is distinct,
/// also when case is ignored, and exists.
fn check_manifest(out: &Path, expected_proxies: usize) {
    let manifest: Value = serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap();
    let proxies = manifest["proxies"].as_array().unwrap();
    assert_eq!(proxies.len(), expected_proxies, "{manifest}");
    let mut dirs = BTreeSet::new();
    for p in proxies {
        let bootstrap = p["bootstrap"].as_str().unwrap();
        assert!(out.join(bootstrap).is_file(), "{bootstrap}");
        let dir = bootstrap.rsplit_once('/').unwrap().0.to_ascii_lowercase();
        assert!(dirs.insert(dir.clone()), "two proxies share {dir} (ignoring case)");
    }
    // No proxy directory is inside another's.
    for a in &dirs {
        for b in &dirs {
            assert!(a == b || !b.starts_with(&format!("{a}/")), "{b} is inside {a}");
        }
    }
}

fn check_kind(kind: &str) {
    let root = tempfile::tempdir().unwrap();
    let docs = input(kind);
    let text: Vec<String> = docs.iter().map(|d| d.to_string()).collect();
    std::fs::create_dir(root.path().join("in")).unwrap();
    std::fs::write(root.path().join("in/in.yaml"), text.join("\n---\n")).unwrap();
    let sidecars = docs.iter().filter(|d| d["type"] == "Dataplane" || d["kind"] == "Dataplane").count();
    let zone_proxies = docs.iter().filter(|d| d["type"] == "ZoneIngress" || d["type"] == "ZoneEgress").count();

    let compiled = run_in(root.path(), &["compile", "in", "--out", "out", "--secrets-dir", "sec", "-q"]);
    assert_eq!(compiled.code, 0, "{kind}: {}", compiled.stderr);
    check_manifest(&root.path().join("out"), sidecars + zone_proxies);
    let xds = run_in(root.path(), &["compile", "in", "--out", "outx", "--format", "xds", "--secrets-dir", "sec", "-q"]);
    assert_eq!(xds.code, 0, "{kind}: {}", xds.stderr);
    check_manifest(&root.path().join("outx"), sidecars + zone_proxies);
    let certs = run_in(root.path(), &["certs", "in", "--out", "sec"]);
    if kind == "Mesh" {
        // Mesh names that cannot be in a SPIFFE URI stop `certs` with a clear error.
        assert_eq!(certs.code, 1, "{}", certs.stderr);
        assert!(certs.stderr.contains("cannot be a URI"), "{}", certs.stderr);
    } else {
        assert_eq!(certs.code, 0, "{kind}: {}", certs.stderr);
        let keys = walk(&root.path().join("sec")).iter().filter(|p| p.ends_with("key.pem")).count();
        let expected = if kind == "ZoneIngress" { 1 } else { sidecars + zone_proxies };
        assert_eq!(keys, expected, "{kind}: one private key per proxy that terminates mTLS");
    }
    // The terminal never gets an escape sequence from a name.
    for r in [&compiled, &xds, &certs] {
        assert!(!r.stderr.contains('\u{1b}') && !r.stderr.contains('\u{7}'), "{kind}: control bytes: {:?}", r.stderr);
    }

    // Nothing outside the named directories, and every name fits NAME_MAX.
    for p in walk(root.path()) {
        let top = p.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
        assert!(["in", "out", "outx", "sec"].contains(&top.as_str()), "{kind}: wrote {}", p.display());
        for c in p.components() {
            let len = c.as_os_str().len();
            assert!(len <= MAX_SEGMENT, "{kind}: {} has a {len}-byte name", p.display());
            let s = c.as_os_str().to_string_lossy();
            assert!(!s.starts_with('.') && !s.starts_with('-'), "{kind}: {} ", p.display());
        }
    }
}

#[test]
fn dataplane_names() {
    check_kind("Dataplane");
}

#[test]
fn kubernetes_namespaces() {
    check_kind("namespace");
}

#[test]
fn mesh_names() {
    check_kind("Mesh");
}

#[test]
fn zone_names() {
    check_kind("zone");
}

#[test]
fn zone_ingress_names() {
    check_kind("ZoneIngress");
}

#[test]
fn zone_egress_names() {
    check_kind("ZoneEgress");
}

/// A small deterministic generator (no dependency): xorshift.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A name from an alphabet of trouble: separators, dots, `%`, `~`, case,
    /// controls, non-ASCII; sometimes very long.
    fn name(&mut self) -> String {
        const ALPHABET: &[char] = &[
            'a', 'A', 'z', 'Z', '0', '.', '.', '/', '\\', '%', '~', '-', '_', ' ', '\t', '\u{1}', 'é', '日',
            '\u{202e}', ':',
        ];
        let len = match self.next() % 10 {
            0 => 200 + (self.next() % 200) as usize,
            _ => (self.next() % 8) as usize,
        };
        (0..len).map(|_| ALPHABET[(self.next() % ALPHABET.len() as u64) as usize]).collect()
    }
}

/// Property: for any names, a proxy's directory is relative, has only safe
/// segments that fit NAME_MAX, and different identities never share a
/// directory, also when case is folded.
#[test]
fn proxy_directories_are_safe_and_distinct_for_any_name() {
    let rounds = std::env::var("MESHC_NAME_ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seen: std::collections::HashMap<String, ProxyId> = std::collections::HashMap::new();
    for _ in 0..rounds {
        let kind = [ProxyKind::Dataplane, ProxyKind::ZoneIngress, ProxyKind::ZoneEgress][(rng.next() % 3) as usize];
        let id = ProxyId {
            mesh: if kind == ProxyKind::Dataplane { rng.name() } else { String::new() },
            zone: rng.next().is_multiple_of(2).then(|| rng.name()),
            namespace: rng.next().is_multiple_of(2).then(|| rng.name()),
            name: rng.name(),
            kind,
        };
        let dir = id.dir();
        for seg in dir.split('/') {
            assert!(!seg.is_empty() && seg.len() <= MAX_SEGMENT, "{id:?} -> {dir}");
            assert!(!seg.starts_with('.') && seg != ".." && !seg.contains(['\\', '\0']), "{id:?} -> {dir}");
            assert!(seg.bytes().all(|b| b.is_ascii_graphic()), "{id:?} -> {dir}");
        }
        // Zone proxies' scopes start with `_`; every other first segment comes from a mesh name.
        if let Some(other) = seen.insert(dir.to_ascii_lowercase(), id.clone()) {
            // Equal core names (`a.b` + no namespace vs `a` + namespace `b`) are Kuma's own ambiguity.
            let same = other.kind == id.kind
                && other.mesh == id.mesh
                && other.zone == id.zone
                && other.core_name() == id.core_name();
            assert!(same, "{other:?} and {id:?} share {dir}");
        }
    }
    assert_eq!(escape_segment(&"é".repeat(100)).len(), MAX_SEGMENT);
}
