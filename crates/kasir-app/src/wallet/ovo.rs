//! OVO's host-to-host Push to Pay protocol, as its partner documents (v1.7.1) and open clients write it:
//! one URL takes every message; a message is JSON, authenticated by three headers. This module is the
//! wire format alone, shared by the live wallet (a client) and the simulator (a server): messages,
//! signatures, response codes, dates, reference numbers. It does no I/O and decides no payin's state.
//!
//! - Headers: `app-id`, `random` (Unix seconds), and `hmac`, the lower-case hex HMAC-SHA256 keyed with the
//!   app key's ASCII bytes over `app-id` followed by `random`. (OVO's text adds "+ request body", but its
//!   own test vector, checked below, fits `app-id + random` only.)
//! - Messages ([`Message`]): push, reversal (mandatory when a push gets no answer), status, void, void
//!   status, phone inquiry; each a `type` and a `processingCode`, answered with the type's `…10` reply.
//! - `referenceNumber` counts 1 to 999,999 within a `batchNo`, one per push whatever its outcome; the
//!   batch goes up after that ([`Reference::nth`]). Status, reversal and void messages repeat the push's.
//!   [`reserve`] takes the next one from a durable sequence in the store, never given twice.

use hmac::{Hmac, Mac};
use kasir_domain::{Phone, Timestamp, WIB_OFFSET_SECS};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The value of the `appSource` field Kasir sends.
pub const APP_SOURCE: &str = "POS";

/// The `hmac` header for `app_id` and `random`, keyed with `app_key`.
pub fn signature(app_id: &str, random: &str, app_key: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(app_key.as_bytes()).expect("HMAC takes any key length");
    mac.update(app_id.as_bytes());
    mac.update(random.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Whether the `hmac` header a request carried is the one `app_key` gives, compared in constant time.
pub fn signature_matches(app_id: &str, random: &str, app_key: &str, hmac: &str) -> bool {
    use subtle::ConstantTimeEq;
    let want = signature(app_id, random, app_key);
    bool::from(want.as_bytes().ct_eq(hmac.trim().to_ascii_lowercase().as_bytes()))
}

/// The messages of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Message {
    /// A payment request pushed to the customer's OVO app; the call blocks until they answer (~70 s).
    Push,
    /// Undoes a push that got no final answer.
    Reversal,
    /// What became of a push.
    Status,
    /// Gives back a paid push, the same day (WIB) only.
    Void,
    /// What became of a void.
    VoidStatus,
    /// Whether a phone number has an OVO account.
    PhoneInquiry,
}

impl Message {
    pub const ALL: [Message; 6] =
        [Message::Push, Message::Reversal, Message::Status, Message::Void, Message::VoidStatus, Message::PhoneInquiry];

    /// The request's `type` and `processingCode`.
    pub const fn codes(self) -> (&'static str, &'static str) {
        match self {
            Message::Push => ("0200", "040000"),
            Message::Reversal => ("0400", "040000"),
            Message::Status => ("0100", "040000"),
            Message::Void => ("0200", "020040"),
            Message::VoidStatus => ("0100", "020040"),
            Message::PhoneInquiry => ("0100", "050000"),
        }
    }

    /// The `type` of the answer: the request's with its third digit one higher (`0200` → `0210`).
    pub const fn answer_type(self) -> &'static str {
        match self.codes().0.as_bytes()[1] {
            b'1' => "0110",
            b'2' => "0210",
            _ => "0410",
        }
    }

    /// The message a request's `type` and `processingCode` name, if any.
    pub fn of(kind: &str, processing_code: &str) -> Option<Message> {
        Message::ALL.into_iter().find(|m| m.codes() == (kind, processing_code))
    }

    /// Its name in logs and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Message::Push => "push",
            Message::Reversal => "reversal",
            Message::Status => "status",
            Message::Void => "void",
            Message::VoidStatus => "void_status",
            Message::PhoneInquiry => "phone_inquiry",
        }
    }
}

/// A push's place in OVO's numbering: `batch_no` and, within it, `reference_number` (1 to 999,999).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Reference {
    pub batch_no: u32,
    pub reference_number: u32,
}

impl Reference {
    /// The highest reference number within a batch.
    pub const MAX: u32 = 999_999;
    /// The first reference of all.
    pub const FIRST: Reference = Reference { batch_no: 1, reference_number: 1 };

