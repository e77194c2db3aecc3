#!/bin/sh
#  The interactive client end to end, driven through tmux: join, switch, send a typed line,
#  and a live message arriving while a line is half typed must leave that line intact;
#  /help COMMAND; `zgm user send` on a terminal without text says so instead of waiting.
#  Usage: test_interactive.sh PATH-TO-ZGM      (prints TAP)
set -u
zgm=$1
run_zgm="${ZGM_EXE_WRAPPER:-} $zgm"
if ! command -v tmux >/dev/null 2>&1; then
    echo "1..0 # SKIP tmux is not installed"
    exit 0
fi
dir=$(mktemp -d /tmp/zgm-interactive-XXXXXX)
session="zgm-test-$$"
#  A tmux server of the test's own: a client in it gets this test's environment (a running
#  server would give its own, e.g. without the LD_LIBRARY_PATH of make check-tsan), and no
#  user's configuration.
tmux() { command tmux -f /dev/null -S "$dir/tmux" "$@"; }
registry_pid=""
group_pid=""
slow=1
[ -n "${ZGM_EXE_WRAPPER:-}" ] && slow=4
[ "${ZGM_TEST_SLOWDOWN:-0}" -gt 0 ] 2>/dev/null && slow=$ZGM_TEST_SLOWDOWN

cleanup() {
    tmux kill-server 2>/dev/null
    for pid in $group_pid $registry_pid; do
        kill "$pid" 2>/dev/null
        sleep 0.2
        kill -9 "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM

count=0
failed=0
check() { #  check DESCRIPTION COMMAND...
    description=$1
    shift
    count=$((count + 1))
    if "$@"; then
        echo "ok $count - $description"
    else
        echo "not ok $count - $description"
        failed=1
        echo "# screen:"
        tmux capture-pane -p -t "$session" 2>/dev/null | sed 's/^/#   /'
    fi
}
wait_for() { #  wait_for FILE TEXT
    i=0
    while [ $i -lt $((100 * slow)) ]; do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
screen_has() { #  screen_has TEXT [SESSION]: waits until the tmux screen shows TEXT
    i=0
    while [ $i -lt $((50 * slow)) ]; do
        tmux capture-pane -p -t "${2:-$session}" | grep -q -- "$1" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
last_line_is() { #  the last non-empty line of the screen contains TEXT
    tmux capture-pane -p -t "$session" | grep -v '^ *$' | tail -n 1 | grep -q -- "$1"
}
user() { #  user NAME ARGS...: a scripted user with its own identity
    name=$1
    shift
    XDG_CONFIG_HOME="$dir/$name" $run_zgm user --name "$name" --registry "$registry" "$@"
}

echo "1..11"
$run_zgm registry --bind 'tcp://127.0.0.1:*' >"$dir/registry.log" 2>&1 &
registry_pid=$!
wait_for "$dir/registry.log" "(port " || { echo "Bail out! registry did not start"; exit 1; }
port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$dir/registry.log" | head -n 1)
registry="tcp://127.0.0.1:$port"
$run_zgm server --registry "$registry" --group general --group random --memory \
    --bind 'tcp://127.0.0.1:*' >"$dir/group.log" 2>&1 &
group_pid=$!
wait_for "$dir/group.log" "serving" || { echo "Bail out! group server did not start"; exit 1; }
user bob join general >/dev/null

tmux new-session -d -s "$session" -x 120 -y 30 \
    "env XDG_CONFIG_HOME=$dir/alice NO_COLOR=1 $run_zgm user --name alice --registry $registry"
check "the client starts with a prompt" screen_has ">"

tmux send-keys -t "$session" "/help join" Enter
check "/help join shows join's help" screen_has "join a group (or follow it, when already a member)"
check "/help join is not a usage error" sh -c "! tmux capture-pane -p -t '$session' | grep -q 'usage:'"

tmux send-keys -t "$session" "/join general" Enter
check "/join makes the group current" screen_has "general>"

tmux send-keys -t "$session" "hello from alice" Enter
sleep $((1 * slow))
check "a plain line is sent to the current group" \
    sh -c "XDG_CONFIG_HOME='$dir/bob' $run_zgm user --registry '$registry' fetch general | grep -q 'hello from alice'"

tmux send-keys -t "$session" "half typed"
sleep 0.5
user bob send general "bob says hi" >/dev/null
check "a live message appears while typing" screen_has "bob says hi"
check "the half-typed line is still on the prompt line" last_line_is "general> half typed"
if [ -t 1 ] || [ -n "${NO_COLOR+x}" ]; then :; fi
no_colour() { #  the screen, read with its attributes, has no colour code
    screen=$(tmux capture-pane -p -e -t "$session") || return 1
    ! printf '%s\n' "$screen" | grep -q '\[3[0-9]m'
}
check "no colour codes with NO_COLOR" no_colour

tmux send-keys -t "$session" " and finished" Enter
sleep $((1 * slow))
check "the finished line is sent whole" \
    sh -c "XDG_CONFIG_HOME='$dir/bob' $run_zgm user --registry '$registry' fetch general | grep -q 'half typed and finished'"
#  stdin is the terminal: no text to send, said at once (exit 2), not read from the terminal.
tmux new-session -d -s "$session-send" -x 120 -y 10 \
    "env XDG_CONFIG_HOME=$dir/alice $run_zgm user --registry $registry send general; echo \"exit \$?\"; sleep 30"
check "send without text on a terminal exits 2 at once" screen_has "exit 2" "$session-send"
check "and says why" screen_has "stdin is a terminal" "$session-send"
tmux send-keys -t "$session" "/quit" Enter
exit $failed
