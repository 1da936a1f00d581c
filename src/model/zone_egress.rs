//! ZoneEgress (`api/mesh/v1alpha1/zoneegress.proto`): the proxy that carries
//! cross-zone and external traffic out of a zone. Validator:
//! `pkg/core/resources/apis/mesh/zone_egress_validator.go` (reference §6.7).
//!
//! Legacy proto kind: protobuf JSON names, Kuma's paths without `spec.`.

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::dataplane::{EnvoyAdmin, overlap, validate_address, validate_port};
use crate::model::{KindSpec, ValidateCtx};
use crate::validate::violations::{Path, Violations};

/// ZoneEgress spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ZoneEgress {
    /// Zone the egress serves; set automatically by the global control plane.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Address and port the egress listens on.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub networking: Option<ZoneEgressNetworking>,
}

/// Networking of a zone egress.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct ZoneEgressNetworking {
    /// Address the egress listener is exposed on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// Port of the egress listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i64>,
    /// Envoy Admin API configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin: Option<EnvoyAdmin>,
}

impl ZoneEgress {
    pub fn address(&self) -> &str {
        self.networking.as_ref().and_then(|n| n.address.as_deref()).unwrap_or_default()
    }

    pub fn port(&self) -> i64 {
        self.networking.as_ref().and_then(|n| n.port).unwrap_or(0)
    }

    /// Kuma's `UsesInboundInterface` for a zone egress.
    pub fn uses_inbound_interface(&self, ip: IpAddr, port: i64) -> bool {
        port == self.port() && overlap(ip, self.address())
    }
}

impl KindSpec for ZoneEgress {
    fn validate(&self, _ctx: &ValidateCtx, v: &mut Violations) {
        let path = Path::root().field("networking");
        let empty = ZoneEgressNetworking::default();
        let n = self.networking.as_ref().unwrap_or(&empty);
        if let Some(admin) = &n.admin
            && self.uses_inbound_interface(IpAddr::from([127, 0, 0, 1]), admin.port.unwrap_or(0))
        {
            v.add_code(crate::findings::codes::BAD_PORT, &path.field("admin").field("port"), "must differ from port");
        }
        if let Some(a) = n.address.as_deref().filter(|s| !s.is_empty()) {
            validate_address(v, &path.field("address"), Some(a));
        }
        validate_port(v, &path.field("port"), n.port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use crate::model::PolicyRole;
    use crate::model::dataplane::PORT_RANGE;
    use crate::model::testing::{check, meta, pairs};

    fn ze(spec: serde_json::Value) -> Vec<(String, String)> {
        check::<ZoneEgress>(&meta(Kind::ZoneEgress, "x"), PolicyRole::System, spec)
    }

    #[test]
    fn valid() {
        for c in [
            serde_json::json!({"networking": {"address": "192.168.0.1", "port": 10002}}),
            serde_json::json!({"zone": "zone-1", "networking": {"address": "192.168.0.1", "port": 10001, "admin": {"port": 10001}}}),
            serde_json::json!({"networking": {"address": "egress.example.com", "port": 10002, "admin": {"port": 9901}}}),
        ] {
            assert_eq!(ze(c.clone()), vec![], "{c}");
        }
    }

    #[test]
    fn no_port() {
        assert_eq!(
            ze(serde_json::json!({"networking": {"address": "192.168.0.1"}})),
            pairs(&[("networking.port", PORT_RANGE)])
        );
    }

    #[test]
    fn admin_port_equal_to_port() {
        let got =
            ze(serde_json::json!({"networking": {"admin": {"port": 10001}, "address": "127.0.0.1", "port": 10001}}));
        assert_eq!(got, pairs(&[("networking.admin.port", "must differ from port")]));
        let got =
            ze(serde_json::json!({"networking": {"admin": {"port": 10001}, "address": "0.0.0.0", "port": 10001}}));
        assert_eq!(
            got,
            pairs(&[
                ("networking.admin.port", "must differ from port"),
                ("networking.address.address", "must not be 0.0.0.0 or ::"),
            ])
        );
    }

    #[test]
    fn invalid_address() {
        let got = ze(serde_json::json!({"networking": {"address": "!@#", "port": 70000}}));
        assert_eq!(
            got,
            pairs(&[
                ("networking.address.address", "address has to be valid IP address or domain name"),
                ("networking.port", PORT_RANGE),
            ])
        );
    }
}
