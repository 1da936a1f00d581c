//! `meshc certs`: issue every sidecar's mTLS identity certificate and its mesh's
//! CA bundle into a secrets directory, so a static Envoy deployment of meshc's
//! configs needs no other tool (reference §8.1).
//!
//! Layout (shared with `compile --secrets-dir`, see [`crate::emit::layout`]):
//! `S/meshes/<mesh>/{ca.pem, ca.key (builtin only), ca.sds.yaml}` and
//! `S/proxies/<ProxyId::dir()>/{cert.pem, key.pem, identity.sds.yaml}`.
//!
//! The run has two phases so that a configuration problem writes nothing: first
//! everything is read and checked (CA backends, provided CAs, an existing builtin
//! CA, every proxy's SANs), then files are written. Reruns are idempotent: the
//! builtin CA is created once, and a leaf that is still right and has more than a
//! third of its validity left is kept byte for byte.

mod ca;
mod der;
mod external;
pub mod fsio;
mod key;
pub mod leaf;
pub(crate) mod pem;
mod sds;
mod x509;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use time::OffsetDateTime;

use crate::emit::{ProxyId, layout::escape_segment};
use crate::findings::render::printable;
use crate::model::common::parse_go_duration;
use crate::model::{Meta, Resource, Spec};
use ca::{Ca, DataSourceError};
use fsio::Mode;

pub use pem::decode_base64;
pub use sds::{ca_secret_name, identity_secret_name};

/// Leaf lifetime when the backend sets no `dpCert.rotation.expiration`: a static
/// deployment has no agent to rotate certificates, so a year rather than Kuma's 24h.
pub const DEFAULT_LEAF_VALIDITY_SECS: i64 = 365 * 86_400;
/// Certificates start this long before now, for clocks that are a little behind.
pub const CLOCK_SKEW_SECS: i64 = 5 * 60;

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The secrets directory, as given (paths inside SDS files are built from it).
    pub out: PathBuf,
    /// Leaf lifetime overriding every backend's `dpCert.rotation.expiration`.
    pub validity_secs: Option<i64>,
}

/// What a run did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub secrets_dir: String,
    pub issued: usize,
    pub kept: usize,
    pub cas_created: usize,
    pub cas_reused: usize,
    pub cas_provided: usize,
    /// Meshes (with proxies or a Mesh resource) that have no mTLS enabled.
    pub meshes_without_mtls: Vec<String>,
    /// Sidecars in those meshes: nothing to issue for them.
    pub proxies_without_mtls: usize,
    /// Sidecars with no inbound tags: no identity to put in a certificate.
    pub proxies_without_identity: Vec<String>,
    /// Proxy directories under `S/proxies` for proxies not in the input (left alone).
    pub stale_proxy_dirs: usize,
    /// Every proxy handled, sorted.
    pub proxies: Vec<ProxyReport>,
    /// MeshExternalService client keys written from inline data (`S/meshes/<mesh>/inline-keys/`).
    pub inline_keys: usize,
}

/// One proxy in the summary.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyReport {
    pub mesh: String,
    pub name: String,
    /// Directory relative to the secrets directory.
    pub dir: String,
    /// `issued` or `kept`.
    pub status: &'static str,
}

impl Summary {
    /// The one-line summary, e.g. `certs: 3 issued, 2 kept, 1 CA created in S`.
    pub fn line(&self) -> String {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = vec![format!("{} issued", self.issued), format!("{} kept", self.kept)];
        if self.cas_created > 0 {
            parts.push(plural(self.cas_created, "CA created", "CAs created"));
        }
        if self.cas_reused > 0 {
            parts.push(plural(self.cas_reused, "CA reused", "CAs reused"));
        }
        if self.cas_provided > 0 {
            parts.push(plural(self.cas_provided, "provided CA", "provided CAs"));
        }
        if self.inline_keys > 0 {
            parts.push(plural(self.inline_keys, "inline client key", "inline client keys"));
        }
        let mut line = format!("certs: {} in {}", parts.join(", "), self.secrets_dir);
        if !self.meshes_without_mtls.is_empty() {
            line.push_str(&format!(
                "; mTLS is off in {} {} ({} skipped)",
                if self.meshes_without_mtls.len() == 1 { "mesh" } else { "meshes" },
                self.meshes_without_mtls.join(", "),
                plural(self.proxies_without_mtls, "proxy", "proxies"),
            ));
        }
        if !self.proxies_without_identity.is_empty() {
            line.push_str(&format!(
                "; {} without inbound tags (no identity): {}",
                plural(self.proxies_without_identity.len(), "proxy", "proxies"),
                self.proxies_without_identity.join(", ")
            ));
        }
        if self.stale_proxy_dirs > 0 {
            line.push_str(&format!(
                "; {} for proxies not in the input left in {}",
                plural(self.stale_proxy_dirs, "directory", "directories"),
                Path::new(&self.secrets_dir).join("proxies").display()
            ));
        }
        // Names are shown as written: never as terminal escape sequences.
        printable(&line)
    }
}

