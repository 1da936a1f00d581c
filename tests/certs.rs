//! `meshc certs`: the builtin CA is created once and reused, leaves carry exactly
//! the URI SANs RBAC matches, keys are private, provided CAs sign the leaves,
//! nothing secret is ever printed, bad input writes nothing, and Envoy accepts
//! (and really loads) the SDS files.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{meshc, run_bounded, write};
use meshc::certs::{CertInfo, inspect_pem};

const BUILTIN: &str = "\
type: Mesh
name: default
mtls:
  enabledBackend: ca-1
  backends:
  - name: ca-1
    type: builtin
    dpCert:
      rotation:
        expiration: 720h
---
type: Mesh
name: plain
---
type: Dataplane
mesh: default
name: web-1
networking:
  address: 10.0.0.1
  inbound:
  - port: 8080
    tags:
      kuma.io/service: web
      version: v1
  - port: 9090
    tags:
      kuma.io/service: web
      kuma.io/protocol: http
      version: v1
---
type: Dataplane
mesh: default
name: backend-1
networking:
  address: 10.0.0.2
  inbound:
  - port: 8080
    tags:
      kuma.io/service: backend
---
type: Dataplane
mesh: default
name: gw
networking:
  address: 10.0.0.9
  gateway:
    type: BUILTIN
    tags:
      kuma.io/service: edge
---
type: Dataplane
mesh: plain
name: other
networking:
  address: 10.0.0.3
  inbound:
  - port: 8080
    tags:
      kuma.io/service: other
";

/// Run `meshc certs ARGS` in `dir`; every run is checked for leaked secrets.
fn certs(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = meshc();
    cmd.current_dir(dir).arg("certs").args(args);
    let out = run_bounded(cmd, None, Duration::from_secs(60));
    assert_nothing_secret(&out);
    out
}

fn assert_nothing_secret(out: &Output) {
    for (name, stream) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        let text = String::from_utf8_lossy(stream);
        for needle in ["-----BEGIN", "PRIVATE KEY", "MIG", "MHc"] {
            assert!(!text.contains(needle), "{name} contains {needle:?}:\n{text}");
        }
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn status(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn read(p: &Path) -> Vec<u8> {
    fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn leaf(path: &Path) -> CertInfo {
    let text = String::from_utf8(read(path)).unwrap();
    inspect_pem(&text).unwrap().into_iter().next().expect("a certificate")
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), read(&p));
            }
        }
    }
    out
}

fn openssl() -> Option<&'static str> {
    let ok = Command::new("openssl").arg("version").stdout(Stdio::null()).stderr(Stdio::null()).status();
    ok.is_ok_and(|s| s.success()).then_some("openssl")
}

/// `openssl verify` of a leaf against a CA bundle, when openssl is installed.
fn verify_chain(ca: &Path, cert: &Path) {
    let Some(openssl) = openssl() else {
        eprintln!("note: openssl not found; chain signature check skipped");
        return;
    };
    let out =
        Command::new(openssl).args(["verify", "-purpose", "sslserver", "-CAfile"]).arg(ca).arg(cert).output().unwrap();
    assert!(out.status.success(), "openssl verify: {}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
}

#[test]
fn builtin_ca_is_created_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "mesh.yaml", BUILTIN);
    let first = certs(dir.path(), &["mesh.yaml", "--out", "secrets"]);
    assert_eq!(status(&first), 0, "{}", stderr(&first));
    let line = stderr(&first);
    assert!(line.contains("certs: 2 issued, 0 kept, 1 CA created in secrets"), "{line}");
    assert!(line.contains("mTLS is off in mesh plain (1 proxy skipped)"), "{line}");
    assert_eq!(line.lines().count(), 1, "{line}");

    let s = dir.path().join("secrets");
    let ca = s.join("meshes/default");
    let web = s.join("proxies/default/web-1");
    for f in ["ca.pem", "ca.key", "ca.sds.yaml"] {
        assert!(ca.join(f).is_file(), "{f}");
    }
    for f in ["cert.pem", "key.pem", "identity.sds.yaml"] {
        assert!(web.join(f).is_file(), "{f}");
    }
    assert!(!s.join("proxies/default/gw").exists(), "gateways get no sidecar identity");
    assert!(!s.join("proxies/plain").exists() && !s.join("meshes/plain").exists(), "no mTLS, nothing written");
    let ca_info = inspect_pem(&String::from_utf8(read(&ca.join("ca.pem"))).unwrap()).unwrap();
    assert_eq!(ca_info.len(), 1);
    assert!(ca_info[0].is_ca && ca_info[0].self_issued);
    assert_eq!(ca_info[0].uris, vec!["spiffe://default".to_string()]);
    assert!(ca_info[0].not_after - now() > 9 * 365 * 86_400, "a long-lived CA");
    verify_chain(&ca.join("ca.pem"), &web.join("cert.pem"));

    let before = snapshot(&s);
    let second = certs(dir.path(), &["mesh.yaml", "--out", "secrets", "--format", "json"]);
    assert_eq!(status(&second), 0, "{}", stderr(&second));
    assert!(stderr(&second).contains("certs: 0 issued, 2 kept, 1 CA reused in secrets"), "{}", stderr(&second));
    let summary: serde_json::Value = serde_json::from_slice(&second.stdout).expect("JSON summary on stdout");
    assert_eq!(summary["issued"], 0);
    assert_eq!(summary["kept"], 2);
    assert_eq!(summary["cas_reused"], 1);
    assert_eq!(summary["meshes_without_mtls"], serde_json::json!(["plain"]));
    assert_eq!(summary["proxies"][1]["dir"], "default/web-1");
    assert_eq!(before, snapshot(&s), "a rerun changes no byte");
}

