//! What kind of thing an action does, read from its verb.
//!
//! Actions come in many spellings: `cloudtrail.amazonaws.com:StopLogging`, `repo.create`,
//! `org.remove_member`, `user.session.start`. The action is split into lowercase words (on
//! punctuation and camel case); the first word that is a known verb decides the class, and the
//! other words are the objects it acts on. The vocabulary is generic (verbs of CRUD APIs and
//! security nouns), not taken from any one product.

veritrail_core::wire_enum! {
    /// The class of an action.
    pub enum ActionClass ("action class") {
        /// Looks something up: get, list, describe, ...
        Read => "read",
        /// Changes something: create, put, update, delete, run, ...
        Write => "write",
        /// Touches security itself: changes to logging, identities, permissions or keys; reading
        /// secrets or credentials; signing in or taking on a role.
        Sensitive => "sensitive",
    }
}

const READ_VERBS: &[&str] = &[
    "get",
    "list",
    "describe",
    "head",
    "lookup",
    "search",
    "query",
    "scan",
    "select",
    "read",
    "view",
    "show",
    "check",
    "validate",
    "verify",
    "estimate",
    "preview",
    "filter",
    "download",
    "fetch",
    "find",
    "count",
    "poll",
    "receive",
    "discover",
    "retrieve",
    "test",
    "simulate",
    "decrypt",
    "decode",
    "generate",
    "browse",
    "watch",
    "is",
    "has",
    "can",
    "export",
    "evaluate",
    "calculate",
    "access",
    "open",
    "inspect",
];

const WRITE_VERBS: &[&str] = &[
    "create",
    "put",
    "update",
    "delete",
    "modify",
    "attach",
    "detach",
    "add",
    "remove",
    "set",
    "start",
    "stop",
    "run",
    "terminate",
    "enable",
    "disable",
    "associate",
    "disassociate",
    "tag",
    "untag",
    "send",
    "register",
    "deregister",
    "import",
    "copy",
    "restore",
    "reset",
    "reboot",
    "authorize",
    "revoke",
    "allocate",
    "release",
    "apply",
    "cancel",
    "upload",
    "write",
    "edit",
    "change",
    "replace",
    "rotate",
    "grant",
    "deny",
    "invite",
    "accept",
    "reject",
    "leave",
    "join",
    "move",
    "rename",
    "transfer",
    "publish",
    "purge",
    "destroy",
    "drop",
    "insert",
    "patch",
    "post",
    "upsert",
    "install",
    "uninstall",
    "execute",
    "invoke",
    "launch",
    "schedule",
    "suspend",
    "resume",
    "archive",
    "unarchive",
    "block",
    "unblock",
    "share",
    "unshare",
    "encrypt",
    "sign",
    "approve",
    "assign",
    "unassign",
    "activate",
    "deactivate",
    "promote",
    "demote",
    "lock",
    "unlock",
    "clear",
    "merge",
    "push",
    "close",
    "end",
    "reopen",
    "erase",
    "wipe",
    "batch",
    "submit",
    "deploy",
    "restart",
    "kill",
    "link",
    "unlink",
    "mount",
    "unmount",
    "pause",
    "unpause",
    "disconnect",
    "connect",
];

/// Verbs of signing in and taking on identities: always security-relevant.
const AUTH_VERBS: &[&str] =
    &["login", "logon", "signin", "sign_in", "authenticate", "assume", "federate", "impersonate", "elevate", "sudo"];

/// Objects whose change is a change to security: logging, identities, permissions, keys.
const SENSITIVE_NOUNS: &[&str] = &[
    "log",
    "logs",
    "logging",
    "trail",
    "trails",
    "audit",
    "policy",
    "policies",
    "role",
    "roles",
    "permission",
    "permissions",
    "user",
    "users",
    "member",
    "members",
    "key",
    "keys",
    "secret",
    "secrets",
    "password",
    "passwords",
    "credential",
    "credentials",
    "token",
    "tokens",
    "mfa",
    "login",
    "profile",
    "certificate",
    "certificates",
    "trust",
    "acl",
    "acls",
    "grant",
    "grants",
    "organization",
    "organisation",
    "security",
    "identity",
    "identities",
    "privilege",
    "privileges",
    "admin",
    "admins",
    "saml",
    "oidc",
    "sso",
    "session",
    "sessions",
    "auth",
    "authorization",
    "authentication",
    "firewall",
    "encryption",
    "detector",
    "monitor",
    "monitoring",
    "alarm",
    "alarms",
    "recorder",
    "guardrail",
    "anchor",
    "keypair",
    "ssh",
    "webhook",
    "webhooks",
];

/// Objects whose mere reading hands out secrets.
const SECRET_NOUNS: &[&str] =
    &["password", "passwords", "secret", "secrets", "credential", "credentials", "token", "tokens", "keypair"];

