//! Dataplane: placeholder, to be replaced by the full model and Kuma's validator.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{KindSpec, ValidateCtx};
use crate::validate::violations::Violations;

/// Dataplane spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct Dataplane {}

impl KindSpec for Dataplane {
    fn validate(&self, _ctx: &ValidateCtx, _v: &mut Violations) {}
}
