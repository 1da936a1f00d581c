//! The `plan` stage: per proxy, what Envoy must do, before any Envoy type is
//! involved. Inbounds (to the local application), outbounds (to the services
//! the proxy may reach), clusters with their endpoints, mTLS, transparent
//! proxying and DNS. Names follow Kuma's legacy 2.x naming scheme (reference
//! §10.1) so that stats, MeshProxyPatch matches and people's habits carry over.
//!
//! The plan is serializable: golden tests keep one per proxy, and `meshc
//! explain` prints it.

pub mod outbounds;
pub mod routes;
pub mod zone_proxies;
pub mod zones;

use std::net::IpAddr;

use serde::Serialize;

use crate::emit::ProxyId;
use crate::findings::Finding;
use crate::model::common::StringMap;
use crate::model::dataplane::IpFamilyMode;
use crate::model::mesh::MtlsMode;
use crate::model::mesh_external_service::MeshExternalService;
use crate::model::{Resource, Spec};
use crate::rules::effective::Effective;
use crate::rules::proxy::{PolicySet, ProxyRules};
use crate::rules::select::Proxy;
use crate::world::{Endpoint, Protocol, ServiceKind, World};

/// Envoy's admin port when the Dataplane names none (Kuma's default).
pub const DEFAULT_ADMIN_PORT: u32 = 9901;
/// Where the DNS listener answers on a transparent proxy (kuma-dp's DNS port).
pub const DNS_PORT: u32 = 15053;
/// The source address of traffic the inbound passthrough sends to the application.
pub const INBOUND_PASSTHROUGH_SOURCE_V4: &str = "127.0.0.6";
pub const INBOUND_PASSTHROUGH_SOURCE_V6: &str = "::6";

/// Settings that do not come from resources.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where the proxies will find `meshc certs` output (`--secrets-dir`).
    pub secrets_dir: String,
    /// Count `kuma.io/effect: shadow` policies as applied (`explain --shadow`).
    pub shadow: bool,
    /// The CA bundle that verifies MeshExternalServices with TLS and no `caCert`
    /// (`--system-ca-path`, kuma-dp's `KUMA_DATAPLANE_RUNTIME_DYNAMIC_SYSTEM_CA_PATH`);
    /// `None`: [`SYSTEM_CA_PATH`].
    pub system_ca_path: Option<String>,
}

