#!/bin/sh
# build/demo.sh -- try mod_revproxy: one httpd, in the foreground, with a
# front on 127.0.0.1:$DEMO_PORT (8080) proxying to a demo backend on
# 127.0.0.1:$DEMO_BACKEND_PORT (DEMO_PORT+1) served by the same httpd.
# Everything lives in a temporary directory; Ctrl-C stops it and removes it.
#
#   make -f Makefile.apxs demo          or   DEMO_PORT=9090 build/demo.sh
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
port=${DEMO_PORT:-8080}
bport=${DEMO_BACKEND_PORT:-$((port + 1))}
httpd=${HTTPD:-/usr/sbin/apache2}

sh "$top/build/deps.sh" demo
make -C "$top" -f Makefile.apxs all >/dev/null
libexec=$(apxs -q LIBEXECDIR)

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

# ---- the demo backend's files --------------------------------------------
mkdir -p "$d/logs" "$d/front/app/static" "$d/backend/cgi" "$d/backend/dir" \
         "$d/backend/docs" "$d/backend/static"
echo "hello from the backend" > "$d/backend/index.html"
echo "served by the front itself (excluded with \"!\")" > "$d/front/app/static/local.txt"
echo "the backend's /static/local.txt: you should not see this" > "$d/backend/static/local.txt"
echo "a directory on the backend" > "$d/backend/dir/index.html"
echo "docs.localhost was mapped to /docs/ by RevProxyPassFullURL" > "$d/backend/docs/readme.txt"
head -c 10485760 /dev/urandom > "$d/backend/big.bin"
cat > "$d/backend/cgi/events.cgi" <<'EOF'
#!/bin/sh
# Server-sent events, one per second: the proxy must pass each on at once.
printf 'Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n'
i=1
while [ $i -le 10 ]; do
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
chmod 755 "$d" "$d/backend/cgi/"*.cgi
chmod -R a+rX "$d"

user=
if [ "$(id -u)" -eq 0 ]; then
    user="User www-data
Group www-data"
fi

# ---- the configuration (directives as in the README) ---------------------
cat > "$d/httpd.conf" <<EOF
ServerRoot "$d"
ServerName 127.0.0.1
PidFile "$d/logs/httpd.pid"
DefaultRuntimeDir "$d/logs"
ErrorLog /dev/stderr
LogLevel notice revproxy:info
LogFormat ":%p %h \"%r\" %>s %B" demo
CustomLog /dev/stdout demo
$user

LoadModule mpm_event_module     "$libexec/mod_mpm_event.so"
LoadModule authz_core_module    "$libexec/mod_authz_core.so"
LoadModule mime_module          "$libexec/mod_mime.so"
LoadModule dir_module           "$libexec/mod_dir.so"
LoadModule cgid_module          "$libexec/mod_cgid.so"
LoadModule status_module        "$libexec/mod_status.so"
LoadModule revproxy_module       "$top/.libs/mod_revproxy.so"
LoadModule reproxy_filter_module "$top/.libs/mod_reproxy_filter.so"

TypesConfig /etc/mime.types
DirectoryIndex index.html
ScriptSock "$d/logs/cgisock"
Listen 127.0.0.1:$port
Listen 127.0.0.1:$bport

<Directory "$d">
    Require all granted
</Directory>

# The demo backend: static files, a 10 MiB file, CGI.
<VirtualHost 127.0.0.1:$bport>
    DocumentRoot "$d/backend"
    <Directory "$d/backend/cgi">
        Options +ExecCGI
        SetHandler cgi-script
    </Directory>
</VirtualHost>

# The front.
<VirtualHost 127.0.0.1:$port>
    DocumentRoot "$d/front"

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

    <Location "/revproxy-status">
        SetHandler revproxy-status
    </Location>
</VirtualHost>
EOF

"$httpd" -t -f "$d/httpd.conf"

f="http://127.0.0.1:$port"
cat <<EOF

mod_revproxy demo: front $f, backend http://127.0.0.1:$bport (config: $d/httpd.conf)
Try, in another terminal:
  curl -i $f/app/                                  # proxied: "hello from the backend"
  curl -N $f/app/cgi/events.cgi                    # server-sent events, one a second, streamed
  curl -o /dev/null -w '%{size_download} bytes\n' $f/app/big.bin   # 10 MiB
  curl -i $f/app/static/local.txt                  # excluded ("!"): the front's own file
  curl -i $f/app/dir                               # backend redirect, Location rewritten
  curl -d 'hello' $f/app/cgi/echo.cgi              # a POST with its body, X-Forwarded-*
  curl -d 'hello' -i $f/ro/cgi/echo.cgi            # methods=GET,HEAD: not proxied (404)
  curl -i $f/ro/cgi/echo.cgi                       # ... but GET is
  curl -H 'Host: docs.localhost' $f/readme.txt     # RevProxyPassFullURL
  curl '$f/revproxy-status?json'                   # counters
Ctrl-C stops the server and removes $d.

EOF

"$httpd" -DFOREGROUND -f "$d/httpd.conf" &
pid=$!
wait "$pid" || true
