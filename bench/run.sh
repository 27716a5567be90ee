#!/usr/bin/env bash
# bench/run.sh -- mod_revproxy side by side with mod_proxy_http and nginx,
# on 127.0.0.1 only (issue 7).  `make -f Makefile.apxs bench` runs it.
#
# One run: install what it needs (build/deps.sh bench), build the modules
# (make -f Makefile.apxs all), start a static nginx backend (100 B, 10 KiB,
# 1 MiB files and a sparse 1 GiB file) and an SSE backend
# (bench/sse_backend.pl), then measure four fronts, each on its own port
# with its own config in a temporary directory:
#
#   revproxy        httpd + mod_revproxy   RevProxyPass "^/(.*)$" "http://B/$1"
#   group           httpd + mod_revproxy   the same to backend://front/$1, a
#                                          group of 3 members, leastbusy
#   proxypass       httpd + mod_proxy_http ProxyPass / http://B/
#   proxypassmatch  httpd + mod_proxy_http ProxyPassMatch "^/(.*)$" "http://B/$1"
#   nginx           nginx proxy_pass, upstream keepalive
#
# All httpd fronts: event MPM, one child with 64 threads, LogLevel warn, no
# access log, unlimited keep-alive requests.  Measured: requests/s and p99
# latency with wrk at each size and concurrency (fronts interleaved, a
# warm-up before each run); time and peak child RSS for one 1 GiB response;
# median and max delay of server-sent events; the cost of an X-Reproxy-Url
# response against proxying the same body (when mod_reproxy_filter
# implements AllowReproxy).  The table goes to stdout and to
# bench/last-results.txt.  Every process started here is stopped on exit.
#
# Environment (defaults in brackets):
#   BENCH_DURATION   seconds per measured wrk run [5]
#   BENCH_WARMUP     seconds of warm-up before each run [1]
#   BENCH_SIZES      bodies: 100 10k 1m [100 10k 1m]
#   BENCH_CONNS      wrk connections [8 32]
#   BENCH_FRONTS     [revproxy group proxypass proxypassmatch nginx, and
#                    baseline when BENCH_BASELINE is set]
#   BENCH_BASELINE   a directory holding another build's mod_revproxy.so
#                    (e.g. .libs of a `git worktree` of an older commit): the
#                    front "baseline" runs it with the same config, so that
#                    two trees are measured in one run ("x" columns compare)
#   BENCH_PIN        1: fronts on CPU $BENCH_CPU_FRONT [0], backends, wrk,
#                    curl and the SSE client on CPU $BENCH_CPU_LOAD [1]; 0: no
#                    pinning [1]
#   BENCH_ROUNDS     rounds of the whole wrk matrix, fronts interleaved in
#                    each; the table shows medians [3]
#   BENCH_SSE_EVENTS events per SSE measurement, 100 ms apart [30]
#   BENCH_PORT_BASE  first port [7000]; backend +1, SSE backend +2, fronts
#                    +10..+16 (revproxy, proxypass, proxypassmatch, nginx,
#                    reproxy, baseline, group); each also BENCH_PORT_<NAME>, e.g.
#                    BENCH_PORT_BACKEND, BENCH_PORT_REVPROXY
#   BENCH_RESULTS    where the table goes [bench/last-results.txt]
#   BENCH_NO_DEPS=1  skip build/deps.sh;  BENCH_NO_BUILD=1  skip the build
#   BENCH_KEEP=1     keep the temporary directory (configs, error logs)
set -euo pipefail

cd "$(dirname "$0")/.."
TOP=$PWD

DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
SIZES=${BENCH_SIZES:-100 10k 1m}
CONNS=${BENCH_CONNS:-8 32}
BASELINE=${BENCH_BASELINE:-}
if [ -n "$BASELINE" ]; then
    BASELINE=$(cd "$BASELINE" && pwd)
    [ -f "$BASELINE/mod_revproxy.so" ] || { echo "bench: no $BASELINE/mod_revproxy.so" >&2; exit 1; }
    FRONTS=${BENCH_FRONTS:-revproxy baseline group proxypass proxypassmatch nginx}
else
    FRONTS=${BENCH_FRONTS:-revproxy group proxypass proxypassmatch nginx}
fi
PIN=${BENCH_PIN:-1}
CPU_FRONT=${BENCH_CPU_FRONT:-0}
CPU_LOAD=${BENCH_CPU_LOAD:-1}
SSE_EVENTS=${BENCH_SSE_EVENTS:-30}
ROUNDS=${BENCH_ROUNDS:-3}
BASE=${BENCH_PORT_BASE:-7000}
RESULTS=${BENCH_RESULTS:-$TOP/bench/last-results.txt}

