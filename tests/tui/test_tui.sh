#!/usr/bin/env bash
# tests/tui/test_tui.sh: the terminal view, driven in tmux like a user would.
#
# Runs $NETMOON in a private tmux server (its own socket, killed on exit)
# on a 150x40 pane, sends keys, reads the screen with capture-pane, and
# checks: rows in the seed's form with states and bars; the header's
# counters; sorting by total and packets against the flows' byte totals
# from tshark and the rows' own columns; reversing; the filter; the detail
# pane (with nDPI's app, named as ndpiReader names the flow); the ASCII
# fallback; resizing; q and SIGTERM leaving a clean
# terminal; --json=PATH alongside the view; no view when stdout is a pipe.
#
# ASan: ncurses' allocations are released by delscreen() at close, so leak
# detection stays on; sanitizer reports go to files (log_path) because the
# view holds stderr while it runs, and any report is a FAIL.
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-$PWD/netmoon}
SHARED_PCAPS=${SHARED_PCAPS:-$PWD/../shared/pcaps}
MIXED=$PWD/tests/data/lab/mixed.pcap
MANY=$SHARED_PCAPS/suricata-verify/smb2-ntlmssp-negotiateflags.pcap
LONG=$SHARED_PCAPS/suricata-verify/output-eve-ftp-data.pcap

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }
skip() { echo "SKIP $1: $2"; }

if ! command -v tmux >/dev/null; then skip tui "tmux not installed"; exit 0; fi
if ! locale -a 2>/dev/null | grep -qi '^c\.utf-\?8$'; then skip tui "no C.UTF-8 locale"; exit 0; fi

TMP=$(mktemp -d /tmp/nm-tui.XXXXXX)
PANES=0
SOCK=nm-tui-$$-0
# shellcheck source=tests/tui/tmux_lib.sh
. tests/tui/tmux_lib.sh
cleanup() {
    for i in $(seq 0 "$PANES"); do tmux -L "nm-tui-$$-$i" kill-server >/dev/null 2>&1; done
    rm -rf "$TMP" 2>/dev/null
}
trap cleanup EXIT
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}:log_path=$TMP/asan"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}:log_path=$TMP/ubsan"

