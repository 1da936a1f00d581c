//! MeshTrace (reference §5.11): the proxy-wide conf becomes the `tracing` of
//! every inbound and outbound HTTP connection manager (provider, sampling,
//! custom tags) and one collector cluster per proxy, named as Kuma names them
//! with legacy naming (`meshtrace:zipkin`, `meshtrace:datadog`,
//! `meshtrace:opentelemetry`). Like Kuma, outbounds to MeshExternalServices
//! are not traced, and a conf with no backend configures nothing.

use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster};
use envoy_types::pb::envoy::config::core::v3::{
    GrpcService, Http2ProtocolOptions, TransportSocket, grpc_service, transport_socket,
};
use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints};
use envoy_types::pb::envoy::config::trace::v3::{
    DatadogConfig, OpenTelemetryConfig, ZipkinConfig, tracing, zipkin_config,
};
use envoy_types::pb::envoy::extensions::filters::network::http_connection_manager::v3::http_connection_manager::Tracing;
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::UpstreamTlsContext;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{HttpProtocolOptions, http_protocol_options};
use envoy_types::pb::envoy::r#type::tracing::v3::{CustomTag, custom_tag};
use envoy_types::pb::envoy::r#type::v3::Percent;
use envoy_types::pb::google::protobuf::BoolValue;

use super::super::defaults::CONNECT_TIMEOUT_SECS;
use super::super::parts::ListenerParts;
use super::super::proto::{any, sanitize, secs, socket};
use super::{At, Configurer, Place};
use crate::model::Kind;
use crate::model::choice::Choice;
use crate::model::common::{IntOrString, go_url_parse_request_uri};
use crate::model::policy::mesh_trace::{Backend, BackendType, Conf, Tag, ZipkinApiVersion};
use crate::plan::ProxyPlan;
use crate::rules::effective::{Condition, Effective};
use crate::world::ServiceKind;

/// Kuma's service name when a Dataplane has no inbound (`ServiceUnknown`).
const SERVICE_UNKNOWN: &str = "unknown";
/// The OpenTelemetry collector's port when the endpoint names none (OTLP/gRPC).
const OTEL_GRPC_PORT: u32 = 4317;
const HTTP_OPTIONS_KEY: &str = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/// MeshTrace's configurer.
pub struct MeshTrace;

impl Configurer for MeshTrace {
    fn kind(&self) -> Kind {
        Kind::MeshTrace
    }

    fn listener(&self, place: &Place, confs: &[&Effective], listener: &mut ListenerParts) {
        let Some((conf, backend)) = conf_of(confs) else { return };
        let (direction, destination) = match place.at {
            At::Inbound(_) => (Direction::Inbound, String::new()),
            // Kuma traces outbounds to mesh services only (`NonMeshExternalService`).
            At::Outbound(o) if o.destination.kind == ServiceKind::MeshExternalService => return,
            At::Outbound(o) if o.destination.kind == ServiceKind::Legacy => {
                (Direction::Outbound, o.destination.name.clone())
            }
            At::Outbound(o) => (Direction::Outbound, o.cluster.clone()),
            // Clusters have no listener.
            At::Cluster(_) => return,
        };
        let Some(provider) = provider(&backend, &service_name(place.plan), direction, &destination) else { return };
        let tracing = Tracing {
            overall_sampling: percent(conf.sampling.as_ref().and_then(|s| s.overall.as_ref())),
            client_sampling: percent(conf.sampling.as_ref().and_then(|s| s.client.as_ref())),
            random_sampling: percent(conf.sampling.as_ref().and_then(|s| s.random.as_ref())),
            custom_tags: conf.tags.iter().flatten().map(custom_tag).collect(),
            provider: Some(provider),
            // Kuma spawns upstream spans on builtin gateways only.
            spawn_upstream_span: Some(BoolValue { value: false }),
            ..Default::default()
        };
        for m in listener.hcms() {
            m.tracing = Some(tracing.clone());
        }
    }

