#!/bin/sh
# collect-k8s.sh — write the Kubernetes part of a cnictl bundle with kubectl.
#
# Read-only (`kubectl get … -o json`). nodes.json and pods.json are required;
# services.json and endpointslices.json are optional in a bundle, so a failure
# there (e.g. RBAC) is reported and the file left out. Each file is written to
# a temp name and renamed, so a bundle never holds a truncated document.
# When a `cilium` DaemonSet runs in kube-system, each node's agent state is
# read with read-only cilium-dbg commands (status, bpf ipcache/tunnel/lb
# list, endpoint list; Cilium v1.15) into nodes/<node>/cilium/*.json.
set -eu

PROG=collect-k8s.sh

usage() {
	cat <<'EOF'
usage: collect-k8s.sh [--kubeconfig FILE] [--context NAME] BUNDLE

Write BUNDLE/k8s/{nodes,pods,services,endpointslices,...}.json:
  kubectl get nodes -o json
  kubectl get pods -A -o json
  kubectl get services -A -o json          (optional)
  kubectl get endpointslices -A -o json    (optional)
  kubectl get bgpconfigurations|bgppeers|ippools|blockaffinities
          .crd.projectcalico.org -o json   (optional, Calico)
and, with a kube-system/cilium DaemonSet, BUNDLE/nodes/<node>/cilium/*.json:
  kubectl -n kube-system exec <agent> -c cilium-agent -- cilium-dbg status -o json
  … bpf ipcache list / bpf tunnel list / endpoint list / bpf lb list -o json

example:
  collect-k8s.sh --context prod bundle/
  for n in $(kubectl get nodes -o name); do ...; done   # then collect-node.sh per node
EOF
}

die() {
	printf '%s: %s\n' "$PROG" "$*" >&2
	exit 2
}

# get FILE REQUIRED ARGS...: kubectl get ARGS -o json into k8s/FILE.
get() {
	file=$1 required=$2
	shift 2
	# shellcheck disable=SC2086 # KFLAGS holds whole --flag=value words
	if kubectl $KFLAGS get "$@" -o json >"$DIR/.$file.tmp" 2>"$DIR/.err"; then
		mv "$DIR/.$file.tmp" "$DIR/$file"
	elif [ "$required" = yes ]; then
		cat "$DIR/.err" >&2
		rm -f "$DIR/.$file.tmp" "$DIR/.err"
		die "kubectl get $* failed"
	else
		printf '%s: skipped %s: %s\n' "$PROG" "$file" "$(head -n 1 "$DIR/.err")" >&2
		rm -f "$DIR/.$file.tmp"
	fi
	rm -f "$DIR/.err"
}

# cilium_node NODE POD: the agent POD's state into nodes/NODE/cilium/.
cilium_node() {
	cdir=${OUT%/}/nodes/$1/cilium
	mkdir -p "$cdir"
	for part in status:status ipcache:'bpf ipcache list' tunnel:'bpf tunnel list' \
		endpoints:'endpoint list' lb:'bpf lb list'; do
		file=${part%%:*} cmd=${part#*:}
		# shellcheck disable=SC2086 # KFLAGS and cmd hold whole words
		if kubectl $KFLAGS -n kube-system exec "$2" -c cilium-agent -- \
			cilium-dbg $cmd -o json </dev/null >"$cdir/.$file.tmp" 2>"$cdir/.err"; then
			mv "$cdir/.$file.tmp" "$cdir/$file.json"
		else
			printf '%s: skipped %s/%s.json: %s\n' "$PROG" "$1" "$file" "$(head -n 1 "$cdir/.err")" >&2
			rm -f "$cdir/.$file.tmp"
		fi
		rm -f "$cdir/.err"
	done
}

# Every cilium agent pod with its node, when Cilium runs.
cilium_all() {
	# shellcheck disable=SC2086
	kubectl $KFLAGS -n kube-system get daemonset cilium >/dev/null 2>&1 || return 0
	# shellcheck disable=SC2086
	kubectl $KFLAGS -n kube-system get pods -l k8s-app=cilium \
		-o jsonpath='{range .items[*]}{.spec.nodeName} {.metadata.name}{"\n"}{end}' |
		while read -r node pod; do
			[ -n "$node" ] && cilium_node "$node" "$pod"
		done
}

KFLAGS=
OUT=
while [ $# -gt 0 ]; do
	case $1 in
	-h | --help) usage; exit 0 ;;
	--kubeconfig | --context)
		[ $# -ge 2 ] || die "$1 needs a value"
		case $2 in *[[:space:]]*) die "$1 value must not contain spaces" ;; esac
		KFLAGS="$KFLAGS $1=$2"
		shift 2 ;;
	-*) die "unknown option $1 (see --help)" ;;
	*) [ -z "$OUT" ] || die "only one BUNDLE"; OUT=$1; shift ;;
	esac
done
[ -n "$OUT" ] || { usage >&2; exit 2; }
command -v kubectl >/dev/null 2>&1 || die "kubectl not found"

DIR=${OUT%/}/k8s
mkdir -p "$DIR"
get nodes.json yes nodes
get pods.json yes pods -A
get services.json no services -A
get endpointslices.json no endpointslices -A
# Calico's custom resources (absent on other CNIs: skipped, not an error).
get bgpconfigurations.json no bgpconfigurations.crd.projectcalico.org
get bgppeers.json no bgppeers.crd.projectcalico.org
get ippools.json no ippools.crd.projectcalico.org
get blockaffinities.json no blockaffinities.crd.projectcalico.org
cilium_all
printf 'wrote %s\n' "$DIR"
