//! The anomaly store conformance suite: every behaviour of `AnomalyStore` the detection job and
//! the API rely on, run against SQLite always and PostgreSQL when `VERITRAIL_TEST_PG_URL` is set
//! (required under CI=true or VERITRAIL_TEST_REQUIRE_PG=1).

use chrono::{DateTime, Duration, TimeZone, Utc};
use veritrail_core::anomalies::{
    AnomalyCursor, AnomalyQuery, AnomalySeverity, AnomalyStatus, Feature, NewAnomaly, NewFeedback, StoredAnomaly,
    Subject, Verdict,
};
use veritrail_core::event::TenantId;
use veritrail_store::testing::TestDatabase;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("tenant")
}

/// 2026-05-01 10:00 UTC plus `minutes`.
fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).single().expect("valid time") + Duration::minutes(minutes)
}

/// An anomaly of `actor` in the hour starting `hour` hours after 10:00.
fn anomaly(actor: &str, hour: i64, score: f64) -> NewAnomaly {
    NewAnomaly {
        subject: Subject::actor(actor),
        window_start: at(hour * 60),
        window_end: at(hour * 60 + 60),
        reason: format!("actor:{actor}/volume"),
        score,
        severity: AnomalySeverity::High,
        detectors: vec!["iforest".into(), "zscore".into()],
        features: vec![Feature { name: "events".into(), observed: 412.0, expected: 37.5, contribution: 0.625 }],
        narrative: format!("{actor} did far more than usual"),
        event_ids: vec![format!("ev-{actor}-{hour}-a"), format!("ev-{actor}-{hour}-b")],
    }
}

fn ids(anomalies: &[StoredAnomaly]) -> Vec<String> {
    anomalies.iter().map(|anomaly| anomaly.id.clone()).collect()
}

fn query(limit: u32) -> AnomalyQuery {
    AnomalyQuery { limit, ..Default::default() }
}

fn false_positive(until: Option<DateTime<Utc>>) -> NewFeedback {
    NewFeedback {
        verdict: Verdict::FalsePositive,
        note: Some("deploy day".into()),
        key_id: Some("key123".into()),
        suppress_until: until,
    }
}

#[tokio::test]
async fn saving_is_idempotent_and_reads_back_exactly() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let acme = tenant("acme");
        // Sub-microsecond parts are dropped on store; what comes back must equal what was saved.
        let mut first = anomaly("alice", 0, 0.91);
        first.window_start += Duration::nanoseconds(1_234_567);
        let saved = store
            .anomalies
            .save_anomalies(&acme, &[first.clone(), anomaly("bob", 0, 0.5)], at(61))
            .await
            .expect("save");
        assert!(saved.iter().all(|saved| saved.created), "{:?}", db.backend);
        let stored = &saved[0].anomaly;
        assert_eq!(stored.tenant, acme);
        assert_eq!(stored.subject, Subject::actor("alice"));
        assert_eq!(stored.window_start, at(0) + Duration::microseconds(1_234));
        assert_eq!(stored.window_end, at(60));
        assert_eq!(stored.reason, "actor:alice/volume");
        assert_eq!(stored.score, 0.91);
        assert_eq!(stored.severity, AnomalySeverity::High);
        assert_eq!(stored.detectors, first.detectors);
        assert_eq!(stored.features, first.features);
        assert_eq!(stored.narrative, first.narrative);
        assert_eq!(stored.event_ids, first.event_ids);
        assert_eq!(stored.status, AnomalyStatus::Open);
        assert_eq!(stored.feedback, None);
        assert_eq!(stored.created_at, at(61));
        let fetched = store.anomalies.get_anomaly(&acme, &stored.id).await.expect("get");
        assert_eq!(fetched.as_ref(), Some(stored), "{:?}: get returns what save returned", db.backend);

        // Re-running detection over the window: the known ones come back unchanged, with their
        // ids, and only the new one is created. A repeat inside one batch is stored once too.
        let mut rescored = first.clone();
        rescored.score = 0.2;
        let again = store
            .anomalies
            .save_anomalies(&acme, &[rescored, anomaly("carol", 0, 0.7), anomaly("carol", 0, 0.7)], at(120))
            .await
            .expect("save again");
        assert!(!again[0].created);
        assert_eq!(again[0].anomaly, *stored, "{:?}: an existing anomaly is not overwritten", db.backend);
        assert!(again[1].created);
        assert!(!again[2].created);
        assert_eq!(again[2].anomaly.id, again[1].anomaly.id);
        assert_eq!(store.anomalies.list_anomalies(&acme, &query(100)).await.expect("list").len(), 3);

        // Another reason for the same subject and window is another anomaly.
        let mut other_reason = anomaly("alice", 0, 0.8);
        other_reason.reason = "actor:alice/off_hours".into();
        let other = store.anomalies.save_anomalies(&acme, &[other_reason], at(120)).await.expect("save");
        assert!(other[0].created);

        // A batch is stored whole or not at all: one invalid anomaly refuses the others.
        let mut invalid = anomaly("dave", 1, 0.5);
        invalid.score = 1.5;
        let refused = store.anomalies.save_anomalies(&acme, &[anomaly("erin", 1, 0.5), invalid], at(120)).await;
        assert!(refused.is_err(), "{:?}", db.backend);
        assert_eq!(store.anomalies.list_anomalies(&acme, &query(100)).await.expect("list").len(), 4);
    }
}

