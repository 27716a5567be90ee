# t/revproxy/40_tls.t -- HTTPS backends: byte-exact bodies over TLS (large,
# chunked, request bodies), certificate verification (wrong name, unknown
# CA, IP literals, tlsverify=off, RevProxyTLSVerify Off, system store),
# SNI, client certificates, connection reuse and session resumption, and a
# handshake that outlasts connecttimeout.  Rules: t/conf/tls.conf.in;
# backends and certificates: t/lib/RevProxyTLS.pm.
use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use Time::HiRes ();

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET POST);
use RevProxyTest qw(:all);
use RevProxyTLS qw(test_certs tls_backend stop_tls_backend handshakes
                   tls_failures send_all);

my $N = 20;                             # requests of the reuse test

plan tests => 55, need need_module('ssl'), need_min_module_version(
    'IO::Socket::SSL' => 2.0);

my $certs = test_certs();

# Keep-alive to the front, so that a series of requests stays in one httpd
# child (pooled connections and sessions are per child).
Apache::TestRequest::user_agent(reset => 1, keep_alive => 1, timeout => 30);

sub via {
    my ($vhost, $path, @args) = @_;
    Apache::TestRequest::module($vhost);
    return GET($path, @args);
}

# A keep-alive backend: serves requests until the proxy closes.
#   /big     5 MiB with Content-Length
#   /chunked about 1 MiB, chunked in pieces of many sizes
#   /echo    the request body's length and MD5
#   other    "ok <path>"
my $big = join '', map { pack 'N*', ($_) x 256 } 0 .. 5 * 1024 - 1;   # 5 MiB
my @pieces = map { 'c' x (($_ * 7919) % 65000 + 1) } 1 .. 32;
my $chunked = join '', @pieces;

sub serve {
    my ($ssl) = @_;
    while (my $req = read_request($ssl, timeout => 15)) {
        my $uri = $req->{uri};
        if ($uri eq '/big') {
            send_all($ssl, "HTTP/1.1 200 OK\r\nContent-Type: "
                . "application/octet-stream\r\nContent-Length: "
                . length($big) . "\r\n\r\n" . $big);
        }
        elsif ($uri eq '/chunked') {
            send_all($ssl, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked"
                . "\r\n\r\n");
            send_all($ssl, sprintf("%x\r\n%s\r\n", length $_, $_))
                for @pieces;
            send_all($ssl, "0\r\n\r\n");
        }
        elsif ($uri eq '/echo') {
            respond($ssl, 200, [], length($req->{body}) . ' '
                                   . md5_hex($req->{body}));
        }
        else {
            respond($ssl, 200, [], "ok $uri");
        }
    }
}

# A backend for `conns` connections, each in its own process (the proxy
# keeps connections open), with certificate `cert` (see RevProxyTLS).
sub backend {
    my (%o) = @_;
    return tls_backend(conns => 1, concurrent => 1, lifetime => 60,
                       handler => \&serve, %o);
}

# Keep-alive: the proxy may hold connections open; end them all.
sub done { return stop_tls_backend($_[0]) }

# --- trusted backend: bodies byte-exact --------------------------------------
{
    my ($port, $be) = backend(conns => 5);

    my $res = via('rp_tls', "/tls/$port/big");
    is $res->code, 200, 'trusted backend: 200';
    is length($res->content), length($big), '5 MiB body: length';
    ok $res->content eq $big, '5 MiB body: byte-exact';

    $res = via('rp_tls', "/tls/$port/chunked");
    is $res->code, 200, 'chunked response: 200';
    ok $res->content eq $chunked, 'chunked body: byte-exact';

    my $body = join '', map { chr(($_ * 31) % 256) } 0 .. 2 * 1024 * 1024;
    $res = POST "/tls/$port/echo", content => $body;
    is $res->code, 200, 'request body over TLS: 200';
    is $res->content, length($body) . ' ' . md5_hex($body),
       '2 MiB request body: received byte-exact';

    done($be);
    my @hs = handshakes($be);
    ok @hs >= 1, 'backend saw a TLS handshake';
    is $hs[0]{sni}, 'localhost', 'SNI is the host name of the URL';
    is $hs[0]{alpn}, 'http/1.1', 'ALPN http/1.1';
    like $hs[0]{version}, qr/^TLSv1_[23]$/, "TLS 1.2+ ($hs[0]{version})";
    is scalar(@hs), 1, 'three requests, one connection';
}

