//! Anomaly detection on synthetic logs: a steady population of actors plus injected incidents.

use std::collections::HashMap;

use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};
use serde_json::Map;
use veritrail_core::anomalies::{AnomalySeverity, FalsePositiveWindow, NewAnomaly, Subject, SubjectKind, Suppression};
use veritrail_core::event::{Actor, Outcome, Resource, Severity, StoredEvent, TenantId};
use veritrail_core::hash::Hash;
use veritrail_models::anomaly::{self, AnomalyConfig, KnownFeedback};

/// A small deterministic generator (64-bit LCG), so the logs are the same on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

struct Persona {
    name: &'static str,
    ip: &'static str,
    agent: &'static str,
    actions: &'static [&'static str],
}

const PEOPLE: &[Persona] = &[
    Persona {
        name: "alice",
        ip: "10.0.0.11",
        agent: "console/1.0",
        actions: &["s3:ListBuckets", "s3:GetObject", "s3:GetObject", "s3:PutObject", "ec2:DescribeInstances"],
    },
    Persona {
        name: "bob",
        ip: "10.0.0.12",
        agent: "cli/2.3",
        actions: &["ec2:DescribeInstances", "ec2:DescribeInstances", "ec2:StartInstances", "ec2:DescribeVolumes"],
    },
    Persona {
        name: "carol",
        ip: "10.0.0.13",
        agent: "sdk-python/1.26",
        actions: &["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "s3:GetObject"],
    },
    Persona {
        name: "dave",
        ip: "10.0.0.14",
        agent: "console/1.0",
        actions: &["cloudtrail:LookupEvents", "cloudtrail:DescribeTrails", "s3:ListBuckets", "ec2:DescribeInstances"],
    },
    Persona {
        name: "erin",
        ip: "10.0.0.15",
        agent: "terraform/1.5",
        actions: &["ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:CreateTags", "ec2:DescribeSecurityGroups"],
    },
];

const DAYS_OF_HISTORY: i64 = 14;

fn arn(name: &str) -> String {
    format!("arn:aws:iam::111122223333:user/{name}")
}

fn day_start(day: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0).single().expect("a valid date") + Duration::days(day)
}

/// The scored day: the one after the history.
fn scored_day() -> (DateTime<Utc>, DateTime<Utc>) {
    (day_start(DAYS_OF_HISTORY), day_start(DAYS_OF_HISTORY + 1))
}

struct Log {
    tenant: TenantId,
    events: Vec<StoredEvent>,
}

impl Log {
    fn new(tenant: &str) -> Self {
        Self { tenant: TenantId::parse(tenant).expect("a valid tenant"), events: Vec::new() }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        at: DateTime<Utc>,
        actor: &str,
        ip: &str,
        agent: &str,
        action: &str,
        outcome: Outcome,
        resource: &str,
    ) -> String {
        let id = format!("{}-{}", self.tenant, self.events.len());
        self.events.push(StoredEvent {
            tenant: self.tenant.clone(),
            seq: 0,
            id: id.clone(),
            occurred_at: at,
            received_at: at,
            actor: Actor {
                id: actor.to_owned(),
                kind: "IAMUser".to_owned(),
                name: None,
                ip: Some(ip.to_owned()),
                user_agent: Some(agent.to_owned()),
            },
            action: action.to_owned(),
            resource: Some(Resource { kind: "arn".to_owned(), id: resource.to_owned(), name: None }),
            outcome,
            severity: Severity::Info,
            details: Map::new(),
            tags: Vec::new(),
            prev_hash: Hash::GENESIS,
            hash: Hash::GENESIS,
        });
        id
    }

    /// Normal office-hours work by every persona, on `days` days starting at `first_day`.
    fn steady(&mut self, first_day: i64, days: i64, rng: &mut Lcg) {
        for day in first_day..first_day + days {
            for persona in PEOPLE {
                for hour in 9..17 {
                    let calls = 3 + rng.below(8);
                    for _ in 0..calls {
                        let at = day_start(day) + Duration::hours(hour) + Duration::seconds(rng.below(3600) as i64);
                        let action = persona.actions[rng.below(persona.actions.len() as u64) as usize];
                        let resource = format!("arn:res:{}:{}", persona.name, rng.below(4));
                        self.push(
                            at,
                            &arn(persona.name),
                            persona.ip,
                            persona.agent,
                            action,
                            Outcome::Success,
                            &resource,
                        );
                    }
                }
            }
        }
    }

