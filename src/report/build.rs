//! From a validated input to the [`Report`] data: the world, every sidecar's
//! plan and rules (as `meshc explain` sees them), the policies' reach and
//! losses, and who may call whom.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;

use rayon::prelude::*;

use super::access;
use super::model::*;
use crate::emit::ProxyId;
use crate::findings::{Finding, Level, Location, Target};
use crate::model::mesh::MeshServicesMode;
use crate::model::{Resource, Spec};
use crate::plan::{self, ProxyPlan};
use crate::rules::Section;
use crate::rules::effective::{Effective, policy_name};
use crate::rules::proxy::{self, PolicySet};
use crate::source::{Limits, SourceFile};
use crate::validate::Outcome;
use crate::world::{self, Service, ServiceKind, World};

/// What the report is built from besides the input.
#[derive(Debug, Clone)]
pub struct Options {
    pub world: world::Options,
    pub plan: plan::Options,
    pub limits: Limits,
    /// The PATH arguments, as given.
    pub inputs: Vec<String>,
    /// Proxy directory (`ProxyId::dir()`) -> the path of its Envoy config,
    /// relative to the report (`meshc report --configs`).
    pub configs: BTreeMap<String, String>,
}

/// The report of a validated input.
pub fn build(outcome: &Outcome, opts: &Options) -> Report {
    let findings = finding_rows(&outcome.findings, &outcome.files);
    let counts = Counts {
        errors: outcome.findings.iter().filter(|f| f.level == Level::Error).count(),
        warnings: outcome.findings.iter().filter(|f| f.level == Level::Warning).count(),
        infos: outcome.findings.iter().filter(|f| f.level == Level::Info).count(),
    };
    let mut report = Report {
        version: VERSION,
        tool: format!("meshc {}", env!("CARGO_PKG_VERSION")),
        inputs: opts.inputs.clone(),
        files: outcome.files.len(),
        resources: outcome.resources.len(),
        has_errors: outcome.unreadable || counts.errors > 0,
        counts,
        findings,
        ..Default::default()
    };
    if report.has_errors {
        // `meshc compile` refuses such an input; the page shows what to fix.
        report.meshes = outcome
            .resources
            .iter()
            .filter(|r| matches!(r.spec, Some(Spec::Mesh(_))))
            .map(|r| MeshRow {
                name: r.meta.name.clone(),
                mtls: None,
                mtls_mode: None,
                passthrough: false,
                zone_egress: false,
                services: 0,
                proxies: 0,
                policies: 0,
            })
            .collect();
        return report;
    }
    let world = World::build(&outcome.resources, &opts.world);
    let implicit = crate::rules::defaults::for_meshes(&outcome.resources, opts.world.default_mesh_exists);
    let set = PolicySet::of_world(&outcome.resources, &implicit, &world);
    let sources = Sources::resolve(&outcome.resources, &outcome.files, &opts.limits);

    let (services, service_of_world) = service_rows(&world, &sources);
    let policy_order = policy_order(&set);
    let mut policies: Vec<PolicyRow> = policy_order.iter().map(|&i| policy_row(&set, i, &sources)).collect();
    let mut report_index_of_policy = vec![0; set.policies.len()];
    for (row, &i) in policy_order.iter().enumerate() {
        report_index_of_policy[i] = row;
    }
    let endpoints = EndpointIndex::new(&world, &service_of_world);
    let ctx = ProxyContext {
        world: &world,
        opts,
        sources: &sources,
        service_of_world: &service_of_world,
        policy_row: &report_index_of_policy,
        endpoints: &endpoints,
        table: Mutex::new(Table::default()),
    };
    let mut built: Vec<(ProxyId, ProxyRow)> = world
        .dataplanes
        .par_iter()
        .filter(|dp| !dp.spec.is_gateway())
        .map(|dp| {
            let rules = proxy::for_proxy(&set, *dp, opts.plan.shadow);
            let (plan, _) = plan::plan_with_rules(&world, &set, &rules, *dp, &opts.plan);
            let row = ctx.proxy_row(dp.resource, &rules, &plan);
            (plan.id, row)
        })
        .collect();
    built.extend(world.zone_proxies.resources().iter().filter_map(|r| zone_proxy_row(r, &sources, opts)));
    built.extend(world.dataplanes.iter().filter(|dp| dp.spec.is_gateway()).map(|dp| gateway_row(dp, &sources)));
    built.sort_by(|a, b| a.0.cmp(&b.0));
    let table = ctx.table.into_inner().unwrap_or_else(|e| e.into_inner());
    let mut proxies: Vec<ProxyRow> = built.into_iter().map(|(_, row)| row).collect();
    let (confs, lists, matched) = table.renumber(&mut proxies);

    let mut services = services;
    for (p, row) in proxies.iter().enumerate() {
        for &s in &row.services {
            services[s].proxies.push(p);
        }
    }
    for row in &proxies {
        let Some(set) = row.matched.and_then(|m| matched.get(m)) else { continue };
        let mut selected: Vec<usize> = set.iter().flat_map(|k| k.policies.iter().copied()).collect();
        selected.sort_unstable();
        selected.dedup();
        for pol in selected {
            policies[pol].selects += 1;
        }
    }
    let conf_rows = conf_rows(&confs, &set, &report_index_of_policy);
    reach_and_losses(&mut policies, &proxies, &lists, &confs, &conf_rows, &set, &report_index_of_policy);

    report.zones = zones(&world, &proxies);
    report.meshes = mesh_rows(&world, &services, &proxies, &policies);
    let egress = egress_checks(&world, &set, &service_of_world, services.len(), opts.plan.shadow);
    report.access = access::matrix(&world, &services, &proxies, &lists, &confs, &egress);
    report.services = services;
    report.proxies = proxies;
    report.policies = policies;
    report.confs = conf_rows;
    report.lists = lists;
    report.matched = matched;
    report
}

