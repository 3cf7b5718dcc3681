#!/bin/sh
# collect-node.sh — write one node's part of a cnictl bundle.
#
# Runs as root on a Kubernetes node (or inside `ip netns exec NODE`) with only
# iproute2 (plus ipvsadm / birdc / iptables / nft / ipset when present). It
# never changes the dataplane: every command it runs is a read (`show`, `-L`,
# `iptables-save`, `nft list`, `ipset save`, `ethtool -k`, `uname -r`,
# /proc/sys reads).
# The layout is the bundle layout of the README's "Bundles" section, for
# BUNDLE/nodes/<node>/.
#
# Choices made here (the only differences from running the commands by hand):
#   * ip-route.json holds IPv4 and IPv6: `ip -4 -d -j route show table all`
#     and `ip -6 -d -j route show table all` concatenated into one JSON array.
#     In the IPv6 part, `"dst":"default"` is rewritten to `"dst":"::/0"`, since
#     plain "default" would read as the IPv4 default once the two are merged.
#     Nothing else is changed.
#   * ip-rule.json is IPv4 only (`ip -j rule show`): rule JSON carries no
#     address family, so IPv6 rules merged in could not be told apart.
#   * sysctl.txt is a subset read from /proc/sys (see SYSCTL_GLOBS), printed
#     as `sysctl` does ("key = value", dots in interface names shown as "/").
#   * collect-info.txt records when and how the dump was taken (ignored by
#     bundle readers, kept for provenance).
# Optional sources that are absent or fail (IPVS not loaded — ipvsadm is not
# run then, as it would load the module —, no BIRD socket) are skipped with a
# note on stderr, and their files are not written: a missing file means "not
# collected", never "empty".
set -eu

PROG=collect-node.sh

usage() {
	cat <<'EOF'
usage: collect-node.sh [options] OUTDIR

Write this node's dataplane dump (one node's part of a cnictl bundle) to
OUTDIR, normally BUNDLE/nodes/<node-name>. OUTDIR must not exist or be empty
unless --force is given; the dump is written to a temporary directory beside
it and renamed into place, so OUTDIR is either complete or absent.

options:
  --pods-prefix PFX  only collect network namespaces whose name starts with PFX
  --pod-map FILE     map netns names to pod dirs: lines "NETNS NAMESPACE_POD"
                     (e.g. "cni-1a2b default_web-1"); only mapped netns are
                     collected; '#' starts a comment
  --no-pods          collect no pod network namespaces
  --no-bird          do not ask BIRD (no bird-*.txt), even if a socket exists
  --no-ipvs          do not run ipvsadm (no ipvsadm.txt)
  --no-netfilter     do not run iptables-save, nft, ipset (no netfilter files)
  --force            replace an existing non-empty OUTDIR
  -h, --help         this help

Every netns in /run/netns (and /var/run/netns) except the one this runs in
becomes pods/<dir>/ with ip-link.json, ip-addr.json, ip-route.json. <dir> is
the --pod-map name, else the netns name if it has the form NAMESPACE_POD,
else netns_<name>.

environment:
  BIRD_SOCKET  BIRD control socket (default /run/bird/bird.ctl); when it
               exists and birdc is installed, bird-protocols.txt and
               bird-routes.txt are written

example:
  sudo sh collect-node.sh bundle/nodes/$(hostname)
  sudo ip netns exec lab-node-1 sh collect-node.sh --pod-map map.txt out/nodes/node-1
EOF
}

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 2
}

note() {
	printf '%s: %s\n' "$PROG" "$*" >&2
}

# SYSCTL_GLOBS: the sysctls a CNI check reads (forwarding, reverse-path
# filtering, proxy ARP as Calico uses it, bridge netfilter, IPVS conntrack,
# the conntrack table's fill). /proc/sys/net/bridge exists in a namespace
# only once br_netfilter is loaded: an absent key means off.
SYSCTL_GLOBS='
/proc/sys/net/ipv4/ip_forward
/proc/sys/net/ipv4/conf/*/forwarding
/proc/sys/net/ipv4/conf/*/rp_filter
/proc/sys/net/ipv4/conf/*/proxy_arp
/proc/sys/net/ipv4/neigh/*/proxy_delay
/proc/sys/net/ipv6/conf/all/forwarding
/proc/sys/net/bridge/bridge-nf-call-iptables
/proc/sys/net/ipv4/vs/conntrack
/proc/sys/net/netfilter/nf_conntrack_count
/proc/sys/net/netfilter/nf_conntrack_max
'

