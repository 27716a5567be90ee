#!/usr/bin/env bash
# bench/profile.sh -- where a 100-byte request's work goes: mod_revproxy
# next to mod_proxy_http (ProxyPass), same httpd config as bench/run.sh,
# same nginx backend, on 127.0.0.1 only.
#
#   bench/profile.sh                 (after `make -f Makefile.apxs all`)
#
# 1. callgrind: each front as one process (httpd -X) under
#    valgrind --tool=callgrind, counting only inside
#    ap_run_process_connection (reading, handling and writing requests;
#    not startup, not the listener), while bench/reqloop.pl sends
#    BENCH_CG_REQUESTS (2000) keep-alive GETs of /100.bin over 4
#    connections.  bench/callgrind_top.pl prints instructions per request,
#    the top functions, our modules' functions and calls per request of
#    allocation, table, regex and socket functions.
# 2. strace -c -f on every thread of the front's child during
#    BENCH_STRACE_REQUESTS (1000) GETs: system calls per request.
# 3. perf record (cpu-clock, call graphs) on the front's child during a
#    BENCH_PERF_SECONDS (5) wrk run, when perf works here: top symbols.
#
# Output: stdout and bench/last-profile.txt (BENCH_PROFILE_RESULTS); raw
# files (callgrind.out.*, strace and perf reports) in BENCH_PROFILE_DIR
# (/tmp/revproxy-profile).  Ports: BENCH_PORT_BASE (7000) + 21 backend,
# +22.. fronts.  Fronts: BENCH_PROFILE_FRONTS (revproxy proxypass
# proxypassmatch; nginx gets strace and perf only).
# Every process started here is stopped on exit.
set -euo pipefail

cd "$(dirname "$0")/.."
TOP=$PWD

BASE=${BENCH_PORT_BASE:-7000}
FRONTS=${BENCH_PROFILE_FRONTS:-revproxy proxypass proxypassmatch}
CG_REQUESTS=${BENCH_CG_REQUESTS:-2000}
ST_REQUESTS=${BENCH_STRACE_REQUESTS:-1000}
PERF_SECONDS=${BENCH_PERF_SECONDS:-5}
OUT=${BENCH_PROFILE_DIR:-/tmp/revproxy-profile}
RESULTS=${BENCH_PROFILE_RESULTS:-$TOP/bench/last-profile.txt}
PIN=${BENCH_PIN:-1}
CPU_FRONT=${BENCH_CPU_FRONT:-0}
CPU_LOAD=${BENCH_CPU_LOAD:-1}

declare -A PORT=(
    [backend]=$((BASE + 21))
    [revproxy]=$((BASE + 22))
    [proxypass]=$((BASE + 23))
    [proxypassmatch]=$((BASE + 24))
    [nginx]=$((BASE + 25))
)

# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"

for t in valgrind callgrind_annotate strace; do
    command -v "$t" >/dev/null 2>&1 || die "$t is missing (build/deps.sh bench)"
done
mkdir -p "$OUT"
chmod 1777 "$OUT"      # httpd -X as root writes as www-data

start_backend

report() {
    echo "mod_revproxy profile -- $(date -u '+%Y-%m-%d %H:%M UTC'), GET /100.bin through each front"
    echo "tree: $TOP ($(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo 'no git'))"
    echo "fronts: $FRONTS; raw files in $OUT"
    echo
}
report > "$OUT/report.txt"

# ---- 1. callgrind -------------------------------------------------------------
for f in $FRONTS; do
    [ "$f" = nginx ] && continue
    log "callgrind: $f, $CG_REQUESTS requests"
    cg=$OUT/callgrind.out.$f
    rm -f "$cg"
    FRONT_MODE=-X FRONT_WAIT=600 start_front "$f" "${PORT[$f]}" "${PORT[backend]}" cg \
        "${ON_FRONT[@]}" valgrind --tool=callgrind --callgrind-out-file="$cg" \
        --collect-atstart=no --toggle-collect=ap_run_process_connection --vgdb=no
    # valgrind made the file as root; it writes it at exit as httpd's user.
    if [ "$(id -u)" -eq 0 ] && [ -e "$cg" ]; then chown www-data "$cg"; fi
    # One request first: the backend connection and the pools exist.
    "${ON_LOAD[@]}" perl "$TOP/bench/reqloop.pl" "${PORT[$f]}" /100.bin 20 4 >/dev/null
    "${ON_LOAD[@]}" perl "$TOP/bench/reqloop.pl" "${PORT[$f]}" /100.bin "$CG_REQUESTS" 4 \
        > "$OUT/reqloop.$f.txt"
    pid=${FRONT_PID[$f]}
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$pid"
    forget_pid "$pid"
    [ -s "$cg" ] || die "callgrind wrote no $cg (see ${FRONT_DIR[$f]}/stdout.log)"
    {
        echo "== callgrind: ${LABEL[$f]:-$f} ($(cat "$OUT/reqloop.$f.txt"); warm-up of 20 counted too)"
        perl "$TOP/bench/callgrind_top.pl" "$cg" $((CG_REQUESTS + 20)) 30
        echo
    } >> "$OUT/report.txt"
done

