//! Turns an untrusted JSON value into a [`NewEvent`], or says precisely what is wrong with it.
//!
//! Validation happens before anything is written, so a rejected request stores nothing.

use std::net::IpAddr;

use chrono::{DateTime, Datelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::canonical::is_exact_number;
use crate::event::{Actor, NewEvent, Outcome, Resource, Severity, format_time, normalize_time};
use crate::hash::sha256;

/// Size and shape limits applied to every submitted event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest canonical size of `details`, in bytes.
    pub max_details_bytes: usize,
    /// Longest string accepted for ids, names, actions, types and user agents, in characters.
    pub max_string_chars: usize,
    /// Deepest nesting of arrays and objects inside `details`.
    pub max_depth: usize,
    pub max_tags: usize,
    pub max_tag_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_details_bytes: 64 * 1024, max_string_chars: 1024, max_depth: 32, max_tags: 64, max_tag_chars: 128 }
    }
}

/// Why a submitted event was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Stable machine-readable code, e.g. `invalid_field` or `details_too_large`.
    pub code: &'static str,
    /// Dotted path of the offending field, e.g. `actor.ip`.
    pub field: String,
    pub message: String,
}

impl ValidationError {
    fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: "invalid_field", field: field.into(), message: message.into() }
    }
}

const EVENT_FIELDS: &[&str] =
    &["id", "occurred_at", "actor", "action", "resource", "outcome", "severity", "details", "tags"];
const ACTOR_FIELDS: &[&str] = &["id", "type", "name", "ip", "user_agent"];
const RESOURCE_FIELDS: &[&str] = &["type", "id", "name"];

/// The start of the ids of the server's own records (integrity failures recorded in the chain).
pub const SYSTEM_ID_PREFIX: &str = "integrity-";
/// The start of the actions of the server's own records (`veritrail.integrity.failure`).
pub const SYSTEM_ACTION_PREFIX: &str = "veritrail.";

/// Validates an event from a client (the API, `veritrail ingest` and `import`): as
/// [`validate_event`], and refused when it claims the server's namespace, so nobody can forge a
/// record that reads as the server's own (or take an id the server will need for one). The
/// server's own records are validated with [`validate_event`] alone. Compared without case, as a
/// reader would.
pub fn validate_client_event(
    raw: &Value,
    limits: &Limits,
    new_id: impl FnOnce() -> String,
) -> Result<NewEvent, ValidationError> {
    let event = validate_event(raw, limits, new_id)?;
    if event.id_from_client && starts_with_ignoring_case(&event.id, SYSTEM_ID_PREFIX) {
        return Err(ValidationError::invalid(
            "id",
            format!("id {:?} is reserved: ids starting with {SYSTEM_ID_PREFIX:?} are the server's own", event.id),
        ));
    }
    if starts_with_ignoring_case(&event.action, SYSTEM_ACTION_PREFIX) {
        return Err(ValidationError::invalid(
            "action",
            format!(
                "action {:?} is reserved: actions starting with {SYSTEM_ACTION_PREFIX:?} are the server's own",
                event.action
            ),
        ));
    }
    Ok(event)
}

fn starts_with_ignoring_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len()).is_some_and(|start| start.eq_ignore_ascii_case(prefix))
}

