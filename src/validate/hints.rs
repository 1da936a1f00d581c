//! "Did you mean" hints: a name or value one typo away from one meshc knows gets
//! the likely intended spelling appended to its finding, as rustc and cargo do.
//! Every hint goes through [`super::schema::suggest`], the one edit distance.

use serde_json::Value;

use crate::findings::{Code, codes};
use crate::model::Kind;
use crate::model::choice::KumaEnum;
use crate::model::common::TargetRefKind;

/// `, did you mean `X`?` when `value` is a near miss of one of `known` (and not
/// one of them already), else an empty string.
pub fn did_you_mean<'a>(value: &str, known: impl IntoIterator<Item = &'a str>) -> String {
    let known: Vec<String> = known.into_iter().map(str::to_string).collect();
    if known.iter().any(|k| k == value) {
        return String::new();
    }
    match super::schema::suggest(value, &known) {
        Some(s) => format!(", did you mean `{s}`?"),
        None => String::new(),
    }
}

/// The hint for a resource kind (`kind:` or Universal `type:`) meshc does not know.
pub fn for_kind(name: &str) -> String {
    did_you_mean(name, Kind::ALL.iter().map(|k| k.name()))
}

/// The hint for a violation of Kuma's rules, whose offending value is `value`
/// (looked up in the spec at the violation's path): targetRef kinds and enum-like
/// values (`"mode" must be one of ["STRICT", "PERMISSIVE"]`).
pub fn for_violation(code: Code, message: &str, value: Option<&Value>) -> String {
    let Some(value) = value.and_then(Value::as_str) else { return String::new() };
    if code == codes::TARGETREF_KIND {
        if TargetRefKind::from_name(value).is_some() {
            // A known kind that is not allowed here: a spelling hint would mislead.
            return String::new();
        }
        return did_you_mean(value, TargetRefKind::NAMES.iter().copied());
    }
    if code == codes::KUMA_ENUM
        && let Some(allowed) = allowed_values(message)
    {
        return did_you_mean(value, allowed.iter().map(String::as_str));
    }
    String::new()
}

/// The values listed by `violations::msg::must_be_one_of` (`[..]`, each quoted).
fn allowed_values(message: &str) -> Option<Vec<String>> {
    let (_, list) = message.split_once(" must be one of [")?;
    let list = list.strip_suffix(']')?;
    list.split(", ").map(|q| serde_json::from_str::<String>(q).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(for_kind("MeshServce"), ", did you mean `MeshService`?");
        assert_eq!(for_kind("MeshTimout"), ", did you mean `MeshTimeout`?");
        assert_eq!(for_kind("meshtimeout"), ", did you mean `MeshTimeout`?");
        assert_eq!(for_kind("MeshTimeout"), "");
        assert_eq!(for_kind("Deployment"), "");
    }

    #[test]
    fn violations() {
        let v = Value::String("MeshSevice".into());
        assert_eq!(for_violation(codes::TARGETREF_KIND, "", Some(&v)), ", did you mean `MeshService`?");
        let v = Value::String("MeshGateway".into());
        assert_eq!(for_violation(codes::TARGETREF_KIND, "", Some(&v)), "", "known but not allowed here");
        let msg = crate::validate::violations::msg::must_be_one_of("mode", &["STRICT", "PERMISSIVE"]);
        let v = Value::String("Strickt".into());
        assert_eq!(for_violation(codes::KUMA_ENUM, &msg, Some(&v)), ", did you mean `STRICT`?");
        let v = Value::String("Lax".into());
        assert_eq!(for_violation(codes::KUMA_ENUM, &msg, Some(&v)), "");
        assert_eq!(for_violation(codes::KUMA_ENUM, &msg, Some(&Value::from(3))), "");
        assert_eq!(for_violation(codes::KUMA_RULE, &msg, Some(&Value::String("STRICt".into()))), "");
    }
}
