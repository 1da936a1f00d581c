//! MeshExternalService (`pkg/core/resources/apis/meshexternalservice/`): a
//! destination outside the mesh, reached from the sidecar (or through the zone
//! egress when the mesh routes through one), with optional TLS origination
//! (reference §6.3). Besides Kuma's validator: unix socket endpoints (the docs'
//! form, which Kuma 2.14 rejects) are a warning (MESH5013), and inline TLS
//! material Envoy would refuse is an error (MESH5014).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::findings::codes;
use crate::kuma_enum;
use crate::model::choice::Choice;
use crate::model::common::{is_dns_name, is_ip};
use crate::model::{KindSpec, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// MeshExternalService spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshExternalService {
    /// The traffic that is routed to this service: a generated hostname and a port.
    #[serde(rename = "match", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub match_: Option<Match>,
    /// Destinations to send traffic to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoints: Option<Vec<Endpoint>>,
    /// TLS origination by the proxy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<Tls>,
    /// Plugin configuration; with an extension, `endpoints` and `tls` are the
    /// extension's to validate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<Extension>,
}

kuma_enum! {
    /// How the traffic of a MeshExternalService is matched.
    pub enum MatchType { HostnameGenerator = "HostnameGenerator" }
}

kuma_enum! {
    /// Protocol of the traffic to a MeshExternalService.
    pub enum MatchProtocol { Tcp = "tcp", Grpc = "grpc", Http = "http", Http2 = "http2" }
}

fn default_match_type() -> Choice<MatchType> {
    Choice::Known(MatchType::HostnameGenerator)
}

fn default_match_protocol() -> Choice<MatchProtocol> {
    Choice::Known(MatchProtocol::Tcp)
}

/// The traffic routed to a MeshExternalService.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Match {
    /// Type of the match; only `HostnameGenerator` exists.
    #[serde(rename = "type", default = "default_match_type")]
    pub type_: Choice<MatchType>,
    /// Port clients send requests to.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required, range(min = 1, max = 65535))]
    pub port: Option<i64>,
    /// Protocol of the traffic: tcp (default), grpc, http or http2.
    #[serde(default = "default_match_protocol")]
    pub protocol: Choice<MatchProtocol>,
}

/// A destination of a MeshExternalService.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Endpoint {
    /// An IP address or a domain name.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required, length(min = 1))]
    pub address: Option<String>,
    /// Port of the endpoint (none for a `unix://` socket; Kuma's validator requires
    /// one for an IP or a hostname).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i64>,
    /// Envoy priority level for failover; lower is preferred (0 is the primary).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 128))]
    pub priority: Option<i64>,
}

/// Plugin configuration of a MeshExternalService.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Extension {
    /// Type of the extension.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<String>,
    /// Free-form configuration of the extension.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
}

/// TLS origination settings.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Tls {
    /// Whether TLS sessions may be renegotiated (not recommended).
    #[serde(default)]
    pub allow_renegotiation: bool,
    /// Whether the proxy originates TLS.
    #[serde(default)]
    pub enabled: bool,
    /// How the server certificate is verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
    /// Allowed TLS versions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<Version>,
}

kuma_enum! {
    /// A TLS protocol version (`TLSAuto` lets Envoy choose).
    pub enum TlsVersion { Auto = "TLSAuto", Tls10 = "TLS10", Tls11 = "TLS11", Tls12 = "TLS12", Tls13 = "TLS13" }
}

impl TlsVersion {
    /// Kuma's `TlsVersionOrder`; `None` for `TLSAuto`.
    fn order(self) -> Option<u8> {
        match self {
            TlsVersion::Auto => None,
            TlsVersion::Tls10 => Some(0),
            TlsVersion::Tls11 => Some(1),
            TlsVersion::Tls12 => Some(2),
            TlsVersion::Tls13 => Some(3),
        }
    }
}

fn default_tls_version() -> Choice<TlsVersion> {
    Choice::Known(TlsVersion::Auto)
}

/// Minimum and maximum TLS versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Version {
    /// Minimum supported version (default TLSAuto).
    #[serde(default = "default_tls_version")]
    pub min: Choice<TlsVersion>,
    /// Maximum supported version (default TLSAuto).
    #[serde(default = "default_tls_version")]
    pub max: Choice<TlsVersion>,
}

kuma_enum! {
    /// Which verifications of the server certificate the proxy skips.
    pub enum VerificationMode { SkipSan = "SkipSAN", SkipCa = "SkipCA", Secured = "Secured", SkipAll = "SkipAll" }
}

/// Kuma's order of the verification modes in its message (`allVerificationModes`).
const VERIFICATION_MODES: &[&str] = &["SkipSAN", "SkipCA", "SkipAll", "Secured"];

