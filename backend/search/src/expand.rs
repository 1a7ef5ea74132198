//! Query expansion for full-text search: the verbs people use for what happened, and the verbs
//! audit actions are named with.
//!
//! Actions are named by API verbs ("RunInstances", "UpdateAssumeRolePolicy", "LookupEvents"),
//! which the rendering spells out as words; people ask in everyday verbs ("instances launched",
//! "trust policy modified", "event history searched"). Words are stemmed by the database, so the
//! table lists one form per verb and the base forms of API verbs. Only full text is expanded:
//! embeddings already place such verbs close together.

/// Everyday verbs (any form the stemmer reduces alike, and their nouns: "scheduled for deletion")
/// and the API verbs they mean.
const VERBS: &[(&[&str], &[&str])] = &[
    (
        &["modified", "modify", "modification", "changed", "change", "altered", "edited", "updated", "tampered"],
        &["update", "modify", "put", "set"],
    ),
    (
        &["launched", "launch", "started", "start", "created", "create", "creation", "provisioned", "spun"],
        &["run", "start", "create"],
    ),
    (
        &[
            "deleted",
            "delete",
            "deletion",
            "removed",
            "remove",
            "removal",
            "destroyed",
            "destroy",
            "terminated",
            "termination",
            "wiped",
        ],
        &["delete", "remove", "terminate"],
    ),
    (
        &["read", "retrieved", "retrieve", "fetched", "fetch", "downloaded", "download", "viewed", "accessed"],
        &["get", "describe"],
    ),
    (&["searched", "search", "queried", "query", "looked"], &["lookup", "search"]),
    (&["listed", "enumerated", "enumerate", "discovered"], &["list", "describe"]),
    (&["stopped", "stop", "disabled", "disable"], &["stop", "disable"]),
    (&["enabled", "enable", "resumed"], &["enable", "start"]),
    (&["attached", "attach"], &["attach", "put"]),
    (&["overwritten", "overwrote", "overwrite", "replaced", "replace"], &["update", "put"]),
    (&["opened", "open", "opening", "exposed", "expose", "allowed", "allow", "permitted", "permit"], &["authorize"]),
    // Access is granted by putting or attaching a policy, adding a permission, authorising a rule.
    (&["granted", "grant", "granting", "gave", "give", "giving"], &["put", "attach", "add", "authorize"]),
    // Cloud APIs share an image, snapshot or database by modifying its permission attribute.
    (&["shared", "share", "sharing"], &["modify", "share"]),
];

/// `terms` followed by the API verbs of the everyday verbs among them (each once, none already in
/// `terms`).
pub fn expand_verbs(terms: &[String]) -> Vec<String> {
    let mut out = terms.to_vec();
    for term in terms {
        for (everyday, api) in VERBS {
            if everyday.contains(&term.as_str()) {
                for verb in *api {
                    if !out.iter().any(|known| known == verb) {
                        out.push((*verb).to_owned());
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn everyday_verbs_bring_their_api_verbs() {
        assert_eq!(expand_verbs(&words("ec2 instances launched")), words("ec2 instances launched run start create"));
        assert_eq!(expand_verbs(&words("trust policy modified")), words("trust policy modified update modify put set"));
    }

    #[test]
    fn other_words_and_repeats_are_left_alone() {
        assert_eq!(expand_verbs(&words("root console")), words("root console"));
        assert_eq!(expand_verbs(&words("start launched")), words("start launched run create"));
    }
}