/// Validates one submitted event. `new_id` supplies the id when the client gave none. Clients'
/// events go through [`validate_client_event`].
pub fn validate_event(
    raw: &Value,
    limits: &Limits,
    new_id: impl FnOnce() -> String,
) -> Result<NewEvent, ValidationError> {
    let object = raw.as_object().ok_or_else(|| ValidationError::invalid("", "an event must be a JSON object"))?;
    reject_unknown_fields(object, EVENT_FIELDS, "")?;

    let client_id = optional_string(object, "id", "id", limits.max_string_chars)?;
    if let Some(id) = &client_id {
        check_id(id, "id", limits)?;
    }
    let occurred_at = match object.get("occurred_at") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(parse_time(text, "occurred_at")?),
        Some(_) => {
            return Err(ValidationError::invalid("occurred_at", "occurred_at must be an RFC 3339 time string"));
        }
    };
    let actor = parse_actor(object.get("actor"), limits)?;
    let action = required_string(object, "action", "action", limits.max_string_chars)?;
    check_action(&action)?;
    let resource = parse_resource(object.get("resource"), limits)?;
    let outcome = match object.get("outcome") {
        Some(Value::String(text)) => {
            text.parse::<Outcome>().map_err(|message| ValidationError::invalid("outcome", message))?
        }
        None | Some(Value::Null) => {
            return Err(ValidationError::invalid(
                "outcome",
                "outcome is required: one of success, failure, denied, unknown",
            ));
        }
        Some(_) => return Err(ValidationError::invalid("outcome", "outcome must be a string")),
    };
    let severity = match object.get("severity") {
        None | Some(Value::Null) => Severity::Info,
        Some(Value::String(text)) => {
            text.parse::<Severity>().map_err(|message| ValidationError::invalid("severity", message))?
        }
        Some(_) => return Err(ValidationError::invalid("severity", "severity must be a string")),
    };
    let details = parse_details(object.get("details"), limits)?;
    let tags = parse_tags(object.get("tags"), limits)?;

    let request_hash = sha256(&request_canonical_bytes(&RequestContent {
        id: client_id.as_deref(),
        occurred_at: occurred_at.as_ref(),
        actor: &actor,
        action: &action,
        resource: resource.as_ref(),
        outcome,
        severity,
        details: &details,
        tags: &tags,
    }));

    Ok(NewEvent {
        id_from_client: client_id.is_some(),
        id: client_id.unwrap_or_else(new_id),
        occurred_at,
        actor,
        action,
        resource,
        outcome,
        severity,
        details,
        tags,
        request_hash,
    })
}

/// What a client submitted, as the idempotency fingerprint covers it (`id` and `occurred_at` as
/// given, so a retry without them matches itself).
struct RequestContent<'a> {
    id: Option<&'a str>,
    occurred_at: Option<&'a DateTime<Utc>>,
    actor: &'a Actor,
    action: &'a str,
    resource: Option<&'a Resource>,
    outcome: Outcome,
    severity: Severity,
    details: &'a Map<String, Value>,
    tags: &'a [String],
}

/// Returns the RFC 8785 form of the request content, written directly (members in sorted order).
fn request_canonical_bytes(content: &RequestContent<'_>) -> Vec<u8> {
    use crate::canonical::{write_object, write_string};
    let mut out = Vec::with_capacity(512);
    let optional = |out: &mut Vec<u8>, value: Option<&str>| match value {
        Some(text) => write_string(out, text),
        None => out.extend_from_slice(b"null"),
    };
    out.extend_from_slice(b"{\"action\":");
    write_string(&mut out, content.action);
    out.extend_from_slice(b",\"actor\":{\"id\":");
    write_string(&mut out, &content.actor.id);
    out.extend_from_slice(b",\"ip\":");
    optional(&mut out, content.actor.ip.as_deref());
    out.extend_from_slice(b",\"name\":");
    optional(&mut out, content.actor.name.as_deref());
    out.extend_from_slice(b",\"type\":");
    write_string(&mut out, &content.actor.kind);
    out.extend_from_slice(b",\"user_agent\":");
    optional(&mut out, content.actor.user_agent.as_deref());
    out.extend_from_slice(b"},\"details\":");
    write_object(&mut out, content.details);
    out.extend_from_slice(b",\"id\":");
    optional(&mut out, content.id);
    out.extend_from_slice(b",\"occurred_at\":");
    optional(&mut out, content.occurred_at.map(format_time).as_deref());
    out.extend_from_slice(b",\"outcome\":");
    write_string(&mut out, content.outcome.as_str());
    out.extend_from_slice(b",\"resource\":");
    match content.resource {
        Some(resource) => {
            out.extend_from_slice(b"{\"id\":");
            write_string(&mut out, &resource.id);
            out.extend_from_slice(b",\"name\":");
            optional(&mut out, resource.name.as_deref());
            out.extend_from_slice(b",\"type\":");
            write_string(&mut out, &resource.kind);
            out.push(b'}');
        }
        None => out.extend_from_slice(b"null"),
    }
    out.extend_from_slice(b",\"severity\":");
    write_string(&mut out, content.severity.as_str());
    out.extend_from_slice(b",\"tags\":[");
    for (idx, tag) in content.tags.iter().enumerate() {
        if idx > 0 {
            out.push(b',');
        }
        write_string(&mut out, tag);
    }
    out.extend_from_slice(b"]}");
    out
}

fn reject_unknown_fields(object: &Map<String, Value>, known: &[&str], prefix: &str) -> Result<(), ValidationError> {
    match object.keys().find(|key| !known.contains(&key.as_str())) {
        Some(unknown) => Err(ValidationError::invalid(
            format!("{prefix}{unknown}"),
            format!("unknown field {:?}; expected one of {}", format!("{prefix}{unknown}"), known.join(", ")),
        )),
        None => Ok(()),
    }
}

