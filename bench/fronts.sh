# bench/fronts.sh -- httpd fronts with a config of the caller's, for
# bench/tunnels.sh, bench/https.sh and bench/upload.sh (sourced after
# bench/lib.sh).
# shellcheck shell=bash disable=SC2034

# httpd_head DIR PORT: the part every httpd front shares: event MPM, one
# child with 64 threads, LogLevel warn, no access log; AsyncRequestWorkerFactor
# $ASYNC_FACTOR (default 2, httpd's) bounds the connections the child
# accepts: 64 + 64 x factor.
httpd_head() {
    local dir=$1 port=$2
    cat <<EOF
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
LoadModule authn_core_module $MODDIR/mod_authn_core.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
StartServers 1
ServerLimit 1
ThreadLimit 64
ThreadsPerChild 64
MaxRequestWorkers 64
MinSpareThreads 25
MaxSpareThreads 75
MaxConnectionsPerChild 0
AsyncRequestWorkerFactor ${ASYNC_FACTOR:-2}
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 30
Timeout 60
EOF
}

# start_httpd NAME DIR PORT: DIR/httpd.conf checked and started in the
# foreground of a background job on the front's CPU; FRONT_PID[NAME].
start_httpd() {
    local name=$1 dir=$2 port=$3
    "$HTTPD" -t -f "$dir/httpd.conf" >"$dir/configtest.log" 2>&1 \
        || { cat "$dir/configtest.log" >&2; die "$name: config test failed"; }
    "${ON_FRONT[@]}" "$HTTPD" -f "$dir/httpd.conf" -DFOREGROUND \
        </dev/null >"$dir/stdout.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_port "$port" || { cat "$dir/error.log" >&2; die "$name: httpd did not start on $port"; }
    FRONT_PID[$name]=$LAST_PID
    FRONT_DIR[$name]=$dir
}

# stop_front_pid NAME: stops what start_httpd or start_nginx started
stop_named() {
    stop_pid "${FRONT_PID[$1]}"
    forget_pid "${FRONT_PID[$1]}"
    unset "FRONT_PID[$1]"
}

# child_rss_kb PARENT_PID: RSS of the parent's (single) child, in KiB.
child_rss_kb() {
    local kid
    kid=$(pgrep -P "$1" | head -1)
    [ -n "$kid" ] || { echo 0; return; }
    awk '/^VmRSS:/ {print $2}' "/proc/$kid/status" 2>/dev/null || echo 0
}

# median of the numbers on stdin ("-" when none)
median() {
    { grep -v '^-$' || true; } | sort -g | awk '{a[++n] = $1} END {
        if (!n) { print "-"; exit }
        print (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }'
}

# ratio A B: A / B to two places, "-" when either is missing
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        if (a == "-" || b == "-" || a == "" || b == "" || b + 0 == 0) print "-";
        else printf "%.2f\n", a / b }'
}
