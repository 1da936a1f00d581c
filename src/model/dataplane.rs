//! Dataplane (`api/mesh/v1alpha1/dataplane.proto`): a data plane proxy, its
//! inbounds, outbounds, gateway mode, transparent proxying and zone-proxy
//! listeners. Validator: `pkg/core/resources/apis/mesh/dataplane_validator.go`
//! (reference §6.7).
//!
//! Legacy proto kind: fields use protobuf JSON names (camelCase); the original
//! snake_case proto names are accepted as aliases. Kuma's field paths have no
//! `spec.` prefix.
//!
//! This file also holds the small validators shared by the four legacy kinds
//! (Kuma's `ValidatePort`, `validateAddress`, ...); `ValidateTags` is in
//! `common::checks`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::findings::codes;
use crate::kuma_enum;
use crate::model::choice::Choice;
use crate::model::common::{
    Duration, SERVICE_TAG, StringMap, TagOpts, go_url_parse_request_uri, is_dns_name, is_dns1123_subdomain, is_ip,
    validate_tags,
};
use crate::model::mesh::MetricsBackend;
use crate::model::{KindSpec, ValidateCtx};
use crate::validate::violations::{Path, Violations};

/// The `kuma.io/protocol` tag.
pub const PROTOCOL_TAG: &str = "kuma.io/protocol";
/// Protocols Kuma knows (`SupportedProtocols`), sorted as in Kuma's messages.
pub const SUPPORTED_PROTOCOLS: &[&str] = &["grpc", "http", "http2", "kafka", "tcp"];

/// Dataplane spec: configuration of a data plane proxy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Dataplane {
    /// Inbound and outbound interfaces of the data plane proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub networking: Option<Networking>,
    /// Metrics collected and exposed by the proxy; overrides the Mesh defaults.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metrics: Option<MetricsBackend>,
    /// Endpoints exposed without mTLS (deprecated virtual probes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<Probes>,
    /// Additional configuration of the Envoy sidecar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub envoy: Option<EnvoyConfiguration>,
}

/// Inbound and outbound interfaces of a data plane proxy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields, transform = networking_aliases)]
pub struct Networking {
    /// IP (or hostname) on which the proxy is reachable by the control plane and other proxies.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub address: Option<String>,
    /// Routable address other proxies use when `address` is private; Envoy still binds to `address`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertised_address: Option<String>,
    /// Services implemented by this proxy; one Envoy listener each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inbound: Vec<Inbound>,
    /// Services consumed by this proxy; one Envoy listener each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outbound: Vec<Outbound>,
    /// Gateway mode of this proxy (delegated or builtin).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<Gateway>,
    /// Transparent proxying configuration (used by default on Kubernetes).
    #[serde(alias = "transparent_proxying", skip_serializing_if = "Option::is_none")]
    pub transparent_proxying: Option<TransparentProxying>,
    /// Envoy Admin API configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<EnvoyAdmin>,
    /// Zone ingress / zone egress listeners run by this proxy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listeners: Vec<Listener>,
}

kuma_enum! {
    /// State of an inbound.
    pub enum InboundState { Ready = "Ready", NotReady = "NotReady", Ignored = "Ignored" }
}

/// A service implemented by the proxy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Inbound {
    /// Port of the inbound interface (the application port with transparent proxying).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i64>,
    /// Port of the application requests are forwarded to; defaults to `port`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub service_port: Option<i64>,
    /// Address of the application requests are forwarded to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_address: Option<String>,
    /// Address of the inbound listener; defaults to `networking.address`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Tags of the application, e.g. `kuma.io/service: web`; `kuma.io/service` is mandatory.
    #[serde(default, deserialize_with = "lenient_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: StringMap,
    /// Health of the inbound; unhealthy inbounds are excluded from EDS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
    /// Active health checking of the application next to the sidecar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_probe: Option<ServiceProbe>,
    /// State of the inbound (Ready, NotReady, Ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<Choice<InboundState>>,
    /// Name of the inbound, usable as `sectionName` (MeshService port name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Application protocol of the inbound (overrides the `kuma.io/protocol` tag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// Health of an inbound.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Health {
    /// Whether the proxy is ready to serve traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready: Option<bool>,
}

/// Parameters of probing the application's port.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields, transform = service_probe_aliases)]
pub struct ServiceProbe {
    /// Interval between consecutive health checks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<Duration>,
    /// Maximum time to wait for a health check response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// Consecutive failed checks before the host is considered unhealthy.
    #[serde(alias = "unhealthy_threshold", skip_serializing_if = "Option::is_none")]
    pub unhealthy_threshold: Option<i64>,
    /// Consecutive successful checks before the host is considered healthy.
    #[serde(alias = "healthy_threshold", skip_serializing_if = "Option::is_none")]
    pub healthy_threshold: Option<i64>,
    /// TCP checker: tries to establish a TCP connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tcp: Option<Empty>,
}

/// An empty message (`{}`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct Empty {}

/// A service consumed by the proxy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Outbound {
    /// IP on which the consumed service is available to this proxy; defaults to 127.0.0.1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port on which the consumed service is available to this proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i64>,
    /// Deprecated: use `tags` with `kuma.io/service`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// Tags of the consumed proxies; `kuma.io/service` is required.
    #[serde(default, deserialize_with = "lenient_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: StringMap,
    /// The MeshService, MeshExternalService or MeshMultiZoneService consumed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_ref: Option<OutboundBackendRef>,
}

/// A reference to a MeshService, MeshExternalService or MeshMultiZoneService.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct OutboundBackendRef {
    /// Kind of the targeted object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Name of the targeted object.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port of the targeted object; required unless the kind is MeshExternalService.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// Labels selecting a single object (the oldest one when several match).
    #[serde(default, deserialize_with = "lenient_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: StringMap,
}

kuma_enum! {
    /// Gateway type of a data plane proxy.
    pub enum GatewayType { Delegated = "DELEGATED", Builtin = "BUILTIN" }
}

/// Gateway mode of a data plane proxy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Gateway {
    /// Tags of the gateway, e.g. `kuma.io/service: gateway`; `kuma.io/service` is mandatory.
    #[serde(default, deserialize_with = "lenient_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: StringMap,
    /// DELEGATED (an external proxy, the default) or BUILTIN (Kuma's own gateway).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub type_: Option<Choice<GatewayType>>,
}

kuma_enum! {
    /// IP families transparent proxying is enabled for.
    pub enum IpFamilyMode { UnSpecified = "UnSpecified", DualStack = "DualStack", IPv4 = "IPv4", IPv6 = "IPv6" }
}