fn finding_rows(findings: &[Finding], files: &[SourceFile]) -> Vec<FindingRow> {
    findings
        .iter()
        .map(|f| FindingRow {
            code: f.code.id.to_string(),
            level: f.level.to_string(),
            title: f.code.title.to_string(),
            message: f.message.clone(),
            file: f.location.file.and_then(|i| files.get(i)).map(|s| s.display.clone()),
            line: f.location.pos.map(|p| p.line),
            column: f.location.pos.map(|p| p.col + 1),
            resource: f.resource.as_ref().map(|r| format!("{}/{}", r.kind, r.name)),
        })
        .collect()
}

/// Where each resource of the input is written: the file and the line of its name.
struct Sources {
    /// By the resource's address (every resource is borrowed from the input's one slice).
    of: HashMap<usize, Source>,
}

impl Sources {
    fn resolve(resources: &[Resource], files: &[SourceFile], limits: &Limits) -> Sources {
        // The positions machinery of findings resolves pointers, one parse per file.
        let mut probes: Vec<Finding> = resources
            .iter()
            .map(|r| {
                let loc = Location::pointer(r.meta.file, r.meta.doc, r.meta.name_pointer.clone(), Target::Value);
                Finding::new(crate::findings::codes::INTERNAL, "", loc)
            })
            .collect();
        crate::findings::resolve_positions(&mut probes, files, limits);
        let of = resources
            .iter()
            .zip(probes)
            .map(|(r, f)| {
                let source = Source {
                    file: files.get(r.meta.file).map(|s| s.display.clone()),
                    line: f.location.pos.map(|p| p.line),
                };
                (address(r), source)
            })
            .collect();
        Sources { of }
    }

    fn of(&self, r: Option<&Resource>) -> Source {
        r.and_then(|r| self.of.get(&address(r))).cloned().unwrap_or_default()
    }
}

fn address(r: &Resource) -> usize {
    r as *const Resource as usize
}

/// For each report service that is a MeshExternalService reached through a
/// ZoneEgress with mTLS: what the egress checks ([`crate::plan::zone_proxies::egress_permissions`]).
fn egress_checks(
    world: &World,
    set: &PolicySet,
    service_of_world: &[Option<usize>],
    services: usize,
    shadow: bool,
) -> Vec<Option<access::EgressCheck>> {
    let mut out = vec![None; services];
    for (s, row) in world.services.iter().zip(service_of_world) {
        let (Some(row), Some(mesh)) = (*row, world.mesh(&s.mesh)) else { continue };
        if s.kind == ServiceKind::MeshExternalService && mesh.zone_egress_enabled() && mesh.mtls_enabled() {
            out[row] = Some(crate::plan::zone_proxies::egress_permissions(set, s, shadow, mesh));
        }
    }
    out
}

/// Whether a world service is a node of the report. A legacy `kuma.io/service`
/// service is one in a mesh whose MeshServices are disabled, or when no other
/// service stands for its endpoints (Kubernetes zones generate MeshServices
/// from Services, not from tags, so a Dataplane may back no MeshService).
fn shown(world: &World, s: &Service, covered: &std::collections::HashSet<EndpointKey>) -> bool {
    s.kind != ServiceKind::Legacy
        || world.mesh(&s.mesh).is_some_and(|m| m.mesh_services_mode() == MeshServicesMode::Disabled)
        || s.ports.iter().flat_map(|p| &p.endpoints).any(|e| !covered.contains(&endpoint_key(s, e)))
}

fn endpoint_key(s: &Service, e: &world::Endpoint) -> EndpointKey {
    (s.mesh.clone(), e.zone.clone(), e.address.clone(), e.port)
}

fn service_rows(world: &World, sources: &Sources) -> (Vec<ServiceRow>, Vec<Option<usize>>) {
    let covered: std::collections::HashSet<EndpointKey> = world
        .services
        .iter()
        .filter(|s| s.kind == ServiceKind::MeshService)
        .flat_map(|s| s.ports.iter().flat_map(|p| &p.endpoints).map(move |e| endpoint_key(s, e)))
        .collect();
    let mut rows = Vec::new();
    let mut index = Vec::with_capacity(world.services.len());
    for s in &world.services {
        if !shown(world, s, &covered) {
            index.push(None);
            continue;
        }
        index.push(Some(rows.len()));
        rows.push(ServiceRow {
            kind: s.kind.name(),
            mesh: s.mesh.clone(),
            name: s.display_name.clone(),
            namespace: s.namespace.clone(),
            zone: s.zone.clone(),
            generated: s.generated,
            ports: s
                .ports
                .iter()
                .map(|p| PortRow {
                    port: p.port,
                    name: p.name.clone(),
                    protocol: p.protocol.to_string(),
                    endpoints: p.endpoints.len(),
                })
                .collect(),
            vips: s.vips.iter().map(IpAddr::to_string).collect(),
            hostnames: s.hostnames.iter().map(|h| h.name.clone()).collect(),
            proxies: Vec::new(),
            source: sources.of(s.resource),
        });
    }
    (rows, index)
}

