//! Reading what a caller asks for (`POST /api/v1/reports`, schedules, the CLI) into the domain
//! types, refusing anything unknown or inconsistent with a message that names the field.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use veritrail_core::reports::{ReportKind, ReportPeriod, ReportSpec, ScheduledReport};

use crate::export::EventFilter;

/// The longest period one report covers.
pub const MAX_PERIOD_DAYS: i64 = 400;
const MAX_NAME: usize = 200;
const MAX_CHANNELS: usize = 20;

/// A request that cannot be honoured; the message names the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RequestError(pub String);

fn fail<T>(message: impl Into<String>) -> Result<T, RequestError> {
    Err(RequestError(message.into()))
}

fn object<'v>(value: &'v Value, what: &str) -> Result<&'v Map<String, Value>, RequestError> {
    value.as_object().ok_or_else(|| RequestError(format!("{what} must be a JSON object")))
}

fn refuse_unknown(members: &Map<String, Value>, known: &[&str], what: &str) -> Result<(), RequestError> {
    match members.keys().find(|key| !known.contains(&key.as_str())) {
        Some(unknown) => fail(format!("unknown field {what}{unknown:?}; use {}", known.join(", "))),
        None => Ok(()),
    }
}

fn string<'v>(members: &'v Map<String, Value>, name: &str) -> Result<Option<&'v str>, RequestError> {
    match members.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => fail(format!("{name} must be a string")),
    }
}

fn required<'v>(members: &'v Map<String, Value>, name: &str) -> Result<&'v str, RequestError> {
    string(members, name)?.ok_or_else(|| RequestError(format!("{name} is required")))
}

fn parsed<T: std::str::FromStr<Err = String>>(members: &Map<String, Value>, name: &str) -> Result<T, RequestError> {
    required(members, name)?.parse().map_err(|err: String| RequestError(format!("{name}: {err}")))
}

/// An RFC 3339 time.
pub fn parse_time(name: &str, text: &str) -> Result<DateTime<Utc>, RequestError> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|err| RequestError(format!("{name} {text:?} is not an RFC 3339 time: {err}")))
}

/// The event filter of a request (`filter`), checked; `{}` when absent.
pub fn parse_filter(value: Option<&Value>) -> Result<EventFilter, RequestError> {
    match value {
        None | Some(Value::Null) => Ok(EventFilter::default()),
        Some(value @ Value::Object(_)) => serde_json::from_value(value.clone()).map_err(|err| {
            RequestError(format!("filter: {err} (use actor, action, resource_type, resource_id, outcome, severity)"))
        }),
        Some(_) => fail("filter must be a JSON object"),
    }
}

fn check_subject(kind: ReportKind, subject: Option<&str>) -> Result<Option<String>, RequestError> {
    match (kind, subject.map(str::trim)) {
        (ReportKind::Subject, None | Some("")) => fail("subject (the actor id) is required for a subject report"),
        (ReportKind::Subject, Some(subject)) if subject.len() > 256 => fail("subject is longer than 256 bytes"),
        (ReportKind::Subject, Some(subject)) => Ok(Some(subject.to_owned())),
        (_, Some(_)) => fail("subject is only for subject reports"),
        (_, None) => Ok(None),
    }
}

/// `{"kind", "format", "since", "until", "filter"?, "subject"?}`.
pub fn parse_report(body: &Value) -> Result<ReportSpec, RequestError> {
    let members = object(body, "the body")?;
    refuse_unknown(members, &["kind", "format", "since", "until", "filter", "subject"], "")?;
    let kind: ReportKind = parsed(members, "kind")?;
    let format = parsed(members, "format")?;
    let since = parse_time("since", required(members, "since")?)?;
    let until = parse_time("until", required(members, "until")?)?;
    check_period(since, until)?;
    let filter = parse_filter(members.get("filter"))?;
    let subject = check_subject(kind, string(members, "subject")?)?;
    Ok(ReportSpec { kind, format, since, until, filter: filter_value(&filter), subject })
}

/// Refuses an empty, reversed or too long period.
pub fn check_period(since: DateTime<Utc>, until: DateTime<Utc>) -> Result<(), RequestError> {
    if since >= until {
        return fail("since must be before until");
    }
    if until - since > chrono::Duration::days(MAX_PERIOD_DAYS) {
        return fail(format!("a report covers at most {MAX_PERIOD_DAYS} days"));
    }
    Ok(())
}

/// The stored form of a filter.
pub fn filter_value(filter: &EventFilter) -> Value {
    serde_json::to_value(filter).unwrap_or_else(|_| Value::Object(Map::new()))
}

/// A schedule as asked for, before its channels are checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleRequest {
    pub name: String,
    pub cron: String,
    pub report: ScheduledReport,
    pub channels: Vec<String>,
}

/// Parses a six-field cron expression (seconds first), as the job scheduler takes them.
pub fn parse_cron(cron: &str) -> Result<croner::Cron, RequestError> {
    if cron.split_whitespace().count() != 6 {
        return fail(format!("cron {cron:?} must have six fields, seconds first (\"0 0 6 * * *\": 06:00 every day)"));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Required)
        .dom_and_dow(true)
        .build()
        .parse(cron)
        .map_err(|err| RequestError(format!("cron {cron:?}: {err}")))
}

/// When `cron` next fires strictly after `after`.
pub fn next_run(cron: &croner::Cron, after: DateTime<Utc>) -> Result<DateTime<Utc>, RequestError> {
    cron.find_next_occurrence(&after, false).map_err(|err| RequestError(format!("cron never fires: {err}")))
}

