//! The command-line contract: exit codes and output formats, which scripts rely on.

mod common;

use common::{run, write};

const CLEAN: &str = "\
apiVersion: kuma.io/v1alpha1
kind: MeshTimeout
metadata:
  name: timeouts
  namespace: kuma-system
spec:
  targetRef:
    kind: Mesh
  to:
    - targetRef:
        kind: Mesh
      default:
        connectionTimeout: 2s
";

const BROKEN: &str = "\
type: MeshTimeout
name: broken
mesh: default
spec:
  to:
    - targetRef:
        kind: Mesh
      default:
        connectionTimeout: soon
";

const FORMATS: &[&str] = &["text", "json", "sarif", "junit", "github"];

fn code(out: &std::process::Output) -> i32 {
    out.status.code().expect("exited normally")
}

#[test]
fn exit_codes_are_the_same_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let clean = write(dir.path(), "clean.yaml", CLEAN);
    let broken = write(dir.path(), "broken.yaml", BROKEN);
    let missing = dir.path().join("nope.yaml");
    for format in FORMATS {
        let f = ["--format", format];
        let out = run(&[&["validate"], &f[..], &[clean.to_str().unwrap()]].concat());
        assert_eq!(code(&out), 0, "{format} clean: {}", String::from_utf8_lossy(&out.stderr));
        let out = run(&[&["validate"], &f[..], &[broken.to_str().unwrap()]].concat());
        assert_eq!(code(&out), 1, "{format} broken");
        let out = run(&[&["validate"], &f[..], &[missing.to_str().unwrap()]].concat());
        assert_eq!(code(&out), 3, "{format} unreadable");
        let out = run(&[&["validate", "--no-such-flag"], &f[..]].concat());
        assert_eq!(code(&out), 2, "{format} usage");
    }
}

#[test]
fn findings_point_at_file_line_col_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write(dir.path(), "broken.yaml", BROKEN);
    let path = broken.to_str().unwrap();
    let text = run(&["validate", "--format", "text", path]);
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(stderr.contains(&format!("{path}:9:28: error[MESH3005]")), "{stderr}");
    assert!(stderr.contains("1 resource in 1 file: 1 error, 0 warnings"), "{stderr}");

    let json: serde_json::Value = serde_json::from_slice(&run(&["validate", "--format", "json", path]).stdout).unwrap();
    let f = &json["findings"][0];
    assert_eq!((f["code"].as_str(), f["line"].as_u64(), f["column"].as_u64()), (Some("MESH3005"), Some(9), Some(28)));
    assert_eq!(f["field"], "spec.to[0].default.connectionTimeout");
    assert_eq!(f["resource"]["name"], "broken");

    let sarif: serde_json::Value =
        serde_json::from_slice(&run(&["validate", "--format", "sarif", path]).stdout).unwrap();
    let r = &sarif["runs"][0]["results"][0];
    assert_eq!(r["ruleId"], "MESH3005");
    assert_eq!(r["locations"][0]["physicalLocation"]["region"]["startLine"], 9);
    assert_eq!(r["locations"][0]["physicalLocation"]["region"]["startColumn"], 28);

    let junit = String::from_utf8(run(&["validate", "--format", "junit", path]).stdout).unwrap();
    assert!(junit.contains(r#"<failure type="MESH3005""#), "{junit}");
    assert!(junit.contains(&format!("{path}:9:28")), "{junit}");

    let github = String::from_utf8(run(&["validate", "--format", "github", path]).stdout).unwrap();
    assert!(github.starts_with(&format!("::error file={path},line=9,col=28")), "{github}");
}

#[test]
fn fail_level_warning_fails_on_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "kuma.yaml", "apiVersion: kuma.io/v1alpha1\nkind: TrafficRoute\nmetadata: {name: x}\n");
    let p = p.to_str().unwrap();
    assert_eq!(code(&run(&["validate", p])), 0);
    assert_eq!(code(&run(&["validate", "--fail-level", "warning", p])), 1);
}

#[test]
fn json_is_one_document_even_with_thousands_of_findings() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(&format!("---\ntype: MeshTimeout\nname: t{i}\nmesh: default\nspec:\n  to: [{{targetRef: {{kind: Nope}}, default: {{idleTimeout: x}}}}]\n"));
    }
    let p = write(dir.path(), "many.yaml", &text);
    let out = run(&["validate", "--format", "json", p.to_str().unwrap()]);
    assert_eq!(code(&out), 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(v["findings"].as_array().unwrap().len(), 6000);
    assert_eq!(v["summary"]["errors"], 6000);
}

