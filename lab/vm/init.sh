#!/bin/busybox sh
# shellcheck shell=dash disable=SC2013
# init.sh — /init of the cnictl test VM's initramfs (static busybox only).
#
# Mounts the host's root read-only over virtio-9p (tag "hostroot") under a
# tmpfs overlay, so the guest sees the host's files (the project's cnictl
# binary, lab scripts, iproute2, ipvsadm) and can write anywhere without
# touching the host; mounts the writable results share (tag "results");
# puts the Debian kernel's module tree (passed in as cnlvm.modules=) at
# /lib/modules; then runs lab/vm/guest.sh in a chroot and powers off.
#
# It never hangs: every step that fails ends in poweroff, the guest script
# runs under `timeout`, and the kernel runs with panic=-1 (a dying init
# reboots, which qemu -no-reboot turns into an exit).
#
# Kernel command line (set by run.sh): cnlvm.repo=DIR (the repository on
# the host), cnlvm.modules=DIR (host path of the kernel's lib/modules),
# cnlvm.timeout=SECS (guest script budget). guest.sh reads the rest of its
# settings from the results share (guest.env).
/bin/busybox --install -s /bin
export PATH=/bin

fail() {
	echo "cnlvm init: $*" >&2
	[ -d /results ] && echo "init: $*" >>/results/init-error.txt
	poweroff -f
}

arg() {
	# arg NAME: the value of NAME= on the kernel command line.
	for word in $(cat /proc/cmdline); do
		case $word in "$1"=*) echo "${word#*=}" ;; esac
	done
}

mkdir -p /proc /sys /dev /results /host /newroot /rw
mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sys /sys || fail "mount /sys"
mount -t devtmpfs dev /dev || fail "mount /dev"

# The 9p transport and overlayfs (run.sh put them and their dependencies
# under /lib/modules with modules.dep).
for m in $(cat /modules.load); do
	modprobe "$m" || fail "modprobe $m"
done

mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results /results ||
	fail "mount results share"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro hostroot /host ||
	fail "mount host root"
mount -t tmpfs -o size=256m tmpfs /rw || fail "mount tmpfs"
mkdir -p /rw/upper /rw/work
mount -t overlay overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work /newroot ||
	fail "mount overlay"

REPO=$(arg cnlvm.repo)
MODULES=$(arg cnlvm.modules)
BUDGET=$(arg cnlvm.timeout)
if [ -z "$REPO" ] || [ -z "$MODULES" ]; then
	fail "cnlvm.repo / cnlvm.modules missing on the command line"
fi

# Fresh kernel filesystems and empty runtime dirs: nothing of the host's
# /run (its netns files, sockets) may leak into the guest's labs.
mount -t proc proc /newroot/proc || fail "mount guest /proc"
mount -t sysfs sys /newroot/sys || fail "mount guest /sys"
mount -t devtmpfs dev /newroot/dev || fail "mount guest /dev"
mount -t tmpfs tmpfs /newroot/run || fail "mount guest /run"
mount -t tmpfs tmpfs /newroot/tmp || fail "mount guest /tmp"
# A repo that lives under /tmp or /run on the host (a CI clone) is hidden
# by those fresh tmpfs mounts: bind it back from the read-only host view.
case "$REPO" in
/tmp/* | /run/*)
	mkdir -p "/newroot$REPO"
	mount --bind "/host$REPO" "/newroot$REPO" || fail "bind $REPO"
	;;
esac
mkdir -p /newroot/lib/modules /newroot/cnlvm-results
mount --bind "/host$MODULES" /newroot/lib/modules || fail "bind $MODULES"
mount --bind /results /newroot/cnlvm-results || fail "bind results"

echo "cnlvm init: running guest.sh (uptime $(cut -d' ' -f1 /proc/uptime) s)"
timeout "${BUDGET:-240}" chroot /newroot /bin/bash "$REPO/lab/vm/guest.sh" \
	>/results/guest.log 2>&1
echo $? >/results/rc
sync
poweroff -f