/// Transparent proxying configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields, transform = transparent_proxying_aliases)]
pub struct TransparentProxying {
    /// Port inbound traffic is redirected to.
    #[serde(alias = "redirect_port_inbound", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub redirect_port_inbound: Option<i64>,
    /// Port outbound traffic is redirected to.
    #[serde(alias = "redirect_port_outbound", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub redirect_port_outbound: Option<i64>,
    /// Services accessed directly via IP:PORT (`*` for all).
    #[serde(alias = "direct_access_services", default, skip_serializing_if = "Vec::is_empty")]
    pub direct_access_services: Vec<String>,
    /// `kuma.io/service` values reachable through transparent proxying; all when empty.
    #[serde(alias = "reachable_services", default, skip_serializing_if = "Vec::is_empty")]
    pub reachable_services: Vec<String>,
    /// IP family mode (IPv4 or DualStack).
    #[serde(alias = "ip_family_mode", skip_serializing_if = "Option::is_none")]
    pub ip_family_mode: Option<Choice<IpFamilyMode>>,
    /// MeshService / MeshExternalService / MeshMultiZoneService reachable; all when unset.
    #[serde(alias = "reachable_backends", skip_serializing_if = "Option::is_none")]
    pub reachable_backends: Option<ReachableBackends>,
}

/// Backends reachable through transparent proxying.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ReachableBackends {
    /// References to reachable backends.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refs: Vec<ReachableBackendRef>,
}

/// A reachable backend.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ReachableBackendRef {
    /// Kind: MeshService, MeshExternalService or MeshMultiZoneService.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub kind: Option<String>,
    /// Name of the backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespace of the backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Port of the backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// Labels selecting backends.
    #[serde(default, deserialize_with = "lenient_map", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: StringMap,
}

/// Envoy Admin API configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct EnvoyAdmin {
    /// Port the Envoy Admin API listens on (localhost only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub port: Option<i64>,
}

kuma_enum! {
    /// Type of a zone-proxy listener.
    pub enum ListenerType { ZoneIngress = "ZoneIngress", ZoneEgress = "ZoneEgress" }
}

/// A zone ingress or zone egress listener run by this proxy.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Listener {
    /// ZoneIngress or ZoneEgress.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<ListenerType>>,
    /// Address of the listener; defaults to `networking.address`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port of the listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i64>,
    /// Name of the listener, usable as `sectionName`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// State of the listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<Choice<InboundState>>,
}

/// Endpoints exposed without mTLS.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Probes {
    /// Port the probe endpoints are exposed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    /// Endpoints to expose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<ProbeEndpoint>,
}

/// One virtual probe endpoint.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields, transform = probe_endpoint_aliases)]
pub struct ProbeEndpoint {
    /// Application port the endpoint is taken from.
    #[serde(alias = "inbound_port", skip_serializing_if = "Option::is_none")]
    pub inbound_port: Option<i64>,
    /// Application path the endpoint is taken from.
    #[serde(alias = "inbound_path", skip_serializing_if = "Option::is_none")]
    pub inbound_path: Option<String>,
    /// Path the endpoint is exposed on, on the probes port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

kuma_enum! {
    /// xDS transport protocol variant.
    pub enum XdsTransportProtocolVariant { Default = "DEFAULT", Grpc = "GRPC", DeltaGrpc = "DELTA_GRPC" }
}

/// Additional Envoy configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct EnvoyConfiguration {
    /// xDS transport protocol variant used by the proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xds_transport_protocol_variant: Option<Choice<XdsTransportProtocolVariant>>,
}

// ---- protobuf field-name aliases in the schema -------------------------------------

/// Publish the original proto (snake_case) field names next to the JSON names, so
/// the schema accepts what Kuma's proto JSON parser accepts.
pub(crate) fn add_aliases(schema: &mut schemars::Schema, aliases: &[(&str, &str)]) {
    let Some(props) = schema.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (alias, canonical) in aliases {
        if let Some(mut prop) = props.get(*canonical).cloned() {
            if let Some(obj) = prop.as_object_mut() {
                obj.insert("description".into(), Value::String(format!("Protobuf field name of `{canonical}`.")));
            }
            props.insert((*alias).to_string(), prop);
        }
    }
}

fn networking_aliases(s: &mut schemars::Schema) {
    add_aliases(s, &[("transparent_proxying", "transparentProxying")]);
}

fn service_probe_aliases(s: &mut schemars::Schema) {
    add_aliases(s, &[("unhealthy_threshold", "unhealthyThreshold"), ("healthy_threshold", "healthyThreshold")]);
}

fn transparent_proxying_aliases(s: &mut schemars::Schema) {
    add_aliases(
        s,
        &[
            ("redirect_port_inbound", "redirectPortInbound"),
            ("redirect_port_outbound", "redirectPortOutbound"),
            ("direct_access_services", "directAccessServices"),
            ("reachable_services", "reachableServices"),
            ("ip_family_mode", "ipFamilyMode"),
            ("reachable_backends", "reachableBackends"),
        ],
    );
}

fn probe_endpoint_aliases(s: &mut schemars::Schema) {
    add_aliases(s, &[("inbound_port", "inboundPort"), ("inbound_path", "inboundPath")]);
}

// ---- helpers for later stages ---------------------------------------------------

impl Dataplane {
    pub fn networking(&self) -> Option<&Networking> {
        self.networking.as_ref()
    }

    /// The inbounds (empty without networking).
    pub fn inbounds(&self) -> &[Inbound] {
        self.networking.as_ref().map(|n| n.inbound.as_slice()).unwrap_or_default()
    }

    /// The outbounds (empty without networking).
    pub fn outbounds(&self) -> &[Outbound] {
        self.networking.as_ref().map(|n| n.outbound.as_slice()).unwrap_or_default()
    }

    /// Zone-proxy listeners (empty without networking).
    pub fn listeners(&self) -> &[Listener] {
        self.networking.as_ref().map(|n| n.listeners.as_slice()).unwrap_or_default()
    }

    pub fn gateway(&self) -> Option<&Gateway> {
        self.networking.as_ref().and_then(|n| n.gateway.as_ref())
    }

    /// Any gateway (delegated or builtin).
    pub fn is_gateway(&self) -> bool {
        self.gateway().is_some()
    }

    /// A builtin gateway (`gateway.type: BUILTIN`).
    pub fn is_builtin_gateway(&self) -> bool {
        self.gateway().is_some_and(Gateway::is_builtin)
    }

    /// A delegated gateway (`gateway` without type, or `DELEGATED`).
    pub fn is_delegated_gateway(&self) -> bool {
        self.gateway().is_some_and(|g| !g.is_builtin())
    }

