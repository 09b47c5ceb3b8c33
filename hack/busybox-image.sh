#!/bin/sh
# Makes a busybox root filesystem tarball from Debian's busybox-static and
# writes it to stdout: hack/busybox-image.sh | berth import --change 'CMD ["sh"]' - busybox
set -eu
bb=$(command -v busybox || echo /bin/busybox)
[ -x "$bb" ] || { echo "install Debian's busybox-static first (apt-get install busybox-static)" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root" "$root/home" "$root/var" "$root/proc" "$root/sys" "$root/dev"
chmod 1777 "$root/tmp"
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
	[ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nbob:x:1000:1000:bob:/home/bob:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\ndaemon:x:1:\nusers:x:100:bob\nnogroup:x:65534:\nbob:x:1000:\n' > "$root/etc/group"
tar --numeric-owner -C "$root" -cf - .
