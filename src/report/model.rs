//! The data `meshc report` embeds in its page: one JSON document, read by the
//! page's script (`assets/report.js`). Indices point into the report's own
//! tables (`services`, `proxies`, `policies`, `confs`, `lists`) so that a mesh of
//! 10,000 proxies, whose proxies mostly share their effective policies, stays a
//! few megabytes.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// Bumped when the page's script must change with the data.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub version: u32,
    /// `meshc 0.1.0`.
    pub tool: String,
    /// The PATH arguments, as given.
    pub inputs: Vec<String>,
    pub files: usize,
    pub resources: usize,
    /// `meshc compile` would refuse the input: only the overview, findings and
    /// inventory are filled in.
    pub has_errors: bool,
    pub counts: Counts,
    /// Sorted as `meshc validate` prints them.
    pub findings: Vec<FindingRow>,
    pub meshes: Vec<MeshRow>,
    /// Every zone a proxy, service or zone proxy names, sorted.
    pub zones: Vec<String>,
    /// Destinations, sorted by mesh, kind, zone, namespace, name.
    pub services: Vec<ServiceRow>,
    /// Sorted by identity (mesh, zone, namespace, name).
    pub proxies: Vec<ProxyRow>,
    /// Sorted by kind, then label.
    pub policies: Vec<PolicyRow>,
    /// Distinct effective confs (a policy kind merged at a place).
    pub confs: Vec<ConfRow>,
    /// Distinct lists of confs (what one place gets): indices into `confs`.
    pub lists: Vec<Vec<usize>>,
    /// Distinct sets of matched policies (what selects one proxy): per kind, in
    /// merge order, indices into `policies`.
    pub matched: Vec<Vec<KindList>>,
    /// Who may call whom.
    pub access: Access,
    /// What `--against` / `--against-git` changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<super::diff::Diff>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub errors: usize,
    pub warnings: usize,
    pub infos: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingRow {
    pub code: String,
    /// `error`, `warning` or `info`.
    pub level: String,
    pub title: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// `Kind/name` of the resource, when the finding is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MeshRow {
    pub name: String,
    /// The enabled mTLS backend (`ca-1 (builtin)`), none when mTLS is off: then
    /// MeshTrafficPermission is not enforced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtls: Option<String>,
    /// `STRICT` or `PERMISSIVE` when mTLS is on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mtls_mode: Option<String>,
    /// `networking.outbound.passthrough`.
    pub passthrough: bool,
    pub zone_egress: bool,
    pub services: usize,
    pub proxies: usize,
    pub policies: usize,
}

/// Where a resource is written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Source {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceRow {
    /// `MeshService`, `MeshExternalService`, `MeshMultiZoneService` or
    /// `kuma.io/service` (a mesh whose MeshServices are disabled).
    pub kind: &'static str,
    pub mesh: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Generated from `kuma.io/service` tags (no resource of the input).
    pub generated: bool,
    pub ports: Vec<PortRow>,
    pub vips: Vec<String>,
    pub hostnames: Vec<String>,
    /// The proxies whose inbounds back it (indices into `proxies`).
    pub proxies: Vec<usize>,
    #[serde(flatten)]
    pub source: Source,
}