# --- certificate for another name -----------------------------------------
{
    my ($port, $be) = backend(cert => 'other', conns => 2);
    my $off = error_log_offset();
    my $res = via('rp_tls', "/tls/$port/x");
    is $res->code, 502, 'certificate for another name: 502';
    my $log = error_log_wait($off, qr/hostname mismatch/);
    ok $log, 'error log says why (hostname mismatch)' or diag error_log_since($off);
    like $log // '', qr{https://localhost:$port.*RevProxyPass.*answered 502},
         '... naming the backend and the rule';

    $res = via('rp_tls', "/noverify/$port/x");
    is $res->code, 200, '... tlsverify=off: 200';
    is $res->content, 'ok /x', '... body';
    done($be);
    is scalar(handshakes($be)), 1, '... one handshake completed';
}

# --- unknown CA --------------------------------------------------------------
{
    my ($port, $be) = backend(cert => 'rogue', conns => 6);
    my $off = error_log_offset();
    my $res = via('rp_tls', "/tls/$port/x");
    is $res->code, 502, 'unknown CA: 502';
    my $log = error_log_wait($off, qr/certificate verification: unable to get local issuer/);
    ok $log, 'error log gives the verification error'
        or diag error_log_since($off);

    $res = via('rp_tls', "/noverify/$port/x");
    is $res->code, 200, 'unknown CA, tlsverify=off: 200';

    $res = via('rp_tls_off', "/tls/$port/x");
    is $res->code, 200, 'unknown CA, RevProxyTLSVerify Off: 200';
    $res = via('rp_tls_off', "/on/$port/x");
    is $res->code, 502, '... and a rule with tlsverify=on: 502';
    done($be);
}
{
    # The test CA is not in the system store.
    my ($port, $be) = backend(conns => 2);
    my $res = via('rp_tls_system', "/tls/$port/x");
    is $res->code, 502, 'system trust store: the test CA is unknown, 502';
    done($be);
}

# --- IP literals: no SNI, the address is verified ---------------------------
{
    my ($port, $be) = backend(conns => 3);
    my $off = error_log_offset();
    my $res = via('rp_tls', "/ip/$port/x");
    is $res->code, 502, 'https://127.0.0.1 with a certificate for localhost: 502';
    ok error_log_wait($off, qr/IP address mismatch/),
       '... IP address mismatch logged' or diag error_log_since($off);

    $res = via('rp_tls', "/ipnoverify/$port/x");
    is $res->code, 200, '... tlsverify=off: 200';
    done($be);
    my @hs = handshakes($be);
    is scalar(@hs), 1, '... one handshake completed';
    ok !defined $hs[0]{sni}, '... no SNI for an IP literal';
}
{
    my ($port, $be) = backend(cert => 'ip', conns => 2);
    my $res = via('rp_tls', "/ip/$port/x");
    is $res->code, 200, 'certificate for IP:127.0.0.1: 200';
    is $res->content, 'ok /x', '... body';
    done($be);
    my @hs = handshakes($be);
    ok @hs && !defined $hs[0]{sni}, '... no SNI';
}

