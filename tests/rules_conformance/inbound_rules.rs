//! `core/rules/inbound/testdata/inboundrules`: inbound rules from `rules` and from
//! `from` (kinds that read `from` as rules), ordered by origin, role and name.

use serde_json::{Value, json};

use meshc::rules::Policy;
use meshc::rules::inbound::inbound_rules;

use super::fixture::{self, diff, normalize_durations};
use super::report::Report;

#[test]
fn inboundrules() {
    let dir = fixture::kuma().join("pkg/plugins/policies/core/rules/inbound/testdata/inboundrules");
    let mut report = Report::new("inboundrules");
    for (case, input) in fixture::cases(&dir, ".input.yaml") {
        let resources = fixture::resources(&input);
        let policies: Vec<Policy> = resources.iter().filter_map(Policy::of).collect();
        let all: Vec<usize> = (0..policies.len()).collect();
        let got: Vec<Value> = inbound_rules(&policies, &all)
            .into_iter()
            .map(|r| {
                json!({
                    "conf": r.conf,
                    "match": r.matched,
                    "policy": policies[r.origin.policy].name(),
                    "ruleIndex": r.origin.index,
                })
            })
            .collect();
        let golden = fixture::golden(&dir.join(format!("{case}.golden.yaml")));
        let want: Vec<Value> = golden["rules"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                json!({
                    "conf": r["conf"],
                    "match": r["match"],
                    "policy": r["origin"]["Resource"]["name"],
                    "ruleIndex": r["origin"]["RuleIndex"],
                })
            })
            .collect();
        let (mut got, mut want) = (Value::Array(got), Value::Array(want));
        normalize_durations(&mut got);
        normalize_durations(&mut want);
        report.case(case, diff(&want, &got));
    }
    report.finish();
}