# A fresh pane with a plain shell whose prompt we recognise.
# Each pane has its own tmux server, so a dying one is never reused.
pane_start() {
    T kill-server >/dev/null 2>&1
    PANES=$((PANES + 1))
    SOCK=nm-tui-$$-$PANES
    T -f /dev/null new-session -d -x 150 -y 40 \
        "env -i PATH=$PATH HOME=$TMP TERM=screen-256color LANG=C.UTF-8 LC_ALL=${1:-C.UTF-8} \
         ASAN_OPTIONS=$ASAN_OPTIONS UBSAN_OPTIONS=$UBSAN_OPTIONS PS1='READY\$ ' HISTFILE=/dev/null \
         bash --norc --noprofile"
    wait_for 'READY\$' 5
}
keys() { T send-keys "$@"; sleep 0.4; }
run() { T send-keys "$1" Enter; }
# Rows of the table: lines in the form "addr[:port] → addr[:port] (STATE)".
rows() { screen | sed -n '4,39p' | grep -E '^[^ ]+ (→|->) [^ ]+ \([A-Za-z0-9_ ]+\)'; }
# The TOTAL column of each row, in bytes.
totals() {
    rows | sed -E 's/^.*\) +([0-9.]+) ([kMGT]?)B .*/\1 \2/' |
        awk '{m=1; if($2=="k")m=1e3; if($2=="M")m=1e6; if($2=="G")m=1e9; printf "%d\n", $1*m}'
}
pkts() {
    rows | awk '{for(i=1;i<=NF;i++) if($i ~ /b\/s$/) last=i; print $(last+1)}' |
        awk '{v=$1; m=1; if(v ~ /k$/){m=1e3; sub(/k$/,"",v)} if(v ~ /M$/){m=1e6; sub(/M$/,"",v)} printf "%d\n", v*m}'
}
nonincreasing() { sort -s -n -r -c 2>/dev/null; }
nondecreasing() { sort -s -n -c 2>/dev/null; }
# Endpoints of the first row, as "a b" sorted, without brackets.
first_pair() { rows | head -1 | awk '{print $1; print $3}' | tr -d '[]' | sort | tr '\n' ' '; }
# "bytes addr:port addr:port" per TCP/UDP address pair (sorted), frame bytes
# as tshark counts them (frame.len).
tshark_pairs() {
    tshark -r "$1" -T fields -E separator=' ' -e ip.src -e ipv6.src -e tcp.srcport -e udp.srcport \
        -e ip.dst -e ipv6.dst -e tcp.dstport -e udp.dstport -e frame.len -Y 'tcp or udp' 2>/dev/null |
        awk '{ s=$1":"$2; d=$3":"$4; if (s>d) k=d" "s; else k=s" "d; b[k]+=$5 }
             END { for (k in b) print b[k], k }' | sort -n -r
}
# The largest conversation by frame bytes according to tshark.
tshark_top_pair() {
    tshark_pairs "$1" | head -1 | cut -d' ' -f2- | tr ' ' '\n' | sort | tr '\n' ' '
}
exit_clean() {   # NAME: the view is gone and the terminal is sane again
    local name=$1
    if ! wait_for 'NM_EXIT=[0-9]+' 10; then fail "$name" "netmoon did not exit"; return; fi
    run "stty -a | tr ' ' '\\n' | grep -E -- '^-?(icanon|echo|onlcr|icrnl)\$' | tr '\\n' ' '; echo STTY_\$?"
    wait_for 'STTY_[0-9]' 5
    local alt; alt=$(T display -p '#{alternate_on}')
    local modes; modes=$(screen | grep -E '(icanon|onlcr).*STTY_[0-9]' | tail -1)
    if [ "$alt" = 0 ] && [[ $modes == *"icanon"* && $modes != *"-icanon"* && $modes != *"-echo "* \
            && $modes != *"-onlcr"* && $modes != *"-icrnl"* ]] && screen | grep -qE '^READY\$'; then
        pass "$name"
    else
        fail "$name" "alternate screen=$alt, tty modes: $modes"
    fi
}

# ---- mixed.pcap replayed at its pace -------------------------------------
pane_start
run "$NETMOON -r $MIXED --realtime; echo NM_EXIT=\$?"
if wait_for 'end of input' 15; then pass tui_replay_finishes; else fail tui_replay_finishes "no 'end of input' after 15 s"; fi
screen > "$TMP/mixed.txt"
n=$(rows | wc -l)
if [ "$n" -ge 8 ] && rows | grep -qE '^198\.18\.0\.1:[0-9]+ → 198\.18\.0\.2:80 \((SYN_SENT|SYN_RECV|ESTABLISHED|FIN_WAIT|CLOSE_WAIT|LAST_ACK|TIME_WAIT|CLOSED|NONE)\) +[0-9.]+ [kM]?B [█░]{10} '; then
    pass tui_rows_seed_form
else
    fail tui_rows_seed_form "$n rows; screen in $TMP/mixed.txt: $(head -6 "$TMP/mixed.txt" | tail -3)"
fi
# The refused connection (a RST answers the SYN to port 81) is CLOSED, and
# an HTTP connection closed by FINs is in TIME_WAIT: the tracker's states.
if rows | grep -qE '198\.18\.0\.2:81 \(CLOSED\)' && rows | grep -qE '198\.18\.0\.2:80 \(TIME_WAIT\)' \
        && rows | grep -q '(UDP)' && rows | grep -qE '\((ICMP|ICMPv6)\)' \
        && rows | grep -qE '^\[2001:db8::1\]:[0-9]+ → \[2001:db8::2\]:'; then
    pass tui_rows_states_and_ipv6
else
    fail tui_rows_states_and_ipv6 "$(rows | cut -c1-60 | tr '\n' '|')"
fi
if rows | head -1 | grep -q '██████████' && [ "$(rows | grep -c '░')" -ge 5 ]; then
    pass tui_bars_share_of_largest
