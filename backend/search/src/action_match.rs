//! How much of an event's action the question names.
//!
//! Most questions about an audit log ask whether something was *done* ("EC2 instances launched",
//! "new IAM users created"), and the action is the field that says what was done. Full text and
//! embeddings see the action as a few words among the resource, the user agent and the request
//! parameters, so "launch" in `DescribeLaunchTemplates` or "parameter" in `PutParameter` can
//! outrank the operation that was asked about. Hybrid search therefore adds, to each candidate's
//! fused score, the share of its operation's words that the question (with its verbs expanded,
//! [`crate::expand`]) names, when its verb is among them: `RunInstances` for "instances
//! launched" is fully named ("run", "instances"), `DescribeLaunchTemplates` not at all. It is a field weight in the spirit of BM25F,
//! applied to the few candidates already found, so it can reorder them but never finds anything.

use std::collections::HashSet;

use veritrail_core::render::split_camel_case;

/// The question's words, reduced to [`stem`]s.
#[derive(Debug, Clone, Default)]
pub struct ActionMatcher {
    stems: HashSet<String>,
}

impl ActionMatcher {
    /// A matcher for the question's full-text terms (lower-case words, verbs already expanded).
    pub fn new(terms: &[String]) -> Self {
        Self { stems: terms.iter().map(|term| stem(term)).collect() }
    }

    /// The share (0 to 1) of the words of `action`'s operation that the question names:
    /// "ec2.amazonaws.com:RunInstances" is the words "run instances", "repo.delete" the word
    /// "delete". Services are left out: every action of a service would share them.
    pub fn share(&self, action: &str) -> f64 {
        let words: Vec<String> = split_camel_case(operation(action))
            .split(|c: char| !c.is_alphanumeric())
            .filter(|word| !word.is_empty())
            .map(stem)
            .collect();
        if words.is_empty() {
            return 0.0;
        }
        // The operation's verb ("Describe", "Create") must be named: "snapshot shared" names
        // the object of `DescribeSnapshots` but not what it does.
        if !self.stems.contains(&words[0]) {
            return 0.0;
        }
        let named = words.iter().filter(|word| self.stems.contains(*word)).count();
        named as f64 / words.len() as f64
    }
}

/// "ec2.amazonaws.com:RunInstances" → "RunInstances"; "repo.delete" → "delete".
fn operation(action: &str) -> &str {
    action.rsplit_once(':').or_else(|| action.rsplit_once('.')).map_or(action, |(_, operation)| operation)
}

/// A light English stemmer, the same for question and action words, so that "launched" and
/// "launch", "created" and "create", "policies" and "policy", "logging" and "log" meet. It only
/// has to make the forms of one word agree with each other; it may merge a few unrelated words.
pub fn stem(word: &str) -> String {
    let mut word = word.to_lowercase();
    // Plurals first ("findings" → "finding"), then verb endings ("finding" → "find").
    strip_first(&mut word, &[("ies", "y"), ("es", ""), ("s", "")]);
    if strip_first(&mut word, &[("ied", "y"), ("ing", ""), ("ed", "")]) {
        // "stopped" → "stopp" → "stop", "logging" → "log"; not "called" or "passed".
        let bytes = word.as_bytes();
        let last = bytes.len().wrapping_sub(1);
        if bytes.len() >= 2 && bytes[last] == bytes[last - 1] && !matches!(bytes[last], b'l' | b's' | b'z') {
            word.pop();
        }
    }
    // "create" / "creat(ed)", "delete" / "delet(ed)".
    if word.len() > 3 && word.ends_with('e') {
        word.pop();
    }
    word
}

/// Replaces the first of `suffixes` that `word` ends with, if at least three characters remain
/// and it is not the "s" of a double s ("access"); says whether one was.
fn strip_first(word: &mut String, suffixes: &[(&str, &str)]) -> bool {
    for (suffix, replacement) in suffixes {
        if word.len() >= suffix.len() + 3 && word.ends_with(suffix) && !(*suffix == "s" && word.ends_with("ss")) {
            word.truncate(word.len() - suffix.len());
            word.push_str(replacement);
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(question: &str) -> ActionMatcher {
        ActionMatcher::new(&question.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn forms_of_one_word_share_a_stem() {
        for (left, right) in [
            ("launched", "launch"),
            ("created", "create"),
            ("creating", "creates"),
            ("deleted", "delete"),
            ("policies", "policy"),
            ("logging", "log"),
            ("logs", "log"),
            ("stopped", "stop"),
            ("instances", "instance"),
            ("findings", "finding"),
            ("users", "user"),
            ("modified", "modify"),
            ("shared", "share"),
            ("running", "run"),
        ] {
            assert_eq!(stem(left), stem(right), "{left} / {right}");
        }
        assert_eq!(stem("access"), "access");
        assert_eq!(stem("called"), "call");
        assert_ne!(stem("run"), stem("ruin"));
    }

    #[test]
    fn the_share_of_the_operation_named_counts() {
        let launched = matcher("ec2 instances launched run start create");
        assert_eq!(launched.share("ec2.amazonaws.com:RunInstances"), 1.0);
        assert_eq!(launched.share("ec2.amazonaws.com:DescribeLaunchTemplates"), 0.0, "the verb is not named");
        assert!((launched.share("ec2.amazonaws.com:StartInstanceRefresh") - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(launched.share("iam.amazonaws.com:DeleteUser"), 0.0);
        assert_eq!(matcher("who deleted repos").share("repo.delete"), 1.0);
        assert_eq!(matcher("anything").share(""), 0.0);
        assert_eq!(matcher("ec2 describe").share("ec2.amazonaws.com:DescribeInstances"), 0.5, "service left out");
    }
}