/// Policies in report order: kind, label, mesh (the set's own order breaks ties).
fn policy_order(set: &PolicySet) -> Vec<usize> {
    let mut order: Vec<usize> = (0..set.policies.len()).collect();
    order.sort_by_cached_key(|&i| {
        let p = &set.policies[i];
        (p.kind().name(), policy_name(&p.resource.meta), p.resource.meta.mesh.clone(), i)
    });
    order
}

fn policy_row(set: &PolicySet, i: usize, sources: &Sources) -> PolicyRow {
    let p = &set.policies[i];
    let meta = &p.resource.meta;
    PolicyRow {
        kind: p.kind().name(),
        label: policy_name(meta),
        mesh: meta.mesh.clone().unwrap_or_default(),
        implicit: crate::rules::defaults::is_implicit(p.resource),
        shadow: p.is_shadow(),
        role: p.role().name(),
        target: describe_target(&p.top),
        selects: 0,
        inbounds: 0,
        outbounds: 0,
        proxy_wide: 0,
        losses: Vec::new(),
        source: sources.of(Some(p.resource)),
    }
}

/// `MeshService backend (port http)`, `MeshSubset version=v1`, `Mesh`.
fn describe_target(t: &crate::model::common::TargetRef) -> String {
    use crate::model::choice::KumaEnum;
    let mut s = t.kind().map_or("Mesh", |k| k.name()).to_string();
    if !t.name().is_empty() {
        s.push(' ');
        s.push_str(t.name());
        if let Some(ns) = t.namespace.as_deref().filter(|n| !n.is_empty()) {
            s.push('.');
            s.push_str(ns);
        }
    }
    for map in [&t.labels, &t.tags].into_iter().flatten().filter(|m| !m.is_empty()) {
        let pairs: Vec<String> = map.iter().map(|(k, v)| format!("{k}={v}")).collect();
        s.push(' ');
        s.push_str(&pairs.join(","));
    }
    if let Some(section) = t.section_name.as_deref().filter(|n| !n.is_empty()) {
        s.push_str(&format!(" (section {section})"));
    }
    s
}

/// Which services back an inbound: shown services by their endpoints' mesh,
/// zone, address and port (pod addresses repeat across the zones of a multi-zone mesh).
struct EndpointIndex {
    by_address: HashMap<EndpointKey, Vec<usize>>,
}

/// (mesh, zone, address, port).
type EndpointKey = (String, Option<String>, String, u32);

impl EndpointIndex {
    fn new(world: &World, service_of_world: &[Option<usize>]) -> EndpointIndex {
        let mut by_address: HashMap<EndpointKey, Vec<usize>> = HashMap::new();
        for (s, row) in world.services.iter().zip(service_of_world) {
            let Some(row) = *row else { continue };
            for e in s.ports.iter().flat_map(|p| &p.endpoints) {
                let list = by_address.entry(endpoint_key(s, e)).or_default();
                if !list.contains(&row) {
                    list.push(row);
                }
            }
        }
        EndpointIndex { by_address }
    }

    fn services(&self, mesh: &str, zone: Option<&str>, address: &str, port: u32) -> &[usize] {
        let key = (mesh.to_string(), zone.map(str::to_string), address.to_string(), port);
        self.by_address.get(&key).map_or(&[], Vec::as_slice)
    }
}

/// Everything the per-proxy step reads, shared by the workers.
struct ProxyContext<'w, 'a> {
    world: &'w World<'a>,
    opts: &'w Options,
    sources: &'w Sources,
    service_of_world: &'w [Option<usize>],
    policy_row: &'w [usize],
    endpoints: &'w EndpointIndex,
    table: Mutex<Table>,
}

impl ProxyContext<'_, '_> {
    fn proxy_row(&self, resource: &Resource, rules: &proxy::ProxyRules, plan: &ProxyPlan) -> ProxyRow {
        let mesh = plan.id.mesh.clone();
        let mut services = Vec::new();
        let inbounds = plan
            .inbounds
            .iter()
            .map(|i| {
                // The zone its endpoint carries: the inbound's kuma.io/zone tag, else the proxy's.
                let zone = i.tags.get("kuma.io/zone").map(String::as_str).or(plan.id.zone.as_deref());
                let backing = self.backing(resource, &mesh, zone, &i.address, i.port);
                services.extend(backing.iter().copied());
                let backing = backing.clone();
                PlaceRow {
                    listener: i.name.clone(),
                    describe: format!("inbound {} (service {}, port {})", i.section, i.service, i.port),
                    service: backing.first().copied(),
                    port: i.port,
                    policies: self.intern(&i.policies),
                    backs: backing,
                }
            })
            .collect();
        services.sort_unstable();
        services.dedup();
        let outbounds = plan
            .outbounds
            .iter()
            .map(|o| {
                let d = &o.destination;
                let service = self
                    .world
                    .position(&mesh, d.kind, &d.name, d.namespace.as_deref())
                    .and_then(|w| self.service_of_world.get(w).copied().flatten());
                let describe = match service {
                    Some(_) => String::new(),
                    None => format!("{} {} port {}", d.kind.name(), d.name, d.port),
                };
                PlaceRow {
                    listener: o.name.clone(),
                    describe,
                    service,
                    port: d.port,
                    policies: self.intern(&o.policies),
                    backs: Vec::new(),
                }
            })
            .collect();
        let matched: Vec<KindList> = rules
            .kinds
            .iter()
            .filter(|m| !m.policies.is_empty())
            .filter_map(|m| {
                let policies = m.policies.iter().map(|&i| self.policy_row[i]).collect();
                Some(KindList { kind: m.kind?.name(), policies })
            })
            .collect();
        let dp = crate::rules::select::Proxy::of(resource);
        let identity = match dp.as_ref().map(|p| p.spec) {
            Some(spec) => crate::certs::leaf::wanted_sans(&mesh, spec),
            None => Vec::new(),
        };
        ProxyRow {
            name: plan.id.core_name(),
            kind: plan.id.kind.name(),
            mesh,
            zone: plan.id.zone.clone(),
            dir: plan.id.dir(),
            address: plan.inbounds.first().map(|i| i.address.clone()).unwrap_or_default(),
            transparent: plan.transparent_proxy.is_some(),
            services,
            identity,
            inbounds,
            outbounds,
            proxy_wide: Some(self.intern(&plan.policies)),
            passthrough: passthrough(plan),
            matched: Some(self.intern_matched(matched)),
            config: self.opts.configs.get(&plan.id.dir()).cloned(),
            source: self.sources.of(Some(resource)),
        }
    }

