//! The rules stage: which policies reach which proxy. For now, selection of
//! Dataplanes by a policy's top-level targetRef (reference §3.3), used by
//! validation to report policies that select nothing.

pub mod select;
