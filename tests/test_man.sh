#!/bin/sh
#  The generated man pages pass man's own checks: no groff warning at 80 columns (what
#  lintian runs) and a NAME line whatis can read.
#  Usage: test_man.sh PATH-TO-zgm.1    (the other pages are beside it; prints TAP)
set -u
dir=$(dirname "$1")
if ! command -v man >/dev/null 2>&1; then
    echo "1..0 # SKIP man is not installed"
    exit 0
fi
count=0
failed=0
pages=$(ls "$dir"/*.1 "$dir"/*.5)
echo "1..$(echo "$pages" | wc -l | tr -d ' ')"
for page in $pages; do
    count=$((count + 1))
    name=$(basename "$page")
    warnings=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 MAN_DISABLE_SECCOMP=1 \
        man --warnings -E UTF-8 -l -Tutf8 -Z "$page" 2>&1 >/dev/null)
    whatis=""
    if command -v lexgrog >/dev/null 2>&1; then
        whatis=$(lexgrog "$page" 2>&1) || warnings="$warnings
lexgrog: $whatis"
    fi
    if [ -z "$warnings" ]; then
        echo "ok $count - $name renders without warnings"
    else
        echo "not ok $count - $name renders without warnings"
        echo "$warnings" | sed 's/^/#   /'
        failed=1
    fi
done
exit $failed
