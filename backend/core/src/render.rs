//! The plain-language rendering of an event that search indexes: full-text indexed and embedded.
//!
//! One short paragraph, always built the same way from the same event (so identical activity
//! gives identical text, which is embedded once):
//!
//! ```text
//! bert-jan (IAMUser) called cloudtrail StopLogging (stop logging) on trail my-trail.
//! It failed: TrailNotFoundException. From 192.168.10.20 using aws-sdk-go-v2, stratus-red-team.
//! Details: name my-trail.
//! ```
//!
//! - **Who**: `actor.name`, else the last part of `actor.id` (for `.../assumed-role/ROLE/SESSION`
//!   the role and session), and `actor.type`.
//! - **What**: the action split into service and operation; CamelCase operations are repeated as
//!   words so both "StopLogging" and "stop logging" match.
//! - **On what**: resource type and name (or the last part of its id).
//! - **Outcome**: succeeded / failed / was denied, with an error code from `details` when given.
//! - **Where from**: the IP and the products named in the user agent, without versions or ids.
//! - **Details**: the most telling short values — for CloudTrail records the request parameters,
//!   MFA use (also as "with/without MFA (multi-factor authentication)"), console-login result and
//!   read-only flag, and first "shared with external account" when the parameters name an AWS
//!   account other than the record's own (a permission, a snapshot attribute or a policy granting
//!   it access), or "external account removed" when they name it only to take access away; for
//!   other events the top-level scalar fields. Timestamps, UUIDs, long hex strings and long values are left out: they make every
//!   text unique without helping anyone find anything by meaning.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use crate::event::{Outcome, StoredEvent};

/// The version of [`render`]'s output. Raise it with any change that renders some event
/// differently: the indexing job then rebuilds each tenant's search documents (keeping the vectors
/// of texts that render as before), so stored texts never mix two renderings.
pub const RENDERING_VERSION: u32 = 1;

/// Longest detail value that is kept.
const MAX_VALUE_CHARS: usize = 64;
/// Most detail facts kept.
const MAX_FACTS: usize = 12;
/// How deep request parameters are followed ("launch permission add user id").
const MAX_DEPTH: usize = 4;
/// Most user-agent products kept.
const MAX_PRODUCTS: usize = 4;

/// Renders `event` for search.
pub fn render(event: &StoredEvent) -> String {
    let mut text = String::with_capacity(256);
    let who = actor_words(event);
    let _ = write!(text, "{who} ({}) called {}", event.actor.kind, action_words(&event.action));
    if let Some(resource) = &event.resource {
        let name = resource.name.as_deref().map(str::to_owned).unwrap_or_else(|| short_id(&resource.id));
        let _ = write!(text, " on {} {}", resource.kind, name);
    }
    text.push('.');

    let error = error_code(&event.details).map(with_words);
    match (event.outcome, error) {
        (Outcome::Success, _) => text.push_str(" It succeeded."),
        (Outcome::Failure, Some(code)) => {
            let _ = write!(text, " It failed: {code}.");
        }
        (Outcome::Failure, None) => text.push_str(" It failed."),
        (Outcome::Denied, Some(code)) => {
            let _ = write!(text, " It was denied: {code}.");
        }
        (Outcome::Denied, None) => text.push_str(" It was denied."),
        (Outcome::Unknown, _) => {}
    }

    let products = event.actor.user_agent.as_deref().map(user_agent_products).unwrap_or_default();
    match (&event.actor.ip, products.is_empty()) {
        (Some(ip), false) => {
            let _ = write!(text, " From {ip} using {}.", products.join(", "));
        }
        (Some(ip), true) => {
            let _ = write!(text, " From {ip}.");
        }
        (None, false) => {
            let _ = write!(text, " Using {}.", products.join(", "));
        }
        (None, true) => {}
    }

    let facts = detail_facts(&event.details);
    if !facts.is_empty() {
        let _ = write!(text, " Details: {}.", facts.join(", "));
    }
    text
}

/// "bert-jan", or "role stratus-ec2-role session i-0abc" for an assumed-role ARN.
fn actor_words(event: &StoredEvent) -> String {
    let id = &event.actor.id;
    if let Some(rest) = id.split_once(":assumed-role/").map(|(_, rest)| rest) {
        let mut parts = rest.splitn(2, '/');
        let role = parts.next().unwrap_or_default();
        return match parts.next() {
            Some(session) => format!("role {role} session {session}"),
            None => format!("role {role}"),
        };
    }
    event.actor.name.clone().unwrap_or_else(|| short_id(id))
}

