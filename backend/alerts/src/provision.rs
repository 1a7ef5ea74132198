//! Channels and rules declared in the configuration file (`[[alerts.channels]]`,
//! `[[alerts.rules]]`), created at start-up when the tenant has none of that name yet.
//!
//! Declared items are matched by name: an existing channel or rule is left as it is (change or
//! delete it through the API), so a restart never duplicates anything and never undoes an
//! operator's change. Everything declared is validated before anything is written; a mistake
//! stops start-up with the item named. Secrets belong in the environment (`url_env`,
//! `secret_env`, `password_env`), not in the file.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use veritrail_core::alerting::ChannelKind;
use veritrail_core::event::TenantId;

use crate::channel::{ChannelConfig, EnvAccess, NewChannel, process_env};
use crate::rules::parse_rule;
use crate::service::Alerting;

/// A channel in the configuration file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredChannel {
    pub tenant: String,
    pub name: String,
    pub kind: ChannelKind,
    /// As in the API (`{"url_env": "SLACK_WEBHOOK_URL"}`, ...).
    pub config: DeclaredConfig,
}

/// A declared channel's configuration. Literal secrets (`url`, `secret`, `password`) are shown
/// as `[redacted]` by `Debug` and `Serialize`, so printing the server's configuration never
/// shows them; [`Self::value`] is the configuration as written.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct DeclaredConfig(Value);

impl DeclaredConfig {
    /// The keys whose literal values are secrets (webhook URLs embed tokens).
    const SECRET_KEYS: [&'static str; 3] = ["url", "secret", "password"];

    pub fn value(&self) -> &Value {
        &self.0
    }

    fn redacted(&self) -> Value {
        let mut shown = self.0.clone();
        if let Some(config) = shown.as_object_mut() {
            for key in Self::SECRET_KEYS {
                if let Some(value) = config.get_mut(key) {
                    *value = Value::String("[redacted]".to_owned());
                }
            }
        }
        shown
    }
}

impl From<Value> for DeclaredConfig {
    fn from(value: Value) -> Self {
        Self(value)
    }
}

impl std::fmt::Debug for DeclaredConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.redacted())
    }
}

impl Serialize for DeclaredConfig {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.redacted().serialize(serializer)
    }
}

/// A rule in the configuration file; `channels` are channel *names* of the same tenant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfiguredRule {
    pub tenant: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub min_severity: String,
    pub channels: Vec<String>,
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub match_spec: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_seconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

/// What start-up provisioning did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ProvisionReport {
    pub channels_created: usize,
    pub rules_created: usize,
    /// Declared items that already existed (by name) and were left alone.
    pub existing: usize,
}

