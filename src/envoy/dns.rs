//! The DNS listener of a transparent proxy: Envoy's DNS filter answers every
//! hostname of a reachable service with its VIPs (what kuma-dp's DNS proxy does)
//! and resolves every other name with the host's resolvers.

use envoy_types::pb::envoy::config::core::v3::TypedExtensionConfig;
use envoy_types::pb::envoy::config::listener::v3::{Listener, ListenerFilter, UdpListenerConfig, listener_filter};
use envoy_types::pb::envoy::data::dns::v3::{DnsTable, dns_table};
use envoy_types::pb::envoy::extensions::filters::udp::dns_filter::v3::{DnsFilterConfig, dns_filter_config};
use envoy_types::pb::envoy::extensions::network::dns_resolver::cares::v3::CaresDnsResolverConfig;

use super::defaults::DNS_TTL_SECS;
use super::proto::{any, secs, udp_socket};
use crate::plan::DnsPlan;

const DNS_FILTER: &str = "envoy.filters.udp.dns_filter";
/// Kuma's name of the DNS listener.
pub const LISTENER_NAME: &str = "kuma:dns";

pub fn listener(dns: &DnsPlan) -> Listener {
    let virtual_domains = dns
        .records
        .iter()
        .map(|(name, vips)| dns_table::DnsVirtualDomain {
            name: name.clone(),
            endpoint: Some(dns_table::DnsEndpoint {
                endpoint_config: Some(dns_table::dns_endpoint::EndpointConfig::AddressList(dns_table::AddressList {
                    address: vips.iter().map(|v| v.to_string()).collect(),
                })),
            }),
            answer_ttl: Some(secs(DNS_TTL_SECS)),
        })
        .collect();
    let config = DnsFilterConfig {
        stat_prefix: "kuma_dns".to_string(),
        server_config: Some(dns_filter_config::ServerContextConfig {
            config_source: Some(dns_filter_config::server_context_config::ConfigSource::InlineDnsTable(DnsTable {
                virtual_domains,
                ..Default::default()
            })),
        }),
        client_config: Some(dns_filter_config::ClientContextConfig {
            resolver_timeout: Some(secs(5)),
            typed_dns_resolver_config: Some(TypedExtensionConfig {
                name: "envoy.network.dns_resolver.cares".to_string(),
                typed_config: Some(any(CaresDnsResolverConfig::default())),
            }),
            max_pending_lookups: 256,
            ..Default::default()
        }),
        ..Default::default()
    };
    Listener {
        name: LISTENER_NAME.to_string(),
        address: Some(udp_socket("127.0.0.1", dns.port)),
        udp_listener_config: Some(UdpListenerConfig::default()),
        listener_filters: vec![ListenerFilter {
            name: DNS_FILTER.to_string(),
            config_type: Some(listener_filter::ConfigType::TypedConfig(any(config))),
            ..Default::default()
        }],
        ..Default::default()
    }
}
