//! Object ids: a type prefix and a 20-character [xid](https://github.com/rs/xid).
//!
//! An xid is 12 bytes (4 of Unix seconds, 3 of machine, 2 of process, 3 of a counter that starts at a
//! random value) written in lower-case base32hex, so ids sort by creation second and never collide
//! between processes that share one database.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

pub(crate) const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// The object kinds that carry ids, with the prefixes of the wire contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Payin,
    PaymentAttempt,
    Customer,
    Refund,
    Event,
    Account,
    Delivery,
    Checkout,
    WebhookEndpoint,
}

impl IdKind {
    pub const fn prefix(self) -> &'static str {
        match self {
            IdKind::Payin => "pay_",
            IdKind::PaymentAttempt => "pat_",
            IdKind::Customer => "cus_",
            IdKind::Refund => "rfd_",
            IdKind::Event => "evt_",
            IdKind::Account => "acc_",
            IdKind::Delivery => "whd_",
            IdKind::Checkout => "chk_",
            IdKind::WebhookEndpoint => "whe_",
        }
    }

    /// A fresh id of this kind.
    pub fn generate(self) -> String {
        let mut x = [0u8; 20];
        xid_into(&mut x);
        let mut s = String::with_capacity(self.prefix().len() + 20);
        s.push_str(self.prefix());
        s.push_str(std::str::from_utf8(&x).expect("base32hex is ASCII"));
        s
    }

    /// Whether `id` has this kind's prefix followed by a well-formed xid.
    pub fn matches(self, id: &str) -> bool {
        id.strip_prefix(self.prefix())
            .is_some_and(|rest| rest.len() == 20 && rest.bytes().all(|b| ALPHABET.contains(&b)))
    }
}

struct Process {
    machine: [u8; 3],
    pid: u16,
    counter: AtomicU32,
}

fn process() -> &'static Process {
    static P: OnceLock<Process> = OnceLock::new();
    P.get_or_init(|| {
        let r: [u8; 3] = rand::random();
        Process { machine: r, pid: std::process::id() as u16, counter: AtomicU32::new(rand::random()) }
    })
}

/// A new xid, 20 characters of base32hex.
pub fn xid() -> String {
    let mut out = [0u8; 20];
    xid_into(&mut out);
    String::from_utf8(out.to_vec()).expect("base32hex is ASCII")
}

/// A new xid, written into `out` (for callers that would rather not allocate).
pub fn xid_into(out: &mut [u8; 20]) {
    let p = process();
    let secs =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as u32).unwrap_or(0);
    let n = p.counter.fetch_add(1, Ordering::Relaxed);
    let mut raw = [0u8; 12];
    raw[0..4].copy_from_slice(&secs.to_be_bytes());
    raw[4..7].copy_from_slice(&p.machine);
    raw[7..9].copy_from_slice(&p.pid.to_be_bytes());
    raw[9..12].copy_from_slice(&n.to_be_bytes()[1..4]);
    encode(&raw, out);
}

fn encode(raw: &[u8; 12], out: &mut [u8; 20]) {
    // 96 bits read five at a time from the most significant end; the last character holds the final bit
    // followed by four zero bits, as rs/xid does.
    let (mut acc, mut bits, mut at) = (0u32, 0, 0);
    for &b in raw {
        acc = (acc << 8) | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out[at] = ALPHABET[((acc >> bits) & 0x1f) as usize];
            at += 1;
        }
    }
    if bits > 0 {
        out[at] = ALPHABET[((acc << (5 - bits)) & 0x1f) as usize];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_like_rs_xid() {
        // The example id from rs/xid's README: bytes 4d 88 e1 5b 60 f4 86 e4 28 41 2d c9.
        let raw = [0x4d, 0x88, 0xe1, 0x5b, 0x60, 0xf4, 0x86, 0xe4, 0x28, 0x41, 0x2d, 0xc9];
        let mut out = [0u8; 20];
        encode(&raw, &mut out);
        assert_eq!(&out, b"9m4e2mr0ui3e8a215n4g");
    }

    #[test]
    fn generated_ids_have_prefix_and_twenty_chars_and_are_unique() {
        let a = IdKind::Payin.generate();
        let b = IdKind::Payin.generate();
        assert!(IdKind::Payin.matches(&a), "{a}");
        assert_eq!(a.len(), 24);
        assert_ne!(a, b);
        assert!(!IdKind::Customer.matches(&a));
        assert!(!IdKind::Payin.matches("pay_short"));
    }
}