/// The system CA bundle when `--system-ca-path` names none (Debian's and Ubuntu's
/// path; kuma-dp autodetects the host's, which a static config cannot).
pub const SYSTEM_CA_PATH: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Everything one proxy's Envoy config is built from: a sidecar's, or (with
/// [`ProxyPlan::zone_proxy`]) a ZoneIngress's or ZoneEgress's.
#[derive(Debug, Clone, Serialize)]
pub struct ProxyPlan {
    pub id: ProxyId,
    /// Envoy's `node.id`: `<mesh>.<core name>`, as kuma-dp sets it.
    pub node_id: String,
    /// Envoy's `node.cluster`: the proxy's service.
    pub node_cluster: String,
    pub admin_port: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtls: Option<Mtls>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transparent_proxy: Option<TransparentProxy>,
    pub inbounds: Vec<InboundPlan>,
    pub outbounds: Vec<OutboundPlan>,
    /// Outbound clusters, sorted by name, each once.
    pub clusters: Vec<ClusterPlan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsPlan>,
    /// Proxy-wide policies (MeshTrace, MeshMetric, MeshPassthrough, MeshProxyPatch).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Effective>,
    /// A ZoneIngress or ZoneEgress: its SNI chains and clusters (the sidecar
    /// parts above are then empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_proxy: Option<Box<zone_proxies::ZoneProxyPlan>>,
    /// Time spent matching and merging policies (the `rules` stage).
    #[serde(skip)]
    pub rules_time: std::time::Duration,
}

/// Mesh mTLS as this proxy uses it.
#[derive(Debug, Clone, Serialize)]
pub struct Mtls {
    pub mesh: String,
    pub mode: TlsMode,
    /// SDS secret names (Kuma's legacy names).
    pub identity_secret: String,
    pub ca_secret: String,
    /// SDS files written by `meshc certs`.
    pub identity_sds_path: String,
    pub ca_sds_path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TlsMode {
    Strict,
    Permissive,
}

#[derive(Debug, Clone, Serialize)]
pub struct TransparentProxy {
    pub redirect_port_outbound: u32,
    pub redirect_port_inbound: u32,
    pub ipv4: bool,
    pub ipv6: bool,
    /// Mesh `networking.outbound.passthrough`: unknown destinations are let through.
    pub passthrough: bool,
    /// The effective confs of passed-through traffic (MeshAccessLog; see
    /// [`ProxyRules::passthrough`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Effective>,
}

/// Traffic from the mesh to the local application.
#[derive(Debug, Clone, Serialize)]
pub struct InboundPlan {
    /// Listener name `inbound:<address>:<port>`.
    pub name: String,
    pub address: String,
    pub port: u32,
    /// Cluster name `localhost:<workload port>`.
    pub cluster: String,
    pub workload_address: String,
    pub workload_port: u32,
    pub protocol: Protocol,
    pub service: String,
    pub section: String,
    pub tags: StringMap,
    /// Index into the Dataplane's `networking.inbound[]`.
    #[serde(skip)]
    pub index: usize,
    /// The effective inbound policies, per kind.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Effective>,
}

/// Traffic from the local application to a service.
#[derive(Debug, Clone, Serialize)]
pub struct OutboundPlan {
    /// Listener name `outbound:<address>:<port>`.
    pub name: String,
    pub address: IpAddr,
    pub port: u32,
    /// Bind the port (explicit outbounds) or only match redirected traffic
    /// (transparent proxying).
    pub bind: bool,
    pub protocol: Protocol,
    pub cluster: String,
    pub destination: Destination,
    /// Listener metadata `io.kuma.tags`.
    pub tags: StringMap,
    /// The effective outbound policies, per kind.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Effective>,
    /// The clusters of its route backendRefs and the sources of its route rules.
    #[serde(skip_serializing_if = "routes::Routing::is_empty")]
    pub routing: routes::Routing,
}

/// The service an outbound reaches.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Destination {
    pub kind: ServiceKind,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub port: u32,
    pub section: String,
    /// Kuma's resource identifier of the destination port (`kri_msvc_...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kri: Option<String>,
}

/// An upstream cluster.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterPlan {
    pub name: String,
    pub protocol: Protocol,
    /// HTTP/2 to the upstream (every mesh-internal cluster, as in Kuma).
    pub http2: bool,
    pub endpoints: Vec<Endpoint>,
    pub tls: ClusterTls,
    /// The service port this cluster reaches: its policies are this
    /// destination's, whether an outbound or only a route backendRef sends here.
    pub destination: Destination,
    /// The effective outbound policies of [`ClusterPlan::destination`], per kind
    /// (what Kuma's cluster configurers get: the destination's `to` rules).
    /// Not serialized: they are the outbound's to the same destination, and
    /// repeating them per cluster would double every plan snapshot.
    #[serde(skip)]
    pub policies: Vec<Effective>,
    /// The mesh routes cross-zone traffic through the zone egress (Kuma's
    /// `egressEnabled` for locality-aware balancing, [`zones`]).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub zone_egress: bool,
}

/// How a cluster talks TLS to its upstream.
#[derive(Debug, Clone, Serialize)]
pub enum ClusterTls {
    None,
    /// Kuma mTLS to another sidecar.
    Mesh {
        sni: String,
        sans: Vec<San>,
    },
    /// TLS origination to an external service (MeshExternalService `tls`).
    External(Box<ExternalTls>),
}

#[derive(Debug, Clone, Serialize)]
pub enum San {
    Exact(String),
    Prefix(String),
}

/// MeshExternalService TLS origination, resolved as Kuma resolves it
/// (`setTlsConfiguration` and `UpstreamTlsContextOutsideMesh`).
#[derive(Debug, Clone, Serialize)]
pub struct ExternalTls {
    /// `verification.serverName`, else the first endpoint when it is a DNS name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_version: Option<String>,
    pub allow_renegotiation: bool,
    /// `verification.mode` (Secured when unset).
    pub mode: String,
    /// The CA that verifies the server: `caCert`, else the system bundle
    /// (`system_ca`). `None` under SkipCA and SkipAll: the chain is not verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca: Option<DataSource>,
    /// `ca` is the system bundle (`--system-ca-path`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub system_ca: bool,
    /// The name the server certificate must carry, matched exactly as a DNS name
    /// or an IP address: the SNI, else the first endpoint's address. `None` under
    /// SkipSAN and SkipAll, or without a CA to verify against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verify_name: Option<String>,
    /// `subjectAltNames`, accepted besides `verify_name` (any one match suffices).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sans: Vec<San>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<DataSource>,
    /// Always a file: an inline key is written by `meshc certs` ([`inline_key_file`]),
    /// so that no private key is ever part of compile output, plans or diffs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<DataSource>,
}

