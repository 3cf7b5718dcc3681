//! Netfilter rulesets — iptables (legacy and nft backends) and native
//! nftables — in one model, as the node's own tools print them.
//!
//! One vocabulary for both front ends so that one evaluator serves them: an
//! iptables rule is its matches followed by its target; an nftables rule is
//! its expressions in order. Each [`Expr`] is a match (the rule stops when it
//! fails), a statement (it changes the packet or its metadata and goes on) or
//! a verdict (it ends the rule). What cnictl cannot evaluate is kept verbatim
//! as [`Match::Unknown`] / [`Stmt::Unknown`], so an evaluator that reaches
//! it answers `unknown` and names the rule instead of skipping it silently.
//!
//! Every rule keeps `text`, the rule as `iptables-save` or `nft` prints it,
//! because that is what a user greps for and what explain shows.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// A node's whole netfilter state, from every source that was collected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Netfilter {
    /// Every table of every source, in the order the sources were read.
    pub tables: Vec<Table>,
    /// `ipset save`; `None` when not collected (a rule matching a set is then
    /// not evaluable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipsets: Option<Vec<IpSet>>,
    /// Which sources were collected (the bundle files that were present).
    pub sources: Vec<Source>,
    /// `tool-versions.txt` as collected (`iptables -V`, `nft -v`, `ip -V`):
    /// the JSON schema and the iptables-nft translation differ by release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_versions: Option<String>,
    /// `nft -j list ruleset` as collected, written back verbatim to
    /// `nft-ruleset.json`: the tables above keep nft's rules as cnictl
    /// evaluates them, not nft's JSON expressions, so a bundle written from
    /// a snapshot (`bundle --kube`) carries the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nft_json: Option<String>,
}

impl Source {
    /// The bundle file this source is read from and written to.
    pub fn file(self) -> &'static str {
        match self {
            Source::IptablesSave => "iptables-save.txt",
            Source::Ip6tablesSave => "ip6tables-save.txt",
            Source::IptablesLegacySave => "iptables-legacy-save.txt",
            Source::Ip6tablesLegacySave => "ip6tables-legacy-save.txt",
            Source::NftRuleset => "nft-ruleset.json",
        }
    }

    /// The `iptables-save` dumps, in the order they are read.
    pub const IPTABLES: [Source; 4] = [
        Source::IptablesSave,
        Source::Ip6tablesSave,
        Source::IptablesLegacySave,
        Source::Ip6tablesLegacySave,
    ];
}

/// Where a table came from: the bundle file, and so the kernel backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// `iptables-save -c`: the backend `iptables` uses on the node (nft on
    /// current distributions, legacy on old ones: see [`Table::backend`]).
    IptablesSave,
    /// `ip6tables-save -c`.
    Ip6tablesSave,
    /// `iptables-legacy-save -c`, collected when the legacy backend has rules.
    IptablesLegacySave,
    /// `ip6tables-legacy-save -c`.
    Ip6tablesLegacySave,
    /// `nft -j list ruleset`: native nftables tables (those iptables-nft
    /// owns are read from iptables-save, which prints their matches fully).
    NftRuleset,
}

/// The kernel side that holds a table: all of them run at their hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    /// x_tables, programmed by `iptables-legacy`.
    Legacy,
    /// nf_tables, programmed by `iptables-nft` (the iptables compat layer).
    IptablesNft,
    /// nf_tables, programmed natively (`nft`, kube-proxy nftables mode).
    Nftables,
}

/// Address family of a table, as nft names it (iptables: ip or ip6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ip,
    Ip6,
    Inet,
    Bridge,
    Arp,
    Netdev,
}

/// A table: its chains and (nftables) its named sets and maps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub family: Family,
    pub name: String,
    pub backend: Backend,
    pub source: Source,
    pub chains: Vec<Chain>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sets: Vec<Set>,
}

/// A chain; base chains are attached to a hook, regular ones are jumped to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chain {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<BaseChain>,
    pub rules: Vec<Rule>,
}

/// Where and when a base chain runs, and what happens when no rule decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseChain {
    pub hook: Hook,
    /// Lower runs first; iptables' tables have fixed priorities (raw -300,
    /// mangle -150, nat dstnat -100, filter 0, security 50, nat srcnat 100).
    pub priority: i32,
    pub kind: ChainKind,
    /// The chain policy: `accept` or `drop`.
    pub policy: Verdict,
    /// The policy's packet counter (`iptables-save -c`), when printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<Counters>,
}

/// The netfilter hooks a packet passes (ingress/egress: netdev family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
    Ingress,
    Egress,
}

/// A base chain's type: what the kernel lets it do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainKind {
    Filter,
    Nat,
    Route,
}

/// Packet and byte counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub packets: u64,
    pub bytes: u64,
}

