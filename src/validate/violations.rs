//! Kuma-style validation results: a field path in Kuma's notation plus a message,
//! mirroring `pkg/core/validators/types.go` so our messages can be compared with
//! Kuma's fixtures verbatim. Each violation also carries a finding code.

use crate::findings::{Code, Target, codes};
use crate::model::choice::{Choice, KumaEnum};

/// A path into a resource spec. Rendered as Kuma renders it (`to[0].targetRef.kind`,
/// map keys as `tags["kuma.io/service"]`) and as an RFC 6901 pointer for locating.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Path(Vec<Seg>);

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Seg {
    /// The resource's name in the envelope (Kuma reports some rules at `name`).
    ResourceName,
    /// A segment Kuma prints in its path that has no node in the document (Go
    /// struct nesting such as MeshRetry's `default.conf`): shown, not located.
    Virtual(String),
    Field(String),
    Index(usize),
    Key(String),
}

impl Path {
    /// The root of the spec.
    pub fn root() -> Path {
        Path(Vec::new())
    }

    pub fn field(&self, name: &str) -> Path {
        self.with(Seg::Field(name.to_string()))
    }

    pub fn index(&self, i: usize) -> Path {
        self.with(Seg::Index(i))
    }

    /// A segment that appears in Kuma's path but not in the document.
    pub fn virtual_field(&self, name: &str) -> Path {
        self.with(Seg::Virtual(name.to_string()))
    }

    /// A key of a map-valued field (tags, labels).
    pub fn key(&self, key: &str) -> Path {
        self.with(Seg::Key(key.to_string()))
    }

    fn with(&self, seg: Seg) -> Path {
        let mut p = self.0.clone();
        p.push(seg);
        Path(p)
    }

    /// The resource name (`metadata.name` / `name`), outside the spec.
    pub fn resource_name() -> Path {
        Path(vec![Seg::ResourceName])
    }

    pub fn is_resource_name(&self) -> bool {
        self.0.first() == Some(&Seg::ResourceName)
    }

    /// Kuma's notation, under `prefix` (`spec` for new-style kinds, none for the
    /// legacy proto kinds whose validators start at the spec fields).
    pub fn kuma(&self, prefix: Option<&str>) -> String {
        if self.is_resource_name() {
            return "name".to_string();
        }
        let mut out = prefix.unwrap_or_default().to_string();
        for seg in &self.0 {
            match seg {
                Seg::ResourceName => {}
                Seg::Field(f) | Seg::Virtual(f) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(&shorten(f));
                }
                Seg::Index(i) => out.push_str(&format!("[{i}]")),
                Seg::Key(k) => out.push_str(&format!("[{:?}]", shorten(k))),
            }
        }
        out
    }

    /// RFC 6901 pointer, relative to the spec.
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        for seg in &self.0 {
            if matches!(seg, Seg::ResourceName | Seg::Virtual(_)) {
                continue;
            }
            out.push('/');
            match seg {
                Seg::ResourceName | Seg::Virtual(_) => {}
                Seg::Field(s) | Seg::Key(s) => out.push_str(&s.replace('~', "~0").replace('/', "~1")),
                Seg::Index(i) => out.push_str(&i.to_string()),
            }
        }
        out
    }

    /// Parse a pointer relative to the spec (used to compare schema errors with rules).
    pub fn from_pointer(pointer: &str) -> Path {
        Path(
            crate::source::yaml::pointer_segments(pointer)
                .into_iter()
                .map(|s| match s.parse::<usize>() {
                    Ok(i) => Seg::Index(i),
                    Err(_) => Seg::Field(s),
                })
                .collect(),
        )
    }
}

/// A path segment as shown: user input (an unknown key) can be megabytes long.
fn shorten(segment: &str) -> std::borrow::Cow<'_, str> {
    const MAX: usize = 60;
    if segment.chars().count() <= MAX {
        segment.into()
    } else {
        format!("{}…", segment.chars().take(MAX).collect::<String>()).into()
    }
}

/// One rule broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub code: Code,
    pub path: Path,
    pub message: String,
    pub target: Target,
}

/// Collected violations of one resource, in the order the rules ran.
#[derive(Debug, Clone, Default)]
pub struct Violations(pub Vec<Violation>);

/// Kuma's message constants (`pkg/core/validators/messages.go`).
pub mod msg {
    pub const MUST_BE_DEFINED: &str = "must be defined";
    pub const MUST_NOT_BE_DEFINED: &str = "must not be defined";
    pub const MUST_NOT_BE_EMPTY: &str = "must not be empty";
    pub const MUST_BE_SET: &str = "must be set";
    pub const MUST_NOT_BE_SET: &str = "must not be set";
    pub const GREATER_THAN_ZERO: &str = "must be greater than 0";
    pub const DEFINED_AND_GREATER_THAN_ZERO: &str = "must be defined and greater than zero";
    pub const NON_NEGATIVE_WHEN_DEFINED: &str = "must not be negative when defined";
    pub const GREATER_THAN_ZERO_WHEN_DEFINED: &str = "must be greater than zero when defined";
    pub const VALID_PATH_WHEN_DEFINED: &str = "must be a valid path when defined";
    pub const VALID_NUMBER: &str = "string must be a valid number";
    pub const BPS_UNIT: &str = "must be in kbps/Mbps/Gbps units";
    pub const PERCENTAGE_RANGE: &str = "must be in inclusive range [0.0, 100.0]";
    pub const UINT_PERCENTAGE_RANGE: &str = "must be in inclusive range [0, 100]";
    pub const PORT: &str = "port must be a valid (1-65535)";

