#!/usr/bin/env bash
# bench/upload.sh -- request bodies: mod_revproxy against mod_proxy_http and
# nginx (issue 18).  `make -f Makefile.apxs bench-upload`.
#
# A backend that reads every body whole before it answers (bench/sink.py),
# and three fronts (plain HTTP both sides): RevProxyPass, ProxyPass, nginx
# proxy_pass with proxy_request_buffering off (streamed, as the two httpd
# fronts do; nginx would otherwise spool each body to disk first).
#   1 MiB uploads  POST of 1 MiB (Content-Length) with wrk, BENCH_CONNS
#                  connections: requests/s and p99, fronts interleaved,
#                  medians of BENCH_ROUNDS.  Goal: >= 1.0x mod_proxy.
#   1 GiB upload   one POST of 1 GiB (curl -T, Content-Length): seconds and
#                  the front's RSS growth (peak of its children against
#                  their RSS before; bench/rss_peak.pl).  Goal: < 8 MiB.
#
# Environment (defaults in brackets):
#   BENCH_DURATION [5]  BENCH_WARMUP [1]  BENCH_ROUNDS [3]  BENCH_CONNS [8]
#   BENCH_FRONTS     [revproxy proxypass nginx]
#   BENCH_BIG        1: the 1 GiB upload too [1]
#   BENCH_PIN, BENCH_CPU_FRONT, BENCH_CPU_LOAD   as bench/run.sh [1, 0, 1]
#   BENCH_PORT_BASE  first port [7400]: backend +1, fronts +10..+12
#   BENCH_RESULTS    where the table goes [bench/last-upload.txt]
#   BENCH_NO_DEPS=1, BENCH_NO_BUILD=1, BENCH_KEEP=1   as bench/run.sh
# Needs python3 (asyncio) besides bench/run.sh's tools.
set -euo pipefail

cd "$(dirname "$0")/.."
TOP=$PWD

DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-8}
FRONTS=${BENCH_FRONTS:-revproxy proxypass nginx}
BIG=${BENCH_BIG:-1}
PIN=${BENCH_PIN:-1}
CPU_FRONT=${BENCH_CPU_FRONT:-0}
CPU_LOAD=${BENCH_CPU_LOAD:-1}
BASE=${BENCH_PORT_BASE:-7400}
RESULTS=${BENCH_RESULTS:-$TOP/bench/last-upload.txt}

declare -A PORT=(
    [backend]=$((BASE + 1))
    [revproxy]=$((BASE + 10))
    [proxypass]=$((BASE + 11))
    [nginx]=$((BASE + 12))
)
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"
# shellcheck source=bench/fronts.sh
. "$TOP/bench/fronts.sh"
command -v python3 >/dev/null || die "python3 is missing"

declare -A FRONT_PID FRONT_DIR
declare -A NAME=([revproxy]="httpd+mod_revproxy" [proxypass]="httpd+ProxyPass"
                 [nginx]="nginx proxy_pass")
B=${PORT[backend]}

"${ON_LOAD[@]}" python3 "$TOP/bench/sink.py" "$B" </dev/null >"$TMP/sink.log" 2>&1 &
PIDS+=("$!")
wait_port "$B" || die "upload backend did not start"

write_upload_front() {   # KIND DIR PORT
    local kind=$1 dir=$2 port=$3
    mkdir -p "$dir"
    if [ "$kind" = nginx ]; then
        {
            nginx_common "$dir"
            cat <<EOF
http {
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
$(nginx_temp_paths "$dir")
    upstream backend { server 127.0.0.1:$B; keepalive 64; keepalive_requests 1000000; }
    server {
        listen 127.0.0.1:$port backlog=4096;
        client_max_body_size 0;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_request_buffering off;
        }
    }
}
EOF
        } > "$dir/nginx.conf"
        return
    fi
    {
        httpd_head "$dir" "$port"
        case $kind in
            revproxy)
                echo "LoadModule revproxy_module $TOP/.libs/mod_revproxy.so"
                echo "RevProxyPass \"^/(.*)\$\" \"http://127.0.0.1:$B/\$1\"" ;;
            proxypass)
                echo "LoadModule proxy_module $MODDIR/mod_proxy.so"
                echo "LoadModule proxy_http_module $MODDIR/mod_proxy_http.so"
                echo "ProxyPass / http://127.0.0.1:$B/" ;;
            *) die "unknown front $kind" ;;
        esac
    } > "$dir/httpd.conf"
}

for f in $FRONTS; do
    d=$TMP/upload-$f
    write_upload_front "$f" "$d" "${PORT[$f]}"
    if [ "$f" = nginx ]; then
        start_nginx nginx "$d" "${PORT[$f]}" "${ON_FRONT[@]}"
        FRONT_PID[$f]=$LAST_PID
    else
        start_httpd "$f" "$d" "${PORT[$f]}"
    fi
done

# A POST of 1 MiB per request.
LUA=$TMP/post-1m.lua
cat > "$LUA" <<'EOF'
wrk.method = "POST"
wrk.body = string.rep("u", 1048576)
wrk.headers["Content-Type"] = "application/octet-stream"
EOF

