#!/usr/bin/env bash
# Builds the initramfs fixtures of the unit tests (src/facts/initramfs) into DIR/initramfs:
# small but real cpio "newc" archives holding the host kernel's real virtio modules (as
# .ko, .ko.zst and .ko.xz) and its modules.builtin, in every compression the kernel
# unpacks, with and without an early-microcode archive in front; one made by the real
# mkinitramfs; and hostile ones (truncated, a decompression bomb, a nested archive, a name
# climbing out with '..', junk after the entries).
#
#   scripts/make-initramfs-fixtures.sh [DIR]   DIR defaults to $IMGSEAL_FIXTURES, else
#                                              target/fixtures
#
# Beside each archive: NAME.modules, the module files it holds by an independent lister
# (the tree it was made from, or lsinitramfs), for the tests to compare with. Skipped when
# DIR/initramfs/.stamp matches this script's hash. Called by make-test-images.sh; needs
# cpio, gzip, zstd, xz, lz4, bzip2 and initramfs-tools (scripts/install-deps.sh), and a
# kernel with its modules in /boot and /lib/modules (linux-image-amd64).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-${IMGSEAL_FIXTURES:-$here/target/fixtures}}/initramfs
stamp_want=$(sha256sum "$0" | cut -d' ' -f1)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp_want" ]; then
  echo "make-initramfs-fixtures.sh: fixtures in $out are up to date"
  exit 0
fi
for t in cpio gzip zstd xz lz4 bzip2 mkinitramfs lsinitramfs; do
  command -v "$t" >/dev/null || { echo "make-initramfs-fixtures.sh: $t missing; run scripts/install-deps.sh" >&2; exit 2; }
done
kver=$(ls /boot/vmlinuz-* 2>/dev/null | sed 's|^/boot/vmlinuz-||' | sort -V | tail -1)
mods=/lib/modules/$kver
[ -n "$kver" ] && [ -f "$mods/modules.builtin" ] || {
  echo "make-initramfs-fixtures.sh: no kernel with modules in /boot and /lib/modules (install linux-image-amd64)" >&2; exit 2; }

work=$(mktemp -d "${TMPDIR:-/tmp}/imgseal-initramfs.XXXXXX")
trap 'rm -rf "$work"' EXIT
rm -rf "$out.tmp" && mkdir -p "$out.tmp"
o=$out.tmp

module() { # module NAME: the host's file for a module (any compression)
  local f
  f=$(find "$mods/kernel" -name "$1.ko" -o -name "$1.ko.*" | head -1)
  [ -n "$f" ] || { echo "make-initramfs-fixtures.sh: module $1 not in $mods" >&2; exit 2; }
  echo "$f"
}
plain() { # plain FILE DEST: the module uncompressed, whatever the host ships
  case "$1" in
    *.ko) cp "$1" "$2" ;;
    *.ko.xz) xz -dc "$1" >"$2" ;;
    *.ko.zst) zstd -qdc "$1" >"$2" ;;
    *.ko.gz) gzip -dc "$1" >"$2" ;;
  esac
}
# newc ROOT: a newc archive of a tree on stdout, names without a leading ./, owned by root.
newc() { (cd "$1" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet); }

# The tree: a tiny initramfs layout with the three virtio drivers in three forms.
t=$work/tree
km=usr/lib/modules/$kver/kernel
mkdir -p "$t/$km/drivers/block" "$t/$km/drivers/net" "$t/$km/drivers/scsi" "$t/etc" "$t/scripts" "$t/bin"
plain "$(module virtio_blk)" "$t/$km/drivers/block/virtio_blk.ko"
plain "$(module virtio_net)" "$work/virtio_net.ko" && zstd -q -19 "$work/virtio_net.ko" -o "$t/$km/drivers/net/virtio_net.ko.zst"
plain "$(module virtio_scsi)" "$work/virtio_scsi.ko" && xz --check=crc32 -c "$work/virtio_scsi.ko" >"$t/$km/drivers/scsi/virtio_scsi.ko.xz"
cp "$mods/modules.builtin" "$t/usr/lib/modules/$kver/modules.builtin"
printf 'kernel/drivers/block/virtio_blk.ko:\n' >"$t/usr/lib/modules/$kver/modules.dep"
printf '#!/bin/sh\necho imgseal fixture init\n' >"$t/init" && chmod 0755 "$t/init"
printf 'MODULES=list\n' >"$t/etc/initramfs.conf"
ln -s usr/lib "$t/lib"
(cd "$t" && find . -mindepth 1 -printf '%P\n' | grep -E '\.ko(\.(xz|zst|gz))?$' | LC_ALL=C sort) >"$o/tree.modules"
newc "$t" >"$o/cpio.img"
(cd "$t" && find . -mindepth 1 | wc -l) >"$o/tree.entries"

