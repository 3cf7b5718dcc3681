//! What a netfilter rule asks of the node (`-m addrtype`, `fib daddr type`,
//! MASQUERADE's address), answered from the node's own dump: its addresses
//! and its `local` routing table, as the kernel answers it.

use std::net::IpAddr;

use cnictl_dataplane::nf::NodeView;
use cnictl_model::netfilter::AddrType;
use cnictl_model::route::TABLE_LOCAL;
use cnictl_model::{NodeSnapshot, RouteType};

/// A node's addresses and local table, as [`NodeView`] for the evaluator.
pub(crate) struct NodeAddrs<'a> {
    node: &'a NodeSnapshot,
}

impl<'a> NodeAddrs<'a> {
    pub fn new(node: &'a NodeSnapshot) -> Self {
        NodeAddrs { node }
    }

    /// The type the `local` table gives `addr` (longest prefix first), as
    /// `inet_addr_type` does; `None` when no local-table route covers it.
    fn local_table_type(&self, addr: IpAddr, dev: Option<&str>) -> Option<AddrType> {
        self.node
            .routes
            .iter()
            .filter(|r| r.table == TABLE_LOCAL && r.dst.contains(&addr))
            .filter(|r| dev.is_none_or(|d| r.dev.as_deref() == Some(d)))
            .max_by_key(|r| r.dst.prefix_len())
            .and_then(|r| route_addr_type(r.route_type))
    }

    /// An address configured on the node (on `dev`, when given): local even
    /// when the local table was not dumped.
    fn configured(&self, addr: IpAddr, dev: Option<&str>) -> bool {
        self.node
            .addrs
            .iter()
            .any(|a| a.addr.addr() == addr && dev.is_none_or(|d| a.dev == d))
    }
}

fn route_addr_type(t: RouteType) -> Option<AddrType> {
    Some(match t {
        RouteType::Local => AddrType::Local,
        RouteType::Broadcast => AddrType::Broadcast,
        RouteType::Anycast => AddrType::Anycast,
        RouteType::Multicast => AddrType::Multicast,
        _ => return None,
    })
}

impl NodeView for NodeAddrs<'_> {
    fn addr_type(&self, addr: IpAddr, dev: Option<&str>) -> AddrType {
        if let Some(t) = self.local_table_type(addr, dev) {
            return t;
        }
        if self.configured(addr, dev) {
            return AddrType::Local;
        }
        match addr {
            a if a.is_multicast() => AddrType::Multicast,
            IpAddr::V4(v4) if v4.is_broadcast() => AddrType::Broadcast,
            _ => AddrType::Unicast,
        }
    }

    /// The global address of `dev` whose subnet holds `dst`, else its first
    /// global address of `dst`'s family (what the kernel's source address
    /// selection picks for a device without a matching subnet).
    fn primary_addr(&self, dev: &str, dst: IpAddr) -> Option<IpAddr> {
        let mut on_dev = self
            .node
            .addrs
            .iter()
            .filter(|a| a.dev == dev && a.scope == "global")
            .filter(|a| a.addr.addr().is_ipv4() == dst.is_ipv4());
        let all: Vec<_> = on_dev.by_ref().collect();
        all.iter()
            .find(|a| a.addr.trunc().contains(&dst))
            .or(all.first())
            .map(|a| a.addr.addr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cnictl_model::{Addr, Protocol, Route, Scope};

    fn node() -> NodeSnapshot {
        let addr = |dev: &str, a: &str| Addr {
            ifindex: 2,
            dev: dev.into(),
            addr: a.parse().unwrap(),
            scope: "global".into(),
            peer: None,
        };
        let local = |t: RouteType, dst: &str, dev: &str| Route {
            table: TABLE_LOCAL,
            route_type: t,
            dst: dst.parse().unwrap(),
            protocol: Protocol::KERNEL,
            scope: Scope::HOST,
            gateway: None,
            dev: Some(dev.into()),
            onlink: false,
            nexthops: vec![],
            metric: 0,
            prefsrc: None,
            flags: vec![],
        };
        NodeSnapshot {
            addrs: vec![addr("eth0", "192.0.2.11/24"), addr("cni0", "10.244.1.1/24")],
            routes: vec![
                local(RouteType::Local, "192.0.2.11/32", "eth0"),
                local(RouteType::Broadcast, "192.0.2.255/32", "eth0"),
                local(RouteType::Local, "127.0.0.0/8", "lo"),
            ],
            ..NodeSnapshot::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn local_table_then_addresses_then_unicast() {
        let n = node();
        let v = NodeAddrs::new(&n);
        assert_eq!(v.addr_type(ip("192.0.2.11"), None), AddrType::Local);
        assert_eq!(v.addr_type(ip("127.0.0.5"), None), AddrType::Local);
        assert_eq!(v.addr_type(ip("192.0.2.255"), None), AddrType::Broadcast);
        // Not in the local table dump, but configured on cni0.
        assert_eq!(v.addr_type(ip("10.244.1.1"), None), AddrType::Local);
        assert_eq!(v.addr_type(ip("10.244.2.5"), None), AddrType::Unicast);
        assert_eq!(v.addr_type(ip("224.0.0.5"), None), AddrType::Multicast);
        // --limit-iface-in eth0: cni0's address is not local to eth0.
        assert_eq!(
            v.addr_type(ip("10.244.1.1"), Some("eth0")),
            AddrType::Unicast
        );
    }

    #[test]
    fn masquerade_address_is_the_devices_own() {
        let n = node();
        let v = NodeAddrs::new(&n);
        assert_eq!(
            v.primary_addr("eth0", ip("198.51.100.7")),
            Some(ip("192.0.2.11"))
        );
        assert_eq!(
            v.primary_addr("cni0", ip("10.244.1.9")),
            Some(ip("10.244.1.1"))
        );
        assert_eq!(v.primary_addr("flannel.1", ip("10.244.2.9")), None);
    }
}