# strip_ws: print a file's content without leading/trailing blank lines, so
# the bracket checks below see the array's first and last characters.
strip_ws() {
	tr -d '\n' <"$1" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//'
}

# merge_arrays A B: print one JSON array holding the elements of the JSON
# arrays in files A and B (each as `ip -j` prints it: one line, "[...]").
merge_arrays() {
	a=$(strip_ws "$1")
	b=$(strip_ws "$2")
	case $a in \[*\]) ;; *) die "not a JSON array: $1" ;; esac
	case $b in \[*\]) ;; *) die "not a JSON array: $2" ;; esac
	if [ "$a" = "[]" ]; then
		printf '%s\n' "$b"
	elif [ "$b" = "[]" ]; then
		printf '%s\n' "$a"
	else
		printf '%s,%s\n' "${a%]}" "${b#\[}"
	fi
}

# dump_routes NETNS OUT: IPv4 + IPv6 routes of every table into OUT (see the
# header for the one rewrite). NETNS empty means the current namespace.
dump_routes() {
	v4="$WORK/.r4" v6="$WORK/.r6"
	ipn "$1" -4 -d -j route show table all >"$v4" || return 1
	# IPv6 may be disabled: then there are simply no IPv6 routes.
	if ! ipn "$1" -6 -d -j route show table all >"$v6" 2>/dev/null; then
		echo '[]' >"$v6"
	fi
	[ -s "$v6" ] || echo '[]' >"$v6"
	sed 's/"dst":"default"/"dst":"::\/0"/g' "$v6" >"$v6.x"
	merge_arrays "$v4" "$v6.x" >"$2" || return 1
	rm -f "$v4" "$v6" "$v6.x"
}

# ipn NETNS ARGS...: run `ip` in NETNS (or here when NETNS is empty).
ipn() {
	ns=$1
	shift
	if [ -n "$ns" ]; then
		ip -n "$ns" "$@"
	else
		ip "$@"
	fi
}

# optional NAME CMD...: write CMD's stdout to NAME, or skip it with a note.
optional() {
	name=$1
	shift
	if "$@" >"$WORK/$name.part" 2>"$WORK/.err"; then
		mv "$WORK/$name.part" "$WORK/$name"
	else
		note "skipped $name: $* failed: $(head -n 1 "$WORK/.err")"
		rm -f "$WORK/$name.part"
	fi
	rm -f "$WORK/.err"
}

collect_sysctls() {
	for f in $SYSCTL_GLOBS; do
		[ -r "$f" ] || continue
		key=$(printf '%s' "${f#/proc/sys/}" | tr './' '/.')
		if val=$(cat "$f" 2>/dev/null); then
			printf '%s = %s\n' "$key" "$val"
		fi
	done
}

collect_bird() {
	sock=${BIRD_SOCKET:-/run/bird/bird.ctl}
	if ! command -v birdc >/dev/null 2>&1; then
		return 0
	fi
	if [ ! -S "$sock" ]; then
		[ -z "${BIRD_SOCKET:-}" ] || note "skipped BIRD: no socket at $sock"
		return 0
	fi
	optional bird-protocols.txt birdc -s "$sock" show protocols all
	optional bird-routes.txt birdc -s "$sock" show route all
}

# collect_ipvs: only when IPVS is already loaded (/proc/net/ip_vs exists):
# ipvsadm would otherwise modprobe ip_vs, a change to the node it reads.
collect_ipvs() {
	command -v ipvsadm >/dev/null 2>&1 || return 0
	if [ ! -e /proc/net/ip_vs ]; then
		note "skipped ipvsadm.txt: IPVS is not loaded (no /proc/net/ip_vs)"
		return 0
	fi
	optional ipvsadm.txt ipvsadm -Ln
}

