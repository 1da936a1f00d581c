//! HostnameGenerator: placeholder, to be replaced by the full model and Kuma's validator.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{KindSpec, ValidateCtx};
use crate::validate::violations::Violations;

/// HostnameGenerator spec.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
pub struct HostnameGenerator {}

impl KindSpec for HostnameGenerator {
    fn validate(&self, _ctx: &ValidateCtx, _v: &mut Violations) {}
}
