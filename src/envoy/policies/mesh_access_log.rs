//! MeshAccessLog (reference §5.10): every backend of an inbound's (`from`,
//! `rules`) or outbound's (`to`) conf becomes one `access_log` entry on the
//! place's HTTP connection managers and TCP proxies, as Kuma's
//! `meshaccesslog/plugin/xds/configurer.go` builds it, with Kuma's
//! placeholders (`%KUMA_MESH%`, `%KUMA_SOURCE_SERVICE%`, ...) substituted at
//! compile time:
//! - `File`: `envoy.access_loggers.file` (plain text, Kuma's default format
//!   when none is given, always ending in a newline; or JSON);
//! - `OpenTelemetry`: `envoy.access_loggers.open_telemetry` over gRPC to a
//!   cluster `meshaccesslog:opentelemetry:<n>` added to the bootstrap;
//! - `Tcp`: Kuma hands the line to kuma-dp, which a static Envoy does not
//!   have; meshc sends it with Envoy's own TCP logger, `envoy.access_loggers.fluentd`
//!   (Fluentd Forward protocol, read by Fluentd, Fluent Bit, Vector, Logstash),
//!   to a cluster `meshaccesslog:tcp:<n>`: the record is `{message: <line>}`
//!   for a plain format, the JSON fields for a JSON one.
//!
//! On an HTTP outbound to a real resource (MeshService, ...) the logs carry
//! Kuma's metadata filter that leaves requests of a MeshHTTPRoute with its
//! own MeshAccessLog to that route's logs, which [`route_logs`] adds. Confs
//! conditioned on a client (`rules[].matches`) are left out.

use std::collections::BTreeMap;

use envoy_types::pb::envoy::config::accesslog::v3::{
    AccessLog, AccessLogFilter, MetadataFilter, access_log, access_log_filter,
};
use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
use envoy_types::pb::envoy::config::cluster::v3::{Cluster, cluster::ClusterDiscoveryType, cluster::DiscoveryType};
use envoy_types::pb::envoy::config::core::v3::{
    ApiVersion, DataSource, GrpcService, Http2ProtocolOptions, SubstitutionFormatString, data_source, grpc_service,
    substitution_format_string,
};
use envoy_types::pb::envoy::config::endpoint::v3::lb_endpoint;
use envoy_types::pb::envoy::config::endpoint::v3::{ClusterLoadAssignment, Endpoint, LbEndpoint, LocalityLbEndpoints};
use envoy_types::pb::envoy::extensions::access_loggers::file::v3::{FileAccessLog, file_access_log};
use envoy_types::pb::envoy::extensions::access_loggers::fluentd::v3::FluentdAccessLogConfig;
use envoy_types::pb::envoy::extensions::access_loggers::grpc::v3::CommonGrpcAccessLogConfig;
use envoy_types::pb::envoy::extensions::access_loggers::open_telemetry::v3::OpenTelemetryAccessLogConfig;
use envoy_types::pb::envoy::extensions::filters::http::lua::v3::Lua;
use envoy_types::pb::envoy::extensions::upstreams::http::v3::{HttpProtocolOptions, http_protocol_options};
use envoy_types::pb::envoy::r#type::matcher::v3::{
    MetadataMatcher, StringMatcher, ValueMatcher, metadata_matcher, string_matcher, value_matcher,
};
use envoy_types::pb::google::protobuf::{BoolValue, Struct, Value, value};
use envoy_types::pb::opentelemetry::proto::common::v1::{AnyValue, ArrayValue, KeyValue, KeyValueList, any_value};
use prost::{Message, Name};

use super::super::defaults::CONNECT_TIMEOUT_SECS;
use super::super::parts::{ListenerParts, http_filter, route_conf};
use super::super::proto::{any, secs, socket};
use super::mesh_trace::endpoint_host_port;
use super::{At, Configurer, Place};
use crate::model::Kind;
use crate::model::policy::mesh_access_log::{Backend, Conf, Format, FormatType, OtelBackend, TcpBackend};
use crate::plan::{OutboundPlan, ProxyPlan};
use crate::rules::effective::{Condition, Effective};

