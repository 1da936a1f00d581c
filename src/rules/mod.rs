//! The rules stage: which policies reach a proxy, in Kuma's order, merged, with
//! the origin of every merged value (reference §3.3–§3.7).
//!
//! - [`select`]: does a policy's top-level targetRef select a proxy, and which inbounds.
//! - [`policy`]: a policy as kind-agnostic sections of JSON confs.
//! - [`sort`]: Kuma's ordering of matched policies and `to[]` entries.
//! - [`merge`]: JSON merge patch with `Append*` lists and MeshHTTPRoute's rules.
//! - [`subset`]: Kuma's legacy tag-subset `from`/`to` rules.
//! - [`single`]: the one merged conf of single-item policies.
//! - [`resource`]: outbound rules keyed by the real resource a `to[]` entry names.

pub mod defaults;
pub mod effective;
pub mod inbound;
pub mod merge;
pub mod policy;
pub mod proxy;
pub mod reachable;
pub mod resource;
pub mod select;
pub mod single;
pub mod sort;
pub mod subset;

use serde::Serialize;

pub use policy::{Policy, Section};

/// Where a merged conf came from: a policy (index into the policy list the view
/// was built from), the section of it, and the item's index in that section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Origin {
    pub policy: usize,
    pub section: Section,
    pub index: usize,
}
