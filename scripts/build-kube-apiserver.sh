#!/usr/bin/env bash
# Builds a real kube-apiserver for the agent's live API-server tests
# (agent/tests/apiserver_live.rs) and installs etcd to store its objects.
#
# No current kube-apiserver can be built here: the Go module proxy is out of
# reach and Debian ships no server binary. Debian 12's source package
# `kubernetes` (1.20.2) vendors all its Go modules, so it builds offline with
# Debian's Go 1.19; Debian's `etcd-server` (3.4) is the store.
#
# Idempotent: once the binary exists and `--version` runs, it only prints the
# path. The build is niced: about 9 min of CPU (3.5–5 min on 2 idle cores,
# 24 min measured on a loaded 2-core machine), 1.4 GB peak memory, ~2 GB of
# scratch disk (removed after), ~150 MB downloaded. Needs root (or
# passwordless sudo) for apt-get.
#
#   scripts/build-kube-apiserver.sh   prints the binary's path on stdout (last line)
#
# CNICTL_CACHE (default /var/cache/cnictl) holds the build:
#   $CNICTL_CACHE/kube-apiserver-1.20.2/kube-apiserver
set -euo pipefail
version=1.20.2
cache="${CNICTL_CACHE:-/var/cache/cnictl}"
out="$cache/kube-apiserver-$version"
bin="$out/kube-apiserver"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo"
  else
    echo "build-kube-apiserver: not root and no passwordless sudo" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive

# etcd: the API server's store (the tests start it next to the server).
if ! command -v etcd >/dev/null 2>&1; then
  echo "== installing etcd-server" >&2
  $SUDO apt-get update -q >/dev/null
  $SUDO apt-get install -y -q --no-install-recommends etcd-server >/dev/null
fi

if [ -x "$bin" ] && "$bin" --version >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi

echo "== building kube-apiserver $version (Debian bookworm source package, niced)" >&2
start=$(date +%s)
$SUDO apt-get install -y -q --no-install-recommends \
  golang-1.19-go golang-github-modern-go-reflect2-dev rsync dpkg-dev make >/dev/null

# The source package: a private apt configuration holds the deb-src line and
# its own package lists, so the system's sources and lists stay untouched.
work="$cache/build-kube-apiserver"
$SUDO rm -rf "$work"
$SUDO mkdir -p "$work/apt/lists/partial" "$work/src"
echo "deb-src http://deb.debian.org/debian bookworm main" | $SUDO tee "$work/apt/sources.list" >/dev/null
apt_opts=(
  -o "Dir::Etc::sourcelist=$work/apt/sources.list"
  -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$work/apt/lists"
  -o "APT::Get::List-Cleanup=0"
)
$SUDO apt-get "${apt_opts[@]}" update -q >/dev/null
# Debian's version is `1.20.5+really1.20.2-…`: the 1.20.2 sources.
srcver=$(apt-cache "${apt_opts[@]}" showsrc kubernetes | awk '/^Version:/ {print $2; exit}')
case "$srcver" in *really$version-*) ;; *)
  echo "build-kube-apiserver: Debian's kubernetes source is $srcver, not $version" >&2; exit 1;;
esac
(cd "$work/src" && $SUDO apt-get "${apt_opts[@]}" source -q "kubernetes=$srcver" >/dev/null)
src=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)
[ -n "$src" ] || { echo "build-kube-apiserver: apt-get source kubernetes gave no tree" >&2; exit 1; }

# The vendored reflect2 1.0.1 crashes (`fatal error: fault`) on the first
# pretty-printed or YAML response when built with Go >= 1.18; Debian's 1.0.2
# is the upstream fix.
reflect2="$src/vendor/github.com/modern-go/reflect2"
$SUDO rm -rf "$reflect2"
$SUDO mkdir -p "$reflect2"
$SUDO cp -r /usr/share/gocode/src/github.com/modern-go/reflect2/. "$reflect2/"

# Offline build with Debian's Go 1.19 and the vendored modules.
(
  cd "$src"
  # hack/ keeps its Go caches under _output/, removed with the tree.
  $SUDO env PATH="/usr/lib/go-1.19/bin:$PATH" GOFLAGS=-mod=vendor GOPROXY=off GO111MODULE=on \
    nice -n 10 make WHAT=cmd/kube-apiserver >&2
)
built=$(find "$src/_output" -type f -name kube-apiserver -perm -u+x | head -n1)
[ -n "$built" ] || { echo "build-kube-apiserver: make produced no kube-apiserver" >&2; exit 1; }
$SUDO mkdir -p "$out"
$SUDO install -m 0755 "$built" "$bin"
"$bin" --version >&2
# The sources and Go caches are only needed once (about 2 GB).
$SUDO rm -rf "$work"
echo "== kube-apiserver built in $(( $(date +%s) - start )) s" >&2
echo "$bin"
