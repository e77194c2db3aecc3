#!/bin/bash
#  The generated bash completion: commands, subcommands, options and their values.
#  Usage: test_completion.sh PATH-TO-COMPLETION    (prints TAP)
set -u
# shellcheck source=/dev/null
source "$1" || { echo "Bail out! cannot source $1"; exit 1; }
dir=$(mktemp -d /tmp/zgm-completion-XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/store" && touch "$dir/zgm.cfg"
cd "$dir" || exit 1

#  The words bash would pass: the line split as with the default COMP_WORDBREAKS ('=' and
#  ':' are words of their own); a line ending in a blank completes an empty word.
complete_line() {
    local line=$1
    line=${line//=/ = }
    line=${line//:/ : }
    read -r -a COMP_WORDS <<<"$line"
    [[ $1 == *" " || $1 == *"=" ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    COMPREPLY=()
    _zgm
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

count=0
failed=0
expect() { #  expect LINE COMPLETIONS
    count=$((count + 1))
    local got
    got=$(complete_line "$1")
    if [[ $got == "$2" ]]; then
        echo "ok $count - '$1' completes to '$2'"
    else
        echo "not ok $count - '$1' completes to '$2'"
        echo "#   got '$got'"
        failed=1
    fi
}

echo "1..25"
expect "zgm " "--help --version help keygen registry run server stats user"
expect "zgm ser" "server"
expect "zgm server --du" "--durability"
expect "zgm server --durability " "full normal"
expect "zgm server --durability=n" "normal"
expect "zgm server --config zg" "zgm.cfg"
expect "zgm server --data st" "store"
expect "zgm server --durability full --he" "--heartbeat --help"
expect "zgm registry --" "--admin --bind --config --expiry --help --insecure --key --max-connections --max-frame --max-groups --max-rate --max-unread-bytes --max-unread-total --quiet --trust"
expect "zgm user se" "send"
expect "zgm user --registry tcp://127.0.0.1:5570 fe" "fetch"
expect "zgm user --registry=tcp://127.0.0.1:5570 li" "listen"
expect "zgm user fetch general --li" "--limit"
expect "zgm user listen --" "--count --help --identity --insecure --json --name --registry --registry-key --timeout"
expect "zgm help " "keygen registry run server stats user"
expect "zgm help user j" "join"
expect "zgm user fetch general --la" "--last"
expect "zgm user " "add create fetch give groups help join leave listen members policy remove retain send whoami"
expect "zgm user help j" "join"
expect "zgm user --registry tcp://127.0.0.1:5570 help re" "remove retain"
expect "zgm user help join " ""
expect "zgm stats --" "--count --help --identity --insecure --json --registry --registry-key --timeout --watch"
expect "zgm stats --watch 5 --c" "--count"
expect "zgm server --registry-key zg" "zgm.cfg"
expect "zgm server --policy " "members open"
exit $failed
