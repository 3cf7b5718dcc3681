#!/usr/bin/env bash
# Installs what the test suite needs on a Debian 12 machine that has only a
# Rust toolchain: the system packages (apt), the UI test's npm module, PyYAML
# and cargo-deny. Idempotent: installs only what is missing, so ./test.sh
# can run it every time. Needs root (or sudo) to install packages; without
# either it prints what is missing and exits 0, and the tests that need a
# missing tool skip with a printed reason.
#
#   scripts/install-test-deps.sh          install what is missing
#   scripts/install-test-deps.sh --check  only list what is missing (exit 1 if any)
set -euo pipefail
cd "$(dirname "$0")/.."
check_only=false
[ "${1:-}" = "--check" ] && check_only=true

# command → Debian package. What each is for:
#   ip/bridge (iproute2), ping: namespace labs and recorded fixtures
#   bird: real BGP daemons in the Calico labs; ipvsadm: IPVS formats
#   pcap-config (libpcap-dev): builds `explain --probe` (cargo --all-features)
#   tcpdump: the capture tests; jq, python3: contract check and scripts
#   chromium: the web UI test; promtool (prometheus): metrics/rules checks
#   qemu-system-x86_64, busybox: the VM lab (Debian's kernel: IPIP, IPVS)
#   kubectl (kubernetes-client): deploy/validate.sh renders the manifests
#   node/npm: drive headless Chromium (playwright-core) in the UI test
#   iptables/nft/ipset: netfilter in the namespace labs
#   ethtool: the tunnel devices' offloads (ethtool.txt) in lab bundles
declare -A PKG=(
  [ip]=iproute2 [bridge]=iproute2 [ping]=iputils-ping [bird]=bird2 [ipvsadm]=ipvsadm
  [pcap-config]=libpcap-dev [tcpdump]=tcpdump [jq]=jq [python3]=python3 [pkill]=procps
  [/usr/bin/time]=time [chromium]=chromium [promtool]=prometheus
  [qemu-system-x86_64]=qemu-system-x86 [busybox]=busybox-static
  [kubectl]=kubernetes-client [node]=nodejs [npm]=npm
  [iptables]=iptables [nft]=nftables [ipset]=ipset [cc]=gcc [pkg-config]=pkg-config
  [ethtool]=ethtool
)
missing=()
for cmd in "${!PKG[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${PKG[$cmd]}")
done
# busybox-static specifically (the VM's initramfs needs the static binary).
{ [ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1; } || missing+=(busybox-static)  # static: ldd fails
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u | sed '/^$/d')

need_yaml=false
python3 -c 'import yaml' 2>/dev/null || need_yaml=true
need_npm=false
[ -f web/tests/node_modules/playwright-core/package.json ] || need_npm=true
# Helm's engine for deploy/validate.sh (Debian 12 has no helm package): the
# helm-python-sdk wheel carries the Helm v4 Go SDK as a shared library.
need_helm=false
command -v helm >/dev/null 2>&1 || python3 -c 'import helm_python' 2>/dev/null || need_helm=true
# A real kube-apiserver (1.20.2, built from Debian's source package) and
# etcd for agent/tests/apiserver_live.rs: scripts/build-kube-apiserver.sh.
need_apiserver=false
apiserver_bin="${CNICTL_CACHE:-/var/cache/cnictl}/kube-apiserver-1.20.2/kube-apiserver"
{ "$apiserver_bin" --version && command -v etcd; } >/dev/null 2>&1 || need_apiserver=true
need_deny=false
cargo deny --version >/dev/null 2>&1 || need_deny=true  # cargo also looks in $CARGO_HOME/bin

if $check_only; then
  [ ${#missing[@]} -eq 0 ] || echo "missing Debian packages: ${missing[*]}"
  $need_yaml && echo "missing: PyYAML (python3 -m pip install pyyaml, or apt python3-yaml)"
  $need_npm && echo "missing: web/tests/node_modules (cd web/tests && npm ci)"
  $need_deny && echo "missing: cargo-deny (cargo install --locked cargo-deny)"
  $need_helm && echo "missing: helm or helm-python-sdk (python3 -m pip install helm-python-sdk)"
  $need_apiserver && echo "missing: kube-apiserver or etcd (scripts/build-kube-apiserver.sh)"
  [ ${#missing[@]} -eq 0 ] && ! $need_yaml && ! $need_npm && ! $need_deny && ! $need_helm \
    && ! $need_apiserver
  exit
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo"
  elif [ ${#missing[@]} -gt 0 ]; then
    echo "not root and no passwordless sudo: cannot install ${missing[*]}" >&2
    echo "(tests that need them will skip and say so)" >&2
    missing=()
  fi
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "== installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
if $need_yaml; then
  echo "== installing PyYAML"
  python3 -m pip install -q pyyaml 2>/dev/null \
    || { $SUDO apt-get install -y -q --no-install-recommends python3-yaml >/dev/null; }
fi
if $need_helm; then
  echo "== installing helm-python-sdk (Helm's engine for deploy/validate.sh)"
  python3 -m pip install -q helm-python-sdk==0.2.2 2>/dev/null \
    || echo "helm-python-sdk could not be installed: deploy/validate.sh will say it skipped helm"
fi
if $need_npm && command -v npm >/dev/null 2>&1; then
  echo "== installing the UI test's npm module (web/tests/package-lock.json)"
  (cd web/tests && npm ci --no-audit --no-fund --silent)
fi
if $need_deny; then
  # Built from crates.io: a few minutes on a fresh machine, once.
  echo "== installing cargo-deny (cargo install --locked)"
  cargo install --locked -q cargo-deny@0.20.2 \
    || echo "cargo-deny could not be installed: test.sh will say it skipped it"
fi
if $need_apiserver; then
  # Built from source once (a few minutes, niced), then cached.
  echo "== building kube-apiserver for the API-server tests (scripts/build-kube-apiserver.sh)"
  scripts/build-kube-apiserver.sh >/dev/null \
    || echo "kube-apiserver could not be built: the API-server tests will skip (CI: fail)"
fi
echo "== test dependencies present"
