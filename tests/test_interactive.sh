#!/bin/sh
#  The interactive client end to end, driven through tmux: join (showing the group's last
#  10 messages), send a typed line, and a live message arriving while a line is half typed
#  must leave that line intact; two members with one display name shown apart by their keys;
#  a send without an answer shown as pending, then stored; a refused send said as such; the
#  owner's commands, which say the key they acted on; /help COMMAND; `zgm user send` on a
#  terminal without text says so instead of waiting; the line history, its mode and its bound
#  of 1,000 lines. Every process finds the others' keys in
#  the default files under a temporary XDG_CONFIG_HOME.
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
tmux() { command tmux -u -f /dev/null -S "$dir/tmux" "$@"; }
registry_pid=""
group_pid=""
slow=1
[ -n "${ZGM_EXE_WRAPPER:-}" ] && slow=4
[ "${ZGM_TEST_SLOWDOWN:-0}" -gt 0 ] 2>/dev/null && slow=$ZGM_TEST_SLOWDOWN
export XDG_CONFIG_HOME="$dir/config" XDG_DATA_HOME="$dir/data" XDG_STATE_HOME="$dir/state"
unset ZGM_REGISTRY ZGM_REGISTRY_KEY

cleanup() {
    tmux kill-server 2>/dev/null
    for pid in $group_pid $registry_pid; do
        kill -CONT "$pid" 2>/dev/null
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
screen_has() { #  screen_has TEXT [SESSION] [SECONDS]: waits until the tmux screen shows TEXT
    i=0
    while [ $i -lt $((${3:-5} * 10 * slow)) ]; do
        tmux capture-pane -p -S -100 -t "${2:-$session}" | grep -q -F -- "$1" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
screen_lacks() { #  screen_lacks TEXT: the screen does not show TEXT now
    ! tmux capture-pane -p -S -100 -t "$session" | grep -q -F -- "$1"
}
last_line_is() { #  the last non-empty line of the screen contains TEXT
    tmux capture-pane -p -t "$session" | grep -v '^ *$' | tail -n 1 | grep -q -F -- "$1"
}
type_line() { #  type_line TEXT: types TEXT literally, then Enter
    tmux send-keys -t "$session" -l "$1"
    tmux send-keys -t "$session" Enter
}
user() { #  user NAME ARGS...: a scripted user with its own identity
    name=$1
    shift
    $run_zgm user --identity "$dir/$name" --name "${display:-$name}" --registry "$registry" "$@"
}
key_of() { #  key_of NAME: the user's public key
    user "$1" whoami --json | sed -n 's/.*"key":"\([^"]*\)".*/\1/p'
}
fetched() { #  fetched GROUP TEXT: bob's fetch of GROUP shows TEXT exactly N times (N=$3, 1)
    [ "$(user bob fetch "$1" | grep -c -F -- "$2")" -eq "${3:-1}" ]
}

echo "1..25"
$run_zgm registry --bind 'tcp://127.0.0.1:*' >"$dir/registry.log" 2>&1 &
registry_pid=$!
wait_for "$dir/registry.log" "(port " || { echo "Bail out! registry did not start"; exit 1; }
port=$(sed -n 's/.*(port \([0-9]*\)).*/\1/p' "$dir/registry.log" | head -n 1)
registry="tcp://127.0.0.1:$port"
$run_zgm server --registry "$registry" --group general --group random --memory --accept-new \
    --bind 'tcp://127.0.0.1:*' >"$dir/group.log" 2>&1 &
group_pid=$!
wait_for "$dir/group.log" "serving" || { echo "Bail out! group server did not start"; exit 1; }
user bob join general >/dev/null
i=1
while [ $i -le 12 ]; do
    user bob send general "old $i" >/dev/null
    i=$((i + 1))
done

tmux new-session -d -s "$session" -x 160 -y 40 \
    "env LC_ALL=C NO_COLOR=1 $run_zgm user --identity $dir/alice --name alice --registry $registry --timeout 1500"
check "the client starts with a prompt" screen_has ">"

type_line "/help join"
check "/help join shows join's help" screen_has "join a group (or follow it, when already a member)"
check "/help join is not a usage error" screen_lacks "usage:"

type_line "/join general"
check "/join makes the group current" screen_has "general>"
last_ten() { #  old 3 to old 12 on the screen, not old 2
    screen=$(tmux capture-pane -p -S -100 -t "$session") || return 1
    printf '%s\n' "$screen" | grep -q -F '<bob> old 12' &&
        printf '%s\n' "$screen" | grep -q -F '<bob> old 3' &&
        ! printf '%s\n' "$screen" | grep -q -F '<bob> old 2'
}
check "and shows its last 10 messages" last_ten

type_line "hello from alice"
check "a plain line is sent to the current group" \
    sh -c "i=0; while [ \$i -lt $((50 * slow)) ]; do
        XDG_CONFIG_HOME='$dir/config' $run_zgm user --identity '$dir/bob' --registry '$registry' \
            fetch general | grep -q 'hello from alice' && exit 0; sleep 0.1; i=\$((i + 1)); done; exit 1"

#  Typed characters past ASCII go as typed, whatever the locale the client was started in
#  (libedit in the C locale dropped them: "héllo" was sent "hllo").
type_line "héllo ünïcode 日本"
check "a typed line past ASCII is sent whole" \
    sh -c "i=0; while [ \$i -lt $((50 * slow)) ]; do
        XDG_CONFIG_HOME='$dir/config' $run_zgm user --identity '$dir/bob' --registry '$registry' \
            fetch general | grep -q 'héllo ünïcode 日本' && exit 0; sleep 0.1; i=\$((i + 1)); done; exit 1"

tmux send-keys -t "$session" -l "half typed"
screen_has "general> half typed" >/dev/null
user bob send general "bob says hi" >/dev/null
check "a live message appears while typing" screen_has "bob says hi"
check "the half-typed line is still on the prompt line" last_line_is "general> half typed"
no_colour() { #  the screen, read with its attributes, has no colour code
    screen=$(tmux capture-pane -p -e -t "$session") || return 1
    ! printf '%s\n' "$screen" | grep -q '\[3[0-9]m'
}
check "no colour codes with NO_COLOR" no_colour
type_line " and finished"
check "the finished line is sent whole" screen_has "<alice> half typed and finished"

#  A second bob: both are shown with the start of their keys.
display=bob user bob2 join general >/dev/null
display=bob user bob2 send general "the other bob" >/dev/null
bob2=$(key_of bob2 | cut -c1-8)
check "a display name two members share is shown with the key" screen_has "<bob~$bob2> the other bob"

#  The group server stops answering: the line is pending, never failed; then stored once.
kill -STOP "$group_pid"
type_line "while it is stopped"
check "a send without an answer is shown as pending" screen_has "(pending: \"while it is stopped\"" "" 15
check "and not as failed" screen_lacks "not sent"
kill -CONT "$group_pid"
check "once the server is back it is stored" screen_has "(stored: \"while it is stopped\"" "" 20
check "stored once" fetched general "while it is stopped"

#  The owner's commands: alice makes a members-only group, bob is refused, then added.
type_line "/create club --members"
check "/create makes a group owned by you, current" screen_has "club>"
user bob join club >/dev/null 2>&1
bob_refused=$?
type_line "/add $dir/bob"
check "/add says the key it added, and the file it read it from" \
    screen_has "added $(key_of bob) (from $dir/bob) to club"
check "/add lets a key in (bob was refused before)" sh -c "
    [ $bob_refused -eq 1 ] && i=0 && while [ \$i -lt $((50 * slow)) ]; do
        XDG_CONFIG_HOME='$dir/config' $run_zgm user --identity '$dir/bob' --registry '$registry' \
            join club >/dev/null 2>&1 && exit 0; sleep 0.1; i=\$((i + 1)); done; exit 1"

#  Refused by the group server: said as such. bob's group, alice taken out of it.
user bob create bobs >/dev/null
type_line "/join bobs"
screen_has "bobs>" >/dev/null
user bob remove bobs "$dir/alice" >/dev/null
type_line "am I still in?"
check "a refused send prints 'error: not sent'" screen_has "error: not sent: bobs:"

#  stdin is the terminal: no text to send, said at once (exit 2), not read from the terminal.
tmux new-session -d -s "$session-send" -x 120 -y 10 \
    "$run_zgm user --identity $dir/alice --registry $registry send general; echo \"exit \$?\"; sleep 30"
check "send without text on a terminal exits 2 at once" screen_has "exit 2" "$session-send"
check "and says why" screen_has "stdin is a terminal" "$session-send"
type_line "/quit"

#  The line history, saved at /quit: readable by its owner only, as it may hold private
#  messages (libedit writes a blank as \040).
history="$dir/state/zgm/history"
history_saved() {
    i=0
    while [ $i -lt $((50 * slow)) ]; do
        [ -f "$history" ] && grep -q 'finished' "$history" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
check "/quit saves the line history" history_saved
check "the history file is its owner's only (0600)" sh -c "[ \"\$(stat -c %a '$history')\" = 600 ]"

#  It keeps the newest 1,000 lines: a history of 1,200 is read, and the next /quit saves the
#  newest 999 of them and its own.
{
    echo "_HiStOrY_V2_"
    i=1
    while [ $i -le 1200 ]; do
        printf '%s\n' "old\\040line\\040$i"
        i=$((i + 1))
    done
} >"$history"
tmux new-session -d -s "$session-history" -x 120 -y 10 \
    "env NO_COLOR=1 $run_zgm user --identity $dir/alice --name alice --registry $registry"
screen_has ">" "$session-history" >/dev/null
tmux send-keys -t "$session-history" -l "/quit"
tmux send-keys -t "$session-history" Enter
history_cut() {
    i=0
    while [ $i -lt $((50 * slow)) ]; do
        if [ "$(tail -n 1 "$history")" = "/quit" ]; then
            [ "$(grep -c . "$history")" -eq 1001 ] && ! grep -q 'line\\040201$' "$history" &&
                grep -q 'line\\040202$' "$history"
            return
        fi
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
check "the history keeps the newest 1,000 lines" history_cut
exit $failed