/// Kuma's default format of HTTP access logs.
pub const DEFAULT_HTTP_FORMAT: &str = r#"[%START_TIME%] %KUMA_MESH% "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-B3-TRACEID?X-DATADOG-TRACEID)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%KUMA_SOURCE_SERVICE%" "%KUMA_DESTINATION_SERVICE%" "%KUMA_SOURCE_ADDRESS_WITHOUT_PORT%" "%UPSTREAM_HOST%""#;
/// Kuma's default format of TCP access logs.
pub const DEFAULT_TCP_FORMAT: &str = "[%START_TIME%] %RESPONSE_FLAGS% %KUMA_MESH% %KUMA_SOURCE_ADDRESS_WITHOUT_PORT%(%KUMA_SOURCE_SERVICE%)->%UPSTREAM_HOST%(%KUMA_DESTINATION_SERVICE%) took %DURATION%ms, sent %BYTES_SENT% bytes, received: %BYTES_RECEIVED% bytes";
/// The OpenTelemetry collector port when an endpoint names none.
const DEFAULT_OTEL_PORT: u32 = 4317;
/// Kuma's source service of inbound traffic (the client is not known statically).
const UNKNOWN_SERVICE: &str = "unknown";
const FILE_LOGGER: &str = "envoy.access_loggers.file";
const OTEL_LOGGER: &str = "envoy.access_loggers.open_telemetry";
const FLUENTD_LOGGER: &str = "envoy.access_loggers.fluentd";
const LOG_NAME: &str = "MeshAccessLog";
/// Where Kuma's Lua filter records the MeshHTTPRoute a request took.
const ROUTES_METADATA: &str = "kuma.routes";
const ROUTE_KEY: &str = "route_kri";
/// The HTTP filter that copies a route's `route_kri` (its metadata under this name).
const LUA_FILTER: &str = "envoy.filters.http.lua";

/// The values Kuma substitutes for its placeholders at one place.
#[derive(Debug, Clone)]
pub struct KumaValues {
    pub source_service: String,
    pub source_ip: String,
    pub destination_service: String,
    pub mesh: String,
    pub zone: String,
    pub direction: &'static str,
}

impl KumaValues {
    fn of(place: &Place) -> KumaValues {
        let plan = place.plan;
        let source_ip = plan.inbounds.first().map(|i| i.address.clone()).unwrap_or_default();
        let (source_service, destination_service, direction) = match place.at {
            At::Inbound(i) => (UNKNOWN_SERVICE.to_string(), i.service.clone(), "INBOUND"),
            At::Outbound(o) => (plan.node_cluster.clone(), o.destination.name.clone(), "OUTBOUND"),
            At::Cluster(c) => (plan.node_cluster.clone(), c.destination.name.clone(), "OUTBOUND"),
        };
        KumaValues {
            source_service,
            source_ip,
            destination_service,
            mesh: plan.id.mesh.clone(),
            zone: plan.id.zone.clone().unwrap_or_default(),
            direction,
        }
    }

    /// Kuma's `InterpolateKumaValues`: plain text replacement, in Kuma's order.
    pub fn interpolate(&self, format: &str) -> String {
        format
            .replace("%KUMA_SOURCE_ADDRESS%", &format!("{}:0", bracket(&self.source_ip)))
            .replace("%KUMA_SOURCE_ADDRESS_WITHOUT_PORT%", &self.source_ip)
            .replace("%KUMA_SOURCE_SERVICE%", &self.source_service)
            .replace("%KUMA_DESTINATION_SERVICE%", &self.destination_service)
            .replace("%KUMA_MESH%", &self.mesh)
            .replace("%KUMA_TRAFFIC_DIRECTION%", self.direction)
            .replace("%KUMA_ZONE%", &self.zone)
    }
}

/// An IPv6 address in brackets, as Go's `net.JoinHostPort` writes it.
fn bracket(ip: &str) -> String {
    if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() }
}

/// A log collector the bootstrap needs a cluster for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Sink {
    kind: SinkKind,
    host: String,
    port: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SinkKind {
    OpenTelemetry,
    Tcp,
}

impl Sink {
    fn otel(endpoint: &str) -> Option<Sink> {
        let (host, port) = endpoint_host_port(endpoint, Some(DEFAULT_OTEL_PORT))?;
        Some(Sink { kind: SinkKind::OpenTelemetry, host, port })
    }

