//! The search rendering of every record of the real invictus-aws-stratus CloudTrail capture
//! (shared/data): deterministic, bounded, and saying in words what happened.

use std::path::PathBuf;

use chrono::Utc;
use serde_json::Value;
use veritrail_core::cloudtrail::events_from_document;
use veritrail_core::event::{StoredEvent, TenantId};
use veritrail_core::hash::Hash;
use veritrail_core::render::render;
use veritrail_core::validate::{Limits, validate_event};

fn capture() -> Vec<StoredEvent> {
    let dir =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/invictus-aws-stratus/raw/CloudTrail");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("the shared data set must be beside the repository ({}): {err}", dir.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .collect();
    files.sort();
    let mut events = Vec::new();
    for file in files {
        let document: Value = serde_json::from_slice(&std::fs::read(&file).expect("read")).expect("json");
        for raw in events_from_document(&document).expect("records") {
            let event = validate_event(&raw, &Limits::default(), || "unused".to_owned()).expect("valid");
            let tenant = TenantId::parse("t").expect("tenant");
            events.push(StoredEvent::from_new(tenant, events.len() as u64, event, Utc::now(), Hash::GENESIS));
        }
    }
    events
}

fn rendering_of<'a>(events: &'a [StoredEvent], texts: &'a [String], event_name: &str) -> &'a str {
    let idx = events
        .iter()
        .position(|event| event.details.get("eventName").and_then(Value::as_str) == Some(event_name))
        .unwrap_or_else(|| panic!("no {event_name} in the capture"));
    &texts[idx]
}

#[test]
fn every_record_renders_deterministically_and_briefly() {
    let events = capture();
    assert_eq!(events.len(), 2900);
    let texts: Vec<String> = events.iter().map(render).collect();
    let again: Vec<String> = events.iter().map(render).collect();
    assert_eq!(texts, again);
    assert!(texts.iter().all(|text| text.len() < 1_200), "a rendering is too long");
    let distinct: std::collections::HashSet<&String> = texts.iter().collect();
    // Repeated activity renders identically (embedded once); ids and times never make it unique.
    assert!(distinct.len() < 1_600, "{} distinct texts of 2900", distinct.len());

    let stop = rendering_of(&events, &texts, "StopLogging");
    assert!(stop.starts_with("bert-jan (IAMUser) called cloudtrail StopLogging (stop logging)"), "{stop}");
    assert!(stop.contains("It failed: TrailNotFoundException (trail not found exception)"), "{stop}");
    assert!(stop.contains("From 192.168.10.20"), "{stop}");

    let throttled = texts.iter().find(|text| text.contains("ThrottlingException")).expect("a throttled call");
    assert!(throttled.contains("throttling exception"), "{throttled}");
    let user_data = events
        .iter()
        .zip(&texts)
        .find(|(event, _)| event.details["requestParameters"]["attribute"] == "userData")
        .map(|(_, text)| text)
        .expect("a userData read");
    assert!(user_data.contains("attribute userData (user data)"), "{user_data}");
    let shared_image = rendering_of(&events, &texts, "ModifyImageAttribute");
    assert!(shared_image.contains("launch permission, add, user id"), "{shared_image}");
    let flow_logs = rendering_of(&events, &texts, "CreateFlowLogs");
    assert!(flow_logs.matches("request").count() <= 2, "container words are not repeated: {flow_logs}");
}
