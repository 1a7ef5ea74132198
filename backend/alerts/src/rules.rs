//! What a rule's `match` means, and whether an anomaly or an event satisfies a rule.
//!
//! | rule kind | `match` fields (all optional; a missing one matches everything) |
//! | --- | --- |
//! | `anomaly` | `detectors` (any of), `subjects` (actor or tenant ids; `prefix*` matches a prefix), `subject_kind` (`actor`\|`tenant`) |
//! | `event` | `actions` (any of; `prefix*` allowed), `outcome` (one or a list), `actors` (as `subjects`), `resource_types` (any of) |
//!
//! `min_severity` of the rule applies to the anomaly's or event's severity. Specs are parsed
//! strictly (unknown fields refused, with the field named), so a typo never silently matches
//! everything.

use serde::Deserialize;
use serde_json::Value;
use veritrail_core::alerting::{NewRule, RuleKind, StoredRule};
use veritrail_core::anomalies::{AnomalySeverity, StoredAnomaly, SubjectKind};
use veritrail_core::event::{Outcome, Severity, StoredEvent};

/// Most entries in one list of a spec.
pub const MAX_LIST: usize = 200;
/// Longest rule name.
pub const MAX_RULE_NAME: usize = 100;
/// Most channels of one rule.
pub const MAX_RULE_CHANNELS: usize = 20;
/// Longest cooldown: 30 days.
pub const MAX_COOLDOWN_SECONDS: u64 = 30 * 24 * 3600;

/// A mistake in a rule's `match`, naming the field (`match.actions[2]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct MatchError {
    pub field: String,
    pub message: String,
}

/// The conditions of an `anomaly` rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnomalyMatch {
    #[serde(default)]
    pub detectors: Vec<String>,
    #[serde(default)]
    pub subjects: Vec<String>,
    #[serde(default)]
    pub subject_kind: Option<SubjectKind>,
}

/// One outcome or several.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    One(Outcome),
    Many(Vec<Outcome>),
}

/// The conditions of an `event` rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventMatch {
    #[serde(default)]
    pub actions: Vec<String>,
    #[serde(default)]
    pub outcome: Option<OneOrMany>,
    #[serde(default)]
    pub actors: Vec<String>,
    #[serde(default)]
    pub resource_types: Vec<String>,
}

/// A parsed `match`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchSpec {
    Anomaly(AnomalyMatch),
    Event(EventMatch),
}

impl MatchSpec {
    /// Parses `spec` (absent: match everything) for a rule of `kind`.
    pub fn parse(kind: RuleKind, spec: Option<&Value>) -> Result<Self, MatchError> {
        let spec = match spec {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(value @ Value::Object(_)) => value.clone(),
            Some(_) => return Err(MatchError { field: "match".into(), message: "must be a JSON object".into() }),
        };
        fn strict<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, MatchError> {
            serde_path_to_error::deserialize(value).map_err(|error| {
                let path = error.path().to_string();
                let field = if path == "." { "match".to_owned() } else { format!("match.{path}") };
                MatchError { field, message: error.into_inner().to_string() }
            })
        }
        let parsed = match kind {
            RuleKind::Anomaly => Self::Anomaly(strict(spec)?),
            RuleKind::Event => Self::Event(strict(spec)?),
        };
        parsed.check_lists()?;
        Ok(parsed)
    }

    fn check_lists(&self) -> Result<(), MatchError> {
        let lists: Vec<(&str, &Vec<String>)> = match self {
            Self::Anomaly(spec) => vec![("detectors", &spec.detectors), ("subjects", &spec.subjects)],
            Self::Event(spec) => {
                vec![("actions", &spec.actions), ("actors", &spec.actors), ("resource_types", &spec.resource_types)]
            }
        };
        for (name, list) in lists {
            if list.len() > MAX_LIST {
                return Err(MatchError {
                    field: format!("match.{name}"),
                    message: format!("at most {MAX_LIST} entries"),
                });
            }
            if let Some(index) = list.iter().position(|entry| entry.trim().is_empty() || entry.len() > 1024) {
                return Err(MatchError {
                    field: format!("match.{name}[{index}]"),
                    message: "must be a non-empty string of at most 1024 bytes".into(),
                });
            }
        }
        Ok(())
    }
}

