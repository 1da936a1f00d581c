//! meshc: compile Kuma-style service-mesh resources into static Envoy
//! configuration, offline.
//!
//! The pipeline runs one way: [`source`] (files to YAML documents with spans),
//! [`model`] (typed resources of every kind), [`validate`] (JSON Schema, Kuma's
//! validator rules, cross-resource checks), producing [`findings`]; [`rules`]
//! holds which policies select which proxies. The [`cli`] module is the thin
//! command-line layer over them; [`synth`] writes synthetic meshes for benchmarks
//! and tests.

pub mod certs;
pub mod cli;
pub mod compile;
pub mod emit;
pub mod envoy;
pub mod explain;
pub mod findings;
pub mod fmt;
pub mod model;
pub mod plan;
pub mod report;
pub mod rules;
pub mod source;
pub mod synth;
pub mod validate;
pub mod watch;
pub mod world;
