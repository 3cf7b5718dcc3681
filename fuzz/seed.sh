#!/usr/bin/env bash
# Builds fuzz/corpus/<target>/ from the recorded inputs in fixtures/ and
# collect/tests/data/ (the same files the proptest harnesses start from).
# Usage: fuzz/seed.sh
set -euo pipefail
cd "$(dirname "$0")"
root=..
data=$root/collect/tests/data
corpus=corpus

seed() { # target files...
  local t=$1; shift
  mkdir -p "$corpus/$t"
  for f in "$@"; do
    [ -f "$f" ] || continue
    cp "$f" "$corpus/$t/$(echo "$f" | sed 's#^\.\./##; s#/#_#g')"
  done
}
# Per-node files of every fixture bundle, plus the recorded ones.
nodes() { ls "$root"/fixtures/*/nodes/*/"$1" 2>/dev/null || true; }
k8s() { ls "$root"/fixtures/*/k8s/"$1" 2>/dev/null | head -20 || true; }

seed parse_links $(nodes ip-link.json) "$data"/ip-link*.json "$data"/pod-ip-link.json
seed parse_addrs $(nodes ip-addr.json) "$data"/ip-addr.json "$data"/pod-ip-addr.json
seed parse_routes $(nodes ip-route.json) "$data"/ip-route*.json "$data"/pod-ip-route.json
seed parse_rules $(nodes ip-rule.json) "$data"/ip-rule*.json
seed parse_neighbours $(nodes ip-neigh.json) "$data"/ip-neigh*.json
seed parse_fdb $(nodes bridge-fdb.json) "$data"/bridge-fdb*.json
seed parse_ipvsadm $(nodes ipvsadm.txt) "$data"/ipvsadm*.txt
seed parse_bird_protocols $(nodes bird-protocols.txt) "$data"/bird-protocols*.txt
seed parse_bird_routes $(nodes bird-routes.txt) "$data"/bird-routes*.txt
seed parse_sysctl $(nodes sysctl.txt) "$data"/sysctl.txt
seed parse_nodes $(k8s nodes.json) "$data"/k8s-nodes.json
seed parse_pods $(k8s pods.json) "$data"/k8s-pods.json
seed parse_services $(k8s services.json) "$data"/k8s-services.json
seed parse_endpointslices $(k8s endpointslices.json) "$data"/k8s-endpointslices.json
# Netfilter: the dumps captured from iptables 1.8.9, nftables 1.0.6 and
# ipset 7.17 (formats/tests/data/netfilter/), plus the bundle files. The
# iptables target's first byte picks the source: prefix each seed with 0
# (iptables-save) or 2 (iptables-legacy-save).
nf=$root/formats/tests/data/netfilter
mkdir -p "$corpus/parse_iptables_save"
for f in "$nf"/iptables-save-nft.txt "$nf"/iptables-restore-input.rules $(nodes iptables-save.txt); do
  { printf '\x00'; cat "$f"; } >"$corpus/parse_iptables_save/$(echo "$f" | sed 's#^\.\./##; s#/#_#g')"
done
for f in "$nf"/iptables-legacy-save.txt $(nodes iptables-legacy-save.txt); do
  { printf '\x02'; cat "$f"; } >"$corpus/parse_iptables_save/$(echo "$f" | sed 's#^\.\./##; s#/#_#g')"
done
seed parse_nft_json "$nf"/nft-ruleset-*.json $(nodes nft-ruleset.json)
seed parse_ipset "$nf"/ipset-save.txt $(nodes ipset-save.txt)
# /proc/net/ip_vs: no recording in the tree; a representative one.
mkdir -p "$corpus/proc_ip_vs"
cat >"$corpus/proc_ip_vs/ip_vs.txt" <<'IPVS'
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  0A60000A:0050 rr persistent 2500
  -> 0AF40102:1F90      Masq    1      0          0
UDP  [2001:0db8:0000:0000:0000:0000:0000:000a]:0035 rr
  -> [2001:0db8:0000:0000:0000:0000:0000:0102]:0035      Masq    1      0          0
FWM  00000005 wlc
IPVS
# Snapshots: `cnictl snapshot`-style JSON of a few fixtures, when cnictl is built.
mkdir -p "$corpus/snapshot_json"
bin=$root/target/debug/cnictl
[ -x "$bin" ] || bin=$root/target/release/cnictl
if [ -x "$bin" ]; then
  for b in flannel-vxlan calico-bgp flannel-vxlan-ipvs; do
    "$bin" snapshot --bundle "$root/fixtures/$b" -o "$corpus/snapshot_json/$b.json" 2>/dev/null ||
      "$bin" snapshot --bundle "$root/fixtures/$b" >"$corpus/snapshot_json/$b.json" 2>/dev/null || true
  done
fi
# Explain: SRC\nDST\nPROTO\nextra-bytes lines, from the contract pairs.
mkdir -p "$corpus/explain_endpoints"
printf 'default/web-1\ndefault/api-2\nicmp\n' >"$corpus/explain_endpoints/pods"
printf 'node/node-1\n10.244.2.3\ntcp\nP\x01\x03' >"$corpus/explain_endpoints/node-ip"
printf 'web-1\nsvc/default/api:80\ntcp\n' >"$corpus/explain_endpoints/svc"
# Frames: pcap payloads without the file/record headers (24 + 16 bytes),
# prefixed with the link-type selector byte of fuzz_targets/decode_frame.rs.
mkdir -p "$corpus/decode_frame"
for p in "$data"/pcap/*.pcap; do
  sel=$(python3 - "$p" <<'PY'
import struct, sys
raw = open(sys.argv[1], 'rb').read()
lt = struct.unpack('<I', raw[20:24])[0]
order = {1: 0, 101: 1, 12: 2, 228: 3, 113: 4}
sys.stdout.write(str(order.get(lt, 0)))
PY
)
  { printf "\\x0$sel"; tail -c +41 "$p"; } >"$corpus/decode_frame/$(basename "$p" .pcap)"
done
find "$corpus" -type f | wc -l | xargs echo "seed files:"