#[test]
fn sarif_validates_against_the_sarif_2_1_0_schema() {
    let Some(schema) = sarif_schema() else {
        assert!(std::env::var_os("CI").is_none(), "MESHC_SARIF_SCHEMA must be set in CI (scripts/test.sh fetches it)");
        eprintln!("skipping: set MESHC_SARIF_SCHEMA to the SARIF 2.1.0 JSON schema (scripts/test.sh does)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let broken = write(dir.path(), "broken.yaml", BROKEN);
    let dup = write(dir.path(), "dup.yaml", &format!("{CLEAN}---\n{CLEAN}"));
    let out = run(&["validate", "--format", "sarif", broken.to_str().unwrap(), dup.to_str().unwrap()]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("SARIF schema compiles");
    let errors: Vec<String> = validator.iter_errors(&doc).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    assert!(errors.is_empty(), "SARIF output is invalid: {errors:#?}");
    // The check has teeth: a document with a wrong version is rejected.
    let mut broken = doc.clone();
    broken["version"] = "2.0.0".into();
    assert!(!validator.is_valid(&broken));
    assert!(doc["runs"][0]["results"].as_array().unwrap().len() >= 2);
}

/// Every SARIF rule carries its code's page as help (code scanning shows it with
/// each alert) and links to that page.
#[test]
fn sarif_rules_carry_each_codes_page() {
    let dir = tempfile::tempdir().unwrap();
    let broken = write(dir.path(), "broken.yaml", BROKEN);
    let out = run(&["validate", "--format", "sarif", broken.to_str().unwrap()]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = doc["runs"][0]["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), meshc::findings::codes::ALL.len());
    for rule in rules {
        let id = rule["id"].as_str().unwrap();
        assert!(rule["help"]["markdown"].as_str().unwrap().starts_with(&format!("# {id}: ")), "{rule}");
        assert!(rule["help"]["text"].as_str().unwrap().contains(&format!("meshc rule {id}")), "{rule}");
        assert!(rule["helpUri"].as_str().unwrap().ends_with(&format!("/docs/findings/{id}.md")), "{rule}");
    }
}

fn sarif_schema() -> Option<serde_json::Value> {
    let path = std::env::var_os("MESHC_SARIF_SCHEMA")?;
    let text = std::fs::read_to_string(path).ok()?;
    // The official schema's `language` pattern has an unescaped `]`, a literal in
    // ECMAScript regexes but an error for the Rust regex engine: escape it.
    let text = text.replace(r#"[a-zA-Z]{2}]?$"#, r#"[a-zA-Z]{2}\\]?$"#);
    serde_json::from_str(&text).ok()
}

#[test]
fn stdin_is_read_with_a_dash() {
    let mut cmd = common::meshc();
    cmd.args(["validate", "--format", "json", "-"]);
    let out = common::run_bounded(cmd, Some(BROKEN.as_bytes()), std::time::Duration::from_secs(30));
    assert_eq!(code(&out), 1);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["findings"][0]["file"], "<stdin>");
    assert_eq!(v["findings"][0]["line"], 9);
}

#[test]
fn suppression_by_flag_and_by_label() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "broken.yaml", BROKEN);
    let p = p.to_str().unwrap();
    assert_eq!(code(&run(&["validate", "--suppress", "MESH3005", p])), 0);
    assert_eq!(code(&run(&["validate", "--suppress", "MESH300*=MeshTimeout/bro*", p])), 0);
    assert_eq!(code(&run(&["validate", "--suppress", "MESH3005=MeshRetry/*", p])), 1);
    let labelled = BROKEN.replace("mesh: default\n", "mesh: default\nlabels:\n  meshc.io/suppress: \"MESH3005\"\n");
    let q = write(dir.path(), "labelled.yaml", &labelled);
    assert_eq!(code(&run(&["validate", q.to_str().unwrap()])), 0);
    // A bad suppression is a usage error.
    assert_eq!(code(&run(&["validate", "--suppress", "MESH3005=nokind", p])), 2);
}

#[test]
fn list_codes_prints_the_registry() {
    let out = run(&["validate", "--list-codes"]);
    assert_eq!(code(&out), 0);
    let text = String::from_utf8(out.stdout).unwrap();
    for c in meshc::findings::codes::ALL {
        assert!(text.contains(c.id), "{} missing", c.id);
    }
    let json: serde_json::Value =
        serde_json::from_slice(&run(&["validate", "--list-codes", "--format", "json"]).stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), meshc::findings::codes::ALL.len());
}

#[test]
fn schema_command_writes_what_is_committed() {
    let schemas = common::root().join("schemas");
    assert_eq!(code(&run(&["schema", "--check", "--out", schemas.to_str().unwrap()])), 0);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(code(&run(&["schema", "--out", dir.path().to_str().unwrap()])), 0);
    // One per kind, and all.json for any kind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), meshc::model::Kind::ALL.len() + 1);
    assert!(dir.path().join("all.json").is_file());
}

#[test]
fn completions_and_help() {
    for shell in ["bash", "zsh", "fish"] {
        let out = run(&["completions", shell]);
        assert_eq!(code(&out), 0);
        assert!(String::from_utf8_lossy(&out.stdout).contains("validate"));
    }
    let help = String::from_utf8(run(&["validate", "--help"]).stdout).unwrap();
    assert!(help.contains("--fail-level") && help.contains("Examples:"), "{help}");
    assert_eq!(code(&run(&["--version"])), 0);
}

#[test]
fn ignore_unknown_skips_other_documents() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n");
    let p = p.to_str().unwrap();
    assert_eq!(code(&run(&["validate", p])), 1);
    assert_eq!(code(&run(&["validate", "--ignore-unknown", p])), 0);
}

#[test]
fn output_does_not_depend_on_argument_order_or_threads() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.yaml", BROKEN);
    let b = write(dir.path(), "b/b.yaml", &BROKEN.replace("broken", "other"));
    let c = write(dir.path(), "c.yaml", &format!("{CLEAN}---\n{CLEAN}"));
    let (a, b, c) = (a.to_str().unwrap(), b.to_str().unwrap(), c.to_str().unwrap());
    let one = run(&["validate", "--format", "json", "-j", "1", a, b, c]).stdout;
    let two = run(&["validate", "--format", "json", "-j", "2", c, b, a]).stdout;
    let dir_walk = run(&["validate", "--format", "json", dir.path().to_str().unwrap()]).stdout;
    assert_eq!(String::from_utf8_lossy(&one), String::from_utf8_lossy(&two));
    assert_eq!(one, dir_walk.clone(), "walking the directory finds the same files in the same order");
    let v: serde_json::Value = serde_json::from_slice(&one).unwrap();
    assert_eq!(v["summary"]["errors"], 3, "2 bad durations and 1 duplicate");
}