/// Where TLS material comes from.
#[derive(Debug, Clone, Serialize)]
pub enum DataSource {
    File(String),
    /// Certificate bytes written in the resource (`inline`, decoded, or
    /// `inlineString`); never a private key.
    #[serde(serialize_with = "redacted")]
    Inline(Vec<u8>),
}

fn redacted<S: serde::Serializer>(_: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str("<redacted>")
}

/// The DNS answers of a transparent proxy.
#[derive(Debug, Clone, Serialize)]
pub struct DnsPlan {
    pub port: u32,
    /// hostname -> VIPs, sorted by hostname.
    pub records: Vec<(String, Vec<IpAddr>)>,
}

/// Plan every sidecar of the world. Findings are about outbounds that could not
/// be built.
pub fn plan_all(
    world: &World,
    policies: &PolicySet,
    opts: &Options,
    keep: &(dyn Fn(&ProxyId) -> bool + Sync),
) -> (Vec<ProxyPlan>, Vec<Finding>) {
    let (mut plans, findings) = plan_each(world, policies, opts, keep, &|p| p);
    plans.sort_by(|a, b| a.id.cmp(&b.id));
    (plans, findings)
}

/// [`plan_all`], handing each plan to `then` on the worker thread that built it,
/// so that a caller can turn plans into output without ever holding all of them
/// (10,000 sidecars' plans and Envoy messages are gigabytes; their YAML is not).
/// The results come in input order of the Dataplanes, then of the zone proxies, not sorted.
pub fn plan_each<T: Send>(
    world: &World,
    policies: &PolicySet,
    opts: &Options,
    keep: &(dyn Fn(&ProxyId) -> bool + Sync),
    then: &(dyn Fn(ProxyPlan) -> T + Sync),
) -> (Vec<T>, Vec<Finding>) {
    use rayon::prelude::*;
    let results: Vec<(T, Vec<Finding>)> = world
        .dataplanes
        .par_iter()
        .filter(|dp| !dp.spec.is_gateway() && keep(&proxy_id(dp.resource)))
        .map(|dp| {
            let (plan, findings) = plan_sidecar(world, policies, *dp, opts);
            (then(plan), findings)
        })
        .collect();
    let zone_results: Vec<(Option<T>, Vec<Finding>)> = world
        .zone_proxies
        .resources()
        .par_iter()
        .filter(|r| zone_proxies::proxy_id(r).is_some_and(|id| keep(&id)))
        .map(|r| {
            let (plan, findings) = zone_proxies::plan(world, policies, r, opts);
            (plan.map(then), findings)
        })
        .collect();
    let mut out = Vec::with_capacity(results.len() + zone_results.len());
    let mut findings = Vec::new();
    for (t, f) in results.into_iter().map(|(t, f)| (Some(t), f)).chain(zone_results) {
        out.extend(t);
        findings.extend(f);
    }
    zones::dedup(&mut findings);
    (out, findings)
}

/// The output identity of a Dataplane.
pub fn proxy_id(r: &Resource) -> ProxyId {
    ProxyId::of_dataplane(&r.meta)
}

/// Plan one sidecar, matching its policies first.
pub fn plan_sidecar(world: &World, policies: &PolicySet, dp: Proxy, opts: &Options) -> (ProxyPlan, Vec<Finding>) {
    let start = std::time::Instant::now();
    let rules = crate::rules::proxy::for_proxy(policies, dp, opts.shadow);
    let matching = start.elapsed();
    let (mut plan, findings) = plan_with_rules(world, policies, &rules, dp, opts);
    plan.rules_time += matching;
    (plan, findings)
}