fn default_verification_mode() -> Choice<VerificationMode> {
    Choice::Known(VerificationMode::Secured)
}

/// Verification of the server certificate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Verification {
    /// SkipSAN, SkipCA, Secured (default) or SkipAll.
    #[serde(default = "default_verification_mode")]
    pub mode: Choice<VerificationMode>,
    /// Overrides the SNI set by Kuma.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
    /// Names to verify in the server certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_alt_names: Option<Vec<SubjectAltName>>,
    /// Certificate of the CA.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<DataSource>,
    /// Client certificate (needs `clientKey`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_cert: Option<DataSource>,
    /// Client private key (needs `clientCert`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_key: Option<DataSource>,
}

kuma_enum! {
    /// How a subject alternative name is matched.
    pub enum SanMatchType { Exact = "Exact", Prefix = "Prefix" }
}

/// Kuma's order of the SAN match types in its message (`allSANMatchTypes`).
const SAN_MATCH_TYPES: &[&str] = &["Prefix", "Exact"];

fn default_san_match_type() -> Choice<SanMatchType> {
    Choice::Known(SanMatchType::Exact)
}

/// A subject alternative name to verify.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct SubjectAltName {
    /// Exact (default) or Prefix.
    #[serde(rename = "type", default = "default_san_match_type")]
    pub type_: Choice<SanMatchType>,
    /// Value to match.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub value: Option<String>,
}

/// Where certificate or key data comes from.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct DataSource {
    /// Inline bytes (base64 encoded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline: Option<String>,
    /// Inline string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inline_string: Option<String>,
    /// Name of a Kuma Secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl KindSpec for MeshExternalService {
    fn validate(&self, ctx: &ValidateCtx, v: &mut Violations) {
        crate::model::mesh_service::validate_name_length(ctx, v);
        let root = Path::root();
        if let Some(m) = &self.match_ {
            validate_match(v, &root.field("match"), m);
        }
        // With an extension, endpoints and tls are the extension's to validate.
        if self.extension.is_none() {
            if let Some(endpoints) = &self.endpoints {
                validate_endpoints(v, &root.field("endpoints"), endpoints);
            }
            if let Some(tls) = &self.tls {
                validate_tls(v, &root.field("tls"), tls);
            }
        }
        if let Some(ext) = &self.extension
            && ext.type_.as_deref().unwrap_or_default().is_empty()
        {
            v.add_code(codes::KUMA_REQUIRED, &root.field("extension").field("type"), msg::MUST_NOT_BE_EMPTY);
        }
    }
}

fn validate_match(v: &mut Violations, path: &Path, m: &Match) {
    if !m.type_.is(MatchType::HostnameGenerator) {
        let message = format!("unrecognized type '{}' - only 'HostnameGenerator' is supported", m.type_.raw());
        v.add_code(codes::KUMA_ENUM, &path.field("type"), message);
    }
    v.port(&path.field("port"), m.port);
    v.one_of(&path.field("protocol"), &m.protocol);
}

fn validate_endpoints(v: &mut Violations, path: &Path, endpoints: &[Endpoint]) {
    for (i, e) in endpoints.iter().enumerate() {
        let p = path.index(i);
        let address = e.address.as_deref().unwrap_or_default();
        if let Some(socket) = address.strip_prefix("unix://").filter(|s| is_unix_path(s)) {
            // The docs' unix socket endpoints: Kuma 2.14 rejects them, meshc compiles them.
            let port = if e.port.is_some() { "; its `port` is ignored" } else { "" };
            let message = format!(
                "unix socket endpoint `{socket}`: Kuma 2.14 rejects it (\"address has to be a valid IP or hostname\"); \
                 meshc compiles it to an Envoy pipe address{port}"
            );
            v.add_code(codes::UNIX_SOCKET_ENDPOINT, &p.field("address"), message);
            continue;
        }
        let is_ip = is_ip(address);
        let is_dns = is_dns_name(address);
        if is_ip || is_dns {
            v.port(&p.field("port"), e.port);
        } else {
            v.add_code(codes::BAD_ADDRESS, &p.field("address"), "address has to be a valid IP or hostname");
        }
    }
}

/// govalidator's `IsUnixFilePath` as Kuma's older validators used it: an absolute path.
fn is_unix_path(path: &str) -> bool {
    path.starts_with('/') && !path.contains('\0')
}

/// What a data source must hold to be usable by Envoy.
#[derive(Clone, Copy)]
enum Material {
    Certificate,
    PrivateKey,
}

