//! The alert store conformance suite: channels, rules and the delivery outbox, run against SQLite
//! always and PostgreSQL when `VERITRAIL_TEST_PG_URL` is set (required under CI=true or
//! VERITRAIL_TEST_REQUIRE_PG=1).
//!
//! Claims are tested with several `Store`s on one database claiming at the same time, as
//! several servers (or worker tasks) would.

use std::collections::HashSet;

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;
use veritrail_core::alerting::{
    AlertError, AlertQuery, AlertSource, AttemptOutcome, ChannelKind, ClaimedDelivery, DeliveryQuery, DeliveryStatus,
    NewAlert, NewChannel, NewRule, RecordError, RuleKind,
};
use veritrail_core::anomalies::{AnomalySeverity, NewAnomaly, Subject};
use veritrail_core::event::{Severity, TenantId};
use veritrail_store::Store;
use veritrail_store::testing::TestDatabase;

fn tenant(name: &str) -> TenantId {
    TenantId::parse(name).expect("tenant")
}

/// 2026-05-01 10:00 UTC plus `seconds`.
fn at(seconds: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 10, 0, 0).single().expect("valid time") + Duration::seconds(seconds)
}

/// Encrypted-looking bytes: not UTF-8, with a NUL, so nothing can pass them through as text.
const SECRET: &[u8] = &[0x00, 0xff, 0xfe, 0x80, b's', b'3', 0x00, 0x7f, 0xc3];

fn webhook(name: &str, secret: Option<&[u8]>) -> NewChannel {
    NewChannel {
        id: None,
        kind: ChannelKind::Webhook,
        name: name.to_owned(),
        config_public: json!({"url": "https://hooks.example.com/…"}),
        secret: secret.map(<[u8]>::to_vec),
    }
}

async fn channel(store: &Store, tenant: &TenantId, name: &str) -> String {
    store.alerting.create_channel(tenant, &webhook(name, Some(SECRET)), at(0)).await.expect("create channel").id
}

fn rule(name: &str, channel_ids: &[&str]) -> NewRule {
    NewRule {
        name: name.to_owned(),
        kind: RuleKind::Anomaly,
        min_severity: Severity::High,
        channel_ids: channel_ids.iter().map(|id| id.to_string()).collect(),
        match_spec: Some(json!({"subject_kind": "actor"})),
        cooldown_seconds: Some(900),
        enabled: true,
    }
}

fn alert(rule_id: Option<&str>, dedup_key: &str, channel_ids: &[&str]) -> NewAlert {
    NewAlert {
        id: None,
        rule_id: rule_id.map(str::to_owned),
        dedup_key: dedup_key.to_owned(),
        message: json!({"kind": "anomaly", "title": "Unusual activity", "severity": "high", "event_ids": ["e1"]}),
        channel_ids: channel_ids.iter().map(|id| id.to_string()).collect(),
        cooldown: None,
    }
}

fn deliveries(limit: u32) -> DeliveryQuery {
    DeliveryQuery { limit, ..Default::default() }
}

fn claimed_ids(claimed: &[ClaimedDelivery]) -> Vec<String> {
    claimed.iter().map(|claim| claim.delivery.id.clone()).collect()
}

#[tokio::test]
async fn channel_secrets_round_trip_as_bytes_and_stay_out_of_listings() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let (acme, other) = (tenant("acme"), tenant("other"));
        let created = store.alerting.create_channel(&acme, &webhook("ops", Some(SECRET)), at(5)).await.expect("create");
        assert!(created.has_secret);
        assert!(!created.disabled);
        assert_eq!(created.created_at, at(5));
        let plain = store.alerting.create_channel(&acme, &webhook("plain", None), at(6)).await.expect("create");

        let stored = store.alerting.get_channel(&acme, &created.id).await.expect("get").expect("found");
        assert_eq!(stored.secret.as_deref(), Some(SECRET), "{:?}: the secret comes back byte for byte", db.backend);
        assert_eq!(stored.channel, created);
        assert_eq!(stored.channel.config_public, json!({"url": "https://hooks.example.com/…"}));
        let plain_stored = store.alerting.get_channel(&acme, &plain.id).await.expect("get").expect("found");
        assert_eq!(plain_stored.secret, None);
        assert!(!plain_stored.channel.has_secret);

        let listed = store.alerting.list_channels(&acme).await.expect("list");
        assert_eq!(listed, vec![created.clone(), plain.clone()], "{:?}: oldest first", db.backend);
        let served = serde_json::to_string(&listed).expect("json");
        assert!(served.contains("\"has_secret\":true"), "{served}");
        assert!(!served.contains("secret\":["), "{:?}: no secret bytes in a listing: {served}", db.backend);
        assert!(!format!("{stored:?}").contains("s3"), "secrets stay out of debug output");

        // Disabling shows in listings; another tenant can neither see nor change the channel.
        assert!(store.alerting.set_channel_disabled(&acme, &created.id, true).await.expect("disable"));
        assert!(store.alerting.get_channel(&acme, &created.id).await.expect("get").expect("found").channel.disabled);
        assert!(store.alerting.list_channels(&other).await.expect("list").is_empty());
        assert_eq!(store.alerting.get_channel(&other, &created.id).await.expect("get"), None, "{:?}", db.backend);
        assert!(!store.alerting.set_channel_disabled(&other, &created.id, false).await.expect("disable"));
        assert!(!store.alerting.delete_channel(&other, &created.id, at(7)).await.expect("delete"));
        assert!(store.alerting.get_channel(&acme, &created.id).await.expect("get").expect("found").channel.disabled);

        // Deleting hides the channel everywhere and cannot be done twice.
        assert!(store.alerting.delete_channel(&acme, &created.id, at(8)).await.expect("delete"));
        assert_eq!(store.alerting.get_channel(&acme, &created.id).await.expect("get"), None);
        assert_eq!(store.alerting.list_channels(&acme).await.expect("list"), vec![plain]);
        assert!(!store.alerting.delete_channel(&acme, &created.id, at(9)).await.expect("delete"));
        assert!(!store.alerting.set_channel_disabled(&acme, &created.id, false).await.expect("disable"));
    }
}

