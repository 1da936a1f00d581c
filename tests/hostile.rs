//! Hostile input: each case gets a finding with its code, and meshc neither panics
//! nor hangs (every run is bounded in time).

mod common;

use std::time::Duration;

use common::{meshc, run_bounded, write};

fn codes_for(args: &[&str]) -> (i32, Vec<String>, String) {
    let mut cmd = meshc();
    cmd.args(["validate", "--format", "json"]).args(args);
    let out = run_bounded(cmd, None, Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "meshc panicked: {stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    let codes = v["findings"].as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap().to_string()).collect();
    (out.status.code().unwrap(), codes, String::from_utf8_lossy(&out.stdout).into_owned())
}

fn one_file(name: &str, content: &[u8], extra: &[&str]) -> (i32, Vec<String>, String) {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join(name);
    std::fs::write(&p, content).unwrap();
    codes_for(&[extra, &[p.to_str().unwrap()]].concat())
}

#[test]
fn billion_laughs() {
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let p = i - 1;
        text.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    let (code, codes, _) = one_file("bomb.yaml", text.as_bytes(), &[]);
    assert_eq!((code, codes), (1, vec!["MESH0007".to_string()]));
}

#[test]
fn deep_nesting_block_and_flow() {
    let block: String = (0..200).map(|i| format!("{}k:\n", "  ".repeat(i))).collect();
    let (_, codes, _) = one_file("deep.yaml", block.as_bytes(), &[]);
    assert_eq!(codes, ["MESH0006"]);
    let flow = format!("a: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let (_, codes, _) = one_file("flow.yaml", flow.as_bytes(), &[]);
    assert_eq!(codes, ["MESH0006"]);
    // The limit is configurable.
    let (_, codes, _) = one_file("deep.yaml", block.as_bytes(), &["--max-depth", "500"]);
    assert!(!codes.contains(&"MESH0006".to_string()), "{codes:?}");
}

#[test]
fn file_larger_than_the_limit() {
    let (code, codes, _) = one_file("big.yaml", "a: b\n".repeat(1000).as_bytes(), &["--max-file-size", "1000"]);
    assert_eq!((code, codes), (1, vec!["MESH0005".to_string()]));
}

#[test]
fn invalid_utf8_and_binary() {
    let (_, codes, out) = one_file("latin1.yaml", b"type: MeshTimeout\nname: caf\xe9\n", &[]);
    assert_eq!(codes, ["MESH0002"]);
    assert!(out.contains("\"line\": 2"), "{out}");
    let (_, codes, _) = one_file("bin.yaml", b"\x7fELF\x02\x01\x01\x00\x00\x00garbage", &[]);
    assert_eq!(codes, ["MESH0003"]);
}

#[cfg(unix)]
#[test]
fn symlink_loop() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::os::unix::fs::symlink(dir.path(), dir.path().join("sub/loop")).unwrap();
    write(dir.path(), "sub/ok.yaml", "type: Mesh\nname: default\n");
    let (code, codes, _) = codes_for(&[dir.path().to_str().unwrap()]);
    assert_eq!(codes, ["MESH0011"]);
    assert_eq!(code, 0, "a skipped loop is a warning");
}

#[test]
fn empty_files_and_documents() {
    let (code, codes, _) = one_file("empty.yaml", b"", &[]);
    assert_eq!((code, codes), (0, vec!["MESH0009".to_string()]));
    let (_, codes, _) = one_file("docs.yaml", b"---\n---\ntype: Mesh\nname: default\n---\n", &[]);
    assert!(codes.iter().all(|c| c == "MESH0009") && !codes.is_empty(), "{codes:?}");
}

#[test]
fn documents_that_are_not_mappings() {
    let (_, codes, _) = one_file("list.yaml", b"- type: Mesh\n  name: default\n", &[]);
    assert_eq!(codes, ["MESH0010"]);
    let (_, codes, _) = one_file("scalar.yaml", b"just a string\n", &[]);
    assert_eq!(codes, ["MESH0010"]);
}

#[test]
fn duplicate_keys_and_tabs() {
    let (_, codes, out) = one_file("dup.yaml", b"type: Mesh\nname: a\nname: b\n", &[]);
    assert_eq!(codes, ["MESH0008"]);
    assert!(out.contains("\"line\": 3"), "{out}");
    let (_, codes, _) = one_file("tabs.yaml", b"type: Mesh\nname: a\nmtls:\n\tenabledBackend: x\n", &[]);
    assert_eq!(codes, ["MESH0004"]);
}

#[test]
fn ten_megabyte_single_line() {
    let value = "9".repeat(10 * 1024 * 1024);
    let text = format!(
        "{{\"type\": \"MeshTimeout\", \"name\": \"x\", \"mesh\": \"default\", \"spec\": {{\"to\": [{{\"targetRef\": {{\"kind\": \"Mesh\"}}, \"default\": {{\"idleTimeout\": \"{value}\"}}}}]}}}}"
    );
    let (code, codes, out) = one_file("line.json", text.as_bytes(), &[]);
    assert_eq!((code, codes), (1, vec!["MESH3005".to_string()]));
    assert!(out.len() < 10_000, "the value must not be echoed whole ({} bytes of output)", out.len());
    // Text output clips the snippet too.
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "line.json", &text);
    let mut cmd = meshc();
    cmd.args(["validate", p.to_str().unwrap()]);
    let out = run_bounded(cmd, None, Duration::from_secs(60));
    assert!(out.stderr.len() < 10_000, "{} bytes of text output", out.stderr.len());
}