    /// Sorts by time and numbers the events like a log would.
    fn finish(mut self) -> Vec<StoredEvent> {
        self.events.sort_by(|left, right| (left.occurred_at, &left.id).cmp(&(right.occurred_at, &right.id)));
        for (seq, event) in self.events.iter_mut().enumerate() {
            event.seq = seq as u64;
        }
        self.events
    }
}

/// Ids of the injected incidents' events.
struct Injected {
    denied_burst: Vec<String>,
    new_principal: Vec<String>,
    new_ip: Vec<String>,
    logging_off: Vec<String>,
}

fn incident_log() -> (Vec<StoredEvent>, Injected) {
    let mut log = Log::new("acme");
    let mut rng = Lcg(7);
    log.steady(0, DAYS_OF_HISTORY + 1, &mut rng);
    let day = scored_day().0;
    // 1. bob: 29 denied GetPasswordData calls within 5 minutes.
    let denied_burst = (0..29)
        .map(|index| {
            let at = day + Duration::hours(10) + Duration::seconds(20 + index * 9);
            log.push(at, &arn("bob"), "10.0.0.12", "cli/2.3", "ec2:GetPasswordData", Outcome::Denied, "arn:res:i-1")
        })
        .collect();
    // 2. A principal nobody has seen signs in and creates a key, from an unknown address.
    let new_principal = ["signin:ConsoleLogin", "iam:CreateAccessKey", "iam:AttachUserPolicy"]
        .iter()
        .enumerate()
        .map(|(index, action)| {
            let at = day + Duration::hours(11) + Duration::minutes(12 + index as i64);
            log.push(at, &arn("mallory"), "198.51.100.7", "curl/8.0", action, Outcome::Success, "arn:res:mallory")
        })
        .collect();
    // 3. carol works as usual, but from a new address with a new client.
    let new_ip = (0..6)
        .map(|index| {
            let at = day + Duration::hours(13) + Duration::minutes(5 + index * 7);
            let action = if index % 2 == 0 { "dynamodb:Query" } else { "dynamodb:GetItem" };
            log.push(at, &arn("carol"), "203.0.113.9", "sdk-go/0.1", action, Outcome::Success, "arn:res:carol:1")
        })
        .collect();
    // 4. dave turns logging off.
    let logging_off = ["cloudtrail:StopLogging", "cloudtrail:DeleteTrail"]
        .iter()
        .enumerate()
        .map(|(index, action)| {
            let at = day + Duration::hours(15) + Duration::minutes(30 + index as i64);
            log.push(at, &arn("dave"), "10.0.0.14", "console/1.0", action, Outcome::Success, "arn:res:trail")
        })
        .collect();
    (log.finish(), Injected { denied_burst, new_principal, new_ip, logging_off })
}

fn quiet_log() -> Vec<StoredEvent> {
    let mut log = Log::new("acme");
    log.steady(0, DAYS_OF_HISTORY + 1, &mut Lcg(11));
    log.finish()
}

/// The anomalies [`anomaly::detect`] reports; every log here has one tenant.
fn detect(
    events: &[StoredEvent],
    range: (DateTime<Utc>, DateTime<Utc>),
    config: &AnomalyConfig,
    embeddings: Option<&HashMap<u64, Vec<f32>>>,
    feedback: KnownFeedback<'_>,
) -> Vec<NewAnomaly> {
    anomaly::detect(events, range, config, embeddings, feedback).into_iter().map(|found| found.anomaly).collect()
}

fn actor_anomaly<'a>(anomalies: &'a [NewAnomaly], name: &str, hour: u32) -> &'a NewAnomaly {
    anomalies
        .iter()
        .find(|anomaly| {
            anomaly.subject == Subject::actor(arn(name))
                && anomaly.window_start.hour() <= hour
                && anomaly.window_end > day_hour(hour)
        })
        .unwrap_or_else(|| panic!("no anomaly for {name} around {hour}:00 among {:#?}", summary(anomalies)))
}

fn day_hour(hour: u32) -> DateTime<Utc> {
    scored_day().0 + Duration::hours(i64::from(hour))
}