#[tokio::test]
async fn concurrent_saves_of_one_window_store_it_once() {
    for db in TestDatabase::all().await {
        let first = db.connect().await;
        let second = db.connect().await;
        let acme = tenant("acme");
        let batch: Vec<NewAnomaly> = (0..20).map(|idx| anomaly(&format!("user{idx}"), 0, 0.6)).collect();
        let (left, right) = tokio::join!(
            first.anomalies.save_anomalies(&acme, &batch, at(60)),
            second.anomalies.save_anomalies(&acme, &batch, at(60)),
        );
        let (left, right) = (left.expect("first save"), right.expect("second save"));
        for (one, other) in left.iter().zip(&right) {
            assert_eq!(one.anomaly.id, other.anomaly.id, "{:?}: both saves see the one stored row", db.backend);
            assert!(one.created != other.created, "{:?}: exactly one save created it", db.backend);
        }
        assert_eq!(first.anomalies.list_anomalies(&acme, &query(100)).await.expect("list").len(), 20);
    }
}

#[tokio::test]
async fn lists_newest_window_first_with_filters_and_cursor() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let acme = tenant("acme");
        // Twelve hourly windows; in hour 5 there are two anomalies (same window start).
        let mut batch: Vec<NewAnomaly> = (0..12).map(|hour| anomaly("alice", hour, hour as f64 / 12.0)).collect();
        batch.push(anomaly("bob", 5, 0.99));
        store.anomalies.save_anomalies(&acme, &batch, at(13 * 60)).await.expect("save");

        let all = store.anomalies.list_anomalies(&acme, &query(100)).await.expect("list");
        assert_eq!(all.len(), 13);
        let starts: Vec<DateTime<Utc>> = all.iter().map(|anomaly| anomaly.window_start).collect();
        let mut sorted = starts.clone();
        sorted.sort_by(|a, b| b.cmp(a));
        assert_eq!(starts, sorted, "{:?}: newest window first", db.backend);
        assert_eq!(all[0].window_start, at(11 * 60));

        let limited = store.anomalies.list_anomalies(&acme, &query(3)).await.expect("list");
        assert_eq!(ids(&limited), ids(&all[..3]));

        // Paging with the cursor (through its text form, as the API does) visits every anomaly
        // once, including both anomalies that share a window start.
        let mut paged = Vec::new();
        let mut before: Option<AnomalyCursor> = None;
        loop {
            let page = store
                .anomalies
                .list_anomalies(&acme, &AnomalyQuery { limit: 4, before: before.clone(), ..Default::default() })
                .await
                .expect("page");
            let Some(last) = page.last() else { break };
            before = Some(last.cursor().to_string().parse().expect("cursor text"));
            paged.extend(page);
        }
        assert_eq!(ids(&paged), ids(&all), "{:?}: pages cover the list exactly", db.backend);

        let window =
            AnomalyQuery { since: Some(at(3 * 60)), until: Some(at(6 * 60)), limit: 100, ..Default::default() };
        let in_window = store.anomalies.list_anomalies(&acme, &window).await.expect("list");
        let mut hours: Vec<i64> =
            in_window.iter().map(|anomaly| (anomaly.window_start - at(0)).num_minutes() / 60).collect();
        hours.sort();
        assert_eq!(hours, vec![3, 4, 5, 5], "{:?}: since inclusive, until exclusive", db.backend);

        let scored = AnomalyQuery { min_score: Some(0.75), limit: 100, ..Default::default() };
        let high = store.anomalies.list_anomalies(&acme, &scored).await.expect("list");
        assert!(high.iter().all(|anomaly| anomaly.score >= 0.75));
        assert_eq!(high.len(), 4, "{:?}: 9/12, 10/12, 11/12 and bob's 0.99", db.backend);

        let combined = AnomalyQuery { min_score: Some(0.75), until: Some(at(10 * 60)), limit: 1, ..Default::default() };
        let top = store.anomalies.list_anomalies(&acme, &combined).await.expect("list");
        assert_eq!(top.len(), 1);
        assert_eq!(top[0].window_start, at(9 * 60));

        let open = AnomalyQuery { status: Some(AnomalyStatus::Open), limit: 100, ..Default::default() };
        assert_eq!(store.anomalies.list_anomalies(&acme, &open).await.expect("list").len(), 13);
        let acked = AnomalyQuery { status: Some(AnomalyStatus::Acknowledged), limit: 100, ..Default::default() };
        assert!(store.anomalies.list_anomalies(&acme, &acked).await.expect("list").is_empty());
    }
}

