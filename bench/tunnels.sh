#!/usr/bin/env bash
# bench/tunnels.sh -- idle upgraded tunnels (WebSocket) held by one httpd
# child with 64 threads, against mod_proxy_http (ProxyPass upgrade=websocket),
# mod_proxy_wstunnel (ws://) and nginx (issue 18).  `make -f Makefile.apxs
# bench-tunnels` runs it.
#
# A backend (bench/ws_load.py backend: 101 then echo; "200 ok" for plain
# requests) and, one front at a time, the client (bench/ws_load.py client):
# up to BENCH_TUNNELS tunnels opened through the front, 100 at a time, until
# a whole batch gets no 101 within 5 s; then BENCH_GETS plain GETs on fresh
# connections (2 s limit each) with every tunnel still open; then one
# message through each tunnel, its echo counted.  Reported per front:
# tunnels held, tunnels that echoed, GETs answered, median and max GET
# latency, the peak RSS of the child (nginx: its worker) meanwhile.  Each front runs
# BENCH_ROUNDS times; the table shows medians.
#
# httpd fronts get AsyncRequestWorkerFactor large enough for the event MPM
# to accept BENCH_TUNNELS + 200 connections in the child (64 + 64 x factor),
# the same for every httpd front.
#
# Environment (defaults in brackets):
#   BENCH_TUNNELS    tunnels to open [4000]
#   BENCH_GETS       plain GETs timed while they are open [5]
#   BENCH_ROUNDS     runs per front [1]
#   BENCH_FRONTS     [revproxy proxyhttp wstunnel nginx]
#   BENCH_PIN, BENCH_CPU_FRONT, BENCH_CPU_LOAD   as bench/run.sh [1, 0, 1]
#   BENCH_PORT_BASE  first port [7200]: backend +1, fronts +10..+13
#   BENCH_RESULTS    where the table goes [bench/last-tunnels.txt]
#   BENCH_NO_DEPS=1, BENCH_NO_BUILD=1, BENCH_KEEP=1   as bench/run.sh
# Needs python3 (asyncio) besides bench/run.sh's tools.
set -euo pipefail

cd "$(dirname "$0")/.."
TOP=$PWD

TUNNELS=${BENCH_TUNNELS:-4000}
GETS=${BENCH_GETS:-5}
ROUNDS=${BENCH_ROUNDS:-1}
FRONTS=${BENCH_FRONTS:-revproxy proxyhttp wstunnel nginx}
PIN=${BENCH_PIN:-1}
CPU_FRONT=${BENCH_CPU_FRONT:-0}
CPU_LOAD=${BENCH_CPU_LOAD:-1}
BASE=${BENCH_PORT_BASE:-7200}
RESULTS=${BENCH_RESULTS:-$TOP/bench/last-tunnels.txt}

declare -A PORT=(
    [backend]=$((BASE + 1))
    [revproxy]=$((BASE + 10))
    [proxyhttp]=$((BASE + 11))
    [wstunnel]=$((BASE + 12))
    [nginx]=$((BASE + 13))
)
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"
# shellcheck source=bench/fronts.sh
. "$TOP/bench/fronts.sh"
command -v python3 >/dev/null || die "python3 is missing"

declare -A FRONT_PID FRONT_DIR
declare -A NAME=([revproxy]="httpd+mod_revproxy" [proxyhttp]="httpd+mod_proxy_http"
                 [wstunnel]="httpd+mod_proxy_wstunnel" [nginx]="nginx proxy_pass")
ASYNC_FACTOR=$(( (TUNNELS + 200) / 64 + 1 ))
[ "$ASYNC_FACTOR" -ge 2 ] || ASYNC_FACTOR=2
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$(ulimit -n)" -gt $((2 * TUNNELS + 1000)) ] \
    || log "ulimit -n is $(ulimit -n): too few descriptors for $TUNNELS tunnels"

write_tunnel_front() {   # KIND DIR PORT
    local kind=$1 dir=$2 port=$3 b=${PORT[backend]}
    mkdir -p "$dir"
    if [ "$kind" = nginx ]; then
        cat > "$dir/nginx.conf" <<EOF
$NGINX_USER
worker_processes 1;
worker_rlimit_nofile $((4 * TUNNELS + 1000));
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $((2 * TUNNELS + 1000)); }
http {
    access_log off;
$(nginx_temp_paths "$dir")
    map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
            proxy_pass http://127.0.0.1:$b;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_read_timeout 600s;
        }
    }
}
EOF
        return
    fi
    {
        httpd_head "$dir" "$port"
        case $kind in
            revproxy)
                echo "LoadModule revproxy_module $TOP/.libs/mod_revproxy.so"
                echo "RevProxyPass \"^/(.*)\$\" \"http://127.0.0.1:$b/\$1\" upgrade=websocket timeout=600" ;;
            proxyhttp)
                echo "LoadModule proxy_module $MODDIR/mod_proxy.so"
                echo "LoadModule proxy_http_module $MODDIR/mod_proxy_http.so"
                echo "ProxyPass / http://127.0.0.1:$b/ upgrade=websocket timeout=600" ;;
            wstunnel)
                echo "LoadModule proxy_module $MODDIR/mod_proxy.so"
                echo "LoadModule proxy_http_module $MODDIR/mod_proxy_http.so"
                echo "LoadModule proxy_wstunnel_module $MODDIR/mod_proxy_wstunnel.so"
                echo "ProxyWebsocketFallbackToProxyHttp Off"
                echo "ProxyPass /ws/ ws://127.0.0.1:$b/ws/ timeout=600"
                echo "ProxyPass / http://127.0.0.1:$b/" ;;
            *) die "unknown front $kind" ;;
        esac
    } > "$dir/httpd.conf"
}

