//! Sending an alert e-mail through the channel's SMTP server.

use std::net::SocketAddr;
use std::time::Instant;

use lettre::message::header::{Header, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{DeliveryError, DeliveryOptions, DeliveryReceipt, error_chain, excerpt, tls_setup_refused};
use crate::channel::{ResolvedEmail, TlsMode};
use crate::message::AlertMessage;
use crate::render;
use crate::signature::DELIVERY_HEADER;
use crate::ssrf::TargetPolicy;

/// `X-Veritrail-Delivery`, so a mailbox rule or a script can tell retries of one alert apart.
#[derive(Debug, Clone)]
struct DeliveryId(String);

impl Header for DeliveryId {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str(DELIVERY_HEADER)
    }

    fn parse(raw: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(raw.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

pub(super) async fn send(
    email: &ResolvedEmail,
    message: &AlertMessage,
    delivery_id: &str,
    policy: &TargetPolicy,
    options: &DeliveryOptions,
) -> Result<DeliveryReceipt, DeliveryError> {
    let mail = build(email, message, delivery_id)?;
    send_message(email, mail, policy, options).await
}

/// A message with one file attached (a scheduled report), sent through an e-mail channel.
#[derive(Debug, Clone)]
pub struct FileMail {
    pub subject: String,
    /// The plain-text body.
    pub text: String,
    /// Identifies the mail (`Message-ID` and `X-Veritrail-Delivery`), e.g. the run's id.
    pub id: String,
    pub file_name: String,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

/// Sends `mail` with its attachment to the channel's recipients, once.
pub async fn send_file(
    email: &ResolvedEmail,
    mail: &FileMail,
    policy: &TargetPolicy,
    options: &DeliveryOptions,
) -> Result<DeliveryReceipt, DeliveryError> {
    use lettre::message::{Attachment, SinglePart, header::ContentType};
    let domain = email.from.email.domain().to_owned();
    let id_part: String =
        mail.id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
    let mut builder = Message::builder()
        .from(email.from.clone())
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{id_part}.report@{domain}>")))
        .header(DeliveryId(mail.id.clone()));
    for recipient in &email.to {
        builder = builder.to(Mailbox::clone(recipient));
    }
    let content_type = ContentType::parse(&mail.content_type)
        .map_err(|error| DeliveryError::permanent(format!("content type {:?}: {error}", mail.content_type)))?;
    let message = builder
        .multipart(
            MultiPart::mixed()
                .singlepart(SinglePart::plain(mail.text.clone()))
                .singlepart(Attachment::new(mail.file_name.clone()).body(mail.bytes.clone(), content_type)),
        )
        .map_err(|error| DeliveryError::permanent(format!("cannot build the e-mail: {error}")))?;
    send_message(email, message, policy, options).await
}

async fn send_message(
    email: &ResolvedEmail,
    mail: Message,
    policy: &TargetPolicy,
    options: &DeliveryOptions,
) -> Result<DeliveryReceipt, DeliveryError> {
    let target = policy.check_host(&email.host, email.port).await?;
    let started = Instant::now();
    let mut last_error = None;
    for addr in &target.addrs {
        let transport = transport(email, *addr, options)?;
        match transport.send(mail.clone()).await {
            Ok(response) => {
                // The reply code, not the server's text (see `classify`).
                return Ok(DeliveryReceipt {
                    status: u16::from(response.code()),
                    detail: format!("SMTP {}: accepted", response.code()),
                    remote_addr: Some(*addr),
                    elapsed: started.elapsed(),
                });
            }
            // Nothing was said yet: the next address of the host may be reachable.
            Err(error) if could_not_connect(&error) => last_error = Some(classify(&error, *addr)),
            Err(error) => return Err(classify(&error, *addr)),
        }
    }
    Err(last_error.unwrap_or_else(|| DeliveryError::transient(format!("{} has no address to try", email.host))))
}

fn build(email: &ResolvedEmail, message: &AlertMessage, delivery_id: &str) -> Result<Message, DeliveryError> {
    let content = render::email::render(message);
    let domain = email.from.email.domain().to_owned();
    let id_part: String =
        delivery_id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')).collect();
    let mut builder = Message::builder()
        .from(email.from.clone())
        .subject(content.subject)
        // One Message-ID per delivery: a retry after a lost reply carries the same id.
        .message_id(Some(format!("<{id_part}.alert@{domain}>")))
        .header(DeliveryId(delivery_id.to_owned()));
    for recipient in &email.to {
        builder = builder.to(Mailbox::clone(recipient));
    }
    builder
        .multipart(MultiPart::alternative_plain_html(content.text, content.html))
        .map_err(|error| DeliveryError::permanent(format!("cannot build the e-mail: {error}")))
}

fn transport(
    email: &ResolvedEmail,
    addr: SocketAddr,
    options: &DeliveryOptions,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, DeliveryError> {
    let tls = match email.tls {
        TlsMode::None => Tls::None,
        TlsMode::Starttls => Tls::Required(tls_parameters(email, options)?),
        TlsMode::Tls => Tls::Wrapper(tls_parameters(email, options)?),
    };
    // Connect to the vetted address; the certificate is still checked against the host name.
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(addr.ip().to_string())
        .port(addr.port())
        .timeout(Some(options.timeout))
        .tls(tls);
    if let Some((user, password)) = &email.credentials {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    Ok(builder.build())
}

fn tls_parameters(email: &ResolvedEmail, options: &DeliveryOptions) -> Result<TlsParameters, DeliveryError> {
    let mut builder = TlsParameters::builder(email.host.clone());
    for pem in &options.extra_root_certs_pem {
        let certificate = Certificate::from_pem(pem)
            .map_err(|error| DeliveryError::permanent(format!("extra root certificate: {error}")))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder.build().map_err(|error| DeliveryError::permanent(format!("TLS setup: {error}")))
}

/// Failed before any SMTP reply: connection refused, unreachable, reset during connect.
fn could_not_connect(error: &lettre::transport::smtp::Error) -> bool {
    !(error.is_response()
        || error.is_client()
        || error.is_transient()
        || error.is_permanent()
        || error.is_tls()
        || error.is_timeout())
        && error.status().is_none()
}

/// A reply from the server is reported by its code only: its text goes to the server's log, as
/// an HTTP target's body does. Failures before a reply (connection, TLS, time-out) are this
/// side's own and keep their description.
fn classify(error: &lettre::transport::smtp::Error, addr: SocketAddr) -> DeliveryError {
    let status = error.status().map(u16::from);
    let message = match status {
        Some(code) => {
            tracing::warn!(%addr, code, reply = %excerpt(&error_chain(error)), "SMTP server refused an alert");
            format!("SMTP server {addr} answered {code}")
        }
        None => excerpt(&format!("SMTP server {addr}: {}", error_chain(error))),
    };
    // Everything else (4xx replies, time-outs, network failures, unreadable replies) may pass.
    let permanent = error.is_permanent() || error.is_tls() || error.is_client() || tls_setup_refused(error);
    DeliveryError { retryable: !permanent, retry_after: None, status, message }
}