/// What a certificate says, for tests and tools that check issued files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// URI SANs in certificate order.
    pub uris: Vec<String>,
    /// Validity bounds, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    pub is_ca: bool,
    /// Issuer equals subject (a root).
    pub self_issued: bool,
}

/// Every certificate in a PEM text (a leaf file lists the leaf first).
pub fn inspect_pem(text: &str) -> Result<Vec<CertInfo>, String> {
    let blocks = pem::parse_all(text)?;
    blocks
        .iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| {
            let c = x509::parse(&b.der).map_err(|e| format!("not a valid X.509 certificate: {e}"))?;
            Ok(CertInfo {
                uris: c.uris.clone(),
                not_before: c.not_before,
                not_after: c.not_after,
                is_ca: c.is_ca,
                self_issued: c.self_issued(),
            })
        })
        .collect()
}

/// Why a run stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// One message per problem, each naming the mesh, backend or file.
    pub messages: Vec<String>,
    /// A file could not be read or written (as opposed to a configuration problem).
    pub io: bool,
}

impl Failure {
    /// Messages name meshes and proxies as written; they are made printable here.
    fn config(messages: Vec<String>) -> Self {
        Failure { messages: messages.iter().map(|m| printable(m)).collect(), io: false }
    }

    fn io(message: String) -> Self {
        Failure { messages: vec![printable(&message)], io: true }
    }
}

/// The ProxyId of a Dataplane. The namespace is part of the identity only in
/// Kubernetes form, matching [`Meta::core_name`].
pub fn proxy_id(meta: &Meta) -> ProxyId {
    ProxyId::of_dataplane(meta)
}

/// Kuma's `mesh.ParseDuration` in seconds: Go durations plus whole days (`30d`)
/// and years (`1y` = 365 days). `None` when invalid or not positive.
pub fn parse_validity(text: &str) -> Option<i64> {
    let t = text.trim();
    let whole = |n: &str, unit: i64| n.parse::<i64>().ok().and_then(|n| n.checked_mul(unit));
    let secs = if let Some(n) = t.strip_suffix('d').filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
        whole(n, 86_400)?
    } else if let Some(n) = t.strip_suffix('y').filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())) {
        whole(n, 365 * 86_400)?
    } else {
        i64::try_from(parse_go_duration(t)? / 1_000_000_000).ok()?
    };
    (secs > 0).then_some(secs)
}

/// `[now - skew, now + secs]`, or an error when that is past what X.509 can say.
pub(crate) fn window(now: OffsetDateTime, secs: i64) -> Result<(OffsetDateTime, OffsetDateTime), String> {
    let end = now
        .unix_timestamp()
        .checked_add(secs)
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok())
        .filter(|t| t.year() <= 9999)
        .ok_or_else(|| format!("a validity of {secs} seconds ends after the year 9999"))?;
    Ok((now - time::Duration::seconds(CLOCK_SKEW_SECS), end))
}

