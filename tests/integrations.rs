//! The tools around meshc: the combined JSON Schema editors use, the man pages,
//! the GitHub Action's commands and the pre-commit hooks (run for real when
//! pre-commit is installed).

mod common;

use std::path::{Path, PathBuf};

use common::root;
use serde_json::Value;

/// Every YAML document under `dir` (recursively), with the file it came from.
fn documents(dir: &Path) -> Vec<(PathBuf, Value)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&d).unwrap().map(|e| e.unwrap().path()).collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                let text = std::fs::read_to_string(&p).unwrap();
                let parsed = meshc::source::yaml::parse(&text, &Default::default());
                for doc in parsed.documents {
                    if let Some(mut v) = doc.value {
                        meshc::validate::schema::strip_nulls(&mut v);
                        out.push((p.clone(), v));
                    }
                }
            }
        }
    }
    out
}

fn all_json() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("schemas/all.json")).expect("schemas/all.json");
    let schema: Value = serde_json::from_str(&text).expect("all.json is JSON");
    jsonschema::draft7::new(&schema).expect("all.json compiles")
}

#[test]
fn every_valid_example_document_matches_all_json() {
    let validator = all_json();
    let docs: Vec<_> = documents(&root().join("examples"))
        .into_iter()
        .filter(|(p, _)| !p.components().any(|c| c.as_os_str() == "invalid"))
        .collect();
    assert!(docs.len() > 30, "the examples are there ({})", docs.len());
    let mut kinds = std::collections::BTreeSet::new();
    for (path, doc) in &docs {
        let errors: Vec<String> =
            validator.iter_errors(doc).map(|e| format!("{e} at {}", e.instance_path())).take(5).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", path.display());
        kinds.insert(doc.get("kind").or(doc.get("type")).and_then(Value::as_str).unwrap_or_default().to_string());
    }
    assert!(kinds.len() >= 8, "the examples cover many kinds: {kinds:?}");
}

#[test]
fn all_json_rejects_bad_documents_with_the_kinds_error() {
    let validator = all_json();
    let cases: &[(&str, &str)] = &[
        // An unknown field of MeshTimeout's own conf.
        (
            "type: MeshTimeout\nname: t\nmesh: default\nspec:\n  to:\n  - targetRef: {kind: Mesh}\n    default: {idleTimeot: 1s}\n",
            "/spec/to/0/default",
        ),
        // A MeshTrafficPermission action that is not one of the enum's.
        (
            "apiVersion: kuma.io/v1alpha1\nkind: MeshTrafficPermission\nmetadata: {name: p}\nspec:\n  from:\n  \
             - targetRef: {kind: Mesh}\n    default: {action: Alow}\n",
            "/spec/from/0/default/action",
        ),
        // A Universal Dataplane whose port is a string.
        (
            "type: Dataplane\nname: d\nmesh: default\nnetworking:\n  address: 1.2.3.4\n  inbound:\n  - port: http\n",
            "/networking/inbound/0/port",
        ),
        // Unknown kind and unknown type.
        ("apiVersion: kuma.io/v1alpha1\nkind: MeshServce\nmetadata: {name: a}\n", "/kind"),
        ("type: MeshTimout\nname: t\n", "/type"),
    ];
    for (yaml, pointer) in cases {
        let parsed = meshc::source::yaml::parse(yaml, &Default::default());
        let doc = parsed.documents[0].value.clone().expect("a document");
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.instance_path().to_string()).collect();
        assert!(errors.iter().any(|p| p == pointer), "{yaml}\nwant an error at {pointer}, got {errors:?}");
    }
}

// ---- pre-commit -------------------------------------------------------------

