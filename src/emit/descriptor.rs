//! The protobuf descriptors of every Envoy message meshc can emit.
//!
//! envoy-types generates Rust structs but exports no descriptor set, and canonical
//! proto3 JSON (field names, `Any` as `{"@type": ...}`, `Duration` as `"5s"`) needs
//! one. The crate ships its `src/generated/types.bin` in the package, so we vendor
//! that file with `source_code_info` stripped (3.4 MB -> about 0.65 MB) as
//! `assets/envoy-types-<version>.desc`. It must match the pinned `envoy-types`
//! version (`=0.7.7` in Cargo.toml); after bumping it, regenerate with
//! `scripts/vendor-descriptor.sh` (which runs the ignored test
//! `emit::descriptor::tests::regenerate_vendored_descriptor`).

use std::sync::LazyLock;

use prost::Message;
use prost_reflect::DescriptorPool;
use prost_reflect::prost_types::FileDescriptorSet;

/// The envoy-types version the vendored descriptor set was taken from.
pub const ENVOY_TYPES_VERSION: &str = "0.7.7";

/// The vendored, stripped descriptor set.
static DESCRIPTOR_SET: &[u8] = include_bytes!("../../assets/envoy-types-0.7.7.desc");

static POOL: LazyLock<Result<DescriptorPool, String>> =
    LazyLock::new(|| DescriptorPool::decode(DESCRIPTOR_SET).map_err(|e| e.to_string()));

/// The shared descriptor pool, decoded once per process (about 30 ms). It is
/// `Send + Sync`, so every rayon worker uses the same one.
pub fn pool() -> Result<&'static DescriptorPool, String> {
    POOL.as_ref().map_err(|e| format!("the vendored Envoy descriptor set is corrupt ({e}); this is a meshc bug"))
}

/// `types.bin` as envoy-types ships it, minus the source comments: the file order
/// and every descriptor are kept, so the result is a byte-for-byte function of the input.
pub fn strip_source_info(types_bin: &[u8]) -> Result<Vec<u8>, prost::DecodeError> {
    let mut set = FileDescriptorSet::decode(types_bin)?;
    for file in &mut set.file {
        file.source_code_info = None;
    }
    Ok(set.encode_to_vec())
}

/// Where cargo unpacked envoy-types, if it did (only used to check and regenerate
/// the vendored copy).
#[cfg(test)]
fn registry_types_bin() -> Option<std::path::PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")))?;
    let pattern = format!(
        "{}/registry/src/*/envoy-types-{ENVOY_TYPES_VERSION}/src/generated/types.bin",
        glob::Pattern::escape(&home.to_string_lossy())
    );
    glob::glob(&pattern).ok()?.flatten().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_decodes_and_has_what_we_emit() {
        let pool = pool().expect("pool");
        for name in [
            "envoy.config.bootstrap.v3.Bootstrap",
            "envoy.service.discovery.v3.DiscoveryResponse",
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "envoy.extensions.filters.network.rbac.v3.RBAC",
            "envoy.extensions.filters.http.router.v3.Router",
            "envoy.extensions.filters.udp.dns_filter.v3.DnsFilterConfig",
            "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            "envoy.extensions.transport_sockets.tls.v3.Secret",
        ] {
            assert!(pool.get_message_by_name(name).is_some(), "{name} missing from the descriptor set");
        }
    }

    /// The vendored file is exactly the stripped `types.bin` of the pinned crate
    /// (checked when cargo's registry copy is on this machine).
    #[test]
    fn vendored_descriptor_matches_the_crate() {
        let Some(path) = registry_types_bin() else {
            eprintln!("note: envoy-types {ENVOY_TYPES_VERSION} sources not found; vendored descriptor not re-checked");
            return;
        };
        let raw = std::fs::read(&path).expect("read types.bin");
        let stripped = strip_source_info(&raw).expect("decode types.bin");
        assert!(
            stripped == DESCRIPTOR_SET,
            "assets/envoy-types-{ENVOY_TYPES_VERSION}.desc is stale: run scripts/vendor-descriptor.sh"
        );
    }

    /// Not a test: the tool behind `scripts/vendor-descriptor.sh`.
    #[test]
    #[ignore = "writes assets/; run through scripts/vendor-descriptor.sh"]
    fn regenerate_vendored_descriptor() {
        let src = std::env::var_os("MESHC_TYPES_BIN")
            .map(std::path::PathBuf::from)
            .or_else(registry_types_bin)
            .expect("set MESHC_TYPES_BIN to envoy-types' src/generated/types.bin");
        let raw = std::fs::read(&src).expect("read types.bin");
        let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(format!("assets/envoy-types-{ENVOY_TYPES_VERSION}.desc"));
        std::fs::write(&out, strip_source_info(&raw).expect("decode types.bin")).expect("write descriptor");
        eprintln!("wrote {} from {}", out.display(), src.display());
    }
}
