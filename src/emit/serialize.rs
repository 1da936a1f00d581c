//! Envoy messages to canonical proto3 JSON and then to file bytes.
//!
//! A message is prost-encoded, decoded again as a `DynamicMessage` against the
//! vendored descriptor pool, and serialized by prost-reflect, which knows the
//! proto3 JSON mapping (`Any` as `{"@type": ...}`, `Duration` as `"5s"`, wrappers,
//! enums by name). We never build Envoy JSON by hand.
//!
//! Determinism: proto maps are `HashMap`s in envoy-types, so serializing straight
//! to a writer follows their random order. We serialize into a `serde_json::Value`
//! first, whose objects are `BTreeMap`s (serde_json's `preserve_order` is off), so
//! every key comes out sorted and the bytes do not depend on hashing or threads.

use prost::{Message, Name};
use prost_reflect::{DynamicMessage, SerializeOptions};
use serde_json::Value;

use super::Encoding;
use super::descriptor::pool;

/// `msg` as canonical proto3 JSON with the proto field names (snake_case, as in
/// Envoy's documentation) and default values left out.
pub fn to_value<M: Message + Name>(msg: &M) -> Result<Value, String> {
    let name = M::full_name();
    let descriptor =
        pool()?.get_message_by_name(&name).ok_or_else(|| format!("{name} is not in the vendored descriptor set"))?;
    let dynamic = DynamicMessage::decode(descriptor, msg.encode_to_vec().as_slice())
        .map_err(|e| format!("{name} does not decode against its descriptor: {e}"))?;
    let options = SerializeOptions::new().use_proto_field_name(true);
    dynamic.serialize_with_options(serde_json::value::Serializer, &options).map_err(|e| format!("{name}: {e}"))
}

/// The bytes of one output file: pretty JSON or block YAML, ending in a newline.
pub fn to_bytes(value: &Value, encoding: Encoding) -> Result<Vec<u8>, String> {
    let mut text = match encoding {
        Encoding::Json => serde_json::to_string_pretty(value).map_err(|e| e.to_string())?,
        Encoding::Yaml => serde_saphyr::to_string_with_options(value, yaml_options()).map_err(|e| e.to_string())?,
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text.into_bytes())
}

/// Plain and quoted scalars only: folded (`>`) scalars re-wrap long strings at
/// spaces, which every reader must undo exactly; quoting cannot be misread. The
/// YAML 1.1 spellings Envoy's YAML reader takes for booleans and numbers (`yes`,
/// `on`, `0x10`, ...) stay quoted when they are strings (serde-saphyr's default).
fn yaml_options() -> serde_saphyr::SerializerOptions {
    let mut options = serde_saphyr::SerializerOptions::default();
    options.prefer_block_scalars = false;
    options
}

#[cfg(test)]
mod tests {
    use super::*;
    use envoy_types::pb::envoy::config::bootstrap::v3::Bootstrap;
    use prost_reflect::DynamicMessage;

    use crate::emit::sample;

    /// JSON back into a `Bootstrap`, through the same pool: proves every type URL
    /// inside resolved and the mapping is lossless.
    fn from_value(value: &Value) -> Bootstrap {
        let descriptor = pool().unwrap().get_message_by_name(&Bootstrap::full_name()).unwrap();
        let dynamic = DynamicMessage::deserialize(descriptor, value.clone()).expect("deserialize");
        dynamic.transcode_to::<Bootstrap>().expect("transcode")
    }

    #[test]
    fn any_packed_configs_round_trip() {
        let bootstrap = sample::every_filter_bootstrap();
        let value = to_value(&bootstrap).expect("serialize");
        let text = value.to_string();
        for type_url in [
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            "envoy.extensions.filters.http.router.v3.Router",
            "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
            "envoy.extensions.filters.network.rbac.v3.RBAC",
            "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
            "envoy.extensions.filters.udp.dns_filter.v3.DnsFilterConfig",
        ] {
            assert!(text.contains(&format!("\"@type\":\"type.googleapis.com/{type_url}\"")), "{type_url}");
        }
        assert!(text.contains("\"connect_timeout\":\"5s\""), "Duration is canonical: {text}");
        assert_eq!(to_value(&from_value(&value)).unwrap(), value);
    }

    #[test]
    fn map_fields_serialize_identically_every_time() {
        let bootstrap = sample::every_filter_bootstrap();
        let first = to_bytes(&to_value(&bootstrap).unwrap(), Encoding::Yaml).unwrap();
        for _ in 0..20 {
            // A fresh HashMap each time: a new random iteration order.
            let again = sample::every_filter_bootstrap();
            assert_eq!(to_bytes(&to_value(&again).unwrap(), Encoding::Yaml).unwrap(), first);
        }
    }

    #[test]
    fn json_keys_are_sorted() {
        // Guards against a dependency turning on serde_json's `preserve_order`.
        let value: Value = serde_json::from_str(r#"{"b":1,"a":2}"#).unwrap();
        assert_eq!(value.to_string(), r#"{"a":2,"b":1}"#);
    }

    #[test]
    fn ambiguous_yaml_strings_stay_strings() {
        let value = serde_json::json!({"s": ["yes", "on", "true", "null", "~", "0x10", "1e3", "5", "", "a: b", "#x"]});
        let yaml = String::from_utf8(to_bytes(&value, Encoding::Yaml).unwrap()).unwrap();
        for line in yaml.lines().skip(1) {
            let item = line.trim_start().trim_start_matches("- ");
            assert!(item.starts_with('\'') || item.starts_with('"'), "unquoted: {line}");
        }
    }

    #[test]
    fn files_end_with_a_newline() {
        let value = serde_json::json!({"a": 1});
        for encoding in [Encoding::Json, Encoding::Yaml] {
            assert!(to_bytes(&value, encoding).unwrap().ends_with(b"\n"));
        }
    }
}