#[test]
fn walking_skips_hidden_gitignored_and_meshcignored_paths() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "kept.yaml", BROKEN);
    write(dir.path(), "generated/out.yaml", BROKEN);
    write(dir.path(), "drafts/wip.yaml", BROKEN);
    write(dir.path(), ".hidden/x.yaml", BROKEN);
    write(dir.path(), "notes.txt", "not yaml");
    write(dir.path(), ".gitignore", "generated/\n");
    write(dir.path(), ".meshcignore", "# work in progress\ndrafts\n");
    let json = |args: &[&str]| -> serde_json::Value {
        serde_json::from_slice(&run(&[&["validate", "--format", "json"], args].concat()).stdout).unwrap()
    };
    let walked = json(&[dir.path().to_str().unwrap()]);
    assert_eq!(walked["summary"]["files"], 1, "{walked}");
    assert!(walked["findings"][0]["file"].as_str().unwrap().ends_with("kept.yaml"));
    // A path named on the command line is always read.
    let named = dir.path().join("drafts/wip.yaml");
    assert_eq!(json(&[named.to_str().unwrap()])["summary"]["errors"], 1);
}

#[test]
fn suppression_labels_apply_to_their_own_document_only() {
    let dir = tempfile::tempdir().unwrap();
    let doc = |zone: &str, label: &str| {
        format!(
            "type: MeshTimeout\nname: t\nmesh: default\nlabels:\n  kuma.io/origin: zone\n  kuma.io/zone: {zone}\n{label}spec:\n  to: [{{targetRef: {{kind: Mesh}}, default: {{connectionTimeout: soon}}}}]\n"
        )
    };
    write(dir.path(), "a.yaml", &doc("east", "  meshc.io/suppress: MESH3005\n"));
    write(dir.path(), "b.yaml", &doc("west", ""));
    let out = run(&["validate", "--format", "json", dir.path().to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let files: Vec<&str> = v["findings"].as_array().unwrap().iter().map(|f| f["file"].as_str().unwrap()).collect();
    assert_eq!(files.len(), 1, "{v}");
    assert!(files[0].ends_with("b.yaml"));
    // Envelope findings carry their resource, so they can be suppressed too.
    let p = write(
        dir.path(),
        "env/extra.yaml",
        "type: MeshTimeout\nname: e\nmesh: default\nextra: 1\nspec:\n  to: [{targetRef: {kind: Mesh}, default: {idleTimeout: 1s}}]\n",
    );
    let v: serde_json::Value =
        serde_json::from_slice(&run(&["validate", "--format", "json", p.to_str().unwrap()]).stdout).unwrap();
    assert_eq!(v["findings"][0]["resource"]["name"], "e");
    assert_eq!(code(&run(&["validate", "--suppress", "MESH2001=MeshTimeout/e", p.to_str().unwrap()])), 0);
    assert_eq!(code(&run(&["validate", "--suppress", "", p.to_str().unwrap()])), 2);
}

#[cfg(unix)]
#[test]
fn a_file_reached_twice_is_reported_under_one_name_whatever_the_order() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "d/a.yaml", "type: Mesh\nname: m1\n");
    write(dir.path(), "d/b.yaml", "type: Mesh\nname: m1\n");
    std::os::unix::fs::symlink(dir.path().join("d/a.yaml"), dir.path().join("link.yaml")).unwrap();
    let (d, l) = (dir.path().join("d"), dir.path().join("link.yaml"));
    let one = run(&["validate", "--format", "json", d.to_str().unwrap(), l.to_str().unwrap()]).stdout;
    let two = run(&["validate", "--format", "json", l.to_str().unwrap(), d.to_str().unwrap()]).stdout;
    assert_eq!(String::from_utf8_lossy(&one), String::from_utf8_lossy(&two));
}

