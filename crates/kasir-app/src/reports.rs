//! What an export holds, row by row: the columns of payins and of refunds, once, for the dashboard's CSV
//! and `kasir export`, with cells made safe for spreadsheets.

use kasir_domain::{Payin, Phone};

/// The columns of a payins export, in order.
pub const PAYIN_COLUMNS: [&str; 11] = [
    "id",
    "created_at",
    "status",
    "currency",
    "amount",
    "amount_paid",
    "reference_id",
    "customer_email",
    "customer_phone",
    "transaction_description",
    "latest_payment_attempt",
];

/// Minor units as a decimal in the currency's units: `7700000` → `77000`, `7700050` → `77000.50`.
pub fn units(minor: i64) -> String {
    let (sign, abs) = if minor < 0 { ("-", minor.unsigned_abs()) } else { ("", minor as u64) };
    match abs % 100 {
        0 => format!("{sign}{}", abs / 100),
        c => format!("{sign}{}.{c:02}", abs / 100),
    }
}

/// A payin's phone number, masked (`+62 *******7890`): the customer's, else the one its latest push went to.
pub fn masked_phone(p: &Payin) -> String {
    let given = p.customer_details.as_ref().and_then(|c| c.phone.as_ref());
    if let Some(c) = given {
        if let Ok(phone) = Phone::parse(&c.calling_code, &c.number, kasir_domain::Mode::Test) {
            return phone.masked();
        }
    }
    p.payment_method_details.as_ref().and_then(|m| m.phone()).map(Phone::masked).unwrap_or_default()
}

/// A payin's row, in [`PAYIN_COLUMNS`]'s order.
pub fn payin_row(p: &Payin) -> [String; 11] {
    [
        p.id.clone(),
        p.created_at.to_rfc3339(),
        p.status.as_str().into(),
        p.invoice_currency.code().into(),
        units(p.amount),
        units(p.amount_paid),
        p.reference_id.clone(),
        p.customer_details.as_ref().map(|c| c.email.clone()).unwrap_or_default(),
        masked_phone(p),
        p.transaction_description.clone(),
        p.latest_payment_attempt.clone(),
    ]
}

/// The columns of a refunds export, in order.
pub const REFUND_COLUMNS: [&str; 9] =
    ["id", "created_at", "status", "currency", "amount", "payin", "reason", "reference_id", "status_description"];

/// A refund's row, in [`REFUND_COLUMNS`]'s order.
pub fn refund_row(r: &kasir_domain::Refund) -> [String; 9] {
    [
        r.id.clone(),
        r.created_at.to_rfc3339(),
        r.status.as_str().into(),
        r.currency.code().into(),
        units(r.amount),
        r.payin.clone(),
        r.reason.clone(),
        r.reference_id.clone(),
        r.status_description.clone(),
    ]
}

/// A cell a spreadsheet reads as text: one that starts with `=`, `+`, `-`, `@`, a tab or a carriage
/// return (a formula, to a spreadsheet) gets a leading `'`.
pub fn safe_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// One CSV line (RFC 4180: quoted when needed, CRLF), every cell made safe. A cell with a `;` or a tab
/// is quoted too: a spreadsheet set to split on them would otherwise start a new cell, a formula, there.
pub fn csv_line<S: AsRef<str>>(cells: &[S]) -> String {
    let mut out = String::new();
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let c = safe_cell(c.as_ref());
        if c.contains([',', '"', '\n', '\r', ';', '\t']) {
            out.push('"');
            out.push_str(&c.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&c);
        }
    }
    out.push_str("\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_that_a_spreadsheet_would_run_are_escaped() {
        assert_eq!(csv_line(&["=1+1", "+62", "-x", "@SUM(A1)", "plain"]), "'=1+1,'+62,'-x,'@SUM(A1),plain\r\n");
        assert_eq!(csv_line(&["a,b", "say \"hi\"", "two\nlines"]), "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n");
        assert_eq!(csv_line(&["=HYPERLINK(\"x\",\"y\")"]), "\"'=HYPERLINK(\"\"x\"\",\"\"y\"\")\"\r\n");
        assert_eq!(csv_line(&["x;=1+1", "a\t=b"]), "\"x;=1+1\",\"a\t=b\"\r\n", "a separator inside is quoted");
        assert_eq!(units(7_700_000), "77000");
        assert_eq!(units(7_700_050), "77000.50");
    }
}
