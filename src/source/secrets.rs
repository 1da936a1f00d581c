//! Private keys in text: finding them and keeping them out of everything meshc
//! shows or writes.
//!
//! Certificates are public (Envoy needs the CA bundles a resource carries inline);
//! private keys are not. A key has exactly two legitimate places in the input: a
//! Mesh's provided CA (`conf.key`, read by `meshc certs` only) and a
//! MeshExternalService's `clientKey` (written by `meshc certs` to a 0600 file
//! that the Envoy config names). A key anywhere else (a MeshProxyPatch that puts
//! one into an Envoy cluster, a label, ...) would be copied into the compiled
//! output, which is deployed, diffed and often committed: that is MESH1006.
//! Whatever gets through is redacted wherever text is shown ([`redact_text`]).

use std::borrow::Cow;

use serde_json::Value;

/// What a redacted key is replaced with.
pub const REDACTED: &str = "<redacted private key>";

/// The base64 encoding of `-----BEGIN` (at offset 0): a PEM file in `inline` or
/// Envoy's `inline_bytes`.
const B64_BEGIN: &str = "LS0tLS1CRUdJTi";

/// Whether `s` holds a private key: a PEM private key block (`-----BEGIN ...
/// PRIVATE KEY-----`, any type, also with escaped newlines), or base64 of one.
pub fn holds_private_key(s: &str) -> bool {
    !matches!(redact_text(s), Cow::Borrowed(_))
}