#[test]
fn snippet_header_shows_the_real_column_of_clipped_lines() {
    let dir = tempfile::tempdir().unwrap();
    let pad = "x".repeat(300);
    let text = format!(
        "{{\"type\": \"MeshTimeout\", \"name\": \"t\", \"mesh\": \"default\", \"labels\": {{\"pad\": \"{pad}\"}}, \"spec\": {{\"to\": [{{\"targetRef\": {{\"kind\": \"Mesh\"}}, \"default\": {{\"idleTimeout\": \"soon\"}}}}]}}}}\n"
    );
    let p = write(dir.path(), "wide.json", &text);
    let stderr = String::from_utf8(run(&["validate", p.to_str().unwrap()]).stderr).unwrap();
    let first = stderr.lines().next().unwrap();
    let at = first.split(": error").next().unwrap();
    assert!(stderr.contains(&format!("[{at}]")), "header column differs from {at}:\n{stderr}");
}

/// A near miss of a kind, a Universal type, a targetRef kind or an enum value gets
/// the intended spelling, as an unknown field already does.
#[test]
fn misspellings_get_did_you_mean() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "apiVersion: kuma.io/v1alpha1\nkind: MeshServce\nmetadata: {name: a, namespace: kuma-system}\nspec: {}\n",
            "warning[MESH1002]",
            "unknown kuma.io kind `MeshServce`; it is ignored, did you mean `MeshService`?",
        ),
        ("type: MeshTimout\nname: t\nmesh: default\nspec: {}\n", "error[MESH1001]", "did you mean `MeshTimeout`?"),
        (
            "type: MeshTimeout\nname: t\nmesh: default\nspec:\n  targetRef: {kind: MeshSevice, name: x}\n  \
             to:\n  - targetRef: {kind: Mesh}\n    default: {idleTimeout: 10s}\n",
            "error[MESH3001]",
            "value 'MeshSevice' is not supported, did you mean `MeshService`?",
        ),
        (
            "type: Mesh\nname: m\nmtls:\n  enabledBackend: ca\n  backends:\n  - name: ca\n    type: builtin\n    \
             mode: Strickt\n",
            "error[MESH3009]",
            "\"mode\" must be one of [\"STRICT\", \"PERMISSIVE\"], did you mean `STRICT`?",
        ),
        (
            "type: MeshTrafficPermission\nname: p\nmesh: default\nspec:\n  targetRef: {kind: Mesh}\n  from:\n  \
             - targetRef: {kind: Mesh}\n    default: {action: Alow}\n",
            "error[MESH2004]",
            "did you mean `Allow`?",
        ),
        (
            "type: MeshTimeout\nname: t\nmesh: default\nspec:\n  tagetRef: {kind: Mesh}\n",
            "error[MESH2001]",
            "unknown field \"tagetRef\", did you mean `targetRef`?",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (i, (yaml, code_, hint)) in cases.iter().enumerate() {
        let file = write(dir.path(), &format!("case{i}.yaml"), yaml);
        let out = run(&["validate", "--concise", "--color", "never", file.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.lines().any(|l| l.contains(code_) && l.contains(hint)),
            "case {i}: want {code_} with {hint:?} in:\n{stderr}"
        );
    }
    // A name nowhere near a known one gets no guess.
    let file = write(dir.path(), "far.yaml", "type: Deployment\nname: d\n");
    let out = run(&["validate", "--concise", file.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("did you mean"));
}

/// `--quiet` on every command that prints a summary: at most the one result line
/// when all is well (errors would still be printed).
#[test]
fn quiet_silences_summaries() {
    let dir = tempfile::tempdir().unwrap();
    // One warning (MESH1002, an unknown kind), which every loud run reports.
    let mesh = "type: Mesh\nname: default\nmtls:\n  enabledBackend: ca-1\n  backends:\n  - name: ca-1\n    type: builtin\n\
                ---\ntype: Dataplane\nmesh: default\nname: web-1\nnetworking:\n  address: 10.0.0.1\n  inbound:\n  \
                - port: 8080\n    tags:\n      kuma.io/service: web\n\
                ---\napiVersion: kuma.io/v1alpha1\nkind: MeshServce\nmetadata: {name: a}\n";
    let input = write(dir.path(), "in/mesh.yaml", mesh);
    let input = input.to_str().unwrap();
    let out = dir.path().join("out");
    let secrets = dir.path().join("secrets");
    let (out, secrets) = (out.to_str().unwrap(), secrets.to_str().unwrap());
    let commands: [Vec<&str>; 5] = [
        vec!["validate", input],
        vec!["compile", input, "--out", out],
        vec!["compile", input, "--out", out, "--check"],
        vec!["diff", input, "--against", out],
        vec!["certs", input, "--out", secrets],
    ];
    for args in &commands {
        let loud = run(args);
        assert_eq!(code(&loud), 0, "{args:?}: {}", String::from_utf8_lossy(&loud.stderr));
        let loud_text = String::from_utf8_lossy(&loud.stderr);
        assert!(loud_text.contains("warning"), "{args:?} reports the warning without --quiet:\n{loud_text}");
        let quiet = run(&[&args[..], &["--quiet"]].concat());
        assert_eq!(code(&quiet), 0, "{args:?} --quiet");
        let stderr = String::from_utf8_lossy(&quiet.stderr);
        assert!(stderr.lines().count() <= 1, "{args:?} --quiet printed:\n{stderr}");
        assert!(!stderr.contains("MESH1002"), "{args:?} --quiet:\n{stderr}");
    }
}

/// `meshc rule CODE` prints the code's page (example and fix), with or without
/// the `MESH` prefix; an unknown code is a usage error with a suggestion.
#[test]
fn rule_prints_a_codes_page() {
    let out = common::run(&["rule", "mesh3005"]);
    assert_eq!(out.status.code(), Some(0));
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(page.starts_with("# MESH3005: invalid duration"), "{page}");
    assert!(page.contains("## Example") && page.contains("## Fix"), "{page}");
    assert_eq!(common::run(&["rule", "3005"]).stdout, out.stdout);

    let unknown = common::run(&["rule", "MESH3050"]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("did you mean `MESH3010`?"));

    let list = common::run(&["rule"]).stdout;
    assert_eq!(list, common::run(&["validate", "--list-codes"]).stdout, "one table of codes");
    let rows = String::from_utf8_lossy(&list).lines().filter(|l| l.starts_with("| MESH")).count();
    assert_eq!(rows, meshc::findings::codes::ALL.len());
}

/// A reader that closes the pipe early ends meshc quietly (as `cat`), not with a
/// write error or an internal error.
#[cfg(unix)]
#[test]
fn a_closed_stdout_ends_meshc_quietly() {
    use std::io::{BufRead, BufReader};
    use std::os::unix::process::ExitStatusExt;
    let mut child = common::meshc()
        .args(["explain", "--all", "--format", "json"])
        .arg(common::root().join("examples"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    // The reader is dropped here: the pipe is closed with most of the output (megabytes) unread.
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked") && !stderr.contains("MESH9001"), "{stderr}");
    assert!(out.status.success() || out.status.signal() == Some(libc::SIGPIPE), "{:?}", out.status);
}
