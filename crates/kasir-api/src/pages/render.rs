//! The pages' HTML: one template per page (`templates/`), what every page shares ([`Chrome`]), the ways
//! pages write amounts, times and phone numbers, and the headers every page is sent with.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kasir_domain::Timestamp;

use super::text::{Lang, Text};

pub(super) const CSS: &str = include_str!("page.css");
pub(super) const JS: &str = include_str!("page.js");

/// What every page shows and is sent with.
pub(super) struct Chrome {
    pub lang_code: &'static str,
    pub other_lang: &'static str,
    pub t: &'static Text,
    pub merchant: String,
    /// For the inline style and script: nothing else on the page may run (Content-Security-Policy).
    pub nonce: String,
    pub css: &'static str,
    pub js: &'static str,
    /// The page's state (`waiting`, `paid`, …), which the live status compares with.
    pub state: &'static str,
    /// Where the live status is read, on a page that waits for it.
    pub poll: String,
    /// How paying ended (`success`, `fail`, `cancel`), on a final page: the SDK's popup tells its opener.
    pub outcome: &'static str,
}

/// A fresh nonce for a page's inline style and script, which its Content-Security-Policy names.
pub(crate) fn nonce() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>())
}

impl Chrome {
    pub fn new(lang: Lang, merchant: &str, state: &'static str) -> Chrome {
        Chrome {
            lang_code: lang.code(),
            other_lang: lang.other().code(),
            t: lang.text(),
            merchant: merchant.to_string(),
            nonce: nonce(),
            css: CSS,
            js: JS,
            state,
            poll: String::new(),
            outcome: "",
        }
    }
}

pub(super) struct Item {
    pub name: String,
    pub quantity: String,
    pub amount: String,
}

#[derive(Template)]
#[template(path = "checkout.html")]
pub(super) struct CheckoutPage {
    pub chrome: Chrome,
    pub amount: String,
    pub description: String,
    pub items: Vec<Item>,
    pub landing: String,
    pub cancel_url: String,
}

#[derive(Template)]
#[template(path = "landing.html")]
pub(super) struct LandingPage {
    pub chrome: Chrome,
    pub amount: String,
    pub description: String,
    pub landing: String,
    pub csrf: String,
    pub phone: String,
    /// The masked number a push can be sent again to, after a failed one.
    pub again_to: String,
    pub notice: String,
    pub can_push: bool,
    pub cancel_url: String,
}

#[derive(Template)]
#[template(path = "waiting.html")]
pub(super) struct WaitingPage {
    pub chrome: Chrome,
    pub phone: String,
    pub amount: String,
    /// Seconds left when the page was made: the countdown runs from the page's own loading, not from
    /// the phone's clock, which may be minutes off.
    pub left_secs: i64,
    pub left: String,
    pub deadline: String,
    pub status: String,
}

#[derive(Template)]
#[template(path = "receipt.html")]
pub(super) struct ReceiptPage {
    pub chrome: Chrome,
    pub title: &'static str,
    pub amount: String,
    pub reference: String,
    pub paid_at: String,
    pub success_url: String,
    pub redirect: bool,
}

#[derive(Template)]
#[template(path = "closed.html")]
pub(super) struct ClosedPage {
    pub chrome: Chrome,
    pub body: &'static str,
    pub cancel_url: String,
}

#[derive(Template)]
#[template(path = "notfound.html")]
pub(super) struct NotFoundPage {
    pub chrome: Chrome,
}

/// A time as a customer in Indonesia reads it: Western Indonesia Time (UTC+7), e.g. `1 Desember 2026,
/// 14.05 WIB` (Indonesian writes the time with a dot) or `1 December 2026, 14:05 WIB`.
pub(crate) fn wib(t: Timestamp, text: &Text, lang: Lang) -> String {
    let at = t.civil(kasir_domain::WIB_OFFSET_SECS);
    let sep = if lang == Lang::Id { '.' } else { ':' };
    let month = text.months[at.month as usize - 1];
    format!("{} {month} {}, {:02}{sep}{:02} WIB", at.day, at.year, at.hour, at.minute)
}

/// Minutes and seconds, `4:05`.
pub(super) fn minutes(seconds: i64) -> String {
    let s = seconds.max(0);
    format!("{}:{:02}", s / 60, s % 60)
}

/// The headers every page is sent with: no caching, no referrer, no framing, and nothing run or
/// styled on it but what carries its nonce.
pub(crate) fn html(status: StatusCode, body: String, nonce: &str, cookies: &[String]) -> Response {
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let mut res = (status, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    with_cookies(res, cookies)
}

/// `res` with a `Set-Cookie` for each of `cookies`.
pub(crate) fn with_cookies(mut res: Response, cookies: &[String]) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// Renders a page, or answers 500 (logged) if its template fails.
pub(super) fn page<T: Template>(status: StatusCode, page: &T, nonce: &str, cookies: &[String]) -> Response {
    match page.render() {
        Ok(body) => html(status, body, nonce, cookies),
        Err(e) => {
            tracing::error!(error = %e, "a page's template failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_in_wib_in_each_language() {
        let t = Timestamp::parse_rfc3339("2026-12-01T07:05:09Z").unwrap();
        assert_eq!(wib(t, Lang::Id.text(), Lang::Id), "1 Desember 2026, 14.05 WIB");
        assert_eq!(wib(t, Lang::En.text(), Lang::En), "1 December 2026, 14:05 WIB");
        let late = Timestamp::parse_rfc3339("2026-12-31T20:30:00Z").unwrap();
        assert_eq!(wib(late, Lang::Id.text(), Lang::Id), "1 Januari 2027, 03.30 WIB");
        assert_eq!(minutes(305), "5:05");
        assert_eq!(minutes(-3), "0:00");
    }
}
