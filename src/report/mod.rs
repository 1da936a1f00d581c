//! `meshc report`: one self-contained HTML page that shows a mesh the way Kuma's
//! GUI does, without a control plane: an overview with the findings first, the
//! service graph and who may call whom, every proxy with its effective policies
//! and their origins (the `explain` view), every policy with what it selects and
//! what it loses to, and, against a base, what a change does.
//!
//! [`mod@build`] computes the data ([`model::Report`]); [`html::render`] writes it
//! into the page with its style and script, all inline: the page makes no
//! request, so it opens from disk and from a CI artifact.

pub mod access;
pub mod build;
pub mod diff;
pub mod html;
pub mod model;

pub use build::{Options, build};
pub use model::Report;