# collect_netfilter: the node's own list commands (iptables-save -c,
# ip6tables-save -c, nft -j list ruleset, ipset save), each bounded by a
# timeout. iptables-legacy-save runs only when the node's iptables is the
# nft backend and the legacy backend holds tables too (a mixed node). On a
# node where nf_tables is not loaded yet, `nft` and iptables-nft may load
# it (as kube-proxy would): --no-netfilter skips them all.
collect_netfilter() {
	tmo=""
	command -v timeout >/dev/null 2>&1 && tmo="timeout 20"
	if command -v iptables-save >/dev/null 2>&1; then
		optional iptables-save.txt $tmo iptables-save -c
		optional ip6tables-save.txt $tmo ip6tables-save -c
		if iptables-save -V 2>/dev/null | grep -q nf_tables; then
			collect_legacy ip iptables-legacy-save.txt iptables-legacy-save
			collect_legacy ip6 ip6tables-legacy-save.txt ip6tables-legacy-save
		fi
	fi
	if command -v nft >/dev/null 2>&1; then
		optional nft-ruleset.json $tmo nft -j list ruleset
	fi
	if command -v ipset >/dev/null 2>&1; then
		optional ipset-save.txt $tmo ipset save
	fi
	{ iptables -V; nft -v; ip -V; } >"$WORK/tool-versions.txt" 2>/dev/null || true
}

# collect_legacy FAMILY FILE TOOL: the legacy dump, when that backend has
# tables in this namespace (/proc/net/ip_tables_names or
# ip6_tables_names lists some).
collect_legacy() {
	command -v "$3" >/dev/null 2>&1 || return 0
	# /proc files report size 0: read them (test -s would always fail).
	grep -q . "/proc/net/$1_tables_names" 2>/dev/null || return 0
	optional "$2" $tmo "$3" -c
}

# collect_offloads: `ethtool -k` of every tunnel device (VXLAN, IPIP,
# Geneve), one listing after the other in ethtool.txt, when ethtool is
# installed (the VXLAN checksum-offload check compares them with the kernel).
collect_offloads() {
	command -v ethtool >/dev/null 2>&1 || return 0
	devs=$(for t in vxlan ipip geneve ip6tnl; do ip -o link show type "$t" 2>/dev/null; done |
		awk -F': ' '{ sub(/@.*/, "", $2); print $2 }')
	[ -n "$devs" ] || return 0
	for d in $devs; do ethtool -k "$d" || return 1; done >"$WORK/ethtool.txt.part" 2>/dev/null &&
		mv "$WORK/ethtool.txt.part" "$WORK/ethtool.txt" ||
		{ note "skipped ethtool.txt: ethtool -k failed"; rm -f "$WORK/ethtool.txt.part"; }
}

collect_node() {
	ip -d -j link show >"$WORK/ip-link.json"
	ip -j addr show >"$WORK/ip-addr.json"
	dump_routes "" "$WORK/ip-route.json"
	optional ip-rule.json ip -j rule show
	optional ip-neigh.json ip -j neigh show
	if command -v bridge >/dev/null 2>&1; then
		optional bridge-fdb.json bridge -j fdb show
	fi
	collect_sysctls >"$WORK/sysctl.txt"
	uname -r >"$WORK/uname.txt"
	collect_offloads
	[ "$NO_IPVS" = 1 ] || collect_ipvs
	[ "$NO_NETFILTER" = 1 ] || collect_netfilter
	[ "$NO_BIRD" = 1 ] || collect_bird
}

# pod_dir NETNS: the pods/<dir> name for NETNS, or nothing to skip it.
pod_dir() {
	if [ -n "$POD_MAP" ]; then
		awk -v n="$1" '$1 == n { print $2; exit }' "$POD_MAP"
		return 0
	fi
	case $1 in
	"$PODS_PREFIX"*) ;;
	*) return 0 ;;
	esac
	case $1 in
	*_*) printf '%s\n' "$1" ;;
	*) printf 'netns_%s\n' "$1" ;;
	esac
}

