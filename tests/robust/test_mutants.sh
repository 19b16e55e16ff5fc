#!/usr/bin/env bash
# tests/robust/test_mutants.sh: damaged copies of real captures (issue 7,
# "hundreds of mutated copies, no crash and no hang").
#
# Every 4th file of the shared corpus (tcpdump and suricata-verify test
# pcaps; every 8th in the sanitizer build, ten times slower) gets two mutants, made deterministically from a seed so a failure
# can be reproduced: one with random bytes flipped past the file header (in
# packet data and in record headers alike), one with a record length field
# set to an absurd or off-by-some value and the file cut short.  netmoon
# reads each one, with the pipelined and the one-thread path, under a
# timeout.  It must end on its own, with exit status 0 (the damage was in
# packet bytes) or 1 (damaged file, reported), never a signal, a sanitizer
# report or a hang.
set -u
cd "$(dirname "$0")/../.."
NETMOON=${NETMOON:-./netmoon}
PCAPS=${SHARED_PCAPS:-../shared/pcaps}
SEED=${MUTANT_SEED:-20261130}
EVERY=${MUTANT_EVERY:-4}
case $NETMOON in *san*) EVERY=${MUTANT_EVERY:-8} ;; esac
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS mutants/$1"; }
fail() { echo "FAIL mutants/$1: $2"; }
[ -d "$PCAPS" ] || { echo "SKIP mutants: $PCAPS not found"; exit 0; }

find "$PCAPS" -type f \( -name '*.pcap' -o -name '*.pcapng' \) -size -2M | sort |
    awk -v every="$EVERY" 'NR % every == 0' >"$tmp/list"
python3 - "$tmp/list" "$tmp" "$SEED" <<'PY'
import os, random, struct, sys
listing, out, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
for n, path in enumerate(open(listing).read().split("\n")):
    if not path:
        continue
    data = bytearray(open(path, "rb").read())
    rng = random.Random(seed * 100003 + n)
    flips = bytearray(data)
    for _ in range(max(1, len(flips) // 200)):
        if len(flips) > 24:
            flips[rng.randrange(24, len(flips))] = rng.randrange(256)
    cut = bytearray(data)
    # A classic pcap's first record header is at 24; pcapng's first block
    # length at 4.  Either way write a bad length there, then cut the file.
    at = 24 + 8 if cut[:4] in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4",
                                 b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d") else 4
    if len(cut) >= at + 4:
        bad = rng.choice([0, 1, 0xFFFFFFFF, 0x7FFFFFFF, 65536 * 4 + 3,
                          struct.unpack_from("<I", cut, at)[0] + rng.randrange(1, 64)])
        struct.pack_into("<I", cut, at, bad & 0xFFFFFFFF)
    del cut[max(at + 4, len(cut) * rng.randrange(30, 95) // 100):]
    base = os.path.join(out, "m%04d" % n)
    open(base + "-flip.pcap", "wb").write(flips)
    open(base + "-cut.pcap", "wb").write(cut)
    open(base + ".src", "w").write(path + "\n")
PY
n=$(ls "$tmp"/m*.pcap 2>/dev/null | wc -l)
[ "$n" -ge 150 ] || { fail corpus "only $n mutants made from $(wc -l <"$tmp/list") files"; exit 0; }

bad=0; statuses=""
for f in "$tmp"/m*.pcap; do
    for t in 1 2; do
        timeout -s KILL 60 "$NETMOON" -T "$t" -r "$f" --json >/dev/null 2>"$tmp/err"
        rc=$?
        if [ "$rc" -gt 1 ] || grep -qE "AddressSanitizer|runtime error|LeakSanitizer" "$tmp/err"; then
            bad=$((bad + 1))
            src=$(cat "${f%-*}.src")
            [ "$bad" -le 5 ] && fail "$(basename "$f")-T$t" \
                "exit $rc (137: hung, killed) on a mutant of $src (MUTANT_SEED=$SEED): $(head -c 300 "$tmp/err")"
        fi
        statuses="$statuses $rc"
    done
done
ones=$(echo "$statuses" | tr ' ' '\n' | grep -c '^1$')
echo "  $n mutants of $(wc -l <"$tmp/list") shared pcaps, 2 paths each: $ones runs reported damage (exit 1)"
[ "$bad" -eq 0 ] && pass "no-crash-no-hang-$n-files" || fail no-crash-no-hang "$bad runs crashed or hung"
[ "$ones" -gt 0 ] && pass damage-reported || fail damage-reported "no mutant was reported as damaged"