    /// The `n`th reference of all (1 is [`Reference::FIRST`]): batches of 999,999 one after another.
    pub const fn nth(n: u64) -> Reference {
        let i = n.saturating_sub(1);
        Reference {
            batch_no: (i / Reference::MAX as u64) as u32 + 1,
            reference_number: (i % Reference::MAX as u64) as u32 + 1,
        }
    }
}

/// The sequence OVO's reference numbers are taken from.
pub const REFERENCE_SEQUENCE: &str = "ovo_reference";

/// Takes the next reference number for a push, durably: once the caller's transaction commits, no
/// process, now or after a restart, takes it again.
pub fn reserve(tx: &mut dyn kasir_store::Tx) -> Result<Reference, kasir_store::StoreError> {
    let n = tx.next_in_sequence(REFERENCE_SEQUENCE)?;
    Ok(Reference::nth(u64::try_from(n).unwrap_or(1)))
}

/// Who the merchant is to OVO: the terminal and store its requests name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terminal {
    pub tid: String,
    pub mid: String,
    pub merchant_id: String,
    pub store_code: String,
}

/// A request's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    #[serde(rename = "type")]
    pub kind: String,
    pub processing_code: String,
    /// Whole rupiah.
    pub amount: i64,
    /// `yyyy-MM-dd HH:mm:ss.SSS` in Western Indonesia Time (UTC+7).
    pub date: String,
    pub reference_number: String,
    pub tid: String,
    pub mid: String,
    pub merchant_id: String,
    pub store_code: String,
    pub app_source: String,
    pub transaction_request_data: RequestData,
}

/// A request's `transactionRequestData`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestData {
    pub batch_no: String,
    /// The customer's number as OVO writes it: `08…`.
    pub phone: String,
    /// The merchant's invoice: never reused, whatever the outcome.
    pub merchant_invoice: String,
}

/// What a push (and every message about it) is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub reference: Reference,
    /// Whole rupiah.
    pub amount: i64,
    pub phone: Phone,
    pub merchant_invoice: String,
}

impl Request {
    /// `message` about `tx`, sent by `terminal` at `now`.
    pub fn new(message: Message, terminal: &Terminal, tx: &Transaction, now: Timestamp) -> Request {
        let (kind, code) = message.codes();
        Request {
            kind: kind.into(),
            processing_code: code.into(),
            amount: tx.amount,
            date: wib_date(now),
            reference_number: tx.reference.reference_number.to_string(),
            tid: terminal.tid.clone(),
            mid: terminal.mid.clone(),
            merchant_id: terminal.merchant_id.clone(),
            store_code: terminal.store_code.clone(),
            app_source: APP_SOURCE.into(),
            transaction_request_data: RequestData {
                batch_no: tx.reference.batch_no.to_string(),
                phone: local_phone(&tx.phone),
                merchant_invoice: tx.merchant_invoice.clone(),
            },
        }
    }

    /// The message it is, if its `type` and `processingCode` name one.
    pub fn message(&self) -> Option<Message> {
        Message::of(&self.kind, &self.processing_code)
    }

    /// Its reference, if both numbers are numbers in range.
    pub fn reference(&self) -> Option<Reference> {
        let reference_number: u32 = self.reference_number.parse().ok().filter(|n| (1..=Reference::MAX).contains(n))?;
        let batch_no: u32 = self.transaction_request_data.batch_no.parse().ok().filter(|n| *n >= 1)?;
        Some(Reference { batch_no, reference_number })
    }
}

/// An answer's body (the same JSON on non-200 HTTP answers).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
pub struct Response {
    #[serde(rename = "type")]
    pub kind: String,
    pub response_code: String,
    #[serde(deserialize_with = "text_or_number")]
    pub approval_code: String,
    #[serde(deserialize_with = "text_or_number")]
    pub trace_number: String,
    #[serde(deserialize_with = "text_or_number")]
    pub host_date: String,
    #[serde(deserialize_with = "text_or_number")]
    pub host_time: String,
    #[serde(deserialize_with = "text_or_number")]
    pub reference_number: String,
    pub transaction_response_data: serde_json::Value,
}

