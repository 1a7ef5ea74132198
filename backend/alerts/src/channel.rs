//! Channel configuration as the API receives it, its validation, the redacted view the API
//! returns, and the resolution of secrets kept in the environment.
//!
//! The API body is `{"kind", "name", "config"}` ([`NewChannel`]). `config` per kind:
//!
//! | kind | config |
//! | --- | --- |
//! | `slack`, `discord`, `teams` | `{"url"}` or `{"url_env"}` |
//! | `webhook` | `{"url", "secret"}` or `{"url", "secret_env"}` |
//! | `email` | `{"smtp_host", "smtp_port", "tls": "none"\|"starttls"\|"tls", "from", "to": [..], "username"?, "password"? \| "password_env"?}` |
//!
//! **Secrets from the environment.** Every secret field `X` (`url` of slack/discord/teams, whose
//! URLs embed a token; `secret`; `password`) has the alternative `X_env`: the *name* of an
//! environment variable of the server process that holds the value. Exactly one of the two may
//! be given. The variable is read when the channel is validated and again at each delivery, so
//! rotating a secret means changing the variable and restarting, with no API call.
//!
//! The server's environment holds its own secrets (the log's signing key among them), so which
//! variables a channel may read is decided by who declared it ([`EnvAccess`]): a channel in the
//! operator's configuration file may name any variable; one created through the API only names
//! starting with the operator's prefix (`alerts.secret_env_prefix`). A refused name and a
//! variable that is not set get the same answer, so the API is no oracle for what exists.
//!
//! Secrets are never echoed: [`ChannelConfig::redacted`] shows scheme and host only
//! (`https://hooks.slack.com/…`) and `has_secret` / `has_password` flags. `Debug` output hides
//! them as well, so a config can be logged.

use std::fmt;
use std::str::FromStr;

use lettre::message::Mailbox;
use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::ssrf::TargetPolicy;

/// Longest accepted URL.
pub const MAX_URL_LEN: usize = 2048;
/// Longest accepted channel name.
pub const MAX_NAME_LEN: usize = 100;
/// Most recipients of one e-mail channel.
pub const MAX_RECIPIENTS: usize = 50;
/// Longest accepted secret or password.
pub const MAX_SECRET_LEN: usize = 1024;

/// Where a channel delivers: the one definition, shared with the store.
pub use veritrail_core::alerting::ChannelKind;

/// Slack, Discord and Teams: one incoming-webhook URL, which is itself the secret.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
}

/// A generic HTTPS endpoint that receives signed JSON.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

/// How the SMTP connection is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// Plain text (only with `allow_private`: a relay on the local network).
    None,
    /// Plain connect, then STARTTLS, which is required (no fallback to plain text).
    Starttls,
    /// TLS from the first byte ("SMTPS", usually port 465).
    Tls,
}

/// An SMTP server and the envelope of the alerts sent through it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: TlsMode,
    /// `alerts@example.com` or `Veritrail <alerts@example.com>`.
    pub from: String,
    pub to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

/// A channel's kind and configuration. Serialises as `{"kind": .., "config": {..}}` with the
/// secrets in it: this is the form to store, never the form to show (see [`Self::redacted`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "config", rename_all = "lowercase", deny_unknown_fields)]
pub enum ChannelConfig {
    Slack(UrlConfig),
    Email(EmailConfig),
    Webhook(WebhookConfig),
    Discord(UrlConfig),
    Teams(UrlConfig),
}

/// The body of `POST /api/v1/alerts/channels`: `{"kind", "name", "config"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawChannel", into = "RawChannel")]
pub struct NewChannel {
    pub name: String,
    pub config: ChannelConfig,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChannel {
    kind: ChannelKind,
    name: String,
    config: serde_json::Value,
}

impl TryFrom<RawChannel> for NewChannel {
    type Error = ConfigError;
    fn try_from(raw: RawChannel) -> Result<Self, Self::Error> {
        Ok(Self { name: raw.name, config: ChannelConfig::from_parts(raw.kind, raw.config)? })
    }
}

impl From<NewChannel> for RawChannel {
    fn from(channel: NewChannel) -> Self {
        let kind = channel.config.kind();
        let config = match channel.config {
            ChannelConfig::Slack(c) | ChannelConfig::Discord(c) | ChannelConfig::Teams(c) => serde_json::to_value(c),
            ChannelConfig::Email(c) => serde_json::to_value(c),
            ChannelConfig::Webhook(c) => serde_json::to_value(c),
        }
        .expect("config structs have string keys and serialise to JSON");
        Self { kind, name: channel.name, config }
    }
}

impl NewChannel {
    /// Checks the name and the config ([`ChannelConfig::validate`]).
    pub fn validate(&self, policy: &TargetPolicy, env: EnvLookup<'_>) -> Result<(), ConfigError> {
        validate_name(&self.name)?;
        self.config.validate(policy, env)
    }
}

/// A configuration mistake, with the field it is about (`config.to[1]`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ConfigError {
    pub field: String,
    pub message: String,
}