#[tokio::test]
async fn feedback_sets_status_and_suppresses_until_its_end() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let acme = tenant("acme");
        let saved = store
            .anomalies
            .save_anomalies(&acme, &[anomaly("alice", 0, 0.9), anomaly("bob", 0, 0.8)], at(60))
            .await
            .expect("save");
        let (alice, bob) = (&saved[0].anomaly, &saved[1].anomaly);

        let until = at(60 + 24 * 60);
        let feedback = store
            .anomalies
            .add_feedback(&acme, &alice.id, &false_positive(Some(until)), at(90))
            .await
            .expect("feedback")
            .expect("anomaly exists");
        assert_eq!(feedback.verdict, Verdict::FalsePositive);
        assert_eq!(feedback.anomaly_id, alice.id);
        assert_eq!(feedback.note.as_deref(), Some("deploy day"));
        assert_eq!(feedback.key_id.as_deref(), Some("key123"));
        assert_eq!(feedback.created_at, at(90));

        let reread = store.anomalies.get_anomaly(&acme, &alice.id).await.expect("get").expect("found");
        assert_eq!(reread.status, AnomalyStatus::FalsePositive, "{:?}", db.backend);
        assert_eq!(reread.feedback.as_ref(), Some(&feedback));
        let listed = store.anomalies.list_anomalies(&acme, &query(10)).await.expect("list");
        let listed_alice = listed.iter().find(|anomaly| anomaly.id == alice.id).expect("listed");
        assert_eq!(listed_alice.feedback.as_ref(), Some(&feedback), "{:?}: lists carry feedback", db.backend);
        let listed_bob = listed.iter().find(|anomaly| anomaly.id == bob.id).expect("listed");
        assert_eq!((listed_bob.status, listed_bob.feedback.as_ref()), (AnomalyStatus::Open, None));

        // The suppression is in force from its creation until (exclusive) its end.
        let active = store.anomalies.active_suppressions(&acme, at(91)).await.expect("suppressions");
        assert_eq!(active.len(), 1, "{:?}", db.backend);
        assert_eq!(active[0].anomaly_id, alice.id);
        assert_eq!(active[0].subject, Subject::actor("alice"));
        assert_eq!(active[0].reason, "actor:alice/volume");
        assert_eq!(active[0].created_at, at(90));
        assert_eq!(active[0].until, until);
        let just_before = until - Duration::microseconds(1);
        assert_eq!(store.anomalies.active_suppressions(&acme, just_before).await.expect("s").len(), 1);
        assert!(store.anomalies.active_suppressions(&acme, until).await.expect("s").is_empty(), "{:?}", db.backend);

        // The job learns that the window was normal.
        let windows = store.anomalies.false_positive_windows(&acme, at(0)).await.expect("windows");
        assert_eq!(windows.len(), 1);
        assert_eq!(
            (windows[0].anomaly_id.as_str(), windows[0].window_start, windows[0].window_end),
            (alice.id.as_str(), at(0), at(60))
        );
        assert!(store.anomalies.false_positive_windows(&acme, at(60)).await.expect("windows").is_empty());

        // Changing one's mind: the latest verdict wins and the suppression ends with it.
        let confirmed = NewFeedback {
            verdict: Verdict::TruePositive,
            note: None,
            key_id: None,
            suppress_until: Some(until), // ignored for anything but a false positive
        };
        let second =
            store.anomalies.add_feedback(&acme, &alice.id, &confirmed, at(100)).await.expect("fb").expect("found");
        let reread = store.anomalies.get_anomaly(&acme, &alice.id).await.expect("get").expect("found");
        assert_eq!(reread.status, AnomalyStatus::TruePositive);
        assert_eq!(reread.feedback.as_ref(), Some(&second));
        assert!(store.anomalies.active_suppressions(&acme, at(101)).await.expect("s").is_empty(), "{:?}", db.backend);
        assert!(store.anomalies.false_positive_windows(&acme, at(0)).await.expect("windows").is_empty());
        let history = store.anomalies.list_feedback(&acme, &alice.id).await.expect("history");
        assert_eq!(history, vec![feedback, second]);

        // A false positive without an end suppresses nothing; acknowledging just sets the status.
        store.anomalies.add_feedback(&acme, &bob.id, &false_positive(None), at(110)).await.expect("fb").expect("found");
        assert!(store.anomalies.active_suppressions(&acme, at(111)).await.expect("s").is_empty());
        let ack = NewFeedback { verdict: Verdict::Acknowledged, note: None, key_id: None, suppress_until: None };
        store.anomalies.add_feedback(&acme, &bob.id, &ack, at(120)).await.expect("fb").expect("found");
        let bob_now = store.anomalies.get_anomaly(&acme, &bob.id).await.expect("get").expect("found");
        assert_eq!(bob_now.status, AnomalyStatus::Acknowledged);

        assert_eq!(
            store.anomalies.add_feedback(&acme, "no-such-anomaly", &ack, at(120)).await.expect("fb"),
            None,
            "{:?}",
            db.backend
        );
    }
}

