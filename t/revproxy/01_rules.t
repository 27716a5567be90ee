# t/revproxy/01_rules.t -- rule matching and what the backend receives:
# order, exclusions, methods=, main-server rules, RevProxyPassFullURL,
# query handling, Host/keephost, X-Forwarded-*, hop-by-hop removal,
# capture encoding and host validation, nocanon, RevProxyRewriteHeader.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET POST);
use RevProxyTest qw(:all);

Apache::TestRequest::module('rp_front');
my $front_port = Apache::Test::vars('rp_front_port');

# A backend that answers one request and closes, recording it.
sub one_shot {
    my (%o) = @_;
    return raw_backend(lifetime => 15, handler => sub {
        my ($sock) = @_;
        my $req = read_request($sock) or return;
        respond($sock, $o{status} // 200,
                [Connection => 'close', @{ $o{headers} || [] }],
                $o{body} // 'ok');
    });
}

# Request $path through the front; returns (response, backend requests).
sub via {
    my ($prefix, $path, @headers) = @_;
    my ($port, $be) = one_shot();
    my $res = GET "/$prefix/$port$path", @headers;
    $be->wait(5) or $be->stop;
    return ($res, $be->received, $be);
}

# --- routing ----------------------------------------------------------------
{
    my $res = GET '/b/fallback/page.txt';
    is $res->code, 200, 'RevProxyPass to an httpd backend';
    is $res->content, "from the backend\n", '... body from the backend';

    $res = GET '/ex/excluded/local.txt';
    is $res->code, 200, '"!" exclusion: served by httpd itself';
    is $res->content, "served locally\n", '... from the local document root';

    $res = GET '/ex/page.txt';
    is $res->content, "from the backend\n", 'the rule after the exclusion';
}
{
    my ($res, $req) = via('order', '/x');
    is $res->code, 200, 'two rules match';
    is $req->{uri}, '/first/x', '... the first one wins';

    ($res, $req) = via('mainrule', '/y');
    is $req->{uri}, '/main/y', 'a main-server rule applies in a vhost';
}
{
    my ($port, $be) = one_shot();
    my $res = POST "/getonly/$port/x", content => 'a=1';
    isnt $res->code, 200, 'methods=GET,HEAD: POST is not proxied';
    $be->stop;
    is $be->connections, 0, '... and the backend is never contacted';

    my ($res2, $req) = via('getonly', '/x');
    is $req->{method}, 'GET', 'methods=GET,HEAD: GET is proxied';
}
{
    my ($port, $be) = one_shot();
    my $res = GET "/$port/some/path", Host => "abc.full.test";
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    is $res->code, 200, 'RevProxyPassFullURL matches scheme://host:port/path';
    is $req->{uri}, '/abc/some/path', '... with host and path captures';
}

# --- query and Host -----------------------------------------------------------
{
    my ($res, $req) = via('raw', '/x?a=1&b=%20');
    is $req->{uri}, '/x?a=1&b=%20', 'the query is appended as received';

    ($res, $req) = via('rawq', '/y?z=1');
    is $req->{uri}, '/fixed?a=y&z=1', '... with & when DEST has a query';

    my ($port, $be);
    ($res, $req, $be) = via('raw', '/h');
    like $req->{header}{host}, qr/^127\.0\.0\.1:\d+$/, 'Host is DEST\'s';

    ($res, $req) = via('rawkh', '/h', Host => 'kept.test');
    is $req->{header}{host}, 'kept.test', 'keephost sends the client\'s Host';
}

# --- X-Forwarded-* and hop-by-hop -------------------------------------------
{
    my ($res, $req) = via('raw', '/f', 'X-Forwarded-For' => '192.0.2.7',
                          Host => 'client.test');
    is $req->{header}{'x-forwarded-for'}, '192.0.2.7, 127.0.0.1',
       'X-Forwarded-For appended';
    is $req->{header}{'x-forwarded-host'}, 'client.test', 'X-Forwarded-Host';
    is $req->{header}{'x-forwarded-proto'}, 'http', 'X-Forwarded-Proto';

    ($res, $req) = via('raw', '/f', 'X-Forwarded-For' => '6.6.6.6',
                       Connection => 'X-Forwarded-For, X-Forwarded-Host',
                       'X-Forwarded-Host' => 'spoof.test');
    is $req->{header}{'x-forwarded-for'}, '127.0.0.1',
       'Connection: X-Forwarded-For drops the client\'s value, not ours';
    isnt $req->{header}{'x-forwarded-host'}, 'spoof.test',
       '... nor can it strip or spoof X-Forwarded-Host';

    ($res, $req) = via('raw', '/hop', Connection => 'X-Secret',
                       'X-Secret' => 'hidden', 'Keep-Alive' => '300',
                       TE => 'trailers', Upgrade => 'websocket',
                       'Proxy-Connection' => 'keep-alive',
                       'X-Kept' => 'yes');
    my $h = $req->{header};
    ok !exists $h->{'x-secret'}, 'a field named by Connection is dropped';
    ok !exists $h->{$_}, "$_ is dropped"
        for qw(keep-alive te upgrade proxy-connection);
    unlike $h->{connection} // '', qr/x-secret/i, '... and so is the token';
    is $h->{'x-kept'}, 'yes', 'end-to-end fields pass';

    my ($port, $be) = one_shot();
    my $raw = raw_http(Apache::Test::vars('rp_nofwd_port'),
                       "GET /raw/$port/n HTTP/1.1\r\nHost: x\r\n"
                       . "X-Forwarded-For: 192.0.2.9\r\nConnection: close\r\n\r\n");
    $be->wait(5) or $be->stop;
    ($req) = $be->received;
    is $req->{header}{'x-forwarded-for'}, '192.0.2.9',
       'RevProxyAddForwarded Off: nothing added';
    ok !exists $req->{header}{'x-forwarded-proto'}, '... no X-Forwarded-Proto';
}

# --- captures: encoding and host validation ---------------------------------
{
    my ($port, $be) = one_shot();
    my $res = GET "/host/127.0.0.1%0d%0aX-Evil:%201/$port/x";
    is $res->code, 400, 'CR/LF in a host capture: 400';
    $res = GET "/host/evil.test%40127.0.0.1/$port/x";
    is $res->code, 400, '@ in a host capture: 400';
    $res = GET "/host/127.0.0.1:1/$port/x";
    is $res->code, 400, ': in a host capture: 400';
    $be->stop;
    is $be->connections, 0, '... and the backend is never contacted';

    ($port, $be) = one_shot();
    $res = GET "/host/127.0.0.1/$port/ok";
    $be->wait(5) or $be->stop;
    is $res->code, 200, 'a clean host capture is proxied';

    my ($r2, $req) = via('raw', '/a%0d%0aX-Injected:%201%20b');
    is $req->{uri}, '/a%0D%0AX-Injected:%201%20b',
       'CR/LF/space in a path capture reach the backend percent-encoded';
    ok !exists $req->{header}{'x-injected'}, '... no header injected';

    ($r2, $req) = via('raw', '/%41%25z%3f');
    is $req->{uri}, '/A%25z%3F', 'decoded path re-encoded: %41 -> A, % and ?';

    ($r2, $req) = via('rawnc', '/%41%25z%3f');
    is $req->{uri}, '/%41%25z%3f', 'nocanon: the raw path, unchanged';
}

# --- response headers ---------------------------------------------------------
{
    my ($port, $be) = raw_backend(lifetime => 15, handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        my $me = $sock->sockport;
        print $sock "HTTP/1.1 302 Found\r\n"
            . "Location: http://127.0.0.1:$me/new/place?x=1\r\n"
            . "Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
            . "Connection: close, X-Hop\r\nX-Hop: secret\r\n"
            . "Keep-Alive: timeout=5\r\nX-End: kept\r\n"
            . "Content-Length: 0\r\n\r\n";
    });
    my $raw = raw_http($front_port, "GET /raw/$port/r HTTP/1.1\r\n"
                       . "Host: x\r\nConnection: close\r\n\r\n");
    $be->wait(5) or $be->stop;
    my $res = split_response($raw);
    is $res->{status}, 302, 'status passed on';
    like $res->{header}{location}, qr{^http://front\.test/new/place\?x=1$},
         'RevProxyRewriteHeader rewrote Location';
    my @cookies = map { $_->[1] } grep { lc $_->[0] eq 'set-cookie' }
                  @{ $res->{headers} };
    is_deeply \@cookies, ['a=1', 'b=2'], 'two Set-Cookie fields kept apart';
    ok !exists $res->{header}{'x-hop'}, 'response field named by Connection dropped';
    ok !exists $res->{header}{'keep-alive'}, 'backend Keep-Alive dropped';
    is $res->{header}{'x-end'}, 'kept', 'end-to-end response field kept';
}

{
    my ($port, $be) = raw_backend(lifetime => 15, conns => 2, handler => sub {
        my ($sock) = @_;
        my $req = read_request($sock) or return;
        my $line = $req->{uri} =~ /odd/ ? '299 Custom Reason' : '200 OK';
        print $sock "HTTP/1.1 $line\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    });
    my $odd = split_response(raw_http($front_port, "GET /raw/$port/odd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    my $ok = split_response(raw_http($front_port, "GET /raw/$port/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    $be->stop;
    is "$odd->{status} $odd->{reason}", '299 Custom Reason', 'an unusual status and reason pass through';
    is "$ok->{status} $ok->{reason}", '200 OK', 'a usual one too';
}

done_testing();
