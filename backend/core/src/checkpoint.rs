//! Signed checkpoints: a tree size and Merkle root, signed with the log's Ed25519 key in the C2SP
//! signed-note format used by transparency logs, so anyone holding the public key can check them
//! offline.
//!
//! A checkpoint note reads
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <root hash, standard base64>
//!
//! — <key name> <base64(key id || Ed25519 signature)>
//! ```
//!
//! The signature covers the three body lines including the final newline. The key id is the first
//! four bytes of `SHA-256(key name || "\n" || 0x01 || public key)` (0x01 names Ed25519).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::hash::Hash;

/// What a checkpoint commits to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// Names the log (one per tenant), e.g. `veritrail.example.com/acme`.
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: Hash,
}

/// Why a note was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("malformed note: {0}")]
    Malformed(String),
    #[error("the note carries no signature by key {0:?}")]
    NoSignature(String),
    #[error("the signature by key {0:?} does not verify: the note was altered or signed by another key")]
    BadSignature(String),
}

/// The signature line marker: an em dash and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// Signature algorithm byte of Ed25519 in signed notes.
const ALGORITHM_ED25519: u8 = 0x01;

impl Checkpoint {
    /// Returns the signed body: origin, size and root, one per line.
    pub fn body(&self) -> String {
        format!("{}\n{}\n{}\n", self.origin, self.tree_size, STANDARD.encode(self.root_hash.0))
    }

    /// Parses a checkpoint body (extension lines after the root are allowed and ignored).
    pub fn parse_body(body: &str) -> Result<Self, NoteError> {
        let malformed = |what: &str| NoteError::Malformed(what.to_owned());
        let text = body.strip_suffix('\n').ok_or_else(|| malformed("the body must end with a newline"))?;
        let mut lines = text.split('\n');
        let origin = lines.next().filter(|line| !line.is_empty()).ok_or_else(|| malformed("missing origin"))?;
        let size_line = lines.next().ok_or_else(|| malformed("missing tree size"))?;
        let canonical_number = size_line == "0" || (!size_line.starts_with('0') && !size_line.is_empty());
        let tree_size = size_line
            .parse::<u64>()
            .ok()
            .filter(|_| canonical_number && size_line.bytes().all(|byte| byte.is_ascii_digit()))
            .ok_or_else(|| malformed("the tree size is not a decimal number"))?;
        let root_line = lines.next().ok_or_else(|| malformed("missing root hash"))?;
        let root_bytes = STANDARD.decode(root_line).map_err(|_| malformed("the root hash is not base64"))?;
        let root_hash = Hash::from_slice(&root_bytes).ok_or_else(|| malformed("the root hash is not 32 bytes"))?;
        Ok(Self { origin: origin.to_owned(), tree_size, root_hash })
    }
}

/// Returns the 4-byte id of an Ed25519 note key.
pub fn key_id(name: &str, public_key: &[u8; 32]) -> [u8; 4] {
    let mut hasher = Sha256::new();
    hasher.update(name.as_bytes());
    hasher.update(b"\n");
    hasher.update([ALGORITHM_ED25519]);
    hasher.update(public_key);
    let digest = hasher.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Checks that a key name is usable in a note: non-empty, no spaces, no `+`.
fn check_key_name(name: &str) -> Result<(), NoteError> {
    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c == '+') {
        return Err(NoteError::Malformed(format!("key name {name:?} must be non-empty without spaces or '+'")));
    }
    Ok(())
}

/// The log's signing key. The private half never leaves the server.
pub struct LogSigner {
    name: String,
    key: SigningKey,
}

impl std::fmt::Debug for LogSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSigner").field("name", &self.name).field("private_key", &"[redacted]").finish()
    }
}

impl LogSigner {
    /// Builds a signer from a 32-byte Ed25519 seed.
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        Ok(Self { name: name.to_owned(), key: SigningKey::from_bytes(&seed) })
    }

    /// Returns the key name that appears on signature lines.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// Returns the verifier key in the note format `name+hex(key id)+base64(0x01 || key)`.
    pub fn verifier_key(&self) -> String {
        let public_key = self.public_key();
        let mut typed = vec![ALGORITHM_ED25519];
        typed.extend_from_slice(&public_key);
        format!("{}+{}+{}", self.name, hex::encode(key_id(&self.name, &public_key)), STANDARD.encode(typed))
    }

    /// Returns the signed note of `checkpoint`.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let body = checkpoint.body();
        let signature = self.key.sign(body.as_bytes());
        let mut blob = key_id(&self.name, &self.public_key()).to_vec();
        blob.extend_from_slice(&signature.to_bytes());
        format!("{body}\n{SIGNATURE_PREFIX}{} {}\n", self.name, STANDARD.encode(blob))
    }
}

/// Checks notes signed by one log key.
#[derive(Debug, Clone)]
pub struct NoteVerifier {
    name: String,
    key: VerifyingKey,
    id: [u8; 4],
}

impl NoteVerifier {
    /// Builds a verifier from a key name and a 32-byte Ed25519 public key.
    pub fn new(name: &str, public_key: &[u8; 32]) -> Result<Self, NoteError> {
        check_key_name(name)?;
        let key = VerifyingKey::from_bytes(public_key)
            .map_err(|_| NoteError::Malformed("the public key is not a valid Ed25519 key".to_owned()))?;
        Ok(Self { name: name.to_owned(), key, id: key_id(name, public_key) })
    }

