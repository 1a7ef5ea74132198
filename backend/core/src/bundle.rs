//! Evidence bundles: one file an auditor takes away and verifies offline, with nothing but the
//! log's public key.
//!
//! A bundle is an uncompressed tar archive (any `tar xf` opens it) holding
//!
//! - `README.txt` — what the files are and how to check them by hand;
//! - `manifest.json` — tenant, origin, selection, counts, format version;
//! - `events.jsonl` — the selected events, one per line, each line *exactly* the canonical
//!   (RFC 8785) bytes that were hashed, so `leaf = SHA-256(0x00 || line)`;
//! - `proofs.jsonl` — per event, in the same order: `seq`, the chain hashes `prev_hash` and
//!   `hash`, and the inclusion proof (`hashes`) in the tree of the checkpoint;
//! - `checkpoint.note` — the signed checkpoint (C2SP signed note) all proofs lead to;
//! - `log-key.vkey` — the log's verifier key, for convenience: trust comes from the key the
//!   auditor got out of band, which must match it.

use std::io::Read;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::canonical::to_canonical_bytes;
use crate::chain::{FORMAT_VERSION, chain_hash, leaf_hash};
use crate::checkpoint::{Checkpoint, NoteVerifier};
use crate::hash::Hash;
use crate::merkle::verify_inclusion;

/// What the bundle says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub tenant: String,
    pub origin: String,
    pub tree_size: u64,
    pub event_count: u64,
    /// The selection, as given (RFC 3339 bounds on `occurred_at`, `until` exclusive).
    pub since: Option<String>,
    pub until: Option<String>,
    pub created_at: String,
}

/// The proof record of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventProof {
    pub seq: u64,
    pub prev_hash: Hash,
    pub hash: Hash,
    /// Inclusion proof of leaf `seq` in the tree of the checkpoint's size.
    pub hashes: Vec<Hash>,
}

/// An evidence bundle in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub manifest: Manifest,
    /// Canonical bytes of each event.
    pub events: Vec<Vec<u8>>,
    pub proofs: Vec<EventProof>,
    pub checkpoint_note: String,
    pub verifier_key: String,
}

/// Why a bundle failed verification; names the event when one is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("the bundle is unreadable: {0}")]
    Unreadable(String),
    #[error("the checkpoint is not signed by the given key: {0}")]
    Checkpoint(String),
    #[error("event on line {line} (seq {seq}) failed: {reason}")]
    Event { line: usize, seq: u64, reason: String },
    #[error("the bundle is inconsistent: {0}")]
    Inconsistent(String),
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleReport {
    pub tenant: String,
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: Hash,
    pub events_verified: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
}

const README: &str = "Veritrail evidence bundle
=========================

This archive proves that the events in events.jsonl are in the audit log named in
checkpoint.note, unchanged and in the order given, as of that signed checkpoint.

Verify it with `veritrail verify-bundle THIS_FILE --key VERIFIER_KEY`, where VERIFIER_KEY is
the log's verifier key obtained from the operator out of band (log-key.vkey in this archive
must match it). No server or database is needed.

By hand:
1. checkpoint.note is a C2SP signed note: origin, tree size, base64 Merkle root, a blank
   line, then `\u{2014} <key name> <base64(4-byte key id || Ed25519 signature)>` over the three
   body lines.
2. Each line of events.jsonl is the RFC 8785 canonical JSON of one event (format version in
   manifest.json). Its leaf hash is SHA-256(0x00 || line bytes, without the newline).
3. The same line of proofs.jsonl gives the event's seq, its hash chain values
   (hash = SHA-256(prev_hash || leaf)) and an RFC 9162 inclusion proof of leaf `seq` in the
   tree of the checkpoint's size (node = SHA-256(0x01 || left || right)).
";

/// The files of a bundle, in the order they are written.
pub const FILES: [&str; 6] =
    ["README.txt", "manifest.json", "checkpoint.note", "log-key.vkey", "events.jsonl", "proofs.jsonl"];