else
    fail tui_bars_share_of_largest "$(rows | head -2 | tr '\n' '|')"
fi
hdr=$(screen | head -2)
if [[ $hdr == *"file $MIXED, replay 1x"* && $hdr == *"kernel drops 0"* && $hdr == *"evictions 0"* \
        && $hdr == *"decode errors 0"* && $hdr == *"active flows"* && $hdr =~ ↑\ [0-9.]+\ [kM]?b/s ]]; then
    pass tui_header
else
    fail tui_header "$hdr"
fi

# Sorting: s cycles rate -> total -> packets.
keys s
if screen | head -1 | grep -q 'sort: total ↓' && totals | nonincreasing && [ "$(totals | wc -l)" -ge 8 ]; then
    pass tui_sort_total_descending
else
    fail tui_sort_total_descending "$(screen | head -1); totals: $(totals | tr '\n' ' ')"
fi
want=$(tshark_top_pair "$MIXED"); got=$(first_pair)
if [ -n "$want" ] && [ "$want" = "$got" ]; then pass tui_sort_total_matches_tshark
else fail tui_sort_total_matches_tshark "first row '$got', tshark's largest '$want'"; fi
keys r
if screen | head -1 | grep -q 'sort: total ↑' && totals | nondecreasing; then pass tui_sort_reverse
else fail tui_sort_reverse "totals: $(totals | tr '\n' ' ')"; fi
keys r; keys s
if screen | head -1 | grep -q 'sort: packets' && pkts | nonincreasing; then pass tui_sort_packets
else fail tui_sort_packets "packets: $(pkts | tr '\n' ' ')"; fi
keys '<'
if screen | head -1 | grep -q 'sort: total'; then pass tui_sort_previous_column
else fail tui_sort_previous_column "$(screen | head -1)"; fi

# Filter by a port, then by an address.
before=$(rows | wc -l)
keys / ; keys 5201 ; keys Enter
after=$(rows | wc -l)
if [ "$after" -ge 1 ] && [ "$after" -lt "$before" ] && [ "$(rows | grep -vc 5201)" = 0 ]; then
    pass tui_filter_hides_rows
else
    fail tui_filter_hides_rows "$before rows before, $after after: $(rows | cut -c1-50 | tr '\n' '|')"
fi
keys / ; keys BSpace BSpace BSpace BSpace ; keys 2001:db8 ; keys Enter
if [ "$(rows | wc -l)" -ge 2 ] && [ "$(rows | grep -vc '2001:db8')" = 0 ]; then pass tui_filter_address
else fail tui_filter_address "$(rows | cut -c1-50 | tr '\n' '|')"; fi
keys / ; keys nomatch ; keys Escape
if [ "$(rows | grep -vc '2001:db8')" = 0 ] && screen | head -1 | grep -q 'filter: 2001:db8'; then
    pass tui_filter_escape_restores
else
    fail tui_filter_escape_restores "$(screen | head -1)"
fi

# Detail pane of the selected (second) row.
keys Down
sel=$(rows | sed -n 2p | awk '{print $1}' | tr -d '[]' | sed 's/:[0-9]*$//')
keys Enter
d=$(screen)
if [[ $d == *"Flow details"* && $d == *"community_id  1:"* && $d == *"end_reason"* \
        && $d == *"src (initiator)"* && $d == *"dst (responder)"* && $d == *"ts_start"* \
        && $d == *"duration"* && -n $sel && $d == *"$sel"* ]] \
        && screen | grep -qE 'src \(initiator\) +[^ ]+ +packets [0-9]+ +bytes [0-9]+'; then
    pass tui_detail_pane
else
    fail tui_detail_pane "$(echo "$d" | sed -n 4,10p | tr '\n' '|')"
fi
keys Escape
if ! screen | grep -q 'Flow details'; then pass tui_detail_closes; else fail tui_detail_closes "still open"; fi