/// A field OVO writes as a string in some answers and as a number in others (its own sample answer
/// has `"traceNumber": 3451`): either is read as text, and `null` as empty.
fn text_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => Ok(n.to_string()),
        serde_json::Value::Null => Ok(String::new()),
        other => Err(serde::de::Error::custom(format!("expected text or a number, got {other}"))),
    }
}

impl Response {
    pub fn code(&self) -> Code {
        Code::parse(&self.response_code)
    }
}

/// A `responseCode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Code {
    /// 00
    Approved,
    /// 13
    InvalidAmount,
    /// 14: the number has no OVO account.
    NotRegistered,
    /// 17: the customer declined, or cancelled, in the OVO app.
    Declined,
    /// 25: no such transaction.
    NotFound,
    /// 26: the push could not be delivered.
    PushFailed,
    /// 40
    Failed,
    /// 54
    Expired,
    /// 58: not allowed (a void after its day, say).
    NotAllowed,
    /// 63: the `hmac` header is wrong.
    HmacFailure,
    /// 68: no answer yet (pending, or the customer's time ran out on OVO's side).
    Pending,
    /// 73
    AlreadyReversed,
    /// 94: the merchant invoice or reference number was used already.
    Duplicate,
    /// 96
    BadProcessingCode,
    /// ER (OVO's failure), EB (terminal not registered), BR (a malformed request), or a code not listed.
    System(String),
}

impl Code {
    pub fn parse(code: &str) -> Code {
        match code.trim() {
            "00" => Code::Approved,
            "13" => Code::InvalidAmount,
            "14" => Code::NotRegistered,
            "17" => Code::Declined,
            "25" => Code::NotFound,
            "26" => Code::PushFailed,
            "40" => Code::Failed,
            "54" => Code::Expired,
            "58" => Code::NotAllowed,
            "63" => Code::HmacFailure,
            "68" => Code::Pending,
            "73" => Code::AlreadyReversed,
            "94" => Code::Duplicate,
            "96" => Code::BadProcessingCode,
            other => Code::System(other.to_string()),
        }
    }

    /// The code as it is written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Code::Approved => "00",
            Code::InvalidAmount => "13",
            Code::NotRegistered => "14",
            Code::Declined => "17",
            Code::NotFound => "25",
            Code::PushFailed => "26",
            Code::Failed => "40",
            Code::Expired => "54",
            Code::NotAllowed => "58",
            Code::HmacFailure => "63",
            Code::Pending => "68",
            Code::AlreadyReversed => "73",
            Code::Duplicate => "94",
            Code::BadProcessingCode => "96",
            Code::System(c) => c,
        }
    }
}

/// `now` as OVO's `date` field writes it: `2026-12-01 14:05:09.123`, Western Indonesia Time (UTC+7).
pub fn wib_date(now: Timestamp) -> String {
    let c = now.civil(WIB_OFFSET_SECS);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.minute,
        c.second,
        c.micros / 1000
    )
}

