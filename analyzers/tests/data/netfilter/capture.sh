#!/bin/sh
# Re-captures every <name>.txt from <name>.rules with the real tools, inside
# a network namespace this script creates and deletes (never the root
# namespace): iptables-restore (nf_tables backend), then iptables-save -c.
# legacy-empty-filter.txt: the legacy backend's filter table created by a
# listing alone (`iptables-legacy -L`), as iptables-legacy-save prints it.
set -eu
cd "$(dirname "$0")"
ns=cnl-chk-capture
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
for rules in *.rules; do
	name=${rules%.rules}
	ip netns exec "$ns" iptables-restore <"$rules"
	ip netns exec "$ns" iptables-save -c >"$name.txt"
	ip netns exec "$ns" iptables -F
	ip netns exec "$ns" iptables -X
done
ip netns exec "$ns" iptables-legacy -L -n >/dev/null
ip netns exec "$ns" iptables-legacy-save -c >legacy-empty-filter.txt