    /// `networking.address` (empty when unset).
    pub fn address(&self) -> &str {
        self.networking.as_ref().and_then(|n| n.address.as_deref()).unwrap_or_default()
    }

    pub fn transparent_proxying(&self) -> Option<&TransparentProxying> {
        self.networking.as_ref().and_then(|n| n.transparent_proxying.as_ref())
    }

    /// Whether the proxy runs with transparent proxying (an outbound redirect port is set).
    pub fn uses_transparent_proxy(&self) -> bool {
        self.transparent_proxying().is_some_and(|tp| tp.redirect_port_outbound.unwrap_or(0) != 0)
    }

    /// The service identifying this proxy: the gateway's or first inbound's `kuma.io/service`.
    pub fn identifying_service(&self) -> Option<&str> {
        match self.gateway() {
            Some(g) => g.tags.get(SERVICE_TAG).map(String::as_str),
            None => self.inbounds().first().and_then(Inbound::service),
        }
    }

    /// Kuma's `UsesInboundInterface`: an inbound (proxy or application side) binds `ip:port`.
    pub fn uses_inbound_interface(&self, ip: IpAddr, port: i64) -> bool {
        let Some(n) = &self.networking else {
            return false;
        };
        n.inbound.iter().any(|i| {
            let dp_ip = i.address.as_deref().or(n.address.as_deref()).unwrap_or_default();
            let wl_ip = i.service_address.as_deref().unwrap_or("127.0.0.1");
            let dp_port = i.port.unwrap_or(0);
            let wl_port = i.service_port.filter(|p| *p != 0).unwrap_or(dp_port);
            (port == dp_port && overlap(ip, dp_ip)) || (port == wl_port && overlap(ip, wl_ip))
        })
    }

    /// Kuma's `UsesOutboundInterface`.
    pub fn uses_outbound_interface(&self, ip: IpAddr, port: i64) -> bool {
        self.outbounds()
            .iter()
            .any(|o| port == o.port.unwrap_or(0) && overlap(ip, o.address.as_deref().unwrap_or("127.0.0.1")))
    }
}

impl Networking {
    pub fn inbounds(&self) -> &[Inbound] {
        &self.inbound
    }
}

impl Inbound {
    /// The `kuma.io/service` tag.
    pub fn service(&self) -> Option<&str> {
        self.tags.get(SERVICE_TAG).map(String::as_str)
    }

    /// Kuma's section name: `name`, or the port as a string.
    pub fn section_name(&self) -> String {
        match self.name.as_deref() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => self.port.unwrap_or(0).to_string(),
        }
    }

    /// Kuma's protocol fallback: the `protocol` field, else the `kuma.io/protocol`
    /// tag, else `tcp`; unknown values are returned as written.
    pub fn protocol(&self) -> &str {
        self.protocol
            .as_deref()
            .filter(|p| !p.is_empty())
            .or_else(|| self.tags.get(PROTOCOL_TAG).map(String::as_str).filter(|p| !p.is_empty()))
            .unwrap_or("tcp")
    }

    /// Whether the inbound is ignored (not created, cannot be targeted).
    pub fn is_ignored(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.is(InboundState::Ignored))
    }

    /// The address of the inbound listener (`address`, else `networking.address`).
    pub fn dataplane_address<'a>(&'a self, networking: &'a Networking) -> &'a str {
        self.address.as_deref().or(networking.address.as_deref()).unwrap_or_default()
    }

    /// The application port (`servicePort`, else `port`).
    pub fn workload_port(&self) -> i64 {
        self.service_port.filter(|p| *p != 0).or(self.port).unwrap_or(0)
    }
}

impl Outbound {
    /// The `kuma.io/service` tag (or the deprecated `service` field).
    pub fn service(&self) -> Option<&str> {
        self.tags.get(SERVICE_TAG).map(String::as_str).or(self.service.as_deref()).filter(|s| !s.is_empty())
    }
}

impl Gateway {
    pub fn is_builtin(&self) -> bool {
        self.type_.as_ref().is_some_and(|t| t.is(GatewayType::Builtin))
    }
}

impl Listener {
    /// Section name: `name`, or the port as a string.
    pub fn section_name(&self) -> String {
        match self.name.as_deref() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => self.port.unwrap_or(0).to_string(),
        }
    }
}

// ---- validation -------------------------------------------------------------------

const BACKEND_KINDS: &str = "MeshExternalService,MeshMultiZoneService,MeshService";
const ALLOWED_BACKEND_KINDS: &[&str] = &["MeshExternalService", "MeshMultiZoneService", "MeshService"];

impl KindSpec for Dataplane {
    fn validate(&self, _ctx: &ValidateCtx, v: &mut Violations) {
        let net = Path::root().field("networking");
        let Some(n) = &self.networking else {
            v.must_be_defined(&net);
            return;
        };
        if let Some(admin) = &n.admin {
            let port = admin.port.unwrap_or(0);
            let loopback = IpAddr::from([127, 0, 0, 1]);
            let p = net.field("admin").field("port");
            if self.uses_inbound_interface(loopback, port) {
                v.add_code(codes::BAD_PORT, &p, "must differ from inbound");
            }
            if self.uses_outbound_interface(loopback, port) {
                v.add_code(codes::BAD_PORT, &p, "must differ from outbound");
            }
        }
        match &n.gateway {
            Some(g) if !g.is_builtin() => {
                if !n.inbound.is_empty() {
                    v.add(&net.field("inbound"), "inbound cannot be defined for delegated gateways");
                }
                validate_gateway(v, &net.field("gateway"), g);
                validate_networking(v, n);
                validate_probes(v, self.probes.as_ref());
            }
            Some(g) => {
                if !n.inbound.is_empty() {
                    v.add(&net.field("inbound"), "inbound cannot be defined for builtin gateways");
                }
                if !n.outbound.is_empty() {
                    v.add(&net.field("outbound"), "outbound cannot be defined for builtin gateways");
                }
                if self.probes.is_some() {
                    v.add(&net.field("probes"), "probes cannot be defined for builtin gateways");
                }
                validate_gateway(v, &net.field("gateway"), g);
                validate_networking(v, n);
            }
            None => {
                if n.inbound.is_empty() && n.listeners.is_empty() {
                    v.add(&net, "has to contain at least one inbound interface or gateway");
                }
                validate_networking(v, n);
                validate_probes(v, self.probes.as_ref());
                if let Some(m) = &self.metrics {
                    validate_metrics_backend(v, m);
                }
            }
        }
        // Values Kuma's proto parser would reject.
        if let Some(t) = n.gateway.as_ref().and_then(|g| g.type_.as_ref()) {
            v.one_of(&net.field("gateway").field("type"), t);
        }
        for (i, inbound) in n.inbound.iter().enumerate() {
            v.one_of_opt(&net.field("inbound").index(i).field("state"), inbound.state.as_ref());
        }
        if let Some(tp) = &n.transparent_proxying {
            v.one_of_opt(&net.field("transparentProxying").field("ipFamilyMode"), tp.ip_family_mode.as_ref());
        }
        for (i, l) in n.listeners.iter().enumerate() {
            v.one_of_opt(&net.field("listeners").index(i).field("state"), l.state.as_ref());
        }
        if let Some(e) = &self.envoy {
            v.one_of_opt(
                &Path::root().field("envoy").field("xdsTransportProtocolVariant"),
                e.xds_transport_protocol_variant.as_ref(),
            );
        }
    }
}