impl ConfigError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }
}

/// A secret or URL that is not given literally but taken from a variable of the server process.
pub type EnvLookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

/// Reads the server's real environment, unrestricted: only for what the operator declared.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Prefix of the server's own settings in the environment (`VERITRAIL__CHECKPOINTS__PRIVATE_KEY`).
const SETTINGS_PREFIX: &str = "VERITRAIL__";
/// Prefix of the one-time bootstrap secrets (`VERITRAIL_BOOTSTRAP_KEY`, ...).
const BOOTSTRAP_PREFIX: &str = "VERITRAIL_BOOTSTRAP";

/// Which environment variables a channel's `*_env` references may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvAccess {
    /// Declared in the operator's configuration file: any variable of the server process.
    Operator,
    /// Created through the API: only variables whose name starts with this prefix, and never
    /// the server's own settings or bootstrap secrets. An empty prefix allows none.
    Prefixed(String),
}

impl EnvAccess {
    /// Checks an operator's `alerts.secret_env_prefix`: empty (no environment references through
    /// the API), or a variable-name prefix ending in `_` that covers none of the server's own
    /// variables.
    pub fn tenant(prefix: &str) -> Result<Self, String> {
        if prefix.is_empty() {
            return Ok(Self::Prefixed(String::new()));
        }
        if !is_env_name(prefix) || !prefix.ends_with('_') {
            return Err(format!("{prefix:?} must be an environment variable name prefix ending in `_`"));
        }
        if SETTINGS_PREFIX.starts_with(prefix) || BOOTSTRAP_PREFIX.starts_with(prefix) {
            return Err(format!(
                "{prefix:?} would expose the server's own settings ({SETTINGS_PREFIX}*, {BOOTSTRAP_PREFIX}*)"
            ));
        }
        Ok(Self::Prefixed(prefix.to_owned()))
    }

    /// Whether a channel with this access may read the variable `name`.
    pub fn allows(&self, name: &str) -> bool {
        match self {
            Self::Operator => true,
            Self::Prefixed(prefix) => {
                !prefix.is_empty()
                    && name.starts_with(prefix.as_str())
                    && !name.starts_with(SETTINGS_PREFIX)
                    && !name.starts_with(BOOTSTRAP_PREFIX)
            }
        }
    }

    /// Reads `name` from the process environment when allowed; `None` otherwise, exactly as
    /// for a variable that is not set.
    pub fn read(&self, name: &str) -> Option<String> {
        if self.allows(name) { process_env(name) } else { None }
    }
}

fn is_env_name(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A channel with its secrets read and every field parsed: what a delivery uses.
#[derive(Clone)]
pub enum ResolvedChannel {
    Slack { url: Url },
    Discord { url: Url },
    Teams { url: Url },
    Webhook { url: Url, secret: String },
    Email(ResolvedEmail),
}

/// The parsed form of an [`EmailConfig`].
#[derive(Clone)]
pub struct ResolvedEmail {
    /// Normalised host: lower case, IPv6 without brackets.
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub from: Mailbox,
    pub to: Vec<Mailbox>,
    /// Username and password, when the server wants a login.
    pub credentials: Option<(String, String)>,
}

impl fmt::Debug for ResolvedChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Slack { url } | Self::Discord { url } | Self::Teams { url } => {
                write!(f, "{}", redact_url(url.as_str()))
            }
            Self::Webhook { url, .. } => write!(f, "webhook {} (secret hidden)", redact_url(url.as_str())),
            Self::Email(email) => write!(f, "email via {}:{} ({:?})", email.host, email.port, email.tls),
        }
    }
}