/// A mesh with mTLS, ready to issue for.
struct MeshPlan {
    name: String,
    dir_rel: String,
    ca: Ca,
    ca_state: CaState,
    leaf_validity_secs: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaState {
    Created,
    Reused,
    Provided,
}

struct ProxyPlan {
    id: ProxyId,
    /// The mesh whose CA issues the certificate.
    mesh: String,
    /// The certificate's directory under the secrets directory: `proxies/<dir>`,
    /// or for a ZoneEgress (one identity per mesh) `proxies/<dir>/<mesh>`.
    rel: String,
    sans: Vec<String>,
}

/// Issue (or keep) every sidecar's certificate under `opts.out`.
pub fn run(resources: &[Resource], opts: &Options) -> Result<Summary, Failure> {
    run_at(resources, opts, OffsetDateTime::now_utc())
}

fn run_at(resources: &[Resource], opts: &Options, now: OffsetDateTime) -> Result<Summary, Failure> {
    let out_str = opts
        .out
        .to_str()
        .ok_or_else(|| Failure::config(vec![format!("{}: the secrets directory must be UTF-8", opts.out.display())]))?;
    let mut summary = Summary { secrets_dir: out_str.to_string(), ..Summary::default() };

    // Phase 1: read and check everything; write nothing.
    let mut errors = Vec::new();
    let mut io = false;
    let mut meshes: BTreeMap<String, MeshPlan> = BTreeMap::new();
    let mut without_mtls: BTreeSet<String> = BTreeSet::new();
    for r in resources {
        let Some(Spec::Mesh(mesh)) = &r.spec else { continue };
        let name = r.meta.name.clone();
        let Some(backend) = mesh.enabled_mtls_backend() else {
            without_mtls.insert(name);
            continue;
        };
        match plan_mesh(&name, backend, opts, now) {
            Ok(plan) => {
                meshes.insert(name, plan);
            }
            Err(f) => {
                io |= f.io;
                errors.extend(f.messages);
            }
        }
    }
    let mut proxies: Vec<ProxyPlan> = Vec::new();
    for r in resources {
        let Some(Spec::Dataplane(dp)) = &r.spec else { continue };
        if dp.networking.as_ref().is_some_and(|n| n.gateway.is_some()) {
            continue; // gateways are not sidecars
        }
        let id = proxy_id(&r.meta);
        if !meshes.contains_key(&id.mesh) {
            without_mtls.insert(id.mesh.clone());
            summary.proxies_without_mtls += 1;
            continue;
        }
        let sans = leaf::wanted_sans(&id.mesh, dp);
        if sans.is_empty() {
            summary.proxies_without_identity.push(id.to_string());
            continue;
        }
        if let Some(bad) = sans.iter().find(|s| !s.is_ascii()) {
            errors.push(format!("Dataplane {id}: {bad:?} cannot be a certificate URI (not ASCII)"));
            continue;
        }
        let rel = format!("proxies/{}", id.dir());
        proxies.push(ProxyPlan { mesh: id.mesh.clone(), id, rel, sans });
    }
    // A ZoneEgress terminates the mTLS of every mesh: one identity per mesh,
    // `spiffe://<mesh>/zone-egress` (the SAN sidecars check).
    for r in resources.iter().filter(|r| matches!(r.spec, Some(Spec::ZoneEgress(_)))) {
        let Some(id) = crate::plan::zone_proxies::proxy_id(r) else { continue };
        for mesh in meshes.keys() {
            let rel = format!("proxies/{}/{}", id.dir(), escape_segment(mesh));
            let sans = vec![crate::plan::zone_proxies::egress_identity(mesh)];
            proxies.push(ProxyPlan { id: id.clone(), mesh: mesh.clone(), rel, sans });
        }
    }
    proxies.sort_by(|a, b| (&a.id, &a.mesh).cmp(&(&b.id, &b.mesh)));
    for pair in proxies.windows(2) {
        if pair[0].id == pair[1].id && pair[0].mesh == pair[1].mesh {
            errors.push(format!("Dataplane {} is defined twice; give each proxy one definition", pair[0].id));
        }
    }
    if !errors.is_empty() {
        return Err(Failure { messages: errors, io });
    }
    summary.meshes_without_mtls = without_mtls.into_iter().collect();
    summary.proxies_without_identity.sort();

    // Phase 2: write.
    for plan in meshes.values() {
        write_mesh(plan, &opts.out, out_str)?;
        match plan.ca_state {
            CaState::Created => summary.cas_created += 1,
            CaState::Reused => summary.cas_reused += 1,
            CaState::Provided => summary.cas_provided += 1,
        }
    }
    let mut issuers = BTreeMap::new();
    for (name, plan) in &meshes {
        let issuer = plan.ca.issuer().map_err(|e| Failure::config(vec![format!("mesh {name}: {e}")]))?;
        issuers.insert(name.as_str(), issuer);
    }
    let mut current = BTreeSet::new();
    for p in &proxies {
        let (Some(plan), Some(issuer)) = (meshes.get(&p.mesh), issuers.get(p.mesh.as_str())) else {
            continue;
        };
        let status = write_proxy(p, plan, issuer, &opts.out, out_str, opts.validity_secs, now)?;
        match status {
            "kept" => summary.kept += 1,
            _ => summary.issued += 1,
        }
        let dir = p.rel.strip_prefix("proxies/").unwrap_or(&p.rel).to_string();
        summary.proxies.push(ProxyReport { mesh: p.mesh.clone(), name: p.id.core_name(), dir: dir.clone(), status });
        current.insert(dir);
    }
    summary.stale_proxy_dirs = count_stale(&opts.out.join("proxies"), &current);
    for (rel, key) in external::inline_keys(resources) {
        let path = opts.out.join(&rel);
        if let Some(dir) = path.parent() {
            fsio::create_private_dir(dir).map_err(|e| io_failure(dir, e))?;
        }
        write_file(&path, &key, Mode::Secret)?;
        summary.inline_keys += 1;
    }
    Ok(summary)
}

/// Check a mesh's enabled backend and load (or decide to create) its CA.
fn plan_mesh(
    name: &str,
    backend: &crate::model::mesh::CertificateAuthorityBackend,
    opts: &Options,
    now: OffsetDateTime,
) -> Result<MeshPlan, Failure> {
    let backend_name = backend.name.as_deref().unwrap_or_default();
    let what = format!("mesh {name}, mTLS backend {backend_name}");
    let dir_rel = format!("meshes/{}", escape_segment(name));
    let dir = opts.out.join(&dir_rel);
    let conf_validity = |path: &[&str]| {
        let mut v = backend.conf.as_ref()?;
        for k in path {
            v = v.get(k)?;
        }
        v.as_str().and_then(parse_validity)
    };
    let leaf_validity_secs = backend
        .dp_cert
        .as_ref()
        .and_then(|d| d.rotation.as_ref())
        .and_then(|r| r.expiration.as_deref())
        .and_then(parse_validity)
        .unwrap_or(DEFAULT_LEAF_VALIDITY_SECS);
    let (ca, ca_state) = match backend.type_.as_deref().unwrap_or_default() {
        "builtin" => {
            let cert_path = dir.join("ca.pem");
            let key_path = dir.join("ca.key");
            match (read_optional(&cert_path)?, read_optional(&key_path)?) {
                (Some(cert), Some(key)) => {
                    let ca = Ca::from_pem(&cert, &key, &format!("{what}: {}", cert_path.display())).map_err(|e| {
                        Failure::config(vec![format!("{e}; move ca.pem and ca.key away to create a new CA")])
                    })?;
                    (ca, CaState::Reused)
                }
                (_, Some(_)) => {
                    return Err(Failure::config(vec![format!(
                        "{what}: {} exists without {}; restore it, or move ca.key away to create a new CA",
                        key_path.display(),
                        cert_path.display()
                    )]));
                }
                _ => {
                    let validity = conf_validity(&["caCert", "expiration"]).unwrap_or(ca::DEFAULT_CA_VALIDITY_SECS);
                    let ca = Ca::create_builtin(name, now, validity)
                        .map_err(|e| Failure::config(vec![format!("{what}: {e}")]))?;
                    (ca, CaState::Created)
                }
            }
        }
        "provided" => {
            let read = |field: &str| {
                ca::read_data_source(backend.conf.as_ref(), field).map_err(|e| data_source_failure(&what, field, e))
            };
            let (cert, key) = (read("cert"), read("key"));
            let (cert, key) = match (cert, key) {
                (Ok(c), Ok(k)) => (c, k),
                (c, k) => {
                    let failures: Vec<Failure> = [c.err(), k.err()].into_iter().flatten().collect();
                    let io = failures.iter().any(|f| f.io);
                    return Err(Failure { messages: failures.into_iter().flat_map(|f| f.messages).collect(), io });
                }
            };
            let text = |b: Vec<u8>, field: &str| {
                String::from_utf8(b).map_err(|_| Failure::config(vec![format!("{what}: conf.{field} is not PEM text")]))
            };
            let ca =
                Ca::from_pem(&text(cert, "cert")?, &text(key, "key")?, &what).map_err(|e| Failure::config(vec![e]))?;
            (ca, CaState::Provided)
        }
        other => {
            return Err(Failure::config(vec![format!(
                "{what}: type {other:?} is not supported by meshc certs (only builtin and provided); \
                 issue the certificates with that CA and place them in the secrets directory yourself"
            )]));
        }
    };
    if ca.not_after <= now.unix_timestamp() {
        return Err(Failure::config(vec![format!(
            "{what}: the CA certificate has expired; replace it (for a builtin CA, move {} and ca.key away)",
            dir.join("ca.pem").display()
        )]));
    }
    Ok(MeshPlan { name: name.to_string(), dir_rel, ca, ca_state, leaf_validity_secs })
}

fn data_source_failure(what: &str, field: &str, e: DataSourceError) -> Failure {
    match e {
        DataSourceError::Missing => Failure::config(vec![format!("{what}: conf.{field} is missing")]),
        DataSourceError::Secret(name) => Failure::config(vec![format!(
            "{what}: conf.{field} is the Kubernetes Secret {name:?}; meshc cannot read Kubernetes secrets. \
             Use `file: PATH` (or `inlineString: PEM`) instead"
        )]),
        DataSourceError::Invalid(msg) => Failure::config(vec![format!("{what}: conf.{field}: {msg}")]),
        DataSourceError::Unreadable(msg) => Failure::io(format!("{what}: conf.{field}: {msg}")),
    }
}

/// The file's text, or `None` when it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, Failure> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| Failure::config(vec![format!("{}: not PEM text", path.display())])),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Failure::io(format!("cannot read {}: {e}", path.display()))),
    }
}

