//! MeshService (`pkg/core/resources/apis/meshservice/`): a service of a mesh, the
//! proxies that implement it (selector) and the ports it exposes (reference §6.1).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::findings::codes;
use crate::kuma_enum;
use crate::model::choice::Choice;
use crate::model::common::{IntOrString, StringMap};
use crate::model::{KindSpec, ValidateCtx};
use crate::validate::violations::{Path, Violations};

/// Longest name (display name) Kuma accepts for MeshService, MeshExternalService
/// and MeshMultiZoneService (`maxNameLength`): they become DNS labels.
pub(crate) const MAX_NAME_LENGTH: usize = 63;

/// Kuma's `ValidateLength(RootedAt("name"), 63, displayName)`.
pub(crate) fn validate_name_length(ctx: &ValidateCtx, v: &mut Violations) {
    if ctx.meta.display_name().chars().count() > MAX_NAME_LENGTH {
        v.add_code(
            codes::BAD_NAME,
            &Path::resource_name(),
            format!("must not be longer than {MAX_NAME_LENGTH} characters"),
        );
    }
}

/// The default application protocol of a port.
pub(crate) fn default_app_protocol() -> String {
    "tcp".to_string()
}

/// MeshService spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshService {
    /// Which data plane proxies implement this service (at most one way of selecting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<Selector>,
    /// Ports the service exposes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<Port>>,
    /// Identities the service's proxies present (used as the allowed SANs of upstream TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identities: Option<Vec<Identity>>,
    /// Available if there is at least one healthy endpoint, otherwise Unavailable;
    /// used when the service is aggregated into a MeshMultiZoneService.
    #[serde(default = "default_state")]
    pub state: Choice<State>,
}

impl Default for MeshService {
    fn default() -> Self {
        MeshService { selector: None, ports: None, identities: None, state: default_state() }
    }
}

kuma_enum! {
    /// Whether a MeshService has healthy endpoints.
    pub enum State { Available = "Available", Unavailable = "Unavailable" }
}

fn default_state() -> Choice<State> {
    Choice::Known(State::Unavailable)
}

/// How a MeshService selects its data plane proxies.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Selector {
    /// Proxies with an inbound whose tags contain all these tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataplane_tags: Option<StringMap>,
    /// One proxy, by Dataplane name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataplane_ref: Option<DataplaneRef>,
    /// Proxies whose Dataplane resource has all these labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataplane_labels: Option<DataplaneLabels>,
}

/// A Dataplane by name.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct DataplaneRef {
    /// Name of the Dataplane.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Dataplanes selected by their resource labels.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct DataplaneLabels {
    /// Labels a Dataplane must all have.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<StringMap>,
}

/// A port of a MeshService.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Port {
    /// Name of the port (its section name in targetRefs; the number when unset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Port number clients use.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub port: Option<i64>,
    /// Inbound of the selected proxies: a number (inbound port) or a name (inbound name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_port: Option<IntOrString>,
    /// Protocol of the port (tcp, http, http2, grpc, kafka); default tcp.
    #[serde(default = "default_app_protocol")]
    pub app_protocol: String,
}

kuma_enum! {
    /// How an identity of a MeshService is expressed.
    pub enum IdentityType { ServiceTag = "ServiceTag", SpiffeId = "SpiffeID" }
}

/// An identity of the proxies implementing a MeshService.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Identity {
    /// ServiceTag (a `kuma.io/service` value) or SpiffeID.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub type_: Option<Choice<IdentityType>>,
    /// The service tag value or the SPIFFE ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(required)]
    pub value: Option<String>,
}

impl KindSpec for MeshService {
    fn validate(&self, ctx: &ValidateCtx, v: &mut Violations) {
        validate_name_length(ctx, v);
        if let Some(s) = &self.selector {
            let count = [s.dataplane_tags.is_some(), s.dataplane_ref.is_some(), s.dataplane_labels.is_some()]
                .into_iter()
                .filter(|b| *b)
                .count();
            if count > 1 {
                v.add(
                    &Path::root().field("selector"),
                    "must specify only one of: dataplaneTags, dataplaneRef, or dataplaneLabels",
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::meta::labels;
    use crate::model::testing::{MetaBuilder, meta, violations};
    use crate::model::{Kind, PolicyRole};

    fn check(name: &str, spec: serde_json::Value) -> Vec<(String, String)> {
        crate::model::testing::check::<MeshService>(&meta(Kind::MeshService, name), PolicyRole::System, spec)
    }

    fn pair(f: &str, m: &str) -> (String, String) {
        (f.to_string(), m.to_string())
    }

    #[test]
    fn name_too_long() {
        let name = "meshservice-too-long-too-long-too-long-too-long-too-long-too-long-too-long-too-long-too-long";
        assert_eq!(check(name, json!({})), vec![pair("name", "must not be longer than 63 characters")]);
        assert!(check(&"a".repeat(63), json!({})).is_empty());
    }

    #[test]
    fn display_name_is_checked() {
        let m =
            MetaBuilder::new(Kind::MeshService, "short.kuma-demo").label(labels::DISPLAY_NAME, &"x".repeat(64)).build();
        let spec: MeshService = serde_json::from_value(json!({})).unwrap();
        assert_eq!(
            violations(&m, PolicyRole::System, &spec),
            vec![pair("name", "must not be longer than 63 characters")]
        );
    }

    #[test]
    fn multiple_selectors() {
        let got = check(
            "meshservice",
            json!({"selector": {"dataplaneTags": {"app": "redis"}, "dataplaneLabels": {"matchLabels": {"app": "redis"}}}}),
        );
        assert_eq!(
            got,
            vec![pair("spec.selector", "must specify only one of: dataplaneTags, dataplaneRef, or dataplaneLabels")]
        );
    }

    #[test]
    fn valid_cases() {
        assert!(check("meshservice", json!({})).is_empty());
        assert!(check("meshservice", json!({"selector": {"dataplaneTags": {"app": "redis"}}})).is_empty());
        assert!(check("meshservice", json!({"selector": {"dataplaneRef": {"name": "redis-01"}}})).is_empty());
        assert!(
            check("meshservice", json!({"selector": {"dataplaneLabels": {"matchLabels": {"app": "redis"}}}}))
                .is_empty()
        );
    }

    #[test]
    fn defaults_and_ports() {
        let spec: MeshService = serde_json::from_value(json!({
            "selector": {"dataplaneTags": {"kuma.io/service": "redis"}},
            "ports": [{"port": 6379, "targetPort": 6379}, {"name": "http", "port": 80, "targetPort": "main", "appProtocol": "http"}],
            "identities": [{"type": "ServiceTag", "value": "redis"}]
        }))
        .unwrap();
        assert!(spec.state.is(State::Unavailable));
        let ports = spec.ports.as_ref().unwrap();
        assert_eq!(ports[0].app_protocol, "tcp");
        assert_eq!(ports[0].target_port, Some(IntOrString::Int(6379)));
        assert_eq!(ports[1].target_port, Some(IntOrString::String("main".into())));
        assert!(spec.identities.as_ref().unwrap()[0].type_.as_ref().unwrap().is(IdentityType::ServiceTag));
        assert!(violations(&meta(Kind::MeshService, "redis"), PolicyRole::System, &spec).is_empty());
    }
}