# The TCP analysis in the view: the IPv6 HTTPS connection's handshake RTT
# in the detail pane against tshark's tcp.analysis.initial_rtt for it.
keys / ; keys BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace ; keys ']:443' ; keys Enter
keys Home ; keys Enter
row=$(screen | grep -E '^ *src \(initiator\)' | head -1)
sport=$(grep -oE '\]:[0-9]+' <<<"$row" | head -1 | tr -d ']:')
shown=$(screen | grep -oE 'RTT handshake +[0-9.]+(us|ms|s)' | awk '{print $3}')
want=$([ -n "$sport" ] && tshark -r "$MIXED" -Y "tcp.srcport==$sport && tcp.analysis.initial_rtt" \
       -T fields -e tcp.analysis.initial_rtt 2>/dev/null | head -1)
if python3 - "$shown" "$want" <<'PY'
import re, sys
shown, want = sys.argv[1], sys.argv[2]
m = re.fullmatch(r"([0-9.]+)(us|ms|s)", shown)
if not m or not want:
    sys.exit(1)
us = float(m.group(1)) * {"us": 1, "ms": 1e3, "s": 1e6}[m.group(2)]
ref = float(want) * 1e6
# The pane rounds to 2 significant digits above 1 ms: allow that, or 2 us.
sys.exit(0 if abs(us - ref) <= max(2.0, 0.05 * ref) else 1)
PY
then
    pass tui_detail_rtt_matches_tshark
else
    fail tui_detail_rtt_matches_tshark "port ${sport:-?}: pane '${shown:-none}', tshark initial_rtt '${want:-none}' s"
fi
# nDPI's label in the pane and in the filter, as ndpiReader names that flow.
if command -v ndpiReader >/dev/null; then
    want=$(python3 tests/golden/ndpi_flows.py "$MIXED" | awk -v p=":$sport " 'index($0, p) {print $NF}' | cut -d/ -f2)
    if [ -n "$want" ] && screen | grep -qE "^ *app +$want +category "; then pass tui_detail_app_as_ndpiReader
    else fail tui_detail_app_as_ndpiReader "ndpiReader '${want:-none}', pane: $(screen | grep -E '^ *app ' | head -1)"; fi
    keys Escape
    keys / ; keys BSpace BSpace BSpace BSpace BSpace BSpace BSpace BSpace ; keys "$want" ; keys Enter
    if [ -n "$want" ] && [ "$(rows | wc -l)" -ge 1 ] && [ "$(rows | grep -vc " $want ")" = 0 ]; then
        pass tui_filter_app
    else
        fail tui_filter_app "filter '${want:-none}': $(rows | cut -c1-40,100- | tr '\n' '|')"
    fi
else
    skip tui_detail_app_as_ndpiReader "ndpiReader not installed"
    keys Escape
fi
keys / ; keys BSpace BSpace BSpace BSpace BSpace ; keys 2001:db8 ; keys Enter
keys '?'
if screen | grep -q 'time constants of 2, 10 and 40 s'; then pass tui_help; else fail tui_help "no help text"; fi
keys x

# Resize: nothing wraps, the table follows the width.
T resize-window -x 110 -y 30 2>/dev/null || T resize-pane -x 110 -y 30
sleep 0.6
w=$(screen | python3 -c 'import sys; print(max(len(l.rstrip("\n")) for l in sys.stdin))')
if [ "${w:-999}" -le 110 ] && screen | grep -q 'SRC:PORT' && [ "$(screen | wc -l)" -le 30 ] \
        && rows | grep -qE '^[^ ]+ → [^ ]+ \([A-Za-z_0-9]+\) +[0-9.]+ [kM]?B [█░]{10}'; then
    pass tui_resize
else
    fail tui_resize "widest line $w columns"
fi
T resize-window -x 150 -y 40 2>/dev/null || true
keys q
exit_clean tui_quit_restores_terminal

