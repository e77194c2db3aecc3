#!/bin/bash
#  Runs the installed zgm-registry.service and zgm-server@main.service in a test root the way
#  systemd would, then a session of the installed `zgm user`. Called by packaging/deb/test.sh
#  inside new network, mount and PID namespaces (`unshare --net --mount --pid --fork`): every
#  process started here ends with the namespace, every mount with it.
#
#  Usage: run-units.sh ROOT ARCH LOGDIR
#
#  From each unit file it takes ExecStart= (with %i = main), User=, Group=, StateDirectory=,
#  StateDirectoryMode=, WorkingDirectory=, UMask= and LimitNOFILE=, and starts the command
#  with chroot ROOT as that user, in a clean environment. ARM programs run through the root's
#  own qemu-user (binfmt_misc is not available here). The sandbox systemd would add is not
#  applied (no systemd runs here); natively the programs run under strace, and what they did
#  from their exec on is held against the units' SystemCallFilter=, RestrictAddressFamilies=
#  and MemoryDenyWriteExecute= (check_sandbox).
set -euo pipefail

root=$1 arch=$2 logdir=$3
instance=main
units=$root/lib/systemd/system

case "$arch" in
amd64) wrap=() ;;
arm64) wrap=(/usr/bin/qemu-aarch64) ;;
armhf) wrap=(/usr/bin/qemu-arm) ;;
*) echo "run-units.sh: unknown architecture '$arch'" >&2; exit 2 ;;
esac

mount -t proc proc "$root/proc"
ip link set lo up

fail() {
    echo "run-units.sh ($arch): $*" >&2
    for log in "$logdir"/*.log; do
        echo "--- $log" >&2
        tail -n 20 "$log" >&2
    done
    exit 1
}

#  in_root COMMAND...: runs an installed program of the root (as root, cwd /).
in_root() { chroot "$root" "${wrap[@]}" "$@"; }

#  unit_values UNIT KEY: the values of every KEY= line of UNIT, %i expanded, one per line.
unit_values() {
    sed -n "s/^$2=//p" "$units/$1" | sed "s/%i/$instance/g"
}

#  start_unit UNIT NAME: starts UNIT's ExecStart in the background, its stdout and stderr in
#  LOGDIR/NAME.log; sets the variable NAME_pid.
start_unit() {
    local unit=$1 name=$2 exec user group mode dir umask nofile workdir
    local -a words
    exec=$(unit_values "$unit" ExecStart)
    [ "$(wc -l <<<"$exec")" = 1 ] || fail "$unit: not one ExecStart= line"
    case "$exec" in
    /*) ;;
    *) fail "$unit: ExecStart= does not start with an absolute path: $exec" ;;
    esac
    case "$exec" in
    *[\"\'\\\$]*) fail "$unit: ExecStart= has quotes or variables this test does not parse" ;;
    esac
    read -r -a words <<<"$exec"
    words0[$name]=${words[0]}

    user=$(unit_values "$unit" User)
    group=$(unit_values "$unit" Group)
    uid=$(chroot "$root" id -u "$user")
    gid=$(chroot "$root" getent group "$group" | cut -d: -f3)
    #  StateDirectory=: /var/lib/DIR, made and given to the user (as systemd does at start).
    mode=$(unit_values "$unit" StateDirectoryMode)
    for dir in $(unit_values "$unit" StateDirectory); do
        mkdir -p "$root/var/lib/$dir"
        chown "$uid:$gid" "$root/var/lib/$dir"
        chmod "${mode:-0755}" "$root/var/lib/$dir"
    done
    umask=$(unit_values "$unit" UMask)
    nofile=$(unit_values "$unit" LimitNOFILE)
    #  LimitNOFILE= sets the soft and the hard limit: the server's check of its descriptor need
    #  (the default --max-connections) runs against exactly that. Without CAP_SYS_RESOURCE (as
    #  in some containers) the hard limit cannot be raised above the host's.
    [ -n "$nofile" ] || fail "$unit: no LimitNOFILE="
    if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$nofile" ]; then
        echo "LimitNOFILE=$nofile: this host's hard limit is $(ulimit -Hn), used instead"
        nofile=$(ulimit -Hn)
    fi
    workdir=$(unit_values "$unit" WorkingDirectory)
    echo "start $unit: ${words[*]} (user $user, umask ${umask:-0022}, nofile $nofile)"
    local -a trace=()
    if [ "$arch" = amd64 ]; then trace=(strace -f -qq -o "$logdir/$name.strace"); fi
    (
        umask "${umask:-0022}"
        ulimit -n "$nofile"
        exec "${trace[@]}" chroot --userspec="$uid:$gid" "$root" \
            env -i --chdir="${workdir:-/}" PATH=/usr/local/bin:/usr/bin:/bin \
            HOME=/var/lib/zgm USER="$user" LOGNAME="$user" SHELL=/usr/sbin/nologin \
            "${wrap[@]}" "${words[@]}"
    ) </dev/null >"$logdir/$name.log" 2>&1 &
    printf -v "${name}_pid" %s $!
}

#  program_pid PID: the pid of the program started as PID (under strace: strace's child).
program_pid() {
    if [ "$arch" = amd64 ]; then
        awk -v parent="$1" '$4 == parent { print $1 }' "$root"/proc/[0-9]*/stat 2>/dev/null
    else
        echo "$1"
    fi
}