#[tokio::test]
async fn rules_keep_their_channels_and_refuse_unknown_ones() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let (acme, other) = (tenant("acme"), tenant("other"));
        let (slack, mail) = (channel(&store, &acme, "slack").await, channel(&store, &acme, "mail").await);
        let theirs = channel(&store, &other, "theirs").await;

        let created =
            store.alerting.create_rule(&acme, &rule("high", &[&mail, &slack, &mail]), at(10)).await.expect("rule");
        assert_eq!(created.channel_ids, vec![mail.clone(), slack.clone()], "{:?}: in order, once each", db.backend);
        assert_eq!(created.match_spec, Some(json!({"subject_kind": "actor"})));
        assert_eq!((created.cooldown_seconds, created.enabled), (Some(900), true));
        assert_eq!(
            (created.kind, created.min_severity, created.created_at),
            (RuleKind::Anomaly, Severity::High, at(10))
        );
        assert_eq!(store.alerting.get_rule(&acme, &created.id).await.expect("get"), Some(created.clone()));

        let mut event_rule = rule("logins", &[&slack]);
        event_rule.kind = RuleKind::Event;
        event_rule.match_spec = None;
        event_rule.cooldown_seconds = None;
        let logins = store.alerting.create_rule(&acme, &event_rule, at(11)).await.expect("rule");
        assert_eq!((logins.match_spec.clone(), logins.cooldown_seconds), (None, None));
        assert_eq!(store.alerting.list_rules(&acme, None).await.expect("list"), vec![created.clone(), logins.clone()]);
        assert_eq!(store.alerting.list_rules(&acme, Some(RuleKind::Event)).await.expect("list"), vec![logins.clone()]);

        // Unknown channels, including another tenant's, are refused and nothing is stored.
        for bad in ["no-such-channel", theirs.as_str()] {
            let refused = store.alerting.create_rule(&acme, &rule("bad", &[&slack, bad]), at(12)).await;
            assert!(matches!(refused, Err(AlertError::UnknownChannel(ref id)) if id == bad), "{refused:?}");
        }
        assert_eq!(store.alerting.list_rules(&acme, None).await.expect("list").len(), 2, "{:?}", db.backend);

        // Update replaces the settings and the channel list; a refused update changes nothing.
        let mut changed = rule("critical only", &[&slack]);
        changed.min_severity = Severity::Critical;
        changed.enabled = false;
        let updated = store.alerting.update_rule(&acme, &created.id, &changed).await.expect("update").expect("found");
        assert_eq!(
            (updated.name.as_str(), updated.min_severity, updated.enabled),
            ("critical only", Severity::Critical, false)
        );
        assert_eq!((updated.channel_ids.clone(), updated.created_at), (vec![slack.clone()], at(10)));
        let refused = store.alerting.update_rule(&acme, &created.id, &rule("x", &[&theirs])).await;
        assert!(matches!(refused, Err(AlertError::UnknownChannel(_))), "{refused:?}");
        assert_eq!(store.alerting.get_rule(&acme, &created.id).await.expect("get"), Some(updated.clone()));
        assert!(store.alerting.update_rule(&other, &created.id, &changed).await.expect("update").is_none());
        assert_eq!(store.alerting.get_rule(&other, &created.id).await.expect("get"), None);
        assert!(store.alerting.list_rules(&other, None).await.expect("list").is_empty());

        // A deleted channel leaves every rule.
        assert!(store.alerting.delete_channel(&acme, &slack, at(13)).await.expect("delete"));
        let after = store.alerting.get_rule(&acme, &logins.id).await.expect("get").expect("found");
        assert!(after.channel_ids.is_empty(), "{:?}", db.backend);
        assert!(matches!(
            store.alerting.create_rule(&acme, &rule("late", &[&slack]), at(14)).await,
            Err(AlertError::UnknownChannel(_))
        ));

        assert!(!store.alerting.delete_rule(&other, &logins.id).await.expect("delete"));
        assert!(store.alerting.delete_rule(&acme, &logins.id).await.expect("delete"));
        assert!(!store.alerting.delete_rule(&acme, &logins.id).await.expect("delete"));
        let remaining = store.alerting.list_rules(&acme, None).await.expect("list");
        assert_eq!(remaining.len(), 1);
        assert_eq!(remaining[0].id, updated.id);
        assert!(remaining[0].channel_ids.is_empty(), "its only channel was deleted");
    }
}

