//! Kuma's built-in values where no policy sets a field (reference §5.1, §10.2,
//! §13 item 17). Policies override them field by field (MeshTimeout: see
//! `policies/mesh_timeout.rs`).

/// Cluster `connect_timeout`.
pub const CONNECT_TIMEOUT_SECS: i64 = 5;
/// Route `timeout` (the whole request).
pub const ROUTE_TIMEOUT_SECS: i64 = 15;
/// Route `idle_timeout` (per stream).
pub const ROUTE_IDLE_TIMEOUT_SECS: i64 = 1800;
/// Inbound HCM `stream_idle_timeout`.
pub const INBOUND_STREAM_IDLE_TIMEOUT_SECS: i64 = 3600;
/// Upstream HTTP connection `idle_timeout` and tcp_proxy `idle_timeout`.
pub const CONNECTION_IDLE_TIMEOUT_SECS: i64 = 3600;
/// Answer TTL of the DNS listener.
pub const DNS_TTL_SECS: i64 = 30;
/// Kuma's `ipam.knownInternalCIDRs` (HCM `internal_address_config`).
pub const INTERNAL_CIDRS: &[(&str, u32)] = &[
    ("10.0.0.0", 8),
    ("192.168.0.0", 16),
    ("172.16.0.0", 12),
    ("127.0.0.1", 32),
    ("fc00::", 7),
    ("fd00::", 8),
    ("::1", 128),
];
