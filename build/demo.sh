#!/bin/sh
# build/demo.sh -- try mod_revproxy and mod_reproxy_filter: one httpd, in the
# foreground, with a front on 127.0.0.1:$DEMO_PORT (8080) proxying to demo
# backends served by the same httpd:
#   DEMO_BACKEND_PORT (DEMO_PORT+1)  the application: static files, CGI
#   DEMO_STORAGE_PORT (DEMO_PORT+2)  a storage server for X-Reproxy-Url
#   DEMO_DEAD_PORT    (DEMO_PORT+3)  nothing listens there: the dead member
#                                    of the backend group
# The ports are checked first: a busy one stops the demo before anything
# else.  Everything lives in a temporary directory; Ctrl-C stops the server
# and removes it.  t/revproxy/96_demo.t runs every curl command it prints.
#
#   make -f Makefile.apxs demo          or   DEMO_PORT=9090 build/demo.sh
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
port=${DEMO_PORT:-8080}
case $port in
    ''|*[!0-9]*) echo "demo: DEMO_PORT=$port is not a port number" >&2; exit 2 ;;
esac
bport=${DEMO_BACKEND_PORT:-$((port + 1))}
sport=${DEMO_STORAGE_PORT:-$((port + 2))}
dport=${DEMO_DEAD_PORT:-$((port + 3))}
httpd=${HTTPD:-/usr/sbin/apache2}

# ---- the ports, before anything else ----------------------------------------
# Whether 127.0.0.1:$1 cannot be listened on (perl-base is on every Debian).
port_taken() {
    ! perl -MIO::Socket::INET -e 'IO::Socket::INET->new(LocalAddr => "127.0.0.1",
        LocalPort => $ARGV[0], Proto => "tcp", Listen => 1, ReuseAddr => 1)
        or exit 1' "$1" 2>/dev/null
}
for spec in "DEMO_PORT $port" "DEMO_BACKEND_PORT $bport" \
            "DEMO_STORAGE_PORT $sport" "DEMO_DEAD_PORT $dport"; do
    # shellcheck disable=SC2086  # two words: the variable and its port
    set -- $spec
    case $2 in
        ''|*[!0-9]*) echo "demo: $1=$2 is not a port number" >&2; exit 2 ;;
    esac
    if [ "$2" -lt 1 ] || [ "$2" -gt 65535 ]; then
        echo "demo: $1=$2 is not a port number" >&2
        exit 2
    fi
    if port_taken "$2"; then
        echo "demo: port $2 on 127.0.0.1 ($1) is in use; choose other ports," >&2
        echo "      e.g. DEMO_PORT=$((port + 10)) make -f Makefile.apxs demo" >&2
        exit 1
    fi
done

# ---- the modules: the build's output is shown only when it fails -------------
sh "$top/build/deps.sh" demo >/dev/null
d=$(mktemp -d /tmp/revproxy-demo.XXXXXX)
pid=
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        n=0
        while kill -0 "$pid" 2>/dev/null && [ $n -lt 50 ]; do sleep 0.1; n=$((n + 1)); done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$d"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! make -C "$top" -f Makefile.apxs all >"$d/build.log" 2>&1; then
    cat "$d/build.log" >&2
    echo "demo: building the modules failed (the output above)" >&2
    exit 1
fi
libexec=$(apxs -q LIBEXECDIR)

# ---- the demo backends' files --------------------------------------------------
mkdir -p "$d/logs" "$d/front/app/static" "$d/backend/cgi" "$d/backend/dir" \
         "$d/backend/docs" "$d/backend/static" "$d/storage"
echo "hello from the backend" > "$d/backend/index.html"
echo "served by the front itself (excluded with \"!\")" > "$d/front/app/static/local.txt"
echo "the backend's /static/local.txt: you should not see this" > "$d/backend/static/local.txt"
echo "a directory on the backend" > "$d/backend/dir/index.html"
echo "docs.localhost was mapped to /docs/ by RevProxyPassFullURL" > "$d/backend/docs/readme.txt"
echo "report.txt from the storage server, fetched by the front (X-Reproxy-Url)" > "$d/storage/report.txt"
echo "hello from the standby member (the storage server)" > "$d/storage/index.html"
head -c 10485760 /dev/urandom > "$d/backend/big.bin"
cat > "$d/backend/cgi/events.cgi" <<'EOF'
#!/bin/sh
# Server-sent events, one per second: the proxy must pass each on at once.
printf 'Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n'
i=1
while [ $i -le 5 ]; do
    printf 'data: tick %d at %s\n\n' "$i" "$(date +%T)"
    i=$((i + 1))
    sleep 1