#[tokio::test]
async fn an_alert_and_its_deliveries_are_written_together_or_not_at_all() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let (acme, other) = (tenant("acme"), tenant("other"));
        let (slack, mail, paused) = (
            channel(&store, &acme, "slack").await,
            channel(&store, &acme, "mail").await,
            channel(&store, &acme, "paused").await,
        );
        store.alerting.set_channel_disabled(&acme, &paused, true).await.expect("disable");
        let theirs = channel(&store, &other, "theirs").await;
        let high = store.alerting.create_rule(&acme, &rule("high", &[&slack, &mail]), at(0)).await.expect("rule");

        let created = store
            .alerting
            .create_alert(&acme, &alert(Some(&high.id), "anomaly-1", &[&slack, &mail, &paused, &slack]), at(20))
            .await
            .expect("alert");
        assert_eq!(created.alert.rule_id.as_deref(), Some(high.id.as_str()));
        assert_eq!((created.alert.dedup_key.as_str(), created.alert.created_at), ("anomaly-1", at(20)));
        let names: Vec<&str> = created.deliveries.iter().map(|delivery| delivery.channel_name.as_str()).collect();
        assert_eq!(names, vec!["slack", "mail"], "{:?}: once per enabled channel, in order", db.backend);
        for delivery in &created.deliveries {
            assert_eq!(
                (delivery.status, delivery.attempts, delivery.next_attempt_at),
                (DeliveryStatus::Pending, 0, at(20))
            );
            assert_eq!(delivery.alert_id, created.alert.id);
        }
        let listed = store.alerting.list_deliveries(&acme, &deliveries(10)).await.expect("list");
        let mut listed_ids: Vec<&str> = listed.iter().map(|delivery| delivery.id.as_str()).collect();
        let mut created_ids: Vec<&str> = created.deliveries.iter().map(|delivery| delivery.id.as_str()).collect();
        listed_ids.sort();
        created_ids.sort();
        assert_eq!(listed_ids, created_ids, "{:?}", db.backend);
        assert_eq!(
            store.alerting.list_alerts(&acme, &AlertQuery { limit: 10, ..Default::default() }).await.expect("alerts"),
            vec![created.alert.clone()]
        );

        // Each refusal happens after the alert row is written, inside the transaction: the
        // rollback must take it away again.
        let refusals = [
            alert(Some(&high.id), "anomaly-2", &[&slack, "no-such-channel"]),
            alert(Some(&high.id), "anomaly-2", &[&theirs]),
            alert(Some("no-such-rule"), "anomaly-2", &[&slack]),
        ];
        for refused in &refusals {
            let result = store.alerting.create_alert(&acme, refused, at(30)).await;
            assert!(matches!(result, Err(AlertError::UnknownChannel(_) | AlertError::UnknownRule(_))), "{result:?}");
        }
        let alerts =
            store.alerting.list_alerts(&acme, &AlertQuery { limit: 10, ..Default::default() }).await.expect("alerts");
        assert_eq!(alerts.len(), 1, "{:?}: a refused alert leaves no row", db.backend);
        assert_eq!(store.alerting.list_deliveries(&acme, &deliveries(10)).await.expect("list").len(), 2);
        assert_eq!(store.alerting.last_alert_at(&acme, Some(&high.id), "anomaly-2").await.expect("last"), None);

        // Integrity alerts have no rule; deliveries filter by alert and status; tenants are apart.
        let integrity =
            store.alerting.create_alert(&acme, &alert(None, "integrity", &[&mail]), at(40)).await.expect("alert");
        assert_eq!(integrity.alert.rule_id, None);
        let of_alert = DeliveryQuery { alert_id: Some(integrity.alert.id.clone()), limit: 10, ..Default::default() };
        let listed = store.alerting.list_deliveries(&acme, &of_alert).await.expect("list");
        assert_eq!(listed, integrity.deliveries);
        let by_rule = AlertQuery { rule_id: Some(high.id.clone()), limit: 10, ..Default::default() };
        assert_eq!(store.alerting.list_alerts(&acme, &by_rule).await.expect("alerts"), vec![created.alert.clone()]);
        let since = AlertQuery { since: Some(at(40)), limit: 10, ..Default::default() };
        assert_eq!(store.alerting.list_alerts(&acme, &since).await.expect("alerts"), vec![integrity.alert.clone()]);
        let newest =
            store.alerting.list_alerts(&acme, &AlertQuery { limit: 1, ..Default::default() }).await.expect("alerts");
        assert_eq!(newest, vec![integrity.alert]);
        let dead = DeliveryQuery { status: Some(DeliveryStatus::Dead), limit: 10, ..Default::default() };
        assert!(store.alerting.list_deliveries(&acme, &dead).await.expect("list").is_empty());
        assert!(store.alerting.list_deliveries(&other, &deliveries(10)).await.expect("list").is_empty());
        assert!(
            store
                .alerting
                .list_alerts(&other, &AlertQuery { limit: 10, ..Default::default() })
                .await
                .expect("a")
                .is_empty()
        );
    }
}