/// Classifies an action by its verb and objects.
pub fn classify(action: &str) -> ActionClass {
    let words = split_words(action);
    let mut verb_class = None;
    for word in &words {
        if let Some(class) = verb_class_of(word) {
            verb_class = Some(class);
            break;
        }
    }
    let has = |nouns: &[&str]| words.iter().any(|word| nouns.contains(&word.as_str()));
    match verb_class {
        Some(VerbClass::Auth) => ActionClass::Sensitive,
        Some(VerbClass::Write) if has(SENSITIVE_NOUNS) => ActionClass::Sensitive,
        Some(VerbClass::Read) if has(SECRET_NOUNS) => ActionClass::Sensitive,
        Some(VerbClass::Write) => ActionClass::Write,
        Some(VerbClass::Read) => ActionClass::Read,
        // Without a known verb, assume the action changes something: a change wrongly counted
        // as a read would hide more than a read counted as a change.
        None if has(SENSITIVE_NOUNS) => ActionClass::Sensitive,
        None => ActionClass::Write,
    }
}

#[derive(Clone, Copy)]
enum VerbClass {
    Read,
    Write,
    Auth,
}

fn verb_class_of(word: &str) -> Option<VerbClass> {
    let lookup = |candidate: &str| {
        if AUTH_VERBS.contains(&candidate) {
            Some(VerbClass::Auth)
        } else if READ_VERBS.contains(&candidate) {
            Some(VerbClass::Read)
        } else if WRITE_VERBS.contains(&candidate) {
            Some(VerbClass::Write)
        } else {
            None
        }
    };
    // Past tenses and third persons ("created", "deletes") name the same verb.
    lookup(word)
        .or_else(|| word.strip_suffix("ed").and_then(lookup))
        .or_else(|| word.strip_suffix('d').and_then(lookup))
        .or_else(|| word.strip_suffix("es").and_then(lookup))
        .or_else(|| word.strip_suffix('s').and_then(lookup))
}

/// Lowercase words of an action: `ec2:GetPasswordData` → `ec2`, `get`, `password`, `data`.
/// The part before the last `:` is a namespace and only contributes objects after the name's
/// own words, so `iam:ListUsers` reads as "list users".
pub fn split_words(action: &str) -> Vec<String> {
    let (namespace, name) = match action.rsplit_once(':') {
        Some((namespace, name)) => (namespace, name),
        None => ("", action),
    };
    let mut words = camel_words(name);
    // A namespace such as `cloudtrail.amazonaws.com` adds nouns but never the verb.
    words.extend(camel_words(namespace).into_iter().filter(|word| verb_class_of(word).is_none()));
    words
}

fn camel_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = text.chars().collect();
    for (idx, &ch) in chars.iter().enumerate() {
        if !ch.is_alphanumeric() {
            push_word(&mut words, &mut current);
            continue;
        }
        let prev = idx.checked_sub(1).map(|prev| chars[prev]);
        let next = chars.get(idx + 1).copied();
        // A capital starts a word after a lowercase letter or digit ("getPassword"), or ends an
        // acronym when a lowercase letter follows ("MFADevice" → "mfa", "device").
        let boundary = ch.is_uppercase()
            && prev.is_some_and(|prev| {
                prev.is_lowercase()
                    || prev.is_ascii_digit()
                    || (prev.is_uppercase() && next.is_some_and(char::is_lowercase))
            });
        if boundary {
            push_word(&mut words, &mut current);
        }
        current.extend(ch.to_lowercase());
    }
    push_word(&mut words, &mut current);
    words
}

fn push_word(words: &mut Vec<String>, current: &mut String) {
    if !current.is_empty() {
        words.push(std::mem::take(current));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_camel_case_acronyms_and_punctuation() {
        assert_eq!(
            split_words("ec2.amazonaws.com:GetPasswordData"),
            ["get", "password", "data", "ec2", "amazonaws", "com"]
        );
        assert_eq!(split_words("iam:DeactivateMFADevice"), ["deactivate", "mfa", "device", "iam"]);
        assert_eq!(split_words("org.remove_member"), ["org", "remove", "member"]);
    }

    #[test]
    fn classes_follow_the_verb_and_its_object() {
        assert_eq!(classify("ec2.amazonaws.com:DescribeInstances"), ActionClass::Read);
        assert_eq!(classify("s3.amazonaws.com:PutObject"), ActionClass::Write);
        assert_eq!(classify("cloudtrail.amazonaws.com:StopLogging"), ActionClass::Sensitive);
        assert_eq!(classify("iam.amazonaws.com:CreateAccessKey"), ActionClass::Sensitive);
        assert_eq!(classify("secretsmanager.amazonaws.com:GetSecretValue"), ActionClass::Sensitive);
        assert_eq!(classify("signin.amazonaws.com:ConsoleLogin"), ActionClass::Sensitive);
        assert_eq!(classify("repo.create"), ActionClass::Write);
        assert_eq!(classify("org.remove_member"), ActionClass::Sensitive);
        assert_eq!(classify("user.session.start"), ActionClass::Sensitive);
        assert_eq!(classify("ec2.amazonaws.com:SharedSnapshotVolumeCreated"), ActionClass::Write);
    }
}