    fn bootstrap(&self, _plan: &ProxyPlan, confs: &[&Effective], bootstrap: &mut Bootstrap) {
        let Some((_, backend)) = conf_of(confs) else { return };
        let Some(cluster) = collector_cluster(&backend) else { return };
        if let Some(resources) = bootstrap.static_resources.as_mut()
            && !resources.clusters.iter().any(|c| c.name == cluster.name)
        {
            resources.clusters.push(cluster);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Direction {
    Inbound,
    Outbound,
}

/// The proxy-wide conf and its backend, when tracing is on.
fn conf_of(confs: &[&Effective]) -> Option<(Conf, Backend)> {
    let e = confs.iter().find(|e| e.condition == Condition::All)?;
    let conf: Conf = serde_json::from_value(e.conf.clone()).ok()?;
    let backend = conf.backends.as_ref()?.first()?.clone();
    Some((conf, backend))
}

/// Kuma's `GetIdentifyingService`: the first `kuma.io/service` of the
/// Dataplane's tag set (sorted), `unknown` without inbounds.
fn service_name(plan: &ProxyPlan) -> String {
    plan.inbounds.iter().map(|i| i.service.as_str()).min().unwrap_or(SERVICE_UNKNOWN).to_string()
}

fn percent(value: Option<&IntOrString>) -> Option<Percent> {
    value.and_then(IntOrString::as_f64).map(|value| Percent { value })
}

fn custom_tag(tag: &Tag) -> CustomTag {
    let r#type = match &tag.header {
        Some(h) => custom_tag::Type::RequestHeader(custom_tag::Header {
            name: h.name.clone(),
            default_value: h.default.clone().unwrap_or_default(),
        }),
        None => custom_tag::Type::Literal(custom_tag::Literal { value: tag.literal.clone().unwrap_or_default() }),
    };
    CustomTag { tag: tag.name.clone(), r#type: Some(r#type) }
}

/// Kuma's collector cluster name for a backend type.
fn cluster_name(backend: &Backend) -> Option<&'static str> {
    match backend.type_.as_ref().and_then(Choice::known)? {
        BackendType::Zipkin => Some("meshtrace:zipkin"),
        BackendType::Datadog => Some("meshtrace:datadog"),
        BackendType::OpenTelemetry => Some("meshtrace:opentelemetry"),
    }
}

/// The HCM tracing provider of a backend.
fn provider(backend: &Backend, service: &str, direction: Direction, destination: &str) -> Option<tracing::Http> {
    let cluster = cluster_name(backend)?.to_string();
    let (name, config) = match backend.type_.as_ref().and_then(Choice::known)? {
        BackendType::Zipkin => {
            let z = backend.zipkin.as_ref()?;
            let url = go_url_parse_request_uri(&z.url)?;
            let version = match z.api_version.known() {
                Some(ZipkinApiVersion::HttpProto) => zipkin_config::CollectorEndpointVersion::HttpProto,
                _ => zipkin_config::CollectorEndpointVersion::HttpJson,
            };
            let config = ZipkinConfig {
                collector_cluster: cluster,
                collector_endpoint: collector_endpoint(&url.path),
                trace_id_128bit: z.trace_id_128bit,
                shared_span_context: Some(BoolValue { value: z.shared_span_context }),
                collector_endpoint_version: version as i32,
                collector_hostname: url.host.clone(),
                ..Default::default()
            };
            ("envoy.tracers.zipkin", any(config))
        }
        BackendType::Datadog => {
            let d = backend.datadog.as_ref()?;
            let service_name = match (d.split_service, direction) {
                (false, _) => service.to_string(),
                (true, Direction::Inbound) => format!("{service}_INBOUND"),
                (true, Direction::Outbound) => format!("{service}_OUTBOUND_{destination}"),
            };
            (
                "envoy.tracers.datadog",
                any(DatadogConfig { collector_cluster: cluster, service_name, ..Default::default() }),
            )
        }
        BackendType::OpenTelemetry => {
            // A `backendRef` (MeshOpenTelemetryBackend) is not resolved: no endpoint, no tracing.
            backend.open_telemetry.as_ref().filter(|o| !o.endpoint.is_empty())?;
            let config = OpenTelemetryConfig {
                service_name: service.to_string(),
                grpc_service: Some(GrpcService {
                    target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(grpc_service::EnvoyGrpc {
                        cluster_name: cluster,
                        ..Default::default()
                    })),
                    ..Default::default()
                }),
                ..Default::default()
            };
            ("envoy.tracers.opentelemetry", any(config))
        }
    };
    Some(tracing::Http { name: name.to_string(), config_type: Some(tracing::http::ConfigType::TypedConfig(config)) })
}

/// Zipkin's span endpoint: the URL's path, or Zipkin's own `/api/v2/spans` when
/// the URL has none (`http://zipkin:9411`, `.../`). Kuma copies an empty path,
/// which Envoy refuses (`collector_endpoint` must not be empty).
fn collector_endpoint(path: &str) -> String {
    if path.is_empty() || path == "/" { "/api/v2/spans".to_string() } else { path.to_string() }
}

/// The collector cluster of a backend: its URL's (or endpoint's) host and port.
fn collector_cluster(backend: &Backend) -> Option<Cluster> {
    let name = cluster_name(backend)?;
    match backend.type_.as_ref().and_then(Choice::known)? {
        BackendType::Zipkin => {
            let url = go_url_parse_request_uri(&backend.zipkin.as_ref()?.url)?;
            let tls = url.scheme == "https";
            let (host, port) = url_host_port(&url, if tls { 443 } else { 80 })?;
            let mut c = provided_endpoint_cluster(name, &host, port);
            if tls {
                c.transport_socket = Some(upstream_tls(&host));
            }
            Some(c)
        }
        BackendType::Datadog => {
            let url = go_url_parse_request_uri(&backend.datadog.as_ref()?.url)?;
            let (host, port) = url_host_port(&url, 80)?;
            Some(provided_endpoint_cluster(name, &host, port))
        }
        BackendType::OpenTelemetry => {
            let o = backend.open_telemetry.as_ref().filter(|o| !o.endpoint.is_empty())?;
            let (host, port) = endpoint_host_port(&o.endpoint, Some(OTEL_GRPC_PORT))?;
            let mut c = provided_endpoint_cluster(name, &host, port);
            c.typed_extension_protocol_options.insert(HTTP_OPTIONS_KEY.to_string(), any(http2_options()));
            Some(c)
        }
    }
}

/// The host (brackets removed) and port of a URL; `default_port` when it has none.
fn url_host_port(url: &crate::model::common::GoUrl, default_port: u32) -> Option<(String, u32)> {
    let port_text = url.port();
    let host = if port_text.is_empty() { url.host.as_str() } else { &url.host[..url.host.len() - port_text.len() - 1] };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = if port_text.is_empty() { default_port } else { port_text.parse().ok()? };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// `host[:port]` or `[v6]:port` (brackets removed); `default_port` when there is
/// no port (a bare IPv6 address is a host alone). The one parser of collector
/// endpoints (OpenTelemetry, MeshAccessLog's Tcp); Kuma splits at the first colon,
/// which breaks IPv6.
pub(super) fn endpoint_host_port(endpoint: &str, default_port: Option<u32>) -> Option<(String, u32)> {
    let (host, port) = if let Some(rest) = endpoint.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else if endpoint.parse::<std::net::Ipv6Addr>().is_ok() {
        (endpoint, None)
    } else {
        match endpoint.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (endpoint, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok().filter(|p| *p > 0 && *p <= 65535)?,
        None => default_port?,
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// Kuma's `ProvidedEndpointCluster` with its default connect timeout: a
/// STATIC cluster for an IP, STRICT_DNS (IPv4 lookups) for a hostname.
pub(super) fn provided_endpoint_cluster(name: &str, host: &str, port: u32) -> Cluster {
    let is_ip = host.parse::<std::net::IpAddr>().is_ok();
    let kind = if is_ip { cluster::DiscoveryType::Static } else { cluster::DiscoveryType::StrictDns };
    Cluster {
        name: name.to_string(),
        alt_stat_name: sanitize(name),
        cluster_discovery_type: Some(cluster::ClusterDiscoveryType::Type(kind as i32)),
        connect_timeout: Some(secs(CONNECT_TIMEOUT_SECS)),
        dns_lookup_family: if is_ip { 0 } else { cluster::DnsLookupFamily::V4Only as i32 },
        load_assignment: Some(ClusterLoadAssignment {
            cluster_name: name.to_string(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint {
                    host_identifier: Some(
                        envoy_types::pb::envoy::config::endpoint::v3::lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                            address: Some(socket(host, port)),
                            ..Default::default()
                        }),
                    ),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Explicit HTTP/2 to the upstream (gRPC collectors).
pub(super) fn http2_options() -> HttpProtocolOptions {
    HttpProtocolOptions {
        upstream_protocol_options: Some(http_protocol_options::UpstreamProtocolOptions::ExplicitHttpConfig(
            http_protocol_options::ExplicitHttpConfig {
                protocol_config: Some(
                    http_protocol_options::explicit_http_config::ProtocolConfig::Http2ProtocolOptions(
                        Http2ProtocolOptions::default(),
                    ),
                ),
            },
        )),
        ..Default::default()
    }
}

/// Kuma's `ClientSideTLS` for an `https` collector: SNI = the host, no CA check.
fn upstream_tls(host: &str) -> TransportSocket {
    let tls = UpstreamTlsContext { sni: host.to_string(), allow_renegotiation: true, ..Default::default() };
    TransportSocket {
        name: "envoy.transport_sockets.tls".to_string(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(any(tls))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn effective(conf: serde_json::Value) -> Effective {
        Effective {
            kind: "MeshTrace",
            when: None,
            condition: Condition::All,
            conf,
            origins: Vec::new(),
            fields: Default::default(),
        }
    }

    #[test]
    fn zipkin_cluster_from_url() {
        let e = effective(json!({"backends": [{"type": "Zipkin", "zipkin": {
            "url": "http://jaeger.obs:9411/api/v2/spans", "apiVersion": "httpJson", "sharedSpanContext": true}}]}));
        let (_, backend) = conf_of(&[&e]).unwrap();
        let c = collector_cluster(&backend).unwrap();
        assert_eq!(c.name, "meshtrace:zipkin");
        assert_eq!(c.dns_lookup_family, cluster::DnsLookupFamily::V4Only as i32);
        let p = provider(&backend, "web", Direction::Inbound, "").unwrap();
        assert_eq!(p.name, "envoy.tracers.zipkin");
    }

    #[test]
    fn zipkin_url_without_path_uses_zipkins_default() {
        assert_eq!(collector_endpoint(""), "/api/v2/spans");
        assert_eq!(collector_endpoint("/"), "/api/v2/spans");
        assert_eq!(collector_endpoint("/custom/spans"), "/custom/spans");
    }

    #[test]
    fn no_backend_no_tracing() {
        assert!(conf_of(&[&effective(json!({"backends": []}))]).is_none());
    }

    #[test]
    fn otel_endpoint_split() {
        let d = Some(4317);
        assert_eq!(endpoint_host_port("otel:4318", d), Some(("otel".to_string(), 4318)));
        assert_eq!(endpoint_host_port("otel", d), Some(("otel".to_string(), 4317)));
        assert_eq!(endpoint_host_port(":1", d), None);
        assert_eq!(endpoint_host_port("[fd00::1]:4318", d), Some(("fd00::1".to_string(), 4318)));
        assert_eq!(endpoint_host_port("[fd00::1]", d), Some(("fd00::1".to_string(), 4317)));
        assert_eq!(endpoint_host_port("fd00::1", d), Some(("fd00::1".to_string(), 4317)));
        assert_eq!(endpoint_host_port("[fd00::1]x", d), None);
        assert_eq!(endpoint_host_port("otel", None), None);
        assert_eq!(endpoint_host_port("otel:abc", d), None);
    }

    #[test]
    fn datadog_split_service_names() {
        let e = effective(
            json!({"backends": [{"type": "Datadog", "datadog": {"url": "http://dd:8126", "splitService": true}}]}),
        );
        let (_, b) = conf_of(&[&e]).unwrap();
        let name = |d, dest| {
            let p = provider(&b, "web", d, dest).unwrap();
            let Some(tracing::http::ConfigType::TypedConfig(a)) = p.config_type else { panic!() };
            <DatadogConfig as prost::Message>::decode(a.value.as_slice()).unwrap().service_name
        };
        assert_eq!(name(Direction::Inbound, ""), "web_INBOUND");
        assert_eq!(name(Direction::Outbound, "backend"), "web_OUTBOUND_backend");
    }
}