/// "cloudtrail.amazonaws.com:StopLogging" → "cloudtrail StopLogging (stop logging)";
/// "repo.delete" → "repo delete".
pub fn action_words(action: &str) -> String {
    let (service, operation) = match action.rsplit_once(':') {
        Some((service, operation)) => (service.split('.').next().unwrap_or(service).to_owned(), operation),
        None => match action.rsplit_once('.') {
            Some((service, operation)) => (service.replace(['.', '_'], " "), operation),
            None => (String::new(), action),
        },
    };
    let split = split_camel_case(operation);
    let mut words = if service.is_empty() { operation.to_owned() } else { format!("{service} {operation}") };
    if split != operation.to_lowercase() {
        let _ = write!(words, " ({split})");
    }
    words
}

/// "StopLogging" → "stop logging"; "GetSecretValue" → "get secret value"; "DBInstance" → "db instance".
pub fn split_camel_case(word: &str) -> String {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::with_capacity(word.len() + 4);
    for (idx, &ch) in chars.iter().enumerate() {
        if ch == '_' || ch == '-' {
            out.push(' ');
            continue;
        }
        // A word starts at an upper-case letter after a lower-case one or a digit ("getObject",
        // "V2Api"), at the last capital of an acronym ("ACLList"), and where a date or version
        // stamp of four or more digits follows a letter ("Code20150331", so "code" is a word of
        // its own; "EC2", "Route53" stay whole).
        let boundary = idx > 0
            && ((ch.is_uppercase()
                && (chars[idx - 1].is_lowercase()
                    || chars[idx - 1].is_ascii_digit()
                    || (chars[idx - 1].is_uppercase() && chars.get(idx + 1).is_some_and(|next| next.is_lowercase()))))
                || (chars[idx - 1].is_alphabetic()
                    && chars[idx..].iter().take_while(|c| c.is_ascii_digit()).count() >= 4));
        if boundary && !out.ends_with(' ') {
            out.push(' ');
        }
        out.extend(ch.to_lowercase());
    }
    out
}

/// The last meaningful part of an ARN, path or URN.
fn short_id(id: &str) -> String {
    id.rsplit(['/', ':']).find(|part| !part.is_empty()).unwrap_or(id).to_owned()
}

/// "ThrottlingException" → "ThrottlingException (throttling exception)"; "userData" →
/// "userData (user data)"; plain words are left alone. Identifiers written together are one
/// token to a full-text index and a rare word to a sentence model; their words are not.
fn with_words(identifier: &str) -> String {
    let chars: Vec<char> = identifier.chars().collect();
    let camel = chars.windows(2).any(|pair| pair[0].is_lowercase() && pair[1].is_uppercase());
    let joined = identifier.contains('_') && !identifier.contains(char::is_whitespace);
    if !(camel || joined) || identifier.contains(['/', ' ']) {
        return identifier.to_owned();
    }
    let words = split_camel_case(&identifier.replace(['.', ':'], " "));
    let words = words.split_whitespace().collect::<Vec<_>>().join(" ");
    if words.is_empty() || words == identifier.to_lowercase() {
        identifier.to_owned()
    } else {
        format!("{identifier} ({words})")
    }
}

fn error_code(details: &Map<String, Value>) -> Option<&str> {
    details.get("errorCode").or_else(|| details.get("error_code")).and_then(Value::as_str)
}

/// Products named in a user agent, without versions, URLs, comments or run ids:
/// "aws-cli/2.1 Python/3.8 (+https://…) stratus-red-team_1f…" → ["aws-cli", "Python", "stratus-red-team"].
pub fn user_agent_products(user_agent: &str) -> Vec<String> {
    let mut products: Vec<String> = Vec::new();
    let mut depth = 0usize;
    for token in user_agent.split_whitespace() {
        let opens = token.matches('(').count();
        let closes = token.matches(')').count();
        let inside = depth > 0 || opens > 0;
        depth = (depth + opens).saturating_sub(closes);
        if inside {
            continue;
        }
        let token = token.trim_matches(|c: char| matches!(c, '[' | ']' | ',' | ';'));
        let product = token.split('/').next().unwrap_or(token);
        let product = strip_run_id(product);
        if product.len() < 2 || product.contains("://") || looks_like_noise(product) {
            continue;
        }
        if !products.iter().any(|known| known.eq_ignore_ascii_case(product)) {
            products.push(product.to_owned());
        }
        if products.len() == MAX_PRODUCTS {
            break;
        }
    }
    products
}