    fn tcp(address: &str) -> Option<Sink> {
        let (host, port) = endpoint_host_port(address, None)?;
        Some(Sink { kind: SinkKind::Tcp, host, port })
    }

    fn of(backend: &Backend) -> Option<Sink> {
        if let Some(tcp) = &backend.tcp {
            return Sink::tcp(&tcp.address);
        }
        backend.open_telemetry.as_ref().and_then(|o| Sink::otel(&o.endpoint))
    }
}

/// The collectors of a proxy, numbered per kind in the order its places use
/// them (inbounds, then outbounds), as Kuma numbers its OpenTelemetry clusters.
#[derive(Debug, Default)]
struct Sinks(Vec<Sink>);

impl Sinks {
    fn of(plan: &ProxyPlan) -> Sinks {
        let mut sinks = Sinks::default();
        let logged = |e: &&Effective| matches!(e.condition, Condition::All | Condition::Route(_));
        let places =
            plan.inbounds.iter().flat_map(|i| &i.policies).chain(plan.outbounds.iter().flat_map(|o| &o.policies));
        // Passed-through traffic's conf (its rule is the `pass_through` service's) last.
        let passthrough = plan.transparent_proxy.iter().flat_map(|tp| &tp.policies);
        let confs = places.filter(logged).chain(passthrough);
        for e in confs.filter(|e| e.kind == Kind::MeshAccessLog.name()) {
            for b in backends(e) {
                if let Some(s) = Sink::of(&b).filter(|s| !sinks.0.contains(s)) {
                    sinks.0.push(s);
                }
            }
        }
        sinks
    }

    /// The cluster name of `sink`.
    fn cluster(&self, sink: &Sink) -> String {
        let n = self.0.iter().filter(|s| s.kind == sink.kind).position(|s| s == sink).unwrap_or(0);
        match sink.kind {
            SinkKind::OpenTelemetry => format!("meshaccesslog:opentelemetry:{n}"),
            SinkKind::Tcp => format!("meshaccesslog:tcp:{n}"),
        }
    }
}

fn backends(e: &Effective) -> Vec<Backend> {
    serde_json::from_value::<Conf>(e.conf.clone()).ok().and_then(|c| c.backends).unwrap_or_default()
}

/// Kuma's `applyToTransparentProxyListeners`: the logs of the `pass_through`
/// service's rule on an outbound passthrough listener's TCP proxies, for
/// destination `external`.
pub fn passthrough(plan: &ProxyPlan, listener: &mut ListenerParts) {
    let Some(tp) = &plan.transparent_proxy else { return };
    let Some(e) = tp.policies.iter().find(|e| e.kind == Kind::MeshAccessLog.name()) else { return };
    let values = KumaValues {
        source_service: plan.node_cluster.clone(),
        source_ip: plan.inbounds.first().map(|i| i.address.clone()).unwrap_or_default(),
        destination_service: "external".to_string(),
        mesh: plan.id.mesh.clone(),
        zone: plan.id.zone.clone().unwrap_or_default(),
        direction: "OUTBOUND",
    };
    let sinks = Sinks::of(plan);
    let logs = |default: &str| -> Vec<AccessLog> {
        backends(e).iter().filter_map(|b| access_log(b, default, &values, &sinks)).collect()
    };
    let tcp_logs = logs(DEFAULT_TCP_FORMAT);
    for t in listener.tcp_proxies() {
        t.access_log.extend(tcp_logs.iter().cloned());
    }
    // MeshPassthrough's HTTP chains log as HTTP.
    let http_logs = logs(DEFAULT_HTTP_FORMAT);
    for m in listener.hcms() {
        m.access_log.extend(http_logs.iter().cloned());
    }
}

/// MeshAccessLog's configurer.
pub struct MeshAccessLog;

impl Configurer for MeshAccessLog {
    fn kind(&self) -> Kind {
        Kind::MeshAccessLog
    }

