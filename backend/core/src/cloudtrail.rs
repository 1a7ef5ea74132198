//! AWS CloudTrail records as Veritrail events, so the logs teams already have can come in as they
//! are (`veritrail import --format cloudtrail`, `POST /api/v1/ingest/cloudtrail`).
//!
//! Mapping of one record:
//! - `id` ← `eventID` (so importing a file twice adds nothing);
//! - `occurred_at` ← `eventTime`;
//! - `actor.id` ← `userIdentity.arn`, else `userIdentity.invokedBy`, else `principalId`, else
//!   `accountId`; `actor.type` ← `userIdentity.type` (`AWSService` when only `invokedBy` is
//!   given); `actor.name` ← `userName`, else the session issuer's name for assumed roles;
//! - `actor.ip` ← `sourceIPAddress` when it is an IP address (AWS services put their host name
//!   there; that stays in `details`); `actor.user_agent` ← `userAgent`;
//! - `action` ← `eventSource:eventName`, e.g. `cloudtrail.amazonaws.com:StopLogging`;
//! - `outcome` ← `denied` for access errors (`AccessDenied*`, `*Unauthorized*`), `failure` for
//!   any other `errorCode`, else `success`;
//! - `resource` ← the first entry of `resources` (`type`, `ARN`);
//! - `details` ← the whole record; `tags` ← `["cloudtrail", <awsRegion>]`.

use std::net::IpAddr;

use serde_json::{Map, Value, json};

/// Why a CloudTrail document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CloudTrailError(pub String);

/// Maps a CloudTrail delivery document (`{"Records": [...]}`) to event JSON ready for validation.
pub fn events_from_document(document: &Value) -> Result<Vec<Value>, CloudTrailError> {
    let records = document
        .get("Records")
        .and_then(Value::as_array)
        .ok_or_else(|| CloudTrailError("a CloudTrail file is {\"Records\": [...]}".to_owned()))?;
    records
        .iter()
        .enumerate()
        .map(|(idx, record)| event_from_record(record).map_err(|err| CloudTrailError(format!("Records[{idx}]: {err}"))))
        .collect()
}

/// Maps one CloudTrail record.
pub fn event_from_record(record: &Value) -> Result<Value, CloudTrailError> {
    let field = |name: &str| text(record.get(name));
    let identity = record.get("userIdentity");
    let identity_field = |name: &str| text(identity.and_then(|identity| identity.get(name)));

    let event_id = field("eventID").ok_or_else(|| CloudTrailError("eventID is missing".to_owned()))?;
    let event_time = field("eventTime").ok_or_else(|| CloudTrailError("eventTime is missing".to_owned()))?;
    let source = field("eventSource").ok_or_else(|| CloudTrailError("eventSource is missing".to_owned()))?;
    let name = field("eventName").ok_or_else(|| CloudTrailError("eventName is missing".to_owned()))?;

    let actor_id = identity_field("arn")
        .or_else(|| identity_field("invokedBy"))
        .or_else(|| identity_field("principalId"))
        .or_else(|| identity_field("accountId"))
        .unwrap_or("unknown");
    let actor_type =
        identity_field("type").unwrap_or(if identity_field("invokedBy").is_some() { "AWSService" } else { "Unknown" });
    let actor_name = identity_field("userName").or_else(|| {
        text(
            identity
                .and_then(|identity| identity.get("sessionContext"))
                .and_then(|context| context.get("sessionIssuer"))
                .and_then(|issuer| issuer.get("userName")),
        )
    });
    let ip = field("sourceIPAddress").and_then(|address| address.parse::<IpAddr>().ok()).map(|ip| ip.to_string());

    let outcome = match field("errorCode") {
        None => "success",
        Some(code) if is_access_error(code) => "denied",
        Some(_) => "failure",
    };
    let resource =
        record.get("resources").and_then(Value::as_array).and_then(|resources| resources.first()).and_then(|first| {
            match (text(first.get("type")), text(first.get("ARN"))) {
                (Some(kind), Some(arn)) => Some(json!({"type": kind, "id": arn})),
                (None, Some(arn)) => Some(json!({"type": "unknown", "id": arn})),
                _ => None,
            }
        });
    let mut actor = Map::new();
    actor.insert("id".to_owned(), json!(actor_id));
    actor.insert("type".to_owned(), json!(actor_type));
    if let Some(actor_name) = actor_name {
        actor.insert("name".to_owned(), json!(actor_name));
    }
    if let Some(ip) = ip {
        actor.insert("ip".to_owned(), json!(ip));
    }
    if let Some(agent) = field("userAgent") {
        actor.insert("user_agent".to_owned(), json!(agent));
    }
    let mut tags = vec![json!("cloudtrail")];
    if let Some(region) = field("awsRegion") {
        tags.push(json!(region));
    }
    let mut event = json!({
        "id": event_id,
        "occurred_at": event_time,
        "actor": actor,
        "action": format!("{source}:{name}"),
        "outcome": outcome,
        "details": record,
        "tags": tags,
    });
    if let Some(resource) = resource {
        event["resource"] = resource;
    }
    Ok(event)
}