/// Parses a rule as the API and configuration files give it: `{"name", "kind"?,
/// "min_severity", "channels", "match"?, "cooldown_seconds"?, "enabled"?}`; the error names the
/// field. Channel ids are checked by the store when the rule is written.
pub fn parse_rule(body: &Value) -> Result<NewRule, String> {
    let object = body.as_object().ok_or_else(|| "the body must be a JSON object".to_owned())?;
    const FIELDS: [&str; 7] = ["name", "kind", "min_severity", "channels", "match", "cooldown_seconds", "enabled"];
    if let Some(unknown) = object.keys().find(|key| !FIELDS.contains(&key.as_str())) {
        return Err(format!("unknown field {unknown:?}; a rule takes {}", FIELDS.join(", ")));
    }
    let name = match object.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() && name.chars().count() <= MAX_RULE_NAME => name.clone(),
        _ => return Err(format!("name: required, 1 to {MAX_RULE_NAME} characters")),
    };
    let kind = match object.get("kind") {
        None | Some(Value::Null) => RuleKind::Anomaly,
        Some(Value::String(kind)) => kind.parse().map_err(|error: String| format!("kind: {error}"))?,
        Some(_) => return Err("kind: must be \"anomaly\" or \"event\"".to_owned()),
    };
    let min_severity = match object.get("min_severity") {
        Some(Value::String(text)) => match serde_json::from_value::<Severity>(Value::String(text.clone())) {
            Ok(severity) if severity >= Severity::Low => severity,
            _ => return Err(format!("min_severity: {text:?} is not one of low, medium, high, critical")),
        },
        _ => return Err("min_severity: required, one of low, medium, high, critical".to_owned()),
    };
    let channel_ids: Vec<String> = match object.get("channels") {
        Some(Value::Array(ids)) if !ids.is_empty() && ids.len() <= MAX_RULE_CHANNELS => ids
            .iter()
            .enumerate()
            .map(|(index, id)| {
                id.as_str().map(str::to_owned).ok_or_else(|| format!("channels[{index}]: must be a channel id"))
            })
            .collect::<Result<_, _>>()?,
        _ => return Err(format!("channels: required, 1 to {MAX_RULE_CHANNELS} channel ids")),
    };
    let match_spec = match object.get("match") {
        None | Some(Value::Null) => None,
        Some(spec) => Some(spec.clone()),
    };
    MatchSpec::parse(kind, match_spec.as_ref()).map_err(|error| error.to_string())?;
    let cooldown_seconds = match object.get("cooldown_seconds") {
        None | Some(Value::Null) => None,
        Some(value) => match value.as_u64() {
            Some(seconds) if seconds <= MAX_COOLDOWN_SECONDS => Some(seconds as u32),
            _ => return Err(format!("cooldown_seconds: an integer from 0 to {MAX_COOLDOWN_SECONDS}")),
        },
    };
    let enabled = match object.get("enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(enabled)) => *enabled,
        Some(_) => return Err("enabled: must be true or false".to_owned()),
    };
    Ok(NewRule { name, kind, min_severity, channel_ids, match_spec, cooldown_seconds, enabled })
}

/// `pattern` is an exact value, or `prefix*`.
fn matches_pattern(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

fn any_or_empty(patterns: &[String], value: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|pattern| matches_pattern(pattern, value))
}

/// The event severity an anomaly severity compares as.
pub fn anomaly_severity(severity: AnomalySeverity) -> Severity {
    match severity {
        AnomalySeverity::Low => Severity::Low,
        AnomalySeverity::Medium => Severity::Medium,
        AnomalySeverity::High => Severity::High,
        AnomalySeverity::Critical => Severity::Critical,
    }
}

/// Whether an enabled `anomaly` rule wants this anomaly. A rule whose stored spec no longer
/// parses matches nothing (it was validated when written).
pub fn rule_matches_anomaly(rule: &StoredRule, anomaly: &StoredAnomaly) -> bool {
    if !rule.enabled || rule.kind != RuleKind::Anomaly || anomaly_severity(anomaly.severity) < rule.min_severity {
        return false;
    }
    let Ok(MatchSpec::Anomaly(spec)) = MatchSpec::parse(rule.kind, rule.match_spec.as_ref()) else {
        return false;
    };
    spec.subject_kind.is_none_or(|kind| kind == anomaly.subject.kind)
        && any_or_empty(&spec.subjects, &anomaly.subject.id)
        && (spec.detectors.is_empty() || anomaly.detectors.iter().any(|detector| spec.detectors.contains(detector)))
}

