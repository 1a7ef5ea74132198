//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! The bytes this module produces are what every event hash covers, so the output for a given
//! `serde_json::Value` must never change. The golden vectors in `tests/golden.rs` pin it.
//!
//! Rules implemented (RFC 8785 §3.2):
//! - no insignificant whitespace;
//! - object members sorted by their names compared as UTF-16 code units;
//! - strings escaped minimally: `"` `\` and control characters below U+0020 only, with the short
//!   forms `\b \t \n \f \r` where JSON has them and `\u00xx` (lowercase hex) otherwise;
//! - numbers serialised as ECMAScript's `Number.prototype.toString` does (via `ryu-js`).
//!
//! Numbers are IEEE-754 doubles in JCS. Integers that a double cannot hold exactly would be
//! silently rounded, so callers must reject them before canonicalising (see
//! [`crate::validate`]); [`is_exact_number`] tells which ones are safe.

use serde_json::{Map, Number, Value};

/// The largest integer magnitude an IEEE-754 double represents exactly (2^53).
pub const MAX_SAFE_INTEGER: u64 = 9_007_199_254_740_992;

/// Returns the RFC 8785 canonical form of `value`.
pub fn to_canonical_bytes(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    write_value(&mut out, value);
    out
}

/// Returns the RFC 8785 canonical form of `value` as a string.
pub fn to_canonical_string(value: &Value) -> String {
    let bytes = to_canonical_bytes(value);
    // The writer only ever emits UTF-8 taken from valid `str`s and ASCII.
    String::from_utf8(bytes).unwrap_or_default()
}

/// Tells whether a JSON number survives the round trip through an IEEE-754 double unchanged.
pub fn is_exact_number(number: &Number) -> bool {
    if let Some(unsigned) = number.as_u64() {
        return unsigned <= MAX_SAFE_INTEGER;
    }
    if let Some(signed) = number.as_i64() {
        return signed.unsigned_abs() <= MAX_SAFE_INTEGER;
    }
    number.as_f64().is_some_and(f64::is_finite)
}

/// Appends the canonical form of `value` to `out`.
pub fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Number(number) => write_number(out, number),
        Value::String(text) => write_string(out, text),
        Value::Array(items) => {
            out.push(b'[');
            for (idx, item) in items.iter().enumerate() {
                if idx > 0 {
                    out.push(b',');
                }
                write_value(out, item);
            }
            out.push(b']');
        }
        Value::Object(members) => write_object(out, members),
    }
}

/// Appends the canonical form of a JSON object to `out`.
pub fn write_object(out: &mut Vec<u8>, members: &Map<String, Value>) {
    let mut sorted: Vec<(&String, &Value)> = members.iter().collect();
    sorted.sort_by(|(left, _), (right, _)| left.encode_utf16().cmp(right.encode_utf16()));
    out.push(b'{');
    for (idx, (name, member)) in sorted.into_iter().enumerate() {
        if idx > 0 {
            out.push(b',');
        }
        write_string(out, name);
        out.push(b':');
        write_value(out, member);
    }
    out.push(b'}');
}

fn write_number(out: &mut Vec<u8>, number: &Number) {
    // Integers inside the safe range print the same either way; going through the double for
    // everything keeps one code path that matches ECMAScript exactly (e.g. 1e21 and -0).
    let double = number.as_f64().unwrap_or(f64::NAN);
    if double == 0.0 {
        // ECMAScript prints both zeros as "0".
        out.push(b'0');
        return;
    }
    let mut buffer = ryu_js::Buffer::new();
    out.extend_from_slice(buffer.format(double).as_bytes());
}

/// Appends a JSON string with RFC 8785 escaping to `out`.
pub fn write_string(out: &mut Vec<u8>, text: &str) {
    out.push(b'"');
    let mut start = 0;
    for (idx, byte) in text.bytes().enumerate() {
        let escape: Option<&[u8]> = match byte {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            b'\t' => Some(b"\\t"),
            b'\n' => Some(b"\\n"),
            0x0c => Some(b"\\f"),
            b'\r' => Some(b"\\r"),
            _ => None,
        };
        if escape.is_none() && byte >= 0x20 {
            continue;
        }
        out.extend_from_slice(&text.as_bytes()[start..idx]);
        match escape {
            Some(short) => out.extend_from_slice(short),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(byte >> 4)]);
                out.push(HEX[usize::from(byte & 0x0f)]);
            }
        }
        start = idx + 1;
    }
    out.extend_from_slice(&text.as_bytes()[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn canon(value: Value) -> String {
        to_canonical_string(&value)
    }

    #[test]
    fn sorts_members_by_utf16_code_units() {
        // RFC 8785 §3.2.3 sorting example: U+20AC sorts before U+1F600 in UTF-16 (0x20AC < 0xD83D)
        // while "\r" (0x0D) and "1" come first.
        let value = json!({"\u{20ac}": "Euro", "\r": "cr", "\u{1f600}": "smiley", "1": "one", "\u{80}": "ctl", "\u{fb33}": "hebrew", "\u{f6}": "o"});
        assert_eq!(
            canon(value),
            "{\"\\r\":\"cr\",\"1\":\"one\",\"\u{80}\":\"ctl\",\"\u{f6}\":\"o\",\"\u{20ac}\":\"Euro\",\"\u{1f600}\":\"smiley\",\"\u{fb33}\":\"hebrew\"}"
        );
    }

    #[test]
    fn numbers_follow_ecmascript() {
        let value = json!([0.0, -0.0, 1.0, 1e21, 1e-7, 333333333.3333333, 4.5, 2e-3, 1e30, -1.5]);
        assert_eq!(canon(value), "[0,0,1,1e+21,1e-7,333333333.3333333,4.5,0.002,1e+30,-1.5]");
    }

    #[test]
    fn escapes_only_what_json_requires() {
        let value = json!("a\"b\\c\u{1}\u{1f}\t\n/\u{7f}é");
        assert_eq!(canon(value), "\"a\\\"b\\\\c\\u0001\\u001f\\t\\n/\u{7f}é\"");
    }

    #[test]
    fn nested_structures_have_no_whitespace() {
        let value = json!({"b": [1, {"d": null, "c": true}], "a": {}});
        assert_eq!(canon(value), "{\"a\":{},\"b\":[1,{\"c\":true,\"d\":null}]}");
    }

    #[test]
    fn exactness_check_rejects_big_integers() {
        let safe: Number = serde_json::from_str("9007199254740992").expect("number");
        let unsafe_big: Number = serde_json::from_str("9007199254740993").expect("number");
        let negative: Number = serde_json::from_str("-9007199254740993").expect("number");
        assert!(is_exact_number(&safe));
        assert!(!is_exact_number(&unsafe_big));
        assert!(!is_exact_number(&negative));
    }
}
