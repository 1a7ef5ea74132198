//! Secrets of the configuration as types: whatever prints or serialises a configuration (logs,
//! `veritrail config show`) shows `[redacted]` for them, so no list of fields to hide has to be
//! kept in step with the structs. The value is read only through `expose`, and its memory is
//! zeroed when dropped: it is held in a `secrecy::SecretString`. That type alone cannot be the
//! field: it does not serialise (so `veritrail config show` could not print the configuration)
//! and has no notion of "not set"; this wrapper adds both.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a set secret is shown as.
const REDACTED: &str = "[redacted]";

/// A secret string setting (a key, a token). Empty means "not set" and is shown as empty.
#[derive(Clone, Default)]
pub struct Secret(Option<SecretString>);

impl Secret {
    /// The value, for the one place that uses it; empty when not set.
    pub fn expose(&self) -> &str {
        self.0.as_ref().map_or("", |secret| secret.expose_secret())
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    /// `None` when not set.
    pub fn exposed(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.expose().to_owned())
    }

    fn shown(&self) -> &'static str {
        if self.is_empty() { "" } else { REDACTED }
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self((!value.is_empty()).then(|| SecretString::from(value)))
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        value.to_owned().into()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.shown(), f)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.shown())
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

/// A database URL, which may carry a password (`user:password@`, `?password=`): shown with its
/// secrets redacted (`veritrail_store::redact_url`), so the host and database stay visible.
#[derive(Clone, Default)]
pub struct DatabaseUrl(Secret);

impl DatabaseUrl {
    pub fn expose(&self) -> &str {
        self.0.expose()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn shown(&self) -> String {
        veritrail_store::redact_url(self.expose())
    }
}

impl<T: Into<Secret>> From<T> for DatabaseUrl {
    fn from(value: T) -> Self {
        Self(value.into())
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.shown(), f)
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.shown())
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Secret::deserialize(deserializer).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_secrets_print_and_serialise_redacted_and_unset_ones_empty() {
        let key = Secret::from("hunter2");
        assert_eq!(key.expose(), "hunter2");
        assert_eq!(format!("{key:?}"), "\"[redacted]\"");
        assert_eq!(serde_json::to_string(&key).expect("json"), "\"[redacted]\"");
        let unset = Secret::default();
        assert!(unset.is_empty() && unset.exposed().is_none());
        assert_eq!(format!("{unset:?}"), "\"\"");
        let parsed: Secret = serde_json::from_str("\"s3cr3t\"").expect("parse");
        assert_eq!(parsed.exposed().as_deref(), Some("s3cr3t"));

        let url = DatabaseUrl::from("postgres://app:pw@db.internal:5432/veritrail");
        assert_eq!(url.expose(), "postgres://app:pw@db.internal:5432/veritrail");
        let shown = format!("{url:?} {}", serde_json::to_string(&url).expect("json"));
        assert!(!shown.contains("pw@") && shown.contains("db.internal"), "{shown}");
        let url = DatabaseUrl::from("postgres://app@db.internal/veritrail?sslmode=require&password=hunter2");
        let shown = format!("{url:?} {}", serde_json::to_string(&url).expect("json"));
        assert!(!shown.contains("hunter2") && shown.contains("sslmode=require"), "{shown}");
    }
}