fn validate_networking(v: &mut Violations, n: &Networking) {
    let path = Path::root().field("networking");
    validate_address(v, &path, n.address.as_deref());
    let dp_address = n.address.as_deref().unwrap_or_default();
    for (i, inbound) in n.inbound.iter().enumerate() {
        let p = path.field("inbound").index(i);
        validate_inbound(v, &p, inbound, dp_address);
        if !inbound.tags.contains_key(SERVICE_TAG) {
            v.add_code(codes::KUMA_REQUIRED, &p.field("tags").key(SERVICE_TAG), "tag has to exist");
        }
    }
    for (i, outbound) in n.outbound.iter().enumerate() {
        validate_outbound(v, &path.field("outbound").index(i), outbound);
    }
    // Kuma's path has this typo ("transparentProxing"); kept so messages match Kuma's.
    validate_transparent_proxying(v, &path.field("transparentProxing"), n.transparent_proxying.as_ref());
    validate_listeners(v, &path, n);
}

fn validate_inbound(v: &mut Violations, p: &Path, inbound: &Inbound, dp_address: &str) {
    validate_port(v, &p.field("port"), inbound.port);
    let port = inbound.port.unwrap_or(0);
    let service_port = inbound.service_port.unwrap_or(0);
    if service_port != 0 {
        validate_port(v, &p.field("servicePort"), inbound.service_port);
    }
    let service_address = inbound.service_address.as_deref().unwrap_or_default();
    let overlap_msg = "serviceAddress and servicePort has to differ from address and port";
    if !service_address.is_empty() {
        if !is_ip(service_address) {
            v.add_code(codes::BAD_ADDRESS, &p.field("serviceAddress"), "serviceAddress has to be valid IP address");
        }
        if service_address == dp_address && (service_port == 0 || service_port == port) {
            v.add(&p.field("serviceAddress"), overlap_msg);
        }
    }
    let address = inbound.address.as_deref().unwrap_or_default();
    if !address.is_empty() {
        if !is_ip(address) {
            v.add_code(codes::BAD_ADDRESS, &p.field("address"), "address has to be valid IP address");
        }
        if address == service_address && (service_port == 0 || service_port == port) {
            v.add(&p.field("serviceAddress"), overlap_msg);
        }
    }
    validate_tags(v, &p.field("tags"), &inbound.tags, TagOpts::default(), |v, path, tags| {
        if let Some(value) = tags.get(PROTOCOL_TAG)
            && !SUPPORTED_PROTOCOLS.contains(&value.as_str())
        {
            v.add_code(
                codes::KUMA_ENUM,
                &path.key(PROTOCOL_TAG),
                format!(
                    "tag {PROTOCOL_TAG:?} has an invalid value {value:?}. {}",
                    allowed_values_hint(SUPPORTED_PROTOCOLS)
                ),
            );
        }
    });
    // Kuma 2.14 `protocol` field: same set of values as the tag (meshc's wording).
    if let Some(proto) = inbound.protocol.as_deref()
        && !proto.is_empty()
        && !SUPPORTED_PROTOCOLS.contains(&proto)
    {
        v.add_code(
            codes::KUMA_ENUM,
            &p.field("protocol"),
            format!("has an invalid value {proto:?}. {}", allowed_values_hint(SUPPORTED_PROTOCOLS)),
        );
    }
    if let Some(sp) = &inbound.service_probe {
        let sp_path = p.field("serviceProbe");
        validate_proto_duration(v, &sp_path.field("interval"), sp.interval.as_ref());
        validate_proto_duration(v, &sp_path.field("timeout"), sp.timeout.as_ref());
        if sp.unhealthy_threshold == Some(0) {
            v.add(&sp_path.field("unhealthyThreshold"), "must have a positive value");
        }
        if sp.healthy_threshold == Some(0) {
            v.add(&sp_path.field("healthyThreshold"), "must have a positive value");
        }
    }
}

/// Kuma's `ValidateDuration` for a set proto Duration: positive and valid.
fn validate_proto_duration(v: &mut Violations, path: &Path, d: Option<&Duration>) {
    let Some(d) = d else { return };
    match d.nanos() {
        None => v.add_code(codes::BAD_DURATION, path, "must have a valid value"),
        Some(0) => v.add_code(codes::BAD_DURATION, path, "must have a positive value"),
        Some(n) if n < 0 => v.add_code(codes::BAD_DURATION, path, "must have a valid value"),
        _ => {}
    }
}

fn validate_outbound(v: &mut Violations, p: &Path, outbound: &Outbound) {
    validate_port(v, &p.field("port"), outbound.port);
    if let Some(a) = outbound.address.as_deref()
        && !a.is_empty()
        && !is_ip(a)
    {
        v.add_code(codes::BAD_ADDRESS, &p.field("address"), "address has to be valid IP address");
    }
    let service = outbound.service.as_deref().unwrap_or_default();
    if let Some(r) = &outbound.backend_ref {
        let rp = p.field("backendRef");
        let kind = r.kind.as_deref().unwrap_or_default();
        if !ALLOWED_BACKEND_KINDS.contains(&kind) {
            v.add_code(
                codes::KUMA_ENUM,
                &rp.field("kind"),
                format!("invalid value. Available values are: {BACKEND_KINDS}"),
            );
        }
        if r.name.as_deref().unwrap_or_default().is_empty() && r.labels.is_empty() {
            v.add_code(codes::KUMA_REQUIRED, &rp, "either 'name' or 'labels' should be specified");
        }
        if kind != "MeshExternalService" {
            validate_port(v, &rp.field("port"), r.port);
        }
    } else if outbound.tags.is_empty() {
        if service.is_empty() {
            v.add_code(codes::KUMA_REQUIRED, &p.field("tags"), format!("mandatory tag {SERVICE_TAG:?} is missing"));
        }
    } else {
        let opts = TagOpts { require_service: true, ..Default::default() };
        validate_tags(v, &p.field("tags"), &outbound.tags, opts, |_, _, _| {});
    }
    if outbound.backend_ref.is_some() && (!outbound.tags.is_empty() || !service.is_empty()) {
        v.add(&p.field("backendRef"), "both backendRef and tags/service cannot be defined");
    }
}

