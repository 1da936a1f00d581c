//! MeshTCPRoute: placeholder, to be replaced by the full model and Kuma's validator.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{KindSpec, ValidateCtx};
use crate::validate::violations::Violations;

/// MeshTCPRoute spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct MeshTCPRoute {}

impl KindSpec for MeshTCPRoute {
    fn validate(&self, _ctx: &ValidateCtx, _v: &mut Violations) {}
}