# --- client certificate -------------------------------------------------------
{
    my ($port, $be) = backend(conns => 3, client_ca => $certs->{ca});
    my $res = via('rp_tls_client', "/tls/$port/whoami");
    is $res->code, 200, 'backend requiring a client certificate: 200';
    is $res->content, 'ok /whoami', '... body';

    $res = via('rp_tls', "/tls/$port/x");
    is $res->code, 502, '... without RevProxyTLSClientCertificate: 502';
    done($be);
    my @hs = handshakes($be);
    is scalar(@hs), 1, '... one handshake succeeded';
    like $hs[0]{client} // '', qr/client_ok/,
         "... the backend saw the client certificate ($hs[0]{client})";
    ok scalar(tls_failures($be)) >= 1, '... the other was refused by the backend';
}

# --- connection reuse and session resumption -------------------------------
{
    my ($port, $be) = backend(conns => $N, concurrent => 1);
    my $ok = 0;
    for my $i (1 .. $N) {
        my $res = via('rp_tls', "/tls/$port/r$i");
        $ok++ if $res->code == 200 && $res->content eq "ok /r$i";
    }
    is $ok, $N, "$N requests over TLS: all 200 with their own body";
    done($be);
    my $hs = () = handshakes($be);
    my $reqs = () = $be->received;
    is $reqs, $N, "... the backend served $N requests";
    cmp_ok $hs, '<=', 3, "... on $hs TLS connection(s)";
}
{
    # nopipeline: a new connection per request, resuming the session.
    my $n = 10;
    my ($port, $be) = backend(conns => $n, concurrent => 1);
    my $ok = 0;
    for my $i (1 .. $n) {
        my $res = via('rp_tls', "/fresh/$port/f$i");
        $ok++ if $res->code == 200;
    }
    is $ok, $n, "nopipeline: $n requests, all 200";
    done($be);
    my @hs = handshakes($be);
    is scalar(@hs), $n, "... $n connections";
    is $hs[0]{reused}, 0, '... the first is a full handshake';
    my $resumed = grep { $_->{reused} } @hs;
    cmp_ok $resumed, '>=', $n - 2, "... $resumed of the others resume the session";
}
{
    # The same TLS settings in another virtual host: the same context.
    my ($port, $be) = backend(conns => 4, concurrent => 1);
    my $res = via('rp_tls', "/tls/$port/a");
    is $res->code, 200, 'rp_tls: 200';
    $res = via('rp_tls_same', "/tls/$port/b");
    is $res->code, 200, 'rp_tls_same (identical TLS settings): 200';
    is $res->content, 'ok /b', '... body';
    done($be);
}

# --- a handshake that outlasts connecttimeout -------------------------------
{
    my ($port, $be) = tls_backend(stall => 1, conns => 1, lifetime => 20);
    my $off = error_log_offset();
    my $t0 = Time::HiRes::time();
    my $res = via('rp_tls', "/stall/$port/x");
    my $took = Time::HiRes::time() - $t0;
    is $res->code, 504, 'backend never answers the handshake: 504';
    cmp_ok $took, '<', 4, sprintf('... after %.1fs (connecttimeout=1)', $took);
    ok error_log_wait($off, qr/TLS handshake not done within the connect timeout.*answered 504/),
       '... logged' or diag error_log_since($off);
    ok $be->wait(10), '... the proxy closed the connection';
}

# --- the backend closes a pooled TLS connection ------------------------------
{
    # One request per connection, then close_notify: the pooled connection is
    # found dead (or fails) and the next request still succeeds.
    my ($port, $be) = tls_backend(conns => 3, lifetime => 30, handler => sub {
        my ($ssl) = @_;
        my $req = read_request($ssl) or return;
        respond($ssl, 200, [], "once $req->{uri}");
    });
    my $res = via('rp_tls', "/tls/$port/1");
    is $res->code, 200, 'backend that closes after each response: 200';
    Time::HiRes::sleep(0.3);
    $res = via('rp_tls', "/tls/$port/2");
    is $res->code, 200, '... next request on a new connection: 200';
    is $res->content, 'once /2', '... body';
    done($be);
}
