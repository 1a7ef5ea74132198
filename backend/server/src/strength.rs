//! How strong the bootstrap secrets must be: the first admin key (`VERITRAIL_BOOTSTRAP_KEY`) and
//! the first admin's password (`auth.bootstrap_password`, `VERITRAIL_BOOTSTRAP_PASSWORD`). Both
//! open everything in tenant `default`, and a weak or published one is found by whoever tries it,
//! so the server refuses to start with one.
//!
//! Guessability is judged by `zxcvbn` (words, names, sequences, repeats, keyboard walks, dates).
//! A key must hold 128 bits: either the form the server generates, `vt_` and at least 32 hex
//! digits, that is not made of a pattern; or, in any other form, 128 bits by [`estimated_bits`].
//! A password must pass the usual length check and need at least 10^12 guesses by zxcvbn
//! (about 40 bits; zxcvbn's best score starts at 10^10).

use zxcvbn::matching::patterns::MatchPattern;

/// The example key of `docker-compose.yml` up to its first release: published, so never a key.
pub const COMPOSE_PLACEHOLDER_KEY: &str = "change-me-to-a-long-random-secret";

/// Bits a key must hold.
const KEY_BITS: f64 = 128.0;
/// A key of the generated form (`vt_` + hex) with fewer bits than this by [`estimated_bits`] is
/// made of a pattern (`vt_000…`, `vt_0123…`, a repeated word). Random 32-digit keys score at least
/// ~85 here (hex digits form short words and dates by chance), so the bar leaves a wide margin.
const PATTERNED_HEX_BITS: f64 = 64.0;
/// Fewest hex digits after `vt_` for the generated form: 128 bits.
const MIN_HEX_DIGITS: usize = 32;
/// Fewest guesses (log10) zxcvbn must estimate for a bootstrap password.
const PASSWORD_GUESSES_LOG10: f64 = 12.0;

/// Refuses a bootstrap key that is the published example or too weak to be an admin key.
pub fn check_bootstrap_key(key: &str) -> Result<(), String> {
    const HOW: &str = "use `vt_` and 48 random hex digits, e.g. `vt_$(openssl rand -hex 24)`, or leave it unset \
                       to have a key generated and printed once";
    if key.eq_ignore_ascii_case(COMPOSE_PLACEHOLDER_KEY) {
        return Err(format!(
            "VERITRAIL_BOOTSTRAP_KEY is the example value of docker-compose.yml, which anyone can read: {HOW} \
             (if a server already started with it, revoke that key)"
        ));
    }
    let bits = estimated_bits(key.strip_prefix("vt_").unwrap_or(key));
    let generated_form = key
        .strip_prefix("vt_")
        .is_some_and(|digits| digits.len() >= MIN_HEX_DIGITS && digits.bytes().all(|byte| byte.is_ascii_hexdigit()));
    let strong = if generated_form { bits >= PATTERNED_HEX_BITS } else { bits >= KEY_BITS };
    if strong {
        Ok(())
    } else {
        Err(format!(
            "VERITRAIL_BOOTSTRAP_KEY is too easy to guess (about {bits:.0} bits; an admin key needs {KEY_BITS:.0} \
             random bits): {HOW}"
        ))
    }
}

/// Refuses a bootstrap password that is short or that zxcvbn finds guessable.
pub fn check_bootstrap_password(password: &str) -> Result<(), String> {
    const WHAT: &str = "auth.bootstrap_password (VERITRAIL_BOOTSTRAP_PASSWORD)";
    const HOW: &str =
        "use a long passphrase of unrelated words, or leave it unset to have one generated and printed once";
    veritrail_core::users::check_password(password).map_err(|error| format!("{WHAT}: {error}"))?;
    if password.eq_ignore_ascii_case(COMPOSE_PLACEHOLDER_KEY) {
        return Err(format!("{WHAT} is the example value of docker-compose.yml, which anyone can read: {HOW}"));
    }
    let entropy = zxcvbn::zxcvbn(password, &["veritrail", "admin", "default", "password"]);
    if entropy.guesses_log10() >= PASSWORD_GUESSES_LOG10 {
        return Ok(());
    }
    let why = entropy
        .feedback()
        .and_then(|feedback| feedback.warning())
        .map_or_else(String::new, |warning| format!(" ({warning})"));
    Err(format!("{WHAT} is too easy to guess{why}: {HOW}"))
}

