//! Escaping and length limits shared by the renderers.

/// What ends a shortened text.
pub const ELLIPSIS: char = '…';

/// `text` cut to at most `max` characters, ending in an ellipsis when something was cut.
pub fn truncate(text: &str, max: usize) -> String {
    truncate_mapped(text, max, |c, out| out.push(c))
}

/// Maps each character with `map` and keeps the result within `max` characters.
///
/// Escaping before cutting could split an entity (`&am…`); mapping character by character and
/// stopping before a piece that no longer fits keeps every escape whole.
pub fn truncate_mapped(text: &str, max: usize, map: impl Fn(char, &mut String)) -> String {
    let mut out = String::with_capacity(text.len().min(max * 2));
    let mut used = 0;
    let mut piece = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        piece.clear();
        map(c, &mut piece);
        let width = piece.chars().count();
        // Reserve one character for the ellipsis unless this is the last piece.
        let room = if chars.peek().is_some() { max.saturating_sub(1) } else { max };
        if used + width > room {
            if max > 0 {
                out.push(ELLIPSIS);
            }
            return out;
        }
        out.push_str(&piece);
        used += width;
    }
    out
}

/// Slack `mrkdwn` control characters, escaped as Slack documents.
pub fn slack_escape_char(c: char, out: &mut String) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        _ => out.push(c),
    }
}

/// Escapes text for Slack `mrkdwn` and keeps it within `max` characters.
pub fn slack_mrkdwn(text: &str, max: usize) -> String {
    truncate_mapped(text, max, slack_escape_char)
}

/// Discord markdown, escaped with backslashes: alert text cannot form masked links
/// (`[text](url)`), headings, quotes, spoilers or formatting. Discord drops the backslash before
/// any punctuation when it renders, so the text reads as written.
pub fn discord_escape_char(c: char, out: &mut String) {
    if matches!(c, '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '[' | ']' | '#') {
        out.push('\\');
    }
    out.push(c);
}

/// Escapes text for Discord markdown and keeps it within `max` characters.
pub fn discord_markdown(text: &str, max: usize) -> String {
    truncate_mapped(text, max, discord_escape_char)
}

/// Teams renders `[text](url)` in card text as a link; a zero-width space between `]` and `(`
/// keeps the text looking the same but no longer a link.
pub fn teams_text(text: &str, max: usize) -> String {
    truncate(&text.replace("](", "]\u{200B}("), max)
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Text on one line: line breaks and other control characters become spaces.
pub fn single_line(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect()
}

/// The link if it is an absolute http(s) URL, in the form the url crate serialises it to.
///
/// Links come from configuration, but a renderer must never emit `javascript:` or a relative
/// reference into a message, so anything else is dropped.
pub fn http_link(link: Option<&str>) -> Option<String> {
    let parsed = url::Url::parse(link?).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_counts_characters_and_marks_the_cut() {
        assert_eq!(truncate("hello", 5), "hello");
        assert_eq!(truncate("hello!", 5), "hell…");
        assert_eq!(truncate("ééééé", 3), "éé…");
        assert_eq!(truncate("", 3), "");
        assert_eq!(truncate("abc", 0), "");
    }

    #[test]
    fn escaping_never_splits_an_entity() {
        assert_eq!(slack_mrkdwn("a<b>&c", 100), "a&lt;b&gt;&amp;c");
        // "a&lt;" is 5 characters; the next entity does not fit before the ellipsis.
        assert_eq!(slack_mrkdwn("a<<<", 8), "a&lt;…");
        assert!(slack_mrkdwn("<<<<<<<<<<", 12).chars().count() <= 12);
    }

    #[test]
    fn only_http_links_survive() {
        assert_eq!(http_link(Some("https://x.example/e?id=1")).as_deref(), Some("https://x.example/e?id=1"));
        assert_eq!(http_link(Some("javascript:alert(1)")), None);
        assert_eq!(http_link(Some("/relative")), None);
        assert_eq!(http_link(None), None);
    }

    #[test]
    fn discord_and_teams_text_cannot_form_links() {
        assert_eq!(
            discord_markdown("[bank](https://evil) **x** @everyone", 100),
            "\\[bank\\](https://evil) \\*\\*x\\*\\* @everyone"
        );
        assert!(discord_markdown("[[[[", 5).chars().count() <= 5);
        assert_eq!(teams_text("[bank](https://evil)", 100), "[bank]\u{200B}(https://evil)");
    }

    #[test]
    fn html_escape_covers_attribute_quotes() {
        assert_eq!(html_escape(r#"<a href="x">'&"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;");
    }
}