/// "stratus-red-team_39f95f43-…" → "stratus-red-team": a tool name with a per-run id appended.
fn strip_run_id(product: &str) -> &str {
    match product.split_once('_') {
        Some((name, suffix)) if looks_like_noise(suffix) => name,
        _ => product,
    }
}

/// UUIDs, long hex or digit strings and timestamps: unique per event, useless for meaning.
fn looks_like_noise(value: &str) -> bool {
    let hexish = value.chars().filter(|c| c.is_ascii_hexdigit() || *c == '-').count();
    let digits = value.chars().filter(char::is_ascii_digit).count();
    (value.len() >= 16 && hexish == value.len() && digits >= 4)
        || (value.len() >= 8 && digits * 2 > value.len())
        || (value.len() >= 10
            && value.as_bytes().get(4) == Some(&b'-')
            && value[..4].chars().all(|c| c.is_ascii_digit()))
}

/// The telling short facts of `details`.
fn detail_facts(details: &Map<String, Value>) -> Vec<String> {
    let mut facts = Vec::new();
    let is_cloudtrail = details.contains_key("eventSource") && details.contains_key("eventName");
    if is_cloudtrail {
        if let Some(parameters) = details.get("requestParameters").and_then(Value::as_object) {
            // First, so the fact limit never drops it: granting another account access is what
            // an analyst asks about ("shared with another account") and the ids never say so.
            match external_account(parameters, own_account(details)) {
                Some(ExternalAccount::Granted) => facts.push("shared with external account".to_owned()),
                Some(ExternalAccount::Removed) => facts.push("external account removed".to_owned()),
                None => {}
            }
            scalar_facts(parameters, "", MAX_DEPTH, &mut facts);
        }
        if let Some(mfa) =
            details.get("additionalEventData").and_then(|data| data.get("MFAUsed")).and_then(Value::as_str)
        {
            // In words as well: people ask for sign-ins "without multi-factor authentication".
            facts.push(match mfa.to_lowercase().as_str() {
                "yes" => "with MFA (multi-factor authentication)".to_owned(),
                "no" => "without MFA (multi-factor authentication)".to_owned(),
                other => format!("mfa used {other}"),
            });
        }
        let mfa_authenticated = details
            .get("userIdentity")
            .and_then(|identity| identity.get("sessionContext"))
            .and_then(|context| context.get("attributes"))
            .and_then(|attributes| attributes.get("mfaAuthenticated"))
            .and_then(Value::as_str);
        if let Some(flag) = mfa_authenticated {
            facts.push(format!("mfa authenticated {flag}"));
        }
        if let Some(result) =
            details.get("responseElements").and_then(|elements| elements.get("ConsoleLogin")).and_then(Value::as_str)
        {
            facts.push(format!("console login {}", result.to_lowercase()));
        }
        if let Some(read_only) = details.get("readOnly").and_then(Value::as_bool) {
            facts.push(if read_only { "read-only".to_owned() } else { "write".to_owned() });
        }
    } else {
        scalar_facts(details, "", 1, &mut facts);
    }
    facts.truncate(MAX_FACTS);
    facts
}

/// The account a CloudTrail record was written for: `recipientAccountId`, else the caller's.
fn own_account(details: &Map<String, Value>) -> Option<&str> {
    details
        .get("recipientAccountId")
        .and_then(Value::as_str)
        .or_else(|| details.get("userIdentity").and_then(|identity| identity.get("accountId")).and_then(Value::as_str))
}

/// Whether request parameters give an AWS account other than the record's own access, or take it
/// away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExternalAccount {
    /// Named outside any removal: a permission or attribute added, a policy naming it.
    Granted,
    /// Named only under a removal (`remove`, `valuesToRemove`, `revoke…`): sharing undone.
    Removed,
}