# One driver only (virtio_blk): a real archive that lacks the others.
p=$work/partial
mkdir -p "$p/$km/drivers/block" && cp "$t/$km/drivers/block/virtio_blk.ko" "$p/$km/drivers/block/"
newc "$p" | gzip -9 -n >"$o/partial.gz.img"

c=$o/cpio.img
gzip -9 -n -c "$c" >"$o/gzip.img"
zstd -q -19 -c "$c" >"$o/zstd.img"
xz --check=crc32 -c "$c" >"$o/xz.img"
xz --format=lzma -c "$c" >"$o/lzma.img"
bzip2 -9 -c "$c" >"$o/bzip2.img"
lz4 -l -9 -q -c "$c" >"$o/lz4.img"

# Early microcode in front (uncompressed; GNU cpio pads it with zeros to 512 bytes), then
# the compressed main archive; one with extra zero padding, one with two compressed parts.
e=$work/early
mkdir -p "$e/kernel/x86/microcode"
head -c 10000 /dev/urandom >"$e/kernel/x86/microcode/GenuineIntel.bin"
newc "$e" >"$work/early.cpio"
cat "$work/early.cpio" "$o/zstd.img" >"$o/early+zstd.img"
{ cat "$work/early.cpio"; head -c 4096 /dev/zero; cat "$o/gzip.img"; } >"$o/early+pad+gzip.img"
x=$work/extra
mkdir -p "$x/usr/lib/firmware" && head -c 3000 /dev/urandom >"$x/usr/lib/firmware/extra.bin"
{ cat "$o/xz.img"; newc "$x" | gzip -n; } >"$o/xz+gzip.img"

# A real one: initramfs-tools' mkinitramfs with only the virtio drivers listed.
conf=$work/conf
cp -r /etc/initramfs-tools "$conf"
sed -i 's/^MODULES=.*/MODULES=list/; s/^COMPRESS=.*/COMPRESS=zstd/' "$conf/initramfs.conf"
printf 'virtio_blk\nvirtio_net\nvirtio_scsi\n' >"$conf/modules"
mkinitramfs -d "$conf" -c zstd -o "$o/mkinitramfs.img" "$kver" >"$work/mkinitramfs.log" 2>&1 \
  || { cat "$work/mkinitramfs.log" >&2; exit 1; }
lsinitramfs "$o/mkinitramfs.img" | grep -E '\.ko(\.(xz|zst|gz))?$' | LC_ALL=C sort >"$o/mkinitramfs.modules"

# Hostile ones.
head -c $(( $(stat -c %s "$o/zstd.img") / 2 )) "$o/zstd.img" >"$o/truncated-zstd.img"
head -c $(( $(stat -c %s "$c") / 2 + 3 )) "$c" >"$o/truncated-cpio.img"
head -c 2G /dev/zero | zstd -q -1 >"$o/bomb.zst.img"          # 2 GiB of zeros in ~70 KiB
gzip -n -c "$o/gzip.img" >"$o/nested.img"                       # gzip inside gzip
{ cat "$c"; printf 'junk after the archive'; } >"$o/junk.img"
mkdir -p "$work/dd/a/b" && echo evil >"$work/dd/evil"
(cd "$work/dd/a/b" && printf '../../evil\n' | cpio -o -H newc --quiet) >"$o/dotdot.img"

echo "$stamp_want" >"$o/.stamp"
rm -rf "$out" && mv "$o" "$out"
echo "make-initramfs-fixtures.sh: $(ls "$out" | grep -c '\.img$') archives in $out (modules of kernel $kver)"
