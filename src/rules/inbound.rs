//! Inbound rules (Kuma's `core/rules/inbound`, reference §3.6 item 3): per
//! inbound listener, one rule per `rules[]` item of the policies that selected
//! it (or per `from[]` item for kinds that read `from` as rules), in policy
//! order, one rule per match, then stably sorted by match: SPIFFE ID rules first
//! (Exact before Prefix), then SNI rules, then the catch-all rules.

use std::cmp::Ordering;

use serde_json::Value;

use super::merge::{self, Strategy};
use super::policy::{Policy, from_as_rules};
use super::sort::{compare_attributes, compare_names};
use super::{Origin, Section};

/// One inbound rule: at most one match (none: all clients), its conf, its origin.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundRule {
    pub matched: Option<Value>,
    pub conf: Value,
    pub origin: Origin,
}

/// The inbound rules of one inbound, from the policies (indices into `policies`)
/// that selected it.
pub fn inbound_rules(policies: &[Policy], selected: &[usize]) -> Vec<InboundRule> {
    let mut order: Vec<usize> = selected.to_vec();
    order.sort_by(|&a, &b| {
        compare_attributes(&policies[a], &policies[b]).then_with(|| compare_names(&policies[a], &policies[b]))
    });
    let mut rules = Vec::new();
    for p in order {
        let policy = &policies[p];
        if !policy.rules.is_empty() {
            for item in &policy.rules {
                let origin = Origin { policy: p, section: Section::Rules, index: item.index };
                if item.matches.is_empty() {
                    rules.push(InboundRule { matched: None, conf: item.conf.clone(), origin });
                }
                for m in &item.matches {
                    rules.push(InboundRule { matched: Some(m.clone()), conf: item.conf.clone(), origin });
                }
            }
        } else if from_as_rules(policy.kind()) {
            for item in &policy.from {
                let origin = Origin { policy: p, section: Section::From, index: item.index };
                rules.push(InboundRule { matched: None, conf: item.conf.clone(), origin });
            }
        }
    }
    rules.sort_by(|a, b| compare_matches(a.matched.as_ref(), b.matched.as_ref()));
    rules
}

/// Kuma's `CompareMatch`.
fn compare_matches(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    let spiffe = |m: Option<&Value>| -> Option<u8> {
        let s = m?.get("spiffeID")?;
        Some(match s.get("type").and_then(Value::as_str) {
            Some("Exact") => 2,
            Some("Prefix") => 1,
            _ => 0,
        })
    };
    let sni = |m: Option<&Value>| m.and_then(|m| m.get("sni")).is_some();
    let by_presence = |x: bool, y: bool| y.cmp(&x);
    match (spiffe(a), spiffe(b)) {
        (Some(x), Some(y)) => y.cmp(&x),
        (x, y) => by_presence(x.is_some(), y.is_some()),
    }
    .then_with(|| by_presence(sni(a), sni(b)))
}

/// Kuma's `MatchesAllIncomingTraffic`: the confs of the catch-all rules merged in
/// order, with the origins that contributed.
pub fn all_incoming(kind: crate::model::Kind, rules: &[InboundRule]) -> Option<(Value, Vec<Origin>)> {
    let all: Vec<&InboundRule> = rules.iter().filter(|r| r.matched.is_none()).collect();
    let confs: Vec<&Value> = all.iter().map(|r| &r.conf).collect();
    let conf = merge::merge_one(Strategy::of(kind), &confs)?;
    Some((conf, all.iter().map(|r| r.origin).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spiffe_exact_then_prefix_then_sni_then_catch_all() {
        let exact = json!({"spiffeID": {"type": "Exact", "value": "spiffe://a/b"}});
        let prefix = json!({"spiffeID": {"type": "Prefix", "value": "spiffe://a/"}});
        let sni = json!({"sni": {"type": "Exact", "value": "a.b"}});
        let mut list = [None, Some(&sni), Some(&prefix), Some(&exact)];
        list.sort_by(|a, b| compare_matches(*a, *b));
        assert_eq!(list, [Some(&exact), Some(&prefix), Some(&sni), None]);
    }
}
