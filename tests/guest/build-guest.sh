#!/bin/bash
# Builds the test guest into DIR (cached: nothing is done when DIR holds
# it already): Debian's cloud kernel, and a busybox initramfs whose init
# loads the virtio and SCSI modules, prints GUEST-READY, then reports every
# change of /sys/block on the console:
#   BLOCK+ sda 0:0:0:3     (a SCSI disk and its host:channel:target:lun)
#   BLOCK+ vda virtio1     (a virtio disk)
#   BLOCK- sda
# It boots under TCG in about 3 s and answers PCI hot-unplug at once.
set -euo pipefail
dir=$(realpath -m "$1")
[ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.gz" ] && exit 0
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
find_kernel() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
pkg=$(find_kernel)
if [ -z "$pkg" ] && [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq >/dev/null 2>&1 || true
    pkg=$(find_kernel)
fi
[ -n "$pkg" ] || { echo "no linux-image-*-cloud-amd64 in apt's lists (apt-get update?)" >&2; exit 1; }
apt-get download "$pkg" >/dev/null 2>&1 || { echo "cannot download $pkg" >&2; exit 1; }
dpkg -x ./*.deb kernel
version=$(ls kernel/lib/modules)
mkdir -p root/bin root/lib/modules root/proc root/sys root/dev
cp /bin/busybox root/bin/busybox
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk scsi_common scsi_mod sd_mod virtio_scsi"
for m in $modules; do
    cp "$(find "kernel/lib/modules/$version" -name "$m.ko" | head -1)" root/lib/modules/
done
cat > root/init <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $modules; do insmod /lib/modules/\$m.ko; done
echo GUEST-READY
old=""
while true; do
    new=\$(ls /sys/block | tr '\n' ' ')
    if [ "\$new" != "\$old" ]; then
        for d in \$new; do
            case " \$old " in *" \$d "*) ;; *) echo "BLOCK+ \$d \$(basename \$(readlink /sys/block/\$d/device))" ;; esac
        done
        for d in \$old; do
            case " \$new " in *" \$d "*) ;; *) echo "BLOCK- \$d" ;; esac
        done
        old=\$new
    fi
    usleep 50000
done
INIT
chmod +x root/init
(cd root && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$dir/initrd.gz.tmp"
cp kernel/boot/vmlinuz-* "$dir/vmlinuz.tmp"
mv "$dir/initrd.gz.tmp" "$dir/initrd.gz"
mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
echo "test guest: $pkg in $dir" >&2
