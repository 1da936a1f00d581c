//! `--format xds`: the listeners and clusters move out of the bootstrap into two
//! `DiscoveryResponse` files that Envoy reads through file-based LDS and CDS
//! (`path_config_source`), so they can be replaced without a restart.

use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
use envoy_types::pb::envoy::config::bootstrap::v3::bootstrap::DynamicResources;
use envoy_types::pb::envoy::config::cluster::v3::Cluster;
use envoy_types::pb::envoy::config::core::v3::{ApiVersion, ConfigSource, PathConfigSource, config_source};
use envoy_types::pb::envoy::config::listener::v3::Listener;
use envoy_types::pb::envoy::service::discovery::v3::DiscoveryResponse;
use envoy_types::util::pack_any;
use prost::Name;
use serde_json::Value;

use super::manifest::sha256_hex;
use super::serialize::to_value;

/// A bootstrap split for file-based xDS.
pub struct Split {
    /// The bootstrap without listeners and clusters, pointing at the two files.
    pub bootstrap: Bootstrap,
    pub lds: DiscoveryResponse,
    pub cds: DiscoveryResponse,
}

/// Moves the static listeners and clusters into LDS/CDS responses read from
/// `lds_path` and `cds_path` (as Envoy will see them: relative paths are
/// relative to Envoy's working directory). Static secrets stay in the bootstrap.
pub fn split(mut bootstrap: Bootstrap, lds_path: String, cds_path: String) -> Split {
    let mut statics = bootstrap.static_resources.take().unwrap_or_default();
    let listeners = std::mem::take(&mut statics.listeners);
    let clusters = std::mem::take(&mut statics.clusters);
    if statics != Default::default() {
        bootstrap.static_resources = Some(statics);
    }
    let dynamic = bootstrap.dynamic_resources.get_or_insert_with(DynamicResources::default);
    dynamic.lds_config = Some(path_source(lds_path));
    dynamic.cds_config = Some(path_source(cds_path));
    Split {
        bootstrap,
        lds: response(Listener::type_url(), listeners.into_iter().map(pack_any).collect()),
        cds: response(Cluster::type_url(), clusters.into_iter().map(pack_any).collect()),
    }
}

fn path_source(path: String) -> ConfigSource {
    ConfigSource {
        resource_api_version: ApiVersion::V3 as i32,
        config_source_specifier: Some(config_source::ConfigSourceSpecifier::PathConfigSource(PathConfigSource {
            path,
            ..Default::default()
        })),
        ..Default::default()
    }
}

fn response(type_url: String, resources: Vec<envoy_types::pb::google::protobuf::Any>) -> DiscoveryResponse {
    DiscoveryResponse { type_url, resources, ..Default::default() }
}

/// The response as proto3 JSON with `version_info` set to the SHA-256 of its
/// canonical compact JSON without it: the same resources always get the same
/// version, whatever the file encoding, and any change gets a new one.
pub fn versioned(response: &DiscoveryResponse) -> Result<Value, String> {
    let mut unversioned = response.clone();
    unversioned.version_info.clear();
    let mut value = to_value(&unversioned)?;
    let canonical = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
    let object = value.as_object_mut().ok_or("a DiscoveryResponse serialized to a non-object")?;
    object.insert("version_info".into(), Value::String(sha256_hex(&canonical)));
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emit::sample;

    #[test]
    fn listeners_and_clusters_move_out() {
        let split = split(sample::every_filter_bootstrap(), "out/lds.yaml".into(), "out/cds.yaml".into());
        assert_eq!(split.bootstrap.static_resources, None);
        assert_eq!(split.lds.resources.len(), 3);
        assert_eq!(split.cds.resources.len(), 1);
        assert!(split.lds.resources.iter().all(|r| r.type_url == split.lds.type_url));
        let dynamic = split.bootstrap.dynamic_resources.expect("dynamic resources");
        let lds = dynamic.lds_config.expect("lds");
        assert_eq!(lds.resource_api_version, ApiVersion::V3 as i32);
        assert!(matches!(lds.config_source_specifier,
            Some(config_source::ConfigSourceSpecifier::PathConfigSource(p)) if p.path == "out/lds.yaml"));
    }

    #[test]
    fn version_is_the_content_hash_set_through_the_real_field() {
        let split = split(sample::http_bootstrap("a"), "l".into(), "c".into());
        let value = versioned(&split.cds).unwrap();
        let version = value["version_info"].as_str().unwrap().to_string();
        assert_eq!(version.len(), 64);
        // Same as setting the proto field itself: the key is the real field name.
        let mut with_field = split.cds.clone();
        with_field.version_info = version;
        assert_eq!(to_value(&with_field).unwrap(), value);
        // A different cluster set gets a different version.
        let other = crate::emit::xds::split(sample::every_filter_bootstrap(), "l".into(), "c".into());
        assert_ne!(versioned(&other.lds).unwrap()["version_info"], versioned(&split.lds).unwrap()["version_info"]);
    }
}