#[derive(Debug, Clone, Serialize)]
pub struct PortRow {
    pub port: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub protocol: String,
    /// Endpoints of the port (all zones).
    pub endpoints: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProxyRow {
    /// `name` or `name.namespace`.
    pub name: String,
    /// `Dataplane`, `ZoneIngress`, `ZoneEgress`, or for a gateway Dataplane
    /// (listed, not compiled) `Dataplane (gateway, not compiled)`.
    pub kind: &'static str,
    /// Empty for zone proxies (they serve every mesh).
    pub mesh: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Its directory in a `meshc compile` output (`proxies/<dir>/bootstrap.yaml`).
    pub dir: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub address: String,
    /// Transparent proxying: outbounds to every reachable service's VIPs.
    pub transparent: bool,
    /// The services its inbounds back (indices into `services`).
    pub services: Vec<usize>,
    /// The URI SANs of its certificate, which MeshTrafficPermission matches.
    pub identity: Vec<String>,
    pub inbounds: Vec<PlaceRow>,
    pub outbounds: Vec<PlaceRow>,
    /// Proxy-wide policies (an index into `lists`); none for zone proxies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proxy_wide: Option<usize>,
    /// What its transparent proxy lets through to unknown destinations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passthrough: Option<Passthrough>,
    /// The policies that select it: an index into `matched` (none for zone
    /// proxies). The policies of its mesh not there select nothing of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<usize>,
    /// The path of its Envoy config, relative to the report (`--configs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    #[serde(flatten)]
    pub source: Source,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlaceRow {
    /// The Envoy listener (`inbound:10.0.0.1:8080`, `outbound:241.0.0.1:80`).
    pub listener: String,
    /// What it is, as people say it (outbounds to a known service leave it out:
    /// `<kind> <service> port <port>`).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub describe: String,
    /// The service it serves (inbound) or reaches (outbound).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<usize>,
    pub port: u32,
    /// An index into `lists`.
    pub policies: usize,
    /// Every shown service an inbound backs (`service` is the first).
    #[serde(skip)]
    pub backs: Vec<usize>,
}

impl Report {
    /// What a place is, as people say it: its `describe`, or for an outbound to a
    /// known service `<kind> <name>[.<namespace>] [(zone <zone>)] port <port>` (the
    /// page says it the same way). Unique within a proxy: a multi-zone proxy reaches
    /// one `redis` per zone.
    pub fn place_name(&self, place: &PlaceRow) -> String {
        match place.service.and_then(|s| self.services.get(s)).filter(|_| place.describe.is_empty()) {
            Some(s) => format!("{} {} port {}", s.kind, s.label(), place.port),
            None => place.describe.clone(),
        }
    }
}

impl ServiceRow {
    /// `name[.namespace][ (zone z)]`: what tells it apart within its mesh and kind.
    pub fn label(&self) -> String {
        let ns = self.namespace.as_deref().map(|n| format!(".{n}")).unwrap_or_default();
        let zone = self.zone.as_deref().map(|z| format!(" (zone {z})")).unwrap_or_default();
        format!("{}{ns}{zone}", self.name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct KindList {
    pub kind: &'static str,
    pub policies: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Passthrough {
    /// Mesh `networking.outbound.passthrough`.
    pub mesh: bool,
    /// MeshPassthrough's `passthroughMode` (`All`, `Matched`, `None`), when one applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    /// MeshPassthrough's `appendMatch` entries: `Domain api.example.com:443 (tls)`.
    pub destinations: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PolicyRow {
    pub kind: &'static str,
    /// `Kind/name`, with `.namespace` when namespaced (as `explain` names it).
    pub label: String,
    pub mesh: String,
    /// A default policy Kuma creates with the mesh.
    pub implicit: bool,
    /// `kuma.io/effect: shadow`: computed, not applied.
    pub shadow: bool,
    /// `producer`, `consumer`, `workload-owner` or `system`.
    pub role: &'static str,
    /// The top-level targetRef, as written (`MeshService backend`, `Mesh`).
    pub target: String,
    /// How many proxies it selects (the proxies' `matched` say which).
    pub selects: usize,
    /// How many inbounds, outbounds and proxy-wide confs take a field from it.
    pub inbounds: usize,
    pub outbounds: usize,
    pub proxy_wide: usize,
    /// Fields it sets that another policy overrides, grouped.
    pub losses: Vec<Loss>,
    #[serde(flatten)]
    pub source: Source,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Loss {
    /// `http.requestTimeout`.
    pub field: String,
    /// The winning policy (an index into `policies`).
    pub winner: usize,
    /// Why the winner comes later in Kuma's merge order.
    pub why: String,
    /// At how many places (inbounds, outbounds, proxies) it loses.
    pub places: usize,
    /// One proxy where it does (an index into `proxies`).
    pub example: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfRow {
    pub kind: &'static str,
    /// For which traffic (`from kuma.io/service=web`), when not all of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub conf: Value,
    /// The confs merged into it, in merge order (the last wins).
    pub origins: Vec<OriginRow>,
    /// JSON pointer of each field -> index into `origins`.
    pub fields: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OriginRow {
    /// An index into `policies`.
    pub policy: usize,
    /// `default`, `to[0]`, `from[1]`, `rules[0]`.
    pub at: String,
}

/// Who may call whom: for each destination service (a column), one verdict
/// per client service (a row of `rows`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Access {
    /// Services with proxies, which call (indices into `services`).
    pub clients: Vec<usize>,
    /// Destinations (indices into `services`).
    pub destinations: Vec<usize>,
    /// Distinct verdict strings, one character per client (see [`Verdict`]).
    pub rows: Vec<String>,
    /// For each destination, an index into `rows`.
    pub row_of: Vec<usize>,
    /// The legend: verdict character -> meaning.
    pub legend: BTreeMap<char, &'static str>,
}

/// One cell of the access matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Every client proxy may call every backing inbound.
    Allow,
    /// Allowed, and logged as denied by a shadow rule (`AllowWithShadowDeny`).
    Shadow,
    /// Some client proxies, some inbounds or some server names (SNI) allow, others deny.
    Partial,
    /// Denied everywhere.
    Deny,
    /// mTLS is off in the mesh: MeshTrafficPermission is not enforced.
    Open,
    /// Not decided by a sidecar: an external service, or no backing proxy in the input.
    Unknown,
}

impl Verdict {
    pub const ALL: [Verdict; 6] =
        [Verdict::Allow, Verdict::Shadow, Verdict::Partial, Verdict::Deny, Verdict::Open, Verdict::Unknown];

    pub fn char(self) -> char {
        match self {
            Verdict::Allow => 'A',
            Verdict::Shadow => 'S',
            Verdict::Partial => 'P',
            Verdict::Deny => 'D',
            Verdict::Open => 'O',
            Verdict::Unknown => '-',
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            Verdict::Allow => "allowed",
            Verdict::Shadow => "allowed, logged as denied (AllowWithShadowDeny)",
            Verdict::Partial => "allowed for some proxies, ports or server names (SNI) only",
            Verdict::Deny => "denied",
            Verdict::Open => "not enforced: mTLS is off in the mesh",
            Verdict::Unknown => "not decided by a sidecar (external, or no backing proxy)",
        }
    }

    /// Two verdicts over parts of the same cell (decided ones: a cell is
    /// [`Verdict::Unknown`] or [`Verdict::Open`] as a whole, never in part).
    pub fn join(self, other: Verdict) -> Verdict {
        if self == other { self } else { Verdict::Partial }
    }
}
