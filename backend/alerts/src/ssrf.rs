//! Keeps alert deliveries away from internal services (server-side request forgery).
//!
//! A channel's URL or SMTP host is chosen by whoever may configure channels, and the server sends
//! requests to it. Without a guard that person could make the server call its cloud metadata
//! endpoint, an admin port on loopback or a database on the private network. So:
//!
//! - every address a host resolves to is classified ([`classify`]); if **any** of them is not a
//!   public unicast address the target is refused (a name that resolves to public and private
//!   addresses at once is refused too);
//! - IPv4 addresses hidden in IPv6 (mapped `::ffff:a.b.c.d`, compatible `::a.b.c.d`, NAT64
//!   `64:ff9b::/96`, 6to4 `2002::/16`) are classified by the IPv4 address they carry;
//! - the check returns the vetted socket addresses, and the HTTP and SMTP clients connect to
//!   exactly those (no second DNS lookup, so no DNS-rebinding window); redirects are not followed.
//!
//! [`TargetPolicy`] loosens this on purpose: `allow_private` admits loopback, RFC 1918, CGNAT and
//! IPv6 unique-local targets (an on-premises install posting to an internal chat server), and the
//! allow list admits named hosts or networks of any class except unspecified, multicast,
//! broadcast and the cloud providers' metadata endpoints, which are never valid destinations.
//! Link-local addresses (`169.254.0.0/16`, `fe80::/10`) need an explicit allow-list entry even
//! with `allow_private`.
//!
//! A refusal of a host *name* says only that the name is not an allowed destination, the same
//! whether it resolved to a private address, to nothing, or not at all: the message reaches
//! whoever configured the channel, and telling them what an internal name resolves to would
//! make the server a DNS oracle for the private network. The details go to the server's log.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use url::{Host, Url};

/// How long a DNS lookup may take before the target counts as unreachable.
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);

/// What kind of address an IP is, as far as sending alerts to it is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressClass {
    /// A public unicast address: always allowed.
    Global,
    /// `0.0.0.0/8`, `::`: "this host"; on Linux a connection to it reaches the local machine.
    Unspecified,
    /// `127.0.0.0/8`, `::1`.
    Loopback,
    /// RFC 1918: `10/8`, `172.16/12`, `192.168/16`; and deprecated IPv6 site-local `fec0::/10`.
    Private,
    /// Carrier-grade NAT shared space `100.64.0.0/10`.
    SharedCgnat,
    /// `169.254.0.0/16`, `fe80::/10`.
    LinkLocal,
    /// A cloud provider's instance metadata service (credentials live there): `169.254.169.254`,
    /// the ECS/EKS agents `169.254.170.2` and `169.254.170.23`, Alibaba's `100.100.100.200`,
    /// and AWS's IPv6 `fd00:ec2::254` and `fd00:ec2::23`. Refused whatever the policy says.
    CloudMetadata,
    /// IPv6 unique-local `fc00::/7`.
    UniqueLocal,
    /// `224.0.0.0/4`, `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// `192.0.2/24`, `198.51.100/24`, `203.0.113/24`, `2001:db8::/32`, `3fff::/20`.
    Documentation,
    /// `198.18.0.0/15`, `2001:2::/48`.
    Benchmarking,
    /// Other special-purpose ranges: `240.0.0.0/4`, `192.0.0.0/24`, `192.88.99.0/24`,
    /// `2001::/23` (including Teredo), and IPv6 outside global unicast `2000::/3`.
    Reserved,
}

impl AddressClass {
    /// A readable name for error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Global => "public",
            Self::Unspecified => "unspecified",
            Self::Loopback => "loopback",
            Self::Private => "private-network",
            Self::SharedCgnat => "carrier-grade NAT",
            Self::LinkLocal => "link-local",
            Self::CloudMetadata => "cloud metadata",
            Self::UniqueLocal => "unique-local",
            Self::Multicast => "multicast",
            Self::Broadcast => "broadcast",
            Self::Documentation => "documentation",
            Self::Benchmarking => "benchmarking",
            Self::Reserved => "reserved",
        }
    }

    /// Never a valid destination, whatever the policy says.
    fn never_allowed(self) -> bool {
        matches!(self, Self::Unspecified | Self::Multicast | Self::Broadcast | Self::CloudMetadata)
    }

    /// Admitted by `allow_private`.
    fn private_network(self) -> bool {
        matches!(self, Self::Loopback | Self::Private | Self::SharedCgnat | Self::UniqueLocal)
    }
}

