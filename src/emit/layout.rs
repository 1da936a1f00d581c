//! Where each proxy's files go, relative to the output directory (and, with the
//! same relative path, under the secrets directory). One function decides it, so
//! `compile`, `certs` and the manifest can never disagree.
//!
//! A sidecar lives in `<mesh>/[<zone>/]<core-name>/`; a zone proxy, which
//! serves every mesh, in `_zone-ingress/[<zone>/]<core-name>/` or
//! `_zone-egress/[<zone>/]<core-name>/` (no mesh name starts with `_`: Kuma's
//! names are DNS labels). Every segment is made safe
//! for any file system: characters outside `[a-z0-9._-]` become `%XX` (their
//! UTF-8 bytes, upper-case hex), and a segment that is empty or starts with a dot
//! or a dash gets a leading `%2E`-style escape, so no resource name can produce
//! `..`, an absolute path, a hidden file, a separator or something a shell script
//! would take for an option. Escaping is injective even on
//! case-insensitive file systems (macOS, Windows: `Web` and `web` are `%57eb` and
//! `web`), and over-long segments are shortened with a hash ([`escape_segment`]),
//! so two proxies never share a directory unless their identities are equal.

use std::fmt;

/// What kind of proxy a config is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub enum ProxyKind {
    Dataplane,
    ZoneIngress,
    ZoneEgress,
}

impl ProxyKind {
    pub fn name(self) -> &'static str {
        match self {
            ProxyKind::Dataplane => "Dataplane",
            ProxyKind::ZoneIngress => "ZoneIngress",
            ProxyKind::ZoneEgress => "ZoneEgress",
        }
    }
}

/// The identity of one proxy in the output. Sorting by it gives the manifest order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ProxyId {
    /// The mesh; empty for zone proxies (they serve every mesh).
    pub mesh: String,
    /// The `kuma.io/zone` label, if the proxy has one (a zone proxy: `spec.zone`, else the label).
    pub zone: Option<String>,
    /// The Kubernetes namespace, for resources in Kubernetes form.
    pub namespace: Option<String>,
    /// The resource name as written (`metadata.name` / `name`).
    pub name: String,
    pub kind: ProxyKind,
}

impl ProxyId {
    /// The identity of a Dataplane: the namespace counts only for resources in
    /// Kubernetes form (as in Kuma's core name).
    pub fn of_dataplane(meta: &crate::model::meta::Meta) -> ProxyId {
        ProxyId {
            mesh: meta.mesh.clone().unwrap_or_else(|| "default".into()),
            zone: meta.zone().map(str::to_string),
            namespace: meta.namespace.clone().filter(|_| meta.form == crate::model::meta::Form::Kubernetes),
            name: meta.name.clone(),
            kind: ProxyKind::Dataplane,
        }
    }

    /// The identity of a ZoneIngress or ZoneEgress in `zone` (its `spec.zone`,
    /// else its `kuma.io/zone` label).
    pub fn of_zone_proxy(meta: &crate::model::meta::Meta, kind: ProxyKind, zone: Option<String>) -> ProxyId {
        ProxyId {
            mesh: String::new(),
            zone,
            namespace: meta.namespace.clone().filter(|_| meta.form == crate::model::meta::Form::Kubernetes),
            name: meta.name.clone(),
            kind,
        }
    }

    /// The first segment of the proxy's directory: its mesh, or for a zone proxy
    /// `_zone-ingress` / `_zone-egress`.
    pub fn scope(&self) -> String {
        match self.kind {
            ProxyKind::Dataplane => self.mesh.clone(),
            ProxyKind::ZoneIngress => "_zone-ingress".to_string(),
            ProxyKind::ZoneEgress => "_zone-egress".to_string(),
        }
    }

    /// Kuma's core name: `<name>.<namespace>` for namespaced resources.
    pub fn core_name(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{}.{ns}", self.name),
            None => self.name.clone(),
        }
    }

    /// The proxy's directory relative to the output (or secrets) directory,
    /// with `/` separators.
    pub fn dir(&self) -> String {
        let mut segments = vec![escape_segment(&self.scope())];
        if let Some(zone) = &self.zone {
            segments.push(escape_segment(zone));
        }
        segments.push(escape_segment(&self.core_name()));
        segments.join("/")
    }
}

impl fmt::Display for ProxyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ProxyKind::Dataplane => write!(f, "{}/{}", self.mesh, self.core_name())?,
            ProxyKind::ZoneIngress => write!(f, "ZoneIngress {}", self.core_name())?,
            ProxyKind::ZoneEgress => write!(f, "ZoneEgress {}", self.core_name())?,
        }
        if let Some(zone) = &self.zone {
            write!(f, " (zone {zone})")?;
        }
        Ok(())
    }
}

