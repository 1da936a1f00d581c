//! The last stage: Envoy messages to bytes on disk. Canonical proto3 JSON/YAML
//! (through prost-reflect and a vendored descriptor set), the output layout with
//! its manifest, atomic replacement of the output directory, and the comparison
//! of what would be written against what is there (`--check`, `meshc diff`).

pub mod layout;

pub use layout::{ProxyId, ProxyKind};
pub mod descriptor;
