//! Sending alerts: to webhooks with Alertmanager's webhook payload (version 4: `status`
//! firing/resolved, `alerts[]` with labels, annotations, `startsAt`/`endsAt`), and to
//! Alertmanagers through their API (`POST /api/v2/alerts`, so their routing to mail, SMS and
//! chat applies), and as mail over SMTP (`lettre`). One thread sends; each send is tried three
//! times; a queue that fills drops the newest news with a warning rather than holding the broker.

use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{Message, SmtpTransport, Transport};
use oxbow_config::{AlertsConfig, EmailReceiver};
use serde_json::{json, Value};
use tracing::warn;

use super::Alert;

const QUEUE: usize = 1024;
const TRIES: u32 = 3;

pub struct Notifier {
    tx: Option<SyncSender<Alert>>,
}

/// RFC 3339 in UTC with milliseconds, from Unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let millis = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

fn fingerprint(a: &Alert) -> String {
    // FNV-1a over the labels: stable across sends, as Alertmanager's fingerprint is.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (k, v) in &a.labels {
        for b in k.bytes().chain([0]).chain(v.bytes()).chain([0]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

fn alert_json(a: &Alert, external_url: &str) -> Value {
    json!({
        "status": if a.ends_at.is_some() { "resolved" } else { "firing" },
        "labels": a.labels,
        "annotations": a.annotations,
        "startsAt": rfc3339(a.starts_at),
        "endsAt": a.ends_at.map(rfc3339).unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        "generatorURL": format!("{external_url}/metrics"),
        "fingerprint": fingerprint(a),
    })
}

/// Alertmanager's webhook payload (version 4) for one alert.
pub fn webhook_payload(a: &Alert, external_url: &str) -> Value {
    let status = if a.ends_at.is_some() {
        "resolved"
    } else {
        "firing"
    };
    let name = a.labels.get("alertname").cloned().unwrap_or_default();
    json!({
        "version": "4",
        "groupKey": format!("{{}}:{{alertname=\"{name}\"}}"),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": "oxbow",
        "groupLabels": {"alertname": name},
        "commonLabels": a.labels,
        "commonAnnotations": a.annotations,
        "externalURL": external_url,
        "alerts": [alert_json(a, external_url)],
    })
}

/// Tries `send` up to [`TRIES`] times, backing off between tries; the last error if none worked.
fn retried(mut send: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..TRIES {
        match send() {
            Ok(()) => return Ok(()),
            Err(e) => last = e,
        }
        if attempt + 1 < TRIES {
            std::thread::sleep(Duration::from_millis(500 * u64::from(attempt + 1)));
        }
    }
    Err(last)
}

fn post(agent: &ureq::Agent, url: &str, body: &Value) -> Result<(), String> {
    retried(|| {
        match agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.to_string())
        {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(e.to_string()),
        }
    })
}

/// One SMTP receiver, parsed once at start.
struct Mailer {
    /// The server as configured, without credentials (for logs).
    server: String,
    transport: SmtpTransport,
    from: Mailbox,
    to: Vec<Mailbox>,
}

impl Mailer {
    fn new(e: &EmailReceiver) -> Result<Self, String> {
        let server = match (e.url.split_once("://"), e.url.rsplit_once('@')) {
            (Some((scheme, _)), Some((_, host))) => format!("{scheme}://{host}"),
            _ => e.url.clone(),
        };
        let transport = SmtpTransport::from_url(&e.url)
            .map_err(|err| format!("{server}: {err}"))?
            .timeout(Some(Duration::from_secs(10)))
            .build();
        let parse = |a: &str| {
            a.parse::<Mailbox>()
                .map_err(|err| format!("address {a:?}: {err}"))
        };
        Ok(Self {
            server,
            transport,
            from: parse(&e.from)?,
            to: e.to.iter().map(|t| parse(t)).collect::<Result<_, _>>()?,
        })
    }

    fn send(&self, a: &Alert, external_url: &str) -> Result<(), String> {
        let (subject, body) = mail_text(a, external_url);
        let mut builder = Message::builder().from(self.from.clone()).subject(subject);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        let message = builder.body(body).map_err(|e| e.to_string())?;
        retried(|| {
            self.transport
                .send(&message)
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    }
}

/// The subject and plain-text body of an alert's mail.
pub fn mail_text(a: &Alert, external_url: &str) -> (String, String) {
    let name = a.labels.get("alertname").map(String::as_str).unwrap_or("");
    let summary = a
        .annotations
        .get("summary")
        .map(String::as_str)
        .unwrap_or("");
    let (state, when) = match a.ends_at {
        Some(end) => (
            "RESOLVED",
            format!("from {} to {}", rfc3339(a.starts_at), rfc3339(end)),
        ),
        None => ("FIRING", format!("since {}", rfc3339(a.starts_at))),
    };
    let subject = format!("[{state}] {name}: {summary}");
    let mut body = format!(
        "{name} {} {when}\n\n{summary}\n\nLabels:\n",
        state.to_lowercase()
    );
    for (k, v) in &a.labels {
        body.push_str(&format!("  {k} = {v}\n"));
    }
    body.push_str(&format!("\nBroker: {external_url}/metrics\n"));
    (subject, body)
}

impl Notifier {
    pub fn start(config: &AlertsConfig, external_url: String) -> Self {
        if config.webhooks.is_empty() && config.alertmanagers.is_empty() && config.emails.is_empty()
        {
            return Self { tx: None };
        }
        let mailers: Vec<Mailer> = config
            .emails
            .iter()
            .filter_map(|e| match Mailer::new(e) {
                Ok(m) => Some(m),
                Err(err) => {
                    warn!(
                        error = err,
                        "alert mail receiver unusable; its mail is not sent"
                    );
                    None
                }
            })
            .collect();
        let (tx, rx) = sync_channel::<Alert>(QUEUE);
        let webhooks: Vec<String> = config.webhooks.iter().map(|w| w.url.clone()).collect();
        let managers: Vec<String> = config
            .alertmanagers
            .iter()
            .map(|a| format!("{}/api/v2/alerts", a.url.trim_end_matches('/')))
            .collect();
        let spawned = std::thread::Builder::new()
            .name("alert-notifier".into())
            .spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(10)))
                    .build()
                    .into();
                for a in rx {
                    for url in &webhooks {
                        if let Err(e) = post(&agent, url, &webhook_payload(&a, &external_url)) {
                            warn!(url, error = e, "alert webhook not reached after retries");
                        }
                    }
                    for url in &managers {
                        let mut one = alert_json(&a, &external_url);
                        if let Value::Object(o) = &mut one {
                            o.remove("status");
                            o.remove("fingerprint");
                        }
                        if let Err(e) = post(&agent, url, &json!([one])) {
                            warn!(url, error = e, "Alertmanager not reached after retries");
                        }
                    }
                    for m in &mailers {
                        if let Err(e) = m.send(&a, &external_url) {
                            warn!(
                                server = m.server,
                                error = e,
                                "alert mail not sent after retries"
                            );
                        }
                    }
                }
            });
        match spawned {
            Ok(_) => Self { tx: Some(tx) },
            Err(e) => {
                warn!(error = %e, "cannot start the alert notifier; alerts are only logged");
                Self { tx: None }
            }
        }
    }

    pub fn send(&self, a: Alert) {
        if let Some(tx) = &self.tx {
            match tx.try_send(a) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    warn!("alert notifier queue full; an alert notification was dropped")
                }
                Err(TrySendError::Disconnected(_)) => {
                    warn!("alert notifier stopped; an alert notification was dropped")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_times_when_formatting_should_be_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_796_190_922_054), "2026-12-02T05:55:22.054Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn given_a_resolved_alert_when_writing_its_mail_should_say_so_with_labels() {
        let mut labels = std::collections::BTreeMap::new();
        labels.insert("alertname".to_string(), "ledger-lag".to_string());
        labels.insert("group".to_string(), "ledger-eu".to_string());
        let mut annotations = std::collections::BTreeMap::new();
        annotations.insert(
            "summary".to_string(),
            "group ledger-eu is 600 s behind".to_string(),
        );
        let a = Alert {
            labels,
            annotations,
            starts_at: 0,
            ends_at: Some(60_000),
        };
        let (subject, body) = mail_text(&a, "http://127.0.0.1:8080");
        assert_eq!(
            subject,
            "[RESOLVED] ledger-lag: group ledger-eu is 600 s behind"
        );
        assert!(body.contains("group = ledger-eu"), "{body}");
        assert!(body.contains("to 1970-01-01T00:01:00.000Z"), "{body}");
    }

    #[test]
    fn given_credentials_in_the_url_when_naming_the_server_should_leave_them_out() {
        let m = Mailer::new(&EmailReceiver {
            url: "smtp://ops:secret@127.0.0.1:2525".into(),
            from: "oxbow@example.com".into(),
            to: vec!["oncall@example.com".into()],
        })
        .map_err(|e| e.to_string());
        assert_eq!(m.map(|m| m.server), Ok("smtp://127.0.0.1:2525".to_string()));
    }
}
