#!/bin/bash
# run.sh — boot Debian's kernel in QEMU (TCG) and run the IPIP + IPVS lab
# inside it, since the development kernel has neither (see
# /work/shared/LAB-NOTES.md, "IPIP and IPVS").
#
# The guest sees the host's root read-only over virtio-9p under a tmpfs
# overlay (init.sh), so the project's own cnictl binary, lab scripts,
# iproute2 and ipvsadm run unchanged inside; it writes its results to a
# second, writable 9p share (OUT), never to the serial console.
#
# Steps (each cached under $CNICTL_VM_DIR, default <repo>/target/vm):
#   1. kernel: resolve <ver> from the linux-image-amd64 package's dependency,
#      `apt-get download linux-image-<ver>-amd64`, `dpkg-deb -x` (no hooks),
#      keep vmlinuz + the module subtrees the lab needs, `busybox depmod`;
#   2. initramfs: static busybox, init.sh, the 9p + overlay module closure;
#   3. boot: qemu-system-x86_64 -accel tcg under `timeout`; the guest runs
#      guest.sh and powers off (on any error too);
#   4. check: OUT/rc is 0 and every node's files are there.
#
# usage: sudo lab/vm/run.sh [--out DIR] [--nodes N] [--pods P] [--record DIR]
#   --out DIR     results (default $CNICTL_VM_DIR/out; replaced each run)
#   --nodes N     lab nodes (default 2), --pods P pods per node (default 2)
#   --record DIR  also copy node-1's raw recordings (ip-link.json,
#                 ip-route.json, ipvsadm.txt, proc-ip_vs.txt, ip-addr.json,
#                 collect.json) into DIR (collect/tests/data/vm)
# Environment: CNICTL_BIN (default <repo>/target/debug/cnictl),
#   CNICTL_VM_DIR, CNICTL_VM_TIMEOUT (whole boot, default 240 s).
# Exit: 0 ok; 1 the guest run failed; 2 usage or host error; 77 skipped
# (no qemu / busybox-static / ipvsadm, no kernel package, not root), with
# the reason on stderr.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
VM_DIR=${CNICTL_VM_DIR:-$REPO/target/vm}
CNICTL=${CNICTL_BIN:-$REPO/target/debug/cnictl}
BUDGET=${CNICTL_VM_TIMEOUT:-240}
OUT='' NODES=2 PODS=2 RECORD=''

die() { printf 'run.sh: %s\n' "$*" >&2; exit 2; }
skip() { printf 'run.sh: skip: %s\n' "$*" >&2; exit 77; }
log() { printf 'run.sh: %s\n' "$*" >&2; }

# Modules the initramfs loads itself (with their dependencies, from
# modules.dep): the virtio PCI transport, 9p over it, and overlayfs.
INITRD_MODULES="virtio_pci 9pnet_virtio 9p overlay"
# Module subtrees kept from the kernel package (the rest is ~300 MB the lab
# never loads): networking, virtio, the filesystems above, crc32c.
KEEP_SUBTREES="kernel/net kernel/drivers/net kernel/drivers/virtio kernel/lib
kernel/crypto kernel/fs/9p kernel/fs/netfs kernel/fs/fscache kernel/fs/overlayfs"

parse_args() {
	while [ $# -gt 0 ]; do
		case $1 in
		--out) OUT=${2:-}; shift 2 ;;
		--nodes) NODES=${2:-}; shift 2 ;;
		--pods) PODS=${2:-}; shift 2 ;;
		--record) RECORD=${2:-}; shift 2 ;;
		-h | --help) sed -n '2,/^set -e/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
		*) die "unknown argument $1 (see --help)" ;;
		esac
	done
	[[ $NODES =~ ^[2-9]$ ]] || die "--nodes must be 2..9"
	[[ $PODS =~ ^[12]$ ]] || die "--pods must be 1 or 2"
	[[ $BUDGET =~ ^[0-9]+$ ]] || die "CNICTL_VM_TIMEOUT must be seconds"
	OUT=${OUT:-$VM_DIR/out}
	OUT=${OUT%/}
	# OUT is replaced on every run: only ever an empty dir or a previous
	# run's results (it has guest.env) may be deleted.
	[ -n "$OUT" ] || die "--out must not be /"
	if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT" 2>/dev/null)" ] && [ ! -f "$OUT/guest.env" ]; then
		die "--out $OUT exists and is not a previous run's results dir"
	fi
}