impl ChannelConfig {
    /// Parses `config` for `kind`, refusing unknown fields; errors name the offending field.
    pub fn from_parts(kind: ChannelKind, config: serde_json::Value) -> Result<Self, ConfigError> {
        fn parse<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ConfigError> {
            serde_path_to_error::deserialize(value).map_err(|error| {
                let path = error.path().to_string();
                let field = if path == "." { "config".to_owned() } else { format!("config.{path}") };
                ConfigError::new(field, error.into_inner().to_string())
            })
        }
        if !config.is_object() {
            return Err(ConfigError::new("config", "must be a JSON object"));
        }
        Ok(match kind {
            ChannelKind::Slack => Self::Slack(parse(config)?),
            ChannelKind::Discord => Self::Discord(parse(config)?),
            ChannelKind::Teams => Self::Teams(parse(config)?),
            ChannelKind::Webhook => Self::Webhook(parse(config)?),
            ChannelKind::Email => Self::Email(parse(config)?),
        })
    }

    /// The channel's kind.
    pub fn kind(&self) -> ChannelKind {
        match self {
            Self::Slack(_) => ChannelKind::Slack,
            Self::Email(_) => ChannelKind::Email,
            Self::Webhook(_) => ChannelKind::Webhook,
            Self::Discord(_) => ChannelKind::Discord,
            Self::Teams(_) => ChannelKind::Teams,
        }
    }

    /// Checks everything that can be checked without the network, reading `*_env` variables
    /// through `env`. Targets that are host names are checked against the policy at delivery (or
    /// with [`crate::deliver::check_target`]), when they are resolved.
    pub fn validate(&self, policy: &TargetPolicy, env: EnvLookup<'_>) -> Result<(), ConfigError> {
        self.resolve(policy, env).map(|_| ())
    }

    /// Validates and parses the config, reading `*_env` variables through `env`.
    pub fn resolve(&self, policy: &TargetPolicy, env: EnvLookup<'_>) -> Result<ResolvedChannel, ConfigError> {
        Ok(match self {
            Self::Slack(c) => ResolvedChannel::Slack { url: c.resolve(policy, env)? },
            Self::Discord(c) => ResolvedChannel::Discord { url: c.resolve(policy, env)? },
            Self::Teams(c) => ResolvedChannel::Teams { url: c.resolve(policy, env)? },
            Self::Webhook(c) => {
                let url = check_url("config.url", &c.url, policy)?;
                let secret = secret("config.secret", c.secret.as_deref(), c.secret_env.as_deref(), env)?
                    .ok_or_else(|| ConfigError::new("config.secret", "a webhook needs `secret` or `secret_env`"))?;
                ResolvedChannel::Webhook { url, secret }
            }
            Self::Email(c) => ResolvedChannel::Email(c.resolve(policy, env)?),
        })
    }

    /// The view for API responses: no secret, and URLs cut to scheme and host.
    pub fn redacted(&self) -> RedactedConfig {
        let url_view =
            |c: &UrlConfig| RedactedUrl { url: c.url.as_deref().map(redact_url), url_env: c.url_env.clone() };
        match self {
            Self::Slack(c) => RedactedConfig::Slack(url_view(c)),
            Self::Discord(c) => RedactedConfig::Discord(url_view(c)),
            Self::Teams(c) => RedactedConfig::Teams(url_view(c)),
            Self::Webhook(c) => RedactedConfig::Webhook(RedactedWebhook {
                url: redact_url(&c.url),
                has_secret: c.secret.is_some() || c.secret_env.is_some(),
                secret_env: c.secret_env.clone(),
            }),
            Self::Email(c) => RedactedConfig::Email(RedactedEmail {
                smtp_host: c.smtp_host.clone(),
                smtp_port: c.smtp_port,
                tls: c.tls,
                from: c.from.clone(),
                to: c.to.clone(),
                username: c.username.clone(),
                has_password: c.password.is_some() || c.password_env.is_some(),
                password_env: c.password_env.clone(),
            }),
        }
    }
}