#[tokio::test]
async fn concurrent_claimers_take_disjoint_sets() {
    for db in TestDatabase::all().await {
        // Three connections to one database, as three servers would have.
        let stores = [db.connect().await, db.connect().await, db.connect().await];
        let acme = tenant("acme");
        let (slack, mail) = (channel(&stores[0], &acme, "slack").await, channel(&stores[0], &acme, "mail").await);
        for idx in 0..30 {
            stores[0]
                .alerting
                .create_alert(&acme, &alert(None, &format!("k{idx}"), &[&slack, &mail]), at(idx))
                .await
                .expect("alert");
        }
        let lease = at(600);
        for round in 0..3 {
            // 60 due deliveries, four claimers of up to 20 each, all at once.
            let now = at(100 + round * 1_000);
            let lease = lease + Duration::seconds(round * 1_000);
            let (a, b, c, d) = tokio::join!(
                stores[0].alerting.claim_due_deliveries(None, now, "server-a", lease, 20),
                stores[1].alerting.claim_due_deliveries(None, now, "server-b", lease, 20),
                stores[2].alerting.claim_due_deliveries(None, now, "server-c", lease, 20),
                stores[0].alerting.claim_due_deliveries(None, now, "server-d", lease, 20),
            );
            let claims = [a.expect("claim a"), b.expect("claim b"), c.expect("claim c"), d.expect("claim d")];
            let mut seen = HashSet::new();
            for claimed in &claims {
                assert!(claimed.len() <= 20);
                for id in claimed_ids(claimed) {
                    assert!(seen.insert(id.clone()), "{:?} round {round}: delivery {id} was claimed twice", db.backend);
                }
            }
            assert_eq!(seen.len(), 60, "{:?} round {round}: every due delivery was claimed once", db.backend);
            let again =
                stores[1].alerting.claim_due_deliveries(None, now, "server-e", lease, 100).await.expect("claim");
            assert!(again.is_empty(), "{:?}: leased deliveries are not claimed again", db.backend);
            // Each claim counted an attempt and carries what the worker needs.
            for claim in claims.iter().flatten() {
                assert_eq!(claim.delivery.attempts as i64, round + 1);
                assert_eq!(claim.alert.id, claim.delivery.alert_id);
                assert_eq!(claim.channel.channel.id, claim.delivery.channel_id);
                assert_eq!(claim.channel.secret.as_deref(), Some(SECRET));
                assert!(claim.delivery.lease_holder.as_deref().is_some_and(|holder| holder.starts_with("server-")));
                assert_eq!(claim.delivery.lease_until, Some(lease));
            }
        }
    }
}

#[tokio::test]
async fn expired_leases_are_claimed_again_and_delivered_ones_never() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let acme = tenant("acme");
        let slack = channel(&store, &acme, "slack").await;
        let created = store.alerting.create_alert(&acme, &alert(None, "k", &[&slack]), at(0)).await.expect("alert");
        let id = created.deliveries[0].id.clone();

        assert!(
            store.alerting.claim_due_deliveries(None, at(-1), "a", at(30), 10).await.expect("claim").is_empty(),
            "not due yet"
        );
        let first = store.alerting.claim_due_deliveries(None, at(0), "a", at(30), 10).await.expect("claim");
        assert_eq!(claimed_ids(&first), vec![id.clone()]);
        assert_eq!(first[0].alert, created.alert);
        assert!(store.alerting.claim_due_deliveries(None, at(29), "b", at(59), 10).await.expect("claim").is_empty());

        // Server a died mid-delivery: once its lease runs out, b takes over.
        let second = store.alerting.claim_due_deliveries(None, at(30), "b", at(60), 10).await.expect("claim");
        assert_eq!(claimed_ids(&second), vec![id.clone()], "{:?}", db.backend);
        assert_eq!(second[0].delivery.attempts, 2);
        assert!(!store.alerting.mark_delivered(&id, "a", at(31)).await.expect("mark"), "a lost its lease");
        assert!(!store.alerting.mark_failed(&id, "a", "late", None, at(31)).await.expect("mark"), "a lost its lease");
        assert!(store.alerting.mark_delivered(&id, "b", at(32)).await.expect("mark"));
        assert!(!store.alerting.mark_delivered(&id, "b", at(33)).await.expect("mark"), "only once");

        for later in [at(61), at(100_000)] {
            assert!(
                store
                    .alerting
                    .claim_due_deliveries(None, later, "c", later + Duration::seconds(30), 10)
                    .await
                    .expect("c")
                    .is_empty()
            );
        }
        let listed = store.alerting.list_deliveries(&acme, &deliveries(10)).await.expect("list");
        assert_eq!(listed.len(), 1);
        let delivered = &listed[0];
        assert_eq!(
            (delivered.status, delivered.attempts, delivered.delivered_at),
            (DeliveryStatus::Delivered, 2, Some(at(32)))
        );
        assert_eq!((delivered.lease_holder.as_deref(), delivered.lease_until), (None, None));
        assert_eq!(delivered.channel_name, "slack");
    }
}