    /// The shown services an inbound backs: by its zone, the address others reach
    /// it at (the Dataplane's `advertisedAddress`, when set) and its port.
    fn backing(&self, resource: &Resource, mesh: &str, zone: Option<&str>, address: &str, port: u32) -> Vec<usize> {
        let advertised = match &resource.spec {
            Some(Spec::Dataplane(dp)) => dp.networking.as_ref().and_then(|n| n.advertised_address.as_deref()),
            _ => None,
        };
        let address = advertised.filter(|a| !a.is_empty()).unwrap_or(address);
        let mut list = self.endpoints.services(mesh, zone, address, port).to_vec();
        list.sort_unstable();
        list
    }

    fn intern_matched(&self, matched: Vec<KindList>) -> usize {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let next = table.matched.len();
        let id = *table.matched_ids.entry(matched.clone()).or_insert(next);
        if id == next {
            table.matched.push(matched);
        }
        id
    }

    fn intern(&self, list: &[Effective]) -> usize {
        let keys: Vec<String> = list.iter().map(conf_key).collect();
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.list(list, keys)
    }
}

/// The identity of an effective conf: everything it says, and which policies
/// (by KRI: labels repeat across meshes) it came from.
fn conf_key(e: &Effective) -> String {
    let mut key = serde_json::to_string(e).unwrap_or_default();
    for o in &e.origins {
        key.push('\0');
        key.push_str(&o.kri);
    }
    key
}

/// Confs and lists of confs, interned while the workers run (in whatever order
/// they finish); [`Table::renumber`] makes the numbering follow the proxies.
#[derive(Default)]
struct Table {
    conf_ids: HashMap<String, usize>,
    confs: Vec<Effective>,
    list_ids: HashMap<Vec<usize>, usize>,
    lists: Vec<Vec<usize>>,
    matched_ids: HashMap<Vec<KindList>, usize>,
    matched: Vec<Vec<KindList>>,
}

impl Table {
    fn list(&mut self, list: &[Effective], keys: Vec<String>) -> usize {
        let ids: Vec<usize> = list
            .iter()
            .zip(keys)
            .map(|(e, key)| {
                let next = self.confs.len();
                let id = *self.conf_ids.entry(key).or_insert(next);
                if id == next {
                    self.confs.push(e.clone());
                }
                id
            })
            .collect();
        let next = self.lists.len();
        let id = *self.list_ids.entry(ids.clone()).or_insert(next);
        if id == next {
            self.lists.push(ids);
        }
        id
    }

    /// Number lists and confs in the order the (sorted) proxies first use them,
    /// so that the same input gives the same bytes whatever the thread count.
    fn renumber(self, proxies: &mut [ProxyRow]) -> (Vec<Effective>, Vec<Vec<usize>>, Vec<Vec<KindList>>) {
        let mut list_map: Vec<Option<usize>> = vec![None; self.lists.len()];
        let mut conf_map: Vec<Option<usize>> = vec![None; self.confs.len()];
        let mut lists = Vec::new();
        let mut conf_order = Vec::new();
        let mut visit = |old: &mut usize| {
            let new = *list_map[*old].get_or_insert_with(|| {
                let ids = self.lists[*old]
                    .iter()
                    .map(|&c| {
                        *conf_map[c].get_or_insert_with(|| {
                            conf_order.push(c);
                            conf_order.len() - 1
                        })
                    })
                    .collect();
                lists.push(ids);
                lists.len() - 1
            });
            *old = new;
        };
        let mut matched_map: Vec<Option<usize>> = vec![None; self.matched.len()];
        let mut matched_order = Vec::new();
        for p in proxies.iter_mut() {
            for place in p.inbounds.iter_mut().chain(p.outbounds.iter_mut()) {
                visit(&mut place.policies);
            }
            if let Some(list) = p.proxy_wide.as_mut() {
                visit(list);
            }
            if let Some(m) = p.matched.as_mut() {
                *m = *matched_map[*m].get_or_insert_with(|| {
                    matched_order.push(*m);
                    matched_order.len() - 1
                });
            }
        }
        let mut confs: Vec<Option<Effective>> = self.confs.into_iter().map(Some).collect();
        let confs = conf_order.into_iter().filter_map(|c| confs[c].take()).collect();
        let mut matched: Vec<Option<Vec<KindList>>> = self.matched.into_iter().map(Some).collect();
        let matched = matched_order.into_iter().filter_map(|m| matched[m].take()).collect();
        (confs, lists, matched)
    }
}