start_tunnel_front() {   # KIND
    local kind=$1 dir=$TMP/tunnels-$1
    write_tunnel_front "$kind" "$dir" "${PORT[$kind]}"
    if [ "$kind" = nginx ]; then
        start_nginx nginx "$dir" "${PORT[$kind]}" "${ON_FRONT[@]}"
        FRONT_PID[$kind]=$LAST_PID
    else
        start_httpd "$kind" "$dir" "${PORT[$kind]}"
    fi
}

# ---- run ---------------------------------------------------------------------
"${ON_LOAD[@]}" python3 "$TOP/bench/ws_load.py" backend "${PORT[backend]}" \
    </dev/null >"$TMP/ws_backend.log" 2>&1 &
PIDS+=("$!")
wait_port "${PORT[backend]}" || die "backend did not start"

RAW=$TMP/tunnels.tsv
: > "$RAW"
for round in $(seq 1 "$ROUNDS"); do
    for f in $FRONTS; do
        start_tunnel_front "$f"
        log "round $round: $f, up to $TUNNELS tunnels"
        timeout 900 "${ON_LOAD[@]}" python3 "$TOP/bench/ws_load.py" client \
            "${PORT[$f]}" "$TUNNELS" /ws/t "$GETS" >"$TMP/client.out" 2>>"$TMP/ws_client.log" &
        cpid=$!
        peak=0
        while kill -0 "$cpid" 2>/dev/null; do
            r=$(child_rss_kb "${FRONT_PID[$f]}")
            [ "$r" -le "$peak" ] || peak=$r
            sleep 0.5
        done
        wait "$cpid" || true
        out=$(cat "$TMP/client.out")
        rss=$(awk -v k="$peak" 'BEGIN {printf "%.1f", k / 1024}')
        log "$f: $out"
        held=$(sed -n 's/.*held=\([0-9]*\).*/\1/p' <<<"$out")
        echoed=$(sed -n 's/.*echoed=\([0-9]*\).*/\1/p' <<<"$out")
        getok=$(sed -n 's/.*get_ok=\([0-9/]*\).*/\1/p' <<<"$out")
        med=$(sed -n 's/.*get_median_ms=\([0-9.-]*\).*/\1/p' <<<"$out")
        max=$(sed -n 's/.*get_max_ms=\([0-9.-]*\).*/\1/p' <<<"$out")
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$f" "${held:--}" "${echoed:--}" \
            "${getok:--}" "${med:--}" "${max:--}" "$rss" >> "$RAW"
        stop_named "$f"
    done
done

{
    echo "Idle tunnels held by one httpd child x 64 threads (nginx: 1 worker); $TUNNELS asked for"
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $LOADAVG, pinning: $PINNING, rounds: $ROUNDS (medians)"
    echo
    printf '%-26s %8s %8s %8s %12s %10s %13s %8s\n' front held echoed 'GET ok' 'GET med ms' 'GET max ms' 'peak RSS MiB' 'x held'
    ref=$(awk -F'\t' '$1 == "revproxy" {print $2}' "$RAW" | median)
    for f in $FRONTS; do
        held=$(awk -F'\t' -v f="$f" '$1 == f {print $2}' "$RAW" | median)
        echoed=$(awk -F'\t' -v f="$f" '$1 == f {print $3}' "$RAW" | median)
        getok=$(awk -F'\t' -v f="$f" '$1 == f {print $4}' "$RAW" | tail -1)
        med=$(awk -F'\t' -v f="$f" '$1 == f {print $5}' "$RAW" | median)
        max=$(awk -F'\t' -v f="$f" '$1 == f {print $6}' "$RAW" | median)
        rss=$(awk -F'\t' -v f="$f" '$1 == f {print $7}' "$RAW" | median)
        printf '%-26s %8s %8s %8s %12s %10s %13s %8s\n' "${NAME[$f]}" "$held" "$echoed" \
            "$getok" "$med" "$max" "$rss" "$(ratio "$ref" "$held")"
    done
    echo
    echo "x held: mod_revproxy's tunnels held / the front's.  Goal (issue 18): 4,000 held and"
    echo "echoing, a GET answered in under 100 ms meanwhile."
} | tee "$RESULTS"