/// Whether request parameters name an AWS account other than `own`: a twelve-digit account id
/// (launch and volume permissions, snapshot attributes) or one inside an ARN or a policy
/// document, at any depth, and whether only under keys that remove access. Without a known own
/// account nothing is external.
fn external_account(parameters: &Map<String, Value>, own: Option<&str>) -> Option<ExternalAccount> {
    let own = own?;
    let mut found = None;
    let mut stack: Vec<(&Value, bool)> = parameters.iter().map(|(key, value)| (value, removes(key))).collect();
    while let Some((value, removing)) = stack.pop() {
        match value {
            Value::String(text) if account_ids(text).any(|account| account != own) => {
                if !removing {
                    return Some(ExternalAccount::Granted);
                }
                found = Some(ExternalAccount::Removed);
            }
            Value::Array(items) => stack.extend(items.iter().map(|item| (item, removing))),
            Value::Object(object) => {
                stack.extend(object.iter().map(|(key, value)| (value, removing || removes(key))));
            }
            _ => {}
        }
    }
    found
}

/// Keys under which accounts lose access: `remove`, `valuesToRemove`, `revokeGrant`.
fn removes(key: &str) -> bool {
    let key = key.to_lowercase();
    key.contains("remove") || key.contains("revoke")
}

/// The account ids in `text`: the whole of it when it is twelve digits, else the twelve-digit
/// account field of each ARN in it (`arn:aws:iam::123456789012:root`), policy documents included.
fn account_ids(text: &str) -> impl Iterator<Item = &str> {
    let is_account = |candidate: &str| candidate.len() == 12 && candidate.bytes().all(|byte| byte.is_ascii_digit());
    let whole = is_account(text).then_some(text);
    let in_arns = text.match_indices("arn:").filter_map(move |(start, _)| {
        // arn:partition:service:region:account:resource
        let account = text[start..].split(':').nth(4)?;
        is_account(account).then_some(account)
    });
    whole.into_iter().chain(in_arns)
}

/// "with decryption true", "bucket name my-bucket", "launch permission add user id" …: the
/// scalar values of `object` with their key paths in words, descending `depth` levels into
/// objects and into the first element of arrays. A value that is an id, a time or too long is
/// left out but its key path is kept: "user id" says what happened even when the id does not.
fn scalar_facts(object: &Map<String, Value>, prefix: &str, depth: usize, facts: &mut Vec<String>) {
    for (key, value) in object {
        if facts.len() >= MAX_FACTS {
            return;
        }
        let key_words = split_camel_case(key);
        // A value is named by its own key, with the parent's words only where the key alone says
        // nothing ("tag key", "filter name"). Repeating whole paths on every value would make a
        // parent's words dominate full-text ranking by sheer repetition.
        let label = match key_words.as_str() {
            // Wrapper keys add nothing a reader would say.
            "" | "items" | "item" | "member" => prefix.to_owned(),
            "key" | "value" | "name" | "id" | "type" | "values" if !prefix.is_empty() => {
                format!("{} {key_words}", prefix.rsplit(' ').next().unwrap_or(prefix))
            }
            _ => key_words,
        };
        match value {
            Value::String(text) => {
                let text = if text.starts_with("arn:") { short_id(text) } else { text.clone() };
                if !text.is_empty() && text.chars().count() <= MAX_VALUE_CHARS && !looks_like_noise(&text) {
                    facts.push(format!("{label} {}", with_words(&text)));
                } else if !label.is_empty() {
                    facts.push(label);
                }
            }
            Value::Bool(flag) => facts.push(format!("{label} {flag}")),
            Value::Number(number) => facts.push(format!("{label} {number}")),
            Value::Object(inner) if depth > 1 => {
                push_container(&label, prefix, facts);
                scalar_facts(inner, &label, depth - 1, facts);
            }
            Value::Array(items) if depth > 1 => match items.first() {
                Some(Value::Object(first)) => {
                    push_container(&label, prefix, facts);
                    scalar_facts(first, &label, depth - 1, facts);
                }
                Some(first) => {
                    let mut single = Map::new();
                    single.insert(String::new(), first.clone());
                    scalar_facts(&single, &label, 1, facts);
                }
                None => {}
            },
            _ => {}
        }
    }
    facts.dedup();
}