/// Plan one sidecar whose policies are matched already (`rules`).
pub fn plan_with_rules(
    world: &World,
    policies: &PolicySet,
    rules: &ProxyRules,
    dp: Proxy,
    opts: &Options,
) -> (ProxyPlan, Vec<Finding>) {
    let id = proxy_id(dp.resource);
    let mesh_name = id.mesh.clone();
    let mesh = world.mesh(&mesh_name).cloned().unwrap_or_default();
    let mtls = mesh.mtls_enabled().then(|| Mtls {
        mesh: mesh_name.clone(),
        mode: match mesh.mtls_mode() {
            MtlsMode::Strict => TlsMode::Strict,
            MtlsMode::Permissive => TlsMode::Permissive,
        },
        identity_secret: format!("identity_cert:secret:{mesh_name}"),
        ca_secret: format!("mesh_ca:secret:{mesh_name}"),
        identity_sds_path: secrets_path(&opts.secrets_dir, &format!("proxies/{}/identity.sds.yaml", id.dir())),
        ca_sds_path: secrets_path(
            &opts.secrets_dir,
            &format!("meshes/{}/ca.sds.yaml", crate::emit::layout::escape_segment(&mesh_name)),
        ),
    });
    let transparent_proxy = dp.spec.uses_transparent_proxy().then(|| {
        let tp = dp.spec.transparent_proxying();
        let family = tp.and_then(|t| t.ip_family_mode.as_ref()).and_then(|m| m.known());
        TransparentProxy {
            redirect_port_outbound: tp.and_then(|t| t.redirect_port_outbound).and_then(to_port).unwrap_or(15001),
            redirect_port_inbound: tp.and_then(|t| t.redirect_port_inbound).and_then(to_port).unwrap_or(15006),
            ipv4: family != Some(IpFamilyMode::IPv6),
            ipv6: matches!(family, Some(IpFamilyMode::DualStack | IpFamilyMode::IPv6)),
            passthrough: mesh.passthrough(),
            policies: Vec::new(),
        }
    });
    let rules_start = std::time::Instant::now();
    let mut inbounds = inbounds(dp);
    for inbound in &mut inbounds {
        inbound.policies = rules.inbound(policies, inbound.index);
    }
    let mut rules_time = rules_start.elapsed();
    let mut findings = Vec::new();
    let (mut outbounds, mut clusters) =
        outbounds::plan(world, dp, &mesh, mtls.is_some(), &inbounds, &opts.secrets_dir, &mut findings);
    let rules_start = std::time::Instant::now();
    let destination_policies = |d: &Destination| {
        let candidate = world.find_destination(&mesh_name, d).and_then(|s| policies.candidate_of(s));
        rules.outbound(policies, candidate, &d.section, &d.name)
    };
    for o in &mut outbounds {
        o.policies = destination_policies(&o.destination);
    }
    let proxy_wide = rules.proxy_wide(policies);
    let mut transparent_proxy = transparent_proxy;
    if let Some(tp) = &mut transparent_proxy {
        tp.policies = rules.passthrough(policies);
    }
    rules_time += rules_start.elapsed();
    let route_cx = routes::Context {
        world,
        policies,
        mesh: &mesh_name,
        namespace: dp.resource.meta.namespace.as_deref(),
        mtls: mtls.is_some(),
        secrets_dir: &opts.secrets_dir,
    };
    routes::plan(&route_cx, &mut outbounds, &mut clusters);
    resolve_system_ca(&mut clusters, opts.system_ca_path.as_deref().unwrap_or(SYSTEM_CA_PATH));
    let zone_cx =
        zones::Context { world, mesh_name: &mesh_name, mesh: &mesh, zone: id.zone.as_deref(), mtls: mtls.is_some() };
    zones::route(&zone_cx, &mut clusters, &mut findings);
    let rules_start = std::time::Instant::now();
    cluster_policies(&outbounds, &mut clusters, destination_policies);
    rules_time += rules_start.elapsed();
    let dns = transparent_proxy
        .as_ref()
        .map(|_| DnsPlan { port: DNS_PORT, records: dns_records(world, &mesh_name, id.zone.as_deref(), &outbounds) });
    let node_cluster = dp.spec.identifying_service().unwrap_or(&id.name).to_string();
    let plan = ProxyPlan {
        node_id: format!("{mesh_name}.{}", id.core_name()),
        node_cluster,
        admin_port: dp
            .spec
            .networking()
            .and_then(|n| n.admin.as_ref())
            .and_then(|a| a.port)
            .and_then(to_port)
            .unwrap_or(DEFAULT_ADMIN_PORT),
        id,
        mtls,
        transparent_proxy,
        inbounds,
        outbounds,
        clusters,
        dns,
        policies: proxy_wide,
        zone_proxy: None,
        rules_time,
    };
    findings.extend(crate::envoy::policies::mesh_passthrough::findings(&plan, policies));
    (plan, findings)
}