#  syscalls NAME...: system calls and the calls of syscall-filter groups (@name), expanded.
syscalls() {
    local name line
    for name in "$@"; do
        case "$name" in
        @*) systemd-analyze syscall-filter "$name" | tail -n +2 | while read -r line; do
                case "$line" in
                '#'* | '') ;;
                *) syscalls "$line" ;;
                esac
            done ;;
        *) echo "$name" ;;
        esac
    done
}

#  check_sandbox NAME UNIT: what the program NAME did (its strace from its exec of the
#  ExecStart program on) against UNIT's SystemCallFilter=, RestrictAddressFamilies= and
#  MemoryDenyWriteExecute=.
check_sandbox() {
    local name=$1 unit=$2 strace_log=$logdir/$1.strace start allowed used bad filter families
    start=$(grep -n "execve(\"${words0[$name]}\".* = 0\$" "$strace_log" | tail -n 1 | cut -d: -f1)
    [ -n "$start" ] || fail "$name: no exec of ${words0[$name]} in its strace"
    #  A call another thread interrupted is two lines ("... <unfinished ...>", then "<... NAME
    #  resumed> ... = RESULT"): joined into one, so each call has its result on its line.
    tail -n +"$start" "$strace_log" | awk '
        / <unfinished \.\.\.>$/ { pending[$1] = substr($0, 1, length($0) - 17); next }
        /^[0-9]+ +<\.\.\. [a-z0-9_]+ resumed>/ && ($1 in pending) {
            rest = $0
            sub(/^[0-9]+ +<\.\.\. [a-z0-9_]+ resumed>/, "", rest)
            print pending[$1] rest
            delete pending[$1]
            next
        }
        { print }
        END { for (pid in pending) print pending[pid] }' >"$strace_log.after"
    local -a allow=() deny=() list
    while read -r filter; do
        read -r -a list <<<"${filter#\~}"
        case "$filter" in
        '~'*) deny+=("${list[@]}") ;;
        *) allow+=("${list[@]}") ;;
        esac
    done <<<"$(unit_values "$unit" SystemCallFilter)"
    allowed=$(comm -23 <(syscalls "${allow[@]}" | sort -u) <(syscalls "${deny[@]}" | sort -u))
    used=$(sed -n -E 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p; s/^[0-9]+ +<\.\.\. ([a-z0-9_]+) resumed>.*/\1/p' \
        "$strace_log.after" | sort -u)
    bad=$(comm -23 <(echo "$used") <(echo "$allowed"))
    if [ -n "$bad" ]; then
        grep -E "^[0-9]+ +($(paste -sd'|' <<<"$bad"))\(" "$strace_log.after" | head -n 5
        fail "$name made system calls $unit filters out: $(xargs <<<"$bad")"
    fi
    echo "sandbox $name: $(wc -l <<<"$used") distinct system calls, all in SystemCallFilter="
    families=$(grep -o -E 'socket\(AF_[A-Z0-9]+' "$strace_log.after" | cut -d'(' -f2 | sort -u | xargs)
    for family in $families; do
        grep -qw -- "$family" <<<"$(unit_values "$unit" RestrictAddressFamilies)" ||
            fail "$name opened an $family socket, which RestrictAddressFamilies= refuses"
    done
    echo "sandbox $name: socket families $families, all in RestrictAddressFamilies="
    if [ "$(unit_values "$unit" MemoryDenyWriteExecute)" = yes ] &&
       grep -E '^[0-9]+ +(mmap|mprotect|pkey_mprotect)\(' "$strace_log.after" |
       grep 'PROT_WRITE' | grep -q 'PROT_EXEC'; then
        fail "$name mapped memory writable and executable (MemoryDenyWriteExecute=yes)"
    fi
    echo "sandbox $name: no memory both writable and executable"
    #  ProtectSystem=strict: writes only under the state directories (and /tmp, /tmp itself
    #  included, which PrivateTmp= makes the service's own, and /dev); ProtectHome=: nothing
    #  under /home, /root or /run/user. Paths as the calls name them; a relative one is taken
    #  as relative to WorkingDirectory=, which is the state's.
    #  mkdir of a directory that exists is fine: Linux says EEXIST before EROFS.
    local written outside
    written=$(grep -E '^[0-9]+ +(open|openat|creat|mkdir|mkdirat|unlink|unlinkat|rename|renameat2?|rmdir|truncate|chmod|fchmodat|symlink|symlinkat|link|linkat)\(' \
                  "$strace_log.after" | grep -vE '^[0-9]+ +open(at)?\(' |
                  grep -vE '^[0-9]+ +mkdir(at)?\(.* = -1 EEXIST ' ||
              true)$'\n'$(grep -E '^[0-9]+ +open(at)?\(.*(O_WRONLY|O_RDWR|O_CREAT)' \
                  "$strace_log.after" || true)
    outside=$(grep -o '"/[^"]*"' <<<"$written" | tr -d '"' |
        grep -vE '^(/var/lib/zgm(/|$)|/tmp(/|$)|/var/tmp(/|$)|/dev/(null|zero|u?random)$)' |
        sort -u || true)
    if [ -n "$outside" ]; then
        grep -F "$(sed 's/.*/"&"/' <<<"$outside")" <<<"$written" | head -n 5
        fail "$name wrote where ProtectSystem=strict forbids: $(xargs <<<"$outside")"
    fi
    if grep -qE '"(/home|/root|/run/user)(/|")' "$strace_log.after"; then
        grep -E '"(/home|/root|/run/user)(/|")' "$strace_log.after" | head -n 3
        fail "$name used paths that ProtectHome= hides"
    fi
    echo "sandbox $name: wrote only under /var/lib/zgm, nothing under /home, /root, /run/user"
}

