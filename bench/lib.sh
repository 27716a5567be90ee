# bench/lib.sh -- shared by bench/run.sh and bench/profile.sh (sourced).
#
# The caller sets TOP (the tree), PORT (an associative array: backend and
# the ports it will use), PIN, CPU_FRONT, CPU_LOAD.  Sourcing then installs
# the packages (build/deps.sh bench, unless BENCH_NO_DEPS=1), builds the
# modules (unless BENCH_NO_BUILD=1), finds httpd, nginx and the module
# directory, checks that none of the ports is in use, creates $TMP with
# the backend's files (100.bin, 10k.bin, 1m.bin, a sparse 1g.bin) and sets
# the EXIT trap that stops every process listed in PIDS and removes $TMP
# (kept with BENCH_KEEP=1).
# shellcheck shell=bash disable=SC2034  # variables for the caller

declare -A LABEL=([revproxy]="httpd+mod_revproxy" [proxypass]="httpd+ProxyPass"
                  [proxypassmatch]="httpd+ProxyPassMatch" [nginx]="nginx proxy_pass"
                  [reproxy]="httpd+mod_revproxy+reproxy" [direct]="backend direct"
                  [baseline]="httpd+mod_revproxy (base)"
                  [group]="httpd+revproxy group")

log() { printf '%s\n' "bench: $*" >&2; }
die() { log "$*"; exit 1; }

# ---- tools -------------------------------------------------------------------
if [ "${BENCH_NO_DEPS:-0}" != 1 ]; then
    build/deps.sh bench >&2
fi
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    make -f Makefile.apxs all >&2
fi
[ -f .libs/mod_revproxy.so ] || die "no .libs/mod_revproxy.so (build failed?)"

HTTPD=${BENCH_HTTPD:-$(command -v apache2 || command -v httpd || true)}
[ -n "$HTTPD" ] || HTTPD=/usr/sbin/apache2
[ -x "$HTTPD" ] || die "no httpd binary (apache2) found"
MODDIR=$(apxs -q LIBEXECDIR 2>/dev/null || echo /usr/lib/apache2/modules)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for t in "$NGINX" wrk curl perl; do
    command -v "$t" >/dev/null 2>&1 || die "$t is missing (build/deps.sh bench)"
done

if [ "$PIN" = 1 ] && command -v taskset >/dev/null 2>&1 \
   && [ "$(nproc)" -gt 1 ]; then
    ON_FRONT=(taskset -c "$CPU_FRONT")
    ON_LOAD=(taskset -c "$CPU_LOAD")
    PINNING="fronts on CPU $CPU_FRONT; backends, wrk, curl, SSE client on CPU $CPU_LOAD"
else
    ON_FRONT=()
    ON_LOAD=()
    PINNING="none"
fi

LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)

# Only our own ports, and none in use.
for name in "${!PORT[@]}"; do
    p=${PORT[$name]}
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        die "port $p ($name) is in use; set BENCH_PORT_BASE or BENCH_PORT_${name^^}"
    fi
done

# ---- processes: every one we start is stopped on exit ------------------------
TMP=$(mktemp -d /tmp/revproxy-bench.XXXXXX)
chmod 755 "$TMP"
PIDS=()

