//! Placeholder until the mesh-defaults module lands (replaced on merge).

use crate::model::Resource;

pub fn is_implicit(_r: &Resource) -> bool {
    false
}

pub fn for_meshes(_resources: &[Resource]) -> Vec<Resource> {
    Vec::new()
}