    fn listener(&self, place: &Place, confs: &[&Effective], listener: &mut ListenerParts) {
        let values = KumaValues::of(place);
        let sinks = Sinks::of(place.plan);
        let outbound = match place.at {
            At::Outbound(o) if o.destination.kri.is_some() && o.protocol.is_http() => Some(o),
            _ => None,
        };
        let shared = confs.iter().find(|e| e.condition == Condition::All).map(|e| backends(e)).unwrap_or_default();
        if !shared.is_empty() {
            // Kuma's filter for the shared logs of an HTTP outbound to a real resource.
            let route_filter = outbound.map(|_| no_route_filter());
            let build = |default: &str| -> Vec<AccessLog> {
                let logs = shared.iter().filter_map(|b| access_log(b, default, &values, &sinks));
                logs.map(|l| AccessLog { filter: route_filter.clone(), ..l }).collect()
            };
            let (http_logs, tcp_logs) = (build(DEFAULT_HTTP_FORMAT), build(DEFAULT_TCP_FORMAT));
            for m in listener.hcms() {
                m.access_log.extend(http_logs.iter().cloned());
            }
            let tcp_logs: Vec<AccessLog> = tcp_logs.into_iter().map(|l| AccessLog { filter: None, ..l }).collect();
            for t in listener.tcp_proxies() {
                t.access_log.extend(tcp_logs.iter().cloned());
            }
        }
        if let Some(o) = outbound {
            route_logs(o, confs, listener, &values, &sinks);
        }
    }

    fn bootstrap(&self, plan: &ProxyPlan, _confs: &[&Effective], bootstrap: &mut Bootstrap) {
        let sinks = Sinks::of(plan);
        let Some(resources) = bootstrap.static_resources.as_mut() else { return };
        for sink in &sinks.0 {
            let cluster = sink_cluster(&sinks.cluster(sink), sink);
            let at = resources.clusters.partition_point(|c| c.name < cluster.name);
            if resources.clusters.get(at).is_none_or(|c| c.name != cluster.name) {
                resources.clusters.insert(at, cluster);
            }
        }
    }
}

/// The logs of the MeshHTTPRoutes of an HTTP outbound to a real resource that
/// have a conf of their own, as Kuma's `applyToRealResource` builds them: each
/// Envoy route of such a MeshHTTPRoute carries its KRI in its metadata, a Lua
/// filter (first of the HCM) copies it into the request's dynamic metadata,
/// and each backend of the route's conf becomes a log that only requests of
/// that route reach (in KRI order, after the shared logs).
fn route_logs(
    o: &OutboundPlan,
    confs: &[&Effective],
    listener: &mut ListenerParts,
    values: &KumaValues,
    sinks: &Sinks,
) {
    // Route KRI (the Envoy route's name) -> that route's backends.
    let mut by_kri: BTreeMap<String, Vec<Backend>> = BTreeMap::new();
    for r in listener.routes() {
        let Some(e) = route_conf(o, confs, r) else { continue };
        let kri = r.name.clone();
        let metadata = r.metadata.get_or_insert_with(Default::default);
        let fields = [(ROUTE_KEY.to_string(), string(kri.clone()))].into();
        metadata.filter_metadata.insert(LUA_FILTER.to_string(), Struct { fields });
        by_kri.entry(kri).or_insert_with(|| backends(e));
    }
    let logs: Vec<AccessLog> = by_kri
        .iter()
        .flat_map(|(kri, backends)| {
            let logs = backends.iter().filter_map(|b| access_log(b, DEFAULT_HTTP_FORMAT, values, sinks));
            logs.map(|l| AccessLog { filter: Some(route_filter(kri)), ..l }).collect::<Vec<_>>()
        })
        .collect();
    if by_kri.values().all(Vec::is_empty) {
        return;
    }
    for m in listener.hcms() {
        m.access_log.extend(logs.iter().cloned());
        let lua = Lua {
            default_source_code: Some(DataSource {
                specifier: Some(data_source::Specifier::InlineString(route_metadata_lua())),
                ..Default::default()
            }),
            ..Default::default()
        };
        m.http_filters.insert(0, http_filter(LUA_FILTER, lua));
    }
}

/// Kuma's Lua script: the matched route's `route_kri` into the request's
/// dynamic metadata, where the access log filters read it.
fn route_metadata_lua() -> String {
    format!(
        "function envoy_on_request(handle)\n  local meta = handle:metadata():get(\"{ROUTE_KEY}\")\n  if meta ~= nil then\n    handle:streamInfo():dynamicMetadata():set(\"{ROUTES_METADATA}\", \"{ROUTE_KEY}\", meta)\n  end\nend\n"
    )
}