/// Classifies an address, looking through IPv6 forms that carry an IPv4 address.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// The metadata endpoints of the major clouds (see [`AddressClass::CloudMetadata`]).
const METADATA_V4: [Ipv4Addr; 4] = [
    Ipv4Addr::new(169, 254, 169, 254),
    Ipv4Addr::new(169, 254, 170, 2),
    Ipv4Addr::new(169, 254, 170, 23),
    Ipv4Addr::new(100, 100, 100, 200),
];
const METADATA_V6: [Ipv6Addr; 2] =
    [Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254), Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)];

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    let [a, b, c, _] = ip.octets();
    match (a, b, c) {
        _ if METADATA_V4.contains(&ip) => AddressClass::CloudMetadata,
        _ if ip.is_broadcast() => AddressClass::Broadcast,
        (0, _, _) => AddressClass::Unspecified,
        (127, _, _) => AddressClass::Loopback,
        (10, _, _) | (192, 168, _) => AddressClass::Private,
        (172, 16..=31, _) => AddressClass::Private,
        (100, 64..=127, _) => AddressClass::SharedCgnat,
        (169, 254, _) => AddressClass::LinkLocal,
        (224..=239, _, _) => AddressClass::Multicast,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => AddressClass::Documentation,
        (198, 18..=19, _) => AddressClass::Benchmarking,
        (240..=255, _, _) | (192, 0, 0) | (192, 88, 99) => AddressClass::Reserved,
        _ => AddressClass::Global,
    }
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    let segments = ip.segments();
    if ip.is_unspecified() {
        return AddressClass::Unspecified;
    }
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    if METADATA_V6.contains(&ip) {
        return AddressClass::CloudMetadata;
    }
    let first = segments[0];
    match first {
        0xff00..=0xffff => AddressClass::Multicast,
        0xfe80..=0xfebf => AddressClass::LinkLocal,
        0xfec0..=0xfeff => AddressClass::Private,
        0xfc00..=0xfdff => AddressClass::UniqueLocal,
        0x2001 if segments[1] == 0x0db8 => AddressClass::Documentation,
        0x3fff if segments[1] < 0x1000 => AddressClass::Documentation,
        0x2001 if segments[1] == 0x0002 && segments[2] == 0 => AddressClass::Benchmarking,
        // 2001::/23: IETF protocol assignments, including Teredo (2001::/32).
        0x2001 if segments[1] < 0x0200 => AddressClass::Reserved,
        // Only 2000::/3 is allocated global unicast; the rest (::/8 leftovers, 100::/64 discard,
        // 64:ff9b:1::/48 local translation, unassigned space) is not a destination.
        0x2000..=0x3fff => AddressClass::Global,
        _ => AddressClass::Reserved,
    }
}

/// The IPv4 address an IPv6 address stands for, in the forms a connection would reach it by.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // ::ffff:a.b.c.d (mapped) and ::a.b.c.d (compatible; :: and ::1 are handled before).
        [0, 0, 0, 0, 0, 0xffff, _, _] | [0, 0, 0, 0, 0, 0, _, _] => Some(low),
        // 64:ff9b::a.b.c.d, the NAT64 well-known prefix.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        // 2002:AABB:CCDD::/48, 6to4.
        [0x2002, high, low16, ..] => {
            Some(Ipv4Addr::new((high >> 8) as u8, high as u8, (low16 >> 8) as u8, low16 as u8))
        }
        _ => None,
    }
}

/// One entry of [`TargetPolicy::allow_list`]: a host name (optionally `*.suffix`) or a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum AllowEntry {
    /// Exact host name, compared case-insensitively without a trailing dot.
    Host(String),
    /// `*.example.com`: any host name ending in `.example.com`.
    Suffix(String),
    /// An address or CIDR network (`10.0.0.0/8`, `2001:db8::1`).
    Network(IpNet),
}

