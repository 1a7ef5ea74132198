//! Raising alerts: from anomalies the detection job stored, from events as they are appended,
//! and from integrity failures. Each path builds [`AlertMessage`]s, lets [`crate::throttle`]
//! drop repeats and those still in cooldown (per rule and subject, from the alerts already
//! recorded) and fold many into a digest, then records each alert with its deliveries in one
//! transaction and wakes the delivery worker.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use veritrail_core::alerting::{AlertError, AlertSource, CreatedAlert, NewAlert, RecordError, RuleKind, StoredRule};
use veritrail_core::anomalies::StoredAnomaly;
use veritrail_core::event::{Severity, StoredEvent, TenantId};
use veritrail_core::integrity::{IntegrityAlertSink, IntegrityFailure};
use veritrail_core::store::EventLog;

use crate::message::{AlertKind, AlertMessage, TimeWindow};
use crate::rules::{anomaly_severity, rule_matches_anomaly, rule_matches_event};
use crate::service::Alerting;
use crate::throttle::{self, RuleThrottle};

/// Most event ids carried by one message (the link shows them all).
const MAX_EVENT_IDS: usize = 50;
/// Most anomalies evaluated, and marked alerted, in one transaction.
const ANOMALY_BATCH: u32 = 200;
/// Most events evaluated, and the event cursor moved over, in one transaction.
pub const EVENT_BATCH: u32 = 500;
/// Most batches of one tenant per [`Alerting::alert_new_events`], so a tenant with a long backlog
/// cannot hold up the others.
pub const EVENT_BATCHES_PER_PASS: usize = 20;

/// What one evaluation raised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RaiseReport {
    /// Alerts recorded (a digest counts once).
    pub alerts: usize,
    /// Alerts not raised because the same rule and subject alerted within the cooldown.
    pub suppressed: usize,
    /// Repeats of a subject within this evaluation, folded into its first alert.
    pub duplicates: usize,
}

/// What one evaluation of a tenant's new events did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EventPass {
    /// Events evaluated (or skipped, for a tenant without event rules).
    pub evaluated: u64,
    /// The tenant's event cursor afterwards: the seq of the first event not evaluated yet.
    pub cursor: u64,
    pub raised: RaiseReport,
}

impl RaiseReport {
    /// Moves the planned alerts the store held back by their cooldown (another replica alerted
    /// on the subject meanwhile) from `alerts` to `suppressed`. Only sends carry an id.
    fn count_held_back(&mut self, planned: &[NewAlert], created: &[CreatedAlert]) {
        let recorded: HashSet<&str> = created.iter().map(|created| created.alert.id.as_str()).collect();
        let held = planned.iter().filter_map(|alert| alert.id.as_deref()).filter(|id| !recorded.contains(id)).count();
        self.alerts -= held;
        self.suppressed += held;
    }

    fn add(&mut self, other: RaiseReport) {
        self.alerts += other.alerts;
        self.suppressed += other.suppressed;
        self.duplicates += other.duplicates;
    }
}

