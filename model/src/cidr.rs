//! CIDR helpers shared by the generator, the checks and the dataplane.

use std::net::IpAddr;

use ipnet::IpNet;

/// True when the two prefixes share at least one address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The prefix with host bits cleared (`10.244.1.7/24` → `10.244.1.0/24`).
pub fn trunc(net: &IpNet) -> IpNet {
    net.trunc()
}

/// A host prefix (/32 or /128) for an address.
pub fn host(ip: IpAddr) -> IpNet {
    IpNet::from(ip)
}

/// Normalises a MAC as the model stores it: lower case, each octet two
/// digits (iproute2 prints bridge ids as `26:e:dc:1:9d:98`). Returns `None`
/// when it is not six hex octets.
pub fn normalize_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    let mut out = String::with_capacity(17);
    for (i, p) in parts.iter().enumerate() {
        let b = u8::from_str_radix(p, 16).ok()?;
        if p.is_empty() || p.len() > 2 {
            return None;
        }
        if i > 0 {
            out.push(':');
        }
        out.push_str(&format!("{b:02x}"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlap_is_symmetric_and_exact() {
        let a: IpNet = "10.244.0.0/16".parse().unwrap();
        let b: IpNet = "10.244.3.0/24".parse().unwrap();
        let c: IpNet = "10.245.0.0/24".parse().unwrap();
        assert!(overlaps(&a, &b) && overlaps(&b, &a));
        assert!(!overlaps(&a, &c) && !overlaps(&c, &a));
    }

    #[test]
    fn mac_is_zero_padded() {
        assert_eq!(
            normalize_mac("26:e:DC:1:9d:98").as_deref(),
            Some("26:0e:dc:01:9d:98")
        );
        assert_eq!(normalize_mac("zz:0:0:0:0:0"), None);
        assert_eq!(normalize_mac("1:2:3"), None);
    }
}
