//! MeshTLS (`pkg/plugins/policies/meshtls/`): inbound mTLS mode, TLS versions and
//! cipher suites, configured through `from` (clients of kind Mesh) or `rules`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::From;
use crate::kuma_enum;
use crate::model::choice::{Choice, KumaEnum};
use crate::model::common::{TargetRef, TargetRefKind as K, TargetRefRules, non_empty, validate_target_ref};
use crate::model::{KindSpec, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// MeshTLS spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshTLS {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<TargetRef>,
    /// Inbound TLS configuration per group of clients (only `kind: Mesh`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<From<Conf>>>,
    /// Inbound TLS configuration; currently applies to all inbound traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Rule>>,
}

/// A `rules[]` item of MeshTLS (no `matches`: L7 matching is not implemented).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Rule {
    /// The TLS configuration for all inbound traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Conf>,
}

kuma_enum! {
    /// Behaviour of inbound listeners with regard to traffic encryption.
    pub enum Mode { Permissive = "Permissive", Strict = "Strict" }
}

kuma_enum! {
    /// A TLS protocol version (`TLSAuto` lets Envoy choose).
    pub enum TlsVersion { Auto = "TLSAuto", Tls10 = "TLS10", Tls11 = "TLS11", Tls12 = "TLS12", Tls13 = "TLS13" }
}

kuma_enum! {
    /// A TLS cipher suite Kuma can configure.
    pub enum TlsCipher {
        EcdheEcdsaAes128GcmSha256 = "ECDHE-ECDSA-AES128-GCM-SHA256",
        EcdheEcdsaAes256GcmSha384 = "ECDHE-ECDSA-AES256-GCM-SHA384",
        EcdheEcdsaChacha20Poly1305 = "ECDHE-ECDSA-CHACHA20-POLY1305",
        EcdheRsaAes128GcmSha256 = "ECDHE-RSA-AES128-GCM-SHA256",
        EcdheRsaAes256GcmSha384 = "ECDHE-RSA-AES256-GCM-SHA384",
        EcdheRsaChacha20Poly1305 = "ECDHE-RSA-CHACHA20-POLY1305",
    }
}

impl TlsVersion {
    /// Kuma's `TlsVersionOrder` (`None` for `TLSAuto`).
    fn order(self) -> Option<u8> {
        match self {
            TlsVersion::Auto => None,
            TlsVersion::Tls10 => Some(0),
            TlsVersion::Tls11 => Some(1),
            TlsVersion::Tls12 => Some(2),
            TlsVersion::Tls13 => Some(3),
        }
    }
}

/// MeshTLS configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// TLS versions allowed (only with top-level targetRef kind Mesh).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_version: Option<Version>,
    /// TLS cipher suites allowed (only with top-level targetRef kind Mesh).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ciphers: Option<Vec<Choice<TlsCipher>>>,
    /// Inbound mode: `Strict` requires mTLS, `Permissive` also accepts plaintext.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<Choice<Mode>>,
}

/// Minimum and maximum TLS versions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Version {
    /// Minimum supported version (default `TLSAuto`).
    #[serde(default = "tls_auto")]
    pub min: Choice<TlsVersion>,
    /// Maximum supported version (default `TLSAuto`).
    #[serde(default = "tls_auto")]
    pub max: Choice<TlsVersion>,
}

impl Default for Version {
    fn default() -> Self {
        Version { min: tls_auto(), max: tls_auto() }
    }
}

fn tls_auto() -> Choice<TlsVersion> {
    Choice::Known(TlsVersion::Auto)
}

/// Kuma lists the modes in this order in its message (not the CRD's).
const MODES_IN_MESSAGE: &[&str] = &["Strict", "Permissive"];

impl KindSpec for MeshTLS {
    fn validate(&self, _ctx: &ValidateCtx, v: &mut Violations) {
        let inbound = non_empty(&self.from) || non_empty(&self.rules);
        super::validate_top(
            v,
            &self.target_ref,
            TargetRefRules {
                supported: &[K::Mesh, K::MeshSubset, K::Dataplane],
                inbound_policy: inbound,
                ..Default::default()
            },
        );
        if non_empty(&self.from) && non_empty(&self.rules) {
            super::sections_message(v, "field 'from' must be empty when 'rules' is defined");
        }
        let top_is_mesh = super::top_kind(&self.target_ref) == Some(K::Mesh);
        let root = Path::root();
        for (i, rule) in self.rules.iter().flatten().enumerate() {
            validate_conf(v, &root.field("rules").index(i).field("default"), rule.default.as_ref(), top_is_mesh);
        }
        for (i, item) in self.from.iter().flatten().enumerate() {
            let p = root.field("from").index(i);
            let rules = TargetRefRules { supported: &[K::Mesh], ..Default::default() };
            validate_target_ref(v, &p.field("targetRef"), &item.target_ref, &rules);
            validate_conf(v, &p.field("default"), item.default.as_ref(), top_is_mesh);
        }
    }