/// Whether an enabled `event` rule wants this event.
pub fn rule_matches_event(rule: &StoredRule, event: &StoredEvent) -> bool {
    if !rule.enabled || rule.kind != RuleKind::Event || event.severity < rule.min_severity {
        return false;
    }
    let Ok(MatchSpec::Event(spec)) = MatchSpec::parse(rule.kind, rule.match_spec.as_ref()) else {
        return false;
    };
    let outcome_ok = match &spec.outcome {
        None => true,
        Some(OneOrMany::One(outcome)) => *outcome == event.outcome,
        Some(OneOrMany::Many(outcomes)) => outcomes.contains(&event.outcome),
    };
    let resource_ok = spec.resource_types.is_empty()
        || event.resource.as_ref().is_some_and(|resource| spec.resource_types.contains(&resource.kind));
    outcome_ok
        && resource_ok
        && any_or_empty(&spec.actions, &event.action)
        && any_or_empty(&spec.actors, &event.actor.id)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn specs_are_parsed_strictly_with_the_field_named() {
        let error = MatchSpec::parse(RuleKind::Event, Some(&json!({"action": ["x"]}))).expect_err("typo");
        assert_eq!(error.field, "match.action", "{error}");
        assert!(error.message.contains("unknown field"), "{error}");
        let error = MatchSpec::parse(RuleKind::Event, Some(&json!({"outcome": "maybe"}))).expect_err("outcome");
        assert!(error.field.starts_with("match.outcome"), "{error}");
        let error = MatchSpec::parse(RuleKind::Anomaly, Some(&json!({"subjects": ["a", " "]}))).expect_err("blank");
        assert_eq!(error.field, "match.subjects[1]");
        assert!(MatchSpec::parse(RuleKind::Anomaly, Some(&json!([1]))).is_err());
        assert_eq!(MatchSpec::parse(RuleKind::Event, None), Ok(MatchSpec::Event(EventMatch::default())));
    }

    #[test]
    fn rule_bodies_are_parsed_with_defaults_and_named_mistakes() {
        let rule = parse_rule(&json!({"name": "r", "min_severity": "high", "channels": ["c1"]})).expect("minimal");
        assert_eq!((rule.kind, rule.enabled, rule.cooldown_seconds), (RuleKind::Anomaly, true, None));
        for (body, field) in [
            (json!([]), "JSON object"),
            (json!({"name": "r", "min_severity": "high", "channels": ["c1"], "colour": 1}), "colour"),
            (json!({"name": "r", "min_severity": "debug", "channels": ["c1"]}), "min_severity"),
            (json!({"name": "r", "min_severity": "high", "channels": [1]}), "channels[0]"),
            (json!({"name": "r", "min_severity": "high", "channels": ["c1"], "kind": "cron"}), "kind"),
            (json!({"name": "r", "min_severity": "high", "channels": ["c1"], "cooldown_seconds": 1e12}), "cooldown"),
            (json!({"name": "r", "min_severity": "high", "channels": ["c1"], "enabled": "yes"}), "enabled"),
        ] {
            let error = parse_rule(&body).expect_err("refused");
            assert!(error.contains(field), "{field}: {error}");
        }
    }

    fn stored(kind: RuleKind, min_severity: Severity, spec: Value) -> StoredRule {
        StoredRule {
            id: "r".into(),
            tenant: veritrail_core::event::TenantId::parse("acme").expect("tenant"),
            name: "r".into(),
            kind,
            min_severity,
            channel_ids: vec!["c".into()],
            match_spec: Some(spec),
            cooldown_seconds: None,
            enabled: true,
            created_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        }
    }

    fn anomaly(subject: &str, severity: AnomalySeverity, detectors: &[&str]) -> StoredAnomaly {
        StoredAnomaly {
            id: "a".into(),
            tenant: veritrail_core::event::TenantId::parse("acme").expect("tenant"),
            subject: veritrail_core::anomalies::Subject::actor(subject.to_owned()),
            window_start: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            window_end: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
            reason: "x".into(),
            score: 0.9,
            severity,
            detectors: detectors.iter().map(|d| d.to_string()).collect(),
            features: vec![],
            narrative: "n".into(),
            event_ids: vec![],
            status: veritrail_core::anomalies::AnomalyStatus::Open,
            feedback: None,
            created_at: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn anomaly_rules_match_severity_detectors_and_subjects() {
        let rule = stored(
            RuleKind::Anomaly,
            Severity::Medium,
            json!({"detectors": ["kmeans"], "subjects": ["arn:aws:iam::1:user/*"], "subject_kind": "actor"}),
        );
        let user = "arn:aws:iam::1:user/eve";
        assert!(rule_matches_anomaly(&rule, &anomaly(user, AnomalySeverity::High, &["mad", "kmeans"])));
        assert!(!rule_matches_anomaly(&rule, &anomaly(user, AnomalySeverity::Low, &["kmeans"])), "too mild");
        assert!(!rule_matches_anomaly(&rule, &anomaly(user, AnomalySeverity::High, &["mad"])), "other detector");
        assert!(!rule_matches_anomaly(&rule, &anomaly("svc", AnomalySeverity::High, &["kmeans"])), "other subject");
        let mut disabled = rule.clone();
        disabled.enabled = false;
        assert!(!rule_matches_anomaly(&disabled, &anomaly(user, AnomalySeverity::High, &["kmeans"])));
        let event_rule = stored(RuleKind::Event, Severity::Low, json!({}));
        assert!(!rule_matches_anomaly(&event_rule, &anomaly(user, AnomalySeverity::High, &["kmeans"])), "kind");
    }

    #[test]
    fn patterns() {
        for (pattern, value, expected) in [
            ("iam:*", "iam:CreateUser", true),
            ("iam:*", "s3:GetObject", false),
            ("iam:CreateUser", "iam:CreateUser", true),
            ("iam:CreateUser", "iam:CreateUserX", false),
            ("*", "anything", true),
        ] {
            assert_eq!(matches_pattern(pattern, value), expected, "{pattern} ~ {value}");
        }
    }
}
