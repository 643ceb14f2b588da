//! Where a live webhook may go: only to addresses that are globally reachable.
//!
//! The rule is IANA's: every block the IPv4 and IPv6 Special-Purpose Address Registries mark as not
//! globally reachable is refused, and so are multicast and the deprecated site-local block. IPv6 forms
//! that carry an IPv4 address inside them (IPv4-mapped, IPv4-compatible, SIIT, NAT64 both well-known and
//! local-use, 6to4, Teredo) are judged by the IPv4 address they carry, since that is where the packets go.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether an address is one a live webhook may not reach.
pub fn is_forbidden(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

/// IPv4 blocks not globally reachable (RFC 6890 and its registry), and multicast.
const V4_FORBIDDEN: &[(u32, u8)] = &[
    (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
    (0x0a00_0000, 8),  // 10.0.0.0/8 private
    (0x6440_0000, 10), // 100.64.0.0/10 shared address space (carrier-grade NAT)
    (0x7f00_0000, 8),  // 127.0.0.0/8 loopback
    (0xa9fe_0000, 16), // 169.254.0.0/16 link-local
    (0xac10_0000, 12), // 172.16.0.0/12 private
    (0xc000_0000, 24), // 192.0.0.0/24 IETF protocol assignments (but for the anycast exceptions)
    (0xc000_0200, 24), // 192.0.2.0/24 documentation (TEST-NET-1)
    (0xc058_6300, 24), // 192.88.99.0/24 deprecated 6to4 relay anycast
    (0xc0a8_0000, 16), // 192.168.0.0/16 private
    (0xc612_0000, 15), // 198.18.0.0/15 benchmarking
    (0xc633_6400, 24), // 198.51.100.0/24 documentation (TEST-NET-2)
    (0xcb00_7100, 24), // 203.0.113.0/24 documentation (TEST-NET-3)
    (0xe000_0000, 4),  // 224.0.0.0/4 multicast
    (0xf000_0000, 4),  // 240.0.0.0/4 reserved, and 255.255.255.255 limited broadcast
];

/// Globally reachable addresses inside the blocks above.
const V4_ALLOWED: &[(u32, u8)] = &[
    (0xc000_0009, 32), // 192.0.0.9 Port Control Protocol anycast
    (0xc000_000a, 32), // 192.0.0.10 TURN anycast
];

fn in_v4(ip: u32, (net, len): (u32, u8)) -> bool {
    len == 0 || (ip >> (32 - len as u32)) == (net >> (32 - len as u32))
}

fn forbidden_v4(ip: Ipv4Addr) -> bool {
    let ip = u32::from(ip);
    V4_FORBIDDEN.iter().any(|b| in_v4(ip, *b)) && !V4_ALLOWED.iter().any(|b| in_v4(ip, *b))
}

/// IPv6 blocks not globally reachable (RFC 6890, 8190 and the registry), multicast and site-local.
const V6_FORBIDDEN: &[(u128, u8)] = &[
    (0, 128),                          // ::/128 unspecified
    (1, 128),                          // ::1/128 loopback
    (0x0100_0000_0000_0000 << 64, 64), // 100::/64 discard-only
    (0x0100_0000_0000_0001 << 64, 64), // 100:0:0:1::/64 dummy prefix
    (0x2001_0000 << 96, 23),           // 2001::/23 IETF protocol assignments (but exceptions)
    (0x2001_0db8 << 96, 32),           // 2001:db8::/32 documentation
    (0x3fff << 112, 20),               // 3fff::/20 documentation
    (0x5f00 << 112, 16),               // 5f00::/16 segment routing SIDs
    (0xfc00 << 112, 7),                // fc00::/7 unique local
    (0xfe80 << 112, 10),               // fe80::/10 link-local
    (0xfec0 << 112, 10),               // fec0::/10 site-local (deprecated)
    (0xff00 << 112, 8),                // ff00::/8 multicast
];

/// Globally reachable addresses inside 2001::/23.
const V6_ALLOWED: &[(u128, u8)] = &[
    ((0x2001_0001 << 96) | 1, 128), // 2001:1::1 Port Control Protocol anycast
    ((0x2001_0001 << 96) | 2, 128), // 2001:1::2 TURN anycast
    ((0x2001_0001 << 96) | 3, 128), // 2001:1::3 DNS-SD service registration anycast
    (0x2001_0003 << 96, 32),        // 2001:3::/32 AMT
    (0x2001_0004_0112 << 80, 48),   // 2001:4:112::/48 AS112-v6
    (0x2001_0020 << 96, 28),        // 2001:20::/28 ORCHIDv2
    (0x2001_0030 << 96, 28),        // 2001:30::/28 drone remote ID
];

fn in_v6(ip: u128, (net, len): (u128, u8)) -> bool {
    len == 0 || (ip >> (128 - len as u32)) == (net >> (128 - len as u32))
}

/// The IPv4 addresses an IPv6 address carries, for the forms that carry one.
fn embedded_v4(ip: Ipv6Addr) -> Vec<Ipv4Addr> {
    let bits = u128::from(ip);
    let low32 = Ipv4Addr::from(bits as u32);
    let is = |net: u128, len: u8| in_v6(bits, (net, len));
    if is(0xffff << 32, 96) || is(0, 96) || is(0xffff_0000 << 32, 96) {
        // IPv4-mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, SIIT ::ffff:0:a.b.c.d
        vec![low32]
    } else if is(0x0064_ff9b << 96, 96) || is(0x0064_ff9b_0001 << 80, 48) {
        // NAT64, well-known 64:ff9b::/96 and local-use 64:ff9b:1::/48 (the address in the last 32 bits)
        vec![low32]
    } else if is(0x2002 << 112, 16) {
        // 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD
        vec![Ipv4Addr::from((bits >> 80) as u32)]
    } else if is(0x2001_0000 << 96, 32) {
        // Teredo: the server in bits 32..63, the client (inverted) in the last 32
        vec![Ipv4Addr::from((bits >> 64) as u32), Ipv4Addr::from(!(bits as u32))]
    } else {
        Vec::new()
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> bool {
    let bits = u128::from(ip);
    if bits <= 1 {
        return true; // unspecified and loopback, before the IPv4-compatible form reads them as 0.0.0.x
    }
    let carried = embedded_v4(ip);
    if !carried.is_empty() {
        return carried.into_iter().any(forbidden_v4);
    }
    V6_FORBIDDEN.iter().any(|b| in_v6(bits, *b)) && !V6_ALLOWED.iter().any(|b| in_v6(bits, *b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forbidden(s: &str) -> bool {
        is_forbidden(s.parse().unwrap_or_else(|_| panic!("{s} is an address")))
    }

    #[test]
    fn special_ipv4_blocks_are_forbidden() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.0.1",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.1",
            "192.0.0.8",
            "192.0.0.170",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.255",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(forbidden(ip), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "103.10.20.30",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.0.9",
            "192.0.0.10",
            "192.31.196.1",
            "192.52.193.1",
            "192.175.48.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
        ] {
            assert!(!forbidden(ip), "{ip}");
        }
    }

    #[test]
    fn special_ipv6_blocks_are_forbidden() {
        for ip in [
            "::",
            "::1",
            "100::1",
            "100:0:0:1::1",
            "2001:2::1",
            "2001:10::1",
            "2001:db8::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(forbidden(ip), "{ip}");
        }
        for ip in [
            "2606:4700:4700::1111",
            "2001:4860:4860::8888",
            "2001:1::1",
            "2001:3::1",
            "2001:4:112::1",
            "2001:20::1",
            "2620:4f:8000::1",
        ] {
            assert!(!forbidden(ip), "{ip}");
        }
    }

    #[test]
    fn forms_that_carry_an_ipv4_address_are_judged_by_it() {
        for ip in [
            "::ffff:127.0.0.1", // IPv4-mapped
            "::127.0.0.1",      // IPv4-compatible
            "::10.0.0.1",
            "::ffff:0:127.0.0.1", // SIIT
            "::ffff:0:192.168.0.1",
            "64:ff9b::10.0.0.1", // NAT64
            "64:ff9b::169.254.169.254",
            "64:ff9b:1::7f00:1",         // NAT64, local use
            "2002:7f00:1::1",            // 6to4 of 127.0.0.1
            "2002:c0a8:101::1",          // 6to4 of 192.168.1.1
            "2001:0:7f00:1::1",          // Teredo whose server is 127.0.0.1
            "2001:0:808:808::f5ff:fffe", // Teredo whose client is 10.0.0.1 (inverted)
        ] {
            assert!(forbidden(ip), "{ip}");
        }
        for ip in [
            "::ffff:8.8.8.8",
            "::8.8.8.8",
            "::ffff:0:8.8.8.8",
            "64:ff9b::808:808",
            "64:ff9b:1::808:808",
            "2002:808:808::1",
            "2001:0:808:808::f7f7:f7f7", // Teredo: server 8.8.8.8, client 8.8.8.8
        ] {
            assert!(!forbidden(ip), "{ip}");
        }
    }
}
