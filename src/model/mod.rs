//! The typed model: every Kuma kind meshc reads, with the schema defaults Kuma
//! applies on admission and Kuma's own validator rules, one module per kind.
//!
//! Adding a kind means one model file and one line in the `kinds!` registry below.

pub mod choice;
pub mod common;
pub mod meta;
pub mod role;
#[cfg(test)]
pub(crate) mod testing;

pub mod dataplane;
pub mod hostname_generator;
pub mod mesh;
pub mod mesh_external_service;
pub mod mesh_multi_zone_service;
pub mod mesh_service;
pub mod policy;
pub mod zone_egress;
pub mod zone_ingress;

use std::fmt::Debug;

use schemars::JsonSchema;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use meta::{Form, Meta};
pub use role::PolicyRole;

use crate::model::common::TargetRef;
use crate::validate::violations::{Path, Violations};

/// Whether a kind lives inside a mesh or is global.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Global,
    Mesh,
}

/// What a kind's validator may look at besides the spec itself.
pub struct ValidateCtx<'a> {
    pub meta: &'a Meta,
    /// The policy role Kuma would compute (`system` for non-policies).
    pub role: PolicyRole,
}

/// The targetRefs of a policy, for role computation and cross-resource checks.
#[derive(Debug, Default)]
pub struct PolicyView<'a> {
    /// Top-level `targetRef`; `None` means `{kind: Mesh}`.
    pub target_ref: Option<&'a TargetRef>,
    /// `to[].targetRef`.
    pub to: Vec<&'a TargetRef>,
    /// `from[].targetRef`.
    pub from: Vec<&'a TargetRef>,
    /// Number of `rules[]` entries (inbound rules).
    pub rules: usize,
    /// Every reference to another resource (targetRefs and backendRefs) with its path,
    /// for the "reference to a missing resource" check.
    pub references: Vec<(Path, &'a TargetRef)>,
}

/// The behaviour every kind's spec type provides.
pub trait KindSpec: DeserializeOwned + Serialize + JsonSchema + Debug + Clone + Send + Sync + 'static {
    /// Kuma's validator rules for this kind, with Kuma's paths (relative to the
    /// spec) and messages.
    fn validate(&self, ctx: &ValidateCtx, v: &mut Violations);

    /// For policies: their targetRefs.
    fn policy(&self) -> Option<PolicyView<'_>> {
        None
    }
}

macro_rules! kinds {
    ($( $variant:ident => $ty:ty, $scope:ident, legacy: $legacy:literal, policy: $policy:literal, short: $short:literal; )*) => {
        /// Every kind meshc models.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Kind { $($variant),* }

        impl Kind {
            pub const ALL: &'static [Kind] = &[$(Kind::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Kind::$variant => stringify!($variant)),* }
            }

            pub fn from_name(name: &str) -> Option<Kind> {
                match name { $(stringify!($variant) => Some(Kind::$variant),)* _ => None }
            }

            pub fn scope(self) -> Scope {
                match self { $(Kind::$variant => Scope::$scope),* }
            }

            /// Legacy proto kinds: Universal form puts the spec fields inline, and
            /// Kuma's field paths have no `spec.` prefix.
            pub fn is_legacy(self) -> bool {
                match self { $(Kind::$variant => $legacy),* }
            }

            pub fn is_policy(self) -> bool {
                match self { $(Kind::$variant => $policy),* }
            }

            /// Kuma's short name (KRI, kubectl).
            pub fn short_name(self) -> &'static str {
                match self { $(Kind::$variant => $short),* }
            }

            /// The JSON Schema of this kind's spec.
            pub fn spec_schema(self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                match self { $(Kind::$variant => generator.root_schema_for::<$ty>()),* }
            }

            /// Deserialize a spec (schema defaults applied by serde).
            pub fn parse_spec(self, spec: &Value) -> Result<Spec, serde_json::Error> {
                Ok(match self { $(Kind::$variant => Spec::$variant(Box::new(<$ty>::deserialize(spec)?))),* })
            }
        }

        /// A typed spec of any kind.
        #[derive(Debug, Clone)]
        pub enum Spec { $($variant(Box<$ty>)),* }

        impl Spec {
            pub fn kind(&self) -> Kind {
                match self { $(Spec::$variant(_) => Kind::$variant),* }
            }

            pub fn validate(&self, ctx: &ValidateCtx, v: &mut Violations) {
                match self { $(Spec::$variant(s) => s.validate(ctx, v)),* }
            }

            pub fn policy(&self) -> Option<PolicyView<'_>> {
                match self { $(Spec::$variant(s) => s.policy()),* }
            }

            /// The spec as JSON, defaults included.
            pub fn to_json(&self) -> Value {
                let v = match self { $(Spec::$variant(s) => serde_json::to_value(s)),* };
                v.unwrap_or(Value::Null)
            }
        }
    };
}