preflight() {
	[ "$(id -u)" = 0 ] || skip "needs root (QEMU's 9p export of / and the guest's namespaces)"
	local t
	for t in qemu-system-x86_64:qemu-system-x86 busybox:busybox-static ipvsadm:ipvsadm \
		apt-get:apt dpkg-deb:dpkg timeout:coreutils; do
		command -v "${t%%:*}" >/dev/null || skip "${t%%:*} not found (Debian package ${t#*:})"
	done
	# Not `| grep -q`: with pipefail, grep's early exit would fail busybox.
	[[ " $(busybox --list | tr '\n' ' ') " == *" depmod "* ]] ||
		skip "busybox has no depmod applet (install busybox-static)"
	[ -x "$CNICTL" ] || die "cnictl binary not found at $CNICTL (cargo build -p cnictl, or set CNICTL_BIN)"
}

# kernel_version: <ver> of linux-image-<ver>-amd64, from the metapackage's
# dependency as apt knows it (or the newest kernel already cached).
kernel_version() {
	local dep
	dep=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/ {print $2; exit}')
	if [ -n "$dep" ]; then
		dep=${dep#linux-image-}
		printf '%s\n' "${dep%-amd64}"
		return 0
	fi
	local cached
	cached=$(find "$VM_DIR" -maxdepth 1 -name 'kernel-*' -type d 2>/dev/null | sort | tail -n 1)
	[ -n "$cached" ] || return 1
	cached=$(basename "$cached")
	cached=${cached#kernel-}
	printf '%s\n' "${cached%-amd64}"
}

# fetch_kernel VER: the cached kernel dir, built once.
fetch_kernel() {
	local ver=$1 kdir="$VM_DIR/kernel-$1-amd64" tmp deb sub
	if [ -f "$kdir/ready" ]; then
		printf '%s\n' "$kdir"
		return 0
	fi
	tmp=$(mktemp -d "$VM_DIR/.kernel.XXXXXX")
	log "downloading linux-image-$ver-amd64"
	(cd "$tmp" && timeout 90 apt-get download -q "linux-image-$ver-amd64" >/dev/null 2>"$tmp/apt.err") || {
		cat "$tmp/apt.err" >&2
		rm -rf "$tmp"
		skip "cannot download linux-image-$ver-amd64 (apt-get update? network?)"
	}
	deb=$(find "$tmp" -maxdepth 1 -name '*.deb' | head -n 1)
	dpkg-deb -x "$deb" "$tmp/root"
	local mod="lib/modules/$ver-amd64"
	mkdir -p "$tmp/k/$mod"
	cp "$tmp/root/boot/vmlinuz-$ver-amd64" "$tmp/k/vmlinuz"
	cp "$tmp/root/$mod"/modules.builtin* "$tmp/root/$mod/modules.order" "$tmp/k/$mod/"
	for sub in $KEEP_SUBTREES; do
		mkdir -p "$tmp/k/$mod/$(dirname "$sub")"
		cp -a "$tmp/root/$mod/$sub" "$tmp/k/$mod/$sub"
	done
	busybox depmod -b "$tmp/k" "$ver-amd64"
	rm -rf "$kdir"
	mv "$tmp/k" "$kdir"
	rm -rf "$tmp"
	touch "$kdir/ready"
	printf '%s\n' "$kdir"
}

# build_initrd KDIR VER: initrd.gz beside the kernel, rebuilt when init.sh
# changes.
build_initrd() {
	local kdir=$1 ver=$2 stage m sum
	sum=$(cat "$HERE/init.sh" "$(command -v busybox)" | sha1sum | cut -c1-12)
	if [ -f "$kdir/initrd-$sum.gz" ]; then
		printf '%s\n' "$kdir/initrd-$sum.gz"
		return 0
	fi
	local mods="$kdir/lib/modules/$ver-amd64" f
	stage=$(mktemp -d "$VM_DIR/.initrd.XXXXXX")
	mkdir -p "$stage/bin" "$stage/lib/modules/$ver-amd64"
	cp "$(command -v busybox)" "$stage/bin/busybox"
	cp "$HERE/init.sh" "$stage/init"
	chmod 755 "$stage/init" "$stage/bin/busybox"
	cp "$mods/modules.dep" "$stage/lib/modules/$ver-amd64/"
	# shellcheck disable=SC2086 # a word list
	printf '%s\n' $INITRD_MODULES >"$stage/modules.load"
	for m in $INITRD_MODULES; do
		# The module's modules.dep line: itself, then what it needs.
		for f in $(grep -E "(^|/)$m\.ko:" "$mods/modules.dep" | tr -d ':'); do
			mkdir -p "$stage/lib/modules/$ver-amd64/$(dirname "$f")"
			cp "$mods/$f" "$stage/lib/modules/$ver-amd64/$f"
		done
	done
	(cd "$stage" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) >"$kdir/.initrd.tmp"
	rm -rf "$stage"
	rm -f "$kdir"/initrd-*.gz
	mv "$kdir/.initrd.tmp" "$kdir/initrd-$sum.gz"
	printf '%s\n' "$kdir/initrd-$sum.gz"
}

# boot KDIR INITRD VER: one VM run; the guest writes OUT/rc.
boot() {
	local kdir=$1 initrd=$2 ver=$3
	rm -rf "$OUT"
	mkdir -p "$OUT"
	printf 'REPO=%q\nCNICTL=%q\nNODES=%q\nPODS=%q\n' "$REPO" "$CNICTL" "$NODES" "$PODS" >"$OUT/guest.env"
	local start=$SECONDS rc=0
	# TCG, not KVM: this machine's /dev/kvm is nested and hangs in the BIOS.
	timeout --kill-after=10 "$BUDGET" qemu-system-x86_64 \
		-accel tcg,thread=multi -m 768 -smp 2 -nodefaults -nographic -no-reboot \
		-serial "file:$OUT/console.log" -monitor none -net none \
		-kernel "$kdir/vmlinuz" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 quiet cnlvm.repo=$REPO cnlvm.modules=$kdir/lib/modules cnlvm.timeout=$((BUDGET - 30))" \
		-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
		-virtfs "local,path=$OUT,mount_tag=results,security_model=none,multidevs=remap" \
		</dev/null >"$OUT/qemu.log" 2>&1 || rc=$?
	printf 'boot-to-poweroff %s s (kernel %s, qemu exit %s)\n' "$((SECONDS - start))" "$ver" "$rc" | tee -a "$OUT/timings.txt" >&2
	[ "$rc" != 124 ] || { log "the VM did not power off within $BUDGET s (see $OUT/console.log)"; return 1; }
	return 0
}

verify() {
	local n f
	[ -f "$OUT/rc" ] || { log "the guest wrote no rc (see $OUT/console.log, $OUT/init-error.txt)"; return 1; }
	if [ "$(cat "$OUT/rc")" != 0 ]; then
		log "guest.sh failed (rc $(cat "$OUT/rc")); last lines of $OUT/guest.log:"
		tail -n 20 "$OUT/guest.log" >&2
		return 1
	fi
	for ((n = 1; n <= NODES; n++)); do
		for f in collect.json ip-link.json ip-addr.json ip-route.json ipvsadm.txt proc-ip_vs.txt; do
			[ -s "$OUT/node-$n/$f" ] || { log "missing $OUT/node-$n/$f"; return 1; }
		done
	done
}

record() {
	[ -n "$RECORD" ] || return 0
	mkdir -p "$RECORD"
	local f
	for f in ip-link.json ip-addr.json ip-route.json ipvsadm.txt proc-ip_vs.txt collect.json; do
		cp "$OUT/node-1/$f" "$RECORD/$f"
	done
	log "recorded node-1's outputs into $RECORD"
}

main() {
	parse_args "$@"
	preflight
	mkdir -p "$VM_DIR"
	local ver kdir initrd
	ver=$(kernel_version) || skip "apt knows no linux-image-amd64 and no kernel is cached (run apt-get update)"
	kdir=$(fetch_kernel "$ver")
	initrd=$(build_initrd "$kdir" "$ver")
	boot "$kdir" "$initrd" "$ver" || exit 1
	verify || exit 1
	record
	log "ok: results in $OUT"
}

main "$@"