fn summary(anomalies: &[NewAnomaly]) -> Vec<String> {
    anomalies
        .iter()
        .map(|anomaly| {
            format!("{:.3} {} {} {}", anomaly.score, anomaly.window_start, anomaly.reason, anomaly.narrative)
        })
        .collect()
}

fn is_injected(anomaly: &NewAnomaly) -> bool {
    let hours = [("bob", 10), ("mallory", 11), ("carol", 13), ("dave", 15)];
    hours
        .iter()
        .any(|(name, hour)| anomaly.subject == Subject::actor(arn(name)) && anomaly.window_start == day_hour(*hour))
}

#[test]
fn injected_incidents_score_highest_with_the_right_facts_and_events() {
    let (events, injected) = incident_log();
    let anomalies = detect(&events, scored_day(), &AnomalyConfig::default(), None, KnownFeedback::default());
    let actors: Vec<&NewAnomaly> =
        anomalies.iter().filter(|anomaly| anomaly.subject.kind == SubjectKind::Actor).collect();
    assert!(actors.len() >= 4, "expected the four incidents, got {:#?}", summary(&anomalies));
    for anomaly in &actors[..4] {
        assert!(is_injected(anomaly), "an ordinary window outranks an incident: {:#?}", summary(&anomalies));
    }
    assert!(
        actors.iter().filter(|anomaly| !is_injected(anomaly)).count() <= 1,
        "ordinary windows reported: {:#?}",
        summary(&anomalies)
    );

    let burst = actor_anomaly(&anomalies, "bob", 10);
    assert!(burst.reason.ends_with(":denials"), "{}", burst.reason);
    assert!(burst.narrative.starts_with("bob made 29 GetPasswordData calls in 60 minutes"), "{}", burst.narrative);
    assert!(burst.narrative.contains("denied"), "{}", burst.narrative);
    assert!(burst.event_ids.iter().all(|id| injected.denied_burst.contains(id)), "{:?}", burst.event_ids);
    assert_eq!(burst.event_ids.len(), 20, "evidence is capped at max_evidence");
    let denied = burst.features.iter().find(|part| part.name == "denied_events").expect("denied_events in the top");
    assert_eq!(denied.observed, 29.0);
    assert_eq!(denied.expected, 0.0);
    assert!(burst.severity >= AnomalySeverity::High, "{:?}", burst.severity);

    let intruder = actor_anomaly(&anomalies, "mallory", 11);
    assert!(intruder.narrative.starts_with("mallory made 3 calls"), "{}", intruder.narrative);
    assert!(intruder.event_ids.iter().all(|id| injected.new_principal.contains(id)), "{:?}", intruder.event_ids);
    assert_eq!(intruder.event_ids.len(), 3);

    let moved = actor_anomaly(&anomalies, "carol", 13);
    assert!(moved.narrative.contains("203.0.113.9"), "{}", moved.narrative);
    assert!(moved.event_ids.first().is_some_and(|id| injected.new_ip.contains(id)), "{:?}", moved.event_ids);

    let silenced = actor_anomaly(&anomalies, "dave", 15);
    assert!(
        silenced.narrative.contains("StopLogging") || silenced.narrative.contains("DeleteTrail"),
        "{}",
        silenced.narrative
    );
    assert!(silenced.event_ids.iter().take(2).all(|id| injected.logging_off.contains(id)), "{:?}", silenced.event_ids);

    for anomaly in &anomalies {
        assert!((0.0..=1.0).contains(&anomaly.score));
        assert!(anomaly.event_ids.len() <= 20);
        assert!(!anomaly.detectors.is_empty(), "{anomaly:?}");
        let subject = format!("{}:{}:", anomaly.subject.kind.as_str(), anomaly.subject.id);
        assert!(anomaly.reason.starts_with(&subject), "{}", anomaly.reason);
    }
}