/// Every cluster's policies: its destination's outbound confs. An outbound to
/// the same destination has them already (the same computation); clusters that
/// only route backendRefs reach get them computed here.
fn cluster_policies(
    outbounds: &[OutboundPlan],
    clusters: &mut [ClusterPlan],
    of_destination: impl Fn(&Destination) -> Vec<Effective>,
) {
    let by_destination: std::collections::BTreeMap<&Destination, &OutboundPlan> =
        outbounds.iter().rev().map(|o| (&o.destination, o)).collect();
    for c in clusters {
        c.policies = match by_destination.get(&c.destination) {
            Some(o) => o.policies.clone(),
            None => of_destination(&c.destination),
        };
    }
}

fn to_port(p: i64) -> Option<u32> {
    u32::try_from(p).ok().filter(|p| (1..=65535).contains(p))
}

/// `dir` joined with a relative path, as the user wrote `dir`.
fn secrets_path(dir: &str, rel: &str) -> String {
    if dir.ends_with('/') { format!("{dir}{rel}") } else { format!("{dir}/{rel}") }
}

fn inbounds(dp: Proxy) -> Vec<InboundPlan> {
    let Some(net) = dp.spec.networking() else { return Vec::new() };
    net.inbounds()
        .iter()
        .enumerate()
        .filter(|(_, i)| !i.is_ignored())
        .filter_map(|(index, i)| {
            let address = i.dataplane_address(net).to_string();
            let port = to_port(i.port?)?;
            let workload_port = to_port(i.workload_port())?;
            // Kuma's InboundInterface: the workload is at `serviceAddress`, else 127.0.0.1.
            let workload_address =
                i.service_address.clone().filter(|a| !a.is_empty()).unwrap_or_else(|| "127.0.0.1".to_string());
            Some(InboundPlan {
                name: format!("inbound:{}:{port}", bracket(&address)),
                cluster: format!("localhost:{workload_port}"),
                address,
                port,
                workload_address,
                workload_port,
                protocol: Protocol::parse(i.protocol()),
                service: i.service().unwrap_or_default().to_string(),
                section: i.section_name(),
                tags: i.tags.clone(),
                index,
                policies: Vec::new(),
            })
        })
        .collect()
}

/// IPv6 addresses in brackets, as in Kuma's listener names.
pub fn bracket(address: &str) -> String {
    if address.contains(':') { format!("[{address}]") } else { address.to_string() }
}

/// The names a proxy in `zone` resolves: its own zone's view (a zone-local
/// hostname of another zone may name another service there).
fn dns_records(
    world: &World,
    mesh: &str,
    zone: Option<&str>,
    outbounds: &[OutboundPlan],
) -> Vec<(String, Vec<IpAddr>)> {
    let mut records: std::collections::BTreeMap<String, Vec<IpAddr>> = Default::default();
    for o in outbounds {
        let Some(s) = world.find_destination(mesh, &o.destination) else { continue };
        for h in s.hostnames.iter().filter(|h| h.visible_in(zone)) {
            let vips = records.entry(h.name.clone()).or_default();
            for v in &s.vips {
                if !vips.contains(v) {
                    vips.push(*v);
                }
            }
        }
    }
    records.into_iter().collect()
}

/// Where a Kuma Secret named by a MeshExternalService lives on a static host:
/// `<secrets dir>/meshes/<mesh>/secrets/<name>` (the Secret's data, as a file).
pub fn secret_file(secrets_dir: &str, mesh: &str, name: &str) -> String {
    use crate::emit::layout::escape_segment;
    secrets_path(secrets_dir, &format!("meshes/{}/secrets/{}", escape_segment(mesh), escape_segment(name)))
}