/// `{"name", "cron", "report": {"kind", "format", "period", "filter"?, "subject"?}, "channels"}`.
pub fn parse_schedule(body: &Value) -> Result<ScheduleRequest, RequestError> {
    let members = object(body, "the body")?;
    refuse_unknown(members, &["name", "cron", "report", "channels"], "")?;
    let name = required(members, "name")?.trim().to_owned();
    if name.is_empty() || name.len() > MAX_NAME {
        return fail(format!("name must be 1 to {MAX_NAME} bytes"));
    }
    let cron = required(members, "cron")?.trim().to_owned();
    parse_cron(&cron)?;
    let report = object(members.get("report").unwrap_or(&Value::Null), "report")?;
    refuse_unknown(report, &["kind", "format", "period", "filter", "subject"], "report.")?;
    let field = |name: &str| format!("report.{name}");
    let kind: ReportKind = string(report, "kind")?
        .ok_or_else(|| RequestError(format!("{} is required", field("kind"))))?
        .parse()
        .map_err(|err: String| RequestError(format!("{}: {err}", field("kind"))))?;
    let format = string(report, "format")?
        .ok_or_else(|| RequestError(format!("{} is required", field("format"))))?
        .parse()
        .map_err(|err: String| RequestError(format!("{}: {err}", field("format"))))?;
    let period: ReportPeriod = string(report, "period")?
        .ok_or_else(|| RequestError(format!("{} is required (P1D, P7D or P30D)", field("period"))))?
        .parse()
        .map_err(|err: String| RequestError(format!("{}: {err}", field("period"))))?;
    let filter = parse_filter(report.get("filter")).map_err(|err| RequestError(format!("report.{}", err.0)))?;
    let subject =
        check_subject(kind, string(report, "subject")?).map_err(|err| RequestError(format!("report.{}", err.0)))?;
    let channels = match members.get("channels") {
        Some(Value::Array(items)) if !items.is_empty() && items.len() <= MAX_CHANNELS => items
            .iter()
            .map(|item| {
                item.as_str().map(str::to_owned).ok_or_else(|| RequestError("channels must be channel ids".into()))
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => return fail(format!("channels must list 1 to {MAX_CHANNELS} e-mail channel ids")),
    };
    let mut unique = channels.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != channels.len() {
        return fail("channels lists a channel twice");
    }
    Ok(ScheduleRequest {
        name,
        cron,
        report: ScheduledReport { kind, format, period, filter: filter_value(&filter), subject },
        channels,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn reports_are_read_whole_or_refused_naming_the_field() {
        let good = json!({"kind": "activity", "format": "pdf", "since": "2026-01-01T00:00:00Z",
                          "until": "2026-01-08T00:00:00Z", "filter": {"action": "iam.*", "outcome": "denied"}});
        let spec = parse_report(&good).expect("valid");
        assert_eq!(spec.filter, json!({"action": "iam.*", "outcome": "denied"}));
        let cases = [
            (json!({"kind": "weekly"}), "kind"),
            (json!({"kind": "activity", "format": "docx"}), "format"),
            (
                json!({"kind": "activity", "format": "pdf", "since": "yesterday", "until": "2026-01-01T00:00:00Z"}),
                "since",
            ),
            (
                json!({"kind": "activity", "format": "pdf", "since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}),
                "before",
            ),
            (
                json!({"kind": "activity", "format": "pdf", "since": "2020-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}),
                "400 days",
            ),
            (
                json!({"kind": "activity", "format": "pdf", "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z", "filter": {"colour": "red"}}),
                "filter",
            ),
            (
                json!({"kind": "subject", "format": "pdf", "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z"}),
                "subject",
            ),
            (
                json!({"kind": "activity", "format": "pdf", "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z", "subject": "bob"}),
                "subject",
            ),
            (
                json!({"kind": "activity", "format": "pdf", "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z", "x": 1}),
                "\"x\"",
            ),
            (json!([1]), "object"),
        ];
        for (body, needle) in cases {
            let err = parse_report(&body).expect_err("refused");
            assert!(err.0.contains(needle), "{body}: {err}");
        }
    }

    #[test]
    fn schedules_need_six_field_crons_a_period_and_channels() {
        let good = json!({"name": "weekly", "cron": "0 0 6 * * MON", "channels": ["c1"],
                          "report": {"kind": "activity", "format": "pdf", "period": "P7D"}});
        let schedule = parse_schedule(&good).expect("valid");
        assert_eq!(schedule.report.period, ReportPeriod::Week);
        let cron = parse_cron(&schedule.cron).expect("cron");
        let after = parse_time("t", "2026-03-04T10:00:00Z").expect("time");
        assert_eq!(next_run(&cron, after).expect("next"), parse_time("t", "2026-03-09T06:00:00Z").expect("time"));
        for (body, needle) in [
            (
                json!({"name": "x", "cron": "0 6 * * *", "channels": ["c"], "report": {"kind": "activity", "format": "pdf", "period": "P7D"}}),
                "six fields",
            ),
            (
                json!({"name": "x", "cron": "0 0 6 * * *", "channels": [], "report": {"kind": "activity", "format": "pdf", "period": "P7D"}}),
                "channels",
            ),
            (
                json!({"name": "x", "cron": "0 0 6 * * *", "channels": ["c"], "report": {"kind": "activity", "format": "pdf", "period": "P2D"}}),
                "report.period",
            ),
            (
                json!({"name": "", "cron": "0 0 6 * * *", "channels": ["c"], "report": {"kind": "activity", "format": "pdf", "period": "P1D"}}),
                "name",
            ),
            (
                json!({"name": "x", "cron": "0 0 6 * * *", "channels": ["c", "c"], "report": {"kind": "activity", "format": "pdf", "period": "P1D"}}),
                "twice",
            ),
        ] {
            let err = parse_schedule(&body).expect_err("refused");
            assert!(err.0.contains(needle), "{body}: {err}");
        }
    }
}
