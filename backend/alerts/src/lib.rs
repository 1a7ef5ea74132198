//! `veritrail-alerts`: getting alerts to people.
//!
//! - [`channel`]: channel configuration as the API receives it, validation, redaction, secrets
//!   from the environment;
//! - [`message`]: the channel-independent [`message::AlertMessage`];
//! - [`render`]: pure functions from a message to each service's payload (Slack, Discord,
//!   Teams, generic webhook, e-mail);
//! - [`signature`]: HMAC signatures on webhook deliveries, and how receivers check them;
//! - [`ssrf`]: the target policy that keeps deliveries away from internal services;
//! - [`deliver`](mod@deliver): one delivery attempt, classified as success, retryable or permanent failure;
//! - [`backoff`]: when to retry, and when to give up;
//! - [`throttle`]: de-duplication, cooldown and digests (pure);
//! - [`rules`]: what a rule's `match` means and whether an anomaly or event satisfies it;
//! - [`secret_box`]: channel configurations sealed at rest (ChaCha20-Poly1305);
//! - [`service`]: [`Alerting`], the service the API, jobs and ingest share: channels and tests
//!   ([`service`]), raising alerts ([`raise`]), the delivery worker ([`outbox`]) and channels and
//!   rules declared in the configuration file ([`provision`]).
//!
//! No SQL here: the outbox is reached through the core `AlertStore` port.
//!
//! TLS is rustls with the aws-lc-rs provider only; a binary that also compiles ring in must
//! install aws-lc-rs as the process default at start-up
//! (`rustls::crypto::aws_lc_rs::default_provider().install_default()`), or rustls cannot choose.

pub mod backoff;
pub mod channel;
pub mod deliver;
pub mod message;
pub mod outbox;
pub mod provision;
pub mod raise;
pub mod render;
pub mod rules;
pub mod secret_box;
pub mod service;
pub mod signature;
pub mod ssrf;
pub mod throttle;

pub use backoff::{RetryDecision, RetryPolicy};
pub use channel::{ChannelConfig, ChannelKind, ConfigError, EnvAccess, NewChannel, RedactedConfig};
pub use deliver::{DeliveryError, DeliveryOptions, DeliveryReceipt, deliver, deliver_with};
pub use message::{AlertKind, AlertMessage, DigestItem, TimeWindow};
pub use service::{AlertSettings, Alerting, ChannelError, DEFAULT_SECRET_ENV_PREFIX, DeliveryRetry};
pub use signature::{SignatureError, sign, verify};
pub use ssrf::{AllowEntry, TargetPolicy};