impl UrlConfig {
    fn resolve(&self, policy: &TargetPolicy, env: EnvLookup<'_>) -> Result<Url, ConfigError> {
        let raw = secret("config.url", self.url.as_deref(), self.url_env.as_deref(), env)?
            .ok_or_else(|| ConfigError::new("config.url", "`url` or `url_env` is required"))?;
        check_url("config.url", &raw, policy)
    }
}

impl EmailConfig {
    fn resolve(&self, policy: &TargetPolicy, env: EnvLookup<'_>) -> Result<ResolvedEmail, ConfigError> {
        let host = check_smtp_host(&self.smtp_host, policy)?;
        if self.smtp_port == 0 {
            return Err(ConfigError::new("config.smtp_port", "must be between 1 and 65535"));
        }
        if self.tls == TlsMode::None && !policy.allow_private {
            return Err(ConfigError::new(
                "config.tls",
                "\"none\" sends alerts in clear text and is only allowed when private targets are allowed; use \"starttls\" or \"tls\"",
            ));
        }
        let from = parse_mailbox("config.from", &self.from)?;
        if self.to.is_empty() {
            return Err(ConfigError::new("config.to", "needs at least one recipient"));
        }
        if self.to.len() > MAX_RECIPIENTS {
            return Err(ConfigError::new("config.to", format!("at most {MAX_RECIPIENTS} recipients")));
        }
        let to = self
            .to
            .iter()
            .enumerate()
            .map(|(i, raw)| parse_mailbox(&format!("config.to[{i}]"), raw))
            .collect::<Result<Vec<_>, _>>()?;
        let password = secret("config.password", self.password.as_deref(), self.password_env.as_deref(), env)?;
        let credentials = match (&self.username, password) {
            (Some(user), Some(password)) => {
                if user.is_empty() || user.chars().any(char::is_control) {
                    return Err(ConfigError::new("config.username", "must be non-empty, without control characters"));
                }
                Some((user.clone(), password))
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new("config.password", "`username` needs `password` or `password_env`"));
            }
            (None, Some(_)) => return Err(ConfigError::new("config.username", "a password needs a `username`")),
        };
        if credentials.is_some() && self.tls == TlsMode::None {
            return Err(ConfigError::new(
                "config.tls",
                "credentials are never sent without TLS; use \"starttls\" or \"tls\"",
            ));
        }
        Ok(ResolvedEmail { host, port: self.smtp_port, tls: self.tls, from, to, credentials })
    }
}