/// One rule: expressions evaluated in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// As the tool prints it (`-A FORWARD -s 10.244.0.0/16 -j ACCEPT`, or
    /// nft's `ip saddr 10.244.0.0/16 accept`), without counters.
    pub text: String,
    /// 1-based position in its chain (what `iptables -L --line-numbers` shows).
    pub position: u32,
    /// nftables rule handle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handle: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counters: Option<Counters>,
    pub exprs: Vec<Expr>,
}

impl Rule {
    /// The rule's final verdict, if it has one (a rule may only rewrite).
    pub fn verdict(&self) -> Option<&Verdict> {
        self.exprs.iter().rev().find_map(|e| match e {
            Expr::Verdict(v) => Some(v),
            _ => None,
        })
    }
}

/// One step of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum Expr {
    Match(Match),
    Stmt(Stmt),
    Verdict(Verdict),
    /// nftables `KEY vmap @map` / `vmap { … }`: the verdict looked up by the
    /// packet's key; no element matching goes on with the next expression.
    Vmap(Lookup),
    /// `numgen random mod N vmap { 0 : goto a, 1 : goto b }`: each element is
    /// a possible path with its share of new connections.
    NumgenVmap(NumgenVmap),
}

/// Which side of the packet a match or key reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    Src,
    Dst,
}

/// A condition on the packet or its metadata. `neg` inverts it (`!`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "match")]
pub enum Match {
    /// `-s`/`-d` (comma lists allowed), nft `ip saddr`/`ip6 daddr`.
    Addr {
        dir: Dir,
        nets: Vec<IpNet>,
        neg: bool,
    },
    /// `-i`/`-o`; a trailing `+` (iptables) or `*` (nft) is a prefix match.
    Iface { dir: Dir, name: String, neg: bool },
    /// `-p`, nft `meta l4proto`: IP protocol numbers.
    Proto { protos: Vec<u8>, neg: bool },
    /// Transport ports (tcp/udp/sctp/multiport, nft `th dport`), inclusive ranges.
    Port {
        dir: Dir,
        ranges: Vec<(u16, u16)>,
        neg: bool,
    },
    /// `-m conntrack --ctstate` / `-m state --state` / nft `ct state`.
    CtState { states: Vec<CtState>, neg: bool },
    /// `-m mark --mark V/M`, nft `meta mark & M == V`: `(mark & mask) == value`.
    Mark { value: u32, mask: u32, neg: bool },
    /// `-m connmark --mark V/M`, nft `ct mark`.
    ConnMark { value: u32, mask: u32, neg: bool },
    /// `-m addrtype --src-type/--dst-type`, nft `fib daddr type`.
    AddrType {
        dir: Dir,
        types: Vec<AddrType>,
        neg: bool,
        limit_iface: Option<Dir>,
    },
    /// `-m physdev`: bridge ports of a bridged packet (br_netfilter).
    PhysDev(PhysDev),
    /// `-m statistic`: each outcome is a possible path.
    Statistic { mode: Statistic, neg: bool },
    /// `-m set --match-set NAME src,dst`: an ipset lookup with one direction
    /// per dimension of the set.
    IpSet {
        name: String,
        dirs: Vec<Dir>,
        neg: bool,
    },
    /// nftables `KEY @set` / `KEY { … }`.
    SetLookup { lookup: Lookup, neg: bool },
    /// `-p icmp --icmp-type`, nft `icmp type`: (type, optional code).
    IcmpType {
        icmp: u8,
        code: Option<u8>,
        neg: bool,
    },
    /// `-m comment`: no effect; kept on the rule as `comment`.
    /// Anything else, verbatim: not evaluable.
    Unknown { text: String },
}

/// `-m physdev` options; `None` fields are not tested.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhysDev {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physdev_in: Option<(String, bool)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physdev_out: Option<(String, bool)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_in: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_out: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_bridged: Option<bool>,
}

/// `-m statistic` modes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "mode")]
pub enum Statistic {
    Random { probability: f64 },
    Nth { every: u32, packet: u32 },
}

/// Conntrack states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CtState {
    New,
    Established,
    Related,
    Invalid,
    Untracked,
    Snat,
    Dnat,
}

/// Address types (`addrtype`, `fib … type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AddrType {
    Unspec,
    Unicast,
    Local,
    Broadcast,
    Anycast,
    Multicast,
    Blackhole,
    Unreachable,
    Prohibit,
    Throw,
    Nat,
    Xresolve,
}

/// A packet field used as (part of) a set or map key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Key {
    Saddr,
    Daddr,
    /// `meta l4proto`.
    L4Proto,
    Sport,
    Dport,
    Iifname,
    Oifname,
    Mark,
    /// A field cnictl does not read, verbatim.
    Other(String),
}

