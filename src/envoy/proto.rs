//! Small constructors for the envoy-types messages every module uses.

use envoy_types::pb::envoy::config::core::v3::{Address, Metadata, SocketAddress, address, socket_address};
use envoy_types::pb::envoy::config::listener::v3::{Filter, filter};
use envoy_types::pb::google::protobuf::{Any, Duration, Struct, Value, value};
use prost::{Message, Name};

use crate::model::common::StringMap;

pub fn any<T: Name + Message>(msg: T) -> Any {
    envoy_types::util::pack_any(msg)
}

pub fn secs(s: i64) -> Duration {
    Duration { seconds: s, nanos: 0 }
}

pub fn socket(ip: &str, port: u32) -> Address {
    socket_proto(ip, port, socket_address::Protocol::Tcp)
}

pub fn udp_socket(ip: &str, port: u32) -> Address {
    socket_proto(ip, port, socket_address::Protocol::Udp)
}

fn socket_proto(ip: &str, port: u32, protocol: socket_address::Protocol) -> Address {
    Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_string(),
            protocol: protocol as i32,
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    }
}

/// A network filter with a typed config.
pub fn network_filter<T: Name + Message>(name: &str, config: T) -> Filter {
    Filter { name: name.to_string(), config_type: Some(filter::ConfigType::TypedConfig(any(config))) }
}

/// `filter_metadata[key]` = the string map.
pub fn metadata(key: &str, values: &StringMap) -> Metadata {
    let fields =
        values.iter().map(|(k, v)| (k.clone(), Value { kind: Some(value::Kind::StringValue(v.clone())) })).collect();
    Metadata { filter_metadata: [(key.to_string(), Struct { fields })].into(), ..Default::default() }
}

/// Kuma's stat-prefix sanitizing: every character outside `[a-zA-Z0-9_-]` becomes `_`.
pub fn sanitize(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect()
}