impl Alerting {
    /// Alerts for the tenant's stored anomalies that have not been alerted on yet, by its
    /// anomaly rules: those the detection job has just stored, and any a failed earlier run left
    /// behind. Each batch of alerts is recorded in the transaction that marks its anomalies
    /// alerted, so a failure anywhere leaves them to the next run and none is alerted twice.
    pub async fn alert_pending_anomalies(
        &self,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<RaiseReport, AlertError> {
        let mut report = RaiseReport::default();
        loop {
            let ids = self.store.anomalies_to_alert(tenant, ANOMALY_BATCH).await?;
            if ids.is_empty() {
                break;
            }
            let rules = self.store.list_rules(tenant, Some(RuleKind::Anomaly)).await?;
            let mut anomalies = Vec::with_capacity(ids.len());
            for id in &ids {
                if let Some(anomaly) = self.anomalies.get_anomaly(tenant, id).await? {
                    anomalies.push(anomaly);
                }
            }
            let mut batch = RaiseReport::default();
            let mut alerts = Vec::new();
            for rule in rules.iter().filter(|rule| rule.enabled) {
                let messages: Vec<AlertMessage> = anomalies
                    .iter()
                    .filter(|anomaly| rule_matches_anomaly(rule, anomaly))
                    .map(|anomaly| self.anomaly_message(anomaly, now))
                    .collect();
                let (planned, planned_report) = self.plan_for_rule(tenant, rule, messages, now).await?;
                alerts.extend(planned);
                batch.add(planned_report);
            }
            let full_batch = ids.len() == ANOMALY_BATCH as usize;
            match self.store.record_alerts(tenant, &alerts, &AlertSource::Anomalies(ids), now).await {
                Ok(created) => {
                    self.log_created(tenant, &created);
                    batch.count_held_back(&alerts, &created);
                    report.add(batch);
                }
                // Another worker raised them first; what is left is its to do.
                Err(RecordError::AlreadyRecorded) => break,
                Err(refused) => return Err(refused.into_alert_error()),
            }
            if !full_batch {
                break;
            }
        }
        self.wake_worker(report);
        Ok(report)
    }

    /// Evaluates the tenant's events after its event cursor against its event rules, in
    /// batches: each batch's alerts are recorded in the transaction that moves the cursor past
    /// it, so every acknowledged event is evaluated exactly once, whatever crashes. A tenant
    /// without enabled event rules only has its cursor moved to the end of its log. At most
    /// [`EVENT_BATCHES_PER_PASS`] batches per call; the rest waits for the next one.
    pub async fn alert_new_events(
        &self,
        log: &dyn EventLog,
        tenant: &TenantId,
        now: DateTime<Utc>,
    ) -> Result<EventPass, AlertError> {
        // One pass per tenant at a time in this process (the wake-up and the scheduled job);
        // other replicas are kept out by the cursor check when recording.
        let _one_at_a_time = self.event_rules.lock().await;
        let mut pass = EventPass::default();
        for _ in 0..EVENT_BATCHES_PER_PASS {
            let from_seq = self.store.event_alert_cursor(tenant).await?;
            pass.cursor = from_seq;
            let rules = self.enabled_event_rules(tenant).await?;
            let (events, to_seq) = if rules.is_empty() {
                let end = log.head(tenant).await?.map_or(0, |head| head.next_seq);
                (Vec::new(), end.max(from_seq))
            } else {
                let events = log.scan(tenant, from_seq, EVENT_BATCH).await?;
                let to_seq = events.last().map_or(from_seq, |event| event.seq + 1);
                (events, to_seq)
            };
            if to_seq == from_seq {
                break;
            }
            let mut batch = RaiseReport::default();
            let mut alerts = Vec::new();
            for rule in rules.iter() {
                let messages: Vec<AlertMessage> = events
                    .iter()
                    .filter(|event| rule_matches_event(rule, event))
                    .map(|event| self.event_message(rule, event, now))
                    .collect();
                let (planned, planned_report) = self.plan_for_rule(tenant, rule, messages, now).await?;
                alerts.extend(planned);
                batch.add(planned_report);
            }
            match self.store.record_alerts(tenant, &alerts, &AlertSource::Events { from_seq, to_seq }, now).await {
                Ok(created) => {
                    self.log_created(tenant, &created);
                    batch.count_held_back(&alerts, &created);
                    pass.raised.add(batch);
                    pass.evaluated += to_seq - from_seq;
                    pass.cursor = to_seq;
                }
                // Another replica evaluated these events first.
                Err(RecordError::AlreadyRecorded) => break,
                Err(refused) => return Err(refused.into_alert_error()),
            }
            if rules.is_empty() || events.len() < EVENT_BATCH as usize {
                break;
            }
        }
        self.wake_worker(pass.raised);
        Ok(pass)
    }

    /// An integrity failure: a critical alert to every enabled channel of the tenant, no rule
    /// needed; repeats of the same check and kind are held back for the default cooldown.
    pub async fn integrity_failed(
        &self,
        failure: &IntegrityFailure,
        now: DateTime<Utc>,
    ) -> Result<RaiseReport, AlertError> {
        let tenant = &failure.tenant;
        let mut report = RaiseReport::default();
        let channels: Vec<String> = self
            .store
            .list_channels(tenant)
            .await?
            .into_iter()
            .filter(|channel| !channel.disabled)
            .map(|channel| channel.id)
            .collect();
        if channels.is_empty() {
            tracing::error!(tenant = %tenant, "integrity failure, but the tenant has no alert channel to tell");
            return Ok(report);
        }
        let dedup_key = format!("integrity:{}:{}", failure.check, failure.kind);
        let last = self.store.last_alert_at(tenant, None, &dedup_key).await?;
        if let throttle::Cooldown::Suppress { .. } = throttle::cooldown(now, last, self.settings.default_cooldown) {
            report.suppressed += 1;
            return Ok(report);
        }
        let seq = failure.first_bad_seq.map_or_else(|| "none".to_owned(), |seq| seq.to_string());
        let message = AlertMessage {
            kind: AlertKind::Integrity,
            title: format!("Integrity failure in tenant {tenant}: {} ({})", failure.kind, failure.check),
            severity: Severity::Critical,
            summary: format!(
                "The {} check of tenant {tenant} failed: {}. The log may have been changed behind Veritrail's back; \
                 run `veritrail verify --tenant {tenant}` and compare with the last published checkpoint.",
                failure.check, failure.reason
            ),
            subject: Some(format!("tenant {tenant}")),
            window: None,
            event_ids: Vec::new(),
            link: Some(self.link(&format!("/api/v1/verify?from_seq={}", failure.first_bad_seq.unwrap_or(0)))),
            facts: vec![
                ("Check".to_owned(), failure.check.to_owned()),
                ("Kind".to_owned(), failure.kind.clone()),
                ("First bad seq".to_owned(), seq),
            ],
            items: Vec::new(),
            dedup_key: dedup_key.clone(),
            created_at: now,
        };
        self.store
            .create_alert(
                tenant,
                &NewAlert {
                    id: None,
                    rule_id: None,
                    dedup_key,
                    message: serde_json::to_value(&message).expect("messages serialise"),
                    channel_ids: channels,
                    // Checked above against the default cooldown, like before this lock existed.
                    cooldown: None,
                },
                now,
            )
            .await?;
        report.alerts += 1;
        self.wake_worker(report);
        Ok(report)
    }

    /// Plans one rule's messages against its cooldowns: the alerts to record, in order (a
    /// digest before the alerts without deliveries that start its subjects' cooldowns).
    async fn plan_for_rule(
        &self,
        tenant: &TenantId,
        rule: &StoredRule,
        messages: Vec<AlertMessage>,
        now: DateTime<Utc>,
    ) -> Result<(Vec<NewAlert>, RaiseReport), AlertError> {
        if messages.is_empty() {
            return Ok((Vec::new(), RaiseReport::default()));
        }
        let mut last_sent = HashMap::new();
        for message in &messages {
            if !last_sent.contains_key(&message.dedup_key) {
                let last = self.store.last_alert_at(tenant, Some(&rule.id), &message.dedup_key).await?;
                last_sent.insert(message.dedup_key.clone(), last);
            }
        }
        let throttle = RuleThrottle {
            rule_id: rule.id.clone(),
            rule_name: rule.name.clone(),
            cooldown: rule
                .cooldown_seconds
                .map_or(self.settings.default_cooldown, |seconds| chrono::Duration::seconds(i64::from(seconds))),
            group_threshold: self.settings.digest_threshold,
        };
        let originals: HashMap<String, AlertMessage> =
            messages.iter().map(|message| (message.dedup_key.clone(), message.clone())).collect();
        let plan = throttle::plan(&throttle, messages, |key| last_sent.get(key).copied().flatten(), now);
        let report =
            RaiseReport { alerts: plan.send.len(), suppressed: plan.suppressed.len(), duplicates: plan.duplicates };
        let mut alerts = Vec::with_capacity(plan.send.len());
        for message in &plan.send {
            // The id is chosen here so the subjects a digest carries can point at it.
            let id = uuid::Uuid::now_v7().to_string();
            alerts.push(NewAlert {
                id: Some(id.clone()),
                rule_id: Some(rule.id.clone()),
                dedup_key: message.dedup_key.clone(),
                message: serde_json::to_value(message).expect("messages serialise"),
                channel_ids: rule.channel_ids.clone(),
                // A digest is one evaluation's burst; its subjects' cooldowns are the markers below.
                cooldown: (message.kind != AlertKind::Digest).then_some(throttle.cooldown),
            });
            if message.kind == AlertKind::Digest {
                // Each subject in a digest starts its own cooldown: recorded as an alert without
                // deliveries that points at the digest that carried it.
                for key in &plan.mark_sent {
                    if let Some(original) = originals.get(key) {
                        let mut carried = serde_json::to_value(original).expect("messages serialise");
                        carried["sent_in_digest"] = serde_json::Value::String(id.clone());
                        alerts.push(NewAlert {
                            id: None,
                            rule_id: Some(rule.id.clone()),
                            dedup_key: key.clone(),
                            message: carried,
                            channel_ids: Vec::new(),
                            cooldown: Some(throttle.cooldown),
                        });
                    }
                }
            }
        }
        Ok((alerts, report))
    }

    /// Logs the alerts that go somewhere (not the cooldown markers of a digest's subjects).
    fn log_created(&self, tenant: &TenantId, created: &[CreatedAlert]) {
        for created in created.iter().filter(|created| !created.deliveries.is_empty()) {
            let title = created.alert.message.get("title").and_then(serde_json::Value::as_str).unwrap_or_default();
            tracing::info!(tenant = %tenant, rule = created.alert.rule_id.as_deref().unwrap_or_default(), alert = %created.alert.id, deliveries = created.deliveries.len(), "{title}");
        }
    }

    fn wake_worker(&self, report: RaiseReport) {
        if report.alerts > 0 {
            self.wake.notify_one();
        }
    }

    /// `path` under the configured public URL, or as it is.
    fn link(&self, path: &str) -> String {
        match &self.settings.public_url {
            Some(base) => format!("{}{path}", base.trim_end_matches('/')),
            None => path.to_owned(),
        }
    }

    /// The message for one anomaly: its narrative, the top features observed against expected,
    /// and links to the anomaly and its events.
    pub fn anomaly_message(&self, anomaly: &StoredAnomaly, now: DateTime<Utc>) -> AlertMessage {
        let subject = &anomaly.subject;
        let severity = anomaly_severity(anomaly.severity);
        let mut summary = anomaly.narrative.clone();
        if !anomaly.features.is_empty() {
            summary.push_str("\n\nTop features (observed vs expected):");
            for feature in anomaly.features.iter().take(5) {
                summary.push_str(&format!(
                    "\n- {}: {} vs {}",
                    feature.name,
                    number(feature.observed),
                    number(feature.expected)
                ));
            }
        }
        let events_link = self.link(&format!(
            "/api/v1/events?actor={}&since={}&until={}",
            percent_encode(&subject.id),
            veritrail_core::event::format_time(&anomaly.window_start),
            veritrail_core::event::format_time(&anomaly.window_end)
        ));
        let mut facts = vec![
            ("Subject".to_owned(), format!("{} {}", subject.kind, subject.id)),
            ("Score".to_owned(), format!("{:.2}", anomaly.score)),
            ("Detectors".to_owned(), anomaly.detectors.join(", ")),
            ("Events".to_owned(), format!("{} ({events_link})", anomaly.event_ids.len())),
        ];
        facts.extend(anomaly.features.iter().take(3).map(|feature| {
            (feature.name.clone(), format!("{} (expected {})", number(feature.observed), number(feature.expected)))
        }));
        AlertMessage {
            kind: AlertKind::Anomaly,
            title: format!("Unusual activity by {}", subject.id),
            severity,
            summary,
            subject: Some(subject.id.clone()),
            window: Some(TimeWindow { start: anomaly.window_start, end: anomaly.window_end }),
            event_ids: anomaly.event_ids.iter().take(MAX_EVENT_IDS).cloned().collect(),
            link: Some(self.link(&format!("/api/v1/anomalies/{}", anomaly.id))),
            facts,
            items: Vec::new(),
            dedup_key: format!("{}:{}", subject.kind, subject.id),
            created_at: now,
        }
    }

    fn event_message(&self, rule: &StoredRule, event: &StoredEvent, now: DateTime<Utc>) -> AlertMessage {
        let resource = event
            .resource
            .as_ref()
            .map(|resource| format!(" on {} {}", resource.kind, resource.name.as_deref().unwrap_or(&resource.id)))
            .unwrap_or_default();
        let from = event.actor.ip.as_deref().map(|ip| format!(" from {ip}")).unwrap_or_default();
        let outcome = serde_json::to_value(event.outcome).ok().and_then(|value| value.as_str().map(str::to_owned));
        let outcome = outcome.unwrap_or_default();
        AlertMessage {
            kind: AlertKind::EventRule,
            title: format!("{}: {} by {} ({outcome})", rule.name, event.action, event.actor.id),
            severity: event.severity,
            summary: format!(
                "{} ({}) did {}{resource}{from} at {}; outcome {outcome}, severity {}.",
                event.actor.id,
                event.actor.kind,
                event.action,
                veritrail_core::event::format_time(&event.occurred_at),
                event.severity.as_str()
            ),
            subject: Some(event.actor.id.clone()),
            window: None,
            event_ids: vec![event.id.clone()],
            link: Some(self.link(&format!("/api/v1/events/{}", percent_encode(&event.id)))),
            facts: vec![
                ("Rule".to_owned(), rule.name.clone()),
                ("Action".to_owned(), event.action.clone()),
                ("Outcome".to_owned(), outcome.clone()),
            ],
            items: Vec::new(),
            dedup_key: format!("actor:{}", event.actor.id),
            created_at: now,
        }
    }
}

/// The integrity check's sink: alerts through the channels (the failure is also recorded in the
/// chain by the default sink).
#[async_trait]
impl IntegrityAlertSink for Alerting {
    async fn integrity_failure(&self, failure: &IntegrityFailure) {
        if let Err(error) = self.integrity_failed(failure, Utc::now()).await {
            tracing::error!(tenant = %failure.tenant, %error, "could not raise the integrity alert");
        }
    }
}

fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 { format!("{value:.0}") } else { format!("{value:.2}") }
}

/// Query-string and path escaping for the few characters ids contain (ARNs have `:` and `/`).
fn percent_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}
