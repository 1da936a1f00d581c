//! A merged conf as later stages and `meshc explain` see it: the value, the
//! confs that were merged into it (by name, not index, so that plans and goldens
//! read on their own), and which of them set each field.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::merge::{self, Strategy};
use super::proxy::PolicySet;
use super::subset::Tag;
use super::{Origin, Section};
use crate::model::Kind;

/// A policy section item, named.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct OriginRef {
    /// `<Kind>/<name>` (the display name), with `.namespace` when namespaced.
    pub policy: String,
    pub section: Section,
    pub index: usize,
    /// A default policy Kuma creates with the mesh, not a resource of the input.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub implicit: bool,
    /// A `kuma.io/effect: shadow` policy (only with `explain --shadow`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub shadow: bool,
    /// The policy's KRI (`kri_<short>_<mesh>_<zone>_<namespace>_<name>_`): the
    /// name Envoy resources a policy makes carry (MeshTrafficPermission's RBAC actions).
    #[serde(skip)]
    pub kri: String,
}

impl OriginRef {
    pub fn of(set: &PolicySet, origin: Origin) -> OriginRef {
        let p = &set.policies[origin.policy];
        let meta = &p.resource.meta;
        let mut policy = format!("{}/{}", meta.kind.name(), meta.display_name());
        if let Some(ns) = meta.label(crate::model::meta::labels::NAMESPACE).or(meta.namespace.as_deref()) {
            policy.push('.');
            policy.push_str(ns);
        }
        OriginRef {
            policy,
            section: origin.section,
            index: origin.index,
            implicit: super::defaults::is_implicit(p.resource),
            shadow: p.is_shadow(),
            kri: format!(
                "kri_{}_{}_{}_{}_{}_",
                meta.kind.short_name(),
                meta.mesh.as_deref().unwrap_or_default(),
                meta.zone().unwrap_or_default(),
                meta.label(crate::model::meta::labels::NAMESPACE).or(meta.namespace.as_deref()).unwrap_or_default(),
                meta.display_name()
            ),
        }
    }

    /// The policy with its markers: `MeshTimeout/name (mesh default)`.
    pub fn policy_label(&self) -> String {
        format!("{}{}", self.policy, self.markers())
    }

    /// `MeshTimeout/name to[0]`, as people read it.
    pub fn label(&self) -> String {
        let section = match self.section {
            Section::Default => "default".to_string(),
            s => format!("{}[{}]", s.name(), self.index),
        };
        format!("{} {section}{}", self.policy, self.markers())
    }

    fn markers(&self) -> &'static str {
        match (self.implicit, self.shadow) {
            (true, true) => " (mesh default) (shadow)",
            (true, false) => " (mesh default)",
            (false, true) => " (shadow)",
            (false, false) => "",
        }
    }
}

/// Which traffic of a place an [`Effective`] conf is for.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Condition {
    /// All of it.
    #[default]
    All,
    /// The clients an inbound `rules[].matches[]` item matches (`spiffeID`, `sni`), as written.
    Match(Value),
    /// The clients (`from`) or destinations (`to`) of a legacy tag-subset rule;
    /// an empty subset is everything.
    Subset { direction: Direction, tags: Vec<Tag> },
    /// The traffic of one MeshHTTPRoute (policies whose top-level targetRef is it).
    Route(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    From,
    To,
}

impl Condition {
    /// How `meshc explain` prints it; `None` for all traffic.
    pub fn describe(&self) -> Option<String> {
        match self {
            Condition::All => None,
            Condition::Match(m) => Some(format!("match {m}")),
            Condition::Subset { direction, tags } => {
                let direction = match direction {
                    Direction::From => "from",
                    Direction::To => "to",
                };
                if tags.is_empty() {
                    return Some(format!("{direction} all"));
                }
                let tags: Vec<String> =
                    tags.iter().map(|t| format!("{}{}={}", if t.not { "!" } else { "" }, t.key, t.value)).collect();
                Some(format!("{direction} {}", tags.join(", ")))
            }
            Condition::Route(name) => Some(format!("route MeshHTTPRoute/{name}")),
        }
    }
}

/// The effective conf of one policy kind at one place (an inbound, an outbound,
/// the whole proxy).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effective {
    pub kind: &'static str,
    /// The traffic this conf is for when not all of it: the clients of a
    /// `from` rule (`from kuma.io/service=web`), a rule's match, the
    /// destinations of a legacy `to` rule. [`Condition::describe`] of `condition`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    /// The same, as the `envoy` stage reads it.
    #[serde(skip)]
    pub condition: Condition,
    pub conf: Value,
    /// The confs merged into `conf`, in merge order (the last wins).
    pub origins: Vec<OriginRef>,
    /// JSON pointer of each leaf of `conf` -> index into `origins`.
    pub fields: BTreeMap<String, usize>,
}

impl Effective {
    /// Merge `confs` (in order) of `kind`; `None` when there is nothing to merge.
    pub fn merge(set: &PolicySet, kind: Kind, confs: &[(Origin, &Value)]) -> Option<Effective> {
        let values: Vec<&Value> = confs.iter().map(|(_, v)| *v).collect();
        let conf = merge::merge(Strategy::of(kind), &values).into_iter().next()?;
        Some(Effective::attributed(set, kind, conf, confs))
    }

    /// A merged conf with its origins and per-field attribution.
    pub fn attributed(set: &PolicySet, kind: Kind, conf: Value, confs: &[(Origin, &Value)]) -> Effective {
        let values: Vec<&Value> = confs.iter().map(|(_, v)| *v).collect();
        let fields = merge::attribute(Strategy::of(kind), &conf, &values);
        Effective {
            kind: kind.name(),
            when: None,
            condition: Condition::All,
            conf,
            origins: confs.iter().map(|(o, _)| OriginRef::of(set, *o)).collect(),
            fields,
        }
    }

    /// The same conf, for the traffic `condition` describes.
    pub fn on(self, condition: Condition) -> Effective {
        Effective { when: condition.describe(), condition, ..self }
    }

    /// Origins that set no field of the result: everything they said was
    /// overridden by later confs.
    pub fn overridden(&self) -> Vec<&OriginRef> {
        let used: std::collections::BTreeSet<usize> = self.fields.values().copied().collect();
        self.origins.iter().enumerate().filter(|(i, _)| !used.contains(i)).map(|(_, o)| o).collect()
    }
}
