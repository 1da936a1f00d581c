//! The registry of finding codes. A code is never reused or renumbered: scripts,
//! suppressions and SARIF rules depend on it. `meshc validate --list-codes` prints
//! this table and `docs/findings.md` is generated from it (a test keeps it fresh).

use super::Level;

/// A stable finding code with its default level and documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code {
    pub id: &'static str,
    pub level: Level,
    pub title: &'static str,
    pub doc: &'static str,
}

macro_rules! codes {
    ($( $(#[doc = $doc:literal])* $name:ident = $id:literal, $level:ident, $title:literal; )*) => {
        $(
            $(#[doc = $doc])*
            pub const $name: Code = Code {
                id: $id,
                level: Level::$level,
                title: $title,
                doc: concat!($($doc, "\n"),*),
            };
        )*
        /// Every code, in code order.
        pub const ALL: &[Code] = &[$($name),*];
    };
}

codes! {
    // ---- MESH0xxx: reading input -------------------------------------------------
    /// A path could not be read: it does not exist, permission was denied, or an I/O
    /// error happened. meshc exits with status 3 whatever `--fail-level` says.
    IO_ERROR = "MESH0001", Error, "input could not be read";
    /// The file is not valid UTF-8. YAML and JSON input must be UTF-8 encoded.
    NOT_UTF8 = "MESH0002", Error, "file is not UTF-8";
    /// The file contains NUL bytes: it is a binary file, not YAML or JSON.
    BINARY_FILE = "MESH0003", Error, "binary file";
    /// The YAML parser rejected the text (bad indentation, tabs used for indentation,
    /// unclosed quotes or brackets, ...). Documents before the error are still checked.
    YAML_SYNTAX = "MESH0004", Error, "YAML syntax error";
    /// The file is larger than `--max-file-size` (default 32 MiB) and was not read.
    FILE_TOO_LARGE = "MESH0005", Error, "file too large";
    /// A document nests deeper than `--max-depth` (default 64) levels and was not read.
    TOO_DEEP = "MESH0006", Error, "nesting too deep";
    /// A document expands to more than `--max-nodes` (default 200000) nodes, counting
    /// every use of an alias (this is how "billion laughs" alias bombs are stopped).
    TOO_MANY_NODES = "MESH0007", Error, "document too large after alias expansion";
    /// A mapping has the same key twice. Kubernetes and Kuma reject such documents;
    /// the document is not checked further.
    DUPLICATE_KEY = "MESH0008", Error, "duplicate mapping key";
    /// A file or a document is empty, so there is nothing to check in it.
    EMPTY = "MESH0009", Warning, "empty file or document";
    /// A document is a list or a scalar where a resource (a mapping) was expected.
    NOT_A_MAPPING = "MESH0010", Error, "document is not a mapping";
    /// Following symbolic links led back to a directory already being walked; the
    /// link was skipped.
    SYMLINK_LOOP = "MESH0011", Warning, "symlink loop";
    /// A mapping or a sequence is used as a mapping key, which JSON cannot represent.
    UNSUPPORTED_KEY = "MESH0012", Error, "complex mapping key";
    /// A file has more than `--max-documents` (default 100000) YAML documents,
    /// empty ones included; the documents after the limit were not read.
    TOO_MANY_DOCUMENTS = "MESH0013", Error, "too many documents in a file";
    /// The input is larger than `--max-total-size` (default 128 MiB) in total,
    /// counting every file in path order; the files after the limit were not read.
    /// Memory grows with the input, so this bounds what a directory of many small
    /// files can cost.
    INPUT_TOO_LARGE = "MESH0014", Error, "input too large in total";

    // ---- MESH1xxx: resource envelope -------------------------------------------------
    /// The document is not a kuma.io resource: no `apiVersion: kuma.io/v1alpha1` and no
    /// Universal `type`. Pass `--ignore-unknown` to skip such documents silently.
    NOT_KUMA = "MESH1001", Error, "not a Kuma resource";
    /// A kuma.io kind that meshc does not model (for example MeshGateway or a legacy
    /// TrafficRoute). It is ignored; meshc will not compile it.
    UNSUPPORTED_KIND = "MESH1002", Warning, "unsupported Kuma kind";
    /// The resource envelope is malformed: a missing or non-string `name`, a
    /// `metadata` that is not a mapping, labels that are not strings, a `mesh` on a
    /// global kind, an unsupported `apiVersion`.
    BAD_ENVELOPE = "MESH1003", Error, "malformed resource envelope";
    /// The resource name breaks Kuma's naming rules (RFC 1123 subdomain, at most 253
    /// characters; mesh names `[0-9a-z-_.]`; MeshService and friends at most 63).
    BAD_NAME = "MESH1004", Error, "invalid resource name";
    /// A well-known label has a value Kuma does not accept (`kuma.io/origin`,
    /// `kuma.io/effect`, `kuma.io/policy-role`) or contradicts the document
    /// (`kuma.io/mesh` label versus a `mesh` field, `k8s.kuma.io/namespace` versus
    /// `metadata.namespace`).
    BAD_LABEL = "MESH1005", Error, "invalid well-known label";
    /// A private key (a PEM `PRIVATE KEY` block, or base64 of one) outside the two
    /// places keys belong: a Mesh CA backend's `conf.key` and a
    /// MeshExternalService's `clientKey` (which `meshc certs` writes to 0600 files).
    /// Anywhere else, such as a MeshProxyPatch that puts a key into an Envoy
    /// cluster, it would be copied into the compiled configs, which are deployed,
    /// diffed and often committed. Put the key in a file the proxy can read and
    /// name it (`filename:`) instead. meshc never shows the key itself.
    MISPLACED_PRIVATE_KEY = "MESH1006", Error, "private key outside a key field";

    // ---- MESH2xxx: schema ------------------------------------------------------------
    /// A field that the kind's schema does not define. Kuma rejects unknown fields.
    UNKNOWN_FIELD = "MESH2001", Error, "unknown field";
    /// A field the schema requires is missing. The finding points at the mapping
    /// that should contain it.
    MISSING_FIELD = "MESH2002", Error, "missing required field";
    /// A value has the wrong type (a string where a number is expected, a list
    /// where a mapping is expected, ...).
    WRONG_TYPE = "MESH2003", Error, "wrong type";
    /// A value is not one of the values the field allows.
    NOT_ALLOWED_VALUE = "MESH2004", Error, "value not allowed";
    /// A number or a list length is outside the allowed range.
    OUT_OF_RANGE = "MESH2005", Error, "value out of range";
    /// A string does not have the required format (pattern, IP address, ...).
    BAD_FORMAT = "MESH2006", Error, "invalid format";
    /// Any other schema violation.
    SCHEMA = "MESH2099", Error, "schema violation";

    // ---- MESH3xxx: Kuma's validator rules ------------------------------------------------
    /// A `targetRef` kind that this section of this policy does not accept (Kuma:
    /// "value 'X' is not supported").
    TARGETREF_KIND = "MESH3001", Error, "targetRef kind not supported here";
    /// A `targetRef` field that is not allowed, or missing, for its kind (Kuma:
    /// "must not be set with kind X", "name must be set", ...).
    TARGETREF_FIELD = "MESH3002", Error, "invalid targetRef fields for its kind";
    /// The policy's `to`, `from` and `rules` sections are combined in a way Kuma
    /// rejects, or none is given.
    POLICY_SECTIONS = "MESH3003", Error, "invalid combination of policy sections";
    /// A namespaced policy mixes producer and consumer `to` items, or `to` and
    /// `from`, so Kuma cannot compute its `kuma.io/policy-role`.
    POLICY_ROLE = "MESH3004", Error, "policy role cannot be computed";
    /// A duration that does not parse (`10s`, `1m30s`, `500ms` are valid) or that is
    /// out of the range the field allows.
    BAD_DURATION = "MESH3005", Error, "invalid duration";
    /// A port outside 1-65535.
    BAD_PORT = "MESH3006", Error, "invalid port";
    /// A percentage outside its allowed range, or not a number.
    BAD_PERCENTAGE = "MESH3007", Error, "invalid percentage";
    /// An IP address, CIDR, hostname, URL or socket path that does not parse.
    BAD_ADDRESS = "MESH3008", Error, "invalid address";
    /// A value outside the set Kuma accepts for the field, reported with Kuma's own
    /// message (`"mode" must be one of [...]`).
    KUMA_ENUM = "MESH3009", Error, "value not accepted by Kuma";
    /// A value Kuma requires is missing or empty ("must be defined").
    KUMA_REQUIRED = "MESH3010", Error, "required value missing";
    /// A value Kuma's validator lets through but Envoy refuses (a header Envoy does
    /// not let filters modify, a header value with CR/LF/NUL, a regular expression
    /// RE2 cannot compile, a status code outside Envoy's range, a number past
    /// Envoy's 32-bit field, ...). Kuma would push the configuration and Envoy
    /// would reject it; meshc reports it instead of writing a configuration Envoy
    /// refuses.
    ENVOY_REJECTS = "MESH3011", Error, "value Envoy cannot accept";
    /// A value Envoy refuses in a field a later policy may override when confs
    /// are merged (a MeshLoadBalancingStrategy Maglev `tableSize` that is not
    /// prime). Kuma accepts it; where it is the effective value, meshc leaves the
    /// field to Envoy's default instead of writing a configuration Envoy refuses.
    ENVOY_IGNORES = "MESH3012", Warning, "value Envoy refuses, left to Envoy's default";
    /// Any other rule of Kuma's validator for this kind, with Kuma's message and
    /// field path.
    KUMA_RULE = "MESH3099", Error, "rejected by Kuma's validator";

    // ---- MESH4xxx: across resources ------------------------------------------------------
    /// Two resources of the same kind share a name in the same mesh, namespace and
    /// zone. The later one would overwrite the earlier one in Kuma.
    DUPLICATE_RESOURCE = "MESH4001", Error, "duplicate resource";
    /// A `targetRef`, `backendRef` or Dataplane outbound names a MeshService,
    /// MeshExternalService, MeshMultiZoneService or MeshHTTPRoute that is not in
    /// the input. Kuma accepts such references, but they select nothing.
    MISSING_REFERENCE = "MESH4002", Warning, "reference to a resource that does not exist";
    /// A resource belongs to a mesh that no Mesh resource in the input defines. The
    /// `default` mesh is assumed to exist (Kuma creates it) unless
    /// `--no-default-mesh` is given.
    UNDEFINED_MESH = "MESH4003", Error, "mesh is not defined";
    /// A HostnameGenerator or MeshService selector matches nothing in the input.
    SELECTS_NOTHING = "MESH4004", Warning, "selector selects nothing";
    /// A policy's top-level `targetRef` selects no Dataplane of its mesh. Checked
    /// only for meshes that have at least one Dataplane in the input.
    POLICY_SELECTS_NO_PROXY = "MESH4005", Warning, "policy selects no proxy";

    // ---- MESH5xxx: the resolved mesh (compile) -------------------------------------------
    /// Two services of one mesh would get the same hostname. As in Kuma, the service
    /// sorted first keeps it; the other gets no address from this generator.
    HOSTNAME_COLLISION = "MESH5001", Warning, "hostname collision";
    /// A HostnameGenerator template could not be rendered for a service it selects
    /// (for example `label "key"` on a service without that label).
    HOSTNAME_NOT_RENDERED = "MESH5002", Warning, "hostname template not rendered";
    /// A VIP range has no free address left for a service.
    VIP_EXHAUSTED = "MESH5003", Error, "no free VIP";
    /// A service's `status.vips` holds an address another service also claims, or an
    /// address that does not parse. The service keeps only its valid, unclaimed VIPs.
    VIP_CONFLICT = "MESH5004", Warning, "VIP conflict";
    /// A `kuma.io/service` value is not a valid MeshService name (an RFC 1035
    /// label), so no MeshService is generated for it, as in a Universal zone. Only
    /// for meshes that generate MeshServices (`meshServices.mode` not `Disabled`).
    SERVICE_NOT_GENERATED = "MESH5005", Info, "MeshService not generated";
    /// A Dataplane outbound cannot be built (its backend or port does not resolve,
    /// or it collides with another listener of the proxy). The outbound is left out.
    OUTBOUND_SKIPPED = "MESH5006", Warning, "outbound left out";
    /// A Dataplane outbound's `backendRef.labels` match several services. Like
    /// Kuma, meshc uses one of them (the first by identity); name the service to
    /// be sure which.
    AMBIGUOUS_BACKEND_REF = "MESH5007", Warning, "backendRef matches several services";
    /// A sidecar's address is a DNS name. Kuma resolves it when the proxy
    /// connects; offline there is nothing to resolve, and Envoy needs an IP
    /// address to listen on. The proxy is not compiled; its services still reach
    /// it by name.
    PROXY_ADDRESS_NOT_IP = "MESH5008", Warning, "proxy address is not an IP address";
    /// Dataplanes of one `kuma.io/service` declare different inbound ports or
    /// protocols. The MeshService generated for it (as a Universal zone does) takes
    /// the ports of the first Dataplane by name, as Kuma does. Only for meshes that
    /// generate MeshServices (`meshServices.mode` not `Disabled`).
    GENERATED_SERVICE_CONFLICT = "MESH5009", Warning, "Dataplanes of a service disagree";
    /// A MeshProxyPatch modification cannot be applied to a proxy's configuration
    /// (its `value` is not the Envoy message it patches, a JSON patch operation
    /// fails, or the result is no longer a valid Envoy resource). The proxy is
    /// compiled without that modification; Kuma would refuse its whole
    /// configuration.
    PROXY_PATCH_NOT_APPLIED = "MESH5010", Warning, "MeshProxyPatch modification not applied";
    /// A MeshPassthrough selects a sidecar that runs without transparent proxy.
    /// Only transparent-proxy sidecars have passthrough listeners: as in Kuma,
    /// the policy does nothing on that proxy.
    PASSTHROUGH_WITHOUT_TRANSPARENT_PROXY = "MESH5011", Warning, "MeshPassthrough on a proxy without transparent proxy";
    /// Two MeshPassthrough `appendMatch` entries (of one policy or of merged
    /// policies) make the same Envoy filter chain (for example http and grpc
    /// domains on one port, or a port-less match repeated on a port another
    /// protocol uses). Envoy would refuse the listener; the first entry is kept
    /// and the other left out.
    PASSTHROUGH_MATCH_DROPPED = "MESH5012", Warning, "MeshPassthrough match left out";
    /// A MeshExternalService endpoint is a unix domain socket (`unix:///path`, no
    /// port), as the MeshExternalService docs describe. Kuma 2.14's validator
    /// rejects it ("address has to be a valid IP or hostname"); meshc compiles it
    /// to an Envoy pipe address. Use an IP or hostname to stay portable to kuma-cp.
    UNIX_SOCKET_ENDPOINT = "MESH5013", Warning, "unix socket endpoint";
    /// A MeshExternalService's TLS material cannot be used: `inline` data that is
    /// not base64, an inline `caCert` or `clientCert` that holds no PEM
    /// certificate, or an inline `clientKey` that holds no PEM private key. Kuma
    /// accepts the resource, and Envoy then refuses the cluster (a static
    /// bootstrap with it does not start).
    EXTERNAL_TLS_UNUSABLE = "MESH5014", Error, "MeshExternalService TLS material unusable";
    /// A ZoneIngress or ZoneEgress has no IP address or port to listen on (its
    /// `networking.address` is a DNS name, or `networking.port` is missing).
    /// Kuma fills the address from the running proxy; offline, Envoy needs an IP.
    /// The zone proxy is not compiled; set `networking.address` to an IP.
    ZONE_PROXY_NOT_COMPILED = "MESH5018", Warning, "zone proxy not compiled";
    /// Proxies of one zone would reach endpoints in another zone, but the input has
    /// no ZoneIngress for that zone: cross-zone traffic enters a zone through its
    /// ingress, so those endpoints are left out. Add a ZoneIngress with that `zone`
    /// (and the `advertisedAddress`/`advertisedPort` other zones reach it at).
    /// Reported once per mesh and zone.
    ZONE_INGRESS_MISSING = "MESH5015", Warning, "no ZoneIngress for a zone";
    /// The mesh routes cross-zone and external traffic through the zone egress
    /// (`routing.zoneEgress: true`), but a zone with proxies has no ZoneEgress: its
    /// proxies get no endpoints in other zones and none for MeshExternalServices.
    /// Add a ZoneEgress with that `zone`. Reported once per mesh and zone.
    ZONE_EGRESS_MISSING = "MESH5016", Warning, "no ZoneEgress for a zone";
    /// Endpoints in other zones (and MeshExternalServices behind a zone egress)
    /// need mesh mTLS: zone ingresses and egresses route by the mTLS SNI. With mTLS
    /// off they are left out. Enable `mtls` on the Mesh. Reported once per mesh and
    /// zone.
    CROSS_ZONE_NEEDS_MTLS = "MESH5017", Warning, "cross-zone traffic needs mTLS";

    // ---- MESH6001-6019: meshc fmt ------------------------------------------------------------
    /// `meshc fmt` left a document as written because it uses YAML the formatter
    /// does not rewrite: anchors and aliases, tags on mappings or lists, explicit
    /// `?` keys, multi-line keys, block scalars with keep chomping (`|+`), or a
    /// scalar or flow collection (JSON) as the whole document. The document is
    /// still read by every other command; rewrite it in plain block style to have
    /// it formatted.
    FMT_UNSUPPORTED_YAML = "MESH6001", Info, "document not formatted: unsupported YAML";
    /// `meshc fmt` left a document as written because its formatted text would not
    /// read back as the same resource. This is a bug in meshc's formatter; please
    /// report it with the document.
    FMT_UNSAFE = "MESH6002", Warning, "document not formatted: rewrite not safe";

    // ---- MESH9xxx: meshc itself ------------------------------------------------------------
    /// meshc failed internally. Please report it with the input that caused it.
    INTERNAL = "MESH9001", Error, "internal error";
}

/// Look a code up by its id (`MESH2001`).
pub fn by_id(id: &str) -> Option<Code> {
    ALL.iter().copied().find(|c| c.id.eq_ignore_ascii_case(id))
}

/// The findings table as Markdown (`--list-codes`).
pub fn markdown_table() -> String {
    table(|c| c.id.to_string())
}

/// The findings table of `docs/findings.md`: each code links to its page
/// (`docs/findings/<CODE>.md`, example and fix, generated by `tests/findings_examples.rs`).
pub fn markdown_index() -> String {
    table(|c| format!("[{id}](findings/{id}.md)", id = c.id))
}

fn table(code: impl Fn(&Code) -> String) -> String {
    let mut out = String::from(
        "# meshc finding codes\n\n\
         Generated from `src/findings/codes.rs` (`meshc validate --list-codes --format json` \
         prints the same data). Codes are stable and never reused.\n\n\
         | Code | Level | Title | Description |\n|---|---|---|---|\n",
    );
    for c in ALL {
        let doc = c.doc.replace('\n', " ").replace('|', "\\|");
        out.push_str(&format!("| {} | {} | {} | {} |\n", code(c), c.level, c.title, doc.trim()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_well_formed() {
        let mut ids: Vec<_> = ALL.iter().map(|c| c.id).collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate code id");
        for c in ALL {
            assert!(c.id.len() == 8 && c.id.starts_with("MESH"), "{}", c.id);
            assert!(c.id[4..].bytes().all(|b| b.is_ascii_digit()), "{}", c.id);
            assert!(!c.doc.trim().is_empty(), "{} has no doc", c.id);
        }
    }

    #[test]
    fn docs_findings_md_is_fresh() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/findings.md");
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        if committed != markdown_index() {
            if std::env::var_os("MESHC_BLESS").is_some() {
                std::fs::write(path, markdown_index()).unwrap();
            } else {
                panic!("docs/findings.md is stale: run `MESHC_BLESS=1 cargo test` to regenerate it");
            }
        }
    }
}