# post_run URL SECONDS -> "rps p99_ms errors"
post_run() {
    local out rps p99 errs t=1
    [ "$CONNS" -ge 16 ] && t=2
    out=$(timeout $(($2 + 30)) "${ON_LOAD[@]}" wrk -t "$t" -c "$CONNS" -d "${2}s" \
          --timeout 10s --latency -s "$LUA" "$1" 2>&1) || true
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    errs=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {
                 for (i = 4; i <= NF; i += 2) { v = $i; gsub(/,/, "", v); n += v } }
               END {print n + 0}' <<<"$out")
    if [ -z "$rps" ] || [ -z "$p99" ]; then
        printf '%s\n' "$out" >> "$TMP/wrk-failures.log"
        echo "- - -"
        return
    fi
    echo "$rps $(to_ms "$p99") $errs"
}

for f in $FRONTS; do
    got=$(curl -s -m 30 -H 'Expect:' --data-binary @"$DOCS/1m.bin" \
          "http://127.0.0.1:${PORT[$f]}/up" || true)
    [ "$got" = 1048576 ] || die "$f: a 1 MiB POST came back as '$got'"
done

RAW=$TMP/upload.tsv
: > "$RAW"
for round in $(seq 1 "$ROUNDS"); do
    for f in $FRONTS; do
        url="http://127.0.0.1:${PORT[$f]}/up"
        [ "$WARMUP" -gt 0 ] && post_run "$url" "$WARMUP" >/dev/null
        read -r rps p99 errs <<<"$(post_run "$url" "$DURATION")"
        log "round $round: $f: $rps req/s, p99 $p99 ms, $errs errors"
        printf '%s\t%s\t%s\t%s\n' "$f" "$rps" "$p99" "$errs" >> "$RAW"
    done
done

BIGRAW=$TMP/upload-big.tsv
: > "$BIGRAW"
if [ "$BIG" = 1 ]; then
    # The file read once first: otherwise the first front measured pays
    # for bringing 1 GiB into the page cache (3.5 s instead of 0.8 s).
    cat "$DOCS/1g.bin" > /dev/null
    for f in $FRONTS; do
        "${ON_LOAD[@]}" perl "$TOP/bench/rss_peak.pl" "${FRONT_PID[$f]}" 50 > "$TMP/rss-$f.txt" &
        rp=$!
        sleep 0.3
        t0=$(date +%s.%N)
        got=$(timeout 600 "${ON_LOAD[@]}" curl -s -m 590 -H 'Expect:' -X POST \
              -T "$DOCS/1g.bin" "http://127.0.0.1:${PORT[$f]}/big" || true)
        t1=$(date +%s.%N)
        kill -TERM "$rp" 2>/dev/null || true
        wait "$rp" 2>/dev/null || true
        growth=$(sed -n 's/.*growth_kb=\([0-9-]*\).*/\1/p' "$TMP/rss-$f.txt")
        secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
        log "1 GiB through $f: answer '$got' in $secs s, RSS growth ${growth:-?} KiB"
        printf '%s\t%s\t%s\t%s\n' "$f" "${got:--}" "$secs" "${growth:--}" >> "$BIGRAW"
    done
fi

{
    echo "Uploads: POST of 1 MiB (wrk -c$CONNS, ${DURATION}s runs) and of 1 GiB (curl); one httpd child x 64 threads"
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $LOADAVG, pinning: $PINNING, rounds: $ROUNDS (medians)"
    echo
    printf '%-22s %10s %8s %7s %12s\n' front 'req/s' 'p99 ms' errors 'x mod_proxy'
    ref=$(awk -F'\t' '$1 == "proxypass" {print $2}' "$RAW" | median)
    for f in $FRONTS; do
        rps=$(awk -F'\t' -v f="$f" '$1 == f {print $2}' "$RAW" | median)
        p99=$(awk -F'\t' -v f="$f" '$1 == f {print $3}' "$RAW" | median)
        errs=$(awk -F'\t' -v f="$f" '$1 == f {n += $4} END {print n + 0}' "$RAW")
        printf '%-22s %10s %8s %7s %12s\n' "${NAME[$f]}" \
            "$(awk -v v="$rps" 'BEGIN {print (v == "-") ? "-" : sprintf("%.1f", v)}')" \
            "$p99" "$errs" "$(ratio "$rps" "$ref")"
    done
    if [ -s "$BIGRAW" ]; then
        echo
        printf '%-22s %12s %9s %17s\n' front 'bytes read' seconds 'RSS growth MiB'
        while IFS=$'\t' read -r f got secs growth; do
            printf '%-22s %12s %9s %17s\n' "${NAME[$f]}" "$got" "$secs" \
                "$(awk -v g="$growth" 'BEGIN {print (g == "-") ? "-" : sprintf("%.1f", g / 1024)}')"
        done < "$BIGRAW"
    fi
    echo
    echo "x mod_proxy: requests/s / httpd+ProxyPass's.  bytes read: what the backend counted."
    echo "Goals (issue 18): 1 MiB uploads >= 1.0x; RSS growth for 1 GiB < 8 MiB."
} | tee "$RESULTS"