# list_netns: names under /run/netns and /var/run/netns, once each.
list_netns() {
	for d in /run/netns /var/run/netns; do
		[ -d "$d" ] || continue
		for f in "$d"/*; do
			[ -e "$f" ] && basename "$f"
		done
	done | sort -u
}

collect_pods() {
	self=$(ip netns identify 2>/dev/null || true)
	for ns in $(list_netns); do
		case " $(printf '%s' "$self" | tr '\n' ' ') " in *" $ns "*) continue ;; esac
		dir=$(pod_dir "$ns")
		[ -n "$dir" ] || continue
		case $dir in */* | .* | "") die "bad pod dir name '$dir' for netns $ns" ;; esac
		mkdir -p "$WORK/pods/$dir"
		if ! collect_pod "$ns" "$WORK/pods/$dir"; then
			note "skipped pod netns $ns: ip -n $ns failed"
			rm -rf "$WORK/pods/${dir:?}"
		fi
	done
}

collect_pod() {
	ip -n "$1" -d -j link show >"$2/ip-link.json" &&
		ip -n "$1" -j addr show >"$2/ip-addr.json" &&
		dump_routes "$1" "$2/ip-route.json"
}

write_info() {
	{
		printf 'collected_at = %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		printf 'hostname = %s\n' "$(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
		printf 'netns = %s\n' "$(ip netns identify 2>/dev/null | tr '\n' ' ' | sed 's/ *$//')"
		printf 'kernel = %s\n' "$(uname -r)"
		printf 'iproute2 = %s\n' "$(ip -V 2>&1 | head -n 1)"
		printf 'collector = collect-node.sh (ip -4/-6 routes merged, IPv6 default as ::/0)\n'
	} >"$WORK/collect-info.txt"
}

# finish: move the complete dump into place (rename within one directory).
finish() {
	if [ -d "$OUT" ]; then
		if [ -n "$(ls -A "$OUT")" ] && [ "$FORCE" != 1 ]; then
			die "$OUT exists and is not empty (use --force)"
		fi
		old="$PARENT/.$(basename "$OUT").old.$$"
		mv "$OUT" "$old"
		mv "$WORK" "$OUT"
		rm -rf "$old"
	else
		mv "$WORK" "$OUT"
	fi
}

PODS_PREFIX=
POD_MAP=
NO_PODS=0
NO_BIRD=0
NO_IPVS=0
NO_NETFILTER=0
FORCE=0
OUT=
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--pods-prefix) [ $# -ge 2 ] || die "--pods-prefix needs a value"; PODS_PREFIX=$2; shift 2 ;;
	--pod-map) [ $# -ge 2 ] || die "--pod-map needs a file"; POD_MAP=$2; shift 2 ;;
	--no-pods) NO_PODS=1; shift ;;
	--no-bird) NO_BIRD=1; shift ;;
	--no-ipvs) NO_IPVS=1; shift ;;
	--no-netfilter) NO_NETFILTER=1; shift ;;
	--force) FORCE=1; shift ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) [ -z "$OUT" ] || die "only one OUTDIR"; OUT=$1; shift ;;
	esac
done
[ -n "$OUT" ] || { usage >&2; exit 2; }
[ -z "$POD_MAP" ] || [ -r "$POD_MAP" ] || die "cannot read pod map $POD_MAP"
command -v ip >/dev/null 2>&1 || die "ip (iproute2) not found"

OUT=${OUT%/}
if [ -d "$OUT" ] && [ -n "$(ls -A "$OUT")" ] && [ "$FORCE" != 1 ]; then
	die "$OUT exists and is not empty (use --force)"
fi
PARENT=$(dirname "$OUT")
mkdir -p "$PARENT"
WORK=$(mktemp -d "$PARENT/.$(basename "$OUT").tmp.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

collect_node
[ "$NO_PODS" = 1 ] || collect_pods
write_info
finish
trap - EXIT