#[test]
fn leaf_sans_are_exactly_the_rbac_identities() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "mesh.yaml", BUILTIN);
    let out = certs(dir.path(), &["mesh.yaml", "--out", "secrets"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let web = leaf(&dir.path().join("secrets/proxies/default/web-1/cert.pem"));
    assert_eq!(
        web.uris,
        ["spiffe://default/web", "kuma://kuma.io/protocol/http", "kuma://kuma.io/service/web", "kuma://version/v1"]
    );
    assert!(!web.is_ca);
    // dpCert.rotation.expiration: 720h, starting a few minutes ago.
    let t = now();
    assert!((web.not_after - (t + 720 * 3600)).abs() < 120, "{web:?}");
    assert!(web.not_before < t && web.not_before > t - 3600, "{web:?}");
    let backend = leaf(&dir.path().join("secrets/proxies/default/backend-1/cert.pem"));
    assert_eq!(backend.uris, ["spiffe://default/backend", "kuma://kuma.io/service/backend"]);

    if let Some(openssl) = openssl() {
        let text = Command::new(openssl)
            .args(["x509", "-noout", "-text", "-in"])
            .arg(dir.path().join("secrets/proxies/default/web-1/cert.pem"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&text.stdout);
        assert!(text.contains("URI:spiffe://default/web, URI:kuma://kuma.io/protocol/http"), "{text}");
        assert!(text.contains("Digital Signature, Key Encipherment"), "{text}");
        assert!(text.contains("TLS Web Server Authentication, TLS Web Client Authentication"), "{text}");
        assert!(text.contains("Subject: \n") || text.contains("Subject:\n"), "no subject: {text}");
    }
}

#[cfg(unix)]
#[test]
fn keys_are_private_and_directories_closed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "mesh.yaml", BUILTIN);
    assert_eq!(status(&certs(dir.path(), &["mesh.yaml", "--out", "secrets"])), 0);
    let s = dir.path().join("secrets");
    assert_eq!(mode(&s.join("meshes/default/ca.key")), 0o600);
    assert_eq!(mode(&s.join("proxies/default/web-1/key.pem")), 0o600);
    assert_eq!(mode(&s.join("proxies/default/backend-1/key.pem")), 0o600);
    assert_eq!(mode(&s.join("proxies/default/web-1/cert.pem")), 0o644);
    for d in ["", "meshes", "meshes/default", "proxies", "proxies/default", "proxies/default/web-1"] {
        assert_eq!(mode(&s.join(d)), 0o700, "{d}");
    }
    // A kept key someone opened up is closed again.
    use std::os::unix::fs::PermissionsExt;
    let key = s.join("proxies/default/web-1/key.pem");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(status(&certs(dir.path(), &["mesh.yaml", "--out", "secrets"])), 0);
    assert_eq!(mode(&key), 0o600);
    // No temporary files are left anywhere.
    assert!(snapshot(&s).keys().all(|p| !p.to_string_lossy().contains(".tmp-")));
}

