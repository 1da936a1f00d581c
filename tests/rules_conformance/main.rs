//! Kuma's rules fixtures (`../shared/conformance/kuma-v2.14.3`, see its README) run
//! through meshc's rules engine, compared by meaning, not bytes: Kuma's goldens
//! carry Go-internal field names, timestamps and re-marshalled durations.
//!
//! Each folder is one test. It prints `passed/total` and the cases that fail, and
//! fails when a folder passes fewer cases than `baseline.txt` records (bless a
//! better count with `MESHC_BLESS=1`). `CONFORMANCE.md` explains every case that
//! does not pass.

#[path = "../common/mod.rs"]
mod common;

mod fixture;
mod inbound_rules;
mod inspect_rules;
mod matched_policies;
mod report;
mod resource_rules;
mod subset_rules;