#[tokio::test]
async fn tenants_never_see_each_other() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let (acme, other) = (tenant("acme"), tenant("other"));
        let saved = store.anomalies.save_anomalies(&acme, &[anomaly("alice", 0, 0.9)], at(60)).await.expect("save");
        let id = saved[0].anomaly.id.clone();
        store.anomalies.add_feedback(&acme, &id, &false_positive(Some(at(600))), at(61)).await.expect("fb");
        store.anomalies.set_detection_cursor(&acme, at(60)).await.expect("cursor");

        // The same anomaly in another tenant is a different anomaly.
        let theirs = store.anomalies.save_anomalies(&other, &[anomaly("alice", 0, 0.9)], at(60)).await.expect("save");
        assert!(theirs[0].created, "{:?}", db.backend);
        assert_ne!(theirs[0].anomaly.id, id);
        assert_eq!(theirs[0].anomaly.status, AnomalyStatus::Open);

        assert_eq!(store.anomalies.get_anomaly(&other, &id).await.expect("get"), None, "{:?}", db.backend);
        assert_eq!(
            ids(&store.anomalies.list_anomalies(&other, &query(10)).await.expect("list")),
            vec![theirs[0].anomaly.id.clone()]
        );
        assert_eq!(store.anomalies.add_feedback(&other, &id, &false_positive(None), at(62)).await.expect("fb"), None);
        assert!(store.anomalies.list_feedback(&other, &id).await.expect("feedback").is_empty());
        assert!(store.anomalies.active_suppressions(&other, at(62)).await.expect("s").is_empty());
        assert!(store.anomalies.false_positive_windows(&other, at(0)).await.expect("w").is_empty());
        assert_eq!(store.anomalies.detection_cursor(&other).await.expect("cursor"), None);

        // And the owner's anomaly was left alone by the other tenant's attempt.
        let mine = store.anomalies.get_anomaly(&acme, &id).await.expect("get").expect("found");
        assert_eq!(mine.status, AnomalyStatus::FalsePositive);
        assert_eq!(store.anomalies.list_feedback(&acme, &id).await.expect("feedback").len(), 1);
    }
}

#[tokio::test]
async fn the_detection_cursor_only_moves_forward() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let acme = tenant("acme");
        assert_eq!(store.anomalies.detection_cursor(&acme).await.expect("cursor"), None);
        store.anomalies.set_detection_cursor(&acme, at(60)).await.expect("set");
        assert_eq!(store.anomalies.detection_cursor(&acme).await.expect("cursor"), Some(at(60)));
        store.anomalies.set_detection_cursor(&acme, at(180)).await.expect("set");
        store.anomalies.set_detection_cursor(&acme, at(120)).await.expect("set (stale)");
        assert_eq!(store.anomalies.detection_cursor(&acme).await.expect("cursor"), Some(at(180)), "{:?}", db.backend);
    }
}