/// Kuma's metadata filter of a route's logs: only requests that took the route `kri`.
fn route_filter(kri: &str) -> AccessLogFilter {
    metadata_filter(
        value_matcher::MatchPattern::StringMatch(StringMatcher {
            match_pattern: Some(string_matcher::MatchPattern::Exact(kri.to_string())),
            ..Default::default()
        }),
        false,
    )
}

/// Kuma's metadata filter: log only requests that took no route with a route_kri.
fn no_route_filter() -> AccessLogFilter {
    metadata_filter(value_matcher::MatchPattern::NullMatch(value_matcher::NullMatch {}), true)
}

/// A filter on the `route_kri` of the request's `kuma.routes` dynamic metadata.
fn metadata_filter(pattern: value_matcher::MatchPattern, match_if_key_not_found: bool) -> AccessLogFilter {
    AccessLogFilter {
        filter_specifier: Some(access_log_filter::FilterSpecifier::MetadataFilter(MetadataFilter {
            matcher: Some(MetadataMatcher {
                filter: ROUTES_METADATA.to_string(),
                path: vec![metadata_matcher::PathSegment {
                    segment: Some(metadata_matcher::path_segment::Segment::Key(ROUTE_KEY.to_string())),
                }],
                value: Some(ValueMatcher { match_pattern: Some(pattern) }),
                ..Default::default()
            }),
            match_if_key_not_found: Some(BoolValue { value: match_if_key_not_found }),
        })),
    }
}

fn typed<T: Name + Message>(name: &str, config: T) -> AccessLog {
    AccessLog {
        name: name.to_string(),
        config_type: Some(access_log::ConfigType::TypedConfig(any(config))),
        filter: None,
    }
}

fn string(s: String) -> Value {
    Value { kind: Some(value::Kind::StringValue(s)) }
}

/// What a format asks for: a line or JSON fields.
enum Shape {
    Plain(String),
    Json(BTreeMap<String, String>),
}

/// A backend's format, interpolated: a plain line (Kuma's default when
/// unset) with its trailing newline, or the JSON fields.
fn shape(format: Option<&Format>, default: &str, values: &KumaValues) -> (Shape, bool) {
    let omit = format.is_some_and(|f| f.omit_empty_values);
    let json = format.and_then(|f| match (&f.plain, &f.json) {
        (Some(_), _) => None,
        (None, Some(json)) => Some(json),
        (None, None) => None,
    });
    if let Some(json) = json.filter(|_| format.and_then(|f| f.type_.as_ref()?.known()) != Some(FormatType::Plain)) {
        let fields = json.iter().map(|kv| (kv.key.clone(), values.interpolate(&kv.value))).collect();
        return (Shape::Json(fields), omit);
    }
    let plain = format.and_then(|f| f.plain.as_deref()).unwrap_or(default);
    (Shape::Plain(values.interpolate(&format!("{plain}\n"))), omit)
}

fn substitution(shape: Shape, omit_empty_values: bool) -> SubstitutionFormatString {
    let format = match shape {
        Shape::Plain(line) => substitution_format_string::Format::TextFormatSource(DataSource {
            specifier: Some(data_source::Specifier::InlineString(line)),
            ..Default::default()
        }),
        Shape::Json(fields) => substitution_format_string::Format::JsonFormat(Struct {
            fields: fields.into_iter().map(|(k, v)| (k, string(v))).collect(),
        }),
    };
    SubstitutionFormatString { format: Some(format), omit_empty_values, ..Default::default() }
}

/// One backend's access log; `None` for a backend meshc cannot send to (no
/// address, an OpenTelemetry `backendRef`).
fn access_log(b: &Backend, default: &str, values: &KumaValues, sinks: &Sinks) -> Option<AccessLog> {
    if let Some(file) = &b.file {
        let (shape, omit) = shape(file.format.as_ref(), default, values);
        let config = FileAccessLog {
            path: file.path.clone(),
            access_log_format: Some(file_access_log::AccessLogFormat::LogFormat(substitution(shape, omit))),
        };
        return Some(typed(FILE_LOGGER, config));
    }
    if let Some(tcp) = &b.tcp {
        return Some(typed(FLUENTD_LOGGER, fluentd(tcp, default, values, sinks)?));
    }
    let otel = b.open_telemetry.as_ref()?;
    Some(typed(OTEL_LOGGER, open_telemetry(otel, default, values, sinks)?))
}