impl AllowEntry {
    fn matches_host(&self, host: &str) -> bool {
        match self {
            Self::Host(name) => *name == host,
            Self::Suffix(suffix) => {
                host.len() > suffix.len() + 1 && host.ends_with(suffix.as_str()) && {
                    host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
                }
            }
            Self::Network(_) => false,
        }
    }

    fn matches_ip(&self, ip: IpAddr) -> bool {
        match self {
            Self::Network(net) => net.contains(&ip) || canonical_ip(ip).is_some_and(|v4| net.contains(&v4)),
            _ => false,
        }
    }
}

impl FromStr for AllowEntry {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let entry = raw.trim();
        if entry.is_empty() {
            return Err("allow-list entry is empty".to_owned());
        }
        if let Ok(net) = entry.parse::<IpNet>() {
            return Ok(Self::Network(net.trunc()));
        }
        if let Ok(ip) = entry.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            return Ok(Self::Network(IpNet::from(ip)));
        }
        let name = normalise_host(entry);
        let (wildcard, bare) = match name.strip_prefix("*.") {
            Some(rest) => (true, rest.to_owned()),
            None => (false, name.clone()),
        };
        let valid = !bare.is_empty()
            && bare.len() <= 253
            && bare.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid {
            return Err(format!("allow-list entry {raw:?} is neither a host name, *.suffix, an IP address nor a CIDR"));
        }
        Ok(if wildcard { Self::Suffix(bare) } else { Self::Host(bare) })
    }
}

impl TryFrom<String> for AllowEntry {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        raw.parse()
    }
}

impl From<AllowEntry> for String {
    fn from(entry: AllowEntry) -> Self {
        entry.to_string()
    }
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Host(name) => f.write_str(name),
            Self::Suffix(suffix) => write!(f, "*.{suffix}"),
            Self::Network(net) => write!(f, "{net}"),
        }
    }
}

/// Which destinations alerts may be sent to. The default refuses every non-public address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetPolicy {
    /// Admit loopback, RFC 1918, CGNAT and unique-local targets; also allows `http://` URLs and
    /// SMTP without TLS, which only make sense inside a trusted network.
    #[serde(default)]
    pub allow_private: bool,
    /// Hosts and networks admitted whatever their address class (except unspecified, multicast
    /// and broadcast).
    #[serde(default)]
    pub allow_list: Vec<AllowEntry>,
}

/// A destination that passed the policy: connect to `addrs` and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VettedTarget {
    /// The host as configured (normalised: lower case, no brackets, no trailing dot).
    pub host: String,
    pub port: u16,
    /// Every address the host resolved to; all passed the policy.
    pub addrs: Vec<SocketAddr>,
}

impl VettedTarget {
    /// True when the host was an IP literal, so there is no name to pin for the HTTP client.
    pub fn is_ip_literal(&self) -> bool {
        self.host.parse::<IpAddr>().is_ok()
    }
}

/// Why a destination was refused or could not be checked.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TargetError {
    #[error("{}", refused_message(host, *addr, *class))]
    Refused { host: String, addr: IpAddr, class: AddressClass },
    #[error("{}", not_allowed(host))]
    Resolve { host: String, reason: String },
    #[error("{}", not_allowed(host))]
    NoAddress { host: String },
    #[error("URL {0:?} has no host")]
    MissingHost(String),
    #[error("URL scheme {0:?} is not http or https")]
    Scheme(String),
}

/// An IP literal is named with its class (the caller typed the address); a host name only as
/// not allowed, like one that does not resolve.
fn refused_message(host: &str, addr: IpAddr, class: AddressClass) -> String {
    if host.parse::<IpAddr>().is_ok() {
        format!("{addr} is a {} address, which the target policy refuses", class.describe())
    } else {
        not_allowed(host)
    }
}

fn not_allowed(host: &str) -> String {
    format!(
        "{host} is not an allowed destination: it must resolve to public addresses only, or be admitted by \
         the operator's alert target policy"
    )
}

impl TargetError {
    /// DNS trouble can pass; a refusal or a malformed target cannot.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Resolve { .. })
    }
}

impl TargetPolicy {
    /// The strict default: public addresses only.
    pub fn strict() -> Self {
        Self::default()
    }

