//! Secrets are never echoed, and private keys on disk are private.
//!
//! Real private keys (generated here) are planted wherever a resource can carry
//! one inline: a Mesh's provided CA (`conf.key`), a MeshExternalService's
//! `clientKey` (`inline` and `inlineString`), and a MeshProxyPatch that writes a
//! key into an Envoy cluster. Then every output stream of every command is
//! searched for them: findings in every format, `explain` (text and json),
//! `diff` (text and json), `compile` (messages, `--timings`, the files written).
//! Certificates are public and may appear where Envoy needs them.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::{meshc, run_bounded, write};

struct Pem {
    key: String,
    cert: String,
}

fn pem(cn: &str) -> Pem {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![cn.to_string()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    Pem { key: key.serialize_pem(), cert: cert.pem() }
}

/// Pieces of a key that would show in any text that holds it: a stretch of its
/// base64 body (past the header every key of a type shares), and the same of
/// the base64 of the whole PEM (`inline` / Envoy's `inline_bytes`).
fn markers(key: &str) -> Vec<String> {
    use base64_like::encode;
    let body: String = key.lines().filter(|l| !l.starts_with("-----")).collect();
    let whole = encode(key.as_bytes());
    vec![body[body.len() - 40..body.len() - 8].to_string(), whole[80..112].to_string()]
}

/// Enough base64 for markers (the tests do not depend on a base64 crate).
mod base64_like {
    pub fn encode(bytes: &[u8]) -> String {
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in bytes.chunks(3) {
            let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                if i <= c.len() {
                    out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }
}

fn indent(text: &str, n: usize) -> String {
    text.lines().map(|l| format!("{}{l}\n", " ".repeat(n))).collect()
}

struct World {
    dir: tempfile::TempDir,
    keys: Vec<String>,
}

impl World {
    fn input(&self) -> String {
        self.dir.path().join("in").to_string_lossy().into_owned()
    }

    fn path(&self, rel: &str) -> String {
        self.dir.path().join(rel).to_string_lossy().into_owned()
    }

    /// Fail when any planted key shows in `text`.
    fn assert_clean(&self, what: &str, text: &str) {
        for key in &self.keys {
            for m in markers(key) {
                assert!(!text.contains(&m), "{what} shows a private key ({m}):\n{text}");
            }
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut cmd = meshc();
        cmd.args(args).arg("--color").arg("never");
        let out = run_bounded(cmd, None, Duration::from_secs(120));
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(!all.contains("panicked"), "{args:?}: {all}");
        self.assert_clean(&format!("meshc {}", args.join(" ")), &all);
        out
    }

    /// `meshc report` with `extra` arguments: its messages and the page it writes
    /// show no key. Returns the page.
    fn report(&self, extra: &[&str]) -> String {
        let page = self.path("report.html");
        let out = self.run(&[&["report", &self.input(), "--out", &page][..], extra].concat());
        assert_ne!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
        let text = std::fs::read_to_string(&page).expect("a report is written even for an input with errors");
        self.assert_clean(&format!("meshc report {}", extra.join(" ")), &text);
        text
    }
}

/// A mesh with a provided CA whose key is inline, a MeshExternalService with an
/// inline client key (`inlineString`, and `inline` base64 in a second one), a
/// MeshProxyPatch putting a private key into an Envoy cluster, and two sidecars.
/// `bogus` fields next to the secrets make findings whose snippets show their
/// neighbourhood.
fn world(bogus: bool, plant: bool) -> World {
    let (ca, client, patch) = (pem("ca"), pem("client"), pem("patch"));
    let b = if bogus { "        bogus: 1\n" } else { "" };
    let mesh = format!(
        "type: Mesh\nname: default\nmtls:\n  enabledBackend: ca-1\n  backends:\n  - name: ca-1\n    type: provided\n    conf:\n      cert:\n        inlineString: |\n{}      key:\n{b}        inlineString: |\n{}",
        indent(&ca.cert, 10),
        indent(&ca.key, 10)
    );
    let client_b64 = base64_like::encode(client.key.as_bytes());
    let mes = |name: &str, key: &str| {
        format!(
            "type: MeshExternalService\nname: {name}\nmesh: default\nspec:\n  match: {{port: 443, protocol: http}}\n  endpoints: [{{address: 1.1.1.1, port: 443}}]\n  tls:\n    enabled: true\n    verification:\n      caCert:\n        inlineString: |\n{}      clientCert:\n        inlineString: |\n{}      clientKey:\n{b}{key}",
            indent(&ca.cert, 10),
            indent(&client.cert, 10)
        )
    };
    let mes1 = mes("ext-string", &format!("        inlineString: |\n{}", indent(&client.key, 10)));
    let mes2 = mes("ext-bytes", &format!("        inline: {client_b64}\n"));
    let patch_value = format!(
        "transportSocket:\n  name: envoy.transport_sockets.tls\n  typedConfig:\n    '@type': type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext\n    commonTlsContext:\n      tlsCertificates:\n      - certificateChain: {{inlineString: {:?}}}\n        privateKey: {{inlineString: {:?}}}\n",
        patch.cert, patch.key
    );
    let mpp = format!(
        "type: MeshProxyPatch\nname: plant-key\nmesh: default\nspec:\n  targetRef:\n    kind: Dataplane\n    name: web\n  default:\n    appendModifications:\n    - cluster:\n        operation: Patch\n        match:\n          name: localhost:8080\n        value: |\n{}",
        indent(&patch_value, 10)
    );
    let dps = "type: Dataplane\nname: web\nmesh: default\nnetworking:\n  address: 10.0.0.1\n  inbound: [{port: 8080, tags: {kuma.io/service: web, kuma.io/protocol: http}}]\n---\ntype: Dataplane\nname: backend\nmesh: default\nnetworking:\n  address: 10.0.0.2\n  inbound: [{port: 8080, tags: {kuma.io/service: backend}}]\n";
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "in/mesh.yaml", &mesh);
    write(dir.path(), "in/mes.yaml", &format!("{mes1}---\n{mes2}"));
    if plant {
        write(dir.path(), "in/patch.yaml", &mpp);
    }
    write(dir.path(), "in/dataplanes.yaml", dps);
    World { dir, keys: vec![ca.key, client.key, patch.key] }
}

#[test]
fn findings_never_show_a_private_key() {
    let w = world(true, true);
    for format in ["text", "json", "sarif", "junit", "github"] {
        let out = w.run(&["validate", "--format", format, &w.input()]);
        let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(all.contains("MESH2001"), "{format}: the bogus fields are reported: {all}");
    }
    // compile and diff print the same findings (and stop).
    w.run(&["compile", &w.input(), "--out", &w.path("out")]);
    w.run(&["compile", &w.input(), "--out", &w.path("out"), "--message-format", "json"]);
    w.run(&["diff", &w.input(), "--against", &w.path("out")]);
    w.run(&["certs", &w.input(), "--out", &w.path("sec")]);
    w.run(&["explain", "web", &w.input()]);
    w.run(&["explain", "web", &w.input(), "--suppress", "MESH2001"]);
    assert!(w.report(&[]).contains("MESH2001"), "the report lists the findings");
}

#[test]
fn a_key_in_a_policy_stops_compile() {
    let w = world(false, true);
    let out = w.run(&["validate", "--format", "json", &w.input()]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<&str> = v["findings"].as_array().unwrap().iter().filter_map(|f| f["code"].as_str()).collect();
    assert_eq!(codes, ["MESH1006"], "only the MeshProxyPatch's key is misplaced: {v}");
    let compiled = w.run(&["compile", &w.input(), "--out", &w.path("out")]);
    assert_eq!(compiled.status.code(), Some(1));
    assert!(!Path::new(&w.path("out")).exists(), "nothing is written");
    // Suppressed, the user takes the key into the configs; explain and diff
    // (which go to terminals and CI logs) still never show it.
    let s = ["--suppress", "MESH1006"];
    for format in ["text", "json", "yaml"] {
        let out = w.run(&[&["explain", "web", &w.input(), "--format", format][..], &s].concat());
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stdout).contains("redacted"), "{format}");
        w.run(&[&["explain", "--all", &w.input(), "--format", format][..], &s].concat());
        w.run(&[&["explain", "--policy", "MeshProxyPatch/plant-key", &w.input(), "--format", format][..], &s].concat());
    }
    let empty = w.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for extra in [&[][..], &["--format", "json"], &["--stat"], &["--format", "xds"]] {
        let out = w.run(&[&["diff", &w.input(), "--against", &empty][..], extra, &s].concat());
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = w.run(&["diff", &w.input(), "--against", &empty, "--suppress", "MESH1006"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("redacted private key"));
    // The report shows the patch's conf, with the key redacted.
    assert!(w.report(&s).contains("redacted"));
    w.report(&[&s[..], &["--against", &empty]].concat());
}

#[test]
fn compile_output_holds_no_private_key() {
    let w = world(false, false);
    let out = w.run(&["validate", &w.input()]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // Inline client keys become files `meshc certs` writes (0600); the provided
    // CA's key is read by `meshc certs` only.
    let input = w.input();
    for format in [&["--format", "bootstrap"][..], &["--format", "xds"], &["--encoding", "json"]] {
        let out_dir = w.path("out");
        let mut argv: Vec<&str> = vec!["compile", &input, "--out", &out_dir, "--timings"];
        argv.extend_from_slice(format);
        let out = w.run(&argv);
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        for entry in walk(Path::new(&out_dir)) {
            let text = String::from_utf8_lossy(&std::fs::read(&entry).unwrap()).into_owned();
            w.assert_clean(&format!("{} ({format:?})", entry.display()), &text);
        }
        w.run(&["compile", &input, "--out", &out_dir, "--check", "--message-format", "json"]);
        let _ = std::fs::remove_dir_all(&out_dir);
    }
    for format in ["text", "json", "yaml"] {
        w.run(&["explain", "--all", &input, "--format", format]);
    }
    let empty = w.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    w.run(&["diff", &input, "--against", &empty]);
    w.run(&["diff", &input, "--against", &empty, "--format", "json"]);
    w.report(&[]);
    let out = w.run(&["certs", &input, "--out", &w.path("sec"), "--format", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[cfg(unix)]
mod modes {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    /// `meshc certs` under umask 000.
    fn certs(input: &Path, out: &Path) {
        let mut cmd = std::process::Command::new("sh");
        cmd.args(["-c", "umask 000 && exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_meshc"))
            .args(["certs", "--out"])
            .arg(out)
            .arg(input);
        let run = run_bounded(cmd, None, Duration::from_secs(120));
        assert_eq!(run.status.code(), Some(0), "{}", String::from_utf8_lossy(&run.stderr));
    }

    fn check(out: &Path) -> usize {
        let mut keys = 0;
        for f in walk(out) {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let private = name == "ca.key" || name == "key.pem" || f.parent().unwrap().ends_with("inline-keys");
            let expected = if private { 0o600 } else { 0o644 };
            assert_eq!(mode(&f), expected, "{}", f.display());
            if private {
                keys += 1;
                assert_eq!(mode(f.parent().unwrap()), 0o700, "{}", f.parent().unwrap().display());
            }
        }
        keys
    }

    #[test]
    fn keys_are_0600_and_their_directories_0700_whatever_the_umask() {
        let dir = tempfile::tempdir().unwrap();
        let client = pem("client");
        let input = write(
            dir.path(),
            "in/world.yaml",
            &format!(
                "type: Mesh\nname: default\nmtls:\n  enabledBackend: ca-1\n  backends: [{{name: ca-1, type: builtin}}]\n---\ntype: MeshExternalService\nname: ext\nmesh: default\nspec:\n  match: {{port: 443, protocol: tcp}}\n  endpoints: [{{address: 1.1.1.1, port: 443}}]\n  tls:\n    enabled: true\n    verification:\n      clientCert:\n        inlineString: |\n{}      clientKey:\n        inlineString: |\n{}---\ntype: Dataplane\nname: web\nmesh: default\nnetworking:\n  address: 10.0.0.1\n  inbound: [{{port: 8080, tags: {{kuma.io/service: web}}}}]\n",
                indent(&client.cert, 10),
                indent(&client.key, 10)
            ),
        );
        let out = dir.path().join("sec");
        certs(&input, &out);
        for d in ["", "meshes", "meshes/default", "proxies", "proxies/default/web", "meshes/default/inline-keys"] {
            assert_eq!(mode(&out.join(d)), 0o700, "{d}");
        }
        assert_eq!(check(&out), 3, "ca.key, key.pem and one inline key");

        // Someone loosened everything; a rerun (which keeps the CA and the leaf)
        // makes the keys and their directories private again.
        for f in walk(&out) {
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
            std::fs::set_permissions(f.parent().unwrap(), std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        certs(&input, &out);
        assert_eq!(check(&out), 3);
    }
}
