#!/usr/bin/env bash
# bench/rules.sh -- the cost of many rules (issue 18): mod_revproxy against
# mod_proxy_http's ProxyPassMatch and nginx regex locations, side by side
# in one run, on 127.0.0.1 only.  `make -f Makefile.apxs bench-rules` runs it.
#
# For each rule count (1, 100, 1000, 10000) every front gets a config with
# that many rules "^/tNNNN/api/(.*)$" -> backend /$1 (in that order), and
# wrk requests /t0000/api/100.bin (the first rule) and /tLAST/api/100.bin
# (the last), 100 B from the static nginx backend of bench/lib.sh:
#
#   revproxy        httpd + mod_revproxy   RevProxyPass "^/tNNNN/api/(.*)$" "http://B/$1"
#   proxypassmatch  httpd + mod_proxy_http ProxyPassMatch "^/tNNNN/api/(.*)$" "http://B/$1"
#   nginx           nginx                  location ~ ^/tNNNN/api/(.*)$ { proxy_pass http://backend/$1; }
#
# httpd fronts as in bench/run.sh (event MPM, one child x 64 threads).
# Printed: req/s, p99, the front's largest process RSS after the run, the
# seconds `httpd -t` / `nginx -t` took on the config, and x = req/s over the
# same front's 1-rule req/s.  The goal line: mod_revproxy with 10000 rules,
# matching the last, >= 0.80x its 1-rule req/s.  Medians of BENCH_ROUNDS.
#
# Environment (defaults in brackets):
#   BENCH_RULES      rule counts [1 100 1000 10000]
#   BENCH_DURATION   seconds per measured wrk run [5]
#   BENCH_WARMUP     seconds of warm-up before each run [1]
#   BENCH_CONNS      wrk connections [32]
#   BENCH_FRONTS     [revproxy proxypassmatch nginx]
#   BENCH_ROUNDS     rounds, fronts interleaved in each; medians [3]
#   BENCH_PIN, BENCH_CPU_FRONT [0], BENCH_CPU_LOAD [1]: as bench/run.sh [1]
#   BENCH_PORT_BASE  first port [7200]: backend +1, fronts +10..+12
#   BENCH_RESULTS    where the table goes [bench/last-rules.txt]
#   BENCH_NO_DEPS=1, BENCH_NO_BUILD=1, BENCH_KEEP=1: as bench/run.sh
set -euo pipefail

cd "$(dirname "$0")/.."
TOP=$PWD

RULES=${BENCH_RULES:-1 100 1000 10000}
DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
CONNS=${BENCH_CONNS:-32}
FRONTS=${BENCH_FRONTS:-revproxy proxypassmatch nginx}
ROUNDS=${BENCH_ROUNDS:-3}
PIN=${BENCH_PIN:-1}
CPU_FRONT=${BENCH_CPU_FRONT:-0}
CPU_LOAD=${BENCH_CPU_LOAD:-1}
BASE=${BENCH_PORT_BASE:-7200}
RESULTS=${BENCH_RESULTS:-$TOP/bench/last-rules.txt}

declare -A PORT=(
    [backend]=$((BASE + 1))
    [revproxy]=$((BASE + 10))
    [proxypassmatch]=$((BASE + 11))
    [nginx]=$((BASE + 12))
)
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"
LABEL[nginx]="nginx regex locations"

# write_rules_front KIND DIR PORT BACKEND_PORT N: bench/lib.sh's front with
# its catch-all rule replaced by N rules.
write_rules_front() {
    local kind=$1 dir=$2 port=$3 bport=$4 n=$5
    mkdir -p "$dir"
    if [ "$kind" = nginx ]; then
        {
            nginx_common "$dir"
            echo "http {"
            echo "    access_log off;"
            echo "    keepalive_requests 1000000;"
            echo "    keepalive_timeout 120s;"
            nginx_temp_paths "$dir"
            echo "    upstream backend { server 127.0.0.1:$bport; keepalive 64; keepalive_requests 1000000; }"
            echo "    server {"
            echo "        listen 127.0.0.1:$port backlog=4096;"
            echo "        proxy_http_version 1.1;"
            echo "        proxy_set_header Connection \"\";"
            awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++)
                printf "        location ~ ^/t%04d/api/(.*)$ { proxy_pass http://backend/$1; }\n", i }'
            echo "    }"
            echo "}"
        } > "$dir/nginx.conf"
        return
    fi
    write_front "$kind" "$dir" "$port" "$bport"
    sed -i '/^RevProxyPass /d; /^ProxyPassMatch /d' "$dir/httpd.conf"
    awk -v n="$n" -v b="$bport" -v k="$kind" 'BEGIN { for (i = 0; i < n; i++)
        printf "%s \"^/t%04d/api/(.*)$\" \"http://127.0.0.1:%s/$1\"\n",
               (k == "revproxy") ? "RevProxyPass" : "ProxyPassMatch", i, b }' \
        >> "$dir/httpd.conf"
}