#[tokio::test]
async fn failed_deliveries_wait_for_their_retry_or_are_dead_lettered() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let (acme, other) = (tenant("acme"), tenant("other"));
        let slack = channel(&store, &acme, "slack").await;
        let created = store.alerting.create_alert(&acme, &alert(None, "k", &[&slack]), at(0)).await.expect("alert");
        let id = created.deliveries[0].id.clone();

        store.alerting.claim_due_deliveries(None, at(0), "a", at(30), 10).await.expect("claim");
        assert!(
            !store.alerting.mark_failed(&id, "b", "not mine", Some(at(5)), at(4)).await.expect("mark"),
            "wrong holder"
        );
        assert!(store.alerting.mark_failed(&id, "a", "HTTP 503", Some(at(60)), at(4)).await.expect("mark"));
        let pending = &store.alerting.list_deliveries(&acme, &deliveries(10)).await.expect("list")[0];
        assert_eq!(
            (pending.status, pending.next_attempt_at, pending.last_error.as_deref()),
            (DeliveryStatus::Pending, at(60), Some("HTTP 503"))
        );
        assert_eq!(pending.lease_holder, None, "a failure releases the lease");

        assert!(
            store.alerting.claim_due_deliveries(None, at(59), "a", at(90), 10).await.expect("claim").is_empty(),
            "{:?}",
            db.backend
        );
        let retried = store.alerting.claim_due_deliveries(None, at(60), "a", at(90), 10).await.expect("claim");
        assert_eq!(claimed_ids(&retried), vec![id.clone()]);
        assert_eq!(retried[0].delivery.last_error.as_deref(), Some("HTTP 503"));

        assert!(store.alerting.mark_failed(&id, "a", "HTTP 404: gone", None, at(61)).await.expect("mark"));
        for later in [at(61), at(1_000_000)] {
            assert!(
                store
                    .alerting
                    .claim_due_deliveries(None, later, "a", later + Duration::seconds(30), 10)
                    .await
                    .expect("c")
                    .is_empty()
            );
        }
        let dead_query = DeliveryQuery { status: Some(DeliveryStatus::Dead), limit: 10, ..Default::default() };
        let dead = store.alerting.list_deliveries(&acme, &dead_query).await.expect("list");
        assert_eq!(dead.len(), 1, "{:?}", db.backend);
        assert_eq!((dead[0].attempts, dead[0].last_error.as_deref()), (2, Some("HTTP 404: gone")));
        assert!(!store.alerting.mark_delivered(&id, "a", at(62)).await.expect("mark"), "dead stays dead");

        // The attempts with a recorded result, oldest first; the refused writes left none.
        let attempts = store.alerting.list_attempts(&acme, &id).await.expect("attempts").expect("known delivery");
        let summary: Vec<(u32, AttemptOutcome, Option<&str>, DateTime<Utc>)> =
            attempts.iter().map(|a| (a.attempt, a.outcome, a.error.as_deref(), a.finished_at)).collect();
        assert_eq!(
            summary,
            vec![
                (1, AttemptOutcome::Retry, Some("HTTP 503"), at(4)),
                (2, AttemptOutcome::Dead, Some("HTTP 404: gone"), at(61)),
            ],
            "{:?}",
            db.backend
        );
        assert!(attempts.iter().all(|attempt| attempt.holder == "a" && attempt.delivery_id == id));
        assert_eq!(store.alerting.list_attempts(&other, &id).await.expect("attempts"), None, "another tenant's");

        // An operator may retry a dead delivery: pending again, with a fresh count.
        assert!(!store.alerting.requeue_delivery(&other, &id, at(70)).await.expect("requeue"));
        assert!(store.alerting.requeue_delivery(&acme, &id, at(70)).await.expect("requeue"));
        assert!(!store.alerting.requeue_delivery(&acme, &id, at(70)).await.expect("requeue"), "only dead ones");
        let again = store.alerting.claim_due_deliveries(None, at(70), "a", at(100), 10).await.expect("claim");
        assert_eq!((claimed_ids(&again), again[0].delivery.attempts), (vec![id], 1));
    }
}