fn passthrough(plan: &ProxyPlan) -> Option<Passthrough> {
    let tp = plan.transparent_proxy.as_ref()?;
    let e = crate::envoy::policies::mesh_passthrough::conf(plan).map(|(e, _)| e);
    let mode = e.and_then(|e| e.conf.get("passthroughMode")).and_then(|v| v.as_str()).map(str::to_string);
    let destinations = e
        .and_then(|e| e.conf.get("appendMatch"))
        .and_then(|v| v.as_array())
        .map(|list| list.iter().map(describe_match).collect())
        .unwrap_or_default();
    let mode = mode.or_else(|| e.map(|_| "Matched".to_string()));
    Some(Passthrough { mesh: tp.passthrough, mode, destinations })
}

/// `Domain api.example.com:443 (tls)`.
fn describe_match(m: &serde_json::Value) -> String {
    let get = |k: &str| m.get(k).map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
    let mut s = format!("{} {}", get("type").unwrap_or_default(), get("value").unwrap_or_default());
    if let Some(port) = get("port") {
        s.push(':');
        s.push_str(&port);
    }
    s.push_str(&format!(" ({})", get("protocol").unwrap_or_else(|| "tcp".to_string())));
    s
}

fn zone_proxy_row(r: &Resource, sources: &Sources, opts: &Options) -> Option<(ProxyId, ProxyRow)> {
    let id = crate::plan::zone_proxies::proxy_id(r)?;
    let row = ProxyRow {
        name: id.core_name(),
        kind: id.kind.name(),
        mesh: String::new(),
        zone: id.zone.clone(),
        dir: id.dir(),
        address: String::new(),
        transparent: false,
        services: Vec::new(),
        identity: Vec::new(),
        inbounds: Vec::new(),
        outbounds: Vec::new(),
        proxy_wide: None,
        passthrough: None,
        matched: None,
        config: opts.configs.get(&id.dir()).cloned(),
        source: sources.of(Some(r)),
    };
    Some((id, row))
}

/// A gateway Dataplane: listed with its identity, but meshc compiles sidecars
/// and zone proxies only, so it has no places, policies or config.
fn gateway_row(dp: &crate::rules::select::Proxy, sources: &Sources) -> (ProxyId, ProxyRow) {
    let id = plan::proxy_id(dp.resource);
    let row = ProxyRow {
        name: id.core_name(),
        kind: GATEWAY,
        mesh: id.mesh.clone(),
        zone: id.zone.clone(),
        dir: id.dir(),
        address: dp.spec.networking().and_then(|n| n.address.clone()).unwrap_or_default(),
        transparent: false,
        services: Vec::new(),
        identity: crate::certs::leaf::sans_of_tags(
            &id.mesh,
            dp.spec.networking().and_then(|n| n.gateway.as_ref()).map(|g| &g.tags).into_iter(),
        ),
        inbounds: Vec::new(),
        outbounds: Vec::new(),
        proxy_wide: None,
        passthrough: None,
        matched: None,
        config: None,
        source: sources.of(Some(dp.resource)),
    };
    (id, row)
}

/// How a gateway Dataplane is listed (`ProxyRow::kind`).
pub const GATEWAY: &str = "Dataplane (gateway, not compiled)";

fn conf_rows(confs: &[Effective], set: &PolicySet, policy_row: &[usize]) -> Vec<ConfRow> {
    let by_kri = kri_index(set);
    confs
        .iter()
        .map(|e| ConfRow {
            kind: e.kind,
            when: e.when.clone(),
            conf: {
                let mut conf = e.conf.clone();
                crate::source::secrets::redact_value(&mut conf);
                conf
            },
            origins: e
                .origins
                .iter()
                .map(|o| OriginRow {
                    policy: by_kri.get(o.kri.as_str()).map_or(usize::MAX, |&i| policy_row[i]),
                    at: match o.section {
                        Section::Default => "default".to_string(),
                        s => format!("{}[{}]", s.name(), o.index),
                    },
                })
                .collect(),
            fields: e.fields.clone(),
        })
        .collect()
}

/// Policy KRI -> index into the set.
fn kri_index(set: &PolicySet) -> HashMap<String, usize> {
    (0..set.policies.len())
        .map(|i| {
            let o = crate::rules::Origin { policy: i, section: Section::Default, index: 0 };
            (crate::rules::effective::OriginRef::of(set, o).kri, i)
        })
        .collect()
}

