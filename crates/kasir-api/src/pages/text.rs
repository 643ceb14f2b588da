//! Every word the hosted pages say, in Indonesian (the default) and English. One table per language,
//! so a translation is one place and a page cannot show a string that has no translation.

use kasir_domain::FailureReason;

/// A page's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Id,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Id => "id",
            Lang::En => "en",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        match s.trim().get(..2).map(str::to_ascii_lowercase).as_deref() {
            Some("id") => Some(Lang::Id),
            Some("en") => Some(Lang::En),
            _ => None,
        }
    }

    /// The first of Indonesian and English that `Accept-Language` names, by its order and weights.
    pub fn from_accept_language(header: &str) -> Option<Lang> {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut bits = part.split(';');
            let Some(lang) = bits.next().and_then(Lang::parse) else { continue };
            let q = bits.find_map(|b| b.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l)
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::Id => Lang::En,
            Lang::En => Lang::Id,
        }
    }

    pub fn text(self) -> &'static Text {
        match self {
            Lang::Id => &ID,
            Lang::En => &EN,
        }
    }
}

/// The words of one language.
pub struct Text {
    /// The name of the other language, in itself: the switch's label.
    pub switch_to: &'static str,
    pub pay_to: &'static str,
    pub total: &'static str,
    pub order: &'static str,
    pub method: &'static str,
    pub ovo_hint: &'static str,
    pub place_order: &'static str,
    pub ovo_title: &'static str,
    pub phone_label: &'static str,
    pub phone_help: &'static str,
    pub pay: &'static str,
    pub cancel: &'static str,
    pub back_to_shop: &'static str,
    pub waiting_title: &'static str,
    pub waiting_sent_to: &'static str,
    pub steps: [&'static str; 4],
    pub time_left: &'static str,
    pub deadline: &'static str,
    pub checking: &'static str,
    pub refresh: &'static str,
    pub paid_title: &'static str,
    pub already_paid_title: &'static str,
    pub receipt_merchant: &'static str,
    pub receipt_amount: &'static str,
    pub receipt_reference: &'static str,
    pub receipt_time: &'static str,
    pub redirecting: &'static str,
    pub continue_to_shop: &'static str,
    pub failed_title: &'static str,
    pub send_again_to: &'static str,
    pub other_number: &'static str,
    pub send_new: &'static str,
    pub out_of_tries: &'static str,
    pub closed_title: &'static str,
    pub closed_body: &'static str,
    pub cancelled_body: &'static str,
    pub bad_phone: &'static str,
    pub bad_form: &'static str,
    pub not_found_title: &'static str,
    pub not_found_body: &'static str,
    pub busy: &'static str,
    pub refused: &'static str,
    pub months: [&'static str; 12],
    pub footer: &'static str,
    pub close_window: &'static str,
}

impl Text {
    /// Why a push failed, in the customer's words.
    pub fn reason(&self, reason: Option<FailureReason>) -> &'static str {
        let en = std::ptr::eq(self, &EN);
        match (reason, en) {
            (Some(FailureReason::NotRegistered), false) => "Nomor ini belum terdaftar di OVO. Periksa nomornya, atau pakai nomor OVO lain.",
            (Some(FailureReason::NotRegistered), true) => "This number is not registered with OVO. Check the number, or use another OVO number.",
            (Some(FailureReason::Declined), false) => "Pembayaran ditolak di aplikasi OVO.",
            (Some(FailureReason::Declined), true) => "The payment was declined in the OVO app.",
            (Some(FailureReason::PushNotDelivered), false) => "Permintaan pembayaran tidak sampai ke ponsel Anda. Pastikan aplikasi OVO terpasang dan ponsel tersambung ke internet.",
            (Some(FailureReason::PushNotDelivered), true) => "The payment request did not reach your phone. Make sure the OVO app is installed and your phone is online.",
            (Some(FailureReason::InsufficientBalance), false) => "Saldo OVO Anda tidak cukup untuk jumlah ini. Isi ulang saldo, lalu kirim permintaan baru.",
            (Some(FailureReason::InsufficientBalance), true) => "Your OVO balance does not cover this amount. Top up, then send a new request.",
            (Some(FailureReason::Expired), false) => "Waktu persetujuan habis sebelum pembayaran disetujui.",
            (Some(FailureReason::Expired), true) => "The time to approve ran out before the payment was approved.",
            (Some(FailureReason::Cancelled), false) => "Pembayaran dibatalkan oleh toko.",
            (Some(FailureReason::Cancelled), true) => "The shop cancelled the payment.",
            (Some(FailureReason::Rejected), false) => "OVO menolak pembayaran ini. Coba lagi nanti, atau pakai nomor OVO lain.",
            (Some(FailureReason::Rejected), true) => "OVO refused this payment. Try again later, or use another OVO number.",
            (None, false) => "Pembayaran tidak berhasil.",
            (None, true) => "The payment did not go through.",
        }
    }
}

static ID: Text = Text {
    switch_to: "English",
    pay_to: "Bayar ke",
    total: "Total",
    order: "Pesanan",
    method: "Metode pembayaran",
    ovo_hint: "Bayar dengan aplikasi OVO di ponsel Anda",
    place_order: "Buat Pesanan",
    ovo_title: "Bayar dengan OVO",
    phone_label: "Nomor ponsel OVO",
    phone_help: "Contoh: 0812 3456 7890. Kami kirim permintaan pembayaran ke aplikasi OVO di nomor ini.",
    pay: "Bayar",
    cancel: "Batal",
    back_to_shop: "Kembali ke toko",
    waiting_title: "Setujui pembayaran di OVO",
    waiting_sent_to: "Permintaan pembayaran dikirim ke",
    steps: [
        "Buka aplikasi OVO di ponsel Anda.",
        "Ketuk notifikasi permintaan pembayaran.",
        "Periksa jumlahnya:",
        "Masukkan PIN OVO Anda sebelum waktu habis.",
    ],
    time_left: "Sisa waktu",
    deadline: "Setujui sebelum",
    checking: "Halaman ini diperbarui sendiri.",
    refresh: "Perbarui",
    paid_title: "Pembayaran berhasil",
    already_paid_title: "Pesanan ini sudah dibayar",
    receipt_merchant: "Toko",
    receipt_amount: "Jumlah",
    receipt_reference: "Referensi",
    receipt_time: "Waktu",
    redirecting: "Anda akan diarahkan kembali ke toko dalam beberapa detik.",
    continue_to_shop: "Lanjut ke toko",
    failed_title: "Pembayaran belum berhasil",
    send_again_to: "Kirim ulang ke",
    other_number: "Atau pakai nomor OVO lain",
    send_new: "Kirim permintaan baru",
    out_of_tries: "Sudah lima permintaan dikirim untuk pesanan ini. Hubungi toko untuk membayar dengan cara lain.",
    closed_title: "Waktu pembayaran habis",
    closed_body: "Pesanan ini tidak bisa dibayar lagi. Kembali ke toko untuk memesan ulang.",
    cancelled_body: "Pesanan ini dibatalkan dan tidak bisa dibayar lagi.",
    bad_phone: "Nomor ini bukan nomor ponsel Indonesia. Tulis seperti 0812 3456 7890.",
    bad_form: "Formulir kedaluwarsa. Muat ulang halaman, lalu coba lagi.",
    not_found_title: "Halaman tidak ditemukan",
    not_found_body: "Tautan pembayaran ini tidak dikenal. Periksa tautannya, atau minta tautan baru ke toko.",
    busy: "Kami sedang sibuk. Coba lagi sebentar lagi.",
    refused: "Pesanan ini tidak bisa dibayar dengan OVO. Hubungi toko untuk membayar dengan cara lain.",
    months: [
        "Januari",
        "Februari",
        "Maret",
        "April",
        "Mei",
        "Juni",
        "Juli",
        "Agustus",
        "September",
        "Oktober",
        "November",
        "Desember",
    ],
    footer: "Pembayaran diproses oleh Kasir",
    close_window: "Tutup",
};

static EN: Text = Text {
    switch_to: "Bahasa Indonesia",
    pay_to: "Pay to",
    total: "Total",
    order: "Order",
    method: "Payment method",
    ovo_hint: "Pay with the OVO app on your phone",
    place_order: "Place Your Order",
    ovo_title: "Pay with OVO",
    phone_label: "OVO phone number",
    phone_help: "For example 0812 3456 7890. We send the payment request to the OVO app on this number.",
    pay: "Pay",
    cancel: "Cancel",
    back_to_shop: "Back to the shop",
    waiting_title: "Approve the payment in OVO",
    waiting_sent_to: "Payment request sent to",
    steps: [
        "Open the OVO app on your phone.",
        "Tap the payment request notification.",
        "Check the amount:",
        "Enter your OVO PIN before the time runs out.",
    ],
    time_left: "Time left",
    deadline: "Approve before",
    checking: "This page updates by itself.",
    refresh: "Refresh",
    paid_title: "Payment received",
    already_paid_title: "This order is already paid",
    receipt_merchant: "Shop",
    receipt_amount: "Amount",
    receipt_reference: "Reference",
    receipt_time: "Time",
    redirecting: "You will be taken back to the shop in a few seconds.",
    continue_to_shop: "Continue to the shop",
    failed_title: "The payment did not go through",
    send_again_to: "Send again to",
    other_number: "Or use another OVO number",
    send_new: "Send a new request",
    out_of_tries: "Five requests were sent for this order. Contact the shop to pay another way.",
    closed_title: "The time to pay is over",
    closed_body: "This order can no longer be paid. Go back to the shop to order again.",
    cancelled_body: "This order was cancelled and can no longer be paid.",
    bad_phone: "This is not an Indonesian mobile number. Write it like 0812 3456 7890.",
    bad_form: "The form expired. Reload the page and try again.",
    not_found_title: "Page not found",
    not_found_body: "This payment link is not known. Check the link, or ask the shop for a new one.",
    busy: "We are busy. Try again in a moment.",
    refused: "This order cannot be paid with OVO. Contact the shop to pay another way.",
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    footer: "Payment processed by Kasir",
    close_window: "Close",
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_preferred_of_the_two() {
        assert_eq!(Lang::from_accept_language("en-US,en;q=0.9"), Some(Lang::En));
        assert_eq!(Lang::from_accept_language("fr-FR, id;q=0.8, en;q=0.5"), Some(Lang::Id));
        assert_eq!(Lang::from_accept_language("en;q=0.2, id-ID;q=0.9"), Some(Lang::Id));
        assert_eq!(Lang::from_accept_language("fr, de"), None);
        assert_eq!(Lang::from_accept_language("en;q=0"), None);
    }

    #[test]
    fn every_failure_has_words_in_both_languages() {
        for r in FailureReason::ALL.map(Some).into_iter().chain([None]) {
            assert_ne!(Lang::Id.text().reason(r), Lang::En.text().reason(r), "{r:?}");
        }
    }
}
