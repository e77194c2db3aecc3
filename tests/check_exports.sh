#!/bin/sh
#  Fails when the shared library exports anything but the public zgm_* API, or misses a
#  function include/zgm.h declares.
#  Usage: check_exports.sh LIBRARY HEADER
set -eu
library=$1
header=$2
nm=${NM:-nm}

exported=$($nm -D --defined-only "$library" | awk '$2 ~ /^[TDBRVWiu]$/ {print $3}' | sort -u)
foreign=$(printf '%s\n' "$exported" | grep -v '^zgm_' || true)
if [ -n "$foreign" ]; then
    echo "exported symbols outside the zgm_ API:"
    printf '  %s\n' $foreign
    exit 1
fi

declared=$(grep -o '^ZGM_EXPORT[^(]*(' "$header" | sed 's/($//; s/.*[ *]//' | sort -u)
missing=$(printf '%s\n' "$declared" | while read -r name; do
    printf '%s\n' "$exported" | grep -qx "$name" || echo "$name"
done)
if [ -n "$missing" ]; then
    echo "declared in zgm.h but not exported:"
    printf '  %s\n' $missing
    exit 1
fi
echo "ok: $(printf '%s\n' "$exported" | wc -l) symbols exported, all zgm_*, all declared ones present"