/// A lookup of a (possibly concatenated) key in a named or anonymous set/map.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lookup {
    pub keys: Vec<Key>,
    pub set: SetRef,
}

/// A named set of the table, or one written inline in the rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SetRef {
    Named(String),
    Anonymous(Vec<Element>),
}

/// `numgen random mod N [offset O] vmap { … }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NumgenVmap {
    pub modulus: u32,
    pub offset: u32,
    /// (first value, last value, verdict): single values have first == last.
    pub arms: Vec<(u32, u32, Verdict)>,
}

/// An nftables set or map of a table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Set {
    pub name: String,
    /// The key's types as nft prints them (`ipv4_addr`, `inet_proto`, …).
    pub key_types: Vec<String>,
    /// Maps: the value type (`verdict`, `ipv4_addr`, …); `None` for sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_type: Option<String>,
    pub elements: Vec<Element>,
}

/// One element of a set or map: one value per key dimension, and for a map
/// its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Element {
    pub key: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<MapValue>,
}

/// A key dimension's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Value {
    /// An address or prefix.
    Net(IpNet),
    /// An inclusive address range (`10.0.0.1-10.0.0.9`).
    AddrRange(std::net::IpAddr, std::net::IpAddr),
    /// An inclusive number range: ports, protocols, marks.
    Num(u64, u64),
    /// An ipset port dimension: protocol and inclusive port range
    /// (`tcp:80`, `udp:53-54`; a bare port is TCP, as ipset reads it).
    ProtoPort(u8, u16, u16),
    /// Interface names and anything else, verbatim.
    Str(String),
}

/// What a map element yields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MapValue {
    Verdict(Verdict),
    Other(String),
}

/// A statement: changes the packet or its metadata; the rule goes on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "stmt")]
pub enum Stmt {
    /// `-j DNAT --to-destination`, nft `dnat to`: a terminal NAT verdict in
    /// both front ends (the evaluator ends the chain traversal of the hook).
    Dnat(NatTarget),
    Snat(NatTarget),
    /// The out device's primary address.
    Masquerade {
        ports: Option<(u16, u16)>,
        random_fully: bool,
    },
    /// To the local address of the in device.
    Redirect {
        ports: Option<(u16, u16)>,
    },
    /// `mark = (mark & !mask) ^ value` covers set/xor/or/and (`--set-xmark`).
    Mark {
        value: u32,
        mask: u32,
    },
    ConnMark(ConnMarkOp),
    /// LOG / NFLOG / counter / comment: no effect on the verdict.
    Log {
        text: String,
    },
    /// `-j NOTRACK` / `-j CT --notrack` / `notrack`.
    Notrack,
    /// Verbatim: not evaluable.
    Unknown {
        text: String,
    },
}

/// A NAT target: an address (or range) and ports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NatTarget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<(std::net::IpAddr, std::net::IpAddr)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<(u16, u16)>,
}

/// CONNMARK operations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConnMarkOp {
    /// `ctmark = (ctmark & !mask) ^ value`.
    Set { value: u32, mask: u32 },
    /// `ctmark = mark & mask` (bits selected by the masks).
    Save { nfmask: u32, ctmask: u32 },
    /// `mark = ctmark & mask`.
    Restore { nfmask: u32, ctmask: u32 },
}

/// How a rule, a chain's policy or a map element ends evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Accept,
    Drop,
    /// `-j REJECT --reject-with X` / nft `reject with …`.
    Reject(Option<String>),
    Return,
    Jump(String),
    Goto(String),
    /// NFQUEUE and other verdicts cnictl cannot follow.
    Other(String),
}

/// One `ipset` set from `ipset save`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpSet {
    pub name: String,
    /// `hash:ip,port`, `hash:net`, `bitmap:port`, `list:set`, …
    pub kind: String,
    /// `inet` or `inet6` where printed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// One element per `add` line, one value per dimension of `kind`.
    pub members: Vec<IpSetMember>,
}

/// An ipset element; `nomatch` elements are exceptions of hash:net sets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IpSetMember {
    pub values: Vec<Value>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nomatch: bool,
}

/// Well-known IP protocol names (`/etc/protocols`, as iptables-save and nft
/// print them) → numbers.
pub fn proto_number(name: &str) -> Option<u8> {
    Some(match name {
        "icmp" => 1,
        "igmp" => 2,
        "ipencap" | "ipip" | "ipv4" => 4,
        "tcp" => 6,
        "udp" => 17,
        "ipv6" => 41,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "icmpv6" | "ipv6-icmp" => 58,
        "ospf" => 89,
        "vrrp" => 112,
        "sctp" => 132,
        "udplite" => 136,
        _ => return name.parse().ok(),
    })
}
