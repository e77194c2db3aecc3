#!/bin/bash
#  One architecture of packaging/deb/test.sh: the packages installed into a fresh root and run.
#  test.sh starts it in a mount namespace of its own (`unshare --mount`): the root is an
#  overlay over the cached base root, with its own /proc; both go with the namespace.
#
#  Usage: test-arch.sh ARCH BASE WORKDIR DEBDIR VERSION
#
#  In ROOT = WORKDIR/root (the overlay; changes in WORKDIR/upper):
#  - apt-get install of zgm, libzgm0 and libzgm-dev of ARCH, resolving their Depends (for
#    ARM: the ARM libraries, as foreign-architecture packages);
#  - the user and group zgm, /var/lib/zgm and /etc/zgm with their owners and modes, the
#    conffile, the key pairs postinst made (kept when configured again);
#  - systemd-analyze verify of zgm-registry.service and zgm-server@main.service, and their
#    systemd-analyze security exposure (at most 1.5); the man pages and bash completion;
#  - run-units.sh, in network, mount and PID namespaces of its own: the registry and a group
#    server started from the units' ExecStart as user zgm, a session of the installed
#    `zgm user` (join, send, fetch) over CURVE; for amd64 under strace, checked against the sandbox;
#  - a program built against libzgm-dev (pkg-config zgm) runs with libzgm0's library;
#  - dpkg --purge zgm removes /var/lib/zgm and /etc/zgm with the keys; the user stays.
set -euo pipefail

arch=$1 base=$2 work=$3 debdir=$4 version=$5
here=$(cd "$(dirname "$0")" && pwd)
case "$arch" in
amd64) triplet=x86_64-linux-gnu wrap=() ;;
arm64) triplet=aarch64-linux-gnu wrap=(/usr/bin/qemu-aarch64) ;;
armhf) triplet=arm-linux-gnueabihf wrap=(/usr/bin/qemu-arm) ;;
*) echo "test-arch.sh: unknown architecture '$arch'" >&2; exit 2 ;;
esac
started=$SECONDS

#  check WHAT ACTUAL EXPECTED
check() {
    if [ "$2" != "$3" ]; then echo "FAILED: $1 is '$2', not '$3'"; exit 1; fi
    echo "ok: $1: $2"
}

#  A fresh root: the base root under an overlay, so nothing is copied and the base stays as
#  it is. The mounts are this namespace's only.
root=$work/root
mkdir -p "$work/upper" "$work/overlay-work" "$root"
mount -t overlay overlay \
    -o "lowerdir=$base,upperdir=$work/upper,workdir=$work/overlay-work" "$root"
mount -t proc proc "$root/proc"
mkdir -p "$root/tmp/debs"
cp "$debdir"/{zgm,libzgm0,libzgm-dev}_"${version}_$arch.deb" "$root/tmp/debs/"