fn optional_string(
    object: &Map<String, Value>,
    key: &str,
    field: &str,
    max_chars: usize,
) -> Result<Option<String>, ValidationError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            check_text(text, field, max_chars)?;
            if text.is_empty() {
                return Err(ValidationError::invalid(field, format!("{field} must not be empty")));
            }
            Ok(Some(text.clone()))
        }
        Some(_) => Err(ValidationError::invalid(field, format!("{field} must be a string"))),
    }
}

fn required_string(
    object: &Map<String, Value>,
    key: &str,
    field: &str,
    max_chars: usize,
) -> Result<String, ValidationError> {
    optional_string(object, key, field, max_chars)?
        .ok_or_else(|| ValidationError::invalid(field, format!("{field} is required")))
}

fn check_text(text: &str, field: &str, max_chars: usize) -> Result<(), ValidationError> {
    if text.contains('\0') {
        return Err(ValidationError::invalid(field, format!("{field} contains a NUL character")));
    }
    if text.chars().count() > max_chars {
        return Err(ValidationError::invalid(field, format!("{field} is longer than {max_chars} characters")));
    }
    Ok(())
}

fn check_id(id: &str, field: &str, limits: &Limits) -> Result<(), ValidationError> {
    let valid = id.len() <= 128.min(limits.max_string_chars)
        && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_.:".contains(&byte));
    if !valid {
        return Err(ValidationError::invalid(
            field,
            format!("{field} must be 1 to 128 characters from A-Z, a-z, 0-9, '-', '_', '.', ':'"),
        ));
    }
    Ok(())
}

fn check_action(action: &str) -> Result<(), ValidationError> {
    let valid = action.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_.:/".contains(&byte));
    if !valid || action.starts_with('.') || action.ends_with('.') {
        return Err(ValidationError::invalid(
            "action",
            "action must be a dotted verb such as \"repo.delete\" (letters, digits, '-', '_', '.', ':', '/')",
        ));
    }
    Ok(())
}

fn parse_time(text: &str, field: &str) -> Result<DateTime<Utc>, ValidationError> {
    let time = DateTime::parse_from_rfc3339(text)
        .map_err(|err| {
            ValidationError::invalid(
                field,
                format!("{field} {text:?} is not an RFC 3339 time ({err}), e.g. 2026-01-31T12:00:00Z"),
            )
        })?
        .with_timezone(&Utc);
    if !(1970..=9999).contains(&time.year()) {
        return Err(ValidationError::invalid(field, format!("{field} must lie between the years 1970 and 9999")));
    }
    Ok(normalize_time(time))
}

fn parse_actor(raw: Option<&Value>, limits: &Limits) -> Result<Actor, ValidationError> {
    let object = match raw {
        Some(Value::Object(object)) => object,
        None | Some(Value::Null) => {
            return Err(ValidationError::invalid("actor", "actor is required: {\"id\": ..., \"type\": ...}"));
        }
        Some(_) => return Err(ValidationError::invalid("actor", "actor must be an object")),
    };
    reject_unknown_fields(object, ACTOR_FIELDS, "actor.")?;
    let max = limits.max_string_chars;
    let ip = match optional_string(object, "ip", "actor.ip", max)? {
        Some(text) => Some(
            text.parse::<IpAddr>()
                .map_err(|_| {
                    ValidationError::invalid("actor.ip", format!("actor.ip {text:?} is not an IPv4 or IPv6 address"))
                })?
                .to_string(),
        ),
        None => None,
    };
    Ok(Actor {
        id: required_string(object, "id", "actor.id", max)?,
        kind: required_string(object, "type", "actor.type", max)?,
        name: optional_string(object, "name", "actor.name", max)?,
        ip,
        user_agent: optional_string(object, "user_agent", "actor.user_agent", max)?,
    })
}

fn parse_resource(raw: Option<&Value>, limits: &Limits) -> Result<Option<Resource>, ValidationError> {
    let object = match raw {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(object)) => object,
        Some(_) => return Err(ValidationError::invalid("resource", "resource must be an object")),
    };
    reject_unknown_fields(object, RESOURCE_FIELDS, "resource.")?;
    let max = limits.max_string_chars;
    Ok(Some(Resource {
        kind: required_string(object, "type", "resource.type", max)?,
        id: required_string(object, "id", "resource.id", max)?,
        name: optional_string(object, "name", "resource.name", max)?,
    }))
}