/// The tar framing of a bundle, shared by [`Bundle::to_tar`] and the streamed writer
/// (`transparency::BundlePlan`) so both give the same bytes: each file is a 512-byte GNU header
/// (mode 0644, mtime 0), its content, zeros up to the next 512-byte boundary; the archive ends
/// with two zero blocks. A header needs the file's size, so a streamed file is measured first.
pub mod framing {
    use super::BundleError;

    /// The size of a tar block.
    pub const BLOCK: u64 = 512;
    /// The end of the archive: two zero blocks.
    pub const END: [u8; 1024] = [0; 1024];

    /// The header of a file of `size` bytes.
    pub fn header(name: &str, size: u64) -> Result<[u8; 512], BundleError> {
        let mut header = tar::Header::new_gnu();
        header.set_path(name).map_err(|err| BundleError::Unreadable(err.to_string()))?;
        header.set_size(size);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_cksum();
        Ok(*header.as_bytes())
    }

    /// The zeros after a file of `size` bytes.
    pub fn padding(size: u64) -> &'static [u8] {
        const ZEROS: [u8; 512] = [0; 512];
        &ZEROS[..((BLOCK - size % BLOCK) % BLOCK) as usize]
    }

    /// The bytes a file of `size` bytes takes in the archive, header and padding included.
    pub fn entry_len(size: u64) -> u64 {
        BLOCK + size.div_ceil(BLOCK) * BLOCK
    }
}

/// The README of every bundle.
pub fn readme() -> &'static str {
    README
}

/// `manifest.json`'s bytes.
pub fn manifest_bytes(manifest: &Manifest) -> Result<Vec<u8>, BundleError> {
    serde_json::to_vec_pretty(manifest).map_err(|err| BundleError::Unreadable(err.to_string()))
}

/// Appends the line of `proofs.jsonl` of one event (newline included).
pub fn push_proof_line(out: &mut Vec<u8>, proof: &EventProof) -> Result<(), BundleError> {
    serde_json::to_writer(&mut *out, proof).map_err(|err| BundleError::Unreadable(err.to_string()))?;
    out.push(b'\n');
    Ok(())
}

/// The length of the `proofs.jsonl` line of an event at `seq` whose proof has `hashes` hashes
/// (every hash is 64 hex digits, so the length does not depend on their values).
pub fn proof_line_len(seq: u64, hashes: usize) -> Result<u64, BundleError> {
    let mut line = Vec::new();
    let proof = EventProof { seq, prev_hash: Hash::GENESIS, hash: Hash::GENESIS, hashes: vec![Hash::GENESIS; hashes] };
    push_proof_line(&mut line, &proof)?;
    Ok(line.len() as u64)
}

impl Bundle {
    /// Serialises the bundle as a tar archive.
    pub fn to_tar(&self) -> Result<Vec<u8>, BundleError> {
        let mut events = Vec::new();
        for line in &self.events {
            events.extend_from_slice(line);
            events.push(b'\n');
        }
        let mut proofs = Vec::new();
        for proof in &self.proofs {
            push_proof_line(&mut proofs, proof)?;
        }
        let manifest = manifest_bytes(&self.manifest)?;
        let contents: [&[u8]; 6] = [
            README.as_bytes(),
            &manifest,
            self.checkpoint_note.as_bytes(),
            self.verifier_key.as_bytes(),
            &events,
            &proofs,
        ];
        let mut archive = Vec::new();
        for (name, bytes) in FILES.into_iter().zip(contents) {
            archive.extend_from_slice(&framing::header(name, bytes.len() as u64)?);
            archive.extend_from_slice(bytes);
            archive.extend_from_slice(framing::padding(bytes.len() as u64));
        }
        archive.extend_from_slice(&framing::END);
        Ok(archive)
    }