#[tokio::test]
async fn disabled_channels_hold_deliveries_and_deleted_ones_dead_letter_them() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let acme = tenant("acme");
        let (slack, mail) = (channel(&store, &acme, "slack").await, channel(&store, &acme, "mail").await);
        let created =
            store.alerting.create_alert(&acme, &alert(None, "k", &[&slack, &mail]), at(0)).await.expect("alert");

        store.alerting.set_channel_disabled(&acme, &slack, true).await.expect("disable");
        let claimed = store.alerting.claim_due_deliveries(None, at(1), "a", at(30), 10).await.expect("claim");
        assert_eq!(claimed.len(), 1, "{:?}", db.backend);
        assert_eq!(claimed[0].channel.channel.name, "mail");
        store.alerting.mark_delivered(&claimed[0].delivery.id, "a", at(1)).await.expect("mark");
        store.alerting.set_channel_disabled(&acme, &slack, false).await.expect("enable");
        let held = store.alerting.claim_due_deliveries(None, at(2), "a", at(30), 10).await.expect("claim");
        assert_eq!(held.len(), 1, "{:?}: the held delivery goes out once enabled", db.backend);
        assert_eq!(held[0].channel.channel.name, "slack");
        store.alerting.mark_failed(&held[0].delivery.id, "a", "timeout", Some(at(10)), at(4)).await.expect("mark");

        assert!(store.alerting.delete_channel(&acme, &slack, at(5)).await.expect("delete"));
        assert!(store.alerting.claim_due_deliveries(None, at(100), "a", at(130), 10).await.expect("claim").is_empty());
        let dead_query = DeliveryQuery { status: Some(DeliveryStatus::Dead), limit: 10, ..Default::default() };
        let dead = store.alerting.list_deliveries(&acme, &dead_query).await.expect("list");
        assert_eq!(dead.len(), 1, "{:?}", db.backend);
        assert_eq!(dead[0].channel_name, "slack", "history keeps the deleted channel's name");
        assert!(dead[0].last_error.as_deref().is_some_and(|error| error.contains("deleted")));
        assert!(!store.alerting.requeue_delivery(&acme, &dead[0].id, at(101)).await.expect("requeue"));
        assert_eq!(created.deliveries.len(), 2);
    }
}

#[tokio::test]
async fn last_alert_at_gives_the_cooldown_of_each_rule_and_key() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let (acme, other) = (tenant("acme"), tenant("other"));
        let slack = channel(&store, &acme, "slack").await;
        let high = store.alerting.create_rule(&acme, &rule("high", &[&slack]), at(0)).await.expect("rule");
        let low = store.alerting.create_rule(&acme, &rule("low", &[&slack]), at(0)).await.expect("rule");

        assert_eq!(store.alerting.last_alert_at(&acme, Some(&high.id), "alice").await.expect("last"), None);
        for (second, key) in [(10, "alice"), (50, "alice"), (30, "alice"), (70, "bob")] {
            store
                .alerting
                .create_alert(&acme, &alert(Some(&high.id), key, &[&slack]), at(second))
                .await
                .expect("alert");
        }
        store.alerting.create_alert(&acme, &alert(Some(&low.id), "alice", &[&slack]), at(90)).await.expect("alert");
        store.alerting.create_alert(&acme, &alert(None, "alice", &[&slack]), at(95)).await.expect("alert");

        let last = |rule: Option<String>, key: &'static str| {
            let store = store.clone();
            let acme = acme.clone();
            async move { store.alerting.last_alert_at(&acme, rule.as_deref(), key).await.expect("last") }
        };
        assert_eq!(
            last(Some(high.id.clone()), "alice").await,
            Some(at(50)),
            "{:?}: the latest, not the last written",
            db.backend
        );
        assert_eq!(last(Some(high.id.clone()), "bob").await, Some(at(70)));
        assert_eq!(last(Some(low.id.clone()), "alice").await, Some(at(90)));
        assert_eq!(last(None, "alice").await, Some(at(95)), "{:?}: alerts without a rule have their own", db.backend);
        assert_eq!(last(None, "bob").await, None);
        assert_eq!(store.alerting.last_alert_at(&other, Some(&high.id), "alice").await.expect("last"), None);
    }
}

#[tokio::test]
async fn one_delivery_is_claimed_by_id_for_its_tenant_unless_leased() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let (acme, other) = (tenant("acme"), tenant("other"));
        let chosen = NewChannel { id: Some("chosen-id".into()), ..webhook("chosen", Some(SECRET)) };
        let created = store.alerting.create_channel(&acme, &chosen, at(0)).await.expect("create");
        assert_eq!(created.id, "chosen-id", "{:?}: the caller's id is kept", db.backend);
        let alert = store.alerting.create_alert(&acme, &alert(None, "t", &["chosen-id"]), at(1)).await.expect("alert");
        let id = &alert.deliveries[0].id;
        // Not due yet, but a test send takes it at once; never another tenant's.
        assert!(store.alerting.claim_delivery(&other, id, at(0), "w1", at(60)).await.expect("claim").is_none());
        let claimed =
            store.alerting.claim_delivery(&acme, id, at(0), "w1", at(60)).await.expect("claim").expect("some");
        assert_eq!(claimed.delivery.attempts, 1);
        assert_eq!(claimed.channel.secret.as_deref(), Some(SECRET));
        assert!(
            store.alerting.claim_delivery(&acme, id, at(30), "w2", at(90)).await.expect("claim").is_none(),
            "leased"
        );
        assert!(store.alerting.claim_due_deliveries(None, at(30), "w2", at(90), 10).await.expect("due").is_empty());
        assert!(store.alerting.mark_delivered(id, "w1", at(31)).await.expect("mark"));
        assert!(
            store.alerting.claim_delivery(&acme, id, at(100), "w2", at(160)).await.expect("claim").is_none(),
            "done"
        );
    }
}

