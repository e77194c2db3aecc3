#  Sourced: deb-src entries for the host's own Debian archive (deb822 debian.sources, or the
#  older sources.list) in a private apt directory "$apt" (set by the caller), and aptget, apt-get
#  on it: the system's apt configuration, lists and cache stay untouched.
mkdir -p "$apt/parts" "$apt/lists/partial" "$apt/cache/archives/partial"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types:.*$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources \
        >"$apt/parts/debian.sources"
fi
if [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb[[:space:]]/deb-src /p' /etc/apt/sources.list >"$apt/parts/debian.list"
fi
aptget() {
    apt-get -q -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt/parts" \
        -o Dir::State::Lists="$apt/lists" -o Dir::Cache="$apt/cache" \
        -o APT::Sandbox::User="$(id -un)" "$@"
}