impl Alerting {
    /// Creates the declared channels and rules that do not exist yet.
    pub async fn provision(
        &self,
        channels: &[ConfiguredChannel],
        rules: &[ConfiguredRule],
        now: DateTime<Utc>,
    ) -> Result<ProvisionReport, String> {
        let declared = check_declarations(channels, rules, &self.settings.policy)?;
        self.declare_channels(declared);
        let mut report = ProvisionReport::default();
        for (index, declared) in channels.iter().enumerate() {
            let place = format!("alerts.channels[{index}] ({:?})", declared.name);
            let tenant = TenantId::parse(&declared.tenant).map_err(|error| format!("{place}.tenant: {error}"))?;
            let existing = self.store.list_channels(&tenant).await.map_err(|error| format!("{place}: {error}"))?;
            if existing.iter().any(|channel| channel.name == declared.name) {
                report.existing += 1;
                continue;
            }
            let body = json!({"kind": declared.kind, "name": declared.name, "config": declared.config.value()});
            self.create_channel_with(&tenant, body, &EnvAccess::Operator, now)
                .await
                .map_err(|error| format!("{place}: {error}"))?;
            report.channels_created += 1;
        }
        for (index, declared) in rules.iter().enumerate() {
            let place = format!("alerts.rules[{index}] ({:?})", declared.name);
            let tenant = TenantId::parse(&declared.tenant).map_err(|error| format!("{place}.tenant: {error}"))?;
            let existing = self.store.list_rules(&tenant, None).await.map_err(|error| format!("{place}: {error}"))?;
            if existing.iter().any(|rule| rule.name == declared.name) {
                report.existing += 1;
                continue;
            }
            let by_name: HashMap<String, String> = self
                .store
                .list_channels(&tenant)
                .await
                .map_err(|error| format!("{place}: {error}"))?
                .into_iter()
                .map(|channel| (channel.name, channel.id))
                .collect();
            let ids = declared
                .channels
                .iter()
                .map(|name| {
                    by_name.get(name).cloned().ok_or_else(|| format!("{place}.channels: no channel named {name:?}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let rule = parse_rule(&rule_body(declared, ids)).map_err(|error| format!("{place}: {error}"))?;
            self.store.create_rule(&tenant, &rule, now).await.map_err(|error| format!("{place}: {error}"))?;
            self.rules_changed(&tenant);
            report.rules_created += 1;
        }
        Ok(report)
    }
}

fn rule_body(declared: &ConfiguredRule, channel_ids: Vec<String>) -> Value {
    let mut body = json!({"name": declared.name, "min_severity": declared.min_severity, "channels": channel_ids});
    if let Some(kind) = &declared.kind {
        body["kind"] = json!(kind);
    }
    if let Some(spec) = &declared.match_spec {
        body["match"] = spec.clone();
    }
    if let Some(seconds) = declared.cooldown_seconds {
        body["cooldown_seconds"] = json!(seconds);
    }
    if let Some(enabled) = declared.enabled {
        body["enabled"] = json!(enabled);
    }
    body
}

/// Everything that can be checked before writing: tenants, channel configs, rule bodies, names
/// unique per tenant, and rule channels declared or possibly existing. Returns the declared
/// channels parsed.
fn check_declarations(
    channels: &[ConfiguredChannel],
    rules: &[ConfiguredRule],
    policy: &crate::ssrf::TargetPolicy,
) -> Result<Vec<(TenantId, String, ChannelConfig)>, String> {
    let mut names = HashSet::new();
    let mut parsed = Vec::with_capacity(channels.len());
    for (index, declared) in channels.iter().enumerate() {
        let place = format!("alerts.channels[{index}] ({:?})", declared.name);
        let tenant = TenantId::parse(&declared.tenant).map_err(|error| format!("{place}.tenant: {error}"))?;
        if !names.insert((declared.tenant.as_str(), declared.name.as_str())) {
            return Err(format!("{place}: a second channel of that name in tenant {}", declared.tenant));
        }
        let body = json!({"kind": declared.kind, "name": declared.name, "config": declared.config.value()});
        let channel: NewChannel = serde_json::from_value(body).map_err(|error| format!("{place}: {error}"))?;
        channel.validate(policy, &process_env).map_err(|error| format!("{place}: {error}"))?;
        parsed.push((tenant, channel.name, channel.config));
    }
    let mut rule_names = HashSet::new();
    for (index, declared) in rules.iter().enumerate() {
        let place = format!("alerts.rules[{index}] ({:?})", declared.name);
        TenantId::parse(&declared.tenant).map_err(|error| format!("{place}.tenant: {error}"))?;
        if !rule_names.insert((declared.tenant.as_str(), declared.name.as_str())) {
            return Err(format!("{place}: a second rule of that name in tenant {}", declared.tenant));
        }
        // Channel names stand in for ids here; the ids are looked up when the rule is written.
        parse_rule(&rule_body(declared, declared.channels.clone())).map_err(|error| format!("{place}: {error}"))?;
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slack(name: &str) -> ConfiguredChannel {
        ConfiguredChannel {
            tenant: "acme".into(),
            name: name.into(),
            kind: ChannelKind::Slack,
            config: json!({"url": "https://hooks.slack.com/services/T/B/x"}).into(),
        }
    }

    fn rule(name: &str) -> ConfiguredRule {
        ConfiguredRule {
            tenant: "acme".into(),
            name: name.into(),
            kind: None,
            min_severity: "high".into(),
            channels: vec!["sec".into()],
            match_spec: None,
            cooldown_seconds: None,
            enabled: None,
        }
    }

    #[test]
    fn declarations_are_checked_before_anything_is_written() {
        let policy = crate::ssrf::TargetPolicy::strict();
        assert_eq!(check_declarations(&[slack("sec")], &[rule("r")], &policy).map(|parsed| parsed.len()), Ok(1));
        let error = check_declarations(&[slack("sec"), slack("sec")], &[], &policy).expect_err("duplicate");
        assert!(error.contains("alerts.channels[1]"), "{error}");
        let mut bad = slack("sec");
        bad.config = json!({"url": "ftp://x"}).into();
        let error = check_declarations(&[bad], &[], &policy).expect_err("bad url");
        assert!(error.contains("config.url"), "{error}");
        let mut severe = rule("r");
        severe.min_severity = "severe".into();
        let error = check_declarations(&[], &[severe], &policy).expect_err("bad severity");
        assert!(error.contains("alerts.rules[0]") && error.contains("min_severity"), "{error}");
        let mut tenantless = rule("r");
        tenantless.tenant = "no spaces allowed".into();
        assert!(check_declarations(&[], &[tenantless], &policy).is_err());
    }
}
