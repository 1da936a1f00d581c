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
}

/// Everything one sidecar's Envoy config is built from.
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

/// MeshExternalService TLS settings, resolved.
#[derive(Debug, Clone, Serialize)]
pub struct ExternalTls {
    pub sni: Option<String>,
    pub min_version: Option<String>,
    pub max_version: Option<String>,
    pub allow_renegotiation: bool,
    /// Verify the server's chain (not SkipCA / SkipAll).
    pub verify_ca: bool,
    /// Verify the SANs (not SkipSAN / SkipAll).
    pub verify_san: bool,
    pub sans: Vec<San>,
    /// PEM or file of the CA; `None` = the system CA bundle.
    pub ca: Option<DataSource>,
    pub client_cert: Option<DataSource>,
    pub client_key: Option<DataSource>,
}

/// Where TLS material comes from.
#[derive(Debug, Clone, Serialize)]
pub enum DataSource {
    File(String),
    #[serde(serialize_with = "redacted")]
    Inline(String),
}

fn redacted<S: serde::Serializer>(_: &str, s: S) -> Result<S::Ok, S::Error> {
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
/// The results come in input order of the Dataplanes, not sorted.
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
    let mut out = Vec::with_capacity(results.len());
    let mut findings = Vec::new();
    for (t, f) in results {
        out.push(t);
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
    let zone_cx =
        zones::Context { world, mesh_name: &mesh_name, mesh: &mesh, zone: id.zone.as_deref(), mtls: mtls.is_some() };
    zones::route(&zone_cx, &mut clusters, &mut findings);
    let rules_start = std::time::Instant::now();
    cluster_policies(&outbounds, &mut clusters, destination_policies);
    rules_time += rules_start.elapsed();
    let dns = transparent_proxy
        .as_ref()
        .map(|_| DnsPlan { port: DNS_PORT, records: dns_records(world, &mesh_name, &outbounds) });
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
        rules_time,
    };
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

fn dns_records(world: &World, mesh: &str, outbounds: &[OutboundPlan]) -> Vec<(String, Vec<IpAddr>)> {
    let mut records: std::collections::BTreeMap<String, Vec<IpAddr>> = Default::default();
    for o in outbounds {
        let Some(s) = world.find_destination(mesh, &o.destination) else { continue };
        for h in &s.hostnames {
            let vips = records.entry(h.clone()).or_default();
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

/// The TLS settings of a MeshExternalService, resolved for Envoy. `secret` data
/// sources are files under the secrets directory ([`secret_file`]).
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
    let source = |d: &crate::model::mesh_external_service::DataSource| -> Option<DataSource> {
        if let Some(s) = &d.inline_string {
            return Some(DataSource::Inline(s.clone()));
        }
        if let Some(b) = &d.inline {
            return Some(DataSource::Inline(b.clone()));
        }
        d.secret.as_ref().map(|s| DataSource::File(secret_file(secrets_dir, mesh, s)))
    };
    let version = |c: &crate::model::choice::Choice<crate::model::mesh_external_service::TlsVersion>| {
        let raw = c.raw();
        (raw != "TLSAuto").then_some(raw)
    };
    let server_name = verification.and_then(|v| v.server_name.clone());
    let hostname_endpoint = first_address.filter(|a| a.parse::<IpAddr>().is_err()).map(str::to_string);
    let sans: Vec<San> = verification
        .and_then(|v| v.subject_alt_names.as_ref())
        .map(|list| {
            list.iter()
                .filter_map(|s| {
                    let value = s.value.clone()?;
                    Some(if s.type_.is(SanMatchType::Prefix) { San::Prefix(value) } else { San::Exact(value) })
                })
                .collect()
        })
        .unwrap_or_default();
    let sni = server_name.clone().or_else(|| hostname_endpoint.clone());
    let sans = if sans.is_empty() { sni.iter().map(|s| San::Exact(s.clone())).collect() } else { sans };
    Some(ExternalTls {
        sni,
        min_version: tls.version.as_ref().and_then(|v| version(&v.min)),
        max_version: tls.version.as_ref().and_then(|v| version(&v.max)),
        allow_renegotiation: tls.allow_renegotiation,
        verify_ca: !matches!(mode, VerificationMode::SkipCa | VerificationMode::SkipAll),
        verify_san: !matches!(mode, VerificationMode::SkipSan | VerificationMode::SkipAll),
        sans,
        ca: verification.and_then(|v| v.ca_cert.as_ref()).and_then(source),
        client_cert: verification.and_then(|v| v.client_cert.as_ref()).and_then(source),
        client_key: verification.and_then(|v| v.client_key.as_ref()).and_then(source),
    })
}

/// The MeshExternalService spec behind a service, if it is one.
pub fn external_spec(r: Option<&Resource>) -> Option<&MeshExternalService> {
    match r.map(|r| &r.spec) {
        Some(Some(Spec::MeshExternalService(m))) => Some(m),
        _ => None,
    }
}