/// A stored anomaly of `actor`, as the detection job stores them.
async fn stored_anomaly(store: &Store, tenant: &TenantId, actor: &str) -> String {
    let anomaly = NewAnomaly {
        subject: Subject::actor(actor),
        window_start: at(0),
        window_end: at(3600),
        reason: format!("actor:{actor}/volume"),
        score: 0.9,
        severity: AnomalySeverity::High,
        detectors: vec!["zscore".into()],
        features: Vec::new(),
        narrative: format!("{actor} did far more than usual"),
        event_ids: vec![format!("ev-{actor}")],
    };
    let saved = store.anomalies.save_anomalies(tenant, &[anomaly], at(3600)).await.expect("save anomaly");
    saved[0].anomaly.id.clone()
}

#[tokio::test]
async fn anomalies_are_marked_alerted_with_their_alerts_in_one_transaction_and_only_once() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let (acme, other) = (tenant("acme"), tenant("other"));
        let slack = channel(&store, &acme, "slack").await;
        let high = store.alerting.create_rule(&acme, &rule("high", &[&slack]), at(0)).await.expect("rule");
        let alice = stored_anomaly(&store, &acme, "alice").await;
        let bob = stored_anomaly(&store, &acme, "bob").await;
        stored_anomaly(&store, &other, "carol").await;
        let pending = store.alerting.anomalies_to_alert(&acme, 10).await.expect("pending");
        assert_eq!(pending, [alice.clone(), bob.clone()], "{:?}", db.backend);
        assert_eq!(store.alerting.anomalies_to_alert(&acme, 1).await.expect("pending"), vec![alice.clone()]);
        let source = AlertSource::Anomalies(vec![alice.clone(), bob.clone()]);

        // A batch refused half-way (its second alert names an unknown channel) leaves the
        // anomalies to alert and records no alert at all.
        let refused = store
            .alerting
            .record_alerts(
                &acme,
                &[alert(Some(&high.id), "actor:alice", &[&slack]), alert(Some(&high.id), "actor:bob", &["nope"])],
                &source,
                at(3700),
            )
            .await;
        assert!(matches!(refused, Err(RecordError::Alert(AlertError::UnknownChannel(_)))), "{refused:?}");
        assert_eq!(store.alerting.anomalies_to_alert(&acme, 10).await.expect("pending").len(), 2);
        let none = AlertQuery { limit: 10, ..Default::default() };
        assert!(store.alerting.list_alerts(&acme, &none).await.expect("alerts").is_empty());

        let batch = [alert(Some(&high.id), "actor:alice", &[&slack]), alert(Some(&high.id), "actor:bob", &[&slack])];
        let created = store.alerting.record_alerts(&acme, &batch, &source, at(3700)).await.expect("record");
        assert_eq!(created.len(), 2);
        assert!(created.iter().all(|created| created.deliveries.len() == 1));
        assert!(store.alerting.anomalies_to_alert(&acme, 10).await.expect("pending").is_empty());
        // The other tenant's anomaly is its own.
        assert_eq!(store.alerting.anomalies_to_alert(&other, 10).await.expect("pending").len(), 1);

        // Recording the same source again (a second worker) writes nothing.
        let again = store.alerting.record_alerts(&acme, &batch, &source, at(3800)).await;
        assert!(matches!(again, Err(RecordError::AlreadyRecorded)), "{again:?}");
        assert_eq!(store.alerting.list_alerts(&acme, &none).await.expect("alerts").len(), 2);

        // Two workers racing over one new anomaly: exactly one records it.
        let dave = stored_anomaly(&store, &acme, "dave").await;
        let racers = (0..4).map(|_| {
            let (store, acme, high, slack, dave) =
                (store.clone(), acme.clone(), high.id.clone(), slack.clone(), dave.clone());
            tokio::spawn(async move {
                let batch = [alert(Some(&high), "actor:dave", &[&slack])];
                store.alerting.record_alerts(&acme, &batch, &AlertSource::Anomalies(vec![dave]), at(3900)).await
            })
        });
        let mut recorded = 0;
        for racer in racers.collect::<Vec<_>>() {
            match racer.await.expect("task") {
                Ok(_) => recorded += 1,
                Err(RecordError::AlreadyRecorded) => {}
                Err(error) => panic!("{error}"),
            }
        }
        assert_eq!(recorded, 1, "{:?}", db.backend);
        assert_eq!(store.alerting.list_alerts(&acme, &none).await.expect("alerts").len(), 3);
    }
}