fn validate_transparent_proxying(v: &mut Violations, path: &Path, tp: Option<&TransparentProxying>) {
    let Some(rb) = tp.and_then(|tp| tp.reachable_backends.as_ref()) else {
        return;
    };
    let path = path.field("reachableBackends").field("refs");
    for (i, r) in rb.refs.iter().enumerate() {
        let p = path.index(i);
        let kind = r.kind.as_deref().unwrap_or_default();
        if !ALLOWED_BACKEND_KINDS.contains(&kind) {
            v.add_code(
                codes::KUMA_ENUM,
                &p.field("kind"),
                format!("invalid value. Available values are: {BACKEND_KINDS}"),
            );
        }
        let name = r.name.as_deref().unwrap_or_default();
        let namespace = r.namespace.as_deref().unwrap_or_default();
        if !name.is_empty() && !is_dns1123_subdomain(name) {
            v.add(
                &p.field("name"),
                "invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
            );
        }
        if name.is_empty() && namespace.is_empty() && r.labels.is_empty() {
            v.add_code(codes::KUMA_REQUIRED, &p.field("name"), "name or labels are required");
        }
        if name.is_empty() && !namespace.is_empty() {
            v.add_code(codes::KUMA_REQUIRED, &p.field("name"), "name is required, when namespace is defined");
        }
        if (!name.is_empty() || !namespace.is_empty()) && !r.labels.is_empty() {
            v.add(&p.field("labels"), "labels cannot be defined when name is specified");
        }
    }
}

/// Zone-proxy listeners (Kuma 2.14). Kuma's Go rules for these were not available;
/// the checks follow reference §6.7 with meshc's own wording.
fn validate_listeners(v: &mut Violations, path: &Path, n: &Networking) {
    if n.listeners.is_empty() {
        return;
    }
    if n.gateway.as_ref().is_some_and(|g| !g.is_builtin()) {
        v.add(&path.field("listeners"), "listeners cannot be defined for delegated gateways");
    }
    let mut names: BTreeSet<&str> =
        n.inbound.iter().filter_map(|i| i.name.as_deref()).filter(|s| !s.is_empty()).collect();
    for (i, l) in n.listeners.iter().enumerate() {
        let p = path.field("listeners").index(i);
        match &l.type_ {
            None => v.must_be_defined(&p.field("type")),
            Some(t) => v.one_of(&p.field("type"), t),
        }
        validate_port(v, &p.field("port"), l.port);
        let address = l.address.as_deref().unwrap_or_default();
        if !address.is_empty() && !is_ip(address) {
            v.add_code(codes::BAD_ADDRESS, &p.field("address"), "address has to be valid IP address");
        }
        if let Some(name) = l.name.as_deref().filter(|s| !s.is_empty())
            && !names.insert(name)
        {
            v.add(&p.field("name"), format!("{name:?} name is already used by another inbound or listener"));
        }
        let l_addr = if address.is_empty() { n.address.as_deref().unwrap_or_default() } else { address };
        if let Some(j) = n.inbound.iter().position(|inb| inb.port == l.port && inb.dataplane_address(n) == l_addr) {
            v.add(&p.field("port"), format!("address and port collide with networking.inbound[{j}]"));
        }
    }
}

fn validate_gateway(v: &mut Violations, path: &Path, g: &Gateway) {
    let opts = TagOpts { require_service: true, ..Default::default() };
    validate_tags(v, &path.field("tags"), &g.tags, opts, |v, path, tags| {
        if let Some(p) = tags.get(PROTOCOL_TAG)
            && p != "tcp"
        {
            v.add(&path.key(PROTOCOL_TAG), format!("other values than tcp are not allowed, provided value \"{p}\""));
        }
    });
}

fn validate_probes(v: &mut Violations, probes: Option<&Probes>) {
    let Some(probes) = probes else { return };
    let path = Path::root().field("probes");
    validate_port(v, &path.field("port"), probes.port);
    for (i, e) in probes.endpoints.iter().enumerate() {
        let p = path.field("endpoints").index(i);
        validate_port(v, &p.field("inboundPort"), e.inbound_port);
        if go_url_parse_request_uri(e.inbound_path.as_deref().unwrap_or_default()).is_none() {
            v.add(&p.field("inboundPath"), "should be a valid URL Path");
        }
        if go_url_parse_request_uri(e.path.as_deref().unwrap_or_default()).is_none() {
            v.add(&p.field("path"), "should be a valid URL Path");
        }
    }
}

fn validate_metrics_backend(v: &mut Violations, m: &MetricsBackend) {
    let path = Path::root().field("metrics");
    if m.type_.as_deref() != Some("prometheus") {
        v.add_code(codes::KUMA_ENUM, &path.field("type"), "unknown backend type. Available backends: \"prometheus\"");
    } else {
        crate::model::mesh::validate_prometheus_config(v, &path.field("conf"), m.conf.as_ref());
    }
}

// ---- shared legacy validators -----------------------------------------------------

/// Kuma's `ValidatePort` message in `pkg/core/resources/apis/mesh`.
pub(crate) const PORT_RANGE: &str = "port must be in the range [1, 65535]";

/// Kuma's `ValidatePort`: 1..=65535, unset counts as 0.
pub(crate) fn validate_port(v: &mut Violations, path: &Path, port: Option<i64>) {
    if !matches!(port, Some(1..=65535)) {
        v.add_code(codes::BAD_PORT, path, PORT_RANGE);
    }
}

/// Kuma's `validateAddress(path, address)`: reports at `path.address`.
pub(crate) fn validate_address(v: &mut Violations, path: &Path, address: Option<&str>) {
    let p = path.field("address");
    let address = address.unwrap_or_default();
    if address.is_empty() {
        v.add_code(codes::KUMA_REQUIRED, &p, "address can't be empty");
        return;
    }
    if address == "0.0.0.0" || address == "::" {
        v.add_code(codes::BAD_ADDRESS, &p, "must not be 0.0.0.0 or ::");
    }
    if !is_ip(address) && !is_dns_name(address) {
        v.add_code(codes::BAD_ADDRESS, &p, "address has to be valid IP address or domain name");
    }
}

/// Kuma's `overlap`: wildcard addresses overlap everything, else exact match.
pub(crate) fn overlap(ip: IpAddr, other: &str) -> bool {
    match other.parse::<IpAddr>() {
        Ok(o) => ip.is_unspecified() || o.is_unspecified() || o == ip,
        Err(_) => ip.is_unspecified(),
    }
}

