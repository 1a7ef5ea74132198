//! Which alerts of one rule evaluation are sent: de-duplication, cooldown and grouping. Pure.
//!
//! - **De-duplication**: alerts with the same `dedup_key` in one evaluation are one alert.
//! - **Cooldown**: an alert whose `(rule id, dedup key)` was last sent less than `cooldown` ago is
//!   suppressed; the caller keeps the last-sent times (see [`throttle_key`]).
//! - **Grouping**: if more than `group_threshold` alerts remain, they go out as one digest
//!   message listing them, instead of flooding the channel.

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};

use crate::message::{AlertKind, AlertMessage, DigestItem, TimeWindow};

/// Whether one alert may be sent now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cooldown {
    Send,
    /// Sent recently; may be sent again from `until`.
    Suppress {
        until: DateTime<Utc>,
    },
}

/// The key under which the last-sent time of an alert is stored.
pub fn throttle_key(rule_id: &str, dedup_key: &str) -> String {
    format!("{rule_id}\u{1f}{dedup_key}")
}

/// Send unless the same alert was sent less than `cooldown` before `now`. A last-sent time in
/// the future (the clock went back) counts as within the cooldown.
pub fn cooldown(now: DateTime<Utc>, last_sent: Option<DateTime<Utc>>, cooldown: Duration) -> Cooldown {
    match last_sent {
        Some(last) if cooldown > Duration::zero() => {
            let until = last + cooldown;
            if now < until { Cooldown::Suppress { until } } else { Cooldown::Send }
        }
        _ => Cooldown::Send,
    }
}

/// A rule's throttling settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleThrottle {
    pub rule_id: String,
    /// Shown in digest titles.
    pub rule_name: String,
    pub cooldown: Duration,
    /// More alerts than this in one evaluation are combined into a digest.
    pub group_threshold: usize,
}

/// What one evaluation sends.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The messages to deliver: the alerts themselves, or one digest.
    pub send: Vec<AlertMessage>,
    /// Dedup keys whose last-sent time becomes `now` once `send` is queued.
    pub mark_sent: Vec<String>,
    /// Alerts not sent because of the cooldown, with the time they may be sent again.
    pub suppressed: Vec<(String, DateTime<Utc>)>,
    /// Alerts dropped as repeats of an earlier alert in the same evaluation.
    pub duplicates: usize,
}

