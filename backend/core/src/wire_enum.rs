//! [`wire_enum!`](crate::wire_enum): closed enums whose values travel as fixed names (JSON, query
//! strings, database columns), declared once with their names.

/// Declares a closed set of wire names: the enum, `ALL`, `as_str`, `FromStr`, `Display` and serde
/// with exactly those names. Parsing an unknown name fails with
/// `<what> "<name>" is not one of <every name>`, the message clients see.
///
/// ```
/// veritrail_core::wire_enum! {
///     /// A traffic light.
///     pub enum Light ("light") {
///         Red => "red",
///         Green => "green",
///     }
/// }
/// assert_eq!("green".parse::<Light>(), Ok(Light::Green));
/// assert_eq!(Light::Red.to_string(), "red");
/// ```
///
/// The calling crate must depend on `serde` (the derives name it).
#[macro_export]
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident ($what:literal) {
            $($(#[$variant_meta:meta])* $variant:ident => $wire:literal),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $($(#[$variant_meta])* #[serde(rename = $wire)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire (and stored) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(raw: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|value| value.as_str() == raw).ok_or_else(|| {
                    format!(concat!($what, " {:?} is not one of {}"), raw, [$($wire),+].join(", "))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::wire_enum! {
        /// Two values, one renamed on the wire.
        #[derive(PartialOrd, Ord)]
        enum Sample ("sample") {
            First => "first",
            /// The second.
            SecondOne => "second_one",
        }
    }

    #[test]
    fn names_round_trip_through_text_display_and_serde() {
        for value in Sample::ALL {
            assert_eq!(value.as_str().parse::<Sample>(), Ok(*value));
            assert_eq!(value.to_string(), value.as_str());
            let json = serde_json::to_string(value).expect("json");
            assert_eq!(json, format!("{:?}", value.as_str()));
            assert_eq!(serde_json::from_str::<Sample>(&json).expect("parse"), *value);
        }
        assert!(Sample::First < Sample::SecondOne);
    }

    #[test]
    fn unknown_names_are_refused_with_every_name() {
        assert_eq!("third".parse::<Sample>(), Err(r#"sample "third" is not one of first, second_one"#.to_owned()));
        assert!(serde_json::from_str::<Sample>(r#""third""#).is_err());
    }
}