/// Kuma's `AllowedValuesHint`.
pub(crate) fn allowed_values_hint(values: &[&str]) -> String {
    if values.is_empty() {
        "Allowed values: (none)".to_string()
    } else {
        format!("Allowed values: {}", values.join(", "))
    }
}

/// A string map as Kuma's proto parser reads it: `null` values become `""`, and
/// scalars are kept as their text, so Kuma's rules can still report them.
pub(crate) fn lenient_map<'de, D: Deserializer<'de>>(d: D) -> Result<StringMap, D::Error> {
    let raw: Option<BTreeMap<String, Value>> = Option::deserialize(d)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::Null => String::new(),
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, s)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{check, meta, pairs};
    use crate::model::{Kind, PolicyRole};

    fn dp(spec: serde_json::Value) -> Vec<(String, String)> {
        check::<Dataplane>(&meta(Kind::Dataplane, "x"), PolicyRole::System, spec)
    }

    fn base_inbound() -> serde_json::Value {
        serde_json::json!([{"port": 8080, "tags": {"kuma.io/service": "backend", "version": "1"}}])
    }

    #[test]
    fn valid_dataplanes() {
        let cases = [
            serde_json::json!({"networking": {"address": "192.168.0.1", "inbound": base_inbound(),
                "outbound": [{"port": 3333, "tags": {"kuma.io/service": "redis"}}]}}),
            serde_json::json!({"networking": {"address": "0:0:0:0:0:FFFF:C0A8:0001",
                "inbound": [{"port": 8080, "servicePort": 7777, "address": "::1", "tags": {"kuma.io/service": "backend"}}],
                "outbound": [{"port": 3333, "address": "::1", "tags": {"kuma.io/service": "redis"}}]}}),
            serde_json::json!({"networking": {"address": "192.168.0.1",
                "gateway": {"tags": {"kuma.io/service": "backend", "kuma.io/valid": "abc.0123-789.under_score:90"}},
                "outbound": [{"port": 3333, "tags": {"kuma.io/service": "redis"}}]}}),
            serde_json::json!({"networking": {"address": "example.com", "inbound": base_inbound()}}),
            serde_json::json!({"networking": {"address": "192.168.0.1", "admin": {"port": 8080},
                "inbound": [{"port": 8080, "servicePort": 7777, "address": "192.168.0.1", "tags": {"kuma.io/service": "backend"}}],
                "outbound": [{"port": 3333, "address": "192.168.0.1", "tags": {"kuma.io/service": "redis"}}]}}),
            serde_json::json!({"networking": {"address": "192.168.0.1", "inbound": base_inbound(),
                "outbound": [{"port": 3333, "backendRef": {"kind": "MeshExternalService", "name": "xyz"}},
                             {"port": 3334, "backendRef": {"kind": "MeshService", "labels": {"kuma.io/display-name": "redis"}, "port": 8080}}]},
                "metrics": {"type": "prometheus", "conf": {"aggregate": [{"name": "app", "port": 123, "path": "/stats"}]}},
                "probes": {"port": 9000, "endpoints": [{"inboundPort": 8088, "inboundPath": "/healthz", "path": "/8080/healthz"}]}}),
            serde_json::json!({"networking": {"address": "127.0.0.1", "listeners": [
                {"address": "127.0.0.1", "name": "zi-main", "port": 10001, "type": "ZoneIngress"},
                {"address": "127.0.0.1", "port": 10002, "type": "ZoneEgress"}]}}),
        ];
        for c in cases {
            assert_eq!(dp(c.clone()), vec![], "{c}");
        }
    }

    #[test]
    fn realistic_universal_transparent_proxy() {
        // A Universal Dataplane as `kumactl` users write it (YAML parsed by the loader
        // into JSON), with snake_case proto names accepted too.
        let spec = serde_json::json!({
            "networking": {
                "address": "10.0.0.12",
                "advertisedAddress": "172.16.0.12",
                "inbound": [{
                    "port": 8080, "servicePort": 18080, "name": "http", "protocol": "http",
                    "tags": {"kuma.io/service": "backend", "version": "v1", "kuma.io/protocol": "http"},
                    "serviceProbe": {"interval": "10s", "timeout": "2s", "unhealthy_threshold": 3, "healthyThreshold": 1, "tcp": {}}
                }],
                "outbound": [{"port": 6379, "address": "127.0.0.1", "tags": {"kuma.io/service": "redis"}}],
                "admin": {"port": 9901},
                "transparent_proxying": {
                    "redirectPortInbound": 15006, "redirect_port_outbound": 15001,
                    "ipFamilyMode": "DualStack",
                    "reachableServices": ["redis"],
                    "reachableBackends": {"refs": [{"kind": "MeshService", "name": "redis", "namespace": "kuma-demo", "port": 6379}]}
                }
            },
            "envoy": {"xdsTransportProtocolVariant": "DELTA_GRPC"}
        });
        let parsed: Dataplane = serde_json::from_value(spec.clone()).unwrap();
        assert!(parsed.uses_transparent_proxy());
        let tp = parsed.transparent_proxying().unwrap();
        assert_eq!(tp.redirect_port_outbound, Some(15001));
        assert_eq!(parsed.inbounds()[0].service(), Some("backend"));
        assert_eq!(parsed.inbounds()[0].section_name(), "http");
        assert_eq!(parsed.inbounds()[0].protocol(), "http");
        assert_eq!(parsed.inbounds()[0].service_probe.as_ref().unwrap().unhealthy_threshold, Some(3));
        assert!(!parsed.is_gateway());
        assert_eq!(dp(spec), vec![]);
        let out = serde_json::to_value(&parsed).unwrap();
        assert!(out["networking"]["transparentProxying"]["redirectPortOutbound"].is_number());
    }

    #[test]
    fn address_rules() {
        let d = |addr: serde_json::Value| {
            dp(
                serde_json::json!({"networking": {"address": addr, "inbound": [{"port": 8080, "tags": {"kuma.io/service": "backend"}}]}}),
            )
        };
        assert_eq!(d("0.0.0.0".into()), pairs(&[("networking.address", "must not be 0.0.0.0 or ::")]));
        assert_eq!(d("::".into()), pairs(&[("networking.address", "must not be 0.0.0.0 or ::")]));
        assert_eq!(
            d("..>_<..".into()),
            pairs(&[("networking.address", "address has to be valid IP address or domain name")])
        );
        assert_eq!(dp(serde_json::json!({})), pairs(&[("networking", "must be defined")]));
        assert_eq!(
            dp(serde_json::json!({"networking": {}})),
            pairs(&[
                ("networking", "has to contain at least one inbound interface or gateway"),
                ("networking.address", "address can't be empty"),
            ])
        );
    }

    #[test]
    fn gateway_rules() {
        let got = dp(serde_json::json!({"networking": {"address": "192.168.0.1",
            "inbound": [{"port": 8080, "servicePort": 7777, "tags": {"kuma.io/service": "backend"}}],
            "gateway": {"tags": {"kuma.io/service": "kong"}},
            "outbound": [{"port": 3333, "tags": {"kuma.io/service": "redis"}}]}}));
        assert_eq!(got, pairs(&[("networking.inbound", "inbound cannot be defined for delegated gateways")]));
        let got = dp(serde_json::json!({"networking": {"address": "192.168.0.1",
            "gateway": {"type": "BUILTIN", "tags": {"kuma.io/service": "kong"}},
            "outbound": [{"port": 3333, "tags": {"kuma.io/service": "kong"}}]}}));
        assert_eq!(got, pairs(&[("networking.outbound", "outbound cannot be defined for builtin gateways")]));
        let got = dp(serde_json::json!({"networking": {"address": "192.168.0.1",
            "gateway": {"type": "BUILTIN", "tags": {"foo": "bar"}}}}));
        assert_eq!(got, pairs(&[("networking.gateway.tags", "mandatory tag \"kuma.io/service\" is missing")]));
        let got = dp(serde_json::json!({"networking": {"address": "192.168.0.1",
            "gateway": {"tags": {"kuma.io/service": "backend", "kuma.io/protocol": "http"}}}}));
        assert_eq!(
            got,
            pairs(&[(
                "networking.gateway.tags[\"kuma.io/protocol\"]",
                "other values than tcp are not allowed, provided value \"http\""
            )])
        );
    }

    #[test]
    fn inbound_port_and_service_port() {
        let got = dp(serde_json::json!({"networking": {"address": "192.168.0.1", "inbound": [
            {"tags": {"kuma.io/service": "backend"}},
            {"port": 65536, "tags": {"kuma.io/service": "sub-backend"}},
            {"port": 1234, "servicePort": 65536, "tags": {"kuma.io/service": "backend"}}]}}));
        assert_eq!(
            got,
            pairs(&[
                ("networking.inbound[0].port", PORT_RANGE),
                ("networking.inbound[1].port", PORT_RANGE),
                ("networking.inbound[2].servicePort", PORT_RANGE),
            ])
        );
    }

    #[test]
    fn inbound_tags_and_protocol() {
        let got = dp(serde_json::json!({"networking": {"address": "192.168.0.1", "inbound": [
            {"port": 1234, "tags": {"version": "v1"}},
            {"port": 1234, "tags": {"kuma.io/service": "backend", "kuma.io/protocol": null}},
            {"port": 1234, "tags": {"kuma.io/service": "backend", "kuma.io/protocol": "not-yet-supported-protocol"}},
            {"port": 1234, "tags": {"kuma.io/service": "backend", "inv@lidT/gN%me": "value", "invalidTagValue": "inv@lid+t@g"}}]}}));
        assert_eq!(
            got,
            pairs(&[
                ("networking.inbound[0].tags[\"kuma.io/service\"]", "tag has to exist"),
                (
                    "networking.inbound[1].tags[\"kuma.io/protocol\"]",
                    "tag \"kuma.io/protocol\" has an invalid value \"\". Allowed values: grpc, http, http2, kafka, tcp"
                ),
                ("networking.inbound[1].tags[\"kuma.io/protocol\"]", "tag value must be non-empty"),
                (
                    "networking.inbound[2].tags[\"kuma.io/protocol\"]",
                    "tag \"kuma.io/protocol\" has an invalid value \"not-yet-supported-protocol\". Allowed values: grpc, http, http2, kafka, tcp"
                ),
                (
                    "networking.inbound[3].tags[\"inv@lidT/gN%me\"]",
                    "tag name must consist of alphanumeric characters, dots, dashes, slashes and underscores"
                ),
                (
                    "networking.inbound[3].tags[\"invalidTagValue\"]",
                    "tag value must consist of alphanumeric characters, dots, dashes and underscores"
                ),
            ])
        );
    }

    #[test]
    fn inbound_addresses() {
        let got = dp(serde_json::json!({"networking": {"address": "192.168.0.1", "inbound": [
            {"port": 1234, "address": "invalid-address", "tags": {"kuma.io/service": "backend"}},
            {"port": 10001, "serviceAddress": "INVALID", "tags": {"kuma.io/service": "backend"}},
            {"port": 10001, "serviceAddress": "192.168.0.1", "tags": {"kuma.io/service": "backend"}},
            {"port": 10001, "address": "192.168.0.2", "serviceAddress": "192.168.0.2", "tags": {"kuma.io/service": "backend"}},
            {"port": 10001, "address": "192.168.0.2", "serviceAddress": "192.168.0.2", "servicePort": 10002, "tags": {"kuma.io/service": "backend"}}]}}));
        let overlap = "serviceAddress and servicePort has to differ from address and port";
        assert_eq!(
            got,
            pairs(&[
                ("networking.inbound[0].address", "address has to be valid IP address"),
                ("networking.inbound[1].serviceAddress", "serviceAddress has to be valid IP address"),
                ("networking.inbound[2].serviceAddress", overlap),
                ("networking.inbound[3].serviceAddress", overlap),
            ])
        );
    }

    #[test]
    fn outbound_rules() {
        let got = dp(
            serde_json::json!({"networking": {"address": "192.168.0.1", "inbound": base_inbound(), "outbound": [
            {"port": 3333},
            {"port": 3333, "tags": {"version": "v1"}},
            {"tags": {"kuma.io/service": "redis"}},
            {"port": 3333, "address": "invalid", "tags": {"kuma.io/service": "elastic"}},
            {"port": 3333, "backendRef": {}},
            {"port": 3333, "tags": {"kuma.io/service": "xyz"}, "backendRef": {"kind": "MeshService", "name": "xyz", "port": 8080}},
            {"port": 3334, "tags": {"service": "xyz"}, "backendRef": {"kind": "MeshService", "name": "xyz"}}]}}),
        );
        let kinds = "invalid value. Available values are: MeshExternalService,MeshMultiZoneService,MeshService";
        assert_eq!(
            got,
            pairs(&[
                ("networking.outbound[0].tags", "mandatory tag \"kuma.io/service\" is missing"),
                ("networking.outbound[1].tags", "mandatory tag \"kuma.io/service\" is missing"),
                ("networking.outbound[2].port", PORT_RANGE),
                ("networking.outbound[3].address", "address has to be valid IP address"),
                ("networking.outbound[4].backendRef.kind", kinds),
                ("networking.outbound[4].backendRef", "either 'name' or 'labels' should be specified"),
                ("networking.outbound[4].backendRef.port", PORT_RANGE),
                ("networking.outbound[5].backendRef", "both backendRef and tags/service cannot be defined"),
                ("networking.outbound[6].backendRef.port", PORT_RANGE),
                ("networking.outbound[6].backendRef", "both backendRef and tags/service cannot be defined"),
            ])
        );
    }

    #[test]
    fn reachable_backends() {
        let got = dp(serde_json::json!({"networking": {"address": "192.168.0.1", "inbound": base_inbound(),
            "transparentProxying": {"reachableBackends": {"refs": [
                {"kind": "Something", "name": "first", "labels": {"kuma.io/test": "test"}},
                {"kind": "MeshService", "name": "second", "namespace": "not-valid", "labels": {"kuma.io/test": "test"}},
                {"kind": "MeshService", "name": "first$-.kuma"},
                {"kind": "MeshService"},
                {"kind": "MeshService", "namespace": "xyz"}]}}}}));
        let p = "networking.transparentProxing.reachableBackends.refs";
        assert_eq!(
            got,
            vec![
                (format!("{p}[0].kind"), "invalid value. Available values are: MeshExternalService,MeshMultiZoneService,MeshService".to_string()),
                (format!("{p}[0].labels"), "labels cannot be defined when name is specified".to_string()),
                (format!("{p}[1].labels"), "labels cannot be defined when name is specified".to_string()),
                (format!("{p}[2].name"), "invalid characters. A lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character".to_string()),
                (format!("{p}[3].name"), "name or labels are required".to_string()),
                (format!("{p}[4].name"), "name is required, when namespace is defined".to_string()),
            ]
        );
    }

    #[test]
    fn admin_port_probes_and_metrics() {
        let got = dp(serde_json::json!({"networking": {"address": "192.168.0.1", "admin": {"port": 8080},
            "inbound": [{"port": 8080, "servicePort": 7777, "address": "127.0.0.1", "tags": {"kuma.io/service": "backend"}}]}}));
        assert_eq!(got, pairs(&[("networking.admin.port", "must differ from inbound")]));
        let got = dp(serde_json::json!({"networking": {"address": "192.168.0.1", "admin": {"port": 3333},
            "inbound": [{"port": 8080, "servicePort": 7777, "address": "127.0.0.1", "tags": {"kuma.io/service": "backend"}}],
            "outbound": [{"port": 3333, "address": "127.0.0.1", "tags": {"kuma.io/service": "redis"}}]}}));
        assert_eq!(got, pairs(&[("networking.admin.port", "must differ from outbound")]));
        let got = dp(serde_json::json!({"networking": {"address": "192.168.0.1", "inbound": [{"port": 8080,
                "serviceProbe": {"timeout": "1s", "interval": "0", "healthyThreshold": 5, "unhealthyThreshold": 0, "tcp": {}},
                "tags": {"kuma.io/service": "backend"}}]},
            "probes": {"port": 0, "endpoints": [
                {"inboundPort": 8088, "inboundPath": "/healthz", "path": "/8080/healthz"},
                {"inboundPort": 99999999, "inboundPath": "healthz", "path": "8080/healthz"},
                {"inboundPort": 1000, "inboundPath": null, "path": null}]},
            "metrics": {"type": "prometheus", "conf": {"aggregate": [
                {"name": "app", "port": 123, "path": "/stats"}, {"name": "app", "port": 999, "path": "/metrics"}]}}}));
        assert_eq!(
            got,
            pairs(&[
                ("networking.inbound[0].serviceProbe.interval", "must have a positive value"),
                ("networking.inbound[0].serviceProbe.unhealthyThreshold", "must have a positive value"),
                ("probes.port", PORT_RANGE),
                ("probes.endpoints[1].inboundPort", PORT_RANGE),
                ("probes.endpoints[1].inboundPath", "should be a valid URL Path"),
                ("probes.endpoints[1].path", "should be a valid URL Path"),
                ("probes.endpoints[2].inboundPath", "should be a valid URL Path"),
                ("probes.endpoints[2].path", "should be a valid URL Path"),
                ("metrics.conf.aggregate[1].name", "duplicate entry: app, values have to be unique"),
            ])
        );
        let got = dp(serde_json::json!({"networking": {"address": "192.168.0.1", "inbound": base_inbound()},
            "metrics": {"type": "custom-backend"}}));
        assert_eq!(got, pairs(&[("metrics.type", "unknown backend type. Available backends: \"prometheus\"")]));
    }

    #[test]
    fn listeners_rules() {
        let got = dp(serde_json::json!({"networking": {"address": "10.0.0.1",
            "inbound": [{"port": 10001, "name": "main", "tags": {"kuma.io/service": "backend"}}],
            "listeners": [
                {"type": "ZoneIngress", "port": 10001, "name": "zi"},
                {"type": "ZoneEgress", "port": 10002, "name": "main"},
                {"type": "Other", "port": 0}]}}));
        assert_eq!(
            got,
            pairs(&[
                ("networking.listeners[0].port", "address and port collide with networking.inbound[0]"),
                ("networking.listeners[1].name", "\"main\" name is already used by another inbound or listener"),
                ("networking.listeners[2].type", "\"type\" must be one of [\"ZoneIngress\", \"ZoneEgress\"]"),
                ("networking.listeners[2].port", PORT_RANGE),
            ])
        );
    }

    #[test]
    fn schema_publishes_proto_names() {
        let schema = schemars::SchemaGenerator::default().into_root_schema_for::<Dataplane>();
        let text = serde_json::to_string(&schema).unwrap();
        for name in ["transparent_proxying", "redirect_port_outbound", "unhealthy_threshold", "inbound_path"] {
            assert!(text.contains(&format!("\"{name}\"")), "{name} missing from schema");
        }
    }

    #[test]
    fn helpers() {
        let d: Dataplane = serde_json::from_value(serde_json::json!({"networking": {"address": "1.1.1.1",
            "gateway": {"type": "BUILTIN", "tags": {"kuma.io/service": "gw"}}}}))
        .unwrap();
        assert!(d.is_gateway() && d.is_builtin_gateway() && !d.is_delegated_gateway());
        assert_eq!(d.identifying_service(), Some("gw"));
        let i: Inbound =
            serde_json::from_value(serde_json::json!({"port": 80, "tags": {"kuma.io/protocol": "http2"}})).unwrap();
        assert_eq!(i.section_name(), "80");
        assert_eq!(i.protocol(), "http2");
    }
}