done
EOF
cat > "$d/backend/cgi/echo.cgi" <<'EOF'
#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "method: $REQUEST_METHOD"
echo "uri: $REQUEST_URI"
echo "body bytes: $(wc -c)"
echo "X-Forwarded-For: ${HTTP_X_FORWARDED_FOR:-}"
echo "X-Forwarded-Host: ${HTTP_X_FORWARDED_HOST:-}"
EOF
# The application decides (here: any plain file name) and names where the
# file is; the front fetches it from the storage server and sends that.
cat > "$d/backend/cgi/download.cgi" <<EOF
#!/bin/sh
name=\${PATH_INFO#/}
case \$name in
    ''|*[!a-z0-9.]*) printf 'Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nno such file\n'; exit 0 ;;
esac
printf 'Content-Type: text/plain\r\n'
printf 'Content-Disposition: attachment; filename="%s"\r\n' "\$name"
printf 'X-Reproxy-Url: http://127.0.0.1:$sport/%s\r\n\r\n' "\$name"
echo "the application's own body: the front discards it"
EOF
chmod 755 "$d" "$d/backend/cgi/"*.cgi
chmod -R a+rX "$d"

user=
if [ "$(id -u)" -eq 0 ]; then
    user="User www-data
Group www-data"
fi

# ---- the configuration (directives as in the README) -------------------------
cat > "$d/httpd.conf" <<EOF
ServerRoot "$d"
ServerName 127.0.0.1
PidFile "$d/logs/httpd.pid"
DefaultRuntimeDir "$d/logs"
ErrorLog /dev/stderr
LogLevel notice revproxy:info
# The port, the request, the status, and the backend that answered, whether
# its connection was reused, and the time to its response head.
LogFormat ":%p \"%r\" %>s %B backend=%{revproxy-backend}n reused=%{revproxy-reused}n header_us=%{revproxy-header-us}n" demo
CustomLog /dev/stdout demo
$user

LoadModule mpm_event_module      "$libexec/mod_mpm_event.so"
LoadModule authz_core_module     "$libexec/mod_authz_core.so"
LoadModule authz_host_module     "$libexec/mod_authz_host.so"
LoadModule mime_module           "$libexec/mod_mime.so"
LoadModule dir_module            "$libexec/mod_dir.so"
LoadModule cgid_module           "$libexec/mod_cgid.so"
LoadModule status_module         "$libexec/mod_status.so"
LoadModule revproxy_module       "$top/.libs/mod_revproxy.so"
LoadModule reproxy_filter_module "$top/.libs/mod_reproxy_filter.so"

TypesConfig /etc/mime.types
DirectoryIndex index.html
ScriptSock "$d/logs/cgisock"
Listen 127.0.0.1:$port
Listen 127.0.0.1:$bport
Listen 127.0.0.1:$sport

<Directory "$d">
    Require all granted
</Directory>

# The demo application: static files, a 10 MiB file, CGI.
<VirtualHost 127.0.0.1:$bport>
    DocumentRoot "$d/backend"
    <Directory "$d/backend/cgi">
        Options +ExecCGI
        SetHandler cgi-script
    </Directory>
</VirtualHost>

# The storage server the application's X-Reproxy-Url answers point at.
<VirtualHost 127.0.0.1:$sport>
    DocumentRoot "$d/storage"
</VirtualHost>

