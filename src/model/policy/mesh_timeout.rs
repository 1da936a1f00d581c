//! MeshTimeout (`pkg/plugins/policies/meshtimeout/`): connection, idle and HTTP
//! timeouts for inbound (`from`, `rules`) and outbound (`to`) traffic.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{From, Rule, To};
use crate::model::common::{Duration, TargetRefKind as K, TargetRefRules, non_empty, validate_target_ref};
use crate::model::{KindSpec, PolicyRole, PolicyView, ValidateCtx};
use crate::validate::violations::{Path, Violations, msg};

/// MeshTimeout spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct MeshTimeout {
    /// The proxies this policy applies to; the whole mesh when omitted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<crate::model::common::TargetRef>,
    /// Outbound timeouts, per destination.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<Vec<To<Conf>>>,
    /// Inbound timeouts, per group of clients (deprecated in favour of `rules`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Vec<From<Conf>>>,
    /// Inbound timeouts; `matches` narrows a rule to some clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Rule<Conf>>>,
}

/// Timeout configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Conf {
    /// How long to wait for a TCP connection to be established (default 5s; not 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_timeout: Option<Duration>,
    /// How long a connection may have no bytes sent or received (default 1h; 0 disables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<Duration>,
    /// HTTP-specific timeouts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<Http>,
}

/// HTTP timeouts.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Http {
    /// Time to receive the entire request (default 15s; 0 disables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<Duration>,
    /// Time a stream may have no activity (default 30m; 0 disables).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_idle_timeout: Option<Duration>,
    /// Maximum lifetime of a stream (disabled by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_stream_duration: Option<Duration>,
    /// Time after which a connection is drained (disabled by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_connection_duration: Option<Duration>,
    /// Time to receive the request headers (disabled by default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_headers_timeout: Option<Duration>,
}

const SPIFFE_MSG: &str =
    "can't be specified when matches contain spiffeID because this field cannot be conditioned on source identity";

impl KindSpec for MeshTimeout {
    fn validate(&self, ctx: &ValidateCtx, v: &mut Violations) {
        let top = super::top_kind(&self.target_ref);
        let inbound = non_empty(&self.from) || non_empty(&self.rules);
        let supported: &[K] = if ctx.role == PolicyRole::System {
            &[
                K::Mesh,
                K::MeshSubset,
                K::MeshGateway,
                K::MeshService,
                K::MeshServiceSubset,
                K::MeshHTTPRoute,
                K::Dataplane,
            ]
        } else {
            &[K::Mesh, K::MeshSubset, K::MeshService, K::MeshServiceSubset, K::Dataplane]
        };
        super::validate_top(
            v,
            &self.target_ref,
            TargetRefRules { supported, gateway_listener_tags: true, inbound_policy: inbound, ..Default::default() },
        );
        super::validate_to_from_rules(v, non_empty(&self.to), non_empty(&self.from), non_empty(&self.rules));

        let root = Path::root();
        if let Some(from) = &self.from {
            if matches!(top, Some(K::MeshHTTPRoute | K::MeshGateway)) {
                if !from.is_empty() {
                    v.add(&root.field("from"), msg::MUST_NOT_BE_DEFINED);
                }
            } else {
                for (i, item) in from.iter().enumerate() {
                    let p = root.field("from").index(i);
                    let rules = TargetRefRules { supported: &[K::Mesh], ..Default::default() };
                    validate_target_ref(v, &p.field("targetRef"), &item.target_ref, &rules);
                    validate_conf(v, &p.field("default"), item.default.as_ref(), top, false);
                }
            }
        }
        for (i, item) in self.to.iter().flatten().enumerate() {
            let p = root.field("to").index(i);
            let supported: &[K] = match top {
                Some(K::MeshHTTPRoute | K::MeshGateway) => &[K::Mesh, K::MeshExternalService],
                _ => &[K::Mesh, K::MeshService, K::MeshExternalService, K::MeshMultiZoneService, K::MeshHTTPRoute],
            };
            let rules = TargetRefRules { supported, ..Default::default() };
            validate_target_ref(v, &p.field("targetRef"), &item.target_ref, &rules);
            validate_conf(v, &p.field("default"), item.default.as_ref(), top, false);
        }
        if let Some(rules) = &self.rules {
            super::validate_rule_matches(v, rules);
            for (i, rule) in rules.iter().enumerate() {
                let spiffe = rule.matches.iter().flatten().any(|m| m.spiffe_id.is_some());
                let p = root.field("rules").index(i).field("default");
                validate_conf(v, &p, rule.default.as_ref(), top, spiffe);
            }
        }
    }

