//! ZoneIngress (`api/mesh/v1alpha1/zone_ingress.proto`): the proxy that receives
//! cross-zone traffic and routes it by SNI. Validator:
//! `pkg/core/resources/apis/mesh/zone_ingress_validator.go` (reference §6.7).
//!
//! Legacy proto kind: protobuf JSON names, Kuma's paths without `spec.`.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::common::{SERVICE_TAG, StringMap, TagOpts, validate_tags};
use crate::model::dataplane::{EnvoyAdmin, lenient_map, overlap, validate_address, validate_port};
use crate::model::{KindSpec, ValidateCtx};
use crate::validate::violations::{Path, Violations};

/// ZoneIngress spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ZoneIngress {
    /// Zone the ingress serves; set automatically by the global control plane.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Address and port to listen on, and the publicly advertised pair.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub networking: Option<ZoneIngressNetworking>,
    /// Services reachable through this ingress; computed by Kuma.
    #[serde(alias = "available_services", default, skip_serializing_if = "Vec::is_empty")]
    pub available_services: Vec<AvailableService>,
}

/// Networking of a zone ingress.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ZoneIngressNetworking {
    /// Address the ingress listener is exposed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// IP or DNS name other zones reach this ingress at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertised_address: Option<String>,
    /// Port of the ingress listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i64>,
    /// Port other zones reach this ingress at.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 65535))]
    pub advertised_port: Option<i64>,
    /// Envoy Admin API configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<EnvoyAdmin>,
}

/// A unique subset of endpoints reachable through the ingress (computed by Kuma).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct AvailableService {
    /// Tags of the endpoints.
    #[serde(default, deserialize_with = "lenient_map", skip_serializing_if = "StringMap::is_empty")]
    pub tags: StringMap,
    /// Number of instances with these tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instances: Option<i64>,
    /// Mesh of the instances.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mesh: Option<String>,
    /// Whether the service is an ExternalService.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_service: Option<bool>,
}

impl ZoneIngress {
    pub fn address(&self) -> &str {
        self.networking.as_ref().and_then(|n| n.address.as_deref()).unwrap_or_default()
    }

    pub fn port(&self) -> i64 {
        self.networking.as_ref().and_then(|n| n.port).unwrap_or(0)
    }

    /// The address other zones use: `advertisedAddress`, else `address`.
    pub fn public_address(&self) -> &str {
        self.networking
            .as_ref()
            .and_then(|n| n.advertised_address.as_deref())
            .filter(|s| !s.is_empty())
            .unwrap_or(self.address())
    }

    /// The port other zones use: `advertisedPort`, else `port`.
    pub fn public_port(&self) -> i64 {
        self.networking.as_ref().and_then(|n| n.advertised_port).filter(|p| *p != 0).unwrap_or(self.port())
    }

    /// Kuma's `UsesInboundInterface` for a zone ingress.
    pub fn uses_inbound_interface(&self, ip: IpAddr, port: i64) -> bool {
        let Some(n) = &self.networking else {
            return false;
        };
        (port == n.port.unwrap_or(0) && overlap(ip, n.address.as_deref().unwrap_or_default()))
            || (port == n.advertised_port.unwrap_or(0)
                && overlap(ip, n.advertised_address.as_deref().unwrap_or_default()))
    }
}

impl AvailableService {
    pub fn service(&self) -> Option<&str> {
        self.tags.get(SERVICE_TAG).map(String::as_str)
    }
}