# ---- a file with many flows: first screen against tshark ------------------
if [ -r "$MANY" ]; then
    pane_start
    run "$NETMOON -r $MANY; echo NM_EXIT=\$?"
    if wait_for 'end of input' 20; then
        keys s
        n=$(rows | wc -l)
        # Oracle: tshark's frame bytes per address/port pair, for the rows
        # whose pair is one flow only in netmoon's own JSON (a pair reused
        # after an idle timeout is several flows, but one tshark pair).
        tshark_pairs "$MANY" > "$TMP/many.pairs"
        "$NETMOON" -r "$MANY" --no-tui > "$TMP/many.jsonl" 2>/dev/null
        rows > "$TMP/many.rows"
        verdict=$(python3 - "$TMP/many.pairs" "$TMP/many.jsonl" "$TMP/many.rows" <<'PY'
import json, re, sys, collections
tshark = {}
for line in open(sys.argv[1]):
    b, a, c = line.split()
    tshark[tuple(sorted((a, c)))] = int(b)
flows = collections.Counter()
for line in open(sys.argv[2]):
    r = json.loads(line)
    if r.get("type") == "flow" and "src_port" in r:
        flows[tuple(sorted(("%s:%d" % (r["src_ip"], r["src_port"]), "%s:%d" % (r["dst_ip"], r["dst_port"]))))] += 1
mult = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9}
prev, compared, bad = None, 0, []
for line in open(sys.argv[3]):
    f = line.split()
    m = re.search(r"\) +([0-9.]+) ([kMG]?)B ", line)
    shown = float(m.group(1)) * mult[m.group(2)]
    if prev is not None and shown > prev:
        bad.append("order %s after %s" % (shown, prev))
    prev = shown
    key = tuple(sorted((f[0].replace("[", "").replace("]", ""), f[2].replace("[", "").replace("]", ""))))
    if flows.get(key) == 1 and key in tshark:
        compared += 1
        if abs(tshark[key] - shown) > 0.05 * tshark[key] + 1:
            bad.append("%s: shown %d, tshark %d" % (" ".join(key), shown, tshark[key]))
print("ok" if compared >= 10 and not bad else "compared %d; %s" % (compared, "; ".join(bad[:5])))
PY
)
        if [ "$n" -eq 36 ] && [ "$verdict" = ok ]; then
            pass tui_many_flows_sorted
        else
            fail tui_many_flows_sorted "$n rows; $verdict"
        fi
        got=$(first_pair)
        keys NPage
        if [ "$(rows | wc -l)" -ge 1 ] && [ "$(first_pair)" != "$got" ]; then pass tui_many_flows_scroll
        else fail tui_many_flows_scroll "page down did not scroll"; fi
    else
        fail tui_many_flows_sorted "no 'end of input'"
    fi
    keys q
    exit_clean tui_many_flows_quit
else
    skip tui_many_flows_sorted "$MANY not found"
fi

# ---- a long capture at 1x: snapshots while replaying; SIGTERM ------------
if [ -r "$LONG" ]; then
    pane_start
    run "$NETMOON -r $LONG --realtime -d 0.5; echo NM_EXIT=\$?"
    deadline=$((SECONDS + 15))
    until [ "$(rows | wc -l)" -ge 3 ] || [ $SECONDS -gt $deadline ]; do sleep 0.2; done
    if screen | grep -q 'active flows [1-9]' && ! screen | grep -q 'end of input' && [ "$(rows | wc -l)" -ge 3 ]; then
        pass tui_snapshots_during_replay
    else
        fail tui_snapshots_during_replay "$(screen | sed -n 1,5p | tr '\n' '|')"
    fi
    keys p
    frozen=$(rows | awk '{print $NF}' | tr '\n' ' ')
    sleep 2.5
    if screen | head -1 | grep -q PAUSED && [ "$(rows | awk '{print $NF}' | tr '\n' ' ')" = "$frozen" ]; then
        pass tui_pause_freezes
    else
        fail tui_pause_freezes "rows changed while paused"
    fi
    pid=$(pgrep -n -f "^$NETMOON -r $LONG" || true)
    if [ -n "$pid" ]; then kill -TERM "$pid"; fi
    exit_clean tui_sigterm_restores_terminal
else
    skip tui_snapshots_during_replay "$LONG not found"
fi