#[test]
fn secrets_are_not_echoed() {
    let text = "type: MeshExternalService\nname: x\nmesh: default\nspec:\n  match: {port: 443, protocol: tcp}\n  endpoints: [{address: 1.1.1.1, port: 443}]\n  tls:\n    enabled: true\n    verification:\n      clientCert:\n        inline: U0VDUkVUQ0VSVA==\n      clientKey:\n        inlineString: TOPSECRETKEY\n        bogus: 1\n";
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "mes.yaml", text);
    for format in ["text", "json", "sarif", "junit", "github"] {
        let mut cmd = meshc();
        cmd.args(["validate", "--format", format, p.to_str().unwrap()]);
        let out = run_bounded(cmd, None, Duration::from_secs(60));
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(all.contains("bogus"), "{format}: the finding is reported: {all}");
        assert!(!all.contains("TOPSECRETKEY") && !all.contains("U0VDUkVUQ0VSVA"), "{format} leaks a secret: {all}");
    }
}

/// Position resolution is linear: a megabyte key above thousands of nodes.
#[test]
fn long_keys_do_not_blow_up_positions_or_output() {
    let key = "a".repeat(1_000_000);
    let kids: String = (0..3000).map(|i| format!("  k{i}: 1\n")).collect();
    let text = format!("type: Mesh\nname: m\nlabels: {{x: 1}}\n? {key}\n:\n{kids}");
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "longkey.yaml", &text);
    for format in ["text", "json"] {
        let mut cmd = meshc();
        cmd.args(["validate", "--format", format, p.to_str().unwrap()]);
        let out = run_bounded(cmd, None, Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(1));
        let size = out.stdout.len() + out.stderr.len();
        assert!(size < 20_000, "{format}: {size} bytes of output for a long key");
    }
}

