//! Mail transport: building a message (plain text + HTML, a deterministic Message-ID) and
//! sending it through lettre. What notices say is rendered in `campaign::notices`.
//!
//! Transports: `log` (metadata only — a message carries a link secret, which never goes to a
//! log), `file:///DIR` (one `.eml` per message), `smtp://host:port` (plain, for a local relay),
//! `smtp+starttls://user:pass@host:port` and `smtps://user:pass@host:port`.

use lettre::message::{Mailbox, MultiPart, header};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{ConfigError, MailConfig};

/// Where messages go, and how long one delivery may take.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    timeout: std::time::Duration,
}

#[derive(Clone)]
enum Transport {
    Log,
    File(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.transport {
            Transport::Log => "Mailer(log)",
            Transport::File(_) => "Mailer(file)",
            Transport::Smtp(_) => "Mailer(smtp)",
        })
    }
}

/// Why a message was not sent: transient (retry later) or permanent (give up on this address).
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("temporary mail failure: {0}")]
    Transient(String),
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

impl Mailer {
    /// Builds the transport from `[mail]`.
    pub fn from_config(c: &MailConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            transport: Transport::from_config(c)?,
            timeout: c.timeout,
        })
    }

    /// Whether a message handed to this transport reaches anyone. The `log` transport only
    /// records that a message would have gone: its notices are marked `logged`, never `sent`.
    pub fn delivers(&self) -> bool {
        !matches!(self.transport, Transport::Log)
    }

    /// The status a notice takes once this transport has accepted its message.
    pub fn sent_status(&self) -> &'static str {
        if self.delivers() { "sent" } else { "logged" }
    }

    /// Sends one message, within `mail.timeout` from connecting to the server's answer: a
    /// delivery still going then is abandoned (a transient failure), so no sender holds a notice
    /// past its lease.
    pub async fn send(&self, m: Message) -> Result<(), SendError> {
        match tokio::time::timeout(self.timeout, self.transport.send(m)).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Transient(format!(
                "no answer within mail.timeout ({}s)",
                self.timeout.as_secs_f64()
            ))),
        }
    }
}

impl Transport {
    fn from_config(c: &MailConfig) -> Result<Self, ConfigError> {
        let t = c.transport.as_str();
        let bad = |m: String| ConfigError::invalid("mail.transport", m);
        if t == "log" {
            return Ok(Self::Log);
        }
        if let Some(dir) = t.strip_prefix("file://") {
            std::fs::create_dir_all(dir).map_err(|e| bad(format!("cannot create {dir}: {e}")))?;
            return Ok(Self::File(AsyncFileTransport::new(dir)));
        }
        let url = url::Url::parse(t).map_err(|_| bad("not a URL".into()))?;
        let host = url
            .host_str()
            .ok_or_else(|| bad("no host".into()))?
            .to_owned();
        let mut builder = match url.scheme() {
            "smtp" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            "smtp+starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&host)
                .map_err(|e| bad(e.to_string()))?,
            "smtps" => AsyncSmtpTransport::<Tokio1Executor>::relay(&host)
                .map_err(|e| bad(e.to_string()))?,
            other => return Err(bad(format!("unknown scheme `{other}`"))),
        };
        if let Some(port) = url.port() {
            builder = builder.port(port);
        }
        if !url.username().is_empty() {
            let user = percent_decode(url.username());
            let pass = percent_decode(url.password().unwrap_or_default());
            builder = builder.credentials(Credentials::new(user, pass));
        }
        Ok(Self::Smtp(builder.timeout(Some(c.timeout)).build()))
    }

    async fn send(&self, m: Message) -> Result<(), SendError> {
        match self {
            Self::Log => {
                let h = m.headers();
                tracing::info!(
                    to = ?h.get_raw("To"),
                    subject = ?h.get_raw("Subject"),
                    message_id = ?h.get_raw("Message-ID"),
                    "mail (log transport: the body, which holds a link, is not logged)"
                );
                Ok(())
            }
            Self::File(t) => t
                .send(m)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Transient(e.to_string())),
            Self::Smtp(t) => t.send(m).await.map(|_| ()).map_err(|e| {
                if e.is_permanent() {
                    SendError::Permanent(e.to_string())
                } else {
                    SendError::Transient(e.to_string())
                }
            }),
        }
    }
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// A rendered message body.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Builds a message with a deterministic Message-ID (so a resend is recognisable downstream).
pub fn build(from: &str, to: &str, message_id: &str, r: Rendered) -> Result<Message, String> {
    let from: Mailbox = from.parse().map_err(|e| format!("mail.from: {e}"))?;
    let to: Mailbox = to.parse().map_err(|e| format!("recipient: {e}"))?;
    Message::builder()
        .from(from)
        .to(to)
        .subject(r.subject)
        .message_id(Some(message_id.to_owned()))
        .header(header::MIME_VERSION_1_0)
        .multipart(MultiPart::alternative_plain_html(r.text, r.html))
        .map_err(|e| e.to_string())
}