    fn policy(&self) -> Option<PolicyView<'_>> {
        let mut view = super::view::<Conf, Conf, Conf>(&self.target_ref, None, self.from.as_deref(), None);
        view.rules = self.rules.as_ref().map_or(0, Vec::len);
        Some(view)
    }
}

/// Kuma's `validateDefault` for a `from[]` or `rules[]` item.
fn validate_conf(v: &mut Violations, path: &Path, conf: Option<&Conf>, top_is_mesh: bool) {
    let Some(conf) = conf else { return };
    if let Some(mode) = &conf.mode
        && !mode.is_known()
    {
        v.add_code(
            crate::findings::codes::KUMA_ENUM,
            &path.field("mode"),
            msg::must_be_one_of("mode", MODES_IN_MESSAGE),
        );
    }
    let ciphers = conf.tls_ciphers.as_deref().unwrap_or_default();
    if !ciphers.is_empty() && !top_is_mesh {
        v.add(&path.field("tlsCiphers"), "tlsCiphers can only be defined with top level targetRef kind: Mesh");
    } else if ciphers.iter().any(|c| !c.is_known()) {
        v.add_code(
            crate::findings::codes::KUMA_ENUM,
            &path.field("tlsCiphers"),
            msg::must_be_one_of("tlsCiphers", TlsCipher::NAMES),
        );
    }
    if let Some(version) = &conf.tls_version {
        if !top_is_mesh {
            v.add(&path.field("tlsVersion"), "tlsVersion can only be defined with top level targetRef kind: Mesh");
        } else {
            validate_version(v, &path.field("tlsVersion"), version);
        }
    }
}

/// Kuma's `common_tls.ValidateVersion`.
fn validate_version(v: &mut Violations, path: &Path, version: &Version) {
    v.one_of(&path.field("min"), &version.min);
    v.one_of(&path.field("max"), &version.max);
    let min = version.min.known().and_then(TlsVersion::order);
    let max = version.max.known().and_then(TlsVersion::order);
    if let (Some(min), Some(max)) = (min, max)
        && min > max
    {
        v.add(&path.field("min"), "min version must be lower than max");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{self, meta, run_kuma_fixtures, sorted};
    use crate::model::{Kind, PolicyRole};

    fn check(spec: serde_json::Value) -> Vec<(String, String)> {
        sorted(testing::check::<MeshTLS>(&meta(Kind::MeshTLS, "test"), PolicyRole::System, spec))
    }

    #[test]
    fn kuma_fixtures() {
        run_kuma_fixtures("pkg/plugins/policies/meshtls/api/v1alpha1/testdata", 7, |_, spec| check(spec));
    }

    #[test]
    fn rules_and_versions() {
        assert_eq!(
            check(serde_json::json!({
                "rules": [{"default": {"mode": "Strict", "tlsVersion": {"min": "TLS13", "max": "TLS12"}}}]
            })),
            [("spec.rules[0].default.tlsVersion.min".into(), "min version must be lower than max".into())]
        );
        assert!(check(serde_json::json!({"rules": [{"default": {"mode": "Permissive"}}]})).is_empty());
        assert_eq!(
            check(serde_json::json!({
                "targetRef": {"kind": "MeshService", "name": "x"},
                "from": [{"targetRef": {"kind": "Mesh"}, "default": {"mode": "Strict"}}]
            })),
            [("spec.targetRef.kind".into(), "value 'MeshService' is not supported".into())]
        );
    }

    #[test]
    fn version_defaults_apply() {
        let s: MeshTLS = serde_json::from_value(serde_json::json!({
            "rules": [{"default": {"tlsVersion": {"min": "TLS12"}}}]
        }))
        .unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(json["rules"][0]["default"]["tlsVersion"]["max"], "TLSAuto");
    }
}
