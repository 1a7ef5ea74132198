//! Channel configuration: the API contract, validation errors, redaction, environment secrets.

use serde_json::json;
use veritrail_alerts::channel::{ChannelConfig, ChannelKind, EnvAccess, NewChannel, TlsMode};
use veritrail_alerts::ssrf::TargetPolicy;

fn parse(body: serde_json::Value) -> Result<NewChannel, String> {
    serde_json::from_value(body).map_err(|error| error.to_string())
}

/// Channels in these tests take no secret from the environment.
const NO_ENV: &(dyn Fn(&str) -> Option<String> + Sync) = &|_| None;

fn strict() -> TargetPolicy {
    TargetPolicy::strict()
}

fn private() -> TargetPolicy {
    TargetPolicy { allow_private: true, allow_list: vec![] }
}

fn email(config: serde_json::Value) -> NewChannel {
    parse(json!({"kind": "email", "name": "oncall", "config": config})).expect("parses")
}

fn base_email() -> serde_json::Value {
    json!({"smtp_host": "smtp.example.com", "smtp_port": 587, "tls": "starttls",
           "from": "Veritrail <alerts@example.com>", "to": ["sec@example.com", "Ops Team <ops@example.com>"],
           "username": "alerts", "password": "hunter22"})
}

#[test]
fn every_kind_of_the_contract_parses_and_validates() {
    let bodies = [
        json!({"kind": "slack", "name": "sec", "config": {"url": "https://hooks.slack.com/services/T0/B0/XYZ"}}),
        json!({"kind": "discord", "name": "sec", "config": {"url": "https://discord.com/api/webhooks/1/abc"}}),
        json!({"kind": "teams", "name": "sec", "config": {"url": "https://prod-00.westus.logic.azure.com/workflows/x"}}),
        json!({"kind": "webhook", "name": "siem", "config": {"url": "https://siem.example.com/in", "secret": "s3cr3t"}}),
        json!({"kind": "email", "name": "oncall", "config": base_email()}),
    ];
    let kinds =
        [ChannelKind::Slack, ChannelKind::Discord, ChannelKind::Teams, ChannelKind::Webhook, ChannelKind::Email];
    for (body, kind) in bodies.into_iter().zip(kinds) {
        let channel = parse(body.clone()).unwrap_or_else(|error| panic!("{body}: {error}"));
        assert_eq!(channel.config.kind(), kind);
        channel.validate(&strict(), NO_ENV).unwrap_or_else(|error| panic!("{body}: {error}"));
        // Stored form round-trips exactly.
        assert_eq!(serde_json::to_value(&channel).expect("serialise"), body);
    }
}

#[test]
fn unknown_fields_and_wrong_shapes_are_refused() {
    let cases = [
        (
            json!({"kind": "slack", "name": "a", "config": {"url": "https://x.example", "channel": "#sec"}}),
            "unknown field `channel`",
        ),
        (
            json!({"kind": "slack", "name": "a", "config": {"url": "https://x.example"}, "extra": 1}),
            "unknown field `extra`",
        ),
        (json!({"kind": "sms", "name": "a", "config": {}}), "unknown variant `sms`"),
        (json!({"kind": "slack", "name": "a", "config": "https://x.example"}), "must be a JSON object"),
        (
            json!({"kind": "email", "name": "a", "config": {"smtp_host": "h", "smtp_port": 70000, "tls": "tls", "from": "a@b.c", "to": []}}),
            "smtp_port",
        ),
        (
            json!({"kind": "email", "name": "a", "config": {"smtp_host": "h", "smtp_port": 25, "tls": "ssl", "from": "a@b.c", "to": []}}),
            "unknown variant `ssl`",
        ),
    ];
    for (body, expected) in cases {
        let error = parse(body.clone()).expect_err("must be refused");
        assert!(error.contains(expected), "{body}: {error:?} should mention {expected:?}");
    }
}

