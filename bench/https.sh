#!/usr/bin/env bash
# bench/https.sh -- HTTPS backends: mod_revproxy against mod_proxy_http +
# SSLProxyEngine and nginx (issue 18).  `make -f Makefile.apxs bench-https`.
#
# One nginx TLS backend (TLS 1.3, a P-256 certificate made here, the static
# files of bench/lib.sh) on two ports; the fronts speak plain HTTP to wrk
# and HTTPS to the backend, verifying its certificate:
#   keep-alive  pooled backend connections (one handshake, many requests):
#               RevProxyPass ... https://B/  |  ProxyPass ... https://B/  |
#               nginx upstream keepalive
#   nopipeline  a new backend connection per request, resumed TLS
#               sessions where the front offers that: RevProxyPass ...
#               nopipeline (its session cache)  |  ProxyPass ...
#               disablereuse=On  |  nginx without upstream keepalive,
#               proxy_ssl_session_reuse on
# Measured: requests/s and p99 with wrk (BENCH_CONNS connections, the
# 100 B file), fronts interleaved in each round; medians of BENCH_ROUNDS.
# Goal: keep-alive >= 1.25x mod_proxy's requests/s.
#
# Environment (defaults in brackets):
#   BENCH_DURATION [5]  BENCH_WARMUP [1]  BENCH_ROUNDS [3]  BENCH_CONNS [32]
#   BENCH_SIZE       file: 100, 10k or 1m [100]
#   BENCH_FRONTS     [revproxy proxypass nginx]
#   BENCH_PIN, BENCH_CPU_FRONT, BENCH_CPU_LOAD   as bench/run.sh [1, 0, 1]
#   BENCH_PORT_BASE  first port [7300]: backend +1 and +2, fronts +10..+12
#   BENCH_RESULTS    where the table goes [bench/last-https.txt]
#   BENCH_NO_DEPS=1, BENCH_NO_BUILD=1, BENCH_KEEP=1   as bench/run.sh
set -euo pipefail

cd "$(dirname "$0")/.."
TOP=$PWD

DURATION=${BENCH_DURATION:-5}
WARMUP=${BENCH_WARMUP:-1}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-32}
SIZE=${BENCH_SIZE:-100}
FRONTS=${BENCH_FRONTS:-revproxy proxypass nginx}
PIN=${BENCH_PIN:-1}
CPU_FRONT=${BENCH_CPU_FRONT:-0}
CPU_LOAD=${BENCH_CPU_LOAD:-1}
BASE=${BENCH_PORT_BASE:-7300}
RESULTS=${BENCH_RESULTS:-$TOP/bench/last-https.txt}

declare -A PORT=(
    [backend]=$((BASE + 1))
    [backend2]=$((BASE + 2))
    [revproxy]=$((BASE + 10))
    [proxypass]=$((BASE + 11))
    [nginx]=$((BASE + 12))
)
# shellcheck source=bench/lib.sh
. "$TOP/bench/lib.sh"
# shellcheck source=bench/fronts.sh
. "$TOP/bench/fronts.sh"

declare -A FRONT_PID FRONT_DIR
declare -A NAME=([revproxy]="httpd+mod_revproxy" [proxypass]="httpd+ProxyPass+SSLProxy"
                 [nginx]="nginx proxy_pass")
B1=${PORT[backend]}
B2=${PORT[backend2]}

# ---- the TLS backend ---------------------------------------------------------
CERT=$TMP/backend.pem
KEY=$TMP/backend.key
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$KEY" -out "$CERT" -days 2 -subj "/CN=127.0.0.1" \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" >/dev/null 2>&1 \
    || die "openssl could not make the backend certificate"
chmod 644 "$CERT" "$KEY"

dir=$TMP/tls-backend
mkdir -p "$dir"
{
    nginx_common "$dir"
    cat <<EOF
http {
    access_log off;
    default_type application/octet-stream;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
$(nginx_temp_paths "$dir")
    ssl_certificate $CERT;
    ssl_certificate_key $KEY;
    ssl_protocols TLSv1.3;
    ssl_session_cache shared:S:10m;
    ssl_session_tickets on;
    server {
        listen 127.0.0.1:$B1 ssl backlog=4096;
        listen 127.0.0.1:$B2 ssl backlog=4096;
        root $DOCS;
    }
}
EOF
} > "$dir/nginx.conf"
start_nginx tls-backend "$dir" "$B1" "${ON_LOAD[@]}"