/// Where `meshc certs` writes a private key that a MeshExternalService carries
/// inline (`clientKey.inline` / `inlineString`):
/// `<secrets dir>/meshes/<mesh>/inline-keys/<sha256 of the key, 32 hex digits>.pem`, 0600.
/// Named by content, so the path says nothing about the key and two resources
/// with the same key share one file.
pub fn inline_key_file(secrets_dir: &str, mesh: &str, key: &[u8]) -> String {
    secrets_path(secrets_dir, &inline_key_rel(mesh, key))
}

/// [`inline_key_file`] relative to the secrets directory.
pub fn inline_key_rel(mesh: &str, key: &[u8]) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key);
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("meshes/{}/inline-keys/{hex}.pem", crate::emit::layout::escape_segment(mesh))
}

/// The TLS settings of a MeshExternalService, resolved for Envoy as Kuma does
/// (`setTlsConfiguration`, `UpstreamTlsContextOutsideMesh`). `secret` data
/// sources are files under the secrets directory ([`secret_file`]); inline keys
/// are files `meshc certs` writes ([`inline_key_file`]). `system_ca` is left
/// for [`plan_with_rules`] to point at `--system-ca-path`.
///
/// Where meshc differs from Kuma (docs/differences.md): under SkipSAN and SkipAll the SNI is
/// still `serverName` (Kuma drops it, and the name the server routes by with it),
/// and under SkipCA / SkipAll the TLS versions still apply (Kuma drops them with
/// the validation context).
pub fn external_tls(
    mes: &MeshExternalService,
    first_address: Option<&str>,
    secrets_dir: &str,
    mesh: &str,
) -> Option<ExternalTls> {
    use crate::model::mesh_external_service::{SanMatchType, VerificationMode};
    let tls = mes.tls.as_ref().filter(|t| t.enabled)?;
    let verification = tls.verification.as_ref();
    let mode = verification.and_then(|v| v.mode.known()).unwrap_or(VerificationMode::Secured);
    let verify_ca = !matches!(mode, VerificationMode::SkipCa | VerificationMode::SkipAll);
    let verify_san = !matches!(mode, VerificationMode::SkipSan | VerificationMode::SkipAll);
    let version = |c: &crate::model::choice::Choice<crate::model::mesh_external_service::TlsVersion>| {
        let raw = c.raw();
        (raw != "TLSAuto").then_some(raw)
    };
    let server_name = verification.and_then(|v| v.server_name.clone()).filter(|s| !s.is_empty());
    let dns_endpoint =
        first_address.filter(|a| crate::model::common::is_dns_name(a) && !a.starts_with("unix:")).map(str::to_string);
    let sni = server_name.or(dns_endpoint);
    let sans: Vec<San> = verification
        .and_then(|v| v.subject_alt_names.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let value = s.value.clone()?;
            Some(if s.type_.is(SanMatchType::Prefix) { San::Prefix(value) } else { San::Exact(value) })
        })
        .collect();
    let ca = verification.and_then(|v| v.ca_cert.as_ref()).and_then(|d| certificate_source(d, secrets_dir, mesh));
    // Kuma sends no client certificate under SkipAll.
    let client = verification.filter(|_| mode != VerificationMode::SkipAll).and_then(|v| {
        let cert = certificate_source(v.client_cert.as_ref()?, secrets_dir, mesh)?;
        let key = key_source(v.client_key.as_ref()?, secrets_dir, mesh)?;
        Some((cert, key))
    });
    let (client_cert, client_key) = client.unzip();
    Some(ExternalTls {
        min_version: tls.version.as_ref().and_then(|v| version(&v.min)),
        max_version: tls.version.as_ref().and_then(|v| version(&v.max)),
        allow_renegotiation: tls.allow_renegotiation,
        mode: verification.map_or_else(|| "Secured".to_string(), |v| v.mode.raw()),
        system_ca: verify_ca && ca.is_none(),
        ca: if verify_ca { ca } else { None },
        verify_name: (verify_ca && verify_san).then(|| sni.clone().or(first_address.map(str::to_string))).flatten(),
        sans: if verify_ca && verify_san { sans } else { Vec::new() },
        sni,
        client_cert,
        client_key,
    })
}

/// The bytes of an inline data source (`inline` is base64, `inlineString` text);
/// `None` for a `secret` or base64 that does not decode (reported by validation).
pub fn inline_bytes(d: &crate::model::mesh_external_service::DataSource) -> Option<Vec<u8>> {
    if let Some(s) = &d.inline_string {
        return Some(s.clone().into_bytes());
    }
    d.inline.as_deref().and_then(crate::certs::decode_base64)
}