/// A phone number as OVO's requests write it: `08…`.
pub fn local_phone(phone: &Phone) -> String {
    format!("0{}", phone.number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_matches_ovos_own_test_vector() {
        let key = "a4f6bf89b2a85781b7c1cab997b7ee0c89be03f7ac6ef29b63a45d07253cc401";
        let want = "8087f83ffc6a6564b8161e6dce1ee9a82dfc514c83de341587f16abd512fcfd6";
        assert_eq!(signature("hypermart", "1468914526", key), want);
        assert!(signature_matches("hypermart", "1468914526", key, &want.to_ascii_uppercase()));
        assert!(!signature_matches("hypermart", "1468914527", key, want));
        assert!(!signature_matches("hypermart", "1468914526", "another key", want));
    }

    #[test]
    fn each_message_has_its_codes_and_its_answer_type() {
        let table = [
            (Message::Push, "0200", "040000", "0210"),
            (Message::Reversal, "0400", "040000", "0410"),
            (Message::Status, "0100", "040000", "0110"),
            (Message::Void, "0200", "020040", "0210"),
            (Message::VoidStatus, "0100", "020040", "0110"),
            (Message::PhoneInquiry, "0100", "050000", "0110"),
        ];
        for (m, kind, code, answer) in table {
            assert_eq!(m.codes(), (kind, code), "{m:?}");
            assert_eq!(m.answer_type(), answer, "{m:?}");
            assert_eq!(Message::of(kind, code), Some(m));
        }
        assert_eq!(Message::of("0200", "999999"), None);
    }

    #[test]
    fn reference_numbers_run_to_999999_then_the_batch_goes_up() {
        assert_eq!(Reference::nth(1), Reference::FIRST);
        assert_eq!(Reference::nth(2), Reference { batch_no: 1, reference_number: 2 });
        assert_eq!(Reference::nth(999_999), Reference { batch_no: 1, reference_number: 999_999 });
        assert_eq!(Reference::nth(1_000_000), Reference { batch_no: 2, reference_number: 1 });
        assert_eq!(Reference::nth(7 * 999_999 + 1), Reference { batch_no: 8, reference_number: 1 });
        for n in [1u64, 2, 999_998, 999_999, 1_000_000, 5_000_000] {
            assert!(Reference::nth(n) < Reference::nth(n + 1), "numbering only goes up: {n}");
        }
    }

    #[test]
    fn dates_are_written_in_wib_to_the_millisecond() {
        let t = Timestamp::parse_rfc3339("2026-12-01T07:05:09.123456Z").unwrap();
        assert_eq!(wib_date(t), "2026-12-01 14:05:09.123");
        let late = Timestamp::parse_rfc3339("2026-12-31T20:30:00Z").unwrap();
        assert_eq!(wib_date(late), "2027-01-01 03:30:00.000");
        let leap = Timestamp::parse_rfc3339("2028-02-28T17:00:00Z").unwrap();
        assert_eq!(wib_date(leap), "2028-02-29 00:00:00.000");
    }

    #[test]
    fn a_push_request_is_written_as_ovo_reads_it() {
        let terminal =
            Terminal { tid: "T1".into(), mid: "M1".into(), merchant_id: "110".into(), store_code: "S1".into() };
        let tx = Transaction {
            reference: Reference { batch_no: 3, reference_number: 42 },
            amount: 150_000,
            phone: Phone { calling_code: "62".into(), number: "81234567890".into() },
            merchant_invoice: "pat_cmrq5cf4r2tr8tu3s2o0".into(),
        };
        let now = Timestamp::parse_rfc3339("2026-12-01T07:05:09Z").unwrap();
        let req = Request::new(Message::Push, &terminal, &tx, now);
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "type": "0200", "processingCode": "040000", "amount": 150000, "date": "2026-12-01 14:05:09.000",
                "referenceNumber": "42", "tid": "T1", "mid": "M1", "merchantId": "110", "storeCode": "S1",
                "appSource": "POS",
                "transactionRequestData": {"batchNo": "3", "phone": "081234567890", "merchantInvoice": "pat_cmrq5cf4r2tr8tu3s2o0"}
            })
        );
        let back: Request = serde_json::from_value(json).unwrap();
        assert_eq!(back.message(), Some(Message::Push));
        assert_eq!(back.reference(), Some(tx.reference));
    }

    #[test]
    fn answers_are_read_whatever_they_leave_out_and_every_code_round_trips() {
        let a: Response = serde_json::from_str(
            r#"{"type":"0210","responseCode":"00","approvalCode":"123456","traceNumber":"9","hostDate":"1201","hostTime":"140509","referenceNumber":"42","transactionResponseData":{"ovoid":"x"}}"#,
        )
        .unwrap();
        assert_eq!(a.code(), Code::Approved);
        assert_eq!(a.approval_code, "123456");
        // As OVO's own sample writes it: numbers where other answers have text.
        let sample: Response = serde_json::from_str(
            r#"{"type":"0210","responseCode":"00","approvalCode":"000001","traceNumber":3451,"hostDate":"0517","hostTime":"104531","referenceNumber":123412,"transactionResponseData":null}"#,
        )
        .unwrap();
        assert_eq!((sample.trace_number.as_str(), sample.reference_number.as_str()), ("3451", "123412"));
        let bare: Response = serde_json::from_str(r#"{"responseCode":"63"}"#).unwrap();
        assert_eq!(bare.code(), Code::HmacFailure);
        for c in ["00", "13", "14", "17", "25", "26", "40", "54", "58", "63", "68", "73", "94", "96", "ER", "EB", "BR"]
        {
            assert_eq!(Code::parse(c).as_str(), c);
        }
        assert_eq!(Code::parse("ER"), Code::System("ER".into()));
    }
}