/// `s` with every PEM private key block and every base64-encoded one replaced by
/// [`REDACTED`]. A block without its END line is redacted to the end of `s`.
pub fn redact_text(s: &str) -> Cow<'_, str> {
    if !s.contains("PRIVATE KEY") && !s.contains(B64_BEGIN) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut changed = false;
    while let Some((start, end)) = next_key(rest) {
        out.push_str(&rest[..start]);
        out.push_str(REDACTED);
        rest = &rest[end..];
        changed = true;
    }
    if !changed {
        return Cow::Borrowed(s);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `s` with every character of every private key replaced by `*`, newlines
/// kept: line and column positions stay valid (source snippets of findings).
pub fn mask_text(s: &str) -> Cow<'_, str> {
    let Cow::Owned(_) = redact_text(s) else { return Cow::Borrowed(s) };
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some((start, end)) = next_key(rest) {
        out.push_str(&rest[..start]);
        out.extend(rest[start..end].chars().map(|c| if c == '\n' { c } else { '*' }));
        rest = &rest[end..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The byte range of the first private key in `s`, PEM or base64.
fn next_key(s: &str) -> Option<(usize, usize)> {
    let pem = pem_key(s);
    let b64 = base64_key(s);
    match (pem, b64) {
        (Some(p), Some(b)) => Some(if p.0 <= b.0 { p } else { b }),
        (p, b) => p.or(b),
    }
}

/// `-----BEGIN <...>PRIVATE KEY-----` through the matching `-----END <...>PRIVATE KEY-----`.
fn pem_key(s: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = s[from..].find("PRIVATE KEY-----") {
        let marker = from + i;
        let line_start = s[..marker].rfind("-----").filter(|&b| s[b..marker].starts_with("-----BEGIN"));
        let after = marker + "PRIVATE KEY-----".len();
        if let Some(start) = line_start {
            let end = s[after..]
                .find("-----END")
                .and_then(|e| {
                    let e = after + e;
                    s[e..].find("PRIVATE KEY-----").map(|k| e + k + "PRIVATE KEY-----".len())
                })
                .unwrap_or(s.len());
            return Some((start, end));
        }
        from = after;
    }
    None
}

/// A run of base64 characters starting with `-----BEGIN` encoded, whose decoding
/// holds a PEM private key.
fn base64_key(s: &str) -> Option<(usize, usize)> {
    let mut from = 0;
    while let Some(i) = s[from..].find(B64_BEGIN) {
        let start = from + i;
        let end = base64_run_end(s, start);
        let token: String = s[start..end].chars().filter(|c| !c.is_whitespace()).collect();
        let token = token.as_str();
        let decoded = crate::certs::decode_base64(token)
            .or_else(|| crate::certs::decode_base64(&token[..token.len() / 4 * 4]))
            .unwrap_or_default();
        if pem_key(&String::from_utf8_lossy(&decoded)).is_some() {
            return Some((start, end));
        }
        from = start + B64_BEGIN.len();
    }
    None
}

/// The end of the base64 run starting at `start`, across line breaks followed by
/// indentation (a key wrapped in a YAML block scalar), not past trailing spaces.
fn base64_run_end(s: &str, start: usize) -> usize {
    let b = s.as_bytes();
    let is_b64 = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=');
    let (mut i, mut end) = (start, start);
    while i < b.len() {
        if is_b64(b[i]) {
            i += 1;
            end = i;
        } else if b[i] == b'\r' || b[i] == b'\n' {
            let mut j = i;
            while j < b.len() && matches!(b[j], b'\r' | b'\n' | b' ' | b'\t') {
                j += 1;
            }
            if j < b.len() && is_b64(b[j]) && j > i + 1 {
                i = j;
            } else {
                break;
            }
        } else {
            break;
        }
    }
    end
}

/// Redact every string (and key) of `value` in place; true when something was redacted.
pub fn redact_value(value: &mut Value) -> bool {
    match value {
        Value::String(s) => match redact_text(s) {
            Cow::Borrowed(_) => false,
            Cow::Owned(r) => {
                *s = r;
                true
            }
        },
        Value::Array(items) => items.iter_mut().fold(false, |acc, v| redact_value(v) | acc),
        Value::Object(map) => {
            let mut changed = false;
            if map.keys().any(|k| holds_private_key(k)) {
                let old = std::mem::take(map);
                for (k, v) in old {
                    map.insert(redact_text(&k).into_owned(), v);
                }
                changed = true;
            }
            map.values_mut().fold(changed, |acc, v| redact_value(v) | acc)
        }
        _ => false,
    }
}

/// JSON pointers of the strings in a document that hold a private key outside
/// the two places keys belong ([`module docs`](self)).
pub fn misplaced_keys(doc: &Value) -> Vec<String> {
    let kind = doc.get("type").or_else(|| doc.get("kind")).and_then(Value::as_str).unwrap_or_default();
    let mut out = Vec::new();
    walk(doc, &mut String::new(), &mut |pointer, s| {
        if holds_private_key(s) && !allowed(kind, pointer) {
            out.push(pointer.to_string());
        }
    });
    out
}

/// A Mesh's CA backend `conf.key`, a MeshExternalService's `clientKey`.
fn allowed(kind: &str, pointer: &str) -> bool {
    match kind {
        "Mesh" => pointer.contains("/conf/key/"),
        "MeshExternalService" => pointer.contains("/clientKey/"),
        _ => false,
    }
}

fn walk(v: &Value, pointer: &mut String, f: &mut dyn FnMut(&str, &str)) {
    let len = pointer.len();
    match v {
        Value::String(s) => f(pointer, s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                pointer.push_str(&format!("/{i}"));
                walk(item, pointer, f);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                pointer.push('/');
                pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                walk(item, pointer, f);
                pointer.truncate(len);
            }
        }
        _ => {}
    }
}

/// Replace the panic hook with one that prints the panic message (which may
/// quote input) redacted and printable, with its location: an internal error
/// (MESH9001) must not echo a key or a terminal escape from the input.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_string());
        let at = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
        eprintln!("{}", panic_text(&message, at.as_deref()));
    }));
}