/// Per policy: at how many inbounds, outbounds and proxies it sets a field, and
/// the fields it sets that a later policy overrides, with why.
fn reach_and_losses(
    policies: &mut [PolicyRow],
    proxies: &[ProxyRow],
    lists: &[Vec<usize>],
    confs: &[Effective],
    rows: &[ConfRow],
    set: &PolicySet,
    policy_row: &[usize],
) {
    #[derive(Clone, Copy)]
    enum Place {
        Inbound,
        Outbound,
        Proxy,
    }
    // How often, and first where, each conf is used.
    let mut uses: Vec<[usize; 3]> = vec![[0; 3]; confs.len()];
    let mut example: Vec<Option<usize>> = vec![None; confs.len()];
    for (p, proxy) in proxies.iter().enumerate() {
        let places = proxy
            .inbounds
            .iter()
            .map(|i| (Place::Inbound, i.policies))
            .chain(proxy.outbounds.iter().map(|o| (Place::Outbound, o.policies)))
            .chain(proxy.proxy_wide.map(|l| (Place::Proxy, l)));
        for (kind, list) in places {
            for &c in &lists[list] {
                uses[c][kind as usize] += 1;
                example[c].get_or_insert(p);
            }
        }
    }
    let by_row: HashMap<usize, usize> = policy_row.iter().enumerate().map(|(set_i, &row)| (row, set_i)).collect();
    let mut losses: BTreeMap<(usize, String, usize), (String, usize, usize)> = BTreeMap::new();
    for (c, row) in rows.iter().enumerate() {
        let [inbound, outbound, proxy] = uses[c];
        let setters: std::collections::BTreeSet<usize> =
            row.fields.values().filter_map(|&o| row.origins.get(o)).map(|o| o.policy).collect();
        for &s in &setters {
            if let Some(pol) = policies.get_mut(s) {
                pol.inbounds += inbound;
                pol.outbounds += outbound;
                pol.proxy_wide += proxy;
            }
        }
        let places = inbound + outbound + proxy;
        let Some(first) = example[c] else { continue };
        let e = &confs[c];
        // A policy with two items in one conf loses a field there once.
        let mut counted: std::collections::BTreeSet<(usize, &str, usize)> = Default::default();
        for (o, origin) in row.origins.iter().enumerate() {
            let Some(&loser_set) = by_row.get(&origin.policy) else { continue };
            let loser = &set.policies[loser_set];
            let Some(raw) = loser.conf(e.origins[o].section, e.origins[o].index) else { continue };
            for (field, &w) in &row.fields {
                if w == o || raw.pointer(field).is_none() {
                    continue;
                }
                let winner_row = row.origins[w].policy;
                let Some(&winner_set) = by_row.get(&winner_row) else { continue };
                if winner_row == origin.policy && e.origins[w].section == e.origins[o].section {
                    continue;
                }
                let winner = &set.policies[winner_set];
                let target = |p: &crate::rules::policy::Policy, i: usize| match e.origins[i].section {
                    Section::To => p.to.get(e.origins[i].index).map(|t| t.target_ref.clone()),
                    _ => None,
                };
                let why = crate::rules::sort::why_later(
                    (loser, target(loser, o).as_ref()),
                    (winner, target(winner, w).as_ref()),
                );
                let entry =
                    losses.entry((origin.policy, crate::explain::dotted(field), winner_row)).or_insert((why, 0, first));
                if counted.insert((origin.policy, field.as_str(), winner_row)) {
                    entry.1 += places;
                }
            }
        }
    }
    for ((policy, field, winner), (why, places, example)) in losses {
        if let Some(p) = policies.get_mut(policy) {
            p.losses.push(Loss { field, winner, why, places, example });
        }
    }
}

fn zones(world: &World, proxies: &[ProxyRow]) -> Vec<String> {
    let mut zones: Vec<String> = world
        .services
        .iter()
        .filter_map(|s| s.zone.clone())
        .chain(proxies.iter().filter_map(|p| p.zone.clone()))
        .collect();
    zones.sort();
    zones.dedup();
    zones
}