/// Names a nested object once ("launch permission"), so its values can be named by their own
/// keys ("add user id").
fn push_container(label: &str, prefix: &str, facts: &mut Vec<String>) {
    if !label.is_empty() && label != prefix && facts.len() < MAX_FACTS {
        facts.push(label.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_is_split_into_words() {
        assert_eq!(split_camel_case("StopLogging"), "stop logging");
        assert_eq!(split_camel_case("GetSecretValue"), "get secret value");
        assert_eq!(split_camel_case("DBInstance"), "db instance");
        assert_eq!(split_camel_case("withDecryption"), "with decryption");
        assert_eq!(split_camel_case("get_password-data"), "get password data");
        assert_eq!(split_camel_case("UpdateFunctionCode20150331v2"), "update function code 20150331v2");
        assert_eq!(split_camel_case("DescribeEC2Route53"), "describe ec2 route53");
    }

    #[test]
    fn actions_name_service_and_operation() {
        assert_eq!(action_words("cloudtrail.amazonaws.com:StopLogging"), "cloudtrail StopLogging (stop logging)");
        assert_eq!(action_words("repo.delete"), "repo delete");
        assert_eq!(action_words("login"), "login");
    }

    #[test]
    fn user_agents_keep_products_only() {
        let terraform = "APN/1.0 HashiCorp/1.0 Terraform/1.1.2 (+https://www.terraform.io) terraform-provider-aws/4.67.0 \
                         (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.44.261 (go1.19.8; linux; amd64)";
        assert_eq!(user_agent_products(terraform), ["APN", "HashiCorp", "Terraform", "terraform-provider-aws"]);
        assert_eq!(
            user_agent_products("stratus-red-team_39f95f43-cd2f-4beb-b69e-0123456789ab aws-sdk-go-v2/1.17"),
            ["stratus-red-team", "aws-sdk-go-v2"]
        );
        assert_eq!(user_agent_products("[Boto3/1.26.165 Python/3.10.6 Linux/5.19]"), ["Boto3", "Python", "Linux"]);
    }

    #[test]
    fn noise_is_recognised() {
        assert!(looks_like_noise("39f95f43-cd2f-4beb-b69e-0123456789ab"));
        assert!(looks_like_noise("2023-07-10T12:12:01Z"));
        assert!(looks_like_noise("123837392027"));
        assert!(!looks_like_noise("my-trail"));
        assert!(!looks_like_noise("p2.xlarge"));
    }

    #[test]
    fn accounts_other_than_the_records_own_are_external() {
        let parameters = |value: serde_json::Value| value.as_object().cloned().unwrap_or_default();
        let shared = parameters(serde_json::json!({
            "imageId": "ami-1",
            "launchPermission": {"add": {"items": [{"userId": "012345678901"}]}}
        }));
        assert_eq!(external_account(&shared, Some("218007301253")), Some(ExternalAccount::Granted));
        assert_eq!(external_account(&shared, Some("012345678901")), None, "the record's own account");
        assert_eq!(external_account(&shared, None), None, "no own account known");
        let unshared = parameters(serde_json::json!({
            "imageId": "ami-1",
            "launchPermission": {"remove": {"items": [{"userId": "012345678901"}]}}
        }));
        assert_eq!(external_account(&unshared, Some("218007301253")), Some(ExternalAccount::Removed));
        let database = parameters(serde_json::json!({"attributeName": "restore", "valuesToRemove": ["193672423079"]}));
        assert_eq!(external_account(&database, Some("218007301253")), Some(ExternalAccount::Removed));
        let both = parameters(serde_json::json!({"valuesToRemove": ["193672423079"], "valuesToAdd": ["111111111111"]}));
        assert_eq!(external_account(&both, Some("218007301253")), Some(ExternalAccount::Granted));
        let policy = parameters(serde_json::json!({
            "bucketName": "b",
            "bucketPolicy": {"Statement": [{"Principal": {"AWS": "arn:aws:iam::193672423079:root"}}]}
        }));
        assert_eq!(external_account(&policy, Some("218007301253")), Some(ExternalAccount::Granted));
        let own_role =
            parameters(serde_json::json!({"roleArn": "arn:aws:iam::218007301253:role/x", "size": 123456789012_u64}));
        assert_eq!(external_account(&own_role, Some("218007301253")), None, "own ARN; numbers are not ids");
        let text = r#"{"Principal":{"AWS":["arn:aws:iam::111111111111:root","arn:aws:s3:::bucket"]}}"#;
        assert_eq!(account_ids(text).collect::<Vec<_>>(), vec!["111111111111"], "ARNs inside a policy string");
        assert_eq!(account_ids("12345678901").count(), 0, "eleven digits");
    }
}