/// Applies de-duplication, the cooldown and grouping to the alerts one rule evaluation raised.
/// `last_sent` looks up the last time an alert with that dedup key was sent for this rule.
pub fn plan(
    rule: &RuleThrottle,
    alerts: Vec<AlertMessage>,
    last_sent: impl Fn(&str) -> Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> Plan {
    let mut seen = HashSet::new();
    let mut duplicates = 0;
    let mut suppressed = Vec::new();
    let mut due = Vec::new();
    for alert in alerts {
        if !seen.insert(alert.dedup_key.clone()) {
            duplicates += 1;
            continue;
        }
        match cooldown(now, last_sent(&alert.dedup_key), rule.cooldown) {
            Cooldown::Send => due.push(alert),
            Cooldown::Suppress { until } => suppressed.push((alert.dedup_key, until)),
        }
    }
    let mark_sent = due.iter().map(|alert| alert.dedup_key.clone()).collect();
    let send = if due.len() > rule.group_threshold { vec![digest(rule, &due, now)] } else { due };
    Plan { send, mark_sent, suppressed, duplicates }
}

/// One message standing for `alerts`: the highest severity, every event, a line per alert.
pub fn digest(rule: &RuleThrottle, alerts: &[AlertMessage], now: DateTime<Utc>) -> AlertMessage {
    let severity = alerts.iter().map(|alert| alert.severity).max().unwrap_or(veritrail_core::event::Severity::Info);
    let mut event_ids = Vec::new();
    let mut seen = HashSet::new();
    for id in alerts.iter().flat_map(|alert| &alert.event_ids) {
        if seen.insert(id.as_str()) {
            event_ids.push(id.clone());
        }
    }
    let window = alerts
        .iter()
        .filter_map(|alert| alert.window)
        .reduce(|a, b| TimeWindow { start: a.start.min(b.start), end: a.end.max(b.end) });
    let first_link = alerts.first().and_then(|alert| alert.link.clone());
    let link = first_link.filter(|link| alerts.iter().all(|alert| alert.link.as_deref() == Some(link.as_str())));
    let mut by_severity: Vec<(veritrail_core::event::Severity, usize)> = Vec::new();
    for alert in alerts {
        match by_severity.iter_mut().find(|(severity, _)| *severity == alert.severity) {
            Some((_, count)) => *count += 1,
            None => by_severity.push((alert.severity, 1)),
        }
    }
    by_severity.sort_by_key(|(severity, _)| std::cmp::Reverse(*severity));
    let breakdown: Vec<String> =
        by_severity.iter().map(|(severity, count)| format!("{count} {}", severity.as_str())).collect();
    AlertMessage {
        kind: AlertKind::Digest,
        title: format!("{} alerts from rule \"{}\"", alerts.len(), rule.rule_name),
        severity,
        summary: format!(
            "Rule \"{}\" raised {} alerts in one evaluation ({}). They are listed below as one message.",
            rule.rule_name,
            alerts.len(),
            breakdown.join(", ")
        ),
        subject: None,
        window,
        event_ids,
        link,
        facts: vec![("Rule".to_owned(), rule.rule_name.clone()), ("Alerts".to_owned(), alerts.len().to_string())],
        items: alerts
            .iter()
            .map(|alert| DigestItem {
                title: alert.title.clone(),
                severity: alert.severity,
                summary: alert.summary.clone(),
                subject: alert.subject.clone(),
                link: alert.link.clone(),
                event_ids: alert.event_ids.clone(),
            })
            .collect(),
        dedup_key: format!("digest:{}:{}", rule.rule_id, now.timestamp()),
        created_at: now,
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use veritrail_core::event::Severity;

    use super::*;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 10, minute, 0).single().expect("valid time")
    }

    fn alert(key: &str, severity: Severity, events: &[&str]) -> AlertMessage {
        AlertMessage {
            kind: AlertKind::EventRule,
            title: format!("alert {key}"),
            severity,
            summary: "s".to_owned(),
            subject: Some(key.to_owned()),
            window: Some(TimeWindow { start: at(0), end: at(5) }),
            event_ids: events.iter().map(|e| e.to_string()).collect(),
            link: None,
            facts: vec![],
            items: vec![],
            dedup_key: key.to_owned(),
            created_at: at(5),
        }
    }

    fn rule(threshold: usize) -> RuleThrottle {
        RuleThrottle {
            rule_id: "r1".to_owned(),
            rule_name: "Mass export".to_owned(),
            cooldown: Duration::minutes(10),
            group_threshold: threshold,
        }
    }

    #[test]
    fn cooldown_table() {
        let ten = Duration::minutes(10);
        let cases = [
            // (now, last sent, cooldown, expected)
            (at(30), None, ten, Cooldown::Send),
            (at(30), Some(at(25)), ten, Cooldown::Suppress { until: at(35) }),
            (at(35), Some(at(25)), ten, Cooldown::Send),
            (at(36), Some(at(25)), ten, Cooldown::Send),
            (at(30), Some(at(40)), ten, Cooldown::Suppress { until: at(50) }),
            (at(30), Some(at(30)), Duration::zero(), Cooldown::Send),
        ];
        for (now, last, window, expected) in cases {
            assert_eq!(cooldown(now, last, window), expected, "now {now}, last {last:?}");
        }
    }

    #[test]
    fn keys_of_different_rules_never_collide() {
        assert_ne!(throttle_key("r1", "a:b"), throttle_key("r1:a", "b"));
    }

    #[test]
    fn plan_dedups_suppresses_and_sends_the_rest() {
        let alerts = vec![
            alert("alice", Severity::High, &["e1"]),
            alert("bob", Severity::Low, &["e2"]),
            alert("alice", Severity::High, &["e3"]),
        ];
        let last_sent = |key: &str| (key == "bob").then(|| at(1));
        let plan = plan(&rule(5), alerts, last_sent, at(5));
        assert_eq!(plan.duplicates, 1);
        assert_eq!(plan.suppressed, vec![("bob".to_owned(), at(11))]);
        assert_eq!(plan.send.len(), 1);
        assert_eq!(plan.send[0].dedup_key, "alice");
        assert_eq!(plan.mark_sent, vec!["alice".to_owned()]);
    }

    #[test]
    fn grouping_threshold_table() {
        for (count, threshold, expect_digest) in [(3, 3, false), (4, 3, true), (1, 0, true), (0, 0, false)] {
            let alerts: Vec<_> =
                (0..count).map(|i| alert(&format!("k{i}"), Severity::Medium, &[&format!("e{i}")])).collect();
            let plan = plan(&rule(threshold), alerts, |_| None, at(5));
            let got_digest = plan.send.len() == 1 && plan.send[0].kind == AlertKind::Digest;
            assert_eq!(got_digest, expect_digest, "{count} alerts, threshold {threshold}");
            assert_eq!(plan.mark_sent.len(), count, "every sent alert starts its cooldown");
        }
    }

    #[test]
    fn digest_combines_alerts() {
        let mut a = alert("a", Severity::Low, &["e1", "e2"]);
        a.window = Some(TimeWindow { start: at(1), end: at(3) });
        let mut b = alert("b", Severity::Critical, &["e2", "e3"]);
        b.window = Some(TimeWindow { start: at(2), end: at(9) });
        let c = alert("c", Severity::Low, &[]);
        let digest = digest(&rule(1), &[a, b, c], at(10));
        assert_eq!(digest.kind, AlertKind::Digest);
        assert_eq!(digest.severity, Severity::Critical);
        assert_eq!(digest.title, "3 alerts from rule \"Mass export\"");
        assert_eq!(digest.event_ids, ["e1", "e2", "e3"]);
        assert_eq!(digest.window, Some(TimeWindow { start: at(0), end: at(9) }));
        assert_eq!(digest.items.len(), 3);
        assert!(digest.summary.contains("1 critical, 2 low"), "{}", digest.summary);
    }
}