/// Returns a non-empty string value.
fn text(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str).filter(|text| !text.is_empty())
}

/// Tells whether an AWS error code means the caller was not allowed (as opposed to a failure).
fn is_access_error(code: &str) -> bool {
    code.starts_with("AccessDenied") || code.contains("Unauthorized") || code == "AccessDeniedException"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(extra: Value) -> Value {
        let mut base = json!({
            "eventVersion": "1.08",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::1:user/bert-jan", "userName": "bert-jan", "accountId": "1"},
            "eventTime": "2023-07-10T12:00:00Z",
            "eventSource": "cloudtrail.amazonaws.com",
            "eventName": "StopLogging",
            "awsRegion": "us-east-1",
            "sourceIPAddress": "192.168.10.20",
            "userAgent": "stratus-red-team_1234",
            "eventID": "e-1",
        });
        if let (Value::Object(base), Value::Object(extra)) = (&mut base, extra) {
            base.extend(extra);
        }
        base
    }

    #[test]
    fn maps_identity_action_outcome_and_keeps_the_record() {
        let event = event_from_record(&record(json!({"errorCode": "TrailNotFoundException"}))).expect("mapped");
        assert_eq!(event["id"], "e-1");
        assert_eq!(
            event["actor"],
            json!({"id": "arn:aws:iam::1:user/bert-jan", "type": "IAMUser", "name": "bert-jan", "ip": "192.168.10.20", "user_agent": "stratus-red-team_1234"})
        );
        assert_eq!(event["action"], "cloudtrail.amazonaws.com:StopLogging");
        assert_eq!(event["outcome"], "failure");
        assert_eq!(event["details"]["eventName"], "StopLogging");
        assert_eq!(event["tags"], json!(["cloudtrail", "us-east-1"]));
    }

    #[test]
    fn access_errors_are_denied_and_services_are_actors() {
        for code in ["AccessDenied", "Client.UnauthorizedOperation", "AccessDeniedException"] {
            let event = event_from_record(&record(json!({"errorCode": code}))).expect("mapped");
            assert_eq!(event["outcome"], "denied", "{code}");
        }
        let service = record(json!({
            "userIdentity": {"accountId": "1", "invokedBy": "secretsmanager.amazonaws.com"},
            "sourceIPAddress": "secretsmanager.amazonaws.com",
            "resources": [{"ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x", "type": "AWS::SecretsManager::Secret"}],
        }));
        let event = event_from_record(&service).expect("mapped");
        assert_eq!(event["actor"]["id"], "secretsmanager.amazonaws.com");
        assert_eq!(event["actor"]["type"], "AWSService");
        assert!(event["actor"].get("ip").is_none(), "a host name is not an IP");
        assert_eq!(
            event["resource"],
            json!({"type": "AWS::SecretsManager::Secret", "id": "arn:aws:secretsmanager:us-east-1:1:secret:x"})
        );
        assert_eq!(event["outcome"], "success");
    }

    #[test]
    fn refuses_documents_and_records_it_cannot_map() {
        assert!(events_from_document(&json!({"records": []})).is_err());
        let err = events_from_document(&json!({"Records": [record(json!({})), {"eventTime": "x"}]})).expect_err("bad");
        assert!(err.0.starts_with("Records[1]"), "{err}");
    }
}