#[test]
fn changed_identity_validity_and_removed_proxies() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "mesh.yaml", BUILTIN);
    assert_eq!(status(&certs(dir.path(), &["mesh.yaml", "--out", "secrets"])), 0);
    let web_cert = dir.path().join("secrets/proxies/default/web-1/cert.pem");
    let backend_cert = dir.path().join("secrets/proxies/default/backend-1/cert.pem");
    let (web_before, backend_before) = (read(&web_cert), read(&backend_cert));

    // web-1 gains a tag, backend-1 disappears.
    let changed = BUILTIN.replace("version: v1\n  - port: 9090", "version: v2\n  - port: 9090");
    let changed = changed.replace("name: backend-1", "name: backend-2");
    write(dir.path(), "mesh.yaml", &changed);
    let out = certs(dir.path(), &["mesh.yaml", "--out", "secrets", "--validity", "48h"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let line = stderr(&out);
    assert!(line.contains("2 issued, 0 kept, 1 CA reused"), "{line}");
    assert!(line.contains("1 directory for proxies not in the input left in secrets/proxies"), "{line}");
    assert_ne!(read(&web_cert), web_before, "new SANs, new leaf");
    assert_eq!(read(&backend_cert), backend_before, "stale directories are left alone");
    let web = leaf(&web_cert);
    assert!(web.uris.contains(&"kuma://version/v2".to_string()) && web.uris.contains(&"kuma://version/v1".into()));
    assert!((web.not_after - (now() + 48 * 3600)).abs() < 120, "--validity wins: {web:?}");

    // A new builtin CA (the old key moved away) reissues every leaf under it.
    // (The one-third-of-validity rule is unit-tested in src/certs/leaf.rs.)
    fs::remove_file(dir.path().join("secrets/meshes/default/ca.key")).unwrap();
    let out = certs(dir.path(), &["mesh.yaml", "--out", "secrets"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("2 issued, 0 kept, 1 CA created"), "{}", stderr(&out));
    verify_chain(&dir.path().join("secrets/meshes/default/ca.pem"), &web_cert);
}

#[test]
fn kubernetes_form_with_zone_and_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let input = "\
apiVersion: kuma.io/v1alpha1
kind: Mesh
metadata:
  name: demo
spec:
  mtls:
    enabledBackend: ca
    backends:
    - name: ca
      type: builtin
---
apiVersion: kuma.io/v1alpha1
kind: Dataplane
mesh: demo
metadata:
  name: web-5f7
  namespace: shop
  labels:
    kuma.io/zone: east
spec:
  networking:
    address: 10.0.0.1
    inbound:
    - port: 8080
      tags:
        kuma.io/service: web_shop_svc_80
";
    write(dir.path(), "k8s.yaml", input);
    let out = certs(dir.path(), &["k8s.yaml", "--out", "s"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    let p = dir.path().join("s/proxies/demo/east/web-5f7.shop");
    let sds = String::from_utf8(read(&p.join("identity.sds.yaml"))).unwrap();
    assert!(sds.contains("identity_cert:secret:demo"), "{sds}");
    assert!(sds.contains("s/proxies/demo/east/web-5f7.shop/cert.pem"), "{sds}");
    assert_eq!(
        leaf(&p.join("cert.pem")).uris,
        ["spiffe://demo/web_shop_svc_80", "kuma://kuma.io/service/web_shop_svc_80"]
    );
}

/// A provided CA, made with rcgen: a CA certificate and its PKCS#8 key.
fn provided_ca(cn: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let cert = p.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn provided_mesh(mesh: &str, cert: &str, key: &str) -> String {
    format!(
        "type: Mesh\nname: {mesh}\nmtls:\n  enabledBackend: ca\n  backends:\n  - name: ca\n    type: provided\n    \
         conf:\n      cert: {cert}\n      key: {key}\n---\ntype: Dataplane\nmesh: {mesh}\nname: app\nnetworking:\n  \
         address: 10.0.0.1\n  inbound:\n  - port: 80\n    tags:\n      kuma.io/service: app\n"
    )
}

#[test]
fn provided_ca_from_files_and_inline_signs_the_leaves() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = provided_ca("files CA");
    write(dir.path(), "ca/cert.pem", &cert);
    write(dir.path(), "ca/key.pem", &key);
    let (cert2, key2) = provided_ca("inline CA");
    let b64 = |s: &str| {
        // Through the lib's own encoder would be circular; use openssl-free std-only base64.
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let b = s.as_bytes();
        let mut o = String::new();
        for c in b.chunks(3) {
            let n = (u32::from(c[0]) << 16)
                | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                | u32::from(*c.get(2).unwrap_or(&0));
            for i in 0..4 {
                o.push(if i <= c.len() { A[((n >> (18 - 6 * i)) & 63) as usize] as char } else { '=' });
            }
        }
        o
    };
    let input = format!(
        "{}---\n{}",
        provided_mesh("files", "{file: ca/cert.pem}", "{file: ca/key.pem}"),
        provided_mesh("inline", &format!("{{inline: {}}}", b64(&cert2)), &format!("{{inlineString: {key2:?}}}")),
    );
    write(dir.path(), "mesh.yaml", &input);
    let out = certs(dir.path(), &["mesh.yaml", "--out", "secrets"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    assert!(stderr(&out).contains("2 issued, 0 kept, 2 provided CAs in secrets"), "{}", stderr(&out));
    for (mesh, ca_pem) in [("files", &cert), ("inline", &cert2)] {
        let m = dir.path().join("secrets/meshes").join(mesh);
        assert!(!m.join("ca.key").exists(), "a provided CA's key is never copied");
        let written = inspect_pem(&String::from_utf8(read(&m.join("ca.pem"))).unwrap()).unwrap();
        assert_eq!(written, inspect_pem(ca_pem).unwrap(), "ca.pem is the provided CA");
        let leaf_path = dir.path().join("secrets/proxies").join(mesh).join("app/cert.pem");
        assert_eq!(inspect_pem(&String::from_utf8(read(&leaf_path)).unwrap()).unwrap().len(), 1, "no chain for a root");
        verify_chain(&m.join("ca.pem"), &leaf_path);
    }
    let again = certs(dir.path(), &["mesh.yaml", "--out", "secrets"]);
    assert!(stderr(&again).contains("0 issued, 2 kept"), "{}", stderr(&again));

    // Another provided CA: every leaf of that mesh is reissued under it.
    let (cert3, key3) = provided_ca("rotated CA");
    write(dir.path(), "ca/cert.pem", &cert3);
    write(dir.path(), "ca/key.pem", &key3);
    let rotated = certs(dir.path(), &["mesh.yaml", "--out", "secrets"]);
    assert!(stderr(&rotated).contains("1 issued, 1 kept"), "{}", stderr(&rotated));
    verify_chain(
        &dir.path().join("secrets/meshes/files/ca.pem"),
        &dir.path().join("secrets/proxies/files/app/cert.pem"),
    );
}

#[test]
fn provided_ca_in_openssl_formats() {
    let Some(openssl) = openssl() else {
        eprintln!("note: openssl not found; SEC1/PKCS#1 provided keys not tested");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "ca.cnf",
        "[req]\ndistinguished_name = dn\nx509_extensions = v3\nprompt = no\n[dn]\nCN = openssl CA\n\
         [v3]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n",
    );
    let sh = |args: &[&str]| {
        let out = Command::new(openssl).current_dir(d).args(args).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    };
    sh(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ec.key"]);
    sh(&["req", "-x509", "-new", "-key", "ec.key", "-config", "ca.cnf", "-days", "30", "-out", "ec.pem"]);
    sh(&["genrsa", "-traditional", "-out", "rsa.key", "2048"]);
    sh(&["req", "-x509", "-new", "-key", "rsa.key", "-config", "ca.cnf", "-days", "30", "-out", "rsa.pem"]);
    assert!(fs::read_to_string(d.join("ec.key")).unwrap().contains("BEGIN EC PRIVATE KEY"));
    assert!(fs::read_to_string(d.join("rsa.key")).unwrap().contains("BEGIN RSA PRIVATE KEY"));
    let input = format!(
        "{}---\n{}",
        provided_mesh("ec", "{file: ec.pem}", "{file: ec.key}"),
        provided_mesh("rsa", "{file: rsa.pem}", "{file: rsa.key}")
    );
    write(d, "mesh.yaml", &input);
    let out = certs(d, &["mesh.yaml", "--out", "secrets"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));
    for mesh in ["ec", "rsa"] {
        verify_chain(&d.join(format!("{mesh}.pem")), &d.join(format!("secrets/proxies/{mesh}/app/cert.pem")));
    }
    let again = certs(d, &["mesh.yaml", "--out", "secrets"]);
    assert!(stderr(&again).contains("0 issued, 2 kept"), "{}", stderr(&again));

    // A key that does not belong to the certificate is refused, naming the mesh.
    write(d, "mesh.yaml", &provided_mesh("ec", "{file: ec.pem}", "{file: rsa.key}"));
    let out = certs(d, &["mesh.yaml", "--out", "other"]);
    assert_eq!(status(&out), 1);
    assert!(
        stderr(&out).contains("mesh ec, mTLS backend ca") && stderr(&out).contains("does not belong"),
        "{}",
        stderr(&out)
    );
    assert!(!d.join("other").exists());
}

#[test]
fn kubernetes_secret_sources_and_unsupported_backends_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "secret.yaml", &provided_mesh("m", "{secret: ca-cert}", "{secret: ca-key}"));
    let out = certs(dir.path(), &["secret.yaml", "--out", "secrets"]);
    assert_eq!(status(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("mesh m, mTLS backend ca: conf.cert is the Kubernetes Secret \"ca-cert\"; meshc cannot read Kubernetes secrets. Use `file: PATH`"),
        "{err}"
    );
    assert!(!dir.path().join("secrets").exists(), "nothing written");

    let vault =
        "type: Mesh\nname: v\nmtls:\n  enabledBackend: vault-1\n  backends:\n  - name: vault-1\n    type: vault\n";
    write(dir.path(), "vault.yaml", vault);
    let out = certs(dir.path(), &["vault.yaml", "--out", "secrets"]);
    assert_eq!(status(&out), 1, "{}", stderr(&out));
    assert!(stderr(&out).contains("mesh v, mTLS backend vault-1: type \"vault\" is not supported"), "{}", stderr(&out));
    assert!(!dir.path().join("secrets").exists());

    write(dir.path(), "missing.yaml", &provided_mesh("m", "{file: nope.pem}", "{file: nope.key}"));
    let out = certs(dir.path(), &["missing.yaml", "--out", "secrets"]);
    assert_eq!(status(&out), 3, "an unreadable file is exit 3: {}", stderr(&out));
    assert!(stderr(&out).contains("cannot read nope.pem"), "{}", stderr(&out));
}

#[test]
fn invalid_input_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bad = BUILTIN.replace("enabledBackend: ca-1", "enabledBackend: missing");
    write(dir.path(), "mesh.yaml", &bad);
    let out = certs(dir.path(), &["mesh.yaml", "--out", "secrets", "--format", "json"]);
    assert_eq!(status(&out), 1, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("has to be set to one of the backends in the mesh"), "findings are printed: {err}");
    assert!(err.contains("nothing was written to secrets"), "{err}");
    assert!(!dir.path().join("secrets").exists());

    let out = certs(dir.path(), &["mesh.yaml", "--out", "secrets", "--validity", "soon"]);
    assert_eq!(status(&out), 2, "bad --validity is a usage error");
}

fn envoy() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("MESHC_ENVOY").map(PathBuf::from),
        Some(common::root().join("target/test-tools/envoy-venv/bin/envoy")),
        Some(PathBuf::from("/work/main/target/test-tools/envoy-venv/bin/envoy")),
    ];
    let found = candidates.into_iter().flatten().find(|p| p.is_file());
    if found.is_none() {
        assert!(std::env::var("CI").as_deref() != Ok("true"), "Envoy is required under CI (set MESHC_ENVOY)");
        eprintln!("note: envoy not found (set MESHC_ENVOY); Envoy checks skipped");
    }
    found
}

/// A sidecar-like bootstrap: an inbound listener terminating mesh mTLS and an
/// outbound cluster originating it, both from the SDS files `meshc certs` wrote.
fn bootstrap(listen_port: u16, admin: bool) -> String {
    let identity = "secrets/proxies/default/web-1/identity.sds.yaml";
    let ca = "secrets/meshes/default/ca.sds.yaml";
    let common = format!(
        "tls_certificate_sds_secret_configs:
            - name: identity_cert:secret:default
              sds_config: {{path_config_source: {{path: {identity}}}, resource_api_version: V3}}
            combined_validation_context:
              default_validation_context:
                match_typed_subject_alt_names:
                - san_type: URI
                  matcher: {{prefix: \"spiffe://default/\"}}
              validation_context_sds_secret_config:
                name: mesh_ca:secret:default
                sds_config: {{path_config_source: {{path: {ca}}}, resource_api_version: V3}}"
    );
    let admin = if admin { "admin:\n  address: {socket_address: {address: 127.0.0.1, port_value: 0}}\n" } else { "" };
    format!(
        "node: {{id: web-1, cluster: web}}
{admin}static_resources:
  listeners:
  - name: inbound:127.0.0.1:{listen_port}
    address: {{socket_address: {{address: 127.0.0.1, port_value: {listen_port}}}}}
    filter_chains:
    - filters:
      - name: envoy.filters.network.tcp_proxy
        typed_config:
          \"@type\": type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy
          stat_prefix: inbound
          cluster: backend
      transport_socket:
        name: envoy.transport_sockets.tls
        typed_config:
          \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext
          require_client_certificate: true
          common_tls_context:
            {common}
  clusters:
  - name: backend
    type: STATIC
    connect_timeout: 5s
    load_assignment:
      cluster_name: backend
      endpoints: [{{lb_endpoints: [{{endpoint: {{address: {{socket_address: {{address: 127.0.0.1, port_value: 9}}}}}}}}]}}]
    transport_socket:
      name: envoy.transport_sockets.tls
      typed_config:
        \"@type\": type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext
        sni: backend
        common_tls_context:
          alpn_protocols: [kuma]
          {}
",
        common.replace("\n  ", "\n")
    )
}

#[test]
fn envoy_accepts_and_loads_the_sds_files() {
    let Some(envoy) = envoy() else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "mesh.yaml", BUILTIN);
    let out = certs(d, &["mesh.yaml", "--out", "secrets"]);
    assert_eq!(status(&out), 0, "{}", stderr(&out));

    write(d, "bootstrap.yaml", &bootstrap(15001, false));
    let mut cmd = Command::new(&envoy);
    cmd.current_dir(d).args(["--mode", "validate", "-c", "bootstrap.yaml", "-l", "error"]);
    let v = run_bounded(cmd, None, Duration::from_secs(60));
    assert!(v.status.success(), "envoy --mode validate: {}{}", String::from_utf8_lossy(&v.stdout), stderr(&v));

    // Validation does not read SDS files; a real Envoy must load them. Its admin
    // /certs lists what it loaded.
    write(d, "live.yaml", &bootstrap(0, true));
    let mut child = Command::new(&envoy)
        .current_dir(d)
        .args(["-c", "live.yaml", "--disable-hot-restart", "-l", "warning", "--admin-address-path", "admin.txt"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let certs_json = admin_certs(&d.join("admin.txt"));
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let certs_json = certs_json.unwrap_or_else(|e| panic!("{e}; envoy said: {}", stderr(&output)));
    for want in ["spiffe://default/web", "kuma://version/v1", "\"uri\": \"spiffe://default\""] {
        assert!(certs_json.contains(want), "Envoy's /certs lacks {want}:\n{certs_json}");
    }
}

/// GET /certs from an Envoy whose admin address lands in `path` (bounded wait).
fn admin_certs(path: &Path) -> Result<String, String> {
    use std::io::{Read, Write};
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if Instant::now() > deadline {
            return Err("Envoy's admin did not answer in 30s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
        let Ok(addr) = fs::read_to_string(path) else { continue };
        let Ok(mut s) = std::net::TcpStream::connect(addr.trim()) else { continue };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        if s.write_all(b"GET /certs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").is_err() {
            continue;
        }
        let mut body = Vec::new();
        let _ = s.read_to_end(&mut body);
        let body = String::from_utf8_lossy(&body).into_owned();
        if body.contains("cert_chain") {
            return Ok(body);
        }
    }
}