stop_pid() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local i
    trap - EXIT INT TERM
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PIDS[$i]}"
    done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {
    local keep=() p
    for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# Wait until 127.0.0.1:$1 accepts connections ($2 tenths of a second, 100).
wait_port() {
    local i
    for i in $(seq 1 "${2:-100}"); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

# ---- content -----------------------------------------------------------------
DOCS=$TMP/htdocs
mkdir -p "$DOCS"
head -c 100 /dev/zero | tr '\0' 'a' > "$DOCS/100.bin"
head -c 10240 /dev/zero | tr '\0' 'b' > "$DOCS/10k.bin"
head -c 1048576 /dev/zero | tr '\0' 'c' > "$DOCS/1m.bin"
truncate -s 1G "$DOCS/1g.bin"         # sparse: no disk, page-cache zeros
chmod 755 "$DOCS"
chmod 644 "$DOCS"/*

NGINX_USER=
if [ "$(id -u)" -eq 0 ]; then
    NGINX_USER="user www-data;"
    HTTPD_USER=$'User www-data\nGroup www-data'
else
    HTTPD_USER=
fi

nginx_common() {   # $1: dir
    cat <<EOF
$NGINX_USER
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
EOF
}

nginx_temp_paths() {   # $1: dir
    cat <<EOF
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
EOF
}

# start_nginx NAME DIR CPU-PREFIX...: nginx -c DIR/nginx.conf in the
# foreground of a background job; sets LAST_PID.
start_nginx() {
    local name=$1 dir=$2 port=$3
    shift 3
    "$NGINX" -t -q -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" \
        || die "$name: nginx config test failed ($dir/nginx.conf)"
    "$@" "$NGINX" -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" \
        </dev/null >"$dir/stdout.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_port "$port" || { cat "$dir/error.log" >&2; die "$name: nginx did not start on $port"; }
}

# ---- backends ----------------------------------------------------------------
start_backend() {
    local dir=$TMP/backend port=${PORT[backend]}
    mkdir -p "$dir"
    {
        nginx_common "$dir"
        cat <<EOF
http {
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    open_file_cache max=64 inactive=600s;
    open_file_cache_valid 600s;
$(nginx_temp_paths "$dir")
    server {
        listen 127.0.0.1:$port backlog=4096;
        root $DOCS;
        # The reproxy stub: an empty answer naming the 1 MiB file.
        location = /reproxy-1m {
            add_header X-Reproxy-Url "http://127.0.0.1:$port/1m.bin" always;
            return 200 "";
        }
    }
}
EOF
    } > "$dir/nginx.conf"
    start_nginx backend "$dir" "$port" "${ON_LOAD[@]}"
    BACKEND_PID=$LAST_PID
}

start_sse_backend() {
    "${ON_LOAD[@]}" perl "$TOP/bench/sse_backend.pl" "${PORT[sse]}" 100 \
        </dev/null >"$TMP/sse_backend.log" 2>&1 &
    SSE_PID=$!
    PIDS+=("$SSE_PID")
    wait_port "${PORT[sse]}" || die "SSE backend did not start on ${PORT[sse]}"
}

# ---- fronts ------------------------------------------------------------------
# write_front KIND DIR PORT BACKEND_PORT
write_front() {
    local kind=$1 dir=$2 port=$3 bport=$4
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
    upstream backend {
        server 127.0.0.1:$bport;
        keepalive 64;
        keepalive_requests 1000000;
    }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;   # stream, never spool to disk
        }
    }
}
EOF
        } > "$dir/nginx.conf"
        return
    fi
    {
        cat <<EOF
# $kind front, written by bench/run.sh
ServerRoot "$dir"
ServerName 127.0.0.1
Listen 127.0.0.1:$port
PidFile "$dir/httpd.pid"
ErrorLog "$dir/error.log"
LogLevel warn
DefaultRuntimeDir "$dir"
Mutex file:$dir default
DocumentRoot "$dir"
$HTTPD_USER
LoadModule mpm_event_module $MODDIR/mod_mpm_event.so
# httpd answers 500 without an authn/authz provider ("couldn't check user").
LoadModule authn_core_module $MODDIR/mod_authn_core.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
# One child with 64 threads (issue 7).
StartServers 1
ServerLimit 1
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 64
MinSpareThreads 25
MaxSpareThreads 75
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
Timeout 60
EOF
        case $kind in
            revproxy)
                echo "LoadModule revproxy_module $TOP/.libs/mod_revproxy.so"
                echo "RevProxyPass \"^/(.*)\$\" \"http://127.0.0.1:$bport/\$1\"" ;;
            group)
                # A group of 3 members, leastbusy: the one backend under
                # three URLs (the same path written three ways), so that
                # the cost of choosing a member is what differs from the
                # revproxy front.
                echo "LoadModule revproxy_module $TOP/.libs/mod_revproxy.so"
                echo "RevProxyBackend front lbmethod=leastbusy"
                for b in "" /. /./.; do
                    echo "RevProxyMember front http://127.0.0.1:$bport$b"
                done
                echo "RevProxyPass \"^/(.*)\$\" \"backend://front/\$1\"" ;;
            baseline)
                echo "LoadModule revproxy_module $BASELINE/mod_revproxy.so"
                echo "RevProxyPass \"^/(.*)\$\" \"http://127.0.0.1:$bport/\$1\"" ;;
            reproxy)
                echo "LoadModule revproxy_module $TOP/.libs/mod_revproxy.so"
                echo "LoadModule reproxy_filter_module $TOP/.libs/mod_reproxy_filter.so"
                echo "AllowReproxy On"
                echo "RevProxyPass \"^/(.*)\$\" \"http://127.0.0.1:$bport/\$1\"" ;;
            proxypass)
                echo "LoadModule proxy_module $MODDIR/mod_proxy.so"
                echo "LoadModule proxy_http_module $MODDIR/mod_proxy_http.so"
                echo "ProxyPass / http://127.0.0.1:$bport/" ;;
            proxypassmatch)
                echo "LoadModule proxy_module $MODDIR/mod_proxy.so"
                echo "LoadModule proxy_http_module $MODDIR/mod_proxy_http.so"
                echo "ProxyPassMatch \"^/(.*)\$\" \"http://127.0.0.1:$bport/\$1\"" ;;
            *) die "unknown front $kind" ;;
        esac
    } > "$dir/httpd.conf"
}

# config_ok KIND DIR: the config test passes (its output in DIR/configtest.log)
config_ok() {
    if [ "$1" = nginx ]; then
        "$NGINX" -t -q -p "$2/" -e "$2/error.log" -c "$2/nginx.conf" >"$2/configtest.log" 2>&1
    else
        "$HTTPD" -t -f "$2/httpd.conf" >"$2/configtest.log" 2>&1
    fi
}

declare -A FRONT_PID FRONT_DIR
# start_front KIND PORT BACKEND_PORT TAG [WRAPPER ...]: the front in
# $TMP/front-KIND-TAG, run by WRAPPER (default: the front's CPU pinning).
# httpd runs with $FRONT_MODE (-DFOREGROUND; -X for one process).
start_front() {
    local kind=$1 port=$2 bport=$3 dir=$TMP/front-$1-$4
    shift 4
    local wrap=("$@")
    [ $# -gt 0 ] || wrap=("${ON_FRONT[@]}")
    write_front "$kind" "$dir" "$port" "$bport"
    if [ "$kind" = nginx ]; then
        start_nginx "$kind" "$dir" "$port" "${wrap[@]}"
    else
        config_ok "$kind" "$dir" || { cat "$dir/configtest.log" >&2; die "$kind: config test failed"; }
        "${wrap[@]}" "$HTTPD" -f "$dir/httpd.conf" "${FRONT_MODE:--DFOREGROUND}" \
            </dev/null >"$dir/stdout.log" 2>&1 &
        LAST_PID=$!
        PIDS+=("$LAST_PID")
        wait_port "$port" "${FRONT_WAIT:-100}" \
            || { cat "$dir/error.log" "$dir/stdout.log" >&2; die "$kind: httpd did not start on $port"; }
    fi
    FRONT_PID[$kind]=$LAST_PID
    FRONT_DIR[$kind]=$dir
}

stop_front() {
    stop_pid "${FRONT_PID[$1]}"
    forget_pid "${FRONT_PID[$1]}"
    unset "FRONT_PID[$1]"
}

# ---- measuring ---------------------------------------------------------------
# "1.23ms" / "850.00us" / "1.02s" / "2.00m" -> milliseconds
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u);
        if (u == "us") n /= 1000; else if (u == "s") n *= 1000;
        else if (u == "m") n *= 60000;
        printf "%.2f", n }'
}

# wrk_run URL CONNS SECONDS -> "rps p99_ms errors requests"
wrk_run() {
    local url=$1 c=$2 d=$3 t=1 out rps p99 errs reqs
    [ "$c" -ge 16 ] && t=2
    out=$(timeout $((d + 30)) "${ON_LOAD[@]}" wrk -t "$t" -c "$c" -d "${d}s" \
          --timeout 10s --latency "$url" 2>&1) || true
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    reqs=$(awk '$2 == "requests" && $3 == "in" {print $1}' <<<"$out")
    errs=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {
                 for (i = 4; i <= NF; i += 2) { v = $i; gsub(/,/, "", v); n += v } }
               END {print n + 0}' <<<"$out")
    if [ -z "$rps" ] || [ -z "$p99" ]; then
        printf '%s\n' "$out" >> "$TMP/wrk-failures.log"
        echo "- - - -"
        return
    fi
    echo "$rps $(to_ms "$p99") $errs ${reqs:-0}"
}

# cpu_ticks PID: user+system clock ticks of PID and its direct children
# (httpd's parent and child, nginx's master and worker).
cpu_ticks() {
    perl -e 'my ($pp, $t) = (shift, 0);
        for my $f (glob "/proc/[0-9]*/stat") {
            open(my $h, "<", $f) or next;
            my $s = <$h> // next;
            my ($pid) = $f =~ m{/proc/(\d+)/};
            $s =~ s/^.*\) //s;
            my @v = split / /, $s;
            $t += $v[11] + $v[12] if $pid == $pp || $v[1] == $pp;
        }
        print "$t\n"' "$1"
}
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# check_get PORT PATH BYTES: one GET answers 200 with BYTES bytes
check_get() {
    local got
    got=$(curl -s -o /dev/null -m 30 -w '%{http_code} %{size_download}' \
          "http://127.0.0.1:$1$2" || true)
    [ "$got" = "200 $3" ] || { echo "got '$got'"; return 1; }
}

