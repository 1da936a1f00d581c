//! Ports of the Go functions Kuma's validators call: `net.ParseIP`,
//! `net.SplitHostPort`, `net/url`'s parser, and govalidator's `IsDNSName`,
//! `IsURL` and `IsFilePath`.

use std::sync::LazyLock;

use regex::Regex;

/// Go's `net.ParseIP(s) != nil` (govalidator `IsIP`).
pub fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// govalidator's `IsDNSName`, exactly: labels of `[A-Za-z0-9_][A-Za-z0-9_-]{0,62}`
/// (a trailing `-` is accepted), an optional trailing dot, at most 255 characters
/// without the dots, and not an IP address.
pub fn is_dns_name(s: &str) -> bool {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"^([a-zA-Z0-9_][a-zA-Z0-9_-]{0,62})(\.[a-zA-Z0-9_][a-zA-Z0-9_-]{0,62})*[._]?$")
            .expect("valid regex")
    });
    if s.is_empty() || s.replace('.', "").len() > 255 {
        return false;
    }
    !is_ip(s) && RE.is_match(s)
}

/// Go's `net.SplitHostPort`.
pub fn split_host_port(s: &str) -> Option<(&str, &str)> {
    let i = s.rfind(':')?;
    let (host, j, k) = if s.starts_with('[') {
        let end = s.find(']')?;
        if end + 1 != i {
            return None;
        }
        (&s[1..end], 1, end + 1)
    } else {
        let host = &s[..i];
        if host.contains(':') {
            return None;
        }
        (host, 0, 0)
    };
    if s[j..].contains('[') || s[k..].contains(']') {
        return None;
    }
    Some((host, &s[i + 1..]))
}

/// `net.SplitHostPort` succeeds with a non-empty host and a non-empty port.
pub fn is_host_port(s: &str) -> bool {
    split_host_port(s).is_some_and(|(host, port)| !host.is_empty() && !port.is_empty())
}

static WIN_PATH: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^[a-zA-Z]:\\(?:[^\\/:*?"<>|\r\n]+\\)*[^\\/:*?"<>|\r\n]*$"#).expect("valid regex"));

/// `govalidator.IsFilePath`: a Windows path or an absolute Unix path.
pub fn is_go_file_path(s: &str) -> bool {
    if WIN_PATH.is_match(s) {
        return s.len() - 3 <= 32767;
    }
    s.starts_with('/') && !s.contains('\0')
}

/// The parts of a URL as Go's `net/url` splits them.
#[derive(Debug, Default, PartialEq)]
pub struct GoUrl {
    pub scheme: String,
    pub opaque: String,
    pub has_user: bool,
    pub host: String,
    pub path: String,
    pub raw_query: String,
    pub fragment: String,
}

impl GoUrl {
    /// `url.Port()`: the port after the host's last colon, if any.
    pub fn port(&self) -> &str {
        match self.host.rfind(':') {
            Some(i) if valid_optional_port(&self.host[i..]) => &self.host[i + 1..],
            _ => "",
        }
    }
}

/// Go's `url.Parse`.
pub fn go_url_parse(raw: &str) -> Option<GoUrl> {
    let (u, frag) = raw.split_once('#').unwrap_or((raw, ""));
    let mut url = go_parse(u, false)?;
    if !frag.is_empty() {
        url.fragment = go_unescape(frag, false)?;
    }
    Some(url)
}

/// Go's `url.ParseRequestURI`.
pub fn go_url_parse_request_uri(raw: &str) -> Option<GoUrl> {
    go_parse(raw, true)
}

fn go_parse(raw: &str, via_request: bool) -> Option<GoUrl> {
    if raw.bytes().any(|b| b < 0x20 || b == 0x7f) || (raw.is_empty() && via_request) {
        return None;
    }
    let mut url = GoUrl::default();
    if raw == "*" {
        url.path = "*".into();
        return Some(url);
    }
    let (scheme, rest) = go_scheme(raw)?;
    url.scheme = scheme.to_ascii_lowercase();
    let mut rest = rest;
    if rest.ends_with('?') && rest.matches('?').count() == 1 {
        rest = &rest[..rest.len() - 1];
    } else if let Some((r, q)) = rest.split_once('?') {
        rest = r;
        url.raw_query = q.to_string();
    }
    if !rest.starts_with('/') {
        if !url.scheme.is_empty() {
            url.opaque = rest.to_string();
            return Some(url);
        }
        if via_request {
            return None;
        }
        if rest.split('/').next().is_some_and(|seg| seg.contains(':')) {
            return None;
        }
    }
    if (!url.scheme.is_empty() || !via_request && !rest.starts_with("///")) && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, remaining) = match after.find('/') {
            Some(i) => (&after[..i], &after[i..]),
            None => (after, ""),
        };
        let host = match authority.rfind('@') {
            Some(i) => {
                let userinfo = &authority[..i];
                if !valid_userinfo(userinfo) {
                    return None;
                }
                go_unescape(userinfo, false)?;
                url.has_user = true;
                &authority[i + 1..]
            }
            None => authority,
        };
        url.host = go_parse_host(host)?;
        rest = remaining;
    }
    url.path = go_unescape(rest, false)?;
    Some(url)
}

fn go_scheme(raw: &str) -> Option<(&str, &str)> {
    for (i, c) in raw.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return None,
            b':' => return Some((&raw[..i], &raw[i + 1..])),
            _ => return Some(("", raw)),
        }
    }
    Some(("", raw))
}