/// MESH5014: inline material Envoy would refuse (Kuma passes it through).
fn validate_data_source(v: &mut Violations, path: &Path, d: &DataSource, want: Material) {
    let (field, text) = match (&d.inline, &d.inline_string) {
        (Some(b64), _) => match crate::certs::decode_base64(b64) {
            Some(bytes) => ("inline", String::from_utf8_lossy(&bytes).into_owned()),
            None => {
                v.add_code(codes::EXTERNAL_TLS_UNUSABLE, &path.field("inline"), "is not valid base64");
                return;
            }
        },
        (None, Some(text)) => ("inlineString", text.clone()),
        (None, None) => return,
    };
    let (ok, what) = match want {
        Material::Certificate => (text.contains("-----BEGIN CERTIFICATE-----"), "PEM certificate"),
        Material::PrivateKey => {
            let ok = text.lines().any(|l| l.starts_with("-----BEGIN ") && l.trim_end().ends_with("PRIVATE KEY-----"));
            (ok, "PEM private key")
        }
    };
    if !ok {
        let message = format!("holds no {what}: Envoy refuses the cluster (and a static bootstrap with it)");
        v.add_code(codes::EXTERNAL_TLS_UNUSABLE, &path.field(field), message);
    }
}

fn validate_tls(v: &mut Violations, path: &Path, tls: &Tls) {
    if let Some(version) = &tls.version {
        let p = path.field("version");
        v.one_of(&p.field("min"), &version.min);
        v.one_of(&p.field("max"), &version.max);
        let order = |c: &Choice<TlsVersion>| c.known().and_then(TlsVersion::order);
        if let (Some(min), Some(max)) = (order(&version.min), order(&version.max))
            && min > max
        {
            v.add(&p.field("min"), "min version must be lower than max");
        }
    }
    let Some(ver) = &tls.verification else { return };
    let p = path.field("verification");
    if let Some(server_name) = &ver.server_name
        && !is_dns_name(server_name)
    {
        v.add_code(codes::BAD_ADDRESS, &p.field("serverName"), "must be a valid DNS name");
    }
    if !ver.mode.is_known() {
        v.add_code(codes::KUMA_ENUM, &p.field("mode"), msg::must_be_one_of("mode", VERIFICATION_MODES));
    }
    for (i, san) in ver.subject_alt_names.iter().flatten().enumerate() {
        if !san.type_.is_known() {
            let sp = p.field("subjectAltNames").index(i).field("type");
            v.add_code(codes::KUMA_ENUM, &sp, msg::must_be_one_of("type", SAN_MATCH_TYPES));
        }
    }
    if tls.enabled {
        let sources = [
            ("caCert", &ver.ca_cert, Material::Certificate),
            ("clientCert", &ver.client_cert, Material::Certificate),
            ("clientKey", &ver.client_key, Material::PrivateKey),
        ];
        for (field, source, want) in sources {
            if let Some(d) = source {
                validate_data_source(v, &p.field(field), d, want);
            }
        }
    }
    match (&ver.client_cert, &ver.client_key) {
        (Some(_), None) => {
            v.add_code(codes::KUMA_REQUIRED, &p.field("clientKey"), "must be defined when clientCert is defined")
        }
        (None, Some(_)) => {
            v.add_code(codes::KUMA_REQUIRED, &p.field("clientCert"), "must be defined when clientKey is defined")
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::model::common::is_dns_name as go_is_dns_name;
    use crate::model::testing::{meta, run_kuma_fixtures};
    use crate::model::{Kind, PolicyRole};

    /// The resource name Kuma's `validator_test.go` gives each fixture.
    fn fixture_name(case: &str) -> String {
        match case {
            "name-too-long" => {
                "external-service-very-long-very-long-very-long-very-long-very-long-very-long-very-long".into()
            }
            "name-length-63" => "b".repeat(63),
            _ => "external-service".into(),
        }
    }

    #[test]
    fn kuma_fixtures() {
        let dir = "pkg/core/resources/apis/meshexternalservice/api/v1alpha1/testdata";
        run_kuma_fixtures(dir, 10, |case, input| {
            let spec: MeshExternalService =
                serde_json::from_value(input).unwrap_or_else(|e| panic!("{case}: cannot parse spec: {e}"));
            kuma_violations(&meta(Kind::MeshExternalService, &fixture_name(case)), &spec)
        });
    }

    /// Kuma's violations only: meshc's own MESH5013 / MESH5014 are not Kuma's
    /// (its fixture `caCert: {inline: dGVzdA==}` is "test", which Envoy refuses).
    fn kuma_violations(m: &crate::model::Meta, spec: &MeshExternalService) -> Vec<(String, String)> {
        let mut v = Violations::default();
        spec.validate(&ValidateCtx { meta: m, role: PolicyRole::System }, &mut v);
        v.0.into_iter()
            .filter(|x| ![codes::UNIX_SOCKET_ENDPOINT.id, codes::EXTERNAL_TLS_UNUSABLE.id].contains(&x.code.id))
            .map(|x| (x.path.kuma(m.path_prefix()), x.message))
            .collect()
    }

    fn codes_of(spec: Value) -> Vec<(String, &'static str)> {
        let spec: MeshExternalService = serde_json::from_value(spec).unwrap();
        let m = meta(Kind::MeshExternalService, "external-service");
        let mut v = Violations::default();
        spec.validate(&ValidateCtx { meta: &m, role: PolicyRole::System }, &mut v);
        v.0.into_iter().map(|x| (x.path.kuma(m.path_prefix()), x.code.id)).collect()
    }

    #[test]
    fn unix_sockets_are_a_warning() {
        let got = codes_of(json!({"match": {"port": 80}, "endpoints": [
            {"address": "unix:///tmp/example.sock"}, {"address": "unix://relative"}
        ]}));
        assert_eq!(
            got,
            vec![
                ("spec.endpoints[0].address".to_string(), "MESH5013"),
                ("spec.endpoints[1].address".to_string(), codes::BAD_ADDRESS.id)
            ]
        );
    }

    #[test]
    fn unusable_inline_material() {
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        let key = "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n";
        let ok = codes_of(json!({"match": {"port": 80}, "tls": {"enabled": true, "verification": {
            "caCert": {"inlineString": cert}, "clientCert": {"inlineString": cert}, "clientKey": {"inlineString": key}
        }}}));
        assert!(ok.is_empty(), "{ok:?}");
        let bad = codes_of(json!({"match": {"port": 80}, "tls": {"enabled": true, "verification": {
            "caCert": {"inline": "dGVzdA=="}, "clientCert": {"inline": "%%%"}, "clientKey": {"inlineString": cert}
        }}}));
        assert_eq!(
            bad,
            vec![
                ("spec.tls.verification.caCert.inline".to_string(), "MESH5014"),
                ("spec.tls.verification.clientCert.inline".to_string(), "MESH5014"),
                ("spec.tls.verification.clientKey.inlineString".to_string(), "MESH5014"),
            ]
        );
        // TLS off: nothing is loaded, nothing to refuse.
        assert!(
            codes_of(json!({"match": {"port": 80}, "tls": {"verification": {"caCert": {"inline": "dGVzdA=="}}}}))
                .is_empty()
        );
    }

    fn check(spec: Value) -> Vec<(String, String)> {
        crate::model::testing::check::<MeshExternalService>(
            &meta(Kind::MeshExternalService, "external-service"),
            PolicyRole::System,
            spec,
        )
    }

    #[test]
    fn defaults() {
        let spec: MeshExternalService = serde_json::from_value(json!({
            "match": {"port": 443},
            "tls": {"version": {}, "verification": {"subjectAltNames": [{"value": "example.com"}]}}
        }))
        .unwrap();
        let m = spec.match_.as_ref().unwrap();
        assert!(m.type_.is(MatchType::HostnameGenerator));
        assert!(m.protocol.is(MatchProtocol::Tcp));
        let tls = spec.tls.as_ref().unwrap();
        assert!(!tls.enabled && !tls.allow_renegotiation);
        assert!(tls.version.as_ref().unwrap().min.is(TlsVersion::Auto));
        let ver = tls.verification.as_ref().unwrap();
        assert!(ver.mode.is(VerificationMode::Secured));
        assert!(ver.subject_alt_names.as_ref().unwrap()[0].type_.is(SanMatchType::Exact));
    }

    #[test]
    fn extension_skips_endpoints_and_tls() {
        let got = check(json!({
            "match": {"port": 80},
            "extension": {"type": "x"},
            "endpoints": [{"address": "not valid!"}],
            "tls": {"verification": {"clientKey": {"secret": "k"}}}
        }));
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn auto_versions_are_not_compared() {
        assert!(
            check(json!({"match": {"port": 80}, "tls": {"version": {"min": "TLS13", "max": "TLSAuto"}}})).is_empty()
        );
    }

    #[test]
    fn addresses() {
        assert!(check(json!({"match": {"port": 80}, "endpoints": [
            {"address": "::1", "port": 1}, {"address": "my_host.example.", "port": 2}, {"address": "a-.b", "port": 3}
        ]}))
        .is_empty());
        assert_eq!(
            check(json!({"match": {"port": 80}, "endpoints": [{"address": "unix:tmp/sock"}]})),
            vec![("spec.endpoints[0].address".to_string(), "address has to be a valid IP or hostname".to_string())]
        );
    }

    #[test]
    fn dns_name() {
        assert!(go_is_dns_name("example.com"));
        assert!(go_is_dns_name("Example.COM."));
        assert!(!go_is_dns_name("1.1.1.1"));
        assert!(!go_is_dns_name("not[]valid"));
        assert!(!go_is_dns_name("-a.com"));
        assert!(!go_is_dns_name(&format!("{}.com", "a".repeat(64))));
    }
}
