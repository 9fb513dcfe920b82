#!/bin/bash
# Builds the test guest into DIR (cached: nothing is done when DIR holds
# it already): Debian's cloud kernel, and a busybox initramfs whose init
# loads the virtio, SCSI, virtiofs and virtio-net modules, prints
# GUEST-READY, then reports every change of /sys/block and /sys/class/net,
# and every new virtiofs device, on the console:
#   BLOCK+ sda 0:0:0:3     (a SCSI disk and its host:channel:target:lun)
#   BLOCK+ vda virtio1     (a virtio disk)
#   BLOCK- sda
#   NET+ eth0 52:54:00:12:34:56
#   NET- eth0
#   FS+ shared TEXT        (tag "shared" was mounted: TEXT is the first
#                           line of its file from-host; the guest wrote
#                           from-guest and unmounted it)
#   FS! shared             (the mount failed)
#   FS- virtio3            (a virtiofs device gone)
# It boots under TCG in about 3 s and answers PCI hot-unplug at once.
set -euo pipefail
dir=$(realpath -m "$1")
stamp=$(sha256sum < "${BASH_SOURCE[0]}" | cut -c1-16)
[ -s "$dir/vmlinuz" ] && [ -s "$dir/initrd.gz" ] && [ "$(cat "$dir/stamp" 2>/dev/null)" = "$stamp" ] &&
    exit 0
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
mkdir -p root/bin root/lib/modules root/proc root/sys root/dev root/mnt
cp /bin/busybox root/bin/busybox
modules="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk scsi_common scsi_mod sd_mod virtio_scsi fuse virtiofs failover net_failover virtio_net"
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
# interfaces as name:ifindex, so that one going and the next coming as
# the same eth0 between two looks is still seen as both
nets() { for d in /sys/class/net/*; do printf '%s:%s ' "\${d##*/}" "\$(cat "\$d/ifindex")"; done; }
oldn=\$(nets)
oldf=""
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
    newn=\$(nets)
    if [ "\$newn" != "\$oldn" ]; then
        for e in \$oldn; do
            case " \$newn " in *" \$e "*) ;; *) echo "NET- \${e%%:*}" ;; esac
        done
        for e in \$newn; do
            case " \$oldn " in *" \$e "*) ;; *) echo "NET+ \${e%%:*} \$(cat /sys/class/net/\${e%%:*}/address)" ;; esac
        done
        oldn=\$newn
    fi
    newf=\$(ls /sys/bus/virtio/drivers/virtiofs 2>/dev/null | grep virtio | tr '\n' ' ')
    if [ "\$newf" != "\$oldf" ]; then
        for d in \$newf; do
            case " \$oldf " in *" \$d "*) ;; *)
                if mount -t virtiofs shared /mnt; then
                    line=\$(head -n 1 /mnt/from-host)
                    echo "written by the guest" > /mnt/from-guest
                    umount /mnt
                    echo "FS+ shared \$line"
                else
                    echo "FS! shared"
                fi ;;
            esac
        done
        for d in \$oldf; do
            case " \$newf " in *" \$d "*) ;; *) echo "FS- \$d" ;; esac
        done
        oldf=\$newf
    fi
    usleep 50000
done
INIT
chmod +x root/init
(cd root && find . | cpio -o -H newc 2>/dev/null | gzip -1) > "$dir/initrd.gz.tmp"
cp kernel/boot/vmlinuz-* "$dir/vmlinuz.tmp"
mv "$dir/initrd.gz.tmp" "$dir/initrd.gz"
mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
echo "$stamp" > "$dir/stamp"
echo "test guest: $pkg in $dir" >&2