declare -A PORT=(
    [backend]=${BENCH_PORT_BACKEND:-$((BASE + 1))}
    [sse]=${BENCH_PORT_SSE:-$((BASE + 2))}
    [revproxy]=${BENCH_PORT_REVPROXY:-$((BASE + 10))}
    [proxypass]=${BENCH_PORT_PROXYPASS:-$((BASE + 11))}
    [proxypassmatch]=${BENCH_PORT_PROXYPASSMATCH:-$((BASE + 12))}
    [nginx]=${BENCH_PORT_NGINX:-$((BASE + 13))}
    [reproxy]=${BENCH_PORT_REPROXY:-$((BASE + 14))}
    [baseline]=${BENCH_PORT_BASELINE:-$((BASE + 15))}
    [group]=${BENCH_PORT_GROUP:-$((BASE + 16))}
)
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"

declare -A BYTES=([100]=100 [10k]=10240 [1m]=1048576)

# measure URL CONNS FRONT_PID -> "rps p99_ms errors cpu_us_per_request":
# a warm-up, then one wrk run, with the front's CPU time around it.
measure() {
    local url=$1 c=$2 pid=$3 t0 t1 rps p99 errs reqs cpu=-
    [ "$WARMUP" -gt 0 ] && wrk_run "$url" "$c" "$WARMUP" >/dev/null
    t0=$(cpu_ticks "$pid")
    read -r rps p99 errs reqs <<<"$(wrk_run "$url" "$c" "$DURATION")"
    t1=$(cpu_ticks "$pid")
    if [ "$reqs" != - ] && [ "${reqs:-0}" -gt 0 ]; then
        cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$reqs" \
              'BEGIN {printf "%.1f", d * 1e6 / hz / n}')
    fi
    echo "$rps $p99 $errs $cpu"
}