# ---- 2. strace -c -------------------------------------------------------------
for f in $FRONTS; do
    log "strace: $f, $ST_REQUESTS requests"
    start_front "$f" "${PORT[$f]}" "${PORT[backend]}" st
    perl "$TOP/bench/reqloop.pl" "${PORT[$f]}" /100.bin 20 4 >/dev/null
    parent=${FRONT_PID[$f]}
    child=$(pgrep -P "$parent" | head -n 1 || true)
    [ -n "$child" ] || die "$f: no child process"
    tids=$(ls "/proc/$child/task" | paste -sd, -)
    strace -c -f -o "$OUT/strace.$f.txt" -p "$tids" 2>/dev/null &
    st_pid=$!
    PIDS+=("$st_pid")
    sleep 1
    "${ON_LOAD[@]}" perl "$TOP/bench/reqloop.pl" "${PORT[$f]}" /100.bin "$ST_REQUESTS" 4 \
        > "$OUT/reqloop-st.$f.txt"
    sleep 0.5
    kill -INT "$st_pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$st_pid" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$st_pid"
    forget_pid "$st_pid"
    stop_front "$f"
    {
        echo "== strace -c -f: ${LABEL[$f]:-$f}, system calls per request ($(cat "$OUT/reqloop-st.$f.txt"))"
        awk -v n="$ST_REQUESTS" '
            $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
                name = $NF; calls = $4; errs = (NF == 6) ? $5 : 0;
                printf "  %-16s %7.2f calls/req %7.2f errors/req\n", name, calls / n, errs / n
                total += calls }
            END { printf "  %-16s %7.2f calls/req\n", "total", total / n }' "$OUT/strace.$f.txt"
        echo
    } >> "$OUT/report.txt"
done

# ---- 2b. one request's system calls, in order (strace -f -tt) ------------------
for f in $FRONTS; do
    log "strace sequence: $f"
    start_front "$f" "${PORT[$f]}" "${PORT[backend]}" seq
    perl "$TOP/bench/reqloop.pl" "${PORT[$f]}" /100.bin 20 1 >/dev/null
    child=$(pgrep -P "${FRONT_PID[$f]}" | head -n 1 || true)
    [ -n "$child" ] || die "$f: no child process"
    strace -f -tt -s 40 -o "$OUT/strace-seq.$f.txt" \
        -p "$(ls "/proc/$child/task" | paste -sd, -)" 2>/dev/null &
    st_pid=$!
    PIDS+=("$st_pid")
    sleep 1
    # Three requests on one connection; the connection stays open while
    # strace stops, so the trace ends with the third response.
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => shift) or exit 1;
        for (1 .. 3) {
            print $s "GET /100.bin HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: seq\r\n\r\n";
            my $b = ""; sysread($s, $b, 65536, length $b) while $b !~ /\r\n\r\n.{100}/s;
            select(undef, undef, undef, 0.2);
        }
        kill "INT", shift; sleep 1' "${PORT[$f]}" "$st_pid"
    for i in $(seq 1 50); do kill -0 "$st_pid" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$st_pid"
    forget_pid "$st_pid"
    stop_front "$f"
    {
        echo "== the third request's system calls through ${LABEL[$f]:-$f} (strace -f; futex and epoll_wait left out)"
        awk '/read\(.*"GET \/100.bin/ { n++ } n == 3' "$OUT/strace-seq.$f.txt" \
            | grep -v -e futex -e epoll_wait -e 'resumed>' -e '+++' -e ' SIG' \
            | sed -E 's/^[0-9]+ +[0-9:.]+ //' | cut -c1-150 | sed 's/^/  /' \
            || true     # an empty selection is a finding, not a failure
        echo
    } >> "$OUT/report.txt"
done

# ---- 3. perf --------------------------------------------------------------------
if command -v perf >/dev/null 2>&1 \
   && perf record -e cpu-clock -o "$OUT/perf.check" -- true >/dev/null 2>&1; then
    for f in $FRONTS; do
        log "perf: $f, ${PERF_SECONDS}s of wrk -c32"
        start_front "$f" "${PORT[$f]}" "${PORT[backend]}" perf
        target=$(pgrep -P "${FRONT_PID[$f]}" | head -n 1 || true)   # the child / worker
        perf record -e cpu-clock -F 2999 -g -p "$target" -o "$OUT/perf.$f.data" \
            -- sleep $((PERF_SECONDS + 1)) >/dev/null 2>&1 &
        perf_pid=$!
        PIDS+=("$perf_pid")
        sleep 0.5
        timeout $((PERF_SECONDS + 20)) "${ON_LOAD[@]}" wrk -t 2 -c 32 -d "${PERF_SECONDS}s" \
            "http://127.0.0.1:${PORT[$f]}/100.bin" > "$OUT/perf-wrk.$f.txt" 2>&1 || true
        wait "$perf_pid" 2>/dev/null || true
        forget_pid "$perf_pid"
        stop_front "$f"
        {
            echo "== perf (cpu-clock samples of the child, wrk -c32 ${PERF_SECONDS}s, $(awk '/Requests\/sec/ {print $2 " req/s"}' "$OUT/perf-wrk.$f.txt")): top self"
            perf report -i "$OUT/perf.$f.data" --no-children --sort dso,symbol -g none \
                --percent-limit 0.4 --stdio > "$OUT/perf-report.$f.txt" 2>/dev/null || true
            grep '%' "$OUT/perf-report.$f.txt" | grep -v '^#' \
                | sed -E 's/([[:space:]]+-)+[[:space:]]*$//' | sed -n '1,30p'
            echo "  -- by object:"
            perf report -i "$OUT/perf.$f.data" --no-children --sort dso -g none --stdio \
                > "$OUT/perf-dso.$f.txt" 2>/dev/null || true
            grep '%' "$OUT/perf-dso.$f.txt" | grep -v '^#' | sed -n '1,10p'
            echo
        } >> "$OUT/report.txt"
    done
else
    echo "== perf: skipped (perf record does not work here)" >> "$OUT/report.txt"
fi

cp "$OUT/report.txt" "$RESULTS"
cat "$RESULTS"
log "report written to $RESULTS"
