//! MeshExternalService: placeholder, to be replaced by the full model and Kuma's validator.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{KindSpec, ValidateCtx};
use crate::validate::violations::Violations;

/// MeshExternalService spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct MeshExternalService {}

impl KindSpec for MeshExternalService {
    fn validate(&self, _ctx: &ValidateCtx, _v: &mut Violations) {}
}