/// Bits an attacker who knows the usual patterns needs to guess `secret`: each character counts
/// log2 of its alphabet (the character classes `secret` uses; 16 for hex), except where zxcvbn
/// recognises a pattern, which counts as zxcvbn's guesses for it; separators count 2 bits.
///
/// zxcvbn's own total saturates at 2^64 (a `u64` of guesses), beyond which it stops looking for
/// patterns, so it is asked about one piece of at most 16 characters at a time.
pub fn estimated_bits(secret: &str) -> f64 {
    const PIECE_CHARS: usize = 16;
    const SEPARATOR_BITS: f64 = 2.0;
    let per_char = alphabet_size(secret).log2();
    let mut bits = 0.0;
    for token in secret.split(|c: char| !c.is_ascii_alphanumeric()) {
        let chars: Vec<char> = token.chars().collect();
        for piece in chars.chunks(PIECE_CHARS) {
            let piece: String = piece.iter().collect();
            for found in zxcvbn::zxcvbn(&piece, &[]).sequence() {
                let flat = found.token.chars().count() as f64 * per_char;
                bits += match found.pattern {
                    MatchPattern::BruteForce => flat,
                    _ => (found.guesses.unwrap_or(1) as f64).log2().min(flat),
                };
            }
        }
    }
    bits + SEPARATOR_BITS * secret.chars().filter(|c| !c.is_ascii_alphanumeric()).count() as f64
}

/// The size of the alphabet `secret` is drawn from, judged by the character classes it uses.
fn alphabet_size(secret: &str) -> f64 {
    let hex =
        |letters: std::ops::RangeInclusive<char>| secret.chars().all(|c| c.is_ascii_digit() || letters.contains(&c));
    if hex('a'..='f') || hex('A'..='F') {
        return 16.0;
    }
    let uses = |class: fn(&char) -> bool, size: f64| if secret.chars().any(|c| class(&c)) { size } else { 0.0 };
    uses(char::is_ascii_lowercase, 26.0)
        + uses(char::is_ascii_uppercase, 26.0)
        + uses(char::is_ascii_digit, 10.0)
        + uses(|c| !c.is_ascii_alphanumeric(), 33.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random_hex(bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        getrandom::fill(&mut buf).expect("randomness");
        hex::encode(buf)
    }

    #[test]
    fn keys_need_128_random_bits() {
        for weak in [
            "change-me-to-a-long-random-secret",
            "CHANGE-ME-TO-A-LONG-RANDOM-SECRET",
            "vt_test_admin_key_0123456789abcdef",
            "my-company-veritrail-admin-key-2024",
            "vt_00000000000000000000000000000000",
            "vt_0123456789abcdef0123456789abcdef",
            "vt_deadbeefdeadbeefdeadbeefdeadbeef",
            "vt_0123456789abcdef",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "hunter2",
        ] {
            let error = check_bootstrap_key(weak).expect_err(weak);
            assert!(error.starts_with("VERITRAIL_BOOTSTRAP_KEY") && error.contains("openssl rand"), "{error}");
        }
        assert!(check_bootstrap_key(COMPOSE_PLACEHOLDER_KEY).expect_err("placeholder").contains("docker-compose.yml"));
        // Random keys of the generated form, and long random strings of any form, pass.
        for _ in 0..200 {
            for key in [format!("vt_{}", random_hex(16)), format!("vt_{}", random_hex(24)), random_hex(24)] {
                check_bootstrap_key(&key).unwrap_or_else(|error| panic!("{key}: {error}"));
            }
        }
        check_bootstrap_key("Xq7#pL9$mW2@vR5!kT8&nB4%hJ6*").expect("28 random printable characters");
    }

    #[test]
    fn passwords_must_not_be_guessable() {
        for weak in [
            "short",
            "password1234",
            "veritrail-admin-2024",
            "letmein-veritrail",
            "change-me-to-a-long-random-secret",
            "aaaaaaaaaaaaaaaa",
            "qwertyuiopasdfgh",
        ] {
            let error = check_bootstrap_password(weak).expect_err(weak);
            assert!(error.starts_with("auth.bootstrap_password (VERITRAIL_BOOTSTRAP_PASSWORD)"), "{error}");
        }
        for strong in ["correct horse battery staple", "plinth-Quokka-74-marzipan", &random_hex(12)] {
            check_bootstrap_password(strong).unwrap_or_else(|error| panic!("{strong}: {error}"));
        }
    }
}