# start_rules_front KIND N: the front with N rules; sets LAST_PID and
# CONFIG_SECS (how long the config test took).
start_rules_front() {
    local kind=$1 n=$2 port=${PORT[$1]} dir=$TMP/front-$1-$2 t0 t1
    write_rules_front "$kind" "$dir" "$port" "${PORT[backend]}" "$n"
    t0=$(date +%s.%N)
    config_ok "$kind" "$dir" || { cat "$dir/configtest.log" >&2; die "$kind: config test failed"; }
    t1=$(date +%s.%N)
    CONFIG_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
    if [ "$kind" = nginx ]; then
        start_nginx "$kind" "$dir" "$port" "${ON_FRONT[@]}"
    else
        "${ON_FRONT[@]}" "$HTTPD" -f "$dir/httpd.conf" -DFOREGROUND \
            </dev/null >"$dir/stdout.log" 2>&1 &
        LAST_PID=$!
        PIDS+=("$LAST_PID")
        wait_port "$port" 600 \
            || { cat "$dir/error.log" "$dir/stdout.log" >&2; die "$kind: httpd did not start on $port"; }
    fi
}

# rss_kib PID: the largest RSS (KiB) of PID and its children.
rss_kib() {
    ps -o rss= --pid "$1" --ppid "$1" 2>/dev/null | sort -n | tail -1 | tr -d ' '
}

# ---- run ---------------------------------------------------------------------
start_backend
RAW=$TMP/rules.tsv
: > "$RAW"
for round in $(seq 1 "$ROUNDS"); do
    for n in $RULES; do
        for f in $FRONTS; do
            start_rules_front "$f" "$n"
            pid=$LAST_PID
            last=$(printf '%04d' $((n - 1)))
            for which in first last; do
                [ "$n" = 1 ] && [ "$which" = last ] && continue
                path=/t0000/api/100.bin
                [ "$which" = last ] && path=/t$last/api/100.bin
                if ! why=$(check_get "${PORT[$f]}" "$path" 100); then
                    log "$f, $n rules: GET $path: $why; not measured"
                    continue
                fi
                [ "$WARMUP" -gt 0 ] && wrk_run "http://127.0.0.1:${PORT[$f]}$path" "$CONNS" "$WARMUP" >/dev/null
                read -r rps p99 errs _ <<<"$(wrk_run "http://127.0.0.1:${PORT[$f]}$path" "$CONNS" "$DURATION")"
                printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$which" "$f" "$rps" "$p99" \
                    "$errs" "$(rss_kib "$pid")" "$CONFIG_SECS" >> "$RAW"
            done
            stop_pid "$pid"
            forget_pid "$pid"
            log "round $round: $f with $n rules done"
        done
    done
done

# ---- report ------------------------------------------------------------------
report() {
    echo "mod_revproxy rules bench -- $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "tree: $TOP ($(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo 'no git')$(git -C "$TOP" diff --quiet HEAD 2>/dev/null || echo ', local changes'))"
    echo "$("$HTTPD" -v | sed -n 's/^Server version: //p'), $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), $(nproc) CPUs, load average at start $LOADAVG"
    echo "rules ^/tNNNN/api/(.*)\$ -> backend /\$1, GET 100 B; wrk -c$CONNS, ${DURATION}s per run after ${WARMUP}s warm-up"
    echo "pinning: $PINNING"
    echo "medians of $ROUNDS round(s); x 1rule = req/s over the same front's 1-rule req/s;"
    echo "rss = the front's largest process after the run; -t s = seconds of the config test"
    echo
    printf '%6s %-5s  %-22s %9s %8s %6s %8s %6s %7s\n' rules match front 'req/s' 'p99 ms' errors 'rss MiB' '-t s' 'x 1rule'
    awk -F'\t' -v labels="$(for f in $FRONTS; do printf '%s=%s;' "$f" "${LABEL[$f]}"; done)" '
        function median(list,   a, n, i, j, t) {
            n = split(list, a, " ");
            if (n == 0) return "-";
            for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
            return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
        }
        BEGIN { m = split(labels, kv, ";"); for (i = 1; i <= m; i++) { split(kv[i], q, "="); L[q[1]] = q[2] } }
        {
            k = $1 "\t" $2 "\t" $3;
            if (!(k in seen)) { seen[k] = 1; order[++n] = k }
            for (i = 4; i <= 8; i++) if ($i != "-" && $i != "") V[k, i] = V[k, i] " " $i
            if ($6 != "-") E[k] += $6
        }
        END {
            for (r = 1; r <= n; r++) {
                k = order[r]; split(k, p, "\t");
                rps = median(V[k, 4]); one = median(V["1\tfirst\t" p[3], 4]);
                x = (rps != "-" && one != "-" && one > 0) ? sprintf("%.2f", rps / one) : "-";
                rss = median(V[k, 7]);
                printf "%6s %-5s  %-22s %9s %8s %6d %8s %6s %7s\n", p[1], p[2], L[p[3]],
                    (rps == "-") ? "-" : sprintf("%.0f", rps), median(V[k, 5]), E[k],
                    (rss == "-") ? "-" : sprintf("%.1f", rss / 1024), median(V[k, 8]), x
                if (p[3] == "revproxy" && p[1] == 10000 && p[2] == "last") goal = x
            }
            if (goal != "")
                printf "\ngoal: mod_revproxy, 10000 rules, matching the last: %sx its 1-rule req/s (>= 0.80) %s\n",
                    goal, (goal != "-" && goal + 0 >= 0.8) ? "ok" : "MISSED"
        }' "$RAW"
}
report | tee "$RESULTS"
