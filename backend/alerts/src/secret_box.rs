//! Channel secrets at rest: sealed with ChaCha20-Poly1305 (aws-lc-rs, the TLS stack's own
//! library) under one server key, with the tenant and channel id as associated data, so a sealed
//! config copied onto another channel's row (or another tenant's) does not open.
//!
//! Format: `0x01 || nonce (12 bytes) || ciphertext || tag (16 bytes)`. Nonces are random: one key
//! seals few messages (one per channel created), far from the birthday bound of 96-bit nonces.

use aws_lc_rs::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

/// The first byte of every sealed value; a new format gets a new one.
const FORMAT_V1: u8 = 1;

/// Length of a secret-box key.
pub const KEY_LEN: usize = 32;

/// Seals and opens channel secrets with the server's alert key.
pub struct SecretBox {
    key: LessSafeKey,
}

/// A sealed value that does not open: wrong key, wrong channel, or changed bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the channel's sealed configuration does not open with this server's alert key ({0})")]
pub struct OpenError(&'static str);

impl SecretBox {
    pub fn new(key: &[u8; KEY_LEN]) -> Self {
        let unbound = UnboundKey::new(&CHACHA20_POLY1305, key).expect("ChaCha20-Poly1305 takes 32-byte keys");
        Self { key: LessSafeKey::new(unbound) }
    }

    /// Seals `plaintext` for the channel `channel_id` of `tenant`.
    pub fn seal(&self, tenant: &str, channel_id: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).expect("the operating system provides randomness");
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + CHACHA20_POLY1305.tag_len());
        sealed.push(FORMAT_V1);
        sealed.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), associated(tenant, channel_id), &mut body)
            .expect("sealing a short message cannot fail");
        sealed.extend_from_slice(&body);
        sealed
    }

    /// Opens what [`Self::seal`] sealed for the same tenant and channel.
    pub fn open(&self, tenant: &str, channel_id: &str, sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        let (&version, rest) = sealed.split_first().ok_or(OpenError("empty"))?;
        if version != FORMAT_V1 {
            return Err(OpenError("unknown format"));
        }
        if rest.len() < NONCE_LEN + CHACHA20_POLY1305.tag_len() {
            return Err(OpenError("too short"));
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| OpenError("bad nonce"))?;
        let mut body = body.to_vec();
        let plaintext = self
            .key
            .open_in_place(nonce, associated(tenant, channel_id), &mut body)
            .map_err(|_| OpenError("authentication failed"))?;
        Ok(plaintext.to_vec())
    }
}

/// `tenant NUL channel id`: neither may contain NUL, so distinct pairs never collide.
fn associated(tenant: &str, channel_id: &str) -> Aad<Vec<u8>> {
    let mut data = Vec::with_capacity(tenant.len() + 1 + channel_id.len());
    data.extend_from_slice(tenant.as_bytes());
    data.push(0);
    data.extend_from_slice(channel_id.as_bytes());
    Aad::from(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_for_the_same_key_tenant_and_channel() {
        let secrets = SecretBox::new(&[7; KEY_LEN]);
        let sealed = secrets.seal("acme", "c1", b"https://hooks.slack.com/services/T/B/x");
        assert_eq!(secrets.open("acme", "c1", &sealed).expect("opens"), b"https://hooks.slack.com/services/T/B/x");
        assert!(!sealed.windows(5).any(|window| window == b"hooks"), "the plaintext must not show");
        assert!(secrets.open("acme", "c2", &sealed).is_err(), "another channel");
        assert!(secrets.open("other", "c1", &sealed).is_err(), "another tenant");
        assert!(SecretBox::new(&[8; KEY_LEN]).open("acme", "c1", &sealed).is_err(), "another key");
        let mut changed = sealed.clone();
        *changed.last_mut().expect("bytes") ^= 1;
        assert!(secrets.open("acme", "c1", &changed).is_err(), "a changed byte");
        assert!(secrets.open("acme", "c1", &sealed[..10]).is_err(), "truncated");
        assert_ne!(sealed, secrets.seal("acme", "c1", b"https://hooks.slack.com/services/T/B/x"), "fresh nonce");
    }
}
