//! Enum-valued fields that keep unknown values instead of failing to parse.
//!
//! Kuma's Go validators report a bad enum value *and* keep checking the rest of the
//! resource. To report the same set of violations, our typed model must survive an
//! unknown value: [`Choice<T>`] holds either a known `T` or the raw value, and the
//! validator reports it with Kuma's message. Its JSON Schema is `T`'s, so the
//! published schemas (and editors) still list the allowed values.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// An enum whose variant names, in Kuma's order, are known (for messages).
pub trait KumaEnum: Sized + Copy + PartialEq + fmt::Debug + 'static {
    /// Wire names of the variants, in the order Kuma lists them in messages.
    const NAMES: &'static [&'static str];
    fn from_name(name: &str) -> Option<Self>;
    fn name(&self) -> &'static str;
}

/// A known enum value, or whatever the user wrote.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice<T> {
    Known(T),
    Unknown(Value),
}

impl<T: KumaEnum> Choice<T> {
    pub fn known(&self) -> Option<T> {
        match self {
            Choice::Known(t) => Some(*t),
            Choice::Unknown(_) => None,
        }
    }

    pub fn is_known(&self) -> bool {
        matches!(self, Choice::Known(_))
    }

    pub fn is(&self, t: T) -> bool {
        self.known() == Some(t)
    }

    /// The value as written (for messages).
    pub fn raw(&self) -> String {
        match self {
            Choice::Known(t) => t.name().to_string(),
            Choice::Unknown(Value::String(s)) => s.clone(),
            Choice::Unknown(v) => v.to_string(),
        }
    }
}

impl<T> From<T> for Choice<T> {
    fn from(t: T) -> Self {
        Choice::Known(t)
    }
}

impl<'de, T: KumaEnum> Deserialize<'de> for Choice<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(match v.as_str().and_then(T::from_name) {
            Some(t) => Choice::Known(t),
            None => Choice::Unknown(v),
        })
    }
}

impl<T: KumaEnum> Serialize for Choice<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Choice::Known(t) => s.serialize_str(t.name()),
            Choice::Unknown(v) => v.serialize(s),
        }
    }
}

impl<T: JsonSchema> JsonSchema for Choice<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        T::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(generator)
    }

    fn inline_schema() -> bool {
        T::inline_schema()
    }
}

/// Declare a Kuma enum: variants with their wire names, in Kuma's order.
///
/// ```ignore
/// kuma_enum! {
///     /// Doc comment for the enum.
///     pub enum Mode { Strict = "Strict", Permissive = "Permissive" }
/// }
/// ```
#[macro_export]
macro_rules! kuma_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident = $wire:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        impl $crate::model::choice::KumaEnum for $name {
            const NAMES: &'static [&'static str] = &[$($wire),+];
            fn from_name(name: &str) -> Option<Self> {
                match name { $($wire => Some($name::$variant),)+ _ => None }
            }
            fn name(&self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }
        }

        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn inline_schema() -> bool {
                true
            }
            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                schemars::json_schema!({ "type": "string", "enum": [$($wire),+] })
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str($crate::model::choice::KumaEnum::name(self))
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                <$name as $crate::model::choice::KumaEnum>::from_name(&s).ok_or_else(|| {
                    serde::de::Error::unknown_variant(&s, <$name as $crate::model::choice::KumaEnum>::NAMES)
                })
            }
        }
    };
}