    /// Reads a bundle from tar bytes.
    pub fn from_tar(bytes: &[u8]) -> Result<Self, BundleError> {
        let unreadable = |what: String| BundleError::Unreadable(what);
        let mut files = std::collections::HashMap::new();
        let mut archive = tar::Archive::new(bytes);
        for entry in archive.entries().map_err(|err| unreadable(err.to_string()))? {
            let mut entry = entry.map_err(|err| unreadable(err.to_string()))?;
            let name = entry.path().map_err(|err| unreadable(err.to_string()))?.to_string_lossy().into_owned();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).map_err(|err| unreadable(err.to_string()))?;
            files.insert(name, content);
        }
        let mut take = |name: &str| files.remove(name).ok_or_else(|| unreadable(format!("{name} is missing")));
        let text = |bytes: Vec<u8>, name: &str| {
            String::from_utf8(bytes).map_err(|_| unreadable(format!("{name} is not UTF-8")))
        };
        let manifest: Manifest = serde_json::from_slice(&take("manifest.json")?)
            .map_err(|err| unreadable(format!("manifest.json: {err}")))?;
        let checkpoint_note = text(take("checkpoint.note")?, "checkpoint.note")?;
        let verifier_key = text(take("log-key.vkey")?, "log-key.vkey")?;
        let events_file = take("events.jsonl")?;
        let proofs_file = take("proofs.jsonl")?;
        let events: Vec<Vec<u8>> = split_lines(&events_file).map(<[u8]>::to_vec).collect();
        let proofs = split_lines(&proofs_file)
            .enumerate()
            .map(|(idx, line)| {
                serde_json::from_slice(line).map_err(|err| unreadable(format!("proofs.jsonl line {}: {err}", idx + 1)))
            })
            .collect::<Result<Vec<EventProof>, _>>()?;
        Ok(Self { manifest, events, proofs, checkpoint_note, verifier_key })
    }

    /// Verifies everything with `verifier` (the key the auditor trusts), offline.
    pub fn verify(&self, verifier: &NoteVerifier) -> Result<BundleReport, BundleError> {
        let checkpoint: Checkpoint =
            verifier.verify(&self.checkpoint_note).map_err(|err| BundleError::Checkpoint(err.to_string()))?;
        if checkpoint.origin != self.manifest.origin || checkpoint.tree_size != self.manifest.tree_size {
            return Err(BundleError::Inconsistent(format!(
                "the manifest names {} at size {}, the signed checkpoint {} at size {}",
                self.manifest.origin, self.manifest.tree_size, checkpoint.origin, checkpoint.tree_size
            )));
        }
        if self.manifest.format_version != FORMAT_VERSION {
            return Err(BundleError::Inconsistent(format!(
                "event format version {} is not the one this verifier knows ({FORMAT_VERSION})",
                self.manifest.format_version
            )));
        }
        if self.events.len() != self.proofs.len() || self.events.len() as u64 != self.manifest.event_count {
            return Err(BundleError::Inconsistent(format!(
                "{} events, {} proofs, manifest says {}",
                self.events.len(),
                self.proofs.len(),
                self.manifest.event_count
            )));
        }
        let mut previous: Option<&EventProof> = None;
        for (idx, (line, proof)) in self.events.iter().zip(&self.proofs).enumerate() {
            let fail = |reason: String| BundleError::Event { line: idx + 1, seq: proof.seq, reason };
            let value: Value =
                serde_json::from_slice(line).map_err(|err| fail(format!("the event is not JSON: {err}")))?;
            if to_canonical_bytes(&value) != *line {
                return Err(fail("the event line is not in canonical form: it was edited".to_owned()));
            }
            if value.get("seq").and_then(Value::as_u64) != Some(proof.seq) {
                return Err(fail("the event's seq differs from its proof's".to_owned()));
            }
            if value.get("tenant").and_then(Value::as_str) != Some(self.manifest.tenant.as_str()) {
                return Err(fail("the event belongs to another tenant".to_owned()));
            }
            let leaf = leaf_hash(line);
            if chain_hash(&proof.prev_hash, &leaf) != proof.hash {
                return Err(fail("the event does not hash to its chain hash: its content was changed".to_owned()));
            }
            if !verify_inclusion(proof.seq, checkpoint.tree_size, &leaf, &proof.hashes, &checkpoint.root_hash) {
                return Err(fail(format!(
                    "the inclusion proof does not lead to the signed root of tree size {}",
                    checkpoint.tree_size
                )));
            }
            if let Some(previous) = previous {
                if proof.seq <= previous.seq {
                    return Err(fail(format!("events are out of order: seq {} after {}", proof.seq, previous.seq)));
                }
                if proof.seq == previous.seq + 1 && proof.prev_hash != previous.hash {
                    return Err(fail("the chain link to the previous event is broken".to_owned()));
                }
            }
            previous = Some(proof);
        }
        Ok(BundleReport {
            tenant: self.manifest.tenant.clone(),
            origin: checkpoint.origin,
            tree_size: checkpoint.tree_size,
            root_hash: checkpoint.root_hash,
            events_verified: self.events.len() as u64,
            first_seq: self.proofs.first().map(|proof| proof.seq),
            last_seq: self.proofs.last().map(|proof| proof.seq),
        })
    }
}