/// The pre-commit launcher: MESHC_PRE_COMMIT, else installed by
/// scripts/pre-commit.sh. None (skip) when it cannot be installed, except in CI.
fn pre_commit() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("MESHC_PRE_COMMIT") {
        return Some(PathBuf::from(p));
    }
    let out = std::process::Command::new("bash").arg(root().join("scripts/pre-commit.sh")).output();
    match out {
        Ok(o) if o.status.success() => Some(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim())),
        other => {
            let why = match other {
                Ok(o) => String::from_utf8_lossy(&o.stderr).into_owned(),
                Err(e) => e.to_string(),
            };
            assert!(std::env::var("CI").as_deref() != Ok("true"), "CI needs pre-commit: {why}");
            eprintln!("skipped: pre-commit could not be installed: {why}");
            None
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=meshc test", "-c", "user.email=test@meshc.invalid", "-c", "commit.gpgsign=false"])
        .args(["-c", "init.defaultBranch=main", "-c", "core.hooksPath=/dev/null"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const GOOD_POLICY: &str = "\
type: Mesh
name: default
---
type: Dataplane
name: web-1
mesh: default
networking:
  address: 127.0.0.1
  inbound:
  - port: 8080
    tags:
      kuma.io/protocol: http
      kuma.io/service: web
---
type: MeshTimeout
name: timeouts
mesh: default
spec:
  targetRef: {kind: Mesh}
  to:
  - targetRef: {kind: Mesh}
    default: {idleTimeout: 20s}
";

/// The hooks file names the three hooks, each in both flavours, running meshc.
#[test]
fn pre_commit_hooks_file_lists_every_hook() {
    let text = std::fs::read_to_string(root().join(".pre-commit-hooks.yaml")).expect(".pre-commit-hooks.yaml");
    let parsed = meshc::source::yaml::parse(&text, &Default::default());
    let hooks = parsed.documents[0].value.clone().expect("a list of hooks");
    let hooks = hooks.as_array().expect("a list");
    let find = |id: &str| hooks.iter().find(|h| h["id"] == id).unwrap_or_else(|| panic!("hook {id}"));
    for (id, entry) in [
        ("meshc-validate", "meshc validate"),
        ("meshc-fmt-check", "meshc fmt --check"),
        ("meshc-compile-check", "meshc compile --check"),
    ] {
        assert_eq!(find(id)["entry"], entry);
        assert_eq!(find(id)["language"], "rust");
        let system = find(&format!("{id}-system"));
        assert_eq!(system["entry"], entry);
        assert_eq!(system["language"], "system");
    }
    // Cross-file checks need the whole input, not the changed files.
    assert_eq!(find("meshc-validate")["pass_filenames"], false);
    assert_eq!(find("meshc-compile-check")["pass_filenames"], false);
}

/// A real pre-commit runs the `-system` hooks (meshc from this build on PATH)
/// from a hook repository at a commit, as a user's config points at it: it passes
/// on a good policy and fails on a bad one, on stale compiled output and on an
/// unformatted file.
#[test]
fn pre_commit_runs_the_hooks_for_real() {
    let Some(pre_commit) = pre_commit() else { return };
    let tmp = tempfile::tempdir().unwrap();
    // The hook repository: this working tree's hooks file, committed.
    let hooks = tmp.path().join("hooks");
    std::fs::create_dir_all(&hooks).unwrap();
    std::fs::copy(root().join(".pre-commit-hooks.yaml"), hooks.join(".pre-commit-hooks.yaml")).unwrap();
    git(&hooks, &["init", "-q"]);
    git(&hooks, &["add", "."]);
    git(&hooks, &["commit", "-qm", "hooks"]);
    let rev = git(&hooks, &["rev-parse", "HEAD"]);

    // The user's repository.
    let project = tmp.path().join("project");
    common::write(&project, "policies/mesh.yaml", GOOD_POLICY);
    let config = format!(
        "repos:\n- repo: file://{}\n  rev: {rev}\n  hooks:\n  - id: meshc-validate-system\n    args: [policies]\n  \
         - id: meshc-fmt-check-system\n    files: ^policies/\n  \
         - id: meshc-compile-check-system\n    args: [--out, deploy/envoy, policies]\n",
        hooks.display()
    );
    common::write(&project, ".pre-commit-config.yaml", &config);
    let meshc = PathBuf::from(env!("CARGO_BIN_EXE_meshc"));
    let compile = || {
        let project = (project.join("policies"), project.join("deploy/envoy"));
        let out = common::run(&["compile", &project.0.to_string_lossy(), "--out", &project.1.to_string_lossy()]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    };
    compile();
    git(&project, &["init", "-q"]);
    git(&project, &["add", "."]);
    git(&project, &["commit", "-qm", "policies"]);

    let path = format!("{}:{}", meshc.parent().unwrap().display(), std::env::var("PATH").unwrap_or_default());
    let run = |what: &str| {
        let mut cmd = std::process::Command::new(&pre_commit);
        cmd.args(["run", "--all-files", "--color", "never"])
            .current_dir(&project)
            .env("PATH", &path)
            .env("PRE_COMMIT_HOME", tmp.path().join("cache"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env_remove("GIT_DIR");
        let out = common::run_bounded(cmd, None, std::time::Duration::from_secs(300));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        eprintln!("--- pre-commit ({what}):\n{text}");
        (out.status.code(), text)
    };

    let (status, text) = run("good policy");
    assert_eq!(status, Some(0), "a good policy and fresh output pass:\n{text}");
    assert!(text.contains("meshc validate") && text.contains("Passed"), "{text}");

    // A broken policy: validate fails with the finding's code.
    common::write(&project, "policies/mesh.yaml", &GOOD_POLICY.replace("idleTimeout: 20s", "idleTimeout: soon"));
    git(&project, &["add", "."]);
    let (status, text) = run("bad policy");
    assert_eq!(status, Some(1), "a bad policy fails:\n{text}");
    assert!(text.contains("MESH2005") || text.contains("error["), "{text}");
    assert!(text.contains("Failed"), "{text}");

    // A valid change that makes deploy/envoy stale: only compile --check fails.
    common::write(&project, "policies/mesh.yaml", &GOOD_POLICY.replace("port: 8080", "port: 8081"));
    git(&project, &["add", "."]);
    let (status, text) = run("stale output");
    assert_eq!(status, Some(1), "stale compiled output fails:\n{text}");
    assert!(text.contains("is stale"), "{text}");

    // The same resources written in another key order: only fmt --check fails, with
    // the diff; `meshc fmt` fixes it.
    common::write(
        &project,
        "policies/mesh.yaml",
        &GOOD_POLICY.replace("name: web-1\nmesh: default", "mesh: default\nname: web-1"),
    );
    compile();
    git(&project, &["add", "."]);
    let (status, text) = run("unformatted policy");
    assert_eq!(status, Some(1), "an unformatted policy fails:\n{text}");
    assert!(text.contains("would be reformatted") && text.contains("+name: web-1"), "{text}");
    let formatted = common::run(&["fmt", &project.join("policies").to_string_lossy()]);
    assert!(formatted.status.success(), "{}", String::from_utf8_lossy(&formatted.stderr));
    assert_eq!(std::fs::read_to_string(project.join("policies/mesh.yaml")).unwrap(), GOOD_POLICY);
    git(&project, &["add", "."]);
    let (status, text) = run("formatted again");
    assert_eq!(status, Some(0), "formatted and fresh output pass:\n{text}");
}

// ---- the GitHub Action ------------------------------------------------------

/// The SARIF 2.1.0 schema (scripts/test.sh fetches it), as tests/cli.rs reads it.
fn sarif_schema() -> Option<Value> {
    let text = std::fs::read_to_string(std::env::var_os("MESHC_SARIF_SCHEMA")?).ok()?;
    let text = text.replace(r#"[a-zA-Z]{2}]?$"#, r#"[a-zA-Z]{2}\\]?$"#);
    serde_json::from_str(&text).ok()
}

/// A composite action run offline: its `run:` steps in order, as GitHub runs them
/// (`bash -eo pipefail`, `${{ }}` in `env:` resolved, GITHUB_OUTPUT and GITHUB_PATH
/// honoured). `uses:` steps are skipped and the install step is replaced by this
/// build's meshc in the install root (its command is checked separately).
struct ActionRun {
    outputs: std::collections::BTreeMap<String, String>,
    status: i32,
    log: String,
}

fn run_action(action: &Value, inputs: &[(&str, &str)], workdir: &Path) -> ActionRun {
    let mut values: std::collections::BTreeMap<String, String> = action["inputs"]
        .as_object()
        .expect("inputs")
        .iter()
        .map(|(k, v)| (format!("inputs.{k}"), v["default"].as_str().unwrap_or_default().to_string()))
        .collect();
    for (k, v) in inputs {
        assert!(values.contains_key(&format!("inputs.{k}")), "action.yml has input {k}");
        values.insert(format!("inputs.{k}"), v.to_string());
    }
    values.insert("github.action_path".into(), root().display().to_string());
    values.insert("github.server_url".into(), "https://github.invalid".into());
    values.insert("github.action_repository".into(), "owner/meshc".into());
    let expr = regex::Regex::new(r"\$\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}").unwrap();
    let temp = workdir.join("runner-temp");
    std::fs::create_dir_all(&temp).unwrap();
    let mut path = std::env::var("PATH").unwrap_or_default();
    let mut log = String::new();
    for step in action["runs"]["steps"].as_array().expect("steps") {
        let id = step["id"].as_str().expect("every step has an id");
        let Some(script) = step["run"].as_str() else { continue };
        if id == "install" {
            // What `cargo install --root ROOT` leaves: ROOT/bin/meshc.
            let root_dir = PathBuf::from(&values["steps.key.outputs.root"]);
            std::fs::create_dir_all(root_dir.join("bin")).unwrap();
            let _ = std::fs::remove_file(root_dir.join("bin/meshc"));
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_meshc"), root_dir.join("bin/meshc")).unwrap();
            continue;
        }
        let output = workdir.join(format!("{id}.output"));
        let gh_path = workdir.join(format!("{id}.path"));
        std::fs::write(&output, "").unwrap();
        std::fs::write(&gh_path, "").unwrap();
        let mut cmd = std::process::Command::new("bash");
        cmd.args(["--noprofile", "--norc", "-eo", "pipefail", "-c", script])
            .current_dir(workdir)
            .env("PATH", &path)
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_PATH", &gh_path)
            .env("RUNNER_TEMP", &temp)
            .env("RUNNER_OS", "Linux")
            .env_remove("CI");
        for (k, v) in step["env"].as_object().into_iter().flatten() {
            let v = v.as_str().unwrap_or_default();
            let resolved = expr.replace_all(v, |c: &regex::Captures| {
                values.get(&c[1]).cloned().unwrap_or_else(|| panic!("step {id}: unknown expression {}", &c[1]))
            });
            cmd.env(k, resolved.as_ref());
        }
        let out = common::run_bounded(cmd, None, std::time::Duration::from_secs(120));
        log.push_str(&format!(
            "--- {id}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
        for line in std::fs::read_to_string(&output).unwrap().lines() {
            if let Some((k, v)) = line.split_once('=') {
                values.insert(format!("steps.{id}.outputs.{k}"), v.to_string());
            }
        }
        for dir in std::fs::read_to_string(&gh_path).unwrap().lines() {
            path = format!("{dir}:{path}");
        }
        let status = out.status.code().unwrap_or(-1);
        if status != 0 {
            return ActionRun { outputs: values, status, log };
        }
    }
    ActionRun { outputs: values, status: 0, log }
}

fn action() -> Value {
    let text = std::fs::read_to_string(root().join("action.yml")).expect("action.yml");
    let parsed = meshc::source::yaml::parse(&text, &Default::default());
    assert!(parsed.problems.is_empty(), "action.yml parses: {:?}", parsed.problems);
    parsed.documents[0].value.clone().expect("a document")
}

#[test]
fn action_yml_is_a_composite_action_with_the_documented_inputs() {
    let a = action();
    assert_eq!(a["runs"]["using"], "composite");
    for input in [
        "paths",
        "ref",
        "args",
        "fail-level",
        "sarif",
        "sarif-file",
        "category",
        "compile-check-out",
        "compile-args",
        "report",
        "report-against",
    ] {
        assert!(a["inputs"][input]["description"].is_string(), "input {input}");
    }
    let steps = a["runs"]["steps"].as_array().unwrap();
    let step = |id: &str| steps.iter().find(|s| s["id"] == id).unwrap_or_else(|| panic!("step {id}"));
    assert_eq!(step("upload")["uses"], "github/codeql-action/upload-sarif@v3");
    assert!(step("cache")["uses"].as_str().unwrap().starts_with("actions/cache@"));
    assert!(step("report-upload")["uses"].as_str().unwrap().starts_with("actions/upload-artifact@"));
    let install = step("install")["run"].as_str().unwrap();
    assert!(install.contains("cargo install --locked --root \"$ROOT\" --path \"$ACTION_PATH\""), "{install}");
    // No input is pasted into a script (script injection): inputs go through env.
    for s in steps {
        if let Some(run) = s["run"].as_str() {
            assert!(!run.contains("${{"), "step {}: use env, not ${{{{ }}}} in run", s["id"]);
        }
    }
}

#[test]
fn action_steps_run_meshc_and_fail_per_exit_code() {
    let tmp = tempfile::tempdir().unwrap();
    let a = action();
    let good = root().join("examples/locality-failover");
    let good = good.to_str().unwrap();

    // Clean input: the step passes and writes a SARIF report with no results.
    let clean = run_action(&a, &[("paths", good), ("sarif-file", "clean.sarif")], tmp.path());
    assert_eq!(clean.status, 0, "{}", clean.log);
    assert!(clean.log.contains("meshc: clean"), "{}", clean.log);
    let clean_sarif: Value =
        serde_json::from_slice(&std::fs::read(tmp.path().join("clean.sarif")).unwrap()).expect("SARIF is JSON");
    assert_eq!(clean_sarif["runs"][0]["results"].as_array().map(Vec::len), Some(0));

    // Findings: the verdict step fails with validate's status 1, after the report
    // (and the annotations) were written.
    let invalid = root().join("examples/invalid");
    let bad = run_action(&a, &[("paths", invalid.to_str().unwrap()), ("sarif-file", "bad.sarif")], tmp.path());
    assert_eq!(bad.status, 1, "{}", bad.log);
    assert_eq!(bad.outputs["steps.validate.outputs.exit-code"], "1");
    assert!(bad.log.contains("::error"), "workflow annotations in the log:\n{}", bad.log);
    let bad_sarif: Value = serde_json::from_slice(&std::fs::read(tmp.path().join("bad.sarif")).unwrap()).unwrap();
    assert!(bad_sarif["runs"][0]["results"].as_array().is_some_and(|r| !r.is_empty()));

    // The suppressing args input reaches meshc: everything silenced is clean.
    let args = run_action(
        &a,
        &[
            ("paths", invalid.to_str().unwrap()),
            ("args", "--ignore-unknown --suppress MESH*"),
            ("sarif-file", "s.sarif"),
        ],
        tmp.path(),
    );
    assert_eq!(args.outputs["steps.validate.outputs.exit-code"], "0", "{}", args.log);

    // compile-check-out: stale (empty) output fails; freshly compiled output passes.
    let out = tmp.path().join("deploy");
    let stale = run_action(&a, &[("paths", good), ("compile-check-out", out.to_str().unwrap())], tmp.path());
    assert_eq!(stale.status, 1, "{}", stale.log);
    assert_eq!(stale.outputs["steps.compile-check.outputs.exit-code"], "1");
    assert!(common::run(&["compile", good, "--out", out.to_str().unwrap()]).status.success());
    let fresh = run_action(&a, &[("paths", good), ("compile-check-out", out.to_str().unwrap())], tmp.path());
    assert_eq!(fresh.status, 0, "{}", fresh.log);
    // Output compiled with other flags is checked with the same flags (compile-args).
    let xds = tmp.path().join("deploy-xds");
    let xds_args = ["--format", "xds", "--secrets-dir", "secrets"];
    let mut compile = vec!["compile", good, "--out", xds.to_str().unwrap()];
    compile.extend(xds_args);
    assert!(common::run(&compile).status.success());
    let without = run_action(&a, &[("paths", good), ("compile-check-out", xds.to_str().unwrap())], tmp.path());
    assert_eq!(without.status, 1, "the default flags see xds output as stale:\n{}", without.log);
    let with = run_action(
        &a,
        &[("paths", good), ("compile-check-out", xds.to_str().unwrap()), ("compile-args", &xds_args.join(" "))],
        tmp.path(),
    );
    assert_eq!(with.status, 0, "{}", with.log);

    // report: the page is written (from the working directory); a bad ref fails the verdict.
    let report = run_action(&a, &[("paths", good), ("report", "meshc-report.html")], tmp.path());
    assert_eq!(report.status, 0, "{}", report.log);
    assert_eq!(report.outputs["steps.report.outputs.report-file"], "meshc-report.html");
    let page = std::fs::read_to_string(tmp.path().join("meshc-report.html")).expect("the report is written");
    assert!(page.contains("id=\"meshc-data\""));
    let bad_ref =
        run_action(&a, &[("paths", good), ("report", "r.html"), ("report-against", "no-such-ref")], tmp.path());
    assert_eq!(bad_ref.status, 2, "{}", bad_ref.log);

    match sarif_schema() {
        Some(schema) => {
            let validator = jsonschema::validator_for(&schema).expect("SARIF schema compiles");
            for doc in [&clean_sarif, &bad_sarif] {
                let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).take(5).collect();
                assert!(errors.is_empty(), "the action's SARIF is valid SARIF 2.1.0: {errors:?}");
            }
        }
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "MESHC_SARIF_SCHEMA must be set in CI (scripts/test.sh fetches it)"
            );
            eprintln!("SARIF schema check skipped: set MESHC_SARIF_SCHEMA (scripts/test.sh does)");
        }
    }
}

// ---- man pages --------------------------------------------------------------

/// `meshc man --out DIR` writes meshc.1 and one page per subcommand (the ones
/// `meshc --help` lists), each a roff page naming its command and options.
#[test]
fn man_pages_render_every_subcommand() {
    let help = common::run(&["--help"]);
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    let commands: Vec<String> = help
        .split("Commands:")
        .nth(1)
        .expect("a command list")
        .lines()
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        // A command's line is indented two spaces; a wrapped description, more.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .filter(|c| c != "help")
        .collect();
    assert!(commands.len() >= 8, "{commands:?}");
    assert!(commands.iter().any(|c| c == "man"));

    let dir = tempfile::tempdir().unwrap();
    let out = common::run(&["man", "--out", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let main = std::fs::read_to_string(dir.path().join("meshc.1")).expect("meshc.1");
    assert!(main.contains(".TH meshc 1"), "{main}");
    for c in &commands {
        assert!(main.contains(&format!("meshc\\-{c}(1)")) || main.contains(c.as_str()), "meshc.1 mentions {c}");
        let page = std::fs::read_to_string(dir.path().join(format!("meshc-{c}.1")))
            .unwrap_or_else(|_| panic!("meshc-{c}.1 is written"));
        assert!(page.contains(&format!(".TH meshc-{c} 1")), "meshc-{c}.1 title:\n{page}");
        assert!(page.contains(&format!("meshc\\-{c} \\-")), "meshc-{c}.1 NAME section:\n{page}");
        assert!(page.contains(".SH SYNOPSIS") && page.contains(".SH OPTIONS"), "meshc-{c}.1 sections");
    }
    let compile = std::fs::read_to_string(dir.path().join("meshc-compile.1")).unwrap();
    assert!(compile.contains("\\-\\-check") && compile.contains("\\-\\-out"), "options are documented");
    // Without --out: meshc.1 on stdout, the same bytes.
    let stdout = common::run(&["man"]);
    assert_eq!(String::from_utf8_lossy(&stdout.stdout), main);
    // And `man` itself can read it, where man is installed.
    if std::process::Command::new("man").arg("--version").output().is_ok_and(|o| o.status.success()) {
        let rendered = std::process::Command::new("man")
            .args(["-l", dir.path().join("meshc-validate.1").to_str().unwrap()])
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        assert!(String::from_utf8_lossy(&rendered.stdout).contains("--fail-level"));
    }
}

/// Opt-in (MESHC_PRE_COMMIT_RUST=1; a release build of meshc inside pre-commit
/// takes well over the suite's budget): the `language: rust` hooks, with `repo:`
/// a clone of this repository at its HEAD commit, as a user's config would say.
#[test]
fn pre_commit_rust_hooks_build_meshc_from_the_repository() {
    if std::env::var_os("MESHC_PRE_COMMIT_RUST").is_none() {
        eprintln!("skipped: set MESHC_PRE_COMMIT_RUST=1 to build meshc inside pre-commit (minutes)");
        return;
    }
    let Some(pre_commit) = pre_commit() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("meshc");
    git(tmp.path(), &["clone", "-q", &format!("file://{}", root().display()), clone.to_str().unwrap()]);
    let rev = git(&clone, &["rev-parse", "HEAD"]);
    let project = tmp.path().join("project");
    common::write(&project, "policies/mesh.yaml", GOOD_POLICY);
    let config = format!(
        "repos:\n- repo: file://{}\n  rev: {rev}\n  hooks:\n  - id: meshc-validate\n    args: [policies]\n",
        clone.display()
    );
    common::write(&project, ".pre-commit-config.yaml", &config);
    git(&project, &["init", "-q"]);
    git(&project, &["add", "."]);
    let run = || {
        let mut cmd = std::process::Command::new(&pre_commit);
        cmd.args(["run", "--all-files", "--color", "never"])
            .current_dir(&project)
            .env("PRE_COMMIT_HOME", tmp.path().join("cache"))
            .env("GIT_CONFIG_GLOBAL", "/dev/null");
        let out = common::run_bounded(cmd, None, std::time::Duration::from_secs(3600));
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        eprintln!("{text}");
        (out.status.code(), text)
    };
    let (status, text) = run();
    assert_eq!(status, Some(0), "{text}");
    common::write(&project, "policies/mesh.yaml", &GOOD_POLICY.replace("idleTimeout: 20s", "idleTimeout: soon"));
    git(&project, &["add", "."]);
    let (status, text) = run();
    assert_eq!(status, Some(1), "{text}");
    assert!(text.contains("MESH3005"), "{text}");
}

// ---- CI examples --------------------------------------------------------------

/// The CI examples in docs/examples parse, and every meshc command in them is a
/// valid invocation (run here over an example mesh: exit 0 or 1, never 2).
#[test]
fn ci_examples_run_valid_meshc_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let policies = root().join("examples/locality-failover");
    let out = tmp.path().join("deploy/envoy");
    let command = regex::Regex::new(
        r"(?m)(?:^|[\s;(])(meshc (?:validate|compile|diff|certs|explain|report|schema|man|--version)[^|>;&#\n)]*)",
    )
    .unwrap();
    let mut seen = 0;
    for file in ["docs/examples/github-workflow.yml", "docs/examples/gitlab-ci.yml"] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let parsed = meshc::source::yaml::parse(&text, &Default::default());
        assert!(parsed.problems.is_empty() && !parsed.documents.is_empty(), "{file}: {:?}", parsed.problems);
        for c in command.captures_iter(&text) {
            let line = c[1].trim().trim_end_matches('`');
            let args: Vec<String> = line
                .split_whitespace()
                .skip(1)
                .map(|a| match a {
                    "policies/" => policies.display().to_string(),
                    "deploy/envoy" => out.display().to_string(),
                    "report.html" => tmp.path().join("report.html").display().to_string(),
                    other => other.to_string(),
                })
                .collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = common::run(&args);
            let status = run.status.code();
            assert!(
                matches!(status, Some(0 | 1)),
                "{file}: `{line}` exits {status:?}: {}",
                String::from_utf8_lossy(&run.stderr)
            );
            seen += 1;
        }
    }
    assert!(seen >= 8, "found the meshc commands ({seen})");
}
