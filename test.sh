#!/usr/bin/env bash
# The test command (README line 2), for a fresh Debian 12 machine with a Rust
# toolchain. It installs what the tests need first (scripts/install-test-deps.sh:
# apt packages, the UI test's npm module, cargo-deny; set CNICTL_NO_INSTALL=1
# to skip), then: formatting, lints, the architecture gates (pure crates,
# function/file sizes, MSRV), the whole workspace's tests, deploy/ validation
# and the output-contract check on every fixture.
#
# Run it as root to run everything: the live tests build network namespaces
# (tests/lab.rs, tests/explain_live.rs, collect/ and agent/ netlink tests),
# start BIRD daemons and boot a QEMU VM (tests/vm.rs); as another user they
# skip, each printing why.
set -euo pipefail
cd "$(dirname "$0")"

if [ "${CNICTL_NO_INSTALL:-0}" != 1 ]; then
  scripts/install-test-deps.sh
fi
# Every crate for every target platform, so the offline checks below
# (cargo deny reads the whole graph) work with an empty CARGO_HOME.
echo "== cargo fetch"
cargo fetch --locked --quiet

if cargo fmt --version >/dev/null 2>&1; then
  echo "== cargo fmt --check"
  cargo fmt --all -- --check
fi
if cargo clippy --version >/dev/null 2>&1; then
  echo "== cargo clippy"
  cargo clippy --workspace --all-targets --all-features --quiet -- -D warnings
fi

echo "== architecture invariant: the pure crates pull in no IO crates"
for crate in cnictl-model cnictl-formats cnictl-dataplane cnictl-analyzers cnictl-gen; do
  cargo tree -p "$crate" -e normal >/dev/null 2>&1 || { echo "pure crate $crate is not in the workspace" >&2; exit 1; }
  for io in tokio netlink-sys libc pcap; do
    # `cargo tree -i` exits 0 with "nothing to print" when absent: test output.
    if cargo tree -p "$crate" -e normal -i "$io" 2>/dev/null | grep -q .; then
      echo "$crate depends on $io: the core must stay pure" >&2
      exit 1
    fi
  done
done
# The formats crate reads bytes it is handed: no files, sockets or processes.
if grep -rnE 'std::(fs|process|os::unix::net)|std::net::(Tcp|Udp)' formats/src; then
  echo "cnictl-formats does IO: files, sockets and processes belong in cnictl-collect" >&2
  exit 1
fi

echo "== function and file sizes of shipped code (median <= 9 lines, p90 <= 30, files <= 900 lines)"
cargo run --quiet --locked -p cnictl-xtask -- sizes --top 5

echo "== MSRV: the declared rust-version covers every dependency"
cargo run --quiet --locked -p cnictl-xtask -- msrv

echo "== the node agent does not depend on the exporter (shared HTTP: httpkit)"
if cargo tree -p cnictl-agent -e normal -i cnictl-exporter 2>/dev/null | grep -q .; then
  echo "cnictl-agent depends on cnictl-exporter: share through httpkit or analyzers::pipeline" >&2
  exit 1
fi

if cargo deny --version >/dev/null 2>&1; then
  # Offline: licenses, bans (no netlink writer crates), sources. Advisories
  # need the RustSec DB from GitHub and are not checked here (SECURITY.md).
  echo "== cargo deny (licenses, bans, sources; offline)"
  cargo deny --offline check licenses bans sources
else
  echo "== cargo deny skipped: not installed (cargo install cargo-deny --locked)"
fi

echo "== cargo test"
mkdir -p target
cargo test --workspace --all-features 2>&1 | tee target/test.log

echo "== deploy/ manifests, Helm values and RBAC (offline)"
deploy/validate.sh

contract=../shared/tools/contract-check
if [ -x "$contract" ]; then
  echo "== output contract check (shared/tools/contract-check) on every fixture"
  cargo build --quiet --bin cnictl
  while read -r bundle src dst; do
    [ -n "$bundle" ] || continue
    "$contract" target/debug/cnictl "fixtures/$bundle" $src $dst | sed "s|^|$bundle: |"
  done < fixtures/contract-pairs.txt
else
  echo "== contract check skipped: $contract not found (it lives in the steering repo's shared/)"
fi

scorer=../shared/policy-conformance/tools/score.py
if [ -f "$scorer" ]; then
  # NetworkPolicy intent against an independent analyzer's golden outputs
  # (26 manifest sets, each read as manifests and as a k8s-only bundle).
  echo "== NetworkPolicy conformance (shared/policy-conformance) on cnictl matrix"
  # The test build's binary: 52 cases take seconds, a release build minutes.
  cargo build --quiet --bin cnictl
  python3 "$scorer" --cnictl target/debug/cnictl --mode both | tail -n 3
else
  echo "== policy conformance skipped: $scorer not found (it lives in the steering repo's shared/)"
fi

passed=$(grep -oE 'test result: ok. [0-9]+ passed' target/test.log | awk '{s+=$4} END {print s+0}')
echo "all checks passed: $passed tests"