/// The longest segment written: file systems allow 255 bytes per name (`NAME_MAX`).
pub const MAX_SEGMENT: usize = 255;

/// One path segment that is safe on every file system and cannot escape its parent.
///
/// A segment whose escaped form would be longer than [`MAX_SEGMENT`] bytes (a
/// Kubernetes `name.namespace` can be 317 characters, and every non-ASCII byte
/// escapes to three) keeps its first bytes and ends in `~` and 32 hex digits of
/// the SHA-256 of the raw name: `~` is always escaped otherwise, so such a segment
/// cannot equal another name's, and escaping stays injective.
pub fn escape_segment(raw: &str) -> String {
    let out = escape_plain(raw);
    if out.len() <= MAX_SEGMENT {
        return out;
    }
    use sha2::Digest;
    let digest = sha2::Sha256::digest(raw.as_bytes());
    let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
    let mut keep = MAX_SEGMENT - 1 - hex.len();
    // Never cut a `%XX` escape in two.
    while out.as_bytes()[keep.saturating_sub(2)..keep].contains(&b'%') {
        keep -= 1;
    }
    format!("{}~{hex}", &out[..keep])
}

fn escape_plain(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for (i, b) in raw.bytes().enumerate() {
        let plain = b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || ((b == b'.' || b == b'-') && i > 0);
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    if out.is_empty() {
        out.push_str("%00");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(mesh: &str, zone: Option<&str>, ns: Option<&str>, name: &str) -> ProxyId {
        ProxyId {
            mesh: mesh.into(),
            zone: zone.map(Into::into),
            namespace: ns.map(Into::into),
            name: name.into(),
            kind: ProxyKind::Dataplane,
        }
    }

    #[test]
    fn plain_names_are_kept() {
        assert_eq!(id("default", None, None, "backend-01").dir(), "default/backend-01");
        assert_eq!(id("default", Some("east"), Some("kuma-demo"), "web").dir(), "default/east/web.kuma-demo");
    }

    #[test]
    fn hostile_names_cannot_escape() {
        for bad in ["..", ".", "", "/etc/passwd", "a/../../b", ".hidden", "C:\\x", "a\0b", "é"] {
            let seg = escape_segment(bad);
            assert!(!seg.is_empty() && !seg.starts_with('.'), "{bad:?} -> {seg}");
            assert!(!seg.contains('/') && !seg.contains('\\') && !seg.contains('\0'), "{bad:?} -> {seg}");
        }
        assert_eq!(escape_segment(".."), "%2E.");
        assert_eq!(escape_segment("a/b"), "a%2Fb");
    }

    #[test]
    fn zone_proxies_have_their_own_scope() {
        let zi = ProxyId { kind: ProxyKind::ZoneIngress, mesh: String::new(), ..id("", Some("east"), None, "zi-1") };
        assert_eq!(zi.dir(), "_zone-ingress/east/zi-1");
        assert_eq!(zi.to_string(), "ZoneIngress zi-1 (zone east)");
        let ze = ProxyId { kind: ProxyKind::ZoneEgress, ..id("", None, None, "ze-1") };
        assert_eq!(ze.dir(), "_zone-egress/ze-1");
    }

    #[test]
    fn long_segments_fit_name_max_and_stay_distinct() {
        let long = "a".repeat(300);
        let seg = escape_segment(&long);
        assert_eq!(seg.len(), MAX_SEGMENT, "{seg}");
        assert!(seg.starts_with("aaaa") && seg.contains('~'), "{seg}");
        assert_ne!(seg, escape_segment(&format!("{long}b")));
        // Multi-byte names: every byte escapes to three, and no `%XX` is cut.
        for n in 80..100 {
            let seg = escape_segment(&"é".repeat(n));
            assert!(seg.len() <= MAX_SEGMENT, "{n}: {}", seg.len());
            let head = seg.split('~').next().unwrap_or_default();
            assert_eq!(head.len() % 3, 0, "{n}: a cut escape in {seg}");
        }
        // Exactly at the limit nothing changes.
        assert_eq!(escape_segment(&"a".repeat(MAX_SEGMENT)), "a".repeat(MAX_SEGMENT));
        assert_eq!(escape_segment("~"), "%7E");
    }

    #[test]
    fn escaping_is_injective_on_lookalikes() {
        assert_ne!(escape_segment("a/b"), escape_segment("a%2Fb"));
        // Case-insensitive file systems: no two names fold to the same segment.
        let names = ["web", "Web", "WEB", "wEb", "%57eb", "w%45b"];
        let folded: std::collections::BTreeSet<String> =
            names.iter().map(|n| escape_segment(n).to_ascii_lowercase()).collect();
        assert_eq!(folded.len(), names.len(), "{folded:?}");
    }
}
