# shellcheck shell=sh
#  The apt sources of the Debian roots that mmdebstrap makes: the ARM sysroots
#  (cross/sysroot.sh) and the base root of the package tests (packaging/deb/test.sh).
#  Sourced (POSIX sh); defines three functions and nothing else.

#  apt_sources: prints $ZGM_APT_SOURCES, or else the host's own sources files
#  (/etc/apt/sources.list, sources.list.d/*.list and *.sources, one-line and deb822 alike) that
#  have an entry, so that no mirror name lives in the repository. Empty files are left out:
#  mmdebstrap rejects them.
apt_sources() {
    if [ -n "${ZGM_APT_SOURCES:-}" ]; then
        echo "$ZGM_APT_SOURCES"
        return
    fi
    apt_sources_found=""
    for apt_sources_file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
                            /etc/apt/sources.list.d/*.sources; do
        if [ -f "$apt_sources_file" ] &&
           grep -q '^[[:space:]]*[^#[:space:]]' "$apt_sources_file"; then
            apt_sources_found="$apt_sources_found $apt_sources_file"
        fi
    done
    echo "${apt_sources_found# }"
}

#  without_security DIR FILE...: copies the sources files into DIR without their *-security
#  suites (deb822 Suites: lines and one-line entries alike) and prints the copies' names. For
#  a last attempt: the mirror's security index of one architecture is sometimes inconsistent
#  ("File has unexpected size ... Mirror sync in progress?") for a day, and apt-get update in
#  mmdebstrap then fails on it. Run it in $(...): its variables are its own.
without_security() {
    without_security_dir=$1
    shift
    rm -rf "$without_security_dir"
    mkdir -p "$without_security_dir"
    for without_security_file in "$@"; do
        without_security_out=$without_security_dir/$(basename "$without_security_file")
        case "$without_security_file" in
        *.sources)
            #  Drop security suites from Suites:, then any stanza left with no suite.
            awk 'BEGIN { RS = ""; ORS = "\n\n" }
                 { n = split($0, line, "\n"); keep = 1; text = ""
                   for (i = 1; i <= n; i++) {
                     l = line[i]
                     if (l ~ /^Suites:/) {
                       m = split(substr(l, 8), w, /[ \t]+/); l = "Suites:"; k = 0
                       for (j = 1; j <= m; j++)
                         if (w[j] != "" && w[j] !~ /-security$/) { l = l " " w[j]; k++ }
                       if (k == 0) keep = 0
                     }
                     text = text l "\n"
                   }
                   if (keep) printf "%s\n", text }' \
                "$without_security_file" >"$without_security_out" ;;
        *)
            #  deb [options] URI SUITE COMPONENT...: drop lines whose suite is *-security.
            awk '/^[ \t]*deb/ { i = 2; if ($2 ~ /^\[/) while (i <= NF && $i !~ /\]$/) i++
                                if ($2 ~ /^\[/) i++; if ($(i + 1) ~ /-security$/) next }
                 { print }' "$without_security_file" >"$without_security_out" ;;
        esac
        if grep -q '^[[:space:]]*[^#[:space:]]' "$without_security_out"; then
            echo "$without_security_out"
        fi
    done
}

#  attempt_sources ATTEMPT DIR WHO FILE...: the sources for mmdebstrap's attempt 1, 2 or 3:
#  the files as they are, then for the third and last a copy in DIR without the security
#  suite, with a warning on stderr that starts with WHO. Fails on the third when
#  ZGM_APT_SOURCES chose the files (they are used as they are, or not at all).
attempt_sources() {
    attempt_sources_number=$1 attempt_sources_dir=$2 attempt_sources_who=$3
    shift 3
    if [ "$attempt_sources_number" -lt 3 ]; then
        echo "$*"
        return 0
    fi
    [ -z "${ZGM_APT_SOURCES:-}" ] || return 1
    echo "$attempt_sources_who: WARNING: using the host's sources without the security suite" >&2
    without_security "$attempt_sources_dir" "$@"
}