#[test]
fn secrets_in_flow_json_and_next_line_values_are_masked() {
    let cases = [
        (
            "sec.json",
            r#"{"type": "MeshExternalService", "name": "x", "mesh": "default", "spec": {"match": {"port": 443}, "endpoints": [{"address": "1.1.1.1", "port": 443}], "tls": {"verification": {"clientCert": {"inline": "Q0VSVFNFQ1JFVA=="}, "clientKey": {"inline": "U0VDUkVUS0VZ", "oops": 1}}}}}"#,
        ),
        (
            "flow.yaml",
            "type: MeshExternalService\nname: x\nmesh: default\nspec:\n  match: {port: 443, bogus: 1}\n  endpoints: [{address: 1.1.1.1, port: 443}]\n  tls: {verification: {clientCert: {inline: Q0VSVFNFQ1JFVA==}, clientKey: {inline: U0VDUkVUS0VZ}}}\n",
        ),
        (
            "nextline.yaml",
            "type: MeshExternalService\nname: x\nmesh: default\nspec:\n  match: {port: 443}\n  endpoints: [{address: 1.1.1.1, port: 443}]\n  tls:\n    verification:\n      clientCert:\n        inline:\n          Q0VSVFNFQ1JFVA==\n      clientKey:\n        inline:\n          U0VDUkVUS0VZ\n        bogus: 1\n",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in cases {
        let p = write(dir.path(), name, text);
        let mut cmd = meshc();
        cmd.args(["validate", p.to_str().unwrap()]);
        let out = run_bounded(cmd, None, Duration::from_secs(30));
        let all = String::from_utf8_lossy(&out.stderr);
        assert!(all.contains("MESH2001"), "{name}: {all}");
        assert!(!all.contains("U0VDUkVUS0VZ") && !all.contains("Q0VSVFNFQ1JFVA"), "{name} leaks: {all}");
    }
}

#[test]
fn undefined_and_self_aliases_drop_the_document() {
    let (_, codes, _) =
        one_file("self.yaml", b"type: MeshTimeout\nname: t\nspec: &s\n  targetRef: *s\n  to: bogus\n", &[]);
    assert_eq!(codes, ["MESH0004"]);
    let (_, codes, _) = one_file("key.yaml", b"k: &k {a: b}\ntype: Mesh\nname: m\n*k : x\n", &[]);
    assert_eq!(codes, ["MESH0012"]);
}

#[test]
fn control_characters_never_reach_the_terminal_or_junit() {
    let text = "type: Mesh\nname: m\n\"\\e]0;pwned\\a\\e[31mRED\": 1\n\"a\\x01b\": 2\n";
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "esc.yaml", text);
    for format in ["text", "junit", "github"] {
        let mut cmd = meshc();
        cmd.args(["validate", "--format", format, p.to_str().unwrap()]);
        let out = run_bounded(cmd, None, Duration::from_secs(30));
        let all = [out.stdout, out.stderr].concat();
        assert!(String::from_utf8_lossy(&all).contains("MESH2001"), "{format}");
        assert!(!all.iter().any(|b| *b == 0x1b || *b == 0x07 || *b == 0x01), "{format} emits control bytes");
        assert!(!String::from_utf8_lossy(&all).contains("&#x1;"), "{format}: invalid XML character reference");
    }
}

#[test]
fn too_many_documents_in_one_file() {
    let text = "type: Mesh\nname: m\n---\n".repeat(12);
    let (code, codes, out) = one_file("docs.yaml", text.as_bytes(), &["--max-documents", "10"]);
    assert_eq!(code, 1);
    assert_eq!(codes.iter().filter(|c| *c == "MESH0013").count(), 1, "{codes:?}");
    assert!(out.contains("\"line\": 30"), "the finding points at the first unread document: {out}");
    // Empty documents count too, and the default limit stops a file of `---` lines.
    let (_, codes, _) = one_file("dashes.yaml", "---\n".repeat(100_010).as_bytes(), &[]);
    assert_eq!(codes.iter().filter(|c| *c == "MESH0013").count(), 1);
    assert_eq!(codes.iter().filter(|c| *c == "MESH0009").count(), 100_000);
    // At the limit nothing is reported.
    let (code, codes, _) = one_file("ten.yaml", "type: Mesh\nname: m\n".as_bytes(), &["--max-documents", "1"]);
    assert_eq!((code, codes), (0, Vec::<String>::new()));
}

#[test]
fn total_input_size_is_bounded_in_path_order() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..5 {
        write(dir.path(), &format!("m{i}.yaml"), &format!("type: Mesh\nname: mesh-{i}\n")); // 24 bytes each
    }
    let (code, codes, out) = codes_for(&["--max-total-size", "60", dir.path().to_str().unwrap()]);
    assert_eq!((code, codes), (1, vec!["MESH0014".to_string()]));
    assert!(out.contains("m2.yaml`") && out.contains("and 2 more files"), "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["summary"]["resources"], 2, "two files were read: {out}");
    // Standard input gets what is left of the budget.
    let mut cmd = meshc();
    cmd.args(["validate", "--format", "json", "--max-total-size", "30"]);
    cmd.arg(dir.path().join("m0.yaml")).arg("-");
    let out = run_bounded(cmd, Some(b"type: Mesh\nname: from-stdin\n"), Duration::from_secs(60));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MESH0014") && text.contains("<stdin>"), "{text}");
}

/// Many small files: each is read, memory grows with the total (bounded by
/// `--max-total-size`), and the run stays fast.
#[test]
fn many_small_files() {
    let dir = tempfile::tempdir().unwrap();
    let n = std::env::var("MESHC_HOSTILE_FILES").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    for i in 0..n {
        write(dir.path(), &format!("d/{:03}/m{i}.yaml", i % 100), &format!("type: Mesh\nname: mesh-{i}\n"));
    }
    let mut cmd = meshc();
    cmd.args(["validate", "--format", "json", dir.path().to_str().unwrap()]);
    let out = run_bounded(cmd, None, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, codes, _) = codes_for(&["--max-total-size", "1000", dir.path().to_str().unwrap()]);
    assert_eq!((code, codes), (1, vec!["MESH0014".to_string()]));
}
