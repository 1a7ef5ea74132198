//! HTTPS deliveries: the client connects to the vetted address yet checks the certificate
//! against the host name, trusts extra roots only when told, and refuses anything else.

mod support;

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use veritrail_alerts::channel::{ChannelConfig, UrlConfig};
use veritrail_alerts::deliver::{DeliveryOptions, deliver, deliver_with};
use veritrail_alerts::ssrf::TargetPolicy;

/// A one-route HTTPS server that answers 200 to any complete POST and keeps the bodies.
struct TlsServer {
    port: u16,
    bodies: Arc<Mutex<Vec<String>>>,
    cert_pem: String,
}

impl TlsServer {
    async fn start(names: &[&str]) -> Self {
        let generated = rcgen::generate_simple_self_signed(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .expect("generate certificate");
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.signing_key.serialize_der()));
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![CertificateDer::from(generated.cert.der().to_vec())], key)
            .expect("server TLS config");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let kept = bodies.clone();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let kept = kept.clone();
                tokio::spawn(async move {
                    // Handshake failures are what some tests expect; they just end the connection.
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    if let Some(body) = read_request(&mut tls).await {
                        kept.lock().expect("not poisoned").push(body);
                        let _ =
                            tls.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
                        let _ = tls.shutdown().await;
                    }
                });
            }
        });
        Self { port, bodies, cert_pem: generated.cert.pem() }
    }
}

/// Reads one HTTP/1.1 request with a Content-Length body; returns the body.
async fn read_request(stream: &mut (impl AsyncReadExt + Unpin)) -> Option<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let text = String::from_utf8_lossy(&buffer).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length: usize = text[..end]
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse().ok())?;
            if buffer.len() >= end + 4 + length {
                return Some(String::from_utf8_lossy(&buffer[end + 4..end + 4 + length]).into_owned());
            }
        }
        let read = stream.read(&mut chunk).await.ok()?;
        if read == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..read]);
    }
}

fn slack(url: String) -> ChannelConfig {
    ChannelConfig::Slack(UrlConfig { url: Some(url), url_env: None })
}

fn private() -> TargetPolicy {
    TargetPolicy { allow_private: true, allow_list: vec![] }
}

#[tokio::test]
async fn https_with_a_trusted_certificate_for_the_host_name() {
    let server = TlsServer::start(&["localhost"]).await;
    let options =
        DeliveryOptions { extra_root_certs_pem: vec![server.cert_pem.clone().into_bytes()], ..Default::default() };
    let channel = slack(format!("https://localhost:{}/services/T0/B0/x", server.port));
    let receipt = deliver_with(&channel, &support::sample(), "d1", &private(), &options, &|_| None)
        .await
        .unwrap_or_else(|error| panic!("HTTPS delivery failed: {error}"));
    assert_eq!(receipt.status, 200);
    // The status, never what the target answered (here Slack's "ok").
    assert_eq!(receipt.detail, "HTTP 200 OK");
    let bodies = server.bodies.lock().expect("not poisoned").clone();
    assert_eq!(bodies.len(), 1);
    assert!(bodies[0].contains("Unusual export volume by alice"), "{}", bodies[0]);
}

#[tokio::test]
async fn https_refuses_untrusted_and_misnamed_certificates() {
    let server = TlsServer::start(&["localhost"]).await;
    let channel = slack(format!("https://localhost:{}/hook", server.port));
    let error = deliver(&channel, &support::sample(), "d1", &private()).await.expect_err("self-signed is not trusted");
    assert!(!error.retryable, "a certificate problem needs a person: {error}");
    assert!(error.message.contains("certificate"), "{error}");

    // Trusted, but issued for another name than the one in the URL.
    let other = TlsServer::start(&["hooks.other.example"]).await;
    let options =
        DeliveryOptions { extra_root_certs_pem: vec![other.cert_pem.clone().into_bytes()], ..Default::default() };
    let channel = slack(format!("https://localhost:{}/hook", other.port));
    let error = deliver_with(&channel, &support::sample(), "d2", &private(), &options, &|_| None)
        .await
        .expect_err("name mismatch");
    assert!(!error.retryable, "{error}");
    assert!(server.bodies.lock().expect("not poisoned").is_empty());
    assert!(other.bodies.lock().expect("not poisoned").is_empty());
}
