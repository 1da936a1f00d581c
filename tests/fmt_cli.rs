//! `meshc fmt` on the command line: --check / --list exit codes and output,
//! in-place rewrites (and no write when nothing changes), stdin to stdout.

mod common;

use std::time::Duration;

const UNFORMATTED: &str = "kind: MeshTimeout\napiVersion: kuma.io/v1alpha1\nmetadata:\n    name: t  # the name\nspec:\n    to:\n        - targetRef: {kind: Mesh}\n          default: {idleTimeout: 1m}\n";
const FORMATTED: &str = "apiVersion: kuma.io/v1alpha1\nkind: MeshTimeout\nmetadata:\n  name: t # the name\nspec:\n  to:\n  - targetRef: {kind: Mesh}\n    default: {idleTimeout: 1m}\n";

fn fmt_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = common::meshc();
    cmd.current_dir(dir).arg("fmt").args(args);
    common::run_bounded(cmd, None, Duration::from_secs(60))
}

#[test]
fn check_reports_a_diff_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    common::write(dir.path(), "a.yaml", UNFORMATTED);
    let out = fmt_in(dir.path(), &["--check", "."]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("--- a.yaml\n+++ a.yaml\n"), "{stdout}");
    assert!(stdout.contains("+apiVersion: kuma.io/v1alpha1"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 1 files would be reformatted"));
    assert_eq!(std::fs::read_to_string(dir.path().join("a.yaml")).unwrap(), UNFORMATTED);
}

#[test]
fn check_passes_on_formatted_input() {
    let dir = tempfile::tempdir().unwrap();
    common::write(dir.path(), "a.yaml", FORMATTED);
    let out = fmt_in(dir.path(), &["--check"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.stdout.is_empty());
}

#[test]
fn list_prints_paths_only() {
    let dir = tempfile::tempdir().unwrap();
    common::write(dir.path(), "a.yaml", UNFORMATTED);
    common::write(dir.path(), "b.yaml", FORMATTED);
    let out = fmt_in(dir.path(), &["--list", "."]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "a.yaml\n");
    assert_eq!(std::fs::read_to_string(dir.path().join("a.yaml")).unwrap(), UNFORMATTED);
}

#[test]
fn rewrites_in_place_and_leaves_formatted_files_alone() {
    let dir = tempfile::tempdir().unwrap();
    let a = common::write(dir.path(), "a.yaml", UNFORMATTED);
    let b = common::write(dir.path(), "b.yaml", FORMATTED);
    let other = "kind: ConfigMap\napiVersion: v1\ndata:\n    z: 1\n";
    let c = common::write(dir.path(), "c.yaml", other);
    let broken = "spec: [unclosed\n";
    let d = common::write(dir.path(), "d.yaml", broken);
    let mtime = |p: &std::path::Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let (b_before, c_before) = (mtime(&b), mtime(&c));
    std::thread::sleep(Duration::from_millis(20));
    let out = fmt_in(dir.path(), &[]);
    // The other files are formatted; the one that does not parse fails the run.
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&a).unwrap(), FORMATTED);
    assert_eq!(std::fs::read_to_string(&c).unwrap(), other);
    assert_eq!(std::fs::read_to_string(&d).unwrap(), broken);
    assert_eq!(mtime(&b), b_before, "an unchanged file was written");
    assert_eq!(mtime(&c), c_before, "a non-kuma file was written");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MESH1001") && stderr.contains("MESH0004"), "{stderr}");
    // A second run changes nothing (and passes, once the broken file is gone).
    std::fs::remove_file(&d).unwrap();
    let a_after = mtime(&a);
    std::thread::sleep(Duration::from_millis(20));
    let again = fmt_in(dir.path(), &["--check"]);
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(mtime(&a), a_after);
}

#[test]
fn stdin_goes_to_stdout() {
    let mut cmd = common::meshc();
    cmd.args(["fmt", "-"]);
    let out = common::run_bounded(cmd, Some(UNFORMATTED.as_bytes()), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout), FORMATTED);

    let mut cmd = common::meshc();
    cmd.args(["fmt", "--check", "-"]);
    let out = common::run_bounded(cmd, Some(UNFORMATTED.as_bytes()), Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("--- <stdin>"));
}

#[test]
fn missing_path_is_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = fmt_in(dir.path(), &["nope.yaml"]);
    assert_eq!(out.status.code(), Some(3));
}

/// `fmt --check` prints a diff of the user's files: a private key in them (a
/// MeshExternalService `clientKey`) is masked, also where a hunk starts inside it.
#[test]
fn check_never_prints_a_private_key() {
    let key = "-----BEGIN PRIVATE KEY-----\n          MC4CAQAwBQYDK2VwBCIEIFixtureKeyBodyLineOne0000000000\n          FixtureKeyBodyLineTwo11111111111111111111111\n          -----END PRIVATE KEY-----\n";
    let doc = format!(
        "type: MeshExternalService\nname: ext\nmesh: default\nspec:\n  tls:\n    verification:\n      clientKey:\n        inlineString: |\n          {key}    enabled: true\n  match: {{port: 443, protocol: tcp}}\n  endpoints: [{{address: 1.1.1.1, port: 443}}]\n"
    );
    let dir = tempfile::tempdir().unwrap();
    common::write(dir.path(), "k.yaml", &doc);
    let out = fmt_in(dir.path(), &["--check", "."]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "the keys are reordered: {stdout}");
    assert!(stdout.contains("+  match:") || stdout.contains("-  match:"), "a real diff: {stdout}");
    for secret in ["FixtureKeyBodyLineOne", "FixtureKeyBodyLineTwo", "MC4CAQAw"] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
    }
}

/// Standard input together with a path that cannot be read still goes to stdout,
/// and nothing named `<stdin>` is written.
#[test]
fn stdin_with_an_unreadable_path_goes_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = common::meshc();
    cmd.current_dir(dir.path()).args(["fmt", "-", "missing.yaml"]);
    let out = common::run_bounded(cmd, Some(UNFORMATTED.as_bytes()), Duration::from_secs(60));
    assert_eq!(String::from_utf8_lossy(&out.stdout), FORMATTED);
    assert_eq!(out.status.code(), Some(3), "the missing path is an input error");
    assert!(!dir.path().join("<stdin>").exists());
}

/// A file that does not parse is left as it is, and fails `fmt` and `fmt --check`
/// (a hook must not pass it as formatted).
#[test]
fn a_file_that_does_not_parse_fails() {
    let dir = tempfile::tempdir().unwrap();
    common::write(dir.path(), "bad.yaml", "type: Mesh\nname: [a\n");
    for args in [&["--check", "."][..], &["."][..]] {
        let out = fmt_in(dir.path(), args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains("error[MESH0004]"));
    }
    assert_eq!(std::fs::read_to_string(dir.path().join("bad.yaml")).unwrap(), "type: Mesh\nname: [a\n");
}