# medians NKEYS FILE: rows with the same first NKEYS columns become one,
# with the median of each later column (the errors column, NKEYS+3, summed).
medians() {
    awk -F'\t' -v nk="$1" '
        function median(list,   a, n, i, j, t) {
            n = split(list, a, " ");
            if (n == 0) return "-";
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        {
            k = $1; for (i = 2; i <= nk; i++) k = k "\t" $i;
            if (!(k in seen)) { seen[k] = 1; order[++n] = k }
            if (NF > nf) nf = NF;
            for (i = nk + 1; i <= NF; i++) {
                if (i == nk + 3) { e[k] += ($i == "-") ? 0 : $i; continue }
                if ($i != "-" && $i != "") L[k, i] = L[k, i] " " $i
            }
        }
        END {
            for (r = 1; r <= n; r++) {
                k = order[r]; line = k;
                for (i = nk + 1; i <= nf; i++) line = line "\t" ((i == nk + 3) ? e[k] + 0 : median(L[k, i]));
                print line
            }
        }' "$2"
}

# ---- run ---------------------------------------------------------------------
start_backend
start_sse_backend
for f in $FRONTS; do
    start_front "$f" "${PORT[$f]}" "${PORT[backend]}" main
done

declare -A BROKEN
for f in $FRONTS; do
    for s in $SIZES; do
        if ! why=$(check_get "${PORT[$f]}" "/$s.bin" "${BYTES[$s]}"); then
            log "$f: GET /$s.bin: $why; not measured"
            BROKEN[$f]="GET /$s.bin $why"
        fi
    done
done

# Fronts interleaved within each size and concurrency; with ROUNDS > 1 the
# whole matrix runs again and the table shows medians.
RAW=$TMP/throughput-raw.tsv
RES=$TMP/throughput.tsv
: > "$RAW"
total=$(( ROUNDS * $(wc -w <<<"$SIZES") * $(wc -w <<<"$CONNS") * $(wc -w <<<"$FRONTS") ))
n=0
for _ in $(seq 1 "$ROUNDS"); do
    for s in $SIZES; do
        for c in $CONNS; do
            for f in $FRONTS; do
                n=$((n + 1))
                [ -z "${BROKEN[$f]:-}" ] || continue
                url="http://127.0.0.1:${PORT[$f]}/$s.bin"
                log "[$n/$total] $f $s c=$c (${WARMUP}s warm-up + ${DURATION}s)"
                read -r rps p99 errs cpu <<<"$(measure "$url" "$c" "${FRONT_PID[$f]}")"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$f" "$s" "$c" "$rps" "$p99" \
                    "$errs" "$cpu" >> "$RAW"
            done
        done
    done
done
# RES: front size conns rps p99 errors cpu_us_per_request (medians)
medians 3 "$RAW" > "$RES"

# One 1 GiB response through each front (and straight from the backend).
BIG=$TMP/big.tsv
: > "$BIG"
for f in direct $FRONTS; do
    if [ "$f" = direct ]; then port=${PORT[backend]}; ppid=$BACKEND_PID
    else port=${PORT[$f]}; ppid=${FRONT_PID[$f]}; fi
    log "1 GiB through $f"
    "${ON_LOAD[@]}" perl "$TOP/bench/rss_peak.pl" "$ppid" 50 > "$TMP/rss-$f.txt" &
    rss_pid=$!
    PIDS+=("$rss_pid")
    sleep 0.3
    got=$("${ON_LOAD[@]}" curl -s -o /dev/null -m 300 \
          -w '%{http_code} %{size_download} %{time_total}' \
          "http://127.0.0.1:$port/1g.bin" || true)
    sleep 0.2
    stop_pid "$rss_pid"
    forget_pid "$rss_pid"
    read -r code size secs <<<"$got"
    rss=$(cat "$TMP/rss-$f.txt")
    base=$(sed -n 's/.*baseline_kb=\([0-9]*\).*/\1/p' <<<"$rss")
    peak=$(sed -n 's/.*peak_kb=\([0-9]*\).*/\1/p' <<<"$rss")
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$f" "${code:--}" "${size:--}" "${secs:--}" \
        "${base:--}" "${peak:--}" >> "$BIG"
done

# Server-sent events: the fronts again, now in front of the SSE backend.
for f in $FRONTS; do stop_front "$f"; done
SSE=$TMP/sse.tsv
: > "$SSE"
for f in direct $FRONTS; do
    if [ "$f" = direct ]; then port=${PORT[sse]}
    else
        start_front "$f" "${PORT[$f]}" "${PORT[sse]}" sse
        port=${PORT[$f]}
    fi
    log "SSE through $f ($SSE_EVENTS events)"
    out=$("${ON_LOAD[@]}" perl "$TOP/bench/sse_client.pl" "$port" \
          "/events?n=$SSE_EVENTS" $((SSE_EVENTS / 10 + 20)) || true)
    ev=$(sed -n 's/.*events=\([0-9]*\).*/\1/p' <<<"$out")
    med=$(sed -n 's/.*median_ms=\([0-9.-]*\).*/\1/p' <<<"$out")
    max=$(sed -n 's/.*max_ms=\([0-9.-]*\).*/\1/p' <<<"$out")
    printf '%s\t%s\t%s\t%s\n' "$f" "${ev:-0}" "${med:--}" "${max:--}" >> "$SSE"
    [ "$f" = direct ] || stop_front "$f"
done

# Reproxy: X-Reproxy-Url to the 1 MiB file vs proxying it, same front.
REPROXY_NOTE=
REP=$TMP/reproxy.tsv
: > "$REP"
dir=$TMP/front-reproxy-main
if ! grep -q 'AllowReproxy' "$TOP/mod_reproxy_filter.c" 2>/dev/null; then
    REPROXY_NOTE="reproxy: skipped (module not ready)"
else
    write_front reproxy "$dir" "${PORT[reproxy]}" "${PORT[backend]}"
    if ! config_ok reproxy "$dir"; then
        REPROXY_NOTE="reproxy: skipped (module not ready: config test: $(tail -n 1 "$dir/configtest.log"))"
    else
        start_front reproxy "${PORT[reproxy]}" "${PORT[backend]}" main
        hdr=$(curl -s -D - -o /dev/null -m 30 "http://127.0.0.1:${PORT[reproxy]}/reproxy-1m" || true)
        if ! why=$(check_get "${PORT[reproxy]}" /reproxy-1m 1048576); then
            REPROXY_NOTE="reproxy: skipped (module not ready: /reproxy-1m $why)"
        elif grep -qi '^X-Reproxy-Url:' <<<"$hdr"; then
            REPROXY_NOTE="reproxy: skipped (module not ready: X-Reproxy-Url reached the client)"
        else
            for _ in $(seq 1 "$ROUNDS"); do
                for c in $CONNS; do
                    for path in /1m.bin /reproxy-1m; do
                        url="http://127.0.0.1:${PORT[reproxy]}$path"
                        log "reproxy front $path c=$c"
                        read -r rps p99 errs cpu <<<"$(measure "$url" "$c" "${FRONT_PID[reproxy]}")"
                        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$path" "$c" "$rps" "$p99" "$errs" \
                            "$cpu" >> "$REP.raw"
                    done
                done
            done
            medians 2 "$REP.raw" > "$REP"
        fi
        stop_front reproxy
    fi
fi

# ---- report ------------------------------------------------------------------
report() {
    local s c f
    echo "mod_revproxy bench -- $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "tree: $TOP ($(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo 'no git')$(git -C "$TOP" diff --quiet HEAD 2>/dev/null || echo ', local changes'))"
    echo "$("$HTTPD" -v | sed -n 's/^Server version: //p'), $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $(wrk -v 2>&1 | awk 'NR == 1 {print $1, $2}'), $(nproc) CPUs, load average at start $LOADAVG"
    echo "httpd fronts: event MPM, 1 child x 64 threads, LogLevel warn, no access log; nginx: 1 worker"
    echo "wrk: ${DURATION}s per run after ${WARMUP}s warm-up, keep-alive, -t1 below 16 connections, -t2 from 16; pinning: $PINNING"
    echo
    echo "== throughput: requests/s, p99 latency, CPU time of the front's processes per request"
    echo "   x = revproxy / peer: req/s above 1, p99 and CPU below 1 favour mod_revproxy"
    [ "$ROUNDS" -gt 1 ] && echo "   medians of $ROUNDS rounds"
    printf '%-5s %5s  %-21s %9s %8s %6s %8s  %7s %6s %6s\n' size conns front 'req/s' 'p99 ms' errors 'cpu us' 'x req/s' 'x p99' 'x cpu'
    for s in $SIZES; do
        for c in $CONNS; do
            local rr=- rp=- rc=-
            read -r rr rp rc < <(awk -F'\t' -v s="$s" -v c="$c" \
                '$1 == "revproxy" && $2 == s && $3 == c {print $4, $5, $7}' "$RES") || true
            for f in $FRONTS; do
                awk -F'\t' -v s="$s" -v c="$c" -v f="$f" -v rr="${rr:--}" -v rp="${rp:--}" \
                    -v rc="${rc:--}" -v label="${LABEL[$f]}" '
                function x(a, b) { return (f != "revproxy" && a != "-" && b != "-" && b > 0) ? sprintf("%.2f", a / b) : "-" }
                $1 == f && $2 == s && $3 == c {
                    rps = ($4 == "-") ? "-" : sprintf("%.0f", $4);
                    p99 = ($5 == "-") ? "-" : sprintf("%.2f", $5);
                    cpu = ($7 == "-") ? "-" : sprintf("%.1f", $7);
                    printf "%-5s %5s  %-21s %9s %8s %6s %8s  %7s %6s %6s\n", s, c, label, rps, p99, $6, cpu,
                           x(rr, $4), x(rp, $5), x(rc, $7)
                }' "$RES"
            done
        done
    done
    for f in "${!BROKEN[@]}"; do echo "not measured: ${LABEL[$f]}: ${BROKEN[$f]}"; done
    echo
    echo "== one 1 GiB response (curl -o /dev/null): time, and RSS of the server's children (sampled every 50 ms)"
    printf '%-21s %6s %11s %8s %8s %11s %10s %11s\n' front status bytes seconds 'MiB/s' 'base MiB' 'peak MiB' 'growth MiB'
    awk -F'\t' -v labels="$(for f in direct $FRONTS; do printf '%s=%s;' "$f" "${LABEL[$f]}"; done)" '
        BEGIN { n = split(labels, a, ";"); for (i = 1; i <= n; i++) { split(a[i], kv, "="); L[kv[1]] = kv[2] } }
        {
            mibs = ($4 != "-" && $4 > 0 && $3 != "-") ? sprintf("%.0f", $3 / 1048576 / $4) : "-";
            b = ($5 != "") ? sprintf("%.1f", $5 / 1024) : "-";
            p = ($6 != "") ? sprintf("%.1f", $6 / 1024) : "-";
            g = ($5 != "" && $6 != "") ? sprintf("%.1f", ($6 - $5) / 1024) : "-";
            printf "%-21s %6s %11s %8s %8s %11s %10s %11s\n", L[$1], $2, $3, $4, mibs, b, p, g
        }' "$BIG"
    echo
    echo "== server-sent events: $SSE_EVENTS events 100 ms apart; delay = arrival - timestamp written by the backend"
    printf '%-21s %7s %10s %10s\n' front events 'median ms' 'max ms'
    while IFS=$'\t' read -r f ev med max; do
        printf '%-21s %7s %10s %10s\n' "${LABEL[$f]}" "$ev" "$med" "$max"
    done < "$SSE"
    echo
    echo "== reproxy: X-Reproxy-Url to the 1 MiB file vs proxying the 1 MiB file, same front (AllowReproxy On)"
    if [ -n "$REPROXY_NOTE" ]; then
        echo "$REPROXY_NOTE"
    else
        printf '%5s  %-12s %9s %8s %6s %8s %14s %12s\n' conns path 'req/s' 'p99 ms' errors 'cpu us' 'cost (time x)' 'cost (cpu x)'
        for c in $CONNS; do
            awk -F'\t' -v c="$c" '
                function x(a, b) { return (a > 0 && b > 0) ? sprintf("%.2f", a / b) : "-" }
                $2 == c { row[$1] = $0 }
                END {
                    split(row["/1m.bin"], a, "\t"); split(row["/reproxy-1m"], b, "\t");
                    printf "%5s  %-12s %9.0f %8.2f %6s %8.1f %14s %12s\n", c, a[1], a[3], a[4], a[5], a[6], "1.00", "1.00";
                    printf "%5s  %-12s %9.0f %8.2f %6s %8.1f %14s %12s\n", c, b[1], b[3], b[4], b[5], b[6],
                           x(a[3], b[3]), x(b[6], a[6])
                }' "$REP"
        done
    fi
    echo
    targets
}

# Issue 7's targets, as read from this run.
targets() {
    echo "== issue 7 targets (this run)"
    awk -F'\t' -v sizes="$SIZES" -v conns="$CONNS" '
        { rps[$1, $2, $3] = $4; p99[$1, $2, $3] = $5 }
        function ratio(a, b) { return (a != "-" && b != "-" && b > 0) ? a / b : -1 }
        function verdict(ok) { return ok ? "ok" : "MISSED" }
        END {
            ns = split(sizes, S, " "); nc = split(conns, C, " ");
            for (i = 1; i <= ns; i++) for (j = 1; j <= nc; j++) {
                s = S[i]; c = C[j];
                if (!(("revproxy", s, c) in rps)) continue;
                want = (s == "1m") ? 1.0 : 1.25;
                if (("proxypass", s, c) in rps) {
                    r = ratio(rps["revproxy", s, c], rps["proxypass", s, c]);
                    q = ratio(p99["revproxy", s, c], p99["proxypass", s, c]);
                    printf "%-5s c%-3s revproxy/ProxyPass      req/s %6.3fx (>= %.2f) %-6s  p99 %6.3fx (<= 1.00) %s\n",
                        s, c, r, want, verdict(r >= want), q, verdict(q >= 0 && q <= 1.0)
                }
                if (("proxypassmatch", s, c) in rps) {
                    r = ratio(rps["revproxy", s, c], rps["proxypassmatch", s, c]);
                    printf "%-5s c%-3s revproxy/ProxyPassMatch req/s %6.3fx (>= 2.00) %s\n", s, c, r, verdict(r >= 2)
                }
            }
        }' "$RES"
    awk -F'\t' '
        { secs[$1] = $4; g[$1] = ($5 != "" && $6 != "") ? ($6 - $5) / 1024 : -1 }
        END {
            if ("revproxy" in secs) {
                printf "1 GiB revproxy child RSS growth %.1f MiB (< 8) %s\n", g["revproxy"],
                    (g["revproxy"] >= 0 && g["revproxy"] < 8) ? "ok" : "MISSED";
                if ("proxypass" in secs && secs["revproxy"] != "-" && secs["proxypass"] != "-")
                    printf "1 GiB revproxy time %.2fs vs ProxyPass %.2fs (<=) %s\n", secs["revproxy"],
                        secs["proxypass"], (secs["revproxy"] <= secs["proxypass"]) ? "ok" : "MISSED"
            }
        }' "$BIG"
    awk -F'\t' '$1 == "revproxy" {
        printf "SSE revproxy median delay %s ms (< 1) %s\n", $3, ($3 != "-" && $3 < 1) ? "ok" : "MISSED" }' "$SSE"
    if [ -z "$REPROXY_NOTE" ]; then
        awk -F'\t' '{ r[$1, $2] = $3; c[$2] = 1 }
            END { for (k in c) if (r["/reproxy-1m", k] > 0)
                printf "reproxy c%s cost %.3fx of direct (<= 1.20) %s\n", k, r["/1m.bin", k] / r["/reproxy-1m", k],
                    (r["/1m.bin", k] / r["/reproxy-1m", k] <= 1.2) ? "ok" : "MISSED" }' "$REP"
    else
        echo "$REPROXY_NOTE"
    fi
}

mkdir -p "$(dirname "$RESULTS")"
report | tee "$RESULTS"
log "table written to $RESULTS"