/// The Fluentd Forward logger standing in for Kuma's TCP backend.
fn fluentd(tcp: &TcpBackend, default: &str, values: &KumaValues, sinks: &Sinks) -> Option<FluentdAccessLogConfig> {
    let sink = Sink::tcp(&tcp.address)?;
    let (shape, _) = shape(tcp.format.as_ref(), default, values);
    let fields = match shape {
        Shape::Plain(line) => [("message".to_string(), string(line.trim_end_matches('\n').to_string()))].into(),
        Shape::Json(fields) => fields.into_iter().map(|(k, v)| (k, string(v))).collect(),
    };
    Some(FluentdAccessLogConfig {
        cluster: sinks.cluster(&sink),
        tag: LOG_NAME.to_string(),
        stat_prefix: "meshaccesslog".to_string(),
        record: Some(Struct { fields }),
        ..Default::default()
    })
}

fn otel_string(s: String) -> AnyValue {
    AnyValue { value: Some(any_value::Value::StringValue(s)) }
}

/// An OTLP `AnyValue` from its proto-JSON form (`{"stringValue": ..}`,
/// `{"kvlistValue": {"values": [..]}}`, ...), strings interpolated; any other
/// JSON is logged as its text, a JSON string as the string.
fn otlp_value(v: &serde_json::Value, values: &KumaValues) -> AnyValue {
    fn parse(v: &serde_json::Value, values: &KumaValues) -> Option<AnyValue> {
        let obj = v.as_object().filter(|o| o.len() == 1)?;
        let (key, inner) = obj.iter().next()?;
        let value = match key.as_str() {
            "stringValue" => any_value::Value::StringValue(values.interpolate(inner.as_str()?)),
            "boolValue" => any_value::Value::BoolValue(inner.as_bool()?),
            "intValue" => {
                any_value::Value::IntValue(inner.as_i64().or_else(|| inner.as_str().and_then(|s| s.parse().ok()))?)
            }
            "doubleValue" => any_value::Value::DoubleValue(inner.as_f64()?),
            "arrayValue" => any_value::Value::ArrayValue(ArrayValue {
                values: inner.get("values")?.as_array()?.iter().map(|v| parse(v, values)).collect::<Option<_>>()?,
            }),
            "kvlistValue" => any_value::Value::KvlistValue(KeyValueList {
                values: inner
                    .get("values")?
                    .as_array()?
                    .iter()
                    .map(|kv| {
                        Some(KeyValue {
                            key: values.interpolate(kv.get("key")?.as_str()?),
                            value: Some(parse(kv.get("value")?, values)?),
                            ..Default::default()
                        })
                    })
                    .collect::<Option<_>>()?,
            }),
            _ => return None,
        };
        Some(AnyValue { value: Some(value) })
    }
    parse(v, values).unwrap_or_else(|| match v {
        serde_json::Value::String(s) => otel_string(values.interpolate(s)),
        other => otel_string(values.interpolate(&other.to_string())),
    })
}

fn open_telemetry(
    otel: &OtelBackend,
    default: &str,
    values: &KumaValues,
    sinks: &Sinks,
) -> Option<OpenTelemetryAccessLogConfig> {
    let sink = Sink::otel(&otel.endpoint)?;
    let body = match &otel.body {
        Some(b) => otlp_value(b, values),
        None => otel_string(values.interpolate(default)),
    };
    let attributes = otel
        .attributes
        .iter()
        .flatten()
        .map(|a| KeyValue {
            key: a.key.clone(),
            value: Some(otel_string(values.interpolate(&a.value))),
            ..Default::default()
        })
        .collect();
    #[allow(deprecated)]
    let config = OpenTelemetryAccessLogConfig {
        common_config: Some(CommonGrpcAccessLogConfig {
            log_name: LOG_NAME.to_string(),
            transport_api_version: ApiVersion::V3 as i32,
            grpc_service: Some(GrpcService {
                target_specifier: Some(grpc_service::TargetSpecifier::EnvoyGrpc(grpc_service::EnvoyGrpc {
                    cluster_name: sinks.cluster(&sink),
                    ..Default::default()
                })),
                ..Default::default()
            }),
            ..Default::default()
        }),
        body: Some(body),
        attributes: Some(KeyValueList { values: attributes }),
        ..Default::default()
    };
    Some(config)
}

