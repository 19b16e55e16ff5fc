# tests/tui/tmux_lib.sh: driving netmoon's view under tmux, for the tests in
# tests/tui/.  Source it after setting SOCK (the tmux server's name):
#
#   T ARGS...                 tmux on that server
#   screen                    the pane's text
#   wait_for REGEX SECONDS    polls the screen until REGEX shows (bounded)
#   tmux_shell_start COLS ROWS
#                             a fresh session COLS x ROWS running a plain
#                             bash with the prompt READY$, UTF-8 locale and
#                             ASAN_OPTIONS passed through; waits for it

T() { tmux -u -L "$SOCK" "$@"; }
screen() { T capture-pane -p; }
wait_for() {
    local deadline=$((SECONDS + $2))
    while [ $SECONDS -le $deadline ]; do
        screen | grep -qE -- "$1" && return 0
        sleep 0.1
    done
    return 1
}
tmux_shell_start() {
    T -f /dev/null new-session -d -x "$1" -y "$2" \
        "env -i PATH=$PATH TERM=screen-256color LANG=C.UTF-8 LC_ALL=C.UTF-8 ASAN_OPTIONS=$ASAN_OPTIONS \
         PS1='READY\$ ' HISTFILE=/dev/null bash --norc --noprofile"
    wait_for 'READY\$' 5
}
# tmux_quit NAME SECONDS ASAN_LOG: presses q; PASS NAME when the shell
# reports NM_EXIT=0 within SECONDS with the terminal restored (alternate
# screen off); FAIL NAME_sanitizers when the sanitizer log ASAN_LOG* exists.
tmux_quit() {
    T send-keys q
    if wait_for 'NM_EXIT=0' "$2" && [ "$(T display -p '#{alternate_on}')" = 0 ]; then
        echo "PASS $1"
    else
        echo "FAIL $1: $(screen | tail -3 | tr '\n' '|')"
    fi
    if ls "$3"* >/dev/null 2>&1; then
        echo "FAIL $1_sanitizers: $(head -20 "$3"*)"
        rm -f "$3"*
    fi
}
