//! The forwarding-related sysctls of the current thread's network
//! namespace, read from /proc/sys (whose `net` subtree resolves to the
//! netns of the reading thread) and keyed as the bundle importer keys
//! `sysctl -a` (dotted, device names as they are: `net.ipv4.conf.flannel.1.rp_filter`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cnictl_model::Link;

/// Per-device IPv4 keys the checks read (rp_filter drops asymmetric pod
/// traffic, proxy_arp is how Calico answers for 169.254.1.1).
const CONF_KEYS: [&str; 3] = ["forwarding", "rp_filter", "proxy_arp"];

/// Node-wide keys: forwarding; whether bridged packets reach iptables
/// (`/proc/sys/net/bridge` exists in a namespace only once br_netfilter is
/// loaded: absent means off); the conntrack table's fill.
const GLOBAL_KEYS: [&str; 6] = [
    "net/ipv4/ip_forward",
    "net/ipv6/conf/all/forwarding",
    "net/ipv6/conf/default/forwarding",
    "net/bridge/bridge-nf-call-iptables",
    "net/netfilter/nf_conntrack_count",
    "net/netfilter/nf_conntrack_max",
];

/// Reads the global and per-device forwarding sysctls. Keys that do not
/// exist (IPv6 disabled, a device gone since the link dump) are left out.
pub(crate) fn read_sysctls(links: &[Link]) -> BTreeMap<String, String> {
    read_sysctls_under(Path::new("/proc/sys"), links)
}

fn read_sysctls_under(root: &Path, links: &[Link]) -> BTreeMap<String, String> {
    let mut keys: Vec<(String, PathBuf)> = GLOBAL_KEYS
        .iter()
        .map(|p| (p.replace('/', "."), PathBuf::from(p)))
        .collect();
    let devs = ["all", "default"]
        .into_iter()
        .map(str::to_string)
        .chain(links.iter().map(|l| l.name.clone()));
    for dev in devs {
        for k in CONF_KEYS {
            // The bundle importer normalises `sysctl -a`'s `flannel/1` back
            // to `flannel.1`: keys carry the device name as it is.
            let path = Path::new("net/ipv4/conf").join(&dev).join(k);
            keys.push((format!("net.ipv4.conf.{dev}.{k}"), path));
        }
    }
    keys.into_iter()
        .filter_map(|(key, rel)| {
            let text = std::fs::read_to_string(root.join(rel)).ok()?;
            Some((key, text.trim().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_sysctl_naming_and_missing_files_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("net/ipv4/conf/flannel.1");
        std::fs::create_dir_all(&conf).unwrap();
        std::fs::write(conf.join("rp_filter"), "2\n").unwrap();
        std::fs::write(dir.path().join("net/ipv4/ip_forward"), "1\n").unwrap();
        let nf = dir.path().join("net/netfilter");
        std::fs::create_dir_all(&nf).unwrap();
        std::fs::write(nf.join("nf_conntrack_count"), "7\n").unwrap();
        std::fs::write(nf.join("nf_conntrack_max"), "262144\n").unwrap();
        let links = vec![Link {
            name: "flannel.1".into(),
            ..Link::default()
        }];
        let got = read_sysctls_under(dir.path(), &links);
        let want = BTreeMap::from([
            ("net.ipv4.ip_forward".to_string(), "1".to_string()),
            (
                "net.netfilter.nf_conntrack_count".to_string(),
                "7".to_string(),
            ),
            (
                "net.netfilter.nf_conntrack_max".to_string(),
                "262144".to_string(),
            ),
            (
                "net.ipv4.conf.flannel.1.rp_filter".to_string(),
                "2".to_string(),
            ),
        ]);
        assert_eq!(got, want);
    }
}