fn validate_name(name: &str) -> Result<(), ConfigError> {
    if name.trim().is_empty() {
        return Err(ConfigError::new("name", "must not be empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(ConfigError::new("name", format!("at most {MAX_NAME_LEN} characters")));
    }
    if name.chars().any(char::is_control) {
        return Err(ConfigError::new("name", "must not contain control characters"));
    }
    Ok(())
}

/// The literal or the environment variable's value; an error if both or a bad name are given.
fn secret(
    field: &str,
    literal: Option<&str>,
    env_name: Option<&str>,
    env: EnvLookup<'_>,
) -> Result<Option<String>, ConfigError> {
    let env_field = format!("{field}_env");
    match (literal, env_name) {
        (Some(_), Some(_)) => {
            Err(ConfigError::new(field, format!("give either `{}` or `{}`, not both", leaf(field), leaf(&env_field))))
        }
        (Some(value), None) => {
            if value.is_empty() {
                return Err(ConfigError::new(field, "must not be empty"));
            }
            if value.len() > MAX_SECRET_LEN {
                return Err(ConfigError::new(field, format!("at most {MAX_SECRET_LEN} bytes")));
            }
            Ok(Some(value.to_owned()))
        }
        (None, Some(name)) => {
            if !is_env_name(name) {
                return Err(ConfigError::new(env_field, format!("{name:?} is not an environment variable name")));
            }
            // One answer for a name this channel may not read and for one that is not set, so
            // the message tells nothing about the server's environment.
            match env(name) {
                Some(value) if !value.is_empty() => Ok(Some(value)),
                _ => Err(ConfigError::new(
                    env_field,
                    format!(
                        "{name} is not available to alert channels: it must be set on the server and, for \
                         channels created through the API, start with the prefix the operator set in \
                         alerts.secret_env_prefix"
                    ),
                )),
            }
        }
        (None, None) => Ok(None),
    }
}

fn leaf(field: &str) -> &str {
    field.rsplit('.').next().unwrap_or(field)
}

/// Parses a target URL: http(s), a host, https unless private targets are allowed, and an IP
/// literal host must pass the policy right away.
fn check_url(field: &str, raw: &str, policy: &TargetPolicy) -> Result<Url, ConfigError> {
    if raw.len() > MAX_URL_LEN {
        return Err(ConfigError::new(field, format!("at most {MAX_URL_LEN} characters")));
    }
    let url = Url::parse(raw.trim()).map_err(|error| ConfigError::new(field, format!("not a valid URL ({error})")))?;
    match url.scheme() {
        "https" => {}
        "http" if policy.allow_private => {}
        "http" => {
            return Err(ConfigError::new(
                field,
                "must use https (http is only allowed when private targets are allowed)",
            ));
        }
        other => return Err(ConfigError::new(field, format!("scheme {other:?} is not supported; use https"))),
    }
    let ip = match url.host() {
        None => return Err(ConfigError::new(field, "has no host")),
        Some(Host::Domain(_)) => None,
        Some(Host::Ipv4(ip)) => Some(std::net::IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(std::net::IpAddr::V6(ip)),
    };
    if let Some(ip) = ip {
        policy.check_ip(&ip.to_string(), ip).map_err(|error| ConfigError::new(field, error.to_string()))?;
    }
    Ok(url)
}

fn check_smtp_host(raw: &str, policy: &TargetPolicy) -> Result<String, ConfigError> {
    const FIELD: &str = "config.smtp_host";
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(ConfigError::new(FIELD, "must not be empty"));
    }
    if trimmed.contains("://") {
        return Err(ConfigError::new(FIELD, "a host name or IP address, not a URL"));
    }
    let bracketed =
        if trimmed.contains(':') && !trimmed.starts_with('[') { format!("[{trimmed}]") } else { trimmed.to_owned() };
    let host = Host::parse(&bracketed)
        .map_err(|error| ConfigError::new(FIELD, format!("not a host name or IP address ({error})")))?;
    let (name, ip) = match host {
        Host::Domain(name) => (name, None),
        Host::Ipv4(ip) => (ip.to_string(), Some(std::net::IpAddr::V4(ip))),
        Host::Ipv6(ip) => (ip.to_string(), Some(std::net::IpAddr::V6(ip))),
    };
    if let Some(ip) = ip {
        policy.check_ip(&name, ip).map_err(|error| ConfigError::new(FIELD, error.to_string()))?;
    }
    Ok(name)
}

fn parse_mailbox(field: &str, raw: &str) -> Result<Mailbox, ConfigError> {
    Mailbox::from_str(raw.trim())
        .map_err(|error| ConfigError::new(field, format!("{raw:?} is not an e-mail address ({error})")))
}

/// `https://hooks.slack.com/…`: scheme, host and port only.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw.trim()) {
        Ok(url) => match (url.host_str(), url.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}/…", url.scheme()),
            (Some(host), None) => format!("{}://{host}/…", url.scheme()),
            (None, _) => "…".to_owned(),
        },
        Err(_) => "…".to_owned(),
    }
}

/// What the API shows of a channel's config. Serialises like [`ChannelConfig`], minus secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "config", rename_all = "lowercase")]
pub enum RedactedConfig {
    Slack(RedactedUrl),
    Email(RedactedEmail),
    Webhook(RedactedWebhook),
    Discord(RedactedUrl),
    Teams(RedactedUrl),
}

/// A Slack/Discord/Teams URL without its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedactedUrl {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_env: Option<String>,
}

/// A webhook without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedactedWebhook {
    pub url: String,
    pub has_secret: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

/// An e-mail channel without its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RedactedEmail {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: TlsMode,
    pub from: String,
    pub to: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    pub has_password: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
}

// Debug by hand so that logging a config never prints a secret.
impl fmt::Debug for UrlConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UrlConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("url_env", &self.url_env)
            .finish()
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &redact_url(&self.url))
            .field("has_secret", &self.secret.is_some())
            .field("secret_env", &self.secret_env)
            .finish()
    }
}

impl fmt::Debug for EmailConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailConfig")
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("tls", &self.tls)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("username", &self.username)
            .field("has_password", &self.password.is_some())
            .field("password_env", &self.password_env)
            .finish()
    }
}