    fn policy(&self) -> Option<PolicyView<'_>> {
        Some(super::view(&self.target_ref, self.to.as_deref(), self.from.as_deref(), self.rules.as_deref()))
    }
}

fn validate_conf(v: &mut Violations, path: &Path, conf: Option<&Conf>, top: Option<K>, spiffe: bool) {
    let empty = Conf::default();
    let conf = conf.unwrap_or(&empty);
    if conf.connection_timeout.is_none() && conf.idle_timeout.is_none() && conf.http.is_none() {
        v.add(path, "at least one timeout should be configured");
        return;
    }
    let http = conf.http.as_ref();
    let http_path = path.field("http");
    if top == Some(K::MeshHTTPRoute) {
        let m = "can't be specified when top-level TargetRef is referencing MeshHTTPRoute";
        forbid(v, &path.field("connectionTimeout"), conf.connection_timeout.is_some(), m);
        forbid(v, &path.field("idleTimeout"), conf.idle_timeout.is_some(), m);
        if let Some(h) = http {
            forbid(v, &http_path.field("maxStreamDuration"), h.max_stream_duration.is_some(), m);
            forbid(v, &http_path.field("maxConnectionDuration"), h.max_connection_duration.is_some(), m);
        }
    }
    if spiffe {
        forbid(v, &path.field("connectionTimeout"), conf.connection_timeout.is_some(), SPIFFE_MSG);
        forbid(v, &path.field("idleTimeout"), conf.idle_timeout.is_some(), SPIFFE_MSG);
        if let Some(h) = http {
            forbid(v, &http_path.field("requestHeadersTimeout"), h.request_headers_timeout.is_some(), SPIFFE_MSG);
            forbid(v, &http_path.field("maxStreamDuration"), h.max_stream_duration.is_some(), SPIFFE_MSG);
            forbid(v, &http_path.field("maxConnectionDuration"), h.max_connection_duration.is_some(), SPIFFE_MSG);
        }
    }
    v.duration_positive(&path.field("connectionTimeout"), conf.connection_timeout.as_ref());
    v.duration_not_negative(&path.field("idleTimeout"), conf.idle_timeout.as_ref());
    if let Some(h) = http {
        if h.request_timeout.is_none()
            && h.stream_idle_timeout.is_none()
            && h.max_stream_duration.is_none()
            && h.max_connection_duration.is_none()
            && h.request_headers_timeout.is_none()
        {
            v.add(&http_path, "at least one timeout in this section should be configured");
        }
        v.duration_not_negative(&http_path.field("requestTimeout"), h.request_timeout.as_ref());
        v.duration_not_negative(&http_path.field("streamIdleTimeout"), h.stream_idle_timeout.as_ref());
        v.duration_not_negative(&http_path.field("maxStreamDuration"), h.max_stream_duration.as_ref());
        v.duration_not_negative(&http_path.field("maxConnectionDuration"), h.max_connection_duration.as_ref());
        v.duration_not_negative(&http_path.field("requestHeadersTimeout"), h.request_headers_timeout.as_ref());
    }
}

fn forbid(v: &mut Violations, path: &Path, is_set: bool, message: &str) {
    if is_set {
        v.add(path, message);
    }
}