#  alive PID NAME: fails with the logs when the process has exited.
alive() {
    kill -0 "$1" 2>/dev/null || fail "$2 exited early"
}

#  zgm_user ARGS...: the installed `zgm user` as an ordinary user (nobody) of the root, its
#  identities under /tmp, with the registry's public key where docs/packaging.md says users
#  find it.
zgm_user() {
    chroot --userspec=nobody:nogroup "$root" env -i PATH=/usr/bin:/bin HOME=/tmp \
        ZGM_REGISTRY_KEY=/etc/zgm/keys/registry.cert \
        "${wrap[@]}" /usr/bin/zgm user --timeout 5000 "$@"
}

registry_pid="" server_pid=""
declare -A words0   # the program each unit execs
start_unit zgm-registry.service registry
start_unit zgm-server@.service server

#  Ready when the registry lists the server's group (bounded: 90 s, qemu on a busy machine).
deadline=$((SECONDS + 90))
until zgm_user --identity /tmp/alice.id --name alice groups 2>/dev/null | grep -qw general; do
    alive "$registry_pid" registry
    alive "$server_pid" server
    [ $SECONDS -lt $deadline ] || fail "the registry did not list 'general' within 90 s"
    sleep 0.2
done

#  A session: alice joins and writes, bob joins and reads it back.
text="hello from $arch"
expect() {  # expect PATTERN COMMAND...: runs COMMAND and greps its output for PATTERN
    local pattern=$1 output
    shift
    output=$("$@" 2>&1) || fail "'$*' failed: $output"
    grep -q -- "$pattern" <<<"$output" || fail "'$*' printed '$output', not '$pattern'"
    echo "$output"
}
expect "joined general" zgm_user --identity /tmp/alice.id join general
expect "sent to general #1" zgm_user --identity /tmp/alice.id send general "$text"
expect "joined general" zgm_user --identity /tmp/bob.id --name bob join general
fetched=$(expect "\"text\":\"$text\"" zgm_user --identity /tmp/bob.id fetch general --json)
grep -q '"name":"alice"' <<<"$fetched" || fail "the message is not alice's: $fetched"
#  The sender is alice's key, proven by her connection (CURVE).
alice_key=$(zgm_user --identity /tmp/alice.id whoami --json | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
grep -qF "\"sender\":\"$alice_key\"" <<<"$fetched" ||
    fail "the message's sender is not alice's key $alice_key: $fetched"
echo "sender: alice's key $alice_key"

#  The Python module (python3-zgm, installed in the amd64 root only: test-arch.sh) in the same
#  session: carol, as an ordinary user, joins, sends and reads alice's message and her own.
if [ -f "$root/usr/lib/python3/dist-packages/zgm/__init__.py" ]; then
    python_session='
import sys, zgm
text, alices = sys.argv[1], sys.argv[2]
with zgm.User("carol", registry="tcp://127.0.0.1:5570",
              registry_key="/etc/zgm/keys/registry.cert") as carol:
    carol.timeout = 5
    carol.join("general")
    sent = carol.send("general", text)
    texts = [m.text for m in carol.fetch("general")]
    assert texts == [alices, text], texts
    live = carol.recv(timeout=5)
    assert live.text == text and live.seq == sent.seq, (live.text, live.seq)
    print("python: carol sent #%d, fetched %d messages, received her own live; zgm %s"
          % (sent.seq, len(texts), zgm.__version__))
'
    expect "python: carol sent #2, fetched 2 messages" \
        chroot --userspec=nobody:nogroup "$root" env -i PATH=/usr/bin:/bin HOME=/tmp \
        python3 -c "$python_session" "hello from Python on $arch" "$text"
fi

#  The store: under /var/lib/zgm/main, owned by zgm, closed to others (UMask=0077).
zgm_uid=$(chroot "$root" id -u zgm)
files=$(find "$root/var/lib/zgm/$instance" -type f)
[ -n "$files" ] || fail "no store under /var/lib/zgm/$instance"
bad=$(find "$root/var/lib/zgm/$instance" -type f \( ! -uid "$zgm_uid" -o -perm /077 \))
[ -z "$bad" ] || fail "store files not owned by zgm or open to others: $bad"
chroot "$root" find /var/lib/zgm -printf 'store: %M %u:%g %p\n'


#  Resident memory at idle (natively only: under qemu it would be qemu's).
if [ "$arch" = amd64 ]; then
    sleep 1
    for name in registry server; do
        pid_var=${name}_pid
        echo "idle RSS $name: $(awk '/^VmRSS/ { print $2, $3 }' \
            "$root/proc/$(program_pid "${!pid_var}")/status")"
    done
fi

#  Stop as systemd does: SIGTERM, and a clean exit (status 0) within 10 s. qemu-user does not
#  pass SIGTERM to the program: there, SIGKILL.
for name in server registry; do
    pid_var=${name}_pid
    pid=${!pid_var}
    alive "$pid" "$name"
    if [ "$arch" = amd64 ]; then
        kill -TERM "$(program_pid "$pid")"   # strace ends with it, with its exit status
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && fail "$name did not stop within 10 s of SIGTERM"
        status=0
        wait "$pid" || status=$?
        [ "$status" = 0 ] || fail "$name exited with status $status after SIGTERM"
        echo "stop $name: SIGTERM, exit status 0"
    else
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null || true   # without bash's "Killed" line
        echo "stop $name: SIGKILL (qemu)"
    fi
done
if [ "$arch" = amd64 ]; then
    check_sandbox registry zgm-registry.service
    check_sandbox server zgm-server@.service
fi
umount "$root/proc"
