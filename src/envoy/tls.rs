//! TLS contexts: Kuma mTLS between sidecars (reference §8.1) with certificates
//! through Envoy's file-based SDS, and TLS origination to external services.

use envoy_types::pb::envoy::config::core::v3::{
    ApiVersion, ConfigSource, DataSource, PathConfigSource, TransportSocket, config_source, data_source,
    transport_socket,
};
use envoy_types::pb::envoy::extensions::transport_sockets::tls::v3::{
    CertificateValidationContext, CommonTlsContext, DownstreamTlsContext, SdsSecretConfig, SubjectAltNameMatcher,
    TlsCertificate, TlsParameters, UpstreamTlsContext, common_tls_context, subject_alt_name_matcher,
    tls_parameters::TlsProtocol,
};
use envoy_types::pb::envoy::r#type::matcher::v3::{StringMatcher, string_matcher};
use envoy_types::pb::google::protobuf::BoolValue;

use super::proto::any;
use crate::plan::{self, ExternalTls, Mtls, San};

const TLS_SOCKET: &str = "envoy.transport_sockets.tls";
/// The ALPN protocol that marks Kuma's mTLS.
pub const KUMA_ALPN: &str = "kuma";

fn sds(name: &str, path: &str) -> SdsSecretConfig {
    SdsSecretConfig {
        name: name.to_string(),
        sds_config: Some(ConfigSource {
            resource_api_version: ApiVersion::V3 as i32,
            config_source_specifier: Some(config_source::ConfigSourceSpecifier::PathConfigSource(PathConfigSource {
                path: path.to_string(),
                ..Default::default()
            })),
            ..Default::default()
        }),
    }
}

fn san_matcher(san: &San, kind: subject_alt_name_matcher::SanType) -> SubjectAltNameMatcher {
    let pattern = match san {
        San::Exact(v) => string_matcher::MatchPattern::Exact(v.clone()),
        San::Prefix(v) => string_matcher::MatchPattern::Prefix(v.clone()),
    };
    SubjectAltNameMatcher {
        san_type: kind as i32,
        matcher: Some(StringMatcher { match_pattern: Some(pattern), ..Default::default() }),
        ..Default::default()
    }
}

/// The mesh identity plus validation of the peer against the mesh CA and `sans`.
fn mesh_common(mtls: &Mtls, sans: &[San], alpn: bool) -> CommonTlsContext {
    let validation = CertificateValidationContext {
        match_typed_subject_alt_names: sans
            .iter()
            .map(|s| san_matcher(s, subject_alt_name_matcher::SanType::Uri))
            .collect(),
        ..Default::default()
    };
    CommonTlsContext {
        alpn_protocols: if alpn { vec![KUMA_ALPN.to_string()] } else { Vec::new() },
        tls_certificate_sds_secret_configs: vec![sds(&mtls.identity_secret, &mtls.identity_sds_path)],
        validation_context_type: Some(common_tls_context::ValidationContextType::CombinedValidationContext(
            common_tls_context::CombinedCertificateValidationContext {
                default_validation_context: Some(validation),
                validation_context_sds_secret_config: Some(sds(&mtls.ca_secret, &mtls.ca_sds_path)),
                ..Default::default()
            },
        )),
        ..Default::default()
    }
}

fn socket<T: prost::Name + prost::Message>(ctx: T) -> TransportSocket {
    TransportSocket {
        name: TLS_SOCKET.to_string(),
        config_type: Some(transport_socket::ConfigType::TypedConfig(any(ctx))),
    }
}

/// Upstream Kuma mTLS to another sidecar.
pub fn mesh_upstream(mtls: &Mtls, sni: &str, sans: &[San]) -> TransportSocket {
    socket(UpstreamTlsContext {
        sni: sni.to_string(),
        common_tls_context: Some(mesh_common(mtls, sans, true)),
        ..Default::default()
    })
}

/// Downstream Kuma mTLS on an inbound: a client certificate of the mesh is required.
pub fn mesh_downstream(mtls: &Mtls) -> TransportSocket {
    let sans = [San::Prefix(format!("spiffe://{}/", mtls.mesh))];
    socket(DownstreamTlsContext {
        common_tls_context: Some(mesh_common(mtls, &sans, false)),
        require_client_certificate: Some(BoolValue { value: true }),
        ..Default::default()
    })
}