# The front.
<VirtualHost 127.0.0.1:$port>
    DocumentRoot "$d/front"

    # A backend group: the application (twice the share), a member nothing
    # listens on (127.0.0.1:$dport), and a standby member (the storage
    # server) used only while no other member is usable.  A request that
    # meets the dead member moves on to the live one; the dead one is left
    # out for 30s (see the status page).
    RevProxyBackend pool retry=30s
    RevProxyMember pool http://127.0.0.1:$bport weight=2
    RevProxyMember pool http://127.0.0.1:$dport
    RevProxyMember pool http://127.0.0.1:$sport standby
    RevProxyPass "^/pool/(.*)\$" "backend://pool/\$1"

    # An exclusion: first match wins, so this comes before /app/.
    RevProxyPass "^/app/static/" "!"
    # A capture into the backend path.
    RevProxyPass "^/app/(.*)\$" "http://127.0.0.1:$bport/\$1"
    # Only reads: a POST here is not proxied.
    RevProxyPass "^/ro/(.*)\$" "http://127.0.0.1:$bport/\$1" methods=GET,HEAD
    # Routing on the whole URL: NAME.localhost goes to the backend's /NAME/.
    RevProxyPassFullURL "^http://([a-z]+)\.localhost:$port/(.*)\$" "http://127.0.0.1:$bport/\$1/\$2"
    # The backend's redirects point at itself; show the front's address.
    RevProxyRewriteHeader Location "^http://127\.0\.0\.1:$bport/(.*)\$" "http://127.0.0.1:$port/app/\$1"

    # Downloads: the application answers with X-Reproxy-Url, the front
    # fetches that URL from the storage server and sends what it serves.
    RevProxyPass "^/download/([a-z0-9.]+)\$" "http://127.0.0.1:$bport/cgi/download.cgi/\$1"
    <Location "/download/">
        AllowReproxy On
        ReproxyAllow "^http://127\.0\.0\.1:$sport/"
        PreserveHeaders Content-Disposition
    </Location>

    # The status page, also a manager (POST: drain, disable, bring back).
    <Location "/revproxy-status">
        SetHandler revproxy-status
        RevProxyStatusManage On
        Require local
    </Location>
    <Location "/server-status">
        SetHandler server-status
        Require local
    </Location>
</VirtualHost>
EOF

"$httpd" -t -f "$d/httpd.conf" 2>"$d/configtest.log" || {
    cat "$d/configtest.log" >&2
    exit 1
}

f="http://127.0.0.1:$port"
# One line per command: what to type, and what it shows.
try() {
    printf '  %-58s # %s\n' "$1" "$2"
}
echo
echo "mod_revproxy demo: front $f (config: $d/httpd.conf)"
echo "Try, in another terminal:"
try "curl -i $f/app/" 'proxied: "hello from the backend"'
try "curl -N $f/app/cgi/events.cgi" 'server-sent events, one a second, streamed'
try "curl -o /dev/null -w '%{size_download} bytes\n' $f/app/big.bin" '10 MiB'
try "curl -i $f/app/static/local.txt" 'excluded ("!"): the front'"'"'s own file'
try "curl -i $f/app/dir" 'backend redirect, Location rewritten'
try "curl -d hello $f/app/cgi/echo.cgi" 'a POST with its body, X-Forwarded-*'
try "curl -i -d hello $f/ro/cgi/echo.cgi" 'methods=GET,HEAD: not proxied (404)'
try "curl -H 'Host: docs.localhost' $f/readme.txt" 'RevProxyPassFullURL'
try "curl $f/pool/ $f/pool/ $f/pool/" 'a group: its dead member is skipped'
nonce="\$(curl -s '$f/revproxy-status?json' | sed -n 's/.*\"nonce\":\"\([0-9a-f]*\)\".*/\\1/p')"
try "curl -s -o /dev/null -w '%{http_code}\\n' -d \"group=pool&member=http://127.0.0.1:$bport&state=drain&nonce=$nonce\" $f/revproxy-status" 'drain the live member: 303'
try "curl $f/pool/" 'the standby member answers'
try "curl -i $f/download/report.txt" 'X-Reproxy-Url: the storage'"'"'s file'
try "curl '$f/revproxy-status?json'" 'members up/down, counters (JSON)'
try "curl -s '$f/revproxy-status?metrics' | grep _count" 'Prometheus histograms'
try "curl -s $f/revproxy-status | grep -o 'href=[^>]*'" 'HTML page: links to ?json, ?metrics'
try "curl -s '$f/server-status?auto' | grep RevProxy" 'mod_status, with its RevProxy lines'
echo "Each request's access-log line follows below (backend=, reused=, header_us=)."
echo "Ctrl-C stops the server and removes $d."
echo

"$httpd" -DFOREGROUND -f "$d/httpd.conf" &
pid=$!
wait "$pid" || true
