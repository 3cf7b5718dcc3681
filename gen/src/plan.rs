//! Address plan: which node gets which underlay IP, pod CIDR / blocks, MACs.
//!
//! Small clusters use the defaults people know (10.244.0.0/16 for pods,
//! 192.0.2.0/24-style underlay); large ones need more room, so the plan
//! widens the pod range to 10.128.0.0/9 and the underlay to 10.0.0.0/16,
//! keeping the service range 10.96.0.0/12 disjoint from both.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

use crate::{GenError, GenModel, GenSpec};

/// Calico's default IPAM block size.
const BLOCK_PREFIX: u8 = 26;
const BLOCK_SIZE: usize = 64;

#[derive(Debug, Clone)]
pub struct Plan {
    pub spec: GenSpec,
    pub pod_range: Ipv4Net,
    pub underlay: Ipv4Net,
    pub service_range: Ipv4Net,
    pub blocks_per_node: usize,
}

/// At most 60,000 of `what`.
fn at_most(n: usize, what: &str) -> Result<(), GenError> {
    match n > 60_000 {
        true => Err(GenError::TooLarge(format!("{n} {what}: at most 60000"))),
        false => Ok(()),
    }
}

impl Plan {
    pub fn new(spec: &GenSpec) -> Result<Plan, GenError> {
        // Slot 0 of the first block is the node's tunnel address (IPIP), so
        // pods start at slot 1.
        let blocks_per_node = (spec.pods_per_node + 1).div_ceil(BLOCK_SIZE);
        let small =
            spec.nodes <= 250 && (!spec.model.is_calico() || spec.nodes * blocks_per_node <= 1000);
        let (pod_range, underlay) = if small {
            (net("10.244.0.0/16"), net("192.168.0.0/16"))
        } else {
            (net("10.128.0.0/9"), net("10.0.0.0/16"))
        };
        let plan = Plan {
            spec: spec.clone(),
            pod_range,
            underlay,
            service_range: net("10.96.0.0/12"),
            blocks_per_node,
        };
        plan.validate()?;
        Ok(plan)
    }

    fn validate(&self) -> Result<(), GenError> {
        let s = &self.spec;
        if s.nodes == 0 {
            return Err(GenError::TooLarge("--nodes must be at least 1".into()));
        }
        at_most(s.nodes, "nodes")?;
        self.pods_fit()?;
        at_most(s.services, "services")
    }

    /// Every node's pods fit the pod range, at most 250 per node.
    fn pods_fit(&self) -> Result<(), GenError> {
        let s = &self.spec;
        let range = 1usize << (32 - self.pod_range.prefix_len());
        if s.pods_per_node <= 250 && s.nodes * self.addresses_per_node() <= range {
            return Ok(());
        }
        let (pods, nodes, r) = (s.pods_per_node, s.nodes, self.pod_range);
        Err(GenError::TooLarge(format!(
            "{pods} pods per node on {nodes} nodes does not fit {r} (at most 250 pods per node)"
        )))
    }

    /// Pod addresses a node takes: its blocks (Calico) or a /24.
    fn addresses_per_node(&self) -> usize {
        match self.spec.model.is_calico() {
            true => self.blocks_per_node * BLOCK_SIZE,
            false => 256,
        }
    }

    pub fn node_name(&self, i: usize) -> String {
        format!("node-{}", i + 1)
    }

    /// Underlay IP of node `i`: .11, .12, … so .1 stays the gateway.
    pub fn node_ip(&self, i: usize) -> Ipv4Addr {
        add(self.underlay.network(), 10 + i as u32 + 1)
    }

    pub fn gateway(&self) -> Ipv4Addr {
        add(self.underlay.network(), 1)
    }

    /// Flannel: node `i`'s /24.
    pub fn node_cidr(&self, i: usize) -> Ipv4Net {
        // Cannot fail: a literal prefix length (only > 32 is rejected).
        Ipv4Net::new(add(self.pod_range.network(), (i as u32) << 8), 24).expect("valid /24")
    }

    /// Calico: node `i`'s /26 IPAM blocks.
    pub fn node_blocks(&self, i: usize) -> Vec<Ipv4Net> {
        (0..self.blocks_per_node)
            .map(|b| {
                let idx = (i * self.blocks_per_node + b) as u32;
                Ipv4Net::new(
                    add(self.pod_range.network(), idx * BLOCK_SIZE as u32),
                    BLOCK_PREFIX,
                )
                // Cannot fail: a literal prefix length (only > 32 is rejected).
                .expect("valid /26")
            })
            .collect()
    }

    /// IP of pod `k` on node `i`.
    pub fn pod_ip(&self, i: usize, k: usize) -> Ipv4Addr {
        if self.spec.model.is_calico() {
            let slot = k + 1;
            let block = self.node_blocks(i)[slot / BLOCK_SIZE];
            add(block.network(), (slot % BLOCK_SIZE) as u32)
        } else {
            add(self.node_cidr(i).network(), k as u32 + 2)
        }
    }

    pub fn pod_name(&self, i: usize, k: usize) -> String {
        format!("web-{}-{}", i + 1, k + 1)
    }

    pub fn service_ip(&self, s: usize) -> Ipv4Addr {
        add(self.service_range.network(), s as u32 + 10)
    }

    pub fn is_calico(&self) -> bool {
        self.spec.model.is_calico()
    }

    pub fn model(&self) -> GenModel {
        self.spec.model
    }
}

/// A deterministic locally administered MAC: `kind` picks the device role.
pub fn mac(kind: u8, i: usize, k: usize) -> String {
    let i = i as u32;
    let k = k as u32;
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        0x0a | (kind << 4) & 0xf0,
        (i >> 16) as u8,
        (i >> 8) as u8,
        i as u8,
        (k >> 8) as u8,
        k as u8
    )
}

pub fn host(ip: Ipv4Addr) -> IpNet {
    IpNet::V4(Ipv4Net::from(ip))
}

pub fn v4(ip: Ipv4Addr) -> IpAddr {
    IpAddr::V4(ip)
}

fn add(base: Ipv4Addr, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(base) + n)
}

fn net(s: &str) -> Ipv4Net {
    // Cannot fail: callers pass literal CIDRs.
    s.parse().expect("constant CIDR")
}