fn parse_details(raw: Option<&Value>, limits: &Limits) -> Result<Map<String, Value>, ValidationError> {
    let details = match raw {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(object)) => object,
        Some(_) => return Err(ValidationError::invalid("details", "details must be a JSON object")),
    };
    for (key, member) in details {
        let member_path = format!("details.{key}");
        if key.contains('\0') {
            return Err(ValidationError::invalid(&member_path, "a key in details contains a NUL character"));
        }
        check_json_tree(member, &member_path, 1, limits)?;
    }
    let mut canonical = Vec::new();
    crate::canonical::write_object(&mut canonical, details);
    let size = canonical.len();
    if size > limits.max_details_bytes {
        return Err(ValidationError {
            code: "details_too_large",
            field: "details".to_owned(),
            message: format!("details is {size} bytes, more than the limit of {} bytes", limits.max_details_bytes),
        });
    }
    Ok(details.clone())
}

/// Refuses what could not be stored or hashed faithfully: deep nesting, NUL characters (PostgreSQL
/// text cannot hold them) and numbers a double would round.
fn check_json_tree(value: &Value, path: &str, depth: usize, limits: &Limits) -> Result<(), ValidationError> {
    if depth > limits.max_depth {
        return Err(ValidationError::invalid(
            path,
            format!("details is nested deeper than {} levels", limits.max_depth),
        ));
    }
    match value {
        Value::String(text) if text.contains('\0') => {
            Err(ValidationError::invalid(path, format!("{path} contains a NUL character")))
        }
        Value::Number(number) if !is_exact_number(number) => Err(ValidationError::invalid(
            path,
            format!("{path} is a number outside ±2^53 that cannot be stored exactly; send it as a string"),
        )),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(idx, item)| check_json_tree(item, &format!("{path}[{idx}]"), depth + 1, limits)),
        Value::Object(members) => members.iter().try_for_each(|(key, member)| {
            let member_path = format!("{path}.{key}");
            if key.contains('\0') {
                return Err(ValidationError::invalid(
                    &member_path,
                    format!("a key in {path} contains a NUL character"),
                ));
            }
            check_json_tree(member, &member_path, depth + 1, limits)
        }),
        _ => Ok(()),
    }
}

