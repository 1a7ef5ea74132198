//! Messages and helpers shared by the integration tests.
#![allow(dead_code)] // each test binary uses a different subset

use chrono::{TimeZone, Utc};
use veritrail_alerts::message::{AlertKind, AlertMessage, DigestItem, TimeWindow};
use veritrail_core::event::Severity;

pub fn at(hour: u32, minute: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, hour, minute, 0).single().expect("valid time")
}

/// An ordinary anomaly alert.
pub fn sample() -> AlertMessage {
    AlertMessage {
        kind: AlertKind::Anomaly,
        title: "Unusual export volume by alice".to_owned(),
        severity: Severity::High,
        summary: "alice exported 4,210 customer records between 10:00 and 11:00, 37 times her usual hourly volume, \
                  from an IP address never seen before."
            .to_owned(),
        subject: Some("actor:alice".to_owned()),
        window: Some(TimeWindow { start: at(10, 0), end: at(11, 0) }),
        event_ids: vec!["01J0000000000000000000000A".to_owned(), "01J0000000000000000000000B".to_owned()],
        link: Some(
            "https://veritrail.example/events?ids=01J0000000000000000000000A,01J0000000000000000000000B".to_owned(),
        ),
        facts: vec![
            ("Score".to_owned(), "0.97".to_owned()),
            ("Detector".to_owned(), "kmeans-distance".to_owned()),
            ("New IP".to_owned(), "203.0.113.9".to_owned()),
        ],
        items: vec![],
        dedup_key: "anomaly:actor:alice:export".to_owned(),
        created_at: at(11, 2),
    }
}

/// Text written by an attacker who controls event fields: mentions, markup, link syntax.
pub fn hostile() -> AlertMessage {
    AlertMessage {
        title: "@everyone <!channel> <script>alert(1)</script> & co".to_owned(),
        summary: "Ping <@U123> and @here; see <https://evil.example|your bank> & <b>bold</b>; \
                  [click here](https://evil.example/login) **now**"
            .to_owned(),
        subject: Some("<!here>".to_owned()),
        link: Some("javascript:alert(1)".to_owned()),
        facts: vec![("<b>x</b>".to_owned(), "@everyone".to_owned())],
        ..sample()
    }
}

/// Far past every service's limits: must be shortened, never refused.
pub fn huge() -> AlertMessage {
    let items = (0..80)
        .map(|i| DigestItem {
            title: format!("Alert number {i} {}", "x".repeat(400)),
            severity: Severity::Medium,
            summary: "y".repeat(2000),
            subject: Some(format!("actor:user{i}")),
            link: Some(format!("https://veritrail.example/a/{i}")),
            event_ids: vec![format!("ev{i}")],
        })
        .collect();
    AlertMessage {
        kind: AlertKind::Digest,
        title: "T".repeat(1000),
        summary: "Long narrative. ".repeat(10_000),
        facts: (0..60).map(|i| (format!("fact {i} {}", "n".repeat(300)), "v".repeat(3000))).collect(),
        event_ids: (0..5000).map(|i| format!("event-{i}")).collect(),
        items,
        ..sample()
    }
}