    /// `must have only one type defined: a, b`
    pub fn must_have_only_one(entity: &str, allowed: &[&str]) -> String {
        format!("{entity} must have only one type defined: {}", allowed.join(", "))
    }

    /// `must have exactly one defined: a, b`
    pub fn must_have_exactly_one_of(entity: &str, allowed: &[&str]) -> String {
        format!("{entity} must have exactly one defined: {}", allowed.join(", "))
    }

    /// `must have at least one defined: a, b`
    pub fn must_have_at_least_one(allowed: &[&str]) -> String {
        format!("must have at least one defined: {}", allowed.join(", "))
    }

    /// `"field" must be one of ["a", "b"]` (Kuma's `MakeFieldMustBeOneOfErr`).
    pub fn must_be_one_of(field: &str, allowed: &[&str]) -> String {
        let quoted: Vec<String> = allowed.iter().map(|a| format!("{a:?}")).collect();
        format!("{field:?} must be one of [{}]", quoted.join(", "))
    }
}

impl Violations {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A violation of a kind-specific rule.
    pub fn add(&mut self, path: &Path, message: impl Into<String>) {
        self.add_code(codes::KUMA_RULE, path, message);
    }

    pub fn add_code(&mut self, code: Code, path: &Path, message: impl Into<String>) {
        self.0.push(Violation { code, path: path.clone(), message: message.into(), target: Target::Value });
    }

    /// Kuma's "must be defined".
    pub fn must_be_defined(&mut self, path: &Path) {
        self.add_code(codes::KUMA_REQUIRED, path, msg::MUST_BE_DEFINED);
    }

    /// The value of an enum-like field must be one Kuma knows; reports Kuma's
    /// `"field" must be one of [...]` with the field name taken from the path.
    pub fn one_of<T: KumaEnum>(&mut self, path: &Path, value: &Choice<T>) {
        if !value.is_known() {
            let field = path.last_field().unwrap_or_default();
            self.add_code(codes::KUMA_ENUM, path, msg::must_be_one_of(&field, T::NAMES));
        }
    }

    /// Like [`Self::one_of`] for an optional field.
    pub fn one_of_opt<T: KumaEnum>(&mut self, path: &Path, value: Option<&Choice<T>>) {
        if let Some(v) = value {
            self.one_of(path, v);
        }
    }

    /// Kuma's `ValidatePort`: 1..=65535 (an unset port counts as 0).
    pub fn port(&mut self, path: &Path, port: Option<i64>) {
        if !matches!(port, Some(1..=65535)) {
            self.add_code(codes::BAD_PORT, path, msg::PORT);
        }
    }

    /// Kuma's `ValidateDurationNotNegativeOrNil`.
    pub fn duration_not_negative(&mut self, path: &Path, d: Option<&crate::model::common::Duration>) {
        if let Some(d) = d {
            match d.nanos() {
                None => self.bad_duration(path, d),
                Some(n) if n < 0 => self.add_code(codes::BAD_DURATION, path, msg::NON_NEGATIVE_WHEN_DEFINED),
                _ => {}
            }
        }
    }

    /// Kuma's `ValidateDurationGreaterThanZeroOrNil`.
    pub fn duration_positive(&mut self, path: &Path, d: Option<&crate::model::common::Duration>) {
        if let Some(d) = d {
            match d.nanos() {
                None => self.bad_duration(path, d),
                Some(n) if n <= 0 => self.add_code(codes::BAD_DURATION, path, msg::GREATER_THAN_ZERO_WHEN_DEFINED),
                _ => {}
            }
        }
    }

    /// Kuma's `ValidateDurationGreaterThanZero` (the duration is required).
    pub fn duration_required_positive(&mut self, path: &Path, d: Option<&crate::model::common::Duration>) {
        match d.map(|d| (d, d.nanos())) {
            Some((d, None)) => self.bad_duration(path, d),
            Some((_, Some(n))) if n > 0 => {}
            _ => self.add_code(codes::BAD_DURATION, path, msg::DEFINED_AND_GREATER_THAN_ZERO),
        }
    }

    fn bad_duration(&mut self, path: &Path, d: &crate::model::common::Duration) {
        self.add_code(
            codes::BAD_DURATION,
            path,
            format!("{} is not a valid duration (examples: 10s, 1m30s, 500ms)", crate::findings::excerpt(d.as_str())),
        );
    }

    /// Prefix every violation's path (used to embed a sub-validator's result).
    pub fn extend_at(&mut self, base: &Path, other: Violations) {
        for mut v in other.0 {
            let mut segs = base.0.clone();
            segs.extend(v.path.0);
            v.path = Path(segs);
            self.0.push(v);
        }
    }
}

impl Path {
    /// The name of the last field in the path (`protocol` for `match.protocol`).
    pub fn last_field(&self) -> Option<String> {
        self.0.iter().rev().find_map(|s| match s {
            Seg::Field(f) | Seg::Virtual(f) => Some(f.clone()),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_kuma() {
        let p = Path::root().field("to").index(0).field("targetRef").field("tags").key("kuma.io/service");
        assert_eq!(p.kuma(Some("spec")), r#"spec.to[0].targetRef.tags["kuma.io/service"]"#);
        assert_eq!(p.pointer(), "/to/0/targetRef/tags/kuma.io~1service");
        assert_eq!(Path::root().kuma(Some("spec")), "spec");
        assert_eq!(Path::root().field("networking").kuma(None), "networking");
    }

    #[test]
    fn one_of_message() {
        assert_eq!(
            msg::must_be_one_of("mode", &["Strict", "Permissive"]),
            r#""mode" must be one of ["Strict", "Permissive"]"#
        );
    }
}