use serde::Deserialize;

kinds! {
    Mesh => mesh::Mesh, Global, legacy: true, policy: false, short: "m";
    Dataplane => dataplane::Dataplane, Mesh, legacy: true, policy: false, short: "dp";
    ZoneIngress => zone_ingress::ZoneIngress, Global, legacy: true, policy: false, short: "zi";
    ZoneEgress => zone_egress::ZoneEgress, Global, legacy: true, policy: false, short: "ze";
    MeshService => mesh_service::MeshService, Mesh, legacy: false, policy: false, short: "msvc";
    MeshExternalService => mesh_external_service::MeshExternalService, Mesh, legacy: false, policy: false, short: "extsvc";
    MeshMultiZoneService => mesh_multi_zone_service::MeshMultiZoneService, Mesh, legacy: false, policy: false, short: "mzsvc";
    HostnameGenerator => hostname_generator::HostnameGenerator, Global, legacy: false, policy: false, short: "hg";
    MeshHTTPRoute => policy::mesh_http_route::MeshHTTPRoute, Mesh, legacy: false, policy: true, short: "mhttpr";
    MeshTCPRoute => policy::mesh_tcp_route::MeshTCPRoute, Mesh, legacy: false, policy: true, short: "mtcpr";
    MeshTLS => policy::mesh_tls::MeshTLS, Mesh, legacy: false, policy: true, short: "mtls";
    MeshLoadBalancingStrategy => policy::mesh_load_balancing_strategy::MeshLoadBalancingStrategy, Mesh, legacy: false, policy: true, short: "mlbs";
    MeshPassthrough => policy::mesh_passthrough::MeshPassthrough, Mesh, legacy: false, policy: true, short: "mp";
    MeshAccessLog => policy::mesh_access_log::MeshAccessLog, Mesh, legacy: false, policy: true, short: "mal";
    MeshTrace => policy::mesh_trace::MeshTrace, Mesh, legacy: false, policy: true, short: "mtr";
    MeshFaultInjection => policy::mesh_fault_injection::MeshFaultInjection, Mesh, legacy: false, policy: true, short: "mfi";
    MeshRateLimit => policy::mesh_rate_limit::MeshRateLimit, Mesh, legacy: false, policy: true, short: "mrl";
    MeshTimeout => policy::mesh_timeout::MeshTimeout, Mesh, legacy: false, policy: true, short: "mt";
    MeshTrafficPermission => policy::mesh_traffic_permission::MeshTrafficPermission, Mesh, legacy: false, policy: true, short: "mtp";
    MeshHealthCheck => policy::mesh_health_check::MeshHealthCheck, Mesh, legacy: false, policy: true, short: "mhc";
    MeshCircuitBreaker => policy::mesh_circuit_breaker::MeshCircuitBreaker, Mesh, legacy: false, policy: true, short: "mcb";
    MeshRetry => policy::mesh_retry::MeshRetry, Mesh, legacy: false, policy: true, short: "mr";
    MeshMetric => policy::mesh_metric::MeshMetric, Mesh, legacy: false, policy: true, short: "mm";
    MeshProxyPatch => policy::mesh_proxy_patch::MeshProxyPatch, Mesh, legacy: false, policy: true, short: "mpp";
}

/// Kuma kinds that exist but meshc does not model: reported as unsupported, not unknown.
pub const UNSUPPORTED_KUMA_KINDS: &[&str] = &[
    "CircuitBreaker",
    "ContainerPatch",
    "DataplaneInsight",
    "ExternalService",
    "FaultInjection",
    "GlobalSecret",
    "HealthCheck",
    "MeshGateway",
    "MeshGatewayConfig",
    "MeshGatewayInstance",
    "MeshGatewayRoute",
    "MeshIdentity",
    "MeshInsight",
    "MeshOpenTelemetryBackend",
    "MeshTrust",
    "MeshZoneAddress",
    "ProxyTemplate",
    "RateLimit",
    "Retry",
    "Secret",
    "ServiceInsight",
    "Timeout",
    "TrafficLog",
    "TrafficPermission",
    "TrafficRoute",
    "TrafficTrace",
    "VirtualOutbound",
    "Workload",
    "Zone",
    "ZoneEgressInsight",
    "ZoneIngressInsight",
    "ZoneInsight",
];

/// A validated-enough resource: its envelope, and its typed spec when the spec
/// could be read (it cannot when its structure is wrong, e.g. a list for a map).
#[derive(Debug, Clone)]
pub struct Resource {
    pub meta: Meta,
    pub spec: Option<Spec>,
    /// `status` as written, if any (MeshService VIPs and such).
    pub status: Option<Value>,
    pub role: PolicyRole,
}
