//! The destinations a proxy can reach: MeshServices (written or generated),
//! MeshExternalServices, MeshMultiZoneServices and legacy `kuma.io/service`
//! services, each with its ports, endpoints, VIPs and hostnames.

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use crate::model::Resource;
use crate::model::common::StringMap;

/// What kind of resource a service is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ServiceKind {
    MeshService,
    MeshExternalService,
    MeshMultiZoneService,
    /// A `kuma.io/service` tag value reached through the `.mesh` DNS zone.
    Legacy,
}

impl ServiceKind {
    /// Kuma's short name (`msvc`, `extsvc`, `mzsvc`), used in cluster names.
    pub fn short(self) -> &'static str {
        match self {
            ServiceKind::MeshService => "msvc",
            ServiceKind::MeshExternalService => "extsvc",
            ServiceKind::MeshMultiZoneService => "mzsvc",
            ServiceKind::Legacy => "svc",
        }
    }

    /// The kind's name as written in `backendRef.kind`.
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::MeshService => "MeshService",
            ServiceKind::MeshExternalService => "MeshExternalService",
            ServiceKind::MeshMultiZoneService => "MeshMultiZoneService",
            ServiceKind::Legacy => "kuma.io/service",
        }
    }
}

/// An application protocol (`appProtocol`, `kuma.io/protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Http,
    Http2,
    Grpc,
    Kafka,
}

impl Protocol {
    /// Kuma's parsing: unknown values are TCP.
    pub fn parse(s: &str) -> Protocol {
        match s {
            "http" => Protocol::Http,
            "http2" => Protocol::Http2,
            "grpc" => Protocol::Grpc,
            "kafka" => Protocol::Kafka,
            _ => Protocol::Tcp,
        }
    }

    /// The protocols a protocol can also be spoken as, most specific first
    /// (Kuma's `protocolStacks`).
    fn stack(self) -> &'static [Protocol] {
        match self {
            Protocol::Grpc => &[Protocol::Grpc, Protocol::Http2, Protocol::Tcp],
            Protocol::Http2 => &[Protocol::Http2, Protocol::Tcp],
            Protocol::Http => &[Protocol::Http, Protocol::Tcp],
            Protocol::Kafka => &[Protocol::Kafka, Protocol::Tcp],
            Protocol::Tcp => &[Protocol::Tcp],
        }
    }

    /// Kuma's `GetCommonProtocol`: the most specific protocol both can speak
    /// (grpc and http2 give http2; http and http2 give tcp).
    pub fn common(self, other: Protocol) -> Protocol {
        self.stack().iter().copied().find(|p| other.stack().contains(p)).unwrap_or(Protocol::Tcp)
    }

    /// HTTP, HTTP/2 and gRPC get an HTTP connection manager; the rest a TCP proxy.
    pub fn is_http(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Http2 | Protocol::Grpc)
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Http => "http",
            Protocol::Http2 => "http2",
            Protocol::Grpc => "grpc",
            Protocol::Kafka => "kafka",
        })
    }
}

/// One place a service port's traffic can go.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Endpoint {
    /// An IP address or (for external services) a DNS name.
    pub address: String,
    pub port: u32,
    /// The zone of the endpoint, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Envoy priority (0 = preferred).
    #[serde(skip_serializing_if = "is_zero")]
    pub priority: u32,
    pub weight: u32,
    /// The inbound's tags (Kuma puts them in `envoy.lb` metadata).
    #[serde(skip_serializing_if = "StringMap::is_empty")]
    pub tags: StringMap,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Endpoint {
    pub fn is_ip(&self) -> bool {
        self.address.parse::<IpAddr>().is_ok()
    }
}

/// A port of a service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServicePort {
    pub port: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub protocol: Protocol,
    pub endpoints: Vec<Endpoint>,
}

impl ServicePort {
    /// Kuma's section name of a port: its name, or the number as a string.
    pub fn section_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.port.to_string())
    }
}

/// A name a service answers to in DNS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Hostname {
    pub name: String,
    /// The only zone whose proxies resolve it: a zone control plane names its
    /// own services with its `local-*` generators (`redis.svc.mesh.local` is
    /// zone-east's redis in zone-east, zone-west's in zone-west). `None`: every
    /// zone (single-zone input; names every zone's view agrees on).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
}

impl Hostname {
    /// A name every zone resolves.
    pub fn everywhere(name: impl Into<String>) -> Hostname {
        Hostname { name: name.into(), zone: None }
    }

    /// Whether a proxy in `zone` resolves it (a proxy without a zone in a
    /// multi-zone input only the names every zone agrees on).
    pub fn visible_in(&self, zone: Option<&str>) -> bool {
        self.zone.is_none() || self.zone.as_deref() == zone
    }
}

/// A destination service of the resolved mesh.
#[derive(Debug, Clone, Serialize)]
pub struct Service<'a> {
    pub kind: ServiceKind,
    pub mesh: String,
    /// The resource name as written (the tag value for legacy services).
    pub name: String,
    /// `kuma.io/display-name`, else the name.
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The labels the service carries in the resolved mesh (see [`super::effective_labels`]).
    pub labels: StringMap,
    /// Generated from `kuma.io/service` tags (as a Universal zone does).
    pub generated: bool,
    pub ports: Vec<ServicePort>,
    pub vips: Vec<IpAddr>,
    pub hostnames: Vec<Hostname>,
    /// SPIFFE IDs an upstream of this service may present (empty: any in the mesh).
    pub identities: Vec<String>,
    #[serde(skip)]
    pub resource: Option<&'a Resource>,
}

impl Service<'_> {
    /// The sort key that makes every order in the world deterministic: Kuma's
    /// resource identity (mesh, kind, zone, namespace, name).
    pub fn key(&self) -> (&str, ServiceKind, Option<&str>, Option<&str>, &str) {
        (&self.mesh, self.kind, self.zone.as_deref(), self.namespace.as_deref(), &self.name)
    }

    pub fn port(&self, port: u32) -> Option<&ServicePort> {
        self.ports.iter().find(|p| p.port == port)
    }

    /// `<name>` or `<name>.<namespace>`, as a human reads it.
    pub fn qualified_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}.{ns}", self.name),
            None => self.name.clone(),
        }
    }
}