impl KindSpec for ZoneIngress {
    fn validate(&self, _ctx: &ValidateCtx, v: &mut Violations) {
        let path = Path::root().field("networking");
        let empty = ZoneIngressNetworking::default();
        let n = self.networking.as_ref().unwrap_or(&empty);
        if let Some(admin) = &n.admin
            && self.uses_inbound_interface(IpAddr::from([127, 0, 0, 1]), admin.port.unwrap_or(0))
        {
            v.add_code(crate::findings::codes::BAD_PORT, &path.field("admin").field("port"), "must differ from port");
        }
        let advertised_address = n.advertised_address.as_deref().unwrap_or_default();
        let advertised_port = n.advertised_port.unwrap_or(0);
        if advertised_address.is_empty() && advertised_port != 0 {
            v.add(&path.field("advertisedAddress"), "has to be defined with advertisedPort");
        }
        if advertised_port == 0 && !advertised_address.is_empty() {
            v.add(&path.field("advertisedPort"), "has to be defined with advertisedAddress");
        }
        if let Some(a) = n.address.as_deref().filter(|s| !s.is_empty()) {
            validate_address(v, &path.field("address"), Some(a));
        }
        if !advertised_address.is_empty() {
            validate_address(v, &path.field("advertisedAddress"), Some(advertised_address));
        }
        validate_port(v, &path.field("port"), n.port);
        if advertised_port != 0 {
            validate_port(v, &path.field("advertisedPort"), n.advertised_port);
        }
        let services = Path::root().field("availableService");
        let opts = TagOpts { require_service: true, ..Default::default() };
        for (i, s) in self.available_services.iter().enumerate() {
            validate_tags(v, &services.index(i).field("tags"), &s.tags, opts, |_, _, _| {});
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use crate::model::PolicyRole;
    use crate::model::dataplane::PORT_RANGE;
    use crate::model::testing::{check, meta, pairs};

    fn zi(spec: serde_json::Value) -> Vec<(String, String)> {
        check::<ZoneIngress>(&meta(Kind::ZoneIngress, "x"), PolicyRole::System, spec)
    }

    fn services() -> serde_json::Value {
        serde_json::json!([{"tags": {"kuma.io/service": "backend", "version": "1", "region": "us"}},
                           {"tags": {"kuma.io/service": "web", "version": "v2", "region": "eu"}}])
    }

    #[test]
    fn valid() {
        for c in [
            serde_json::json!({"networking": {"address": "192.168.0.1", "advertisedAddress": "10.0.0.1", "port": 10001, "advertisedPort": 1234},
                "availableServices": services()}),
            serde_json::json!({"networking": {"address": "192.168.0.1", "advertisedAddress": "::ffff:0a00:0001", "port": 10001, "advertisedPort": 1234}}),
            serde_json::json!({"networking": {"address": "192.168.0.1", "port": 10001}, "availableServices": []}),
            serde_json::json!({"zone": "zone-1", "networking": {"admin": {"port": 10001}, "address": "192.168.0.1",
                "advertisedAddress": "10.0.0.1", "port": 10001, "advertisedPort": 1234}, "availableServices": services()}),
        ] {
            assert_eq!(zi(c.clone()), vec![], "{c}");
        }
    }

    #[test]
    fn no_port() {
        let got = zi(
            serde_json::json!({"networking": {"address": "192.168.0.1", "advertisedAddress": "10.0.0.1", "advertisedPort": 1234},
            "availableServices": services()}),
        );
        assert_eq!(got, pairs(&[("networking.port", PORT_RANGE)]));
    }

    #[test]
    fn invalid_advertised_and_services() {
        let got = zi(
            serde_json::json!({"networking": {"address": "192.168.0.1", "advertisedAddress": "!@#", "port": 10001, "advertisedPort": 100000},
            "availableServices": [
                {"tags": {"kuma.io/service": "backend", "version": "1", "region": "us"}},
                {"tags": {"kuma.io/service": "web", "version": "v2", "region": "eu"}},
                {"tags": {"version": "v2", "region": "eu"}},
                {"tags": {"kuma.io/service": ""}},
                {"tags": {"version": ""}}]}),
        );
        assert_eq!(
            got,
            pairs(&[
                ("networking.advertisedAddress.address", "address has to be valid IP address or domain name"),
                ("networking.advertisedPort", PORT_RANGE),
                ("availableService[2].tags", "mandatory tag \"kuma.io/service\" is missing"),
                ("availableService[3].tags[\"kuma.io/service\"]", "tag value must be non-empty"),
                ("availableService[4].tags[\"version\"]", "tag value must be non-empty"),
                ("availableService[4].tags", "mandatory tag \"kuma.io/service\" is missing"),
            ])
        );
    }

    #[test]
    fn advertised_pair_and_admin() {
        let got = zi(serde_json::json!({"networking": {"admin": {"port": 10001}, "address": "127.0.0.1",
            "advertisedAddress": "10.0.0.1", "port": 10001, "advertisedPort": 1234}}));
        assert_eq!(got, pairs(&[("networking.admin.port", "must differ from port")]));
        let got =
            zi(serde_json::json!({"networking": {"address": "192.168.0.1", "port": 10001, "advertisedPort": 1234}}));
        assert_eq!(got, pairs(&[("networking.advertisedAddress", "has to be defined with advertisedPort")]));
        let got = zi(
            serde_json::json!({"networking": {"address": "192.168.0.1", "port": 10001, "advertisedAddress": "1.1.1.1"}}),
        );
        assert_eq!(got, pairs(&[("networking.advertisedPort", "has to be defined with advertisedAddress")]));
    }

    #[test]
    fn helpers() {
        let z: ZoneIngress =
            serde_json::from_value(serde_json::json!({"networking": {"address": "192.168.0.1", "port": 10001,
            "advertisedAddress": "10.0.0.1", "advertisedPort": 1234}, "availableServices": services()}))
            .unwrap();
        assert_eq!((z.public_address(), z.public_port()), ("10.0.0.1", 1234));
        assert_eq!(z.available_services[0].service(), Some("backend"));
    }
}