fn parse_tags(raw: Option<&Value>, limits: &Limits) -> Result<Vec<String>, ValidationError> {
    let items = match raw {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(_) => return Err(ValidationError::invalid("tags", "tags must be an array of strings")),
    };
    if items.len() > limits.max_tags {
        return Err(ValidationError::invalid(
            "tags",
            format!("at most {} tags are allowed, got {}", limits.max_tags, items.len()),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(idx, item)| {
            let field = format!("tags[{idx}]");
            match item {
                Value::String(text) if !text.is_empty() => {
                    check_text(text, &field, limits.max_tag_chars)?;
                    Ok(text.clone())
                }
                _ => Err(ValidationError::invalid(&field, format!("{field} must be a non-empty string"))),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn clients_cannot_use_the_system_namespace() {
        let limits = Limits::default();
        let client = |raw: Value| validate_client_event(&raw, &limits, || "generated".to_owned());
        let base = json!({"actor": {"id": "a", "type": "user"}, "action": "repo.delete", "outcome": "success"});
        let with = |key: &str, value: &str| {
            let mut raw = base.clone();
            raw[key] = json!(value);
            raw
        };
        for (key, value) in [
            ("id", "integrity-chain-changed-4"),
            ("id", "INTEGRITY-x"),
            ("action", "veritrail.integrity.failure"),
            ("action", "Veritrail.anything"),
        ] {
            let err = client(with(key, value)).expect_err(value);
            assert_eq!((err.code, err.field.as_str()), ("invalid_field", key), "{value}");
            assert!(err.message.contains("reserved"), "{}", err.message);
            // The server's own records are validated without the check.
            assert!(validate(with(key, value)).is_ok(), "{value}");
        }
        for (key, value) in [("id", "my-integrity-1"), ("action", "veritrail_app.login"), ("action", "app.veritrail.x")]
        {
            assert!(client(with(key, value)).is_ok(), "{value}");
        }
    }

    fn validate(raw: Value) -> Result<NewEvent, ValidationError> {
        validate_event(&raw, &Limits::default(), || "generated".to_owned())
    }

    fn minimal() -> Value {
        json!({"actor": {"id": "alice", "type": "user"}, "action": "repo.delete", "outcome": "success"})
    }

    #[test]
    fn minimal_event_gets_defaults() {
        let event = validate(minimal()).expect("valid");
        assert_eq!(event.id, "generated");
        assert_eq!(event.severity, Severity::Info);
        assert!(event.occurred_at.is_none());
        assert!(event.details.is_empty());
    }

    #[test]
    fn request_fingerprint_is_the_canonical_json_of_the_request() {
        let mut raw = minimal();
        raw["details"] = json!({"z": [1, "two"], "a": {"b": null}});
        raw["resource"] = json!({"type": "repo", "id": "r1"});
        raw["tags"] = json!(["x", "y"]);
        raw["occurred_at"] = json!("2026-01-01T00:00:00Z");
        let event = validate(raw).expect("valid");
        let expected = crate::canonical::to_canonical_bytes(&json!({
            "id": null,
            "occurred_at": "2026-01-01T00:00:00.000000Z",
            "actor": {"id": "alice", "type": "user", "name": null, "ip": null, "user_agent": null},
            "action": "repo.delete",
            "resource": {"type": "repo", "id": "r1", "name": null},
            "outcome": "success",
            "severity": "info",
            "details": {"z": [1, "two"], "a": {"b": null}},
            "tags": ["x", "y"],
        }));
        assert_eq!(event.request_hash, sha256(&expected));
    }

    #[test]
    fn request_hash_ignores_key_order_but_not_content() {
        let first = validate(minimal()).expect("valid");
        let reordered =
            validate(json!({"outcome": "success", "action": "repo.delete", "actor": {"type": "user", "id": "alice"}}))
                .expect("valid");
        let mut changed = minimal();
        changed["outcome"] = json!("failure");
        let other = validate(changed).expect("valid");
        assert_eq!(first.request_hash, reordered.request_hash);
        assert_ne!(first.request_hash, other.request_hash);
    }

    #[test]
    fn rejects_bad_fields_with_their_path() {
        let cases = [
            (json!({"actor": {"id": "a", "type": "user"}, "action": "x", "outcome": "maybe"}), "outcome"),
            (
                json!({"actor": {"id": "a", "type": "user", "ip": "999.1.1.1"}, "action": "x", "outcome": "success"}),
                "actor.ip",
            ),
            (json!({"actor": {"id": "a"}, "action": "x", "outcome": "success"}), "actor.type"),
            (json!({"actor": {"id": "a", "type": "u"}, "action": "has space", "outcome": "success"}), "action"),
            (
                json!({"actor": {"id": "a", "type": "u"}, "action": "x", "outcome": "success", "occurred_at": "yesterday"}),
                "occurred_at",
            ),
            (json!({"actor": {"id": "a", "type": "u"}, "action": "x", "outcome": "success", "extra": 1}), "extra"),
            (json!({"actor": {"id": "a\u{0}", "type": "u"}, "action": "x", "outcome": "success"}), "actor.id"),
            (
                json!({"actor": {"id": "a", "type": "u"}, "action": "x", "outcome": "success", "details": {"n": 18446744073709551615u64}}),
                "details.n",
            ),
            (
                json!({"actor": {"id": "a", "type": "u"}, "action": "x", "outcome": "success", "tags": ["ok", 3]}),
                "tags[1]",
            ),
            (json!({"actor": {"id": "a", "type": "u"}, "action": "x", "outcome": "success", "id": "has space"}), "id"),
        ];
        for (raw, field) in cases {
            let err = validate(raw.clone()).expect_err(&raw.to_string());
            assert_eq!(err.field, field, "{raw}: {}", err.message);
        }
    }

    #[test]
    fn rejects_deep_nesting_and_large_details() {
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!([deep]);
        }
        let mut raw = minimal();
        raw["details"] = json!({ "deep": deep });
        assert_eq!(validate(raw).expect_err("deep").code, "invalid_field");

        let mut raw = minimal();
        raw["details"] = json!({ "blob": "x".repeat(70_000) });
        assert_eq!(validate(raw).expect_err("big").code, "details_too_large");
    }

    #[test]
    fn normalizes_time_and_ip() {
        let mut raw = minimal();
        raw["occurred_at"] = json!("2026-03-01T10:00:00.123456789+02:00");
        raw["actor"]["ip"] = json!("2001:0db8:0000:0000:0000:0000:0000:0001");
        let event = validate(raw).expect("valid");
        assert_eq!(event.occurred_at.map(|time| format_time(&time)).as_deref(), Some("2026-03-01T08:00:00.123456Z"));
        assert_eq!(event.actor.ip.as_deref(), Some("2001:db8::1"));
    }
}