#[tokio::test]
async fn the_event_cursor_moves_only_from_where_it_is_with_the_alerts_of_its_events() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let (acme, other) = (tenant("acme"), tenant("other"));
        let slack = channel(&store, &acme, "slack").await;
        assert_eq!(store.alerting.event_alert_cursor(&acme).await.expect("cursor"), 0);

        // A refused batch leaves the cursor where it was.
        let refused = store
            .alerting
            .record_alerts(
                &acme,
                &[alert(None, "actor:mallory", &["nope"])],
                &AlertSource::Events { from_seq: 0, to_seq: 3 },
                at(10),
            )
            .await;
        assert!(matches!(refused, Err(RecordError::Alert(AlertError::UnknownChannel(_)))), "{refused:?}");
        assert_eq!(store.alerting.event_alert_cursor(&acme).await.expect("cursor"), 0);

        let source = AlertSource::Events { from_seq: 0, to_seq: 3 };
        let batch = [alert(None, "actor:mallory", &[&slack])];
        store.alerting.record_alerts(&acme, &batch, &source, at(10)).await.expect("record");
        assert_eq!(store.alerting.event_alert_cursor(&acme).await.expect("cursor"), 3, "{:?}", db.backend);
        assert_eq!(store.alerting.event_alert_cursor(&other).await.expect("cursor"), 0);
        // The same events again (another replica), or from a stale cursor: refused, nothing written.
        let again = store.alerting.record_alerts(&acme, &batch, &source, at(20)).await;
        assert!(matches!(again, Err(RecordError::AlreadyRecorded)), "{again:?}");
        let backwards =
            store.alerting.record_alerts(&acme, &[], &AlertSource::Events { from_seq: 3, to_seq: 1 }, at(20)).await;
        assert!(matches!(backwards, Err(RecordError::InvalidSource(_))), "{backwards:?}");
        let none = AlertQuery { limit: 10, ..Default::default() };
        assert_eq!(store.alerting.list_alerts(&acme, &none).await.expect("alerts").len(), 1);

        // Replicas racing over the same batch: exactly one moves the cursor.
        let racers: Vec<_> = (0..4)
            .map(|_| {
                let (store, acme, slack) = (store.clone(), acme.clone(), slack.clone());
                tokio::spawn(async move {
                    let batch = [alert(None, "actor:trent", &[&slack])];
                    store
                        .alerting
                        .record_alerts(&acme, &batch, &AlertSource::Events { from_seq: 3, to_seq: 7 }, at(30))
                        .await
                })
            })
            .collect();
        let mut recorded = 0;
        for racer in racers {
            match racer.await.expect("task") {
                Ok(_) => recorded += 1,
                Err(RecordError::AlreadyRecorded) => {}
                Err(error) => panic!("{error}"),
            }
        }
        assert_eq!(recorded, 1, "{:?}", db.backend);
        assert_eq!(store.alerting.event_alert_cursor(&acme).await.expect("cursor"), 7);
        assert_eq!(store.alerting.list_alerts(&acme, &none).await.expect("alerts").len(), 2);
    }
}

#[tokio::test]
async fn replicas_raising_one_subject_at_once_record_one_alert_within_the_cooldown() {
    for db in TestDatabase::all().await {
        let store = db.connect().await;
        let acme = tenant("acme");
        let slack = channel(&store, &acme, "slack").await;
        let high = store.alerting.create_rule(&acme, &rule("high", &[&slack]), at(0)).await.expect("rule");
        let throttled =
            |key: &str| NewAlert { cooldown: Some(Duration::seconds(900)), ..alert(Some(&high.id), key, &[&slack]) };

        // Eight servers (each its own pool) raise mallory's alert at the same moment.
        let mut replicas = Vec::new();
        for _ in 0..8 {
            replicas.push(db.connect().await);
        }
        let racers: Vec<_> = replicas
            .into_iter()
            .map(|replica| {
                let (acme, alert) = (acme.clone(), throttled("actor:mallory"));
                tokio::spawn(async move { replica.alerting.create_alert(&acme, &alert, at(100)).await })
            })
            .collect();
        let mut recorded = 0;
        for racer in racers {
            match racer.await.expect("task") {
                Ok(_) => recorded += 1,
                Err(AlertError::InCooldown(key)) => assert_eq!(key, "actor:mallory"),
                Err(error) => panic!("{error}"),
            }
        }
        assert_eq!(recorded, 1, "{:?}", db.backend);
        let by_rule = AlertQuery { rule_id: Some(high.id.clone()), limit: 10, ..Default::default() };
        assert_eq!(store.alerting.list_alerts(&acme, &by_rule).await.expect("alerts").len(), 1);

        // In a batch, an alert still in cooldown is left out and the rest is recorded.
        let trent = stored_anomaly(&store, &acme, "trent").await;
        let batch = [throttled("actor:mallory"), throttled("actor:trent")];
        let created = store
            .alerting
            .record_alerts(&acme, &batch, &AlertSource::Anomalies(vec![trent]), at(200))
            .await
            .expect("record");
        let keys: Vec<&str> = created.iter().map(|created| created.alert.dedup_key.as_str()).collect();
        assert_eq!(keys, ["actor:trent"]);
        // Once the cooldown has run out, the subject alerts again; no cooldown never holds back.
        store.alerting.create_alert(&acme, &throttled("actor:mallory"), at(1000)).await.expect("after cooldown");
        store
            .alerting
            .create_alert(&acme, &alert(Some(&high.id), "actor:mallory", &[&slack]), at(1001))
            .await
            .expect("no cooldown");
        assert_eq!(store.alerting.list_alerts(&acme, &by_rule).await.expect("alerts").len(), 4);
    }
}