#[test]
fn validation_errors_name_the_field() {
    let url = |url: &str| parse(json!({"kind": "slack", "name": "a", "config": {"url": url}})).expect("parses");
    let hook =
        |config: serde_json::Value| parse(json!({"kind": "webhook", "name": "a", "config": config})).expect("parses");
    let with = |patch: serde_json::Value| {
        let mut config = base_email();
        for (key, value) in patch.as_object().expect("object") {
            if value.is_null() {
                config.as_object_mut().expect("object").remove(key);
            } else {
                config[key] = value.clone();
            }
        }
        email(config)
    };
    let cases: Vec<(NewChannel, &str, &str)> = vec![
        (url("http://hooks.slack.com/x"), "config.url", "must use https"),
        (url("ftp://hooks.slack.com/x"), "config.url", "scheme \"ftp\""),
        (url("not a url"), "config.url", "not a valid URL"),
        (url("https://127.0.0.1/hook"), "config.url", "loopback"),
        (url("https://[::ffff:169.254.10.10]/"), "config.url", "link-local"),
        (url("https://[::ffff:169.254.169.254]/"), "config.url", "cloud metadata"),
        (url("https://[fd00:ec2::254]/"), "config.url", "cloud metadata"),
        (
            parse(json!({"kind": "slack", "name": "a", "config": {}})).expect("parses"),
            "config.url",
            "`url` or `url_env` is required",
        ),
        (
            parse(json!({"kind": "slack", "name": "", "config": {"url": "https://x.example"}})).expect("parses"),
            "name",
            "must not be empty",
        ),
        (hook(json!({"url": "https://x.example"})), "config.secret", "needs `secret` or `secret_env`"),
        (hook(json!({"url": "https://x.example", "secret": ""})), "config.secret", "must not be empty"),
        (hook(json!({"url": "https://x.example", "secret": "a", "secret_env": "B"})), "config.secret", "not both"),
        (
            hook(json!({"url": "https://x.example", "secret_env": "1BAD-NAME"})),
            "config.secret_env",
            "not an environment variable name",
        ),
        (
            hook(json!({"url": "https://x.example", "secret_env": "VERITRAIL_SURELY_UNSET_VAR"})),
            "config.secret_env",
            "is not available to alert channels",
        ),
        (with(json!({"to": []})), "config.to", "at least one recipient"),
        (with(json!({"to": ["ok@example.com", "not-an-address"]})), "config.to[1]", "not an e-mail address"),
        (with(json!({"from": "alerts at example"})), "config.from", "not an e-mail address"),
        (with(json!({"smtp_port": 0})), "config.smtp_port", "between 1 and 65535"),
        (with(json!({"smtp_host": ""})), "config.smtp_host", "must not be empty"),
        (with(json!({"smtp_host": "smtp://mail.example.com"})), "config.smtp_host", "not a URL"),
        (with(json!({"smtp_host": "mail.example.com:25"})), "config.smtp_host", "not a host name"),
        (with(json!({"smtp_host": "10.0.0.5"})), "config.smtp_host", "private-network"),
        (with(json!({"tls": "none"})), "config.tls", "clear text"),
        (with(json!({"password": null})), "config.password", "needs `password` or `password_env`"),
        (with(json!({"username": null})), "config.username", "needs a `username`"),
    ];
    for (channel, field, fragment) in cases {
        let error = channel.validate(&strict(), NO_ENV).expect_err(&format!("{channel:?} must be refused"));
        assert_eq!(error.field, field, "{error}");
        assert!(error.message.contains(fragment), "{error} should mention {fragment:?}");
    }
}

#[test]
fn private_targets_relax_scheme_and_tls_rules() {
    let slack = parse(json!({"kind": "slack", "name": "a", "config": {"url": "http://10.0.0.8:8065/hooks/x"}}))
        .expect("parses");
    assert!(slack.validate(&strict(), NO_ENV).is_err());
    slack.validate(&private(), NO_ENV).expect("http to a private host is fine when allowed");

    let mut config = base_email();
    config["tls"] = json!("none");
    config["smtp_host"] = json!("127.0.0.1");
    config.as_object_mut().expect("object").remove("username");
    config.as_object_mut().expect("object").remove("password");
    email(config.clone()).validate(&private(), NO_ENV).expect("local relay without TLS");
    config["username"] = json!("u");
    config["password"] = json!("p");
    let error = email(config).validate(&private(), NO_ENV).expect_err("credentials need TLS");
    assert_eq!(error.field, "config.tls");
}

#[test]
fn redaction_hides_every_secret() {
    let channels = [
        json!({"kind": "slack", "name": "a", "config": {"url": "https://hooks.slack.com/services/T0/B0/SLACKTOKEN"}}),
        json!({"kind": "discord", "name": "a", "config": {"url": "https://discord.com/api/webhooks/1/DISCORDTOKEN"}}),
        json!({"kind": "teams", "name": "a", "config": {"url": "https://x.logic.azure.com:443/workflows/TEAMSTOKEN?sig=SIG"}}),
        json!({"kind": "webhook", "name": "a", "config": {"url": "https://siem.example.com:8443/in?token=QUERYTOKEN", "secret": "HOOKSECRET"}}),
        json!({"kind": "email", "name": "a", "config": base_email()}),
    ];
    let views: Vec<serde_json::Value> = channels
        .iter()
        .map(|body| serde_json::to_value(parse(body.clone()).expect("parses").config.redacted()).expect("serialise"))
        .collect();
    let all = serde_json::to_string(&views).expect("json");
    for secret in ["SLACKTOKEN", "DISCORDTOKEN", "TEAMSTOKEN", "SIG", "QUERYTOKEN", "HOOKSECRET", "hunter22"] {
        assert!(!all.contains(secret), "{secret} leaked: {all}");
    }
    assert_eq!(views[0], json!({"kind": "slack", "config": {"url": "https://hooks.slack.com/…"}}));
    assert_eq!(views[3]["config"], json!({"url": "https://siem.example.com:8443/…", "has_secret": true}));
    assert_eq!(views[4]["config"]["has_password"], true);
    assert_eq!(views[4]["config"]["username"], "alerts");
    assert_eq!(views[4]["config"]["to"][1], "Ops Team <ops@example.com>");

    // Debug output is safe to log too.
    let debug = format!("{:?}", channels.iter().map(|body| parse(body.clone()).expect("parses")).collect::<Vec<_>>());
    for secret in ["SLACKTOKEN", "HOOKSECRET", "hunter22", "QUERYTOKEN"] {
        assert!(!debug.contains(secret), "{secret} in Debug output: {debug}");
    }
}