#[test]
fn five_minute_windows_put_the_incidents_on_top() {
    let (events, injected) = incident_log();
    // Two days of history are plenty of 5-minute windows for a baseline.
    let config = AnomalyConfig { history: Duration::days(2), ..AnomalyConfig::with_window(Duration::minutes(5)) };
    let anomalies = detect(&events, scored_day(), &config, None, KnownFeedback::default());
    let actors: Vec<&NewAnomaly> =
        anomalies.iter().filter(|anomaly| anomaly.subject.kind == SubjectKind::Actor).collect();
    let all_injected: Vec<&String> =
        [&injected.denied_burst, &injected.new_principal, &injected.new_ip, &injected.logging_off]
            .into_iter()
            .flatten()
            .collect();
    assert!(actors.len() >= 4, "{:#?}", summary(&anomalies));
    for anomaly in &actors[..4] {
        assert_eq!(anomaly.window_end - anomaly.window_start, Duration::minutes(5));
        let first = anomaly.event_ids.first().expect("evidence");
        assert!(all_injected.contains(&first), "an ordinary window outranks an incident: {:#?}", summary(&anomalies));
    }
    let burst = actor_anomaly(&anomalies, "bob", 10);
    assert!(burst.narrative.starts_with("bob made 29 GetPasswordData calls in 5 minutes"), "{}", burst.narrative);
    assert!(burst.event_ids.iter().all(|id| injected.denied_burst.contains(id)));
}

#[test]
fn a_quiet_log_raises_nothing() {
    let events = quiet_log();
    let anomalies = detect(&events, scored_day(), &AnomalyConfig::default(), None, KnownFeedback::default());
    assert!(anomalies.is_empty(), "a quiet day raised {:#?}", summary(&anomalies));
}

#[test]
fn a_cold_start_tenant_raises_no_storm() {
    // A brand-new tenant: three actors and two hours of ordinary, slightly different work.
    let mut log = Log::new("newco");
    let mut rng = Lcg(3);
    let start = day_start(0) + Duration::hours(9);
    for (index, persona) in PEOPLE.iter().take(3).enumerate() {
        for _ in 0..(5 + index * 7) {
            let at = start + Duration::seconds(rng.below(7200) as i64);
            let action = persona.actions[rng.below(persona.actions.len() as u64) as usize];
            log.push(at, &arn(persona.name), persona.ip, persona.agent, action, Outcome::Success, "arn:res:x");
        }
    }
    let events = log.finish();
    let range = (day_start(0), day_start(1));
    for window in [Duration::minutes(60), Duration::minutes(5)] {
        let anomalies = detect(&events, range, &AnomalyConfig::with_window(window), None, KnownFeedback::default());
        assert!(anomalies.is_empty(), "a new tenant raised {:#?}", summary(&anomalies));
    }
}

#[test]
fn the_same_input_gives_the_same_output() {
    let (events, _) = incident_log();
    let config = AnomalyConfig::default();
    let first = format!("{:?}", anomaly::detect(&events, scored_day(), &config, None, KnownFeedback::default()));
    let second = format!("{:?}", anomaly::detect(&events, scored_day(), &config, None, KnownFeedback::default()));
    assert_eq!(first, second);
    let analysis = anomaly::analyse(&events, &config, None, KnownFeedback::default());
    assert_eq!(analysis, anomaly::analyse(&events, &config, None, KnownFeedback::default()));
}

fn suppressing(suppression: &Suppression) -> KnownFeedback<'_> {
    KnownFeedback { suppressions: std::slice::from_ref(suppression), ..KnownFeedback::default() }
}

#[test]
fn a_suppression_removes_only_its_reason() {
    let (events, _) = incident_log();
    let config = AnomalyConfig::default();
    let before = detect(&events, scored_day(), &config, None, KnownFeedback::default());
    let burst = actor_anomaly(&before, "bob", 10).clone();
    let suppression = Suppression {
        anomaly_id: "a1".into(),
        subject: burst.subject.clone(),
        reason: burst.reason.clone(),
        created_at: scored_day().1,
        until: scored_day().1,
    };
    let after = detect(&events, scored_day(), &config, None, suppressing(&suppression));
    assert!(!after.iter().any(|anomaly| anomaly.reason == burst.reason), "{:#?}", summary(&after));
    let others = |list: &[NewAnomaly]| -> Vec<String> {
        list.iter().filter(|anomaly| anomaly.reason != burst.reason).map(|anomaly| anomaly.reason.clone()).collect()
    };
    assert_eq!(others(&before), others(&after));

    // Expired suppressions suppress nothing; another reason of the same subject is untouched.
    let expired = Suppression { until: scored_day().0, ..suppression.clone() };
    let again = detect(&events, scored_day(), &config, None, suppressing(&expired));
    assert!(again.iter().any(|anomaly| anomaly.reason == burst.reason));
    let other_reason = Suppression { reason: format!("actor:{}:volume", arn("bob")), ..suppression };
    let kept = detect(&events, scored_day(), &config, None, suppressing(&other_reason));
    assert!(kept.iter().any(|anomaly| anomaly.reason == burst.reason));
}

