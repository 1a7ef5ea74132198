//! The target policy: which URLs and hosts alerts may be sent to.

use std::net::IpAddr;

use url::Url;
use veritrail_alerts::ssrf::{AddressClass, TargetError, TargetPolicy, classify};

async fn check(policy: &TargetPolicy, url: &str) -> Result<Vec<IpAddr>, TargetError> {
    let url = Url::parse(url).unwrap_or_else(|error| panic!("{url}: {error}"));
    policy.check_url(&url).await.map(|target| target.addrs.iter().map(|addr| addr.ip()).collect())
}

#[tokio::test]
async fn strict_policy_refuses_internal_targets() {
    let strict = TargetPolicy::strict();
    let refused = [
        ("http://127.0.0.1/", AddressClass::Loopback),
        ("http://127.8.9.10:8080/", AddressClass::Loopback),
        ("http://[::1]/", AddressClass::Loopback),
        ("http://localhost/", AddressClass::Loopback),
        ("http://LOCALHOST./", AddressClass::Loopback),
        ("http://2130706433/", AddressClass::Loopback), // decimal 127.0.0.1
        ("http://0x7f.1/", AddressClass::Loopback),     // hex + short form
        ("http://0177.0.0.1/", AddressClass::Loopback), // octal
        ("http://0.0.0.0/", AddressClass::Unspecified),
        ("http://0/", AddressClass::Unspecified),
        ("http://[::]/", AddressClass::Unspecified),
        ("http://10.0.0.1/", AddressClass::Private),
        ("http://172.16.0.1/", AddressClass::Private),
        ("http://172.31.255.255/", AddressClass::Private),
        ("http://192.168.1.1/", AddressClass::Private),
        ("http://[::ffff:10.0.0.1]/", AddressClass::Private),
        ("http://[::ffff:127.0.0.1]/", AddressClass::Loopback),
        ("http://[::ffff:7f00:1]/", AddressClass::Loopback),
        ("http://[::10.0.0.1]/", AddressClass::Private), // IPv4-compatible
        ("http://[64:ff9b::a9fe:a9fe]/", AddressClass::CloudMetadata), // NAT64 of 169.254.169.254
        ("http://[64:ff9b::a9fe:a01]/", AddressClass::LinkLocal), // NAT64 of 169.254.10.1
        ("http://[2002:a00:1::]/", AddressClass::Private), // 6to4 of 10.0.0.1
        ("http://169.254.169.254/latest/meta-data/", AddressClass::CloudMetadata),
        ("http://[fd00:ec2::254]/", AddressClass::CloudMetadata),
        ("http://169.254.1.1/", AddressClass::LinkLocal),
        ("http://[fe80::1]/", AddressClass::LinkLocal),
        ("http://100.64.0.1/", AddressClass::SharedCgnat),
        ("http://100.127.255.254/", AddressClass::SharedCgnat),
        ("http://[fc00::1]/", AddressClass::UniqueLocal),
        ("http://[fd12:3456::1]/", AddressClass::UniqueLocal),
        ("http://224.0.0.1/", AddressClass::Multicast),
        ("http://[ff02::1]/", AddressClass::Multicast),
        ("http://255.255.255.255/", AddressClass::Broadcast),
        ("http://192.0.2.10/", AddressClass::Documentation),
        ("http://198.51.100.7/", AddressClass::Documentation),
        ("http://203.0.113.200/", AddressClass::Documentation),
        ("http://[2001:db8::1]/", AddressClass::Documentation),
        ("http://198.18.0.1/", AddressClass::Benchmarking),
        ("http://240.0.0.1/", AddressClass::Reserved),
        ("http://[2001::1]/", AddressClass::Reserved), // Teredo
    ];
    for (url, expected) in refused {
        match check(&strict, url).await {
            Err(TargetError::Refused { class, .. }) => assert_eq!(class, expected, "{url}"),
            other => panic!("{url} should be refused as {expected:?}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn public_addresses_pass() {
    let strict = TargetPolicy::strict();
    for url in [
        "https://93.184.215.14/",
        "https://8.8.8.8:8443/x",
        "https://[2606:4700:4700::1111]/",
        "https://[::ffff:8.8.8.8]/",
        "https://172.32.0.1/",
        "https://100.128.0.1/",
        "https://169.255.0.1/",
    ] {
        let addrs = check(&strict, url).await.unwrap_or_else(|error| panic!("{url}: {error}"));
        assert_eq!(addrs.len(), 1, "{url}");
    }
    let target = strict.check_url(&Url::parse("https://8.8.8.8/").expect("url")).await.expect("public");
    assert_eq!(target.addrs[0].port(), 443, "default port of the scheme");
}

#[tokio::test]
async fn allow_private_admits_private_networks_but_not_metadata() {
    let policy = TargetPolicy { allow_private: true, allow_list: vec![] };
    for url in [
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://[fd00::5]/",
        "http://100.64.1.1/",
    ] {
        check(&policy, url).await.unwrap_or_else(|error| panic!("{url}: {error}"));
    }
    for url in [
        "http://169.254.169.254/",
        "http://[fd00:ec2::254]/",
        "http://100.100.100.200/",
        "http://[fe80::1]/",
        "http://0.0.0.0/",
        "http://224.0.0.251/",
        "http://192.0.2.1/",
    ] {
        assert!(matches!(check(&policy, url).await, Err(TargetError::Refused { .. })), "{url}");
    }
}

#[tokio::test]
async fn allow_list_admits_named_hosts_and_networks_only() {
    let policy =
        TargetPolicy::new(false, &["10.20.0.0/16", "169.254.10.0/24", "fd00::/8", "localhost", "*.corp.internal"])
            .expect("valid entries");
    for url in ["http://10.20.30.40/", "http://[::ffff:10.20.0.9]/", "http://169.254.10.9/", "http://localhost/"] {
        check(&policy, url).await.unwrap_or_else(|error| panic!("{url}: {error}"));
    }
    // Cloud metadata endpoints stay refused even when an entry covers them.
    let metadata = TargetPolicy::new(true, &["169.254.0.0/16", "fd00::/8", "100.64.0.0/10"]).expect("valid entries");
    for url in [
        "http://169.254.169.254/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://100.100.100.200/",
    ] {
        assert!(
            matches!(check(&metadata, url).await, Err(TargetError::Refused { class: AddressClass::CloudMetadata, .. })),
            "{url}"
        );
    }
    for url in ["http://10.21.0.1/", "http://127.0.0.1/", "http://169.254.169.253/"] {
        assert!(matches!(check(&policy, url).await, Err(TargetError::Refused { .. })), "{url}");
    }
    // Host entries compare names, not addresses: pure check_ip shows the rule without DNS.
    let ip: IpAddr = "10.9.9.9".parse().expect("ip");
    assert!(policy.check_ip("hooks.corp.internal", ip).is_ok());
    assert!(policy.check_ip("corp.internal", ip).is_err(), "*.suffix needs a label before the suffix");
    assert!(policy.check_ip("evilcorp.internal", ip).is_err());
    // Even an allow-listed name never reaches unspecified, multicast or broadcast addresses.
    assert!(policy.check_ip("localhost", "0.0.0.0".parse().expect("ip")).is_err());
    assert!(policy.check_ip("localhost", "255.255.255.255".parse().expect("ip")).is_err());
}

#[test]
fn allow_list_entries_parse_and_print() {
    let policy =
        TargetPolicy::new(true, &["10.0.0.0/8", "[fd00::1]", "Hooks.Example.COM.", "*.corp.example"]).expect("valid");
    let printed: Vec<String> = policy.allow_list.iter().map(ToString::to_string).collect();
    assert_eq!(printed, ["10.0.0.0/8", "fd00::1/128", "hooks.example.com", "*.corp.example"]);
    let json = serde_json::to_string(&policy).expect("serialise");
    assert_eq!(serde_json::from_str::<TargetPolicy>(&json).expect("round trip"), policy);
    for bad in ["", "http://x.example", "a b", "10.0.0.0/33", "*."] {
        assert!(TargetPolicy::new(false, &[bad]).is_err(), "{bad:?} should be refused");
    }
}

#[test]
fn classification_table() {
    let cases = [
        ("1.1.1.1", AddressClass::Global),
        ("0.1.2.3", AddressClass::Unspecified),
        ("127.255.255.254", AddressClass::Loopback),
        ("172.15.255.255", AddressClass::Global),
        ("192.0.0.8", AddressClass::Reserved),
        ("192.88.99.1", AddressClass::Reserved),
        ("::ffff:169.254.169.254", AddressClass::CloudMetadata),
        ("::ffff:169.254.1.1", AddressClass::LinkLocal),
        ("fec0::1", AddressClass::Private),
        ("100::1", AddressClass::Reserved),
        ("3fff::1", AddressClass::Documentation),
        ("2001:2::1", AddressClass::Benchmarking),
        ("2a00:1450::1", AddressClass::Global),
        ("4000::1", AddressClass::Reserved),
    ];
    for (ip, expected) in cases {
        assert_eq!(classify(ip.parse().expect("ip")), expected, "{ip}");
    }
}

#[tokio::test]
async fn unresolvable_hosts_are_retryable_refusals_are_not() {
    let strict = TargetPolicy::strict();
    // The caller learns nothing about internal DNS: a name resolving to a private address and a
    // name that does not resolve are refused in the same words.
    let private = strict.check_host("localhost", 80).await.expect_err("loopback").to_string();
    let missing = strict.check_host("does-not-exist.invalid", 80).await.expect_err("no such host").to_string();
    assert_eq!(private.replace("localhost", "HOST"), missing.replace("does-not-exist.invalid", "HOST"));
    let error = strict.check_host("does-not-exist.invalid", 443).await.expect_err("no such host");
    assert!(matches!(error, TargetError::Resolve { .. }) && error.is_retryable(), "{error:?}");
    let error = strict.check_host("127.0.0.1", 25).await.expect_err("loopback");
    assert!(!error.is_retryable());
    let error = strict.check_host("[::1]", 25).await.expect_err("loopback");
    assert!(matches!(error, TargetError::Refused { class: AddressClass::Loopback, .. }));
}

#[tokio::test]
async fn other_schemes_are_refused() {
    let error = check(&TargetPolicy::strict(), "ftp://8.8.8.8/").await.expect_err("ftp");
    assert!(matches!(error, TargetError::Scheme(_)));
}