/// A path inside the secrets directory as Envoy should see it: `S` as given, joined.
fn sds_path(out_str: &str, rel: &str) -> String {
    Path::new(out_str).join(rel).to_string_lossy().into_owned()
}

fn io_failure(path: &Path, e: std::io::Error) -> Failure {
    Failure::io(format!("cannot write {}: {e}", path.display()))
}

fn write_file(path: &Path, bytes: &[u8], mode: Mode) -> Result<(), Failure> {
    fsio::write_if_changed(path, bytes, mode).map(|_| ()).map_err(|e| io_failure(path, e))
}

fn write_mesh(plan: &MeshPlan, out: &Path, out_str: &str) -> Result<(), Failure> {
    let dir = out.join(&plan.dir_rel);
    fsio::create_private_dir(&dir).map_err(|e| io_failure(&dir, e))?;
    // Certificate first: a crash before the key leaves a lone ca.pem, which the
    // next run replaces with a whole new CA.
    write_file(&dir.join("ca.pem"), plan.ca.bundle_pem().as_bytes(), Mode::Public)?;
    let key_path = dir.join("ca.key");
    match plan.ca_state {
        CaState::Created => write_file(&key_path, plan.ca.key_pem().as_bytes(), Mode::Secret)?,
        // A kept CA key someone made readable is made private again.
        CaState::Reused => fsio::ensure_mode(&key_path, Mode::Secret).map_err(|e| io_failure(&key_path, e))?,
        CaState::Provided => {}
    }
    let sds = sds::ca(&plan.name, &sds_path(out_str, &format!("{}/ca.pem", plan.dir_rel)))
        .map_err(|e| Failure::io(e.to_string()))?;
    write_file(&dir.join("ca.sds.yaml"), sds.as_bytes(), Mode::Public)
}

