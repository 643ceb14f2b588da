//! Log lines an operator can use: plain text by default, one JSON object a line with
//! `KASIR_LOG_FORMAT=json`; each line a request caused carries its `request_id`; secrets and phone
//! numbers never appear whole.

use std::borrow::Cow;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// How lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    /// From `KASIR_LOG_FORMAT` (`text`, the default, or `json`).
    pub fn from_env() -> Result<LogFormat, String> {
        match std::env::var("KASIR_LOG_FORMAT").as_deref() {
            Err(_) | Ok("") | Ok("text") => Ok(LogFormat::Text),
            Ok("json") => Ok(LogFormat::Json),
            Ok(other) => Err(format!("KASIR_LOG_FORMAT={other:?}: expected text or json")),
        }
    }
}

/// Installs the subscriber: `KASIR_LOG` filters (default `info`), lines go to standard error.
pub fn init(format: LogFormat) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("KASIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // A closed stderr (a log pipe that went away) must not take the gateway down.
        .log_internal_errors(false)
        .event_format(Lines { format });
    tracing_subscriber::registry().with(filter).with(lines).init();
}

struct Lines {
    format: LogFormat,
}

/// An event's fields, as text.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

impl Fields {
    fn put(&mut self, field: &Field, value: String) {
        if field.name() == "message" {
            self.message = value;
        } else {
            self.rest.push((field.name(), value));
        }
    }
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, _ctx: &FmtContext<'_, S, N>, mut w: Writer<'_>, event: &Event<'_>) -> std::fmt::Result {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let meta = event.metadata();
        let time = kasir_domain::Clock::now(&kasir_domain::SystemClock).to_rfc3339();
        let request_id = kasir_api::observe::request_id();
        match self.format {
            LogFormat::Text => {
                write!(w, "{time} {:>5} {}: {}", meta.level(), meta.target(), mask(&fields.message))?;
                for (k, v) in &fields.rest {
                    write!(w, " {k}={}", mask(v))?;
                }
                if let Some(id) = request_id {
                    write!(w, " request_id={id}")?;
                }
                writeln!(w)
            }
            LogFormat::Json => {
                let mut line = serde_json::Map::new();
                line.insert("time".into(), time.into());
                line.insert("level".into(), meta.level().as_str().into());
                line.insert("target".into(), meta.target().into());
                line.insert("message".into(), mask(&fields.message).into_owned().into());
                if let Some(id) = request_id {
                    line.insert("request_id".into(), id.to_string().into());
                }
                for (k, v) in fields.rest {
                    line.insert(k.into(), mask(&v).into_owned().into());
                }
                let mut text = serde_json::Value::Object(line).to_string();
                text.push('\n');
                w.write_str(&text)
            }
        }
    }
}

/// `text` with every secret cut to its prefix and every phone-like run of digits cut to its last four.
pub fn mask(text: &str) -> Cow<'_, str> {
    const SECRETS: [&str; 3] = ["sk_live_", "sk_test_", "whsec_"];
    let phone_like = |t: &str| t.bytes().filter(u8::is_ascii_digit).count() >= 9;
    if !SECRETS.iter().any(|s| text.contains(s)) && !phone_like(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if let Some(p) = SECRETS.iter().find(|p| text[i..].starts_with(**p)) {
            out.push_str(p);
            out.push('…');
            i += p.len();
            while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'+' | b'/' | b'=')) {
                i += 1;
            }
            continue;
        }
        // A run of 9 to 15 digits (a leading + allowed), not part of a word: a phone number.
        let start = i;
        let plus = b[i] == b'+';
        let mut j = i + usize::from(plus);
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let digits = j - start - usize::from(plus);
        let in_word = start > 0 && (b[start - 1].is_ascii_alphanumeric() || b[start - 1] == b'_');
        if (9..=15).contains(&digits) && !in_word && !(j < b.len() && b[j].is_ascii_alphanumeric()) {
            if plus {
                out.push('+');
            }
            out.extend(std::iter::repeat_n('*', digits - 4));
            out.push_str(&text[j - 4..j]);
            i = j;
            continue;
        }
        let ch = text[i..].chars().next().expect("in bounds");
        out.push(ch);
        i += ch.len_utf8();
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_phone_numbers_are_masked() {
        assert_eq!(mask("key sk_live_AbC123xyz and whsec_YWJj+/= end"), "key sk_live_… and whsec_… end");
        assert_eq!(mask("push to +6281234567890 now"), "push to +*********7890 now");
        assert_eq!(mask("phone 081234567890."), "phone ********7890.");
        assert_eq!(mask("payin pay_cmrq5c74r2tr8tu3s2gg ok"), "payin pay_cmrq5c74r2tr8tu3s2gg ok");
        assert_eq!(mask("amount 5000000 at 12:00"), "amount 5000000 at 12:00");
        assert!(matches!(mask("nothing here"), Cow::Borrowed(_)));
    }
}