    /// Parses a policy from `allow_private` and textual allow-list entries.
    pub fn new<S: AsRef<str>>(allow_private: bool, allow_list: &[S]) -> Result<Self, String> {
        let allow_list = allow_list.iter().map(|entry| entry.as_ref().parse()).collect::<Result<_, _>>()?;
        Ok(Self { allow_private, allow_list })
    }

    /// Checks one address reached through `host` (already normalised); no I/O.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), TargetError> {
        let class = classify(ip);
        let refused = || TargetError::Refused { host: host.to_owned(), addr: ip, class };
        if class == AddressClass::Global {
            return Ok(());
        }
        if class.never_allowed() {
            return Err(refused());
        }
        if self.allow_private && class.private_network() {
            return Ok(());
        }
        if self.allow_list.iter().any(|entry| entry.matches_host(host) || entry.matches_ip(ip)) {
            return Ok(());
        }
        Err(refused())
    }

    /// Checks the host of an http(s) URL; see [`TargetPolicy::check_host`].
    ///
    /// The url crate has already normalised the host: decimal, octal and hex IPv4 forms such as
    /// `http://2130706433/` arrive here as `127.0.0.1`.
    pub async fn check_url(&self, url: &Url) -> Result<VettedTarget, TargetError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(TargetError::Scheme(url.scheme().to_owned()));
        }
        let port = url.port_or_known_default().ok_or_else(|| TargetError::MissingHost(url.to_string()))?;
        match url.host() {
            Some(Host::Ipv4(ip)) => self.vet_literal(IpAddr::V4(ip), port),
            Some(Host::Ipv6(ip)) => self.vet_literal(IpAddr::V6(ip), port),
            Some(Host::Domain(name)) => self.check_host(name, port).await,
            None => Err(TargetError::MissingHost(url.to_string())),
        }
    }

    /// Resolves `host` (name or IP literal) and checks every address it resolves to. What a
    /// refused name resolved to is logged here, not told to the caller (see the module notes).
    pub async fn check_host(&self, host: &str, port: u16) -> Result<VettedTarget, TargetError> {
        let checked = self.resolve_and_check(host, port).await;
        if let Err(error) = &checked {
            match error {
                TargetError::Refused { host, addr, class } => {
                    tracing::warn!(%host, %addr, class = class.describe(), "alert target refused");
                }
                TargetError::Resolve { host, reason } => tracing::warn!(%host, %reason, "alert target did not resolve"),
                _ => {}
            }
        }
        checked
    }

    async fn resolve_and_check(&self, host: &str, port: u16) -> Result<VettedTarget, TargetError> {
        let host = normalise_host(host);
        if let Ok(ip) = host.parse::<IpAddr>() {
            return self.vet_literal(ip, port);
        }
        if host.is_empty() {
            return Err(TargetError::MissingHost(host));
        }
        let lookup = tokio::net::lookup_host((host.as_str(), port));
        let resolved = tokio::time::timeout(RESOLVE_TIMEOUT, lookup)
            .await
            .map_err(|_| TargetError::Resolve { host: host.clone(), reason: "DNS lookup timed out".to_owned() })?
            .map_err(|error| TargetError::Resolve { host: host.clone(), reason: error.to_string() })?;
        let mut addrs: Vec<SocketAddr> = Vec::new();
        for addr in resolved {
            self.check_ip(&host, addr.ip())?;
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
        if addrs.is_empty() {
            return Err(TargetError::NoAddress { host });
        }
        Ok(VettedTarget { host, port, addrs })
    }

    fn vet_literal(&self, ip: IpAddr, port: u16) -> Result<VettedTarget, TargetError> {
        let host = ip.to_string();
        self.check_ip(&host, ip)?;
        Ok(VettedTarget { host, port, addrs: vec![SocketAddr::new(ip, port)] })
    }
}

/// Lower case, without IPv6 brackets or a trailing dot: the form hosts are compared in.
fn normalise_host(host: &str) -> String {
    let host = host.trim();
    let host = host.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')).unwrap_or(host);
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// The IPv4 address behind an IPv6 form that carries one, so `10.0.0.0/8` in the allow list also
/// admits `::ffff:10.0.0.1`.
fn canonical_ip(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V6(v6) if !v6.is_loopback() && !v6.is_unspecified() => embedded_v4(v6).map(IpAddr::V4),
        _ => None,
    }
}
