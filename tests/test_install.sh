#!/bin/sh
#  `meson install` into a DESTDIR puts the program, the man pages, the completion and the
#  example configuration under the prefix, and nothing outside DESTDIR.
#  Usage: test_install.sh BUILD-DIR PREFIX BINDIR MANDIR DATADIR    (prints TAP)
set -u
build=$1 prefix=$2
under() { case "$1" in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }
bindir=$(under "$3") mandir=$(under "$4") datadir=$(under "$5")
dest=$(mktemp -d /tmp/zgm-install-XXXXXX)
trap 'rm -rf "$dest"' EXIT
echo "1..2"
if meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >"$dest.log" 2>&1; then
    echo "ok 1 - meson install --destdir"
else
    echo "not ok 1 - meson install --destdir"
    sed 's/^/#   /' "$dest.log"
    rm -f "$dest.log"
    exit 1
fi
rm -f "$dest.log"
missing=""
for file in "$bindir/zgm" "$mandir/man1/zgm.1" "$mandir/man1/zgm-registry.1" \
    "$mandir/man1/zgm-server.1" "$mandir/man1/zgm-user.1" "$mandir/man1/zgm-stats.1" \
    "$mandir/man1/zgm-run.1" \
    "$mandir/man1/zgm-keygen.1" \
    "$mandir/man5/zgm.cfg.5" "$datadir/bash-completion/completions/zgm" \
    "$datadir/doc/zgm/examples/zgm.cfg"; do
    [ -f "$dest$file" ] || missing="$missing $file"
done
if [ -z "$missing" ]; then
    echo "ok 2 - the program, man pages, completion and example are under $prefix"
else
    echo "not ok 2 - the program, man pages, completion and example are under $prefix"
    echo "#   missing:$missing"
    echo "#   installed:"
    (cd "$dest" && find . -type f | sed 's/^/#     /')
    exit 1
fi
