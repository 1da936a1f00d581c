//! MeshMultiZoneService (`pkg/core/resources/apis/meshmultizoneservice/`): one
//! service made of the MeshServices of several zones (reference §6.2).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::findings::codes;
use crate::model::common::StringMap;
use crate::model::mesh_service::default_app_protocol;
use crate::model::{KindSpec, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// Application protocols Kuma supports (`mesh.SupportedProtocols`, sorted).
const SUPPORTED_PROTOCOLS: &[&str] = &["grpc", "http", "http2", "kafka", "tcp"];

/// MeshMultiZoneService spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshMultiZoneService {
    /// Which MeshServices (of any zone) this service is made of.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub selector: Option<Selector>,
    /// Ports of the selected MeshServices that this service exposes.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required, length(min = 1))]
    pub ports: Option<Vec<Port>>,
}

/// Selection of MeshServices.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Selector {
    /// MeshServices selected by their labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub mesh_service: Option<LabelSelector>,
}

/// Resources selected by labels.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct LabelSelector {
    /// Labels a selected resource must all have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<StringMap>,
}

/// A port of a MeshMultiZoneService.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Port {
    /// Name of the port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port number (matched against the selected MeshServices' ports).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub port: Option<i64>,
    /// Protocol of the port (grpc, http, http2, kafka, tcp); default tcp.
    #[serde(default = "default_app_protocol")]
    pub app_protocol: String,
}

impl KindSpec for MeshMultiZoneService {
    fn validate(&self, _ctx: &ValidateCtx, v: &mut Violations) {
        let root = Path::root();
        let labels = self.selector.as_ref().and_then(|s| s.mesh_service.as_ref()).and_then(|m| m.match_labels.as_ref());
        if labels.is_none_or(|l| l.is_empty()) {
            let p = root.field("selector").field("meshService").field("matchLabels");
            v.add_code(codes::KUMA_REQUIRED, &p, "cannot be empty");
        }
        let ports = self.ports.as_deref().unwrap_or_default();
        if ports.is_empty() {
            v.add_code(codes::KUMA_REQUIRED, &root.field("ports"), "cannot be empty");
        }
        for (i, port) in ports.iter().enumerate() {
            let p = root.field("ports").index(i);
            if port.name.as_deref() == Some("") {
                v.add_code(codes::KUMA_REQUIRED, &p.field("name"), msg::MUST_NOT_BE_EMPTY);
            }
            if !SUPPORTED_PROTOCOLS.contains(&port.app_protocol.as_str()) {
                let message = format!("appProtocol must be one of: {}", SUPPORTED_PROTOCOLS.join(", "));
                v.add_code(codes::KUMA_ENUM, &p.field("appProtocol"), message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::model::testing::meta;
    use crate::model::{Kind, PolicyRole};

    fn check(spec: Value) -> Vec<(String, String)> {
        crate::model::testing::check::<MeshMultiZoneService>(
            &meta(Kind::MeshMultiZoneService, "mzsvc"),
            PolicyRole::System,
            spec,
        )
    }

    fn pair(f: &str, m: &str) -> (String, String) {
        (f.to_string(), m.to_string())
    }

    #[test]
    fn empty_port_name() {
        let got = check(json!({
            "selector": {"meshService": {"matchLabels": {"app": "xyz"}}},
            "ports": [{"port": 123, "name": "", "appProtocol": "tcp"}]
        }));
        assert_eq!(got, vec![pair("spec.ports[0].name", "must not be empty")]);
    }

    #[test]
    fn unsupported_protocol() {
        let got = check(json!({
            "selector": {"meshService": {"matchLabels": {"app": "xyz"}}},
            "ports": [{"port": 123, "appProtocol": "not_supported"}]
        }));
        assert_eq!(
            got,
            vec![pair("spec.ports[0].appProtocol", "appProtocol must be one of: grpc, http, http2, kafka, tcp")]
        );
    }

    #[test]
    fn empty_spec() {
        assert_eq!(
            check(json!({})),
            vec![
                pair("spec.selector.meshService.matchLabels", "cannot be empty"),
                pair("spec.ports", "cannot be empty")
            ]
        );
        assert_eq!(
            check(json!({"selector": {"meshService": {"matchLabels": {}}}, "ports": []})),
            vec![
                pair("spec.selector.meshService.matchLabels", "cannot be empty"),
                pair("spec.ports", "cannot be empty")
            ]
        );
    }

    #[test]
    fn valid_with_default_protocol() {
        let spec = json!({"selector": {"meshService": {"matchLabels": {"app": "xyz"}}}, "ports": [{"port": 123}]});
        assert!(check(spec.clone()).is_empty());
        let parsed: MeshMultiZoneService = serde_json::from_value(spec).unwrap();
        assert_eq!(parsed.ports.unwrap()[0].app_protocol, "tcp");
    }
}