/// What the panic hook prints.
fn panic_text(message: &str, at: Option<&str>) -> String {
    let message = crate::findings::render::printable(&redact_text(message));
    match at {
        Some(at) => format!("meshc panicked at {at}:\n{message}"),
        None => format!("meshc panicked:\n{message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIBc2\nAwEHoUQDQgAE\n-----END EC PRIVATE KEY-----\n";
    const CERT: &str = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmg\n-----END CERTIFICATE-----\n";

    #[test]
    fn base64_wrapped_over_lines_is_masked_whole() {
        let encoded = b64(KEY);
        let (a, b) = encoded.split_at(encoded.len() / 2);
        let text = format!("inline: |\n  {a}\n  {b}\nnext: 1\n");
        let masked = mask_text(&text);
        assert!(!masked.contains(&a[20..]) && !masked.contains(&b[4..]), "{masked}");
        assert!(masked.ends_with("\nnext: 1\n"), "{masked}");
        assert_eq!(masked.lines().count(), text.lines().count());
    }

    fn b64(s: &str) -> String {
        const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for c in s.as_bytes().chunks(3) {
            let n = (c[0] as u32) << 16 | (*c.get(1).unwrap_or(&0) as u32) << 8 | *c.get(2).unwrap_or(&0) as u32;
            for i in 0..4 {
                out.push(if i <= c.len() { T[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
            }
        }
        out
    }

    #[test]
    fn pem_keys_are_redacted_certificates_kept() {
        let text = format!("a: 1\n{CERT}{KEY}b: 2\n");
        let r = redact_text(&text);
        assert_eq!(r, format!("a: 1\n{CERT}{REDACTED}\nb: 2\n"));
        // Escaped newlines (a JSON or YAML double-quoted string), PKCS#8, no END.
        let escaped = serde_json::to_string(&KEY.replace("EC ", "")).unwrap();
        assert!(!redact_text(&escaped).contains("MHcC"), "{escaped}");
        assert_eq!(redact_text("x -----BEGIN RSA PRIVATE KEY-----\nMIIE"), format!("x {REDACTED}"));
        assert!(matches!(redact_text(CERT), Cow::Borrowed(_)));
        assert!(!holds_private_key("PRIVATE KEY----- without a begin"));
    }

    #[test]
    fn masking_keeps_lines_and_columns() {
        let text = format!("a: |\n{KEY}b: 2\n");
        let masked = mask_text(&text);
        assert_eq!(masked.lines().count(), text.lines().count());
        assert_eq!(masked.chars().count(), text.chars().count());
        assert!(!masked.contains("MHcC") && masked.ends_with("b: 2\n"), "{masked}");
    }

    #[test]
    fn panic_messages_are_redacted_and_printable() {
        let text = panic_text(&format!("bad value {KEY:?} \u{1b}[31m"), Some("src/x.rs:1:2"));
        assert!(text.starts_with("meshc panicked at src/x.rs:1:2:\n"), "{text}");
        assert!(!text.contains("MHcC") && !text.contains('\u{1b}'), "{text}");
        assert!(text.contains(REDACTED), "{text}");
    }

    #[test]
    fn base64_keys_are_redacted() {
        let text = format!("inline_bytes: {}\ncert: {}\n", b64(KEY), b64(CERT));
        let r = redact_text(&text);
        assert_eq!(r, format!("inline_bytes: {REDACTED}\ncert: {}\n", b64(CERT)));
    }

    #[test]
    fn values_and_misplaced_keys() {
        let mut v = json!({"type": "MeshProxyPatch", "spec": {"default": {"appendModifications": [
            {"cluster": {"value": format!("privateKey: {{inlineString: {KEY:?}}}")}}]}}});
        assert_eq!(misplaced_keys(&v), ["/spec/default/appendModifications/0/cluster/value"]);
        assert!(redact_value(&mut v));
        assert!(!v.to_string().contains("MHcC"));
        let mes = json!({"type": "MeshExternalService", "spec": {"tls": {"verification": {
            "clientKey": {"inlineString": KEY}, "clientCert": {"inlineString": CERT}}}}});
        assert!(misplaced_keys(&mes).is_empty());
        let mesh = json!({"type": "Mesh", "mtls": {"backends": [{"conf": {"key": {"inline": b64(KEY)}}}]}});
        assert!(misplaced_keys(&mesh).is_empty());
        let label = json!({"type": "Mesh", "labels": {"x": b64(KEY)}});
        assert_eq!(misplaced_keys(&label), ["/labels/x"]);
    }
}
