//! Bounded, validated text for identifiers carried in events.
//!
//! Events carry customs declaration numbers, plates, seal and officer ids that come from
//! devices, config files and central commands — all untrusted. Every such string is held in
//! a fixed-capacity [`Text`] (no heap) that refuses empty input, input longer than its
//! capacity and control characters, so that nothing downstream (logs, JSON, MQTT topics,
//! terminals) can be confused by it. [`Ident`] is stricter still, for names that also appear
//! in MQTT topics and file names: ASCII letters, digits, `.`, `_` and `-` only.
//!
//! ```
//! use ects_firmware::text::{Ident, Text, TextError};
//! let plate: Text<24> = Text::new("UAX 123K / ZF 4411").unwrap();
//! assert_eq!(plate.as_str(), "UAX 123K / ZF 4411");
//! assert_eq!(Ident::<8>::new("malaba/1"), Err(TextError::BadChar { at: 6 }));
//! assert_eq!(Text::<4>::new("12345"), Err(TextError::TooLong { max: 4, len: 5 }));
//! ```

use core::fmt;
use core::ops::Deref;

/// Why a string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextError {
    /// The string is empty.
    Empty,
    /// The string is `len` bytes long; at most `max` fit.
    TooLong {
        /// Capacity in bytes.
        max: usize,
        /// Length of the input in bytes.
        len: usize,
    },
    /// The character at byte offset `at` is not allowed here.
    BadChar {
        /// Byte offset of the first refused character.
        at: usize,
    },
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TextError::Empty => f.write_str("must not be empty"),
            TextError::TooLong { max, len } => {
                write!(f, "is {len} bytes long, at most {max} are allowed")
            }
            TextError::BadChar { at } => write!(f, "has a character not allowed here at byte {at}"),
        }
    }
}

impl core::error::Error for TextError {}

macro_rules! bounded_text {
    ($(#[$doc:meta])* $name:ident, $allowed:expr, $expecting:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name<const N: usize>(heapless::String<N>);

        impl<const N: usize> $name<N> {
            /// Validates and copies `s`.
            ///
            /// # Errors
            /// [`TextError`] for empty input, more than `N` bytes, or a refused character.
            pub fn new(s: &str) -> Result<Self, TextError> {
                if s.is_empty() {
                    return Err(TextError::Empty);
                }
                if s.len() > N {
                    return Err(TextError::TooLong { max: N, len: s.len() });
                }
                let allowed: fn(char) -> bool = $allowed;
                if let Some((at, _)) = s.char_indices().find(|&(_, c)| !allowed(c)) {
                    return Err(TextError::BadChar { at });
                }
                let mut out = heapless::String::new();
                // Cannot fail: the length was checked against the capacity above.
                out.push_str(s).map_err(|_| TextError::TooLong { max: N, len: s.len() })?;
                Ok(Self(out))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }
        }

        impl<const N: usize> Deref for $name<N> {
            type Target = str;
            fn deref(&self) -> &str {
                self.0.as_str()
            }
        }

        impl<const N: usize> fmt::Debug for $name<N> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl<const N: usize> fmt::Display for $name<N> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }

        impl<const N: usize> core::str::FromStr for $name<N> {
            type Err = TextError;
            fn from_str(s: &str) -> Result<Self, TextError> {
                Self::new(s)
            }
        }

        impl<const N: usize> serde::Serialize for $name<N> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de, const N: usize> serde::Deserialize<'de> for $name<N> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V<const N: usize>;
                impl<const N: usize> serde::de::Visitor<'_> for V<N> {
                    type Value = $name<N>;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        write!(f, $expecting, N)
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name<N>, E> {
                        $name::new(v).map_err(E::custom)
                    }
                }
                d.deserialize_str(V::<N>)
            }
        }
    };
}

bounded_text!(
    /// Printable text of 1 to `N` bytes (UTF-8, no control characters): declaration numbers,
    /// plates, seal ids, officer ids, messages.
    Text,
    |c| !c.is_control(),
    "printable text of 1 to {} bytes"
);

bounded_text!(
    /// A name of 1 to `N` bytes made of ASCII letters, digits, `.`, `_` and `-`, safe in MQTT
    /// topics and file names: gateway, corridor and zone ids.
    Ident,
    |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'),
    "an identifier of 1 to {} ASCII letters, digits, '.', '_' or '-'"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn test_text_accepts_unicode_refuses_control() {
        assert!(Text::<16>::new("Ouédraogo").is_ok());
        assert_eq!(
            Text::<16>::new("a\u{1b}[2J"),
            Err(TextError::BadChar { at: 1 })
        );
        assert_eq!(Text::<16>::new(""), Err(TextError::Empty));
    }

    #[test]
    fn test_ident_is_topic_safe() {
        for bad in ["a/b", "a+b", "a#", "a b", "ü"] {
            assert!(Ident::<8>::new(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Ident::<16>::new("KE-MALABA.01_a").unwrap().as_str(),
            "KE-MALABA.01_a"
        );
    }

    #[test]
    fn test_serde_round_trip_and_refusal() {
        let t: Text<8> = serde_json::from_str("\"ZF 4411\"").unwrap();
        assert_eq!(serde_json::to_string(&t).unwrap(), "\"ZF 4411\"");
        let err = serde_json::from_str::<Ident<4>>("\"toolong\"").unwrap_err();
        assert!(err.to_string().contains("at most 4"), "{err}");
    }

    proptest! {
        #[test]
        fn prop_new_is_total(s in "\\PC*|[\\x00-\\x7f]{0,40}") {
            if let Ok(t) = Text::<32>::new(&s) {
                prop_assert_eq!(t.as_str(), s.as_str());
            }
            if let Ok(t) = Ident::<32>::new(&s) {
                prop_assert!(t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
            }
        }
    }
}