fn tls_version(v: Option<&str>) -> i32 {
    (match v {
        Some("TLS10") => TlsProtocol::TlSv10,
        Some("TLS11") => TlsProtocol::TlSv11,
        Some("TLS12") => TlsProtocol::TlSv12,
        Some("TLS13") => TlsProtocol::TlSv13,
        _ => TlsProtocol::TlsAuto,
    }) as i32
}

fn data_source(d: &plan::DataSource) -> DataSource {
    let specifier = match d {
        plan::DataSource::File(path) => data_source::Specifier::Filename(path.clone()),
        plan::DataSource::Inline(bytes) => data_source::Specifier::InlineBytes(bytes.clone()),
    };
    DataSource { specifier: Some(specifier), ..Default::default() }
}

/// Kuma's SAN matchers of an external service: the expected name exactly, as a
/// DNS name and as an IP address, then every `subjectAltNames` entry as a DNS
/// name, then every one as an IP address (Envoy accepts any match).
fn external_sans(t: &ExternalTls) -> Vec<SubjectAltNameMatcher> {
    use subject_alt_name_matcher::SanType;
    let mut out = Vec::new();
    if let Some(name) = &t.verify_name {
        for kind in [SanType::Dns, SanType::IpAddress] {
            out.push(san_matcher(&San::Exact(name.clone()), kind));
        }
    }
    for kind in [SanType::Dns, SanType::IpAddress] {
        out.extend(t.sans.iter().map(|s| san_matcher(s, kind)));
    }
    out
}

/// TLS origination to a MeshExternalService (Kuma's `UpstreamTlsContextOutsideMesh`).
pub fn external_upstream(t: &ExternalTls) -> TransportSocket {
    // A plan whose system CA was not resolved still verifies: never a silent
    // "accept any certificate".
    let system = crate::plan::DataSource::File(crate::plan::SYSTEM_CA_PATH.to_string());
    let ca = t.ca.as_ref().or(t.system_ca.then_some(&system));
    let validation = ca.map(|ca| CertificateValidationContext {
        trusted_ca: Some(data_source(ca)),
        match_typed_subject_alt_names: external_sans(t),
        ..Default::default()
    });
    let certificates = match (&t.client_cert, &t.client_key) {
        (Some(cert), Some(key)) => vec![TlsCertificate {
            certificate_chain: Some(data_source(cert)),
            private_key: Some(data_source(key)),
            ..Default::default()
        }],
        _ => Vec::new(),
    };
    let params = (t.min_version.is_some() || t.max_version.is_some()).then(|| TlsParameters {
        tls_minimum_protocol_version: tls_version(t.min_version.as_deref()),
        tls_maximum_protocol_version: tls_version(t.max_version.as_deref()),
        ..Default::default()
    });
    let common = (validation.is_some() || !certificates.is_empty() || params.is_some()).then(|| CommonTlsContext {
        tls_params: params,
        tls_certificates: certificates,
        validation_context_type: validation.map(common_tls_context::ValidationContextType::ValidationContext),
        ..Default::default()
    });
    socket(UpstreamTlsContext {
        sni: t.sni.clone().unwrap_or_default(),
        allow_renegotiation: t.allow_renegotiation,
        common_tls_context: common,
        ..Default::default()
    })
}

/// Envoy's protocol version of a Kuma version name (`TLS13`); `TLSAuto` and
/// unknown names are Envoy's automatic choice.
pub fn protocol_version(v: &str) -> i32 {
    tls_version(Some(v))
}

/// Set `tls_params` on the TLS context of a Kuma mTLS transport socket (down- or
/// upstream); other sockets are left as they are.
pub fn set_tls_params(socket: &mut TransportSocket, params: &TlsParameters) {
    use prost::{Message, Name};
    let Some(transport_socket::ConfigType::TypedConfig(any)) = &mut socket.config_type else { return };
    if any.type_url == DownstreamTlsContext::type_url() {
        if let Ok(mut ctx) = DownstreamTlsContext::decode(any.value.as_slice()) {
            ctx.common_tls_context.get_or_insert_with(Default::default).tls_params = Some(params.clone());
            any.value = ctx.encode_to_vec();
        }
    } else if any.type_url == UpstreamTlsContext::type_url()
        && let Ok(mut ctx) = UpstreamTlsContext::decode(any.value.as_slice())
    {
        ctx.common_tls_context.get_or_insert_with(Default::default).tls_params = Some(params.clone());
        any.value = ctx.encode_to_vec();
    }
}