# ---- names: SNI, and a name learned from DNS answers (names.pcap) ----------
# The oracle is tshark: the SNI of the TLS flows, and the question name of
# the DNS answer holding the address the ping went to (no SNI or Host there).
NAMES=$PWD/tests/data/lab/names.pcap
sni=$(tshark -r "$NAMES" -Y 'tls.handshake.type == 1' -T fields -e tls.handshake.extensions_server_name 2>/dev/null | head -1)
ping_dst=$(tshark -r "$NAMES" -Y 'icmp.type == 8' -T fields -e ip.dst 2>/dev/null | head -1)
learned=$(tshark -r "$NAMES" -Y "dns.a == $ping_dst" -T fields -e dns.qry.name 2>/dev/null | head -1)
pane_start
run "$NETMOON -r $NAMES; echo NM_EXIT=\$?"
if [ -n "$sni" ] && [ -n "$learned" ] && wait_for 'end of input' 10; then
    cut9() { printf '%s' "${1:0:9}"; }
    icmp_row=$(rows | grep -F "(ICMP)" | head -1)
    tls_row=$(rows | grep -F ":443 (" | head -1)
    if [[ $icmp_row == *"$(cut9 "$learned")…"* && $tls_row == *"$(cut9 "$sni")…"* ]] \
            && screen | head -1 | grep -qE 'names: on \([1-9][0-9]* learned\)'; then
        pass tui_names_sni_and_learned
    else
        fail tui_names_sni_and_learned "sni=$sni learned=$learned; rows: $icmp_row | $tls_row"
    fi
    keys n
    icmp_row=$(rows | grep -F "(ICMP)" | head -1)
    if [[ $icmp_row != *"$(cut9 "$learned")"* ]] && ! screen | head -1 | grep -q 'names: on'; then
        pass tui_names_toggle
    else
        fail tui_names_toggle "after n: $icmp_row"
    fi
    keys q
    wait_for 'NM_EXIT=' 10
else
    skip tui_names_sni_and_learned "tshark found no SNI/DNS answer in $NAMES, or no end of input"
fi

# ---- ASCII fallback, --json=PATH alongside --------------------------------
pane_start C
run "$NETMOON -r $MIXED --json=$TMP/flows.jsonl; echo NM_EXIT=\$?"
if wait_for 'end of input' 10 && rows | grep -qE '^198\.18\.0\.1:[0-9]+ -> 198\.18\.0\.2:80 \([A-Z_]+\) +[0-9.]+ [kM]?B [#.]{10} ' \
        && ! screen | grep -q '[█░→]'; then
    pass tui_ascii_fallback
else
    fail tui_ascii_fallback "$(rows | head -2 | tr '\n' '|')"
fi
keys q
wait_for 'NM_EXIT=' 10
want=$("$NETMOON" -r "$MIXED" --json 2>/dev/null | grep -c '"type":"flow"')
got=$(grep -c '"type":"flow"' "$TMP/flows.jsonl" 2>/dev/null || echo 0)
if [ "$want" -gt 0 ] && [ "$got" = "$want" ]; then pass tui_json_path_alongside
else fail tui_json_path_alongside "$got flow records in the file, $want without the view"; fi

# ---- no view when stdout is not a terminal, or with --no-tui -------------
run "clear; $NETMOON -r $MIXED | grep -c '\"type\":\"flow\"'; $NETMOON -r $MIXED --no-tui | grep -c '\"type\":\"flow\"'; echo NM_DONE_\$?"
if wait_for 'NM_DONE_[0-9]' 10 && [ "$(screen | grep -cx "$want")" = 2 ]; then pass tui_headless_when_piped
else fail tui_headless_when_piped "$(screen | head -4 | tr '\n' '|')"; fi

# ---- sanitizer reports (the ASan+UBSan build) ------------------------------
if ls "$TMP"/asan* "$TMP"/ubsan* >/dev/null 2>&1; then
    fail tui_sanitizers "$(cat "$TMP"/asan* "$TMP"/ubsan* 2>/dev/null | head -20)"
elif [ "${NETMOON_VARIANT:-}" = san ]; then
    pass tui_sanitizers
fi
