//! Evidence bundles: round trip, and every class of tampering is caught and attributed.

use chrono::{TimeZone, Utc};
use serde_json::json;
use veritrail_core::bundle::{Bundle, BundleError, EventProof, Manifest};
use veritrail_core::chain::{FORMAT_VERSION, canonical_event_bytes, chain_hash, leaf_hash};
use veritrail_core::checkpoint::{Checkpoint, LogSigner, NoteVerifier};
use veritrail_core::event::{Actor, Outcome, Severity, StoredEvent, TenantId};
use veritrail_core::hash::Hash;
use veritrail_core::merkle::{inclusion_ranges, root_of};

fn signer() -> LogSigner {
    LogSigner::from_seed("audit.example", [3u8; 32]).expect("signer")
}

/// A log of `count` events and a bundle of the events `select` (by seq).
fn bundle(count: u64, select: std::ops::Range<u64>) -> Bundle {
    let tenant = TenantId::parse("acme").expect("tenant");
    let mut prev_hash = Hash::GENESIS;
    let mut events = Vec::new();
    let mut leaves = Vec::new();
    for seq in 0..count {
        let time = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, seq as u32 % 60).single().expect("time");
        let mut event = StoredEvent {
            tenant: tenant.clone(),
            seq,
            id: format!("evt-{seq}"),
            occurred_at: time,
            received_at: time,
            actor: Actor {
                id: "alice".into(),
                kind: "user".into(),
                name: None,
                ip: Some("10.0.0.1".into()),
                user_agent: None,
            },
            action: "repo.read".into(),
            resource: None,
            outcome: Outcome::Success,
            severity: Severity::Info,
            details: json!({"n": seq}).as_object().cloned().expect("object"),
            tags: vec![],
            prev_hash,
            hash: Hash::GENESIS,
        };
        let leaf = leaf_hash(&canonical_event_bytes(&event));
        event.hash = chain_hash(&prev_hash, &leaf);
        prev_hash = event.hash;
        leaves.push(leaf);
        events.push(event);
    }
    let root_hash = root_of(&leaves);
    let origin = "audit.example/acme".to_owned();
    let note = signer().sign(&Checkpoint { origin: origin.clone(), tree_size: count, root_hash });
    let chosen: Vec<&StoredEvent> = events.iter().filter(|event| select.contains(&event.seq)).collect();
    Bundle {
        manifest: Manifest {
            format_version: FORMAT_VERSION,
            tenant: "acme".into(),
            origin,
            tree_size: count,
            event_count: chosen.len() as u64,
            since: None,
            until: None,
            created_at: "2026-01-02T00:00:00.000000Z".into(),
        },
        events: chosen.iter().map(|event| canonical_event_bytes(event)).collect(),
        proofs: chosen
            .iter()
            .map(|event| EventProof {
                seq: event.seq,
                prev_hash: event.prev_hash,
                hash: event.hash,
                hashes: inclusion_ranges(event.seq, count)
                    .into_iter()
                    .map(|(start, end)| root_of(&leaves[start as usize..end as usize]))
                    .collect(),
            })
            .collect(),
        checkpoint_note: note,
        verifier_key: signer().verifier_key(),
    }
}

fn verifier() -> NoteVerifier {
    NoteVerifier::from_verifier_key(&signer().verifier_key()).expect("verifier")
}

/// Writes and re-reads the bundle, as an auditor receiving the file would.
fn reread(bundle: &Bundle) -> Result<Bundle, BundleError> {
    Bundle::from_tar(&bundle.to_tar().expect("tar"))
}

#[test]
fn a_bundle_round_trips_and_verifies() {
    let original = bundle(23, 5..17);
    let read = reread(&original).expect("readable");
    assert_eq!(read, original);
    let report = read.verify(&verifier()).expect("verifies");
    assert_eq!(
        (report.events_verified, report.first_seq, report.last_seq, report.tree_size),
        (12, Some(5), Some(16), 23)
    );
}

#[test]
fn every_changed_byte_of_an_event_is_caught_on_its_line() {
    let original = bundle(9, 2..6);
    let verifier = verifier();
    for line_idx in 0..original.events.len() {
        for position in 0..original.events[line_idx].len() {
            let mut tampered = original.clone();
            let byte = &mut tampered.events[line_idx][position];
            *byte = if *byte == b'1' {
                b'2'
            } else if byte.is_ascii_alphanumeric() {
                b'1'
            } else {
                b'x'
            };
            match tampered.verify(&verifier) {
                Err(BundleError::Event { line, .. }) => assert_eq!(line, line_idx + 1, "byte {position}"),
                other => panic!("line {} byte {position}: expected an event failure, got {other:?}", line_idx + 1),
            }
        }
    }
}

#[test]
fn changed_proofs_checkpoints_and_signatures_are_caught() {
    let original = bundle(9, 0..9);
    // A proof node.
    let mut tampered = original.clone();
    tampered.proofs[4].hashes[1].0[7] ^= 0x10;
    assert!(matches!(reread(&tampered).expect("tar").verify(&verifier()), Err(BundleError::Event { seq: 4, .. })));
    // A chain hash.
    let mut tampered = original.clone();
    tampered.proofs[2].prev_hash.0[0] ^= 1;
    assert!(matches!(reread(&tampered).expect("tar").verify(&verifier()), Err(BundleError::Event { seq: 2, .. })));
    // A dropped event: counts no longer match the manifest.
    let mut tampered = original.clone();
    tampered.events.remove(3);
    tampered.proofs.remove(3);
    assert!(reread(&tampered).expect("tar").verify(&verifier()).is_err());
    // Every byte of the checkpoint note, signature included.
    for position in 0..original.checkpoint_note.len() {
        let mut bytes = original.checkpoint_note.clone().into_bytes();
        bytes[position] = if bytes[position] == b'A' { b'B' } else { b'A' };
        let Ok(note) = String::from_utf8(bytes) else { continue };
        let tampered = Bundle { checkpoint_note: note, ..original.clone() };
        let result = tampered.verify(&verifier());
        assert!(result.is_err(), "checkpoint byte {position} changed but the bundle verifies");
    }
    // Another key.
    let stranger = LogSigner::from_seed("audit.example", [4u8; 32]).expect("signer");
    let other = NoteVerifier::from_verifier_key(&stranger.verifier_key()).expect("verifier");
    assert!(matches!(original.verify(&other), Err(BundleError::Checkpoint(_))));
}
