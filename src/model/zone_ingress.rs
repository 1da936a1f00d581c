//! ZoneIngress: placeholder, to be replaced by the full model and Kuma's validator.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{KindSpec, ValidateCtx};
use crate::validate::violations::Violations;

/// ZoneIngress spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct ZoneIngress {}

impl KindSpec for ZoneIngress {
    fn validate(&self, _ctx: &ValidateCtx, _v: &mut Violations) {}
}