fn write_proxy(
    p: &ProxyPlan,
    plan: &MeshPlan,
    issuer: &rcgen::Issuer<'_, &rcgen::KeyPair>,
    out: &Path,
    out_str: &str,
    validity_override: Option<i64>,
    now: OffsetDateTime,
) -> Result<&'static str, Failure> {
    let rel = &p.rel;
    let dir = out.join(rel);
    let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
    let existing = (std::fs::read_to_string(&cert_path), std::fs::read_to_string(&key_path));
    let kept = match &existing {
        (Ok(cert), Ok(key)) => leaf::keep(cert, key, &p.sans, &plan.ca, now.unix_timestamp()),
        _ => false,
    };
    fsio::create_private_dir(&dir).map_err(|e| io_failure(&dir, e))?;
    if kept {
        fsio::ensure_mode(&key_path, Mode::Secret).map_err(|e| io_failure(&key_path, e))?;
        fsio::ensure_mode(&cert_path, Mode::Public).map_err(|e| io_failure(&cert_path, e))?;
    } else {
        let secs = validity_override.unwrap_or(plan.leaf_validity_secs);
        let (not_before, mut not_after) =
            window(now, secs).map_err(|e| Failure::config(vec![format!("Dataplane {}: {e}", p.id)]))?;
        // A leaf outliving its CA would fail verification anyway; end with it.
        if let Ok(ca_end) = OffsetDateTime::from_unix_timestamp(plan.ca.not_after) {
            not_after = not_after.min(ca_end);
        }
        let issued = leaf::issue(&p.sans, issuer, &plan.ca, not_before, not_after)
            .map_err(|e| Failure::config(vec![format!("Dataplane {}: {e}", p.id)]))?;
        // Key first: a crash in between leaves a pair that does not match, which
        // the next run notices and reissues.
        fsio::write_atomic(&key_path, issued.key_pem.as_bytes(), Mode::Secret).map_err(|e| io_failure(&key_path, e))?;
        fsio::write_atomic(&cert_path, issued.cert_pem.as_bytes(), Mode::Public)
            .map_err(|e| io_failure(&cert_path, e))?;
    }
    let sds = sds::identity(
        &p.mesh,
        &sds_path(out_str, &format!("{rel}/cert.pem")),
        &sds_path(out_str, &format!("{rel}/key.pem")),
    )
    .map_err(|e| Failure::io(e.to_string()))?;
    write_file(&dir.join("identity.sds.yaml"), sds.as_bytes(), Mode::Public)?;
    Ok(if kept { "kept" } else { "issued" })
}