fn split_lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    bytes.split(|byte| *byte == b'\n').filter(|line| !line.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The archive `tar::Builder` writes for the same files: the format bundles have always had.
    fn built_by_the_tar_crate(bundle: &Bundle) -> Vec<u8> {
        let mut events = Vec::new();
        for line in &bundle.events {
            events.extend_from_slice(line);
            events.push(b'\n');
        }
        let mut proofs = Vec::new();
        for proof in &bundle.proofs {
            proofs.extend(serde_json::to_vec(proof).expect("json"));
            proofs.push(b'\n');
        }
        let manifest = serde_json::to_vec_pretty(&bundle.manifest).expect("json");
        let contents: [&[u8]; 6] = [
            README.as_bytes(),
            &manifest,
            bundle.checkpoint_note.as_bytes(),
            bundle.verifier_key.as_bytes(),
            &events,
            &proofs,
        ];
        let mut builder = tar::Builder::new(Vec::new());
        for (name, bytes) in FILES.into_iter().zip(contents) {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_cksum();
            builder.append_data(&mut header, name, bytes).expect("append");
        }
        builder.into_inner().expect("finish")
    }

    #[test]
    fn the_framing_writes_what_the_tar_crate_writes() {
        for count in [0usize, 1, 3, 40] {
            let bundle = Bundle {
                manifest: Manifest {
                    format_version: FORMAT_VERSION,
                    tenant: "acme".into(),
                    origin: "log.example/acme".into(),
                    tree_size: count as u64,
                    event_count: count as u64,
                    since: None,
                    until: Some("2026-01-01T00:00:00.000000Z".into()),
                    created_at: "2026-01-02T00:00:00.000000Z".into(),
                },
                events: (0..count)
                    .map(|seq| format!("{{\"seq\":{seq},\"x\":\"{}\"}}", "y".repeat(seq)).into_bytes())
                    .collect(),
                proofs: (0..count as u64)
                    .map(|seq| EventProof {
                        seq,
                        prev_hash: Hash([seq as u8; 32]),
                        hash: Hash([0xab; 32]),
                        hashes: vec![Hash([0xcd; 32]); seq as usize % 5],
                    })
                    .collect(),
                checkpoint_note: "log.example/acme\n3\nroot\n\n\u{2014} log.example sig\n".into(),
                verifier_key: "log.example+0000+key".into(),
            };
            let tar = bundle.to_tar().expect("tar");
            assert_eq!(tar, built_by_the_tar_crate(&bundle), "{count} events");
            for proof in &bundle.proofs {
                let mut line = Vec::new();
                push_proof_line(&mut line, proof).expect("line");
                assert_eq!(line.len() as u64, proof_line_len(proof.seq, proof.hashes.len()).expect("len"));
            }
        }
    }
}