#[test]
fn env_references_resolve_through_the_lookup() {
    let channel: ChannelConfig = serde_json::from_value(json!({
        "kind": "email",
        "config": {"smtp_host": "smtp.example.com", "smtp_port": 465, "tls": "tls", "from": "a@example.com",
                   "to": ["b@example.com"], "username": "u", "password_env": "SMTP_PASSWORD"}
    }))
    .expect("parses");
    let env = |name: &str| (name == "SMTP_PASSWORD").then(|| "from-env".to_owned());
    let resolved = channel.resolve(&strict(), &env).expect("resolves");
    let veritrail_alerts::channel::ResolvedChannel::Email(email) = resolved else { panic!("email channel") };
    assert_eq!(email.credentials, Some(("u".to_owned(), "from-env".to_owned())));
    assert_eq!(email.tls, TlsMode::Tls);
    let redacted = serde_json::to_value(channel.redacted()).expect("serialise");
    assert_eq!(redacted["config"]["password_env"], "SMTP_PASSWORD");
    assert_eq!(redacted["config"]["has_password"], true);

    let slack: ChannelConfig =
        serde_json::from_value(json!({"kind": "slack", "config": {"url_env": "SLACK_URL"}})).expect("parses");
    let env = |name: &str| (name == "SLACK_URL").then(|| "http://hooks.slack.com/x".to_owned());
    let error = slack.resolve(&strict(), &env).expect_err("the value is validated too");
    assert_eq!(error.field, "config.url");
}

#[test]
fn api_channels_read_only_prefixed_variables_and_never_the_servers_settings() {
    let access = EnvAccess::tenant("VERITRAIL_ALERT_").expect("default prefix");
    assert!(access.allows("VERITRAIL_ALERT_SLACK_URL"));
    for name in [
        "VERITRAIL__CHECKPOINTS__PRIVATE_KEY",
        "VERITRAIL__ALERTS__SECRET_KEY",
        "VERITRAIL_BOOTSTRAP_KEY",
        "PATH",
        "HOME",
    ] {
        assert!(!access.allows(name), "{name}");
    }
    // `PATH` is set in every test process: refused exactly like a variable that is not set.
    assert_eq!(access.read("PATH"), None);
    assert!(EnvAccess::Operator.read("PATH").is_some());
    let none = EnvAccess::tenant("").expect("empty prefix: no references");
    assert!(!none.allows("VERITRAIL_ALERT_SLACK_URL"));
    // Even an operator's wide prefix never covers the server's own settings.
    let wide = EnvAccess::Prefixed("VERITRAIL".to_owned());
    assert!(!wide.allows("VERITRAIL__CHECKPOINTS__PRIVATE_KEY") && !wide.allows("VERITRAIL_BOOTSTRAP_PASSWORD"));
    for prefix in ["VERITRAIL_", "VERITRAIL__", "VERITRAIL_BOOT", "ALERT", "1BAD_"] {
        assert!(EnvAccess::tenant(prefix).is_err(), "{prefix}");
    }
}

#[test]
fn a_refused_name_and_an_unset_one_get_the_same_answer() {
    let access = EnvAccess::tenant("VERITRAIL_ALERT_").expect("prefix");
    let env = |name: &str| access.read(name);
    let message = |name: &str| {
        let channel = email(json!({"smtp_host": "smtp.example.com", "smtp_port": 465, "tls": "tls",
            "from": "a@example.com", "to": ["b@example.com"], "username": "u", "password_env": name}));
        let error = channel.validate(&strict(), &env).expect_err(name);
        assert_eq!(error.field, "config.password_env");
        error.message.replace(name, "NAME")
    };
    // Set in the process but not allowed, and allowed but not set: one message.
    assert_eq!(message("PATH"), message("VERITRAIL_ALERT_SURELY_UNSET"));
    assert_eq!(message("VERITRAIL__CHECKPOINTS__PRIVATE_KEY"), message("VERITRAIL_ALERT_SURELY_UNSET"));
}