/// Directories under `proxies` holding proxy files for proxies not in `current`.
fn count_stale(proxies: &Path, current: &BTreeSet<String>) -> usize {
    fn walk(dir: &Path, rel: &str, depth: usize, current: &BTreeSet<String>, n: &mut usize) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        let mut has_files = false;
        for e in entries.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            if ft.is_dir() && depth < 4 {
                let child = if rel.is_empty() { name } else { format!("{rel}/{name}") };
                walk(&e.path(), &child, depth + 1, current, n);
            } else if ft.is_file() && matches!(name.as_str(), "cert.pem" | "key.pem" | "identity.sds.yaml") {
                has_files = true;
            }
        }
        if has_files && !current.contains(rel) {
            *n += 1;
        }
    }
    let mut n = 0;
    walk(proxies, "", 0, current, &mut n);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validity_durations() {
        assert_eq!(parse_validity("24h"), Some(86_400));
        assert_eq!(parse_validity("720h"), Some(30 * 86_400));
        assert_eq!(parse_validity("30d"), Some(30 * 86_400));
        assert_eq!(parse_validity("1y"), Some(365 * 86_400));
        assert_eq!(parse_validity("1h30m"), Some(5400));
        for bad in ["", "0", "-1h", "d", "1x", "99999999999999999999y"] {
            assert_eq!(parse_validity(bad), None, "{bad}");
        }
    }

    #[test]
    fn window_refuses_the_year_10000() {
        let now = OffsetDateTime::now_utc();
        assert!(window(now, 8000 * 365 * 86_400).is_err());
        assert!(window(now, 86_400).is_ok());
    }
}
