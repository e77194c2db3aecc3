#!/bin/sh
#  Fails when a tracked C or C++ file differs from what clang-format (with .clang-format) makes of
#  it, names each such file and shows the difference. `make format` rewrites them.
set -e
cd "$(dirname "$0")/.."

git rev-parse --git-dir >/dev/null 2>&1 || {
    echo "format-check: needs a git checkout (git ls-files)" >&2
    exit 2
}
files() { git ls-files -z '*.c' '*.cc' '*.h'; }
count=$(files | tr -cd '\0' | wc -c)
version=$(clang-format --version | sed 's/.*version //')
#  One clang-format for all files; its diagnostics start with FILE:LINE:COLUMN.
if report=$(files | xargs -0 clang-format --dry-run -Werror 2>&1); then
    echo "format-check: $count files clang-formatted (clang-format $version)"
    exit 0
fi
bad=$(printf '%s\n' "$report" | sed -n 's/^\(.*\):[0-9]*:[0-9]*: error: .*/\1/p' | uniq)
if [ -z "$bad" ]; then
    printf '%s\n' "$report" >&2
    echo "format-check: clang-format failed" >&2
    exit 2
fi
printf '%s\n' "$bad" | while IFS= read -r file; do
    echo "format-check: $file is not clang-formatted:" >&2
    clang-format "$file" | diff -u --label "$file" --label "$file (clang-format)" "$file" - |
        head -n 40 >&2 || true
done
echo "format-check: $(printf '%s\n' "$bad" | wc -l) of $count files need \`make format\`" \
    "(clang-format $version):" >&2
printf '%s\n' "$bad" | sed 's/^/    /' >&2
exit 1