# ---- fronts ------------------------------------------------------------------
write_https_front() {   # KIND DIR PORT
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
    upstream ka { server 127.0.0.1:$B1; keepalive 64; keepalive_requests 1000000; }
    proxy_ssl_verify on;
    proxy_ssl_trusted_certificate $CERT;
    proxy_ssl_name localhost;   # nginx checks DNS names only
    proxy_ssl_session_reuse on;
    proxy_ssl_protocols TLSv1.2 TLSv1.3;
    server {
        listen 127.0.0.1:$port backlog=4096;
        location /ka/ {
            proxy_pass https://ka/;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /np/ {
            proxy_pass https://127.0.0.1:$B2/;
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
                echo "RevProxyTLSCACertificateFile $CERT"
                echo "RevProxyPass \"^/ka/(.*)\$\" \"https://127.0.0.1:$B1/\$1\""
                echo "RevProxyPass \"^/np/(.*)\$\" \"https://127.0.0.1:$B2/\$1\" nopipeline" ;;
            proxypass)
                echo "LoadModule socache_shmcb_module $MODDIR/mod_socache_shmcb.so"
                echo "LoadModule ssl_module $MODDIR/mod_ssl.so"
                echo "LoadModule proxy_module $MODDIR/mod_proxy.so"
                echo "LoadModule proxy_http_module $MODDIR/mod_proxy_http.so"
                echo "SSLProxyEngine on"
                echo "SSLProxyVerify require"
                echo "SSLProxyCACertificateFile $CERT"
                echo "SSLProxyCheckPeerName on"
                echo "ProxyPass /ka/ https://127.0.0.1:$B1/"
                echo "ProxyPass /np/ https://127.0.0.1:$B2/ disablereuse=On" ;;
            *) die "unknown front $kind" ;;
        esac
    } > "$dir/httpd.conf"
}

for f in $FRONTS; do
    d=$TMP/https-$f
    write_https_front "$f" "$d" "${PORT[$f]}"
    if [ "$f" = nginx ]; then
        start_nginx nginx "$d" "${PORT[$f]}" "${ON_FRONT[@]}"
        FRONT_PID[$f]=$LAST_PID
    else
        start_httpd "$f" "$d" "${PORT[$f]}"
    fi
done

declare -A BYTES=([100]=100 [10k]=10240 [1m]=1048576)
for f in $FRONTS; do
    for m in ka np; do
        check_get "${PORT[$f]}" "/$m/$SIZE.bin" "${BYTES[$SIZE]}" \
            || die "$f: /$m/$SIZE.bin does not answer (see $TMP/https-$f, BENCH_KEEP=1)"
    done
done

RAW=$TMP/https.tsv
: > "$RAW"
for round in $(seq 1 "$ROUNDS"); do
    for m in ka np; do
        for f in $FRONTS; do
            url="http://127.0.0.1:${PORT[$f]}/$m/$SIZE.bin"
            [ "$WARMUP" -gt 0 ] && wrk_run "$url" "$CONNS" "$WARMUP" >/dev/null
            read -r rps p99 errs _ <<<"$(wrk_run "$url" "$CONNS" "$DURATION")"
            log "round $round: $m $f: $rps req/s, p99 $p99 ms, $errs errors"
            printf '%s\t%s\t%s\t%s\t%s\n' "$m" "$f" "$rps" "$p99" "$errs" >> "$RAW"
        done
    done
done

{
    echo "HTTPS backends (TLS 1.3, P-256), $SIZE B, wrk -c$CONNS, ${DURATION}s runs; one httpd child x 64 threads"
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, load $LOADAVG, pinning: $PINNING, rounds: $ROUNDS (medians)"
    echo
    printf '%-11s %-26s %10s %8s %7s %12s\n' mode front 'req/s' 'p99 ms' errors 'x mod_proxy'
    for m in ka np; do
        ref=$(awk -F'\t' -v m="$m" '$1 == m && $2 == "proxypass" {print $3}' "$RAW" | median)
        for f in $FRONTS; do
            rps=$(awk -F'\t' -v m="$m" -v f="$f" '$1 == m && $2 == f {print $3}' "$RAW" | median)
            p99=$(awk -F'\t' -v m="$m" -v f="$f" '$1 == m && $2 == f {print $4}' "$RAW" | median)
            errs=$(awk -F'\t' -v m="$m" -v f="$f" '$1 == m && $2 == f {n += $5} END {print n + 0}' "$RAW")
            printf '%-11s %-26s %10s %8s %7s %12s\n' \
                "$([ "$m" = ka ] && echo keep-alive || echo nopipeline)" "${NAME[$f]}" \
                "$(awk -v v="$rps" 'BEGIN {print (v == "-") ? "-" : sprintf("%.0f", v)}')" \
                "$p99" "$errs" "$(ratio "$rps" "$ref")"
        done
    done
    echo
    echo "x mod_proxy: requests/s / httpd+ProxyPass+SSLProxy's in the same mode."
    echo "Goal (issue 18): keep-alive >= 1.25x."
} | tee "$RESULTS"