fn mesh_rows(world: &World, services: &[ServiceRow], proxies: &[ProxyRow], policies: &[PolicyRow]) -> Vec<MeshRow> {
    world
        .meshes
        .iter()
        .map(|(name, mesh)| MeshRow {
            name: name.clone(),
            mtls: mesh.enabled_mtls_backend().map(|b| {
                format!("{} ({})", b.name.as_deref().unwrap_or_default(), b.type_.as_deref().unwrap_or("builtin"))
            }),
            mtls_mode: mesh.mtls_enabled().then(|| format!("{:?}", mesh.mtls_mode()).to_uppercase()),
            passthrough: mesh.passthrough(),
            zone_egress: mesh.zone_egress_enabled(),
            services: services.iter().filter(|s| &s.mesh == name).count(),
            proxies: proxies.iter().filter(|p| &p.mesh == name).count(),
            policies: policies.iter().filter(|p| &p.mesh == name).count(),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const MESH: &str = "type: Mesh\nname: m\nmtls:\n  enabledBackend: ca\n  backends:\n    - name: ca\n      type: builtin\n\
                        meshServices:\n  mode: Exclusive\n";

    fn dataplane(name: &str, service: &str, ip: &str) -> String {
        format!(
            "---\ntype: Dataplane\nmesh: m\nname: {name}\nnetworking:\n  address: {ip}\n  transparentProxying:\n\
             \x20   redirectPortInbound: 15006\n    redirectPortOutbound: 15001\n  inbound:\n    - port: 8080\n\
             \x20     servicePort: 18080\n      tags:\n        kuma.io/service: {service}\n        kuma.io/protocol: http\n"
        )
    }

    pub(crate) fn mesh_of(extra: &str, mesh: &str) -> Vec<(String, String)> {
        let mut text = mesh.to_string();
        text.push_str(&dataplane("web-1", "web", "10.0.0.1"));
        text.push_str(&dataplane("backend-1", "backend", "10.0.0.2"));
        text.push_str(&dataplane("other-1", "other", "10.0.0.3"));
        vec![("mesh.yaml".to_string(), text), ("policies.yaml".to_string(), extra.to_string())]
    }

    pub(crate) fn report_of(texts: Vec<(String, String)>) -> Report {
        let outcome = crate::validate::run_texts(texts, &Default::default());
        let opts = Options {
            world: world::Options { default_mesh_exists: false, ..Default::default() },
            plan: plan::Options { secrets_dir: "s".into(), shadow: false, system_ca_path: None },
            limits: Limits::default(),
            inputs: vec![".".into()],
            configs: BTreeMap::new(),
        };
        build(&outcome, &opts)
    }

    /// The verdict for client service `client` calling `dest`, by name.
    fn verdict(r: &Report, client: &str, dest: &str) -> char {
        let find = |name: &str| r.services.iter().position(|s| s.name == name).expect(name);
        let (c, d) = (find(client), find(dest));
        let row = r.access.clients.iter().position(|&x| x == c).expect("a client");
        let col = r.access.destinations.iter().position(|&x| x == d).expect("a destination");
        r.access.rows[r.access.row_of[col]].as_bytes()[row] as char
    }

    pub(crate) const WEB_TO_BACKEND: &str = "type: MeshTrafficPermission\nname: backend-from-web\nmesh: m\nspec:\n  targetRef:\n\
         \x20   kind: MeshSubset\n    tags:\n      kuma.io/service: backend\n  from:\n    - targetRef:\n\
         \x20       kind: MeshSubset\n        tags:\n          kuma.io/service: web\n      default:\n        action: ACTION\n";

    #[test]
    fn access_follows_the_permissions_the_rbac_enforces() {
        let r = report_of(mesh_of(&WEB_TO_BACKEND.replace("ACTION", "Allow"), MESH));
        assert!(!r.has_errors, "{:?}", r.findings);
        assert_eq!(verdict(&r, "web", "backend"), 'A');
        // No permission names them: Kuma's deny-all default with mTLS on.
        assert_eq!(verdict(&r, "other", "backend"), 'D');
        assert_eq!(verdict(&r, "web", "other"), 'D');
        let shadow = report_of(mesh_of(&WEB_TO_BACKEND.replace("ACTION", "AllowWithShadowDeny"), MESH));
        assert_eq!(verdict(&shadow, "web", "backend"), 'S');
    }

    #[test]
    fn rules_matchers_are_read_too() {
        let rules = "type: MeshTrafficPermission\nname: backend-rules\nmesh: m\nspec:\n  targetRef:\n    kind: MeshSubset\n\
             \x20   tags:\n      kuma.io/service: backend\n  rules:\n    - default:\n        deny:\n\
             \x20         - spiffeID: {type: Exact, value: spiffe://m/other}\n        allow:\n\
             \x20         - spiffeID: {type: Prefix, value: spiffe://m/}\n";
        let r = report_of(mesh_of(rules, MESH));
        assert!(!r.has_errors, "{:?}", r.findings);
        assert_eq!(verdict(&r, "web", "backend"), 'A');
        assert_eq!(verdict(&r, "other", "backend"), 'D');
    }

    #[test]
    fn sni_entries_make_it_partial_and_only_shadow_entries_shadow() {
        let rules = |items: &str| {
            format!(
                "type: MeshTrafficPermission\nname: backend-rules\nmesh: m\nspec:\n  targetRef:\n    kind: MeshSubset\n\
                 \x20   tags:\n      kuma.io/service: backend\n  rules:\n    - default:\n{items}"
            )
        };
        let sni = rules(
            "        deny:\n          - sni: {type: Exact, value: backend.m.svc}\n        allow:\n\
             \x20         - spiffeID: {type: Prefix, value: spiffe://m/}\n",
        );
        let r = report_of(mesh_of(&sni, MESH));
        assert!(!r.has_errors, "{:?}", r.findings);
        assert_eq!(verdict(&r, "web", "backend"), 'P');
        let shadow = rules(
            "        allow:\n          - spiffeID: {type: Exact, value: spiffe://m/web}\n        allowWithShadowDeny:\n\
             \x20         - spiffeID: {type: Exact, value: spiffe://m/other}\n",
        );
        let r = report_of(mesh_of(&shadow, MESH));
        assert_eq!(verdict(&r, "web", "backend"), 'A');
        assert_eq!(verdict(&r, "other", "backend"), 'S');
        assert_eq!(verdict(&r, "backend", "backend"), 'D');
    }

    #[test]
    fn external_services_behind_a_zone_egress_are_decided_there() {
        let mes = "type: MeshExternalService\nname: ext\nmesh: m\nspec:\n  match: {type: HostnameGenerator, port: 443, protocol: tcp}\n\
                   \x20 endpoints: [{address: 1.2.3.4, port: 443}]\n---\ntype: ZoneEgress\nname: egress\nnetworking:\n\
                   \x20 address: 10.0.0.9\n  port: 10002\n";
        let with_routing = |routing: &str| format!("{MESH}routing:\n  zoneEgress: true\n{routing}");
        let r = report_of(mesh_of(mes, &with_routing("")));
        assert!(!r.has_errors, "{:?}", r.findings);
        // No permission selects it: every client of the mesh passes (Kuma's default).
        assert_eq!(verdict(&r, "web", "ext"), 'A');
        let r = report_of(mesh_of(mes, &with_routing("  defaultForbidMeshExternalServiceAccess: true\n")));
        assert_eq!(verdict(&r, "web", "ext"), 'D');
        // Without a zone egress no proxy of the mesh checks it.
        let r = report_of(mesh_of(mes, MESH));
        assert_eq!(verdict(&r, "web", "ext"), '-');
    }

    #[test]
    fn gateways_are_listed_not_left_out() {
        let gateway = "type: Dataplane\nmesh: m\nname: edge\nnetworking:\n  address: 10.0.0.5\n  gateway:\n\
                       \x20   type: BUILTIN\n    tags: {kuma.io/service: edge}\n";
        let r = report_of(mesh_of(gateway, MESH));
        assert!(!r.has_errors, "{:?}", r.findings);
        let edge = r.proxies.iter().find(|p| p.name == "edge").expect("the gateway is listed");
        assert_eq!(edge.kind, GATEWAY);
        assert_eq!(edge.identity, ["spiffe://m/edge", "kuma://kuma.io/service/edge"]);
        assert!(edge.inbounds.is_empty() && edge.matched.is_none());
    }

    #[test]
    fn the_same_address_in_two_zones_backs_each_zones_own_service() {
        let dp = |name: &str, service: &str, zone: &str| {
            format!(
                "---\ntype: Dataplane\nmesh: m\nname: {name}\nlabels: {{kuma.io/zone: {zone}}}\nnetworking:\n\
                 \x20 address: 10.0.0.1\n  inbound:\n    - port: 8080\n      tags: {{kuma.io/service: {service}}}\n"
            )
        };
        let text = format!("{MESH}{}{}", dp("web-1", "web", "z1"), dp("backend-1", "backend", "z2"));
        let r = report_of(vec![("m.yaml".into(), text), ("p.yaml".into(), WEB_TO_BACKEND.replace("ACTION", "Allow"))]);
        let names = |p: &ProxyRow| p.services.iter().map(|&s| r.services[s].name.clone()).collect::<Vec<_>>();
        let web = r.proxies.iter().find(|p| p.name == "web-1").unwrap();
        assert_eq!(names(web), ["web"]);
        assert_eq!(verdict(&r, "web", "backend"), 'A');
        assert_eq!(verdict(&r, "backend", "web"), 'D');
    }

    #[test]
    fn without_mtls_nothing_is_enforced() {
        let plain = "type: Mesh\nname: m\nmeshServices:\n  mode: Exclusive\n";
        let r = report_of(mesh_of(&WEB_TO_BACKEND.replace("ACTION", "Deny"), plain));
        assert_eq!(verdict(&r, "web", "backend"), 'O');
        assert_eq!(r.meshes[0].mtls, None);
    }

    #[test]
    fn a_policy_loses_a_field_to_a_more_specific_one_and_says_why() {
        let timeouts = "type: MeshTimeout\nname: mesh-wide\nmesh: m\nspec:\n  targetRef:\n    kind: Mesh\n  to:\n\
             \x20   - targetRef:\n        kind: Mesh\n      default:\n        idleTimeout: 10s\n        connectionTimeout: 3s\n\
             ---\ntype: MeshTimeout\nname: to-backend\nmesh: m\nspec:\n  targetRef:\n    kind: Mesh\n  to:\n\
             \x20   - targetRef:\n        kind: MeshService\n        name: backend\n      default:\n        idleTimeout: 20s\n";
        let r = report_of(mesh_of(timeouts, MESH));
        let find = |label: &str| r.policies.iter().position(|p| p.label == label).expect(label);
        let (loser, winner) = (find("MeshTimeout/mesh-wide"), find("MeshTimeout/to-backend"));
        let losses = &r.policies[loser].losses;
        assert_eq!(losses.len(), 1, "{losses:?}");
        assert_eq!(losses[0].field, "idleTimeout");
        assert_eq!(losses[0].winner, winner);
        assert_eq!(losses[0].why, "its to[] targetRef (MeshService) is more specific than Mesh");
        // Every sidecar (backend-1 too) has an outbound to backend; connectionTimeout stays.
        assert_eq!(losses[0].places, 3);
        assert!(r.policies[winner].losses.is_empty());
        assert_eq!(r.policies[loser].selects, 3);
    }

    #[test]
    fn the_same_input_in_another_file_order_gives_the_same_report() {
        let texts = mesh_of(&WEB_TO_BACKEND.replace("ACTION", "Allow"), MESH);
        let reversed: Vec<_> = texts.iter().rev().cloned().collect();
        let a = serde_json::to_string(&report_of(texts)).unwrap();
        let b = serde_json::to_string(&report_of(reversed)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn an_input_with_errors_gets_its_findings_and_nothing_else() {
        let r = report_of(vec![("bad.yaml".into(), "type: Mesh\nname: m\nbogus: 1\n".into())]);
        assert!(r.has_errors);
        assert!(r.counts.errors > 0);
        let f = &r.findings[0];
        assert_eq!((f.file.as_deref(), f.line), (Some("bad.yaml"), Some(3)));
        assert!(r.proxies.is_empty() && r.services.is_empty());
    }

    #[test]
    fn proxies_name_the_services_they_back_and_policies_their_source() {
        let r = report_of(mesh_of(&WEB_TO_BACKEND.replace("ACTION", "Allow"), MESH));
        let web = r.proxies.iter().find(|p| p.name == "web-1").unwrap();
        let names: Vec<&str> = web.services.iter().map(|&s| r.services[s].name.as_str()).collect();
        assert_eq!(names, ["web"]);
        assert_eq!(web.identity, ["spiffe://m/web", "kuma://kuma.io/protocol/http", "kuma://kuma.io/service/web"]);
        let p = r.policies.iter().find(|p| p.label == "MeshTrafficPermission/backend-from-web").unwrap();
        assert_eq!((p.source.file.as_deref(), p.source.line), (Some("policies.yaml"), Some(2)));
        assert_eq!(p.target, "MeshSubset kuma.io/service=backend");
    }
}