#[test]
fn a_known_false_positive_down_weights_similar_windows() {
    let (events, _) = incident_log();
    let config = AnomalyConfig::default();
    let before = detect(&events, scored_day(), &config, None, KnownFeedback::default());
    let flagged = actor_anomaly(&before, "dave", 15).clone();
    // Marked as a false positive (its suppression, if any, has expired).
    let marked = FalsePositiveWindow {
        anomaly_id: "a1".into(),
        subject: flagged.subject.clone(),
        reason: flagged.reason.clone(),
        window_start: flagged.window_start,
        window_end: flagged.window_end,
    };
    let feedback = KnownFeedback { false_positives: std::slice::from_ref(&marked), ..KnownFeedback::default() };
    let analysis = anomaly::analyse(&events, &config, None, feedback);
    let plain = anomaly::analyse(&events, &config, None, KnownFeedback::default());
    let score_of = |analysis: &anomaly::Analysis, subject: &Subject, start: DateTime<Utc>| {
        analysis
            .windows
            .iter()
            .find(|window| &window.key.subject == subject && window.key.window_start == start)
            .map(|window| window.score)
            .expect("the window is scored")
    };
    let flagged_before = score_of(&plain, &flagged.subject, flagged.window_start);
    let flagged_after = score_of(&analysis, &flagged.subject, flagged.window_start);
    assert!(flagged_after <= flagged_before * (1.0 - config.false_positive_weight) + 1e-9);
    // A dissimilar window (the denied burst) keeps most of its score.
    let bob = Subject::actor(arn("bob"));
    assert!(score_of(&analysis, &bob, day_hour(10)) > 0.9 * score_of(&plain, &bob, day_hour(10)));
}

/// A fixed unit vector per action family; the injected actions point elsewhere.
fn embeddings_for(events: &[StoredEvent]) -> HashMap<u64, Vec<f32>> {
    events
        .iter()
        .map(|event| {
            let service = event.action.split(':').next().unwrap_or("");
            let axis = match service {
                "s3" => 0,
                "ec2" => 1,
                "dynamodb" => 2,
                "cloudtrail" => 3,
                _ => 4,
            };
            let mut vector = vec![0.1f32; 6];
            vector[axis] = 1.0;
            if event.action.contains("GetPasswordData") || event.action.contains("StopLogging") {
                vector[5] = 1.0;
            }
            let norm = vector.iter().map(|value| value * value).sum::<f32>().sqrt();
            (event.seq, vector.into_iter().map(|value| value / norm).collect())
        })
        .collect()
}

#[test]
fn embeddings_are_optional() {
    let (events, _) = incident_log();
    let config = AnomalyConfig::default();
    let without = anomaly::feature_table(&events, &config, None);
    assert!(!without.names.iter().any(|name| name == "content_distance"));
    let vectors = embeddings_for(&events);
    let with = anomaly::feature_table(&events, &config, Some(&vectors));
    assert_eq!(with.names.last().map(String::as_str), Some("content_distance"));
    assert_eq!(with.rows, without.rows);
    assert!(with.values.iter().all(|row| row.len() == with.names.len()));

    let anomalies = detect(&events, scored_day(), &config, Some(&vectors), KnownFeedback::default());
    let burst = actor_anomaly(&anomalies, "bob", 10);
    assert!(burst.reason.ends_with(":denials"));
    let column = with.names.len() - 1;
    let row = with
        .rows
        .iter()
        .position(|key| key.subject == Subject::actor(arn("bob")) && key.window_start == day_hour(10))
        .expect("bob's burst window");
    let usual = with
        .rows
        .iter()
        .position(|key| key.subject == Subject::actor(arn("bob")) && key.window_start == day_hour(9))
        .expect("bob's ordinary window");
    assert!(with.values[row][column] > with.values[usual][column], "the burst is unlike bob's usual events");
}
