//! `meshc report` on the command line: what it writes, its exit statuses, the
//! base it compares with (`--against`, `--against-git`), links to compiled
//! configs, and the same bytes for the same input. What the page shows in a
//! browser is `tests/report_browser.rs`.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use common::{meshc, root, run_bounded, write};

fn report(args: &[&str]) -> Output {
    let mut cmd = meshc();
    cmd.args(["report", "--color", "never"]).args(args);
    run_bounded(cmd, None, Duration::from_secs(120))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The JSON document a page carries.
fn data(page: &Path) -> serde_json::Value {
    let html = std::fs::read_to_string(page).unwrap();
    let start = html.find(r#"id="meshc-data">"#).expect("the data element") + r#"id="meshc-data">"#.len();
    let end = start + html[start..].find("</script>").unwrap();
    serde_json::from_str(&html[start..end]).expect("the data is JSON")
}

fn examples() -> String {
    root().join("examples").to_string_lossy().into_owned()
}

#[test]
fn the_examples_make_one_self_contained_page() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let out = report(&[&examples(), "--out", page.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("7 meshes"), "a summary line: {}", stderr(&out));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!doctype html>"));
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"), "nothing may load");
    for tag in ["<link", "<img", "src=\"http", "<iframe"] {
        assert!(!html.contains(tag), "the page holds {tag}");
    }
    let d = data(&page);
    assert_eq!(d["has_errors"], false);
    assert_eq!(d["proxies"].as_array().unwrap().len(), 28);
    // A Kubernetes Dataplane backs no generated MeshService: its kuma.io/service stands for it.
    let legacy = d["services"].as_array().unwrap().iter().find(|s| s["name"] == "demo-client_kuma-demo_svc_3000");
    assert_eq!(legacy.map(|s| s["kind"].clone()), Some("kuma.io/service".into()));
    // Only what the page needs: nothing of the temporary directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// The data the page of `examples/meshtls-progressive` carries, as reviewed in
/// `testdata/report/meshtls-progressive.json` (`MESHC_BLESS=1` rewrites it; review
/// the diff: access verdicts, origins, losses).
#[test]
fn the_report_data_of_an_example_is_its_golden() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("r.html");
    // Relative paths, so the golden does not name this machine's checkout.
    let mut cmd = meshc();
    cmd.current_dir(root()).args(["report", "examples/meshtls-progressive", "--out"]).arg(&page);
    let out = run_bounded(cmd, None, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let got = serde_json::to_string_pretty(&data(&page)).unwrap() + "\n";
    let golden = root().join("testdata/report/meshtls-progressive.json");
    if std::env::var_os("MESHC_BLESS").is_some() {
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        std::fs::write(&golden, &got).unwrap();
    }
    let want = std::fs::read_to_string(&golden).expect("the golden exists (MESHC_BLESS=1 writes it)");
    assert!(got == want, "the report data differs from {} (MESHC_BLESS=1 to update, then review)", golden.display());
}

#[test]
fn an_input_with_errors_gets_a_report_of_its_findings_and_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "in/mesh.yaml", "type: Mesh\nname: m\nbogus: 1\n");
    let page = dir.path().join("r.html");
    let out = report(&[dir.path().join("in").to_str().unwrap(), "--out", page.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("MESH2001"), "the errors are printed: {}", stderr(&out));
    let d = data(&page);
    assert_eq!(d["has_errors"], true);
    assert_eq!(d["findings"][0]["code"], "MESH2001");
    assert_eq!(d["findings"][0]["line"], 3);
}

#[test]
fn a_report_that_cannot_be_written_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("missing/r.html");
    let out = report(&[&examples(), "--out", page.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("cannot write"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn bad_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("r.html");
    let page = page.to_str().unwrap();
    let out = report(&[&examples(), "--out", page, "--against", "/nonexistent/base"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = report(&[&examples(), "--out", page, "--configs", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("meshc compile --out"), "{}", stderr(&out));
    let out = report(&[&examples(), "--out", page, "--against", "a", "--against-git", "HEAD"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!Path::new(page).exists());
}

#[test]
fn the_same_input_gives_the_same_bytes_whatever_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.html"), dir.path().join("b.html"));
    let out = report(&[&examples(), "--out", a.to_str().unwrap(), "-j", "1"]);
    assert_eq!(out.status.code(), Some(0));
    let out = report(&[&examples(), "--out", b.to_str().unwrap(), "-j", "2"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "the pages differ");
}

#[test]
fn configs_links_are_relative_to_the_report() {
    let dir = tempfile::tempdir().unwrap();
    // A directory name a URL would misread.
    let out_dir = dir.path().join("out #1");
    let mut compile = meshc();
    compile.args(["compile", &examples(), "--out", out_dir.to_str().unwrap()]);
    let compiled = run_bounded(compile, None, Duration::from_secs(120));
    assert_eq!(compiled.status.code(), Some(0), "{}", stderr(&compiled));
    let page = dir.path().join("site/report.html");
    std::fs::create_dir_all(page.parent().unwrap()).unwrap();
    let out = report(&[&examples(), "--out", page.to_str().unwrap(), "--configs", out_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = data(&page);
    for p in d["proxies"].as_array().unwrap() {
        let link = p["config"].as_str().unwrap_or_else(|| panic!("{} has a link", p["dir"]));
        assert!(link.starts_with("../out%20%231/proxies/"), "{link}");
        let path = percent_decode(link);
        assert!(page.parent().unwrap().join(&path).is_file(), "{path} exists");
    }
}

fn percent_decode(s: &str) -> String {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["-c", "user.name=meshc", "-c", "user.email=meshc@example.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .unwrap();
    assert!(status.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&status.stderr));
}

const MESH: &str = "type: Mesh\nname: m\nmtls:\n  enabledBackend: ca\n  backends:\n    - name: ca\n      type: builtin\n\
                    ---\ntype: Dataplane\nmesh: m\nname: web-1\nnetworking:\n  address: 10.0.0.1\n  inbound:\n\
                    \x20   - port: 8080\n      tags: {kuma.io/service: web, kuma.io/protocol: http}\n\
                    ---\ntype: Dataplane\nmesh: m\nname: backend-1\nnetworking:\n  address: 10.0.0.2\n  inbound:\n\
                    \x20   - port: 8080\n      tags: {kuma.io/service: backend, kuma.io/protocol: http}\n";

fn permission(action: &str) -> String {
    format!(
        "type: MeshTrafficPermission\nname: backend-from-web\nmesh: m\nspec:\n  targetRef:\n    kind: MeshSubset\n\
         \x20   tags: {{kuma.io/service: backend}}\n  from:\n    - targetRef:\n        kind: MeshSubset\n\
         \x20       tags: {{kuma.io/service: web}}\n      default: {{action: {action}}}\n"
    )
}

#[test]
fn against_git_shows_what_the_working_tree_changes() {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q"]);
    write(repo.path(), "policies/mesh.yaml", MESH);
    write(repo.path(), "policies/mtp.yaml", &permission("Allow"));
    // Not an export: the base is what the revision holds, export-ignore or not.
    write(repo.path(), ".gitattributes", "policies/** export-ignore\n");
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "base"]);
    write(repo.path(), "policies/mtp.yaml", &permission("Deny"));
    write(repo.path(), "policies/new/extra.yaml", "type: Mesh\nname: added\n");
    let page = repo.path().join("r.html");
    let policies = repo.path().join("policies");
    let out = report(&[policies.to_str().unwrap(), "--out", page.to_str().unwrap(), "--against-git", "HEAD"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = data(&page);
    let diff = &d["diff"];
    assert_eq!(diff["against"], "git HEAD");
    assert_eq!(diff["access_total"], 1, "{diff}");
    assert_eq!((diff["access"][0]["before"].as_str(), diff["access"][0]["after"].as_str()), (Some("A"), Some("D")));
    let changed: Vec<&str> = diff["proxies"].as_array().unwrap().iter().filter_map(|p| p["dir"].as_str()).collect();
    assert_eq!(changed, ["m/backend-1"]);
    // A path the base lacks (the new directory) is no error: everything in it is added.
    let new = repo.path().join("policies/new");
    let out = report(&[new.to_str().unwrap(), "--out", page.to_str().unwrap(), "--against-git", "HEAD"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(data(&page)["diff"]["services_added"].as_array().unwrap().len(), 0);
    // A base with errors: a warning, and a diff of findings only.
    write(repo.path(), "policies/bad.yaml", "type: Mesh\nname: x\nbogus: 1\n");
    git(repo.path(), &["add", "."]);
    git(repo.path(), &["commit", "-q", "-m", "broken"]);
    std::fs::remove_file(repo.path().join("policies/bad.yaml")).unwrap();
    let out = report(&[policies.to_str().unwrap(), "--out", page.to_str().unwrap(), "--against-git", "HEAD"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stderr(&out).contains("the base (git HEAD) has errors"), "{}", stderr(&out));
    let removed = &data(&page)["diff"]["findings_removed"][0];
    assert_eq!(removed["file"], "git HEAD:policies/bad.yaml", "{removed}");
    let out = report(&[policies.to_str().unwrap(), "--out", page.to_str().unwrap(), "--against-git", "no-such-ref"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no such revision"), "{}", stderr(&out));
}

#[test]
fn against_dir_compares_with_a_copy_of_the_base() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "base/mesh.yaml", MESH);
    write(dir.path(), "base/mtp.yaml", &permission("Deny"));
    write(dir.path(), "head/mesh.yaml", MESH);
    write(dir.path(), "head/mtp.yaml", &permission("Allow"));
    let page = dir.path().join("r.html");
    let out = report(&[
        dir.path().join("head").to_str().unwrap(),
        "--out",
        page.to_str().unwrap(),
        "--against",
        dir.path().join("base").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let d = data(&page);
    assert_eq!(d["diff"]["access"][0]["after"], "A");
    assert!(stderr(&out).contains("1 proxy changes, 1 service pairs' access"), "{}", stderr(&out));
}
