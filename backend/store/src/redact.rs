//! Database URLs as logs, errors and the printed configuration show them: without the secrets a
//! URL can carry, but with the scheme, host, port, database and harmless options that say which
//! database it is.

use url::{Position, Url};

/// What a hidden value is shown as.
const REDACTED: &str = "[redacted]";

/// Query parameters whose value is hidden: any name containing one of these (ignoring case), so
/// `password`, `sslpassword`, `passfile`, `token`, `access_token`, `key`, `api_key`, `secret`,
/// `client_secret`, `auth` and their relatives are all covered. Hiding a harmless value too
/// (`sslkey`, a file name) costs little; showing a secret cannot be undone.
const SECRET_PARAMETERS: &[&str] = &["pass", "pwd", "secret", "token", "key", "auth", "credential", "signature"];

/// Hides the password of `user:password@` and the values of query parameters that name a
/// secret (`?password=`, `token=`, `key=`, `secret=`, ...) in a URL of any scheme. A URL with
/// nothing to hide is returned unchanged; one the `url` crate cannot parse has its credentials
/// and its whole query hidden.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(url) => redact_parsed(raw, &url),
        Err(_) => redact_unparsed(raw),
    }
}

fn redact_parsed(raw: &str, url: &Url) -> String {
    let query = url.query().map(redact_query);
    let query_changed = query.as_ref().is_some_and(|(_, changed)| *changed);
    if url.password().is_none() && !query_changed {
        return raw.to_owned();
    }
    let mut shown = String::with_capacity(raw.len());
    match url.password() {
        Some(_) => {
            shown.push_str(&url[..Position::BeforePassword]);
            shown.push_str(REDACTED);
            shown.push_str(&url[Position::AfterPassword..Position::AfterPath]);
        }
        None => shown.push_str(&url[..Position::AfterPath]),
    }
    if let Some((query, _)) = query {
        shown.push('?');
        shown.push_str(&query);
    }
    if let Some(fragment) = url.fragment() {
        shown.push('#');
        shown.push_str(fragment);
    }
    shown
}

/// The query with secret values hidden (names and other values as written), and whether any was.
fn redact_query(query: &str) -> (String, bool) {
    let mut changed = false;
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decoded: String = url::form_urlencoded::parse(name.as_bytes()).map(|(name, _)| name).collect();
            if !value.is_empty() && is_secret_parameter(&decoded) {
                changed = true;
                format!("{name}={REDACTED}")
            } else {
                pair.to_owned()
            }
        })
        .collect();
    (pairs.join("&"), changed)
}

fn is_secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMETERS.iter().any(|secret| name.contains(secret))
}

/// Text that is not a URL the `url` crate accepts: hides what follows `:` in the part before
/// the last `@` of the authority, and the whole query.
fn redact_unparsed(raw: &str) -> String {
    let (before_query, query) = match raw.split_once('?') {
        Some((before, _)) => (before, Some(REDACTED)),
        None => (raw, None),
    };
    let without_credentials = match before_query.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((credentials, host)) => match credentials.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:{REDACTED}@{host}"),
                None => before_query.to_owned(),
            },
            None => before_query.to_owned(),
        },
        None => before_query.to_owned(),
    };
    match query {
        Some(query) => format!("{without_credentials}?{query}"),
        None => without_credentials,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hides_passwords_in_the_authority() {
        assert_eq!(redact_url("postgres://u:secret@h:5432/db"), "postgres://u:[redacted]@h:5432/db");
        assert_eq!(redact_url("postgresql://app:p%40ss@db.internal/vt"), "postgresql://app:[redacted]@db.internal/vt");
        assert_eq!(
            redact_url("https://user:pw@example.com/path?x=1#top"),
            "https://user:[redacted]@example.com/path?x=1#top"
        );
        assert_eq!(redact_url("redis://:only-a-password@cache:6379/0"), "redis://:[redacted]@cache:6379/0");
    }

    #[test]
    fn hides_secret_query_parameters_of_any_scheme() {
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require&password=hunter2&application_name=vt"),
            "postgres://u@h/db?sslmode=require&password=[redacted]&application_name=vt"
        );
        assert_eq!(
            redact_url("postgres://h/db?user=u&PASSWORD=x&sslpassword=y&passfile=%2Fhome%2F.pgpass"),
            "postgres://h/db?user=u&PASSWORD=[redacted]&sslpassword=[redacted]&passfile=[redacted]"
        );
        assert_eq!(
            redact_url("https://api.example.com/v1?token=abc&api_key=def&client_secret=ghi&Key=jkl&page=2"),
            "https://api.example.com/v1?token=[redacted]&api_key=[redacted]&client_secret=[redacted]&Key=[redacted]&page=2"
        );
        assert_eq!(
            redact_url("sqlite://data/v.db?access%5Ftoken=t&mode=rwc"),
            "sqlite://data/v.db?access%5Ftoken=[redacted]&mode=rwc"
        );
        assert_eq!(redact_url("sqlite:///tmp/v.db?mode=ro"), "sqlite:///tmp/v.db?mode=ro");
    }

    #[test]
    fn leaves_urls_without_secrets_as_written() {
        for url in [
            "postgres://u@h/db",
            "sqlite://data/v.db",
            "sqlite::memory:",
            "sqlite:///tmp/a b/v.db",
            "postgres://h/db?password=",
        ] {
            assert_eq!(redact_url(url), url);
        }
    }

    #[test]
    fn hides_credentials_and_query_of_what_is_not_a_url() {
        assert_eq!(redact_url("postgres://u:pw@[bad/db?password=x"), "postgres://u:[redacted]@[bad/db?[redacted]");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