    /// Parses a verifier key `name+hex(key id)+base64(0x01 || key)`.
    pub fn from_verifier_key(text: &str) -> Result<Self, NoteError> {
        let malformed = |what: &str| NoteError::Malformed(format!("verifier key: {what}"));
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(malformed("expected name+keyid+key"));
        };
        let typed = STANDARD.decode(key_b64).map_err(|_| malformed("the key is not base64"))?;
        let (Some(&ALGORITHM_ED25519), Some(raw)) = (typed.first(), typed.get(1..)) else {
            return Err(malformed("only Ed25519 keys (type 0x01) are supported"));
        };
        let public_key: [u8; 32] = raw.try_into().map_err(|_| malformed("the key is not 32 bytes"))?;
        let verifier = Self::new(name, &public_key)?;
        if hex::encode(verifier.id) != id_hex {
            return Err(malformed("the key id does not match the key"));
        }
        Ok(verifier)
    }

    /// Returns the key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Verifies a signed checkpoint note and returns what it commits to.
    pub fn verify(&self, note: &str) -> Result<Checkpoint, NoteError> {
        let (body, signatures) = split_note(note)?;
        let checkpoint = Checkpoint::parse_body(body)?;
        for line in signatures.lines() {
            let Some(rest) = line.strip_prefix(SIGNATURE_PREFIX) else {
                return Err(NoteError::Malformed(format!("signature line {line:?} does not start with an em dash")));
            };
            let Some((name, blob_b64)) = rest.split_once(' ') else {
                return Err(NoteError::Malformed(format!("signature line {line:?} has no signature")));
            };
            if name != self.name {
                continue;
            }
            let blob = STANDARD.decode(blob_b64).map_err(|_| NoteError::BadSignature(self.name.clone()))?;
            if blob.len() != 4 + 64 || blob[..4] != self.id {
                continue;
            }
            let signature =
                Signature::from_slice(&blob[4..]).map_err(|_| NoteError::BadSignature(self.name.clone()))?;
            return self
                .key
                .verify_strict(body.as_bytes(), &signature)
                .map(|()| checkpoint)
                .map_err(|_| NoteError::BadSignature(self.name.clone()));
        }
        Err(NoteError::NoSignature(self.name.clone()))
    }
}

/// Splits a note into its body (with final newline) and its signature lines.
fn split_note(note: &str) -> Result<(&str, &str), NoteError> {
    let split =
        note.find("\n\n").ok_or_else(|| NoteError::Malformed("no blank line before the signatures".to_owned()))?;
    let (body, rest) = note.split_at(split + 1);
    let signatures = &rest[1..];
    if signatures.is_empty() || !signatures.ends_with('\n') {
        return Err(NoteError::Malformed("the signature block must end with a newline".to_owned()));
    }
    Ok((body, signatures))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer() -> LogSigner {
        LogSigner::from_seed("veritrail.test", [7u8; 32]).expect("signer")
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint { origin: "veritrail.test/acme".to_owned(), tree_size: 42, root_hash: Hash([9u8; 32]) }
    }

    #[test]
    fn signed_notes_round_trip_through_the_verifier_key() {
        let note = signer().sign(&checkpoint());
        assert!(note.starts_with("veritrail.test/acme\n42\nCQkJ"), "{note}");
        assert!(note.contains("\n\n\u{2014} veritrail.test "));
        let verifier = NoteVerifier::from_verifier_key(&signer().verifier_key()).expect("vkey");
        assert_eq!(verifier.verify(&note).expect("valid"), checkpoint());
    }

    /// Computed independently (Python `cryptography`: Ed25519 from the same seed, key id and note
    /// assembled by hand from the C2SP description).
    #[test]
    fn notes_match_an_independent_implementation() {
        let expected = "veritrail.test/acme\n42\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n\n\u{2014} veritrail.test \
            +HHANF9Yp2wVA24HPnz6VeVklr8OIh94G5m2rIxq7g6D5h/m9Wipr8kzGUF5mqftq+c1TflTEYOaXZqoVBZIwF8o4wE=\n";
        assert_eq!(signer().sign(&checkpoint()), expected);
        assert_eq!(signer().verifier_key(), "veritrail.test+f871c034+AepKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs");
    }

    #[test]
    fn any_changed_byte_or_other_key_is_refused() {
        let note = signer().sign(&checkpoint());
        let verifier = NoteVerifier::new("veritrail.test", &signer().public_key()).expect("verifier");
        for idx in 0..note.len() {
            let mut bytes = note.clone().into_bytes();
            bytes[idx] = if bytes[idx] == b'A' { b'B' } else { b'A' };
            if let Ok(changed) = String::from_utf8(bytes) {
                assert!(verifier.verify(&changed).is_err(), "byte {idx} changed but the note still verifies");
            }
        }
        let other = LogSigner::from_seed("veritrail.test", [8u8; 32]).expect("signer");
        let stranger = NoteVerifier::new("veritrail.test", &other.public_key()).expect("verifier");
        assert!(matches!(stranger.verify(&note), Err(NoteError::NoSignature(_))));
    }

    #[test]
    fn bodies_must_be_canonical() {
        for body in ["o\n042\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n", "o\n42\nCQkJ\n", "\n1\nAA==\n", "o\n1\n"]
        {
            assert!(Checkpoint::parse_body(body).is_err(), "{body:?}");
        }
    }
}