/// The cluster of a collector: by DNS unless the host is an IP, HTTP/2 for OpenTelemetry's gRPC.
fn sink_cluster(name: &str, sink: &Sink) -> Cluster {
    let kind =
        if sink.host.parse::<std::net::IpAddr>().is_ok() { DiscoveryType::Static } else { DiscoveryType::StrictDns };
    let mut cluster = Cluster {
        name: name.to_string(),
        cluster_discovery_type: Some(ClusterDiscoveryType::Type(kind as i32)),
        connect_timeout: Some(secs(CONNECT_TIMEOUT_SECS)),
        load_assignment: Some(ClusterLoadAssignment {
            cluster_name: name.to_string(),
            endpoints: vec![LocalityLbEndpoints {
                lb_endpoints: vec![LbEndpoint {
                    host_identifier: Some(lb_endpoint::HostIdentifier::Endpoint(Endpoint {
                        address: Some(socket(&sink.host, sink.port)),
                        ..Default::default()
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }),
        ..Default::default()
    };
    if sink.kind == SinkKind::OpenTelemetry {
        let options = HttpProtocolOptions {
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
        };
        cluster
            .typed_extension_protocol_options
            .insert("envoy.extensions.upstreams.http.v3.HttpProtocolOptions".to_string(), any(options));
    }
    cluster
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values() -> KumaValues {
        KumaValues {
            source_service: "web".into(),
            source_ip: "10.0.0.1".into(),
            destination_service: "backend".into(),
            mesh: "default".into(),
            zone: "east".into(),
            direction: "OUTBOUND",
        }
    }

    #[test]
    fn placeholders_are_substituted_as_kuma_does() {
        let v = values();
        assert_eq!(v.interpolate("%%KUMA_SOURCE_SERVICE%%"), "%web%");
        assert_eq!(
            v.interpolate("%KUMA_MESH% %KUMA_SOURCE_ADDRESS% %KUMA_TRAFFIC_DIRECTION% %KUMA_ZONE%"),
            "default 10.0.0.1:0 OUTBOUND east"
        );
    }

    #[test]
    fn formats_default_and_end_in_a_newline() {
        let v = values();
        let Shape::Plain(line) = shape(None, DEFAULT_TCP_FORMAT, &v).0 else { panic!("plain") };
        assert!(line.starts_with("[%START_TIME%] %RESPONSE_FLAGS% default 10.0.0.1(web)->"));
        assert!(line.ends_with("bytes\n"));
        let f: Format = serde_json::from_value(json!({"type": "Json", "json": [{"key": "m", "value": "%KUMA_MESH%"}],
            "omitEmptyValues": true}))
        .unwrap();
        let (Shape::Json(fields), omit) = shape(Some(&f), DEFAULT_TCP_FORMAT, &v) else { panic!("json") };
        assert_eq!(fields, BTreeMap::from([("m".to_string(), "default".to_string())]));
        assert!(omit);
    }

    #[test]
    fn sinks_parse_addresses() {
        assert_eq!(Sink::otel("collector").map(|s| s.port), Some(4317));
        assert_eq!(Sink::otel("collector:4318").map(|s| s.port), Some(4318));
        assert_eq!(Sink::tcp("[::1]:5000").map(|s| s.host), Some("::1".to_string()));
        assert!(Sink::tcp("nohost").is_none());
    }

    #[test]
    fn otlp_bodies_parse_proto_json() {
        let v = values();
        let body = otlp_value(
            &json!({"kvlistValue": {"values": [{"key": "mesh", "value": {"stringValue": "%KUMA_MESH%"}}]}}),
            &v,
        );
        let Some(any_value::Value::KvlistValue(list)) = body.value else { panic!("kvlist") };
        assert_eq!(list.values[0].value, Some(otel_string("default".into())));
        assert_eq!(otlp_value(&json!("at %KUMA_MESH%"), &v), otel_string("at default".into()));
    }
}