fn certificate_source(
    d: &crate::model::mesh_external_service::DataSource,
    secrets_dir: &str,
    mesh: &str,
) -> Option<DataSource> {
    if d.inline.is_some() || d.inline_string.is_some() {
        return inline_bytes(d).map(DataSource::Inline);
    }
    d.secret.as_ref().map(|s| DataSource::File(secret_file(secrets_dir, mesh, s)))
}

fn key_source(
    d: &crate::model::mesh_external_service::DataSource,
    secrets_dir: &str,
    mesh: &str,
) -> Option<DataSource> {
    if d.inline.is_some() || d.inline_string.is_some() {
        return inline_bytes(d).map(|key| DataSource::File(inline_key_file(secrets_dir, mesh, &key)));
    }
    d.secret.as_ref().map(|s| DataSource::File(secret_file(secrets_dir, mesh, s)))
}

/// Point every external TLS cluster that trusts the system CA at the bundle.
pub(crate) fn resolve_system_ca(clusters: &mut [ClusterPlan], path: &str) {
    for c in clusters {
        if let ClusterTls::External(t) = &mut c.tls
            && t.system_ca
        {
            t.ca = Some(DataSource::File(path.to_string()));
        }
    }
}

/// The MeshExternalService spec behind a service, if it is one.
pub fn external_spec(r: Option<&Resource>) -> Option<&MeshExternalService> {
    match r.map(|r| &r.spec) {
        Some(Some(Spec::MeshExternalService(m))) => Some(m),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mes(tls: serde_json::Value) -> MeshExternalService {
        serde_json::from_value(serde_json::json!({"match": {"port": 443}, "tls": tls})).unwrap()
    }

    #[test]
    fn inline_keys_become_files_and_never_serialize() {
        let key = "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n";
        let t = external_tls(
            &mes(serde_json::json!({"enabled": true, "verification": {
                "clientCert": {"inlineString": "CERT"}, "clientKey": {"inlineString": key}
            }})),
            Some("api.example.com"),
            "/s",
            "m",
        )
        .unwrap();
        let Some(DataSource::File(path)) = &t.client_key else { panic!("{:?}", t.client_key) };
        assert_eq!(path, &inline_key_file("/s", "m", key.as_bytes()));
        assert!(path.starts_with("/s/meshes/m/inline-keys/"), "{path}");
        let json = serde_json::to_string(&t).unwrap();
        assert!(!json.contains("SECRETKEYMATERIAL") && !json.contains("CERT\""), "{json}");
    }

    #[test]
    fn verification_modes_follow_kuma() {
        let tls = |mode: &str| {
            external_tls(
                &mes(serde_json::json!({"enabled": true, "verification": {
                    "mode": mode, "serverName": "sni.example.com",
                    "subjectAltNames": [{"type": "Prefix", "value": "api-"}],
                    "clientCert": {"secret": "c"}, "clientKey": {"secret": "k"}
                }})),
                Some("192.0.2.1"),
                "s",
                "m",
            )
            .unwrap()
        };
        let secured = tls("Secured");
        assert!(secured.system_ca && secured.verify_name.as_deref() == Some("sni.example.com"));
        assert_eq!(secured.sans.len(), 1);
        let skip_san = tls("SkipSAN");
        assert!(skip_san.system_ca && skip_san.verify_name.is_none() && skip_san.sans.is_empty());
        assert_eq!(skip_san.sni.as_deref(), Some("sni.example.com"));
        let skip_ca = tls("SkipCA");
        assert!(!skip_ca.system_ca && skip_ca.ca.is_none() && skip_ca.client_key.is_some());
        let skip_all = tls("SkipAll");
        assert!(skip_all.ca.is_none() && skip_all.client_cert.is_none() && skip_all.client_key.is_none());
        // No serverName and an IP endpoint: no SNI, the IP is the name to verify.
        let ip = external_tls(&mes(serde_json::json!({"enabled": true})), Some("192.0.2.1"), "s", "m").unwrap();
        assert!(ip.sni.is_none() && ip.verify_name.as_deref() == Some("192.0.2.1"));
        assert!(external_tls(&mes(serde_json::json!({"enabled": false})), None, "s", "m").is_none());
    }
}