#  zgm.postinst runs `zgm keygen`. ARM programs run here only through qemu (no binfmt_misc):
#  for the installation, /usr/bin/zgm is diverted to /usr/bin/zgm.arm (dpkg-divert) and
#  /usr/bin/zgm is a script that runs it through the root's qemu-user; both go right after.
if [ ${#wrap[@]} -gt 0 ]; then
    chroot "$root" dpkg-divert --quiet --local --rename --divert /usr/bin/zgm.arm \
        --add /usr/bin/zgm
    printf '#!/bin/sh\nexec %s /usr/bin/zgm.arm "$@"\n' "${wrap[*]}" >"$root/usr/bin/zgm"
    chmod 0755 "$root/usr/bin/zgm"
fi
#  python3-zgm (Architecture: all) only where the root's own architecture is ARCH: dpkg
#  resolves an all package's Depends (libzgm0) on the native architecture, amd64 here, and an
#  ARM python3 cannot be configured without binfmt_misc. The ARM module is the same file;
#  make test-cross runs its pytest suite under qemu against the ARM build of the packages.
debs=(/tmp/debs/zgm_"${version}_$arch.deb" /tmp/debs/libzgm0_"${version}_$arch.deb"
      /tmp/debs/libzgm-dev_"${version}_$arch.deb")
python_deb=$debdir/python3-zgm_${version}_all.deb
if [ "$arch" = amd64 ] && [ -f "$python_deb" ]; then
    cp "$python_deb" "$root/tmp/debs/"
    debs+=("/tmp/debs/$(basename "$python_deb")")
fi
log=$work/apt.log
install_debs() {
    chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        -o Dpkg::Options::=--force-unsafe-io -o APT::Install-Recommends=false \
        "${debs[@]}" >>"$log" 2>&1
}
if ! install_debs; then
    #  The cached lists may be older than the mirror: refresh once.
    echo "apt-get install failed; apt-get update and again"
    if ! chroot "$root" apt-get update -q >>"$log" 2>&1 || ! install_debs; then
        tail -n 30 "$log"
        exit 1
    fi
fi
echo "installed, $(grep -c '^Setting up' "$log") packages set up ($((SECONDS - started)) s)"
if [ ${#wrap[@]} -gt 0 ]; then
    rm "$root/usr/bin/zgm"
    chroot "$root" dpkg-divert --quiet --local --rename --remove /usr/bin/zgm
    [ -f "$root/usr/bin/zgm" ] || { echo "FAILED: /usr/bin/zgm is not back after the divert"; exit 1; }
fi

for pkg in zgm libzgm0 libzgm-dev; do
    # shellcheck disable=SC2016  # dpkg-query's format
    check "$pkg:$arch" "$(chroot "$root" dpkg-query -W -f '${db:Status-Status} ${Version}' \
        "$pkg:$arch")" "installed $version"
done
# shellcheck disable=SC2016  # dpkg-query's format
check "zgm depends on" "$(chroot "$root" dpkg-query -W -f '${Depends}' "zgm:$arch" |
    grep -o 'adduser\|libczmq4\|libzmq5\|libsqlite3-0\|libedit2\|libc6' | sort | xargs)" \
    "adduser libc6 libczmq4 libedit2 libsqlite3-0 libzmq5"
IFS=: read -r _ _ uid gid _ home shell <<<"$(chroot "$root" getent passwd zgm)"
check "user zgm: home, shell" "$home $shell" "/var/lib/zgm /usr/sbin/nologin"
[ "$uid" -lt 1000 ] || { echo "FAILED: zgm is not a system user (uid $uid)"; exit 1; }
check "user zgm: group" "$(chroot "$root" getent group "$gid" | cut -d: -f1)" zgm
check /etc/zgm "$(chroot "$root" stat -c '%U:%G %a' /etc/zgm)" "root:root 755"
check /etc/zgm/zgm.cfg "$(chroot "$root" stat -c '%U:%G %a' /etc/zgm/zgm.cfg)" "root:root 644"
#  The key pairs postinst made with `zgm keygen` as user zgm, and the trusted certificate.
check /etc/zgm/keys "$(chroot "$root" stat -c '%U:%G %a' /etc/zgm/keys)" "zgm:zgm 755"
for key in registry main; do
    check "/etc/zgm/keys/$key.cert" "$(chroot "$root" stat -c '%U:%G %a' \
        "/etc/zgm/keys/$key.cert" "/etc/zgm/keys/$key.cert_secret" | xargs)" \
        "zgm:zgm 644 zgm:zgm 600"
done
check /etc/zgm/servers "$(chroot "$root" stat -c '%U:%G %a' /etc/zgm/servers)" "root:root 755"
check "/etc/zgm/servers (trusted)" "$(ls "$root/etc/zgm/servers" | xargs)" "main.cert"
cmp -s "$root/etc/zgm/servers/main.cert" "$root/etc/zgm/keys/main.cert" ||
    { echo "FAILED: /etc/zgm/servers/main.cert is not keys/main.cert's public certificate"; exit 1; }
#  Configuring again (an upgrade, a reinstall) keeps the keys.
sums=$(md5sum "$root"/etc/zgm/keys/*)
chroot "$root" dpkg-reconfigure -fnoninteractive zgm >>"$log" 2>&1 ||
    { tail -n 20 "$log"; exit 1; }
[ "$sums" = "$(md5sum "$root"/etc/zgm/keys/*)" ] ||
    { echo "FAILED: configuring zgm again changed its keys"; exit 1; }
echo "ok: configuring zgm again keeps the keys"
check /var/lib/zgm "$(chroot "$root" stat -c '%U:%G %a' /var/lib/zgm)" "zgm:zgm 750"
# shellcheck disable=SC2016  # dpkg-query's format
check "conffiles" "$(chroot "$root" dpkg-query -W -f '${Conffiles}' "zgm:$arch" |
    awk '{ print $1 }' | xargs)" "/etc/zgm/zgm.cfg"

#  The units, as the root's systemd would load them (the template as instance main).
verify=$(systemd-analyze verify --root="$root" --man=no zgm-registry.service \
    zgm-server@main.service 2>&1) || { echo "FAILED: $verify"; exit 1; }
[ -z "$verify" ] || { echo "FAILED: systemd-analyze verify: $verify"; exit 1; }
echo "ok: systemd-analyze verify zgm-registry.service zgm-server@main.service"
for unit in zgm-registry.service zgm-server@main.service; do
    exposure=$(systemd-analyze security --offline=yes --root="$root" --threshold=15 \
        "$unit" 2>&1) || { echo "FAILED: $exposure"; exit 1; }
    echo "ok: $(grep -o 'Overall exposure level.*' <<<"$exposure")"
done
#  Each man: page of the units' Documentation= is installed, and the bash completion.
for page in $(sed -n 's/^Documentation=//p' "$root"/lib/systemd/system/zgm-*.service |
              tr ' ' '\n' | sort -u); do
    name=${page#man:}
    section=${name##*(}
    section=${section%)}
    name=${name%(*}
    [ -f "$root/usr/share/man/man$section/$name.$section.gz" ] ||
        { echo "FAILED: $page is not installed"; exit 1; }
done
echo "ok: the units' man pages are installed: $(ls "$root"/usr/share/man/man[15]/zgm* | xargs -n1 basename | xargs)"
[ -f "$root/usr/share/bash-completion/completions/zgm" ] ||
    { echo "FAILED: no bash completion"; exit 1; }
echo "ok: bash completion /usr/share/bash-completion/completions/zgm"

#  The registry and a group server from the units, a session, in namespaces of their own.
t0=$SECONDS
mkdir -p "$work/logs"
unshare --net --mount --pid --fork --kill-child -- \
    "$here/run-units.sh" "$root" "$arch" "$work/logs"
echo "units and session done ($((SECONDS - t0)) s)"

#  libzgm-dev: pkg-config finds zgm and what its Requires.private names; a program built
#  with it runs on libzgm0's shared library.
export PKG_CONFIG_SYSROOT_DIR=$root
export PKG_CONFIG_LIBDIR=$root/usr/lib/$triplet/pkgconfig:$root/usr/share/pkgconfig
pkg-config --static --libs zgm >/dev/null
read -r -a flags <<<"$(pkg-config --cflags --libs zgm)"
"$triplet-gcc" --sysroot="$root" -Wall -Werror "$here/probe.c" -o "$root/tmp/zgm-probe" \
    "${flags[@]}"
unset PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_LIBDIR
check "zgm-probe" "$(chroot "$root" "${wrap[@]}" /tmp/zgm-probe)" "libzgm $version: user probe"
check "package of libzgm.so.0" "$(chroot "$root" dpkg -S "$(readlink -f \
    "$root/usr/lib/$triplet/libzgm.so.0" | sed "s|^$root||")" | cut -d: -f1)" libzgm0

#  Purge: the data, the keys and /etc/zgm go, the user stays.
chroot "$root" dpkg --purge "zgm:$arch" >>"$log" 2>&1 || { tail -n 20 "$log"; exit 1; }
for path in /var/lib/zgm /etc/zgm; do
    [ ! -e "$root$path" ] || { echo "FAILED: $path is left after purge"; exit 1; }
done
check "statoverrides after purge" "$(cat "$root/var/lib/dpkg/statoverride" 2>/dev/null | grep -c zgm || true)" 0
check "user zgm after purge" "$(chroot "$root" getent passwd zgm | cut -d: -f1)" zgm
umount "$root/proc" "$root"