fn go_parse_host(host: &str) -> Option<String> {
    if host.starts_with('[') {
        let i = host.rfind(']')?;
        if !valid_optional_port(&host[i + 1..]) {
            return None;
        }
    } else if let Some(i) = host.rfind(':')
        && !valid_optional_port(&host[i..])
    {
        return None;
    }
    go_unescape(host, true)
}

fn valid_optional_port(port: &str) -> bool {
    port.is_empty() || port.strip_prefix(':').is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

fn valid_userinfo(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c))
}

/// Go's `unescape`: `%XX` escapes must be well formed; in a host, only the
/// characters Go allows there may appear unescaped.
fn go_unescape(s: &str, host: bool) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = |c: u8| (c as char).to_digit(16);
                let hi = hex(*b.get(i + 1)?)?;
                let lo = hex(*b.get(i + 2)?)?;
                if host && hi < 8 && &s[i..i + 3] != "%25" {
                    return None;
                }
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            c => {
                if host && c < 0x80 && !(c.is_ascii_alphanumeric() || b"!$&'()*+,;=:[]<>\"-_.~".contains(&c)) {
                    return None;
                }
                out.push(c);
                i += 1;
            }
        }
    }
    Some(String::from_utf8_lossy(&out).into_owned())
}

static GO_URL: LazyLock<Regex> = LazyLock::new(|| {
    // govalidator's rxURL, with Go's ASCII `\d` and `\s` spelled out.
    let ip = r"(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:)|fe80:(:[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]{1,}|::(ffff(:0{1,4}){0,1}:){0,1}((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])|([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])\.){3,3}(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9]))";
    let schema = r"((ftp|tcp|udp|wss?|https?)://)";
    let username = r"([^\t\n\f\r ]+(:[^\t\n\f\r ]*)?@)";
    let path = r"((/|\?|#)[^\t\n\f\r ]*)";
    let port = r"(:([0-9]{1,5}))";
    let url_ip = r"([1-9][0-9]?|1[0-9][0-9]|2[01][0-9]|22[0-3]|24[0-9]|25[0-5])(\.([0-9]{1,2}|1[0-9][0-9]|2[0-4][0-9]|25[0-5])){2}(?:\.([0-9][0-9]?|1[0-9][0-9]|2[0-4][0-9]|25[0-5]))";
    let subdomain = r"((www\.)|([a-zA-Z0-9]+([-_.]?[a-zA-Z0-9])*[a-zA-Z0-9]\.[a-zA-Z0-9]+))";
    let re = format!(
        r"^{schema}?{username}?(({url_ip}|(\[{ip}\])|(([a-zA-Z0-9]([a-zA-Z0-9_-]+)?[a-zA-Z0-9]([-.][a-zA-Z0-9]+)*)|({subdomain}?))?(([a-zA-Z\x{{00a1}}-\x{{ffff}}0-9]+-?-?)*[a-zA-Z\x{{00a1}}-\x{{ffff}}0-9]+)(?:\.([a-zA-Z\x{{00a1}}-\x{{ffff}}]{{1,}}))?))\.?{port}?{path}?$"
    );
    Regex::new(&re).expect("valid regex")
});

/// `govalidator.IsURL`.
pub fn is_go_url(s: &str) -> bool {
    if s.is_empty() || s.chars().count() >= 2083 || s.len() <= 3 || s.starts_with('.') {
        return false;
    }
    let with_scheme;
    let parsed = if s.contains(':') && !s.contains("://") {
        with_scheme = format!("http://{s}");
        &with_scheme
    } else {
        s
    };
    let Some(u) = go_url_parse(parsed) else {
        return false;
    };
    if u.host.starts_with('.') || (u.host.is_empty() && !u.path.is_empty() && !u.path.contains('.')) {
        return false;
    }
    GO_URL.is_match(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_name_is_govalidator_s() {
        assert!(is_dns_name("a-.example.com") && is_dns_name("_srv.example") && is_dns_name("1.2.3.4."));
        assert!(!is_dns_name("1.2.3.4") && !is_dns_name("-a.com") && !is_dns_name("a..b") && !is_dns_name(""));
        assert!(is_dns_name(&format!("{}.{}", "a".repeat(63), "b".repeat(63))));
        assert!(!is_dns_name(&["a".repeat(63).as_str(); 5].join(".")));
    }

    #[test]
    fn host_port_is_go_s() {
        assert!(is_host_port("127.0.0.1:5000") && is_host_port("[::1]:80") && is_host_port("a:b"));
        assert!(!is_host_port("a:") && !is_host_port(":80") && !is_host_port("a:1:2"));
        assert!(!is_host_port("a]:80") && !is_host_port("[a[b]:80") && !is_host_port("[::1]"));
    }

    #[test]
    fn request_uri_is_go_s() {
        assert!(go_url_parse_request_uri("/a b").is_some() && go_url_parse_request_uri("mailto:x").is_some());
        assert!(go_url_parse_request_uri("/a%zz").is_none() && go_url_parse_request_uri("healthz").is_none());
        assert!(go_url_parse_request_uri("").is_none() && go_url_parse_request_uri("http://a b/").is_none());
        let port = |s: &str| go_url_parse_request_uri(s).map(|u| u.port().to_string());
        assert_eq!(port("http://zipkin:9411/api"), Some("9411".into()));
        assert_eq!(port("http://[::1]/api"), Some(String::new()));
        assert_eq!(port("http://zipkin:port/api"), None);
    }
}
