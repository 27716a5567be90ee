# t/reproxy/10_origins.t -- every kind of origin can ask for reproxying
# (CGI, a static file with mod_headers, mod_revproxy), the client sees only
# the source's answer, X-Proxy-Capabilities is ours alone, and a slowly
# streamed stub body never leaks.  Where AllowReproxy is Off, responses
# pass untouched.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET HEAD);
use Time::HiRes ();
use RevProxyTest qw(:all);
use ReproxyTest qw(:all);

Apache::TestRequest::module('rx_front');
Apache::TestRequest::user_agent(keep_alive => 0);

# A raw mod_revproxy origin: answers one request with $head (fields) and
# the pieces of a chunked stub body, $delay seconds apart.
sub raw_origin {
    my (%o) = @_;
    return raw_backend(lifetime => 20, handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        my $out = "HTTP/1.1 " . ($o{status} // 200) . " OK\r\n"
                . join('', map { "$_->[0]: $_->[1]\r\n" } @{ $o{fields} })
                . "Content-Type: text/x-origin\r\n"
                . "Transfer-Encoding: chunked\r\n\r\n";
        print $sock $out;
        for my $piece (@{ $o{pieces} || ['RAWSTUB'] }) {
            Time::HiRes::sleep($o{delay}) if $o{delay};
            printf $sock "%x\r\n%s\r\n", length $piece, $piece or return;
        }
        print $sock "0\r\n\r\n";
    });
}

# --- CGI -------------------------------------------------------------------
{
    my $res = GET stub('cgi', u => store('store/a.txt'), ct => 'text/x-stub',
                       h => 'X-Origin-Only: yes');
    is $res->code, 200, 'CGI origin: reproxied';
    is $res->content, "content of a\n", '... body from the source';
    is $res->header('Content-Type'), 'text/plain',
       '... the source\'s Content-Type';
    ok $res->header('ETag'), '... and its other fields (ETag)';
    is $res->header('X-Origin-Only'), undef,
       '... nothing of the original but PreserveHeaders';
    is $res->header('X-Seen-Capabilities'), undef, '... (one more)';
    is_deeply [reserved_fields($res)], [], '... no X-Reproxy-* field';
    unlike $res->content, qr/STUB/, '... no stub byte';
}

# --- static file + mod_headers (Header set X-Reproxy-Url) ------------------
{
    my $res = GET '/static/stub.txt';
    is $res->code, 200, 'static file + mod_headers origin: reproxied';
    is $res->content, "content of a\n", '... body from the source';
    is_deeply [reserved_fields($res)], [], '... no X-Reproxy-* field';

    $res = GET '/static/two.txt';
    is $res->content, "content of b\n",
       'static origin with two URLs and X-Reproxy-Expected-Size: the first '
       . 'refused, the second served';
}

# --- mod_revproxy origin ---------------------------------------------------
{
    my ($port, $be) = raw_origin(fields => [
        ['X-Reproxy-Url', store('store/b.txt')],
        ['X-Reproxy-Expected-Size', 13], ['X-Origin-Only', 'yes']]);
    my $res = GET "/rp/$port/asset", 'X-Proxy-Capabilities' => 'spoofed';
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    is $res->code, 200, 'mod_revproxy origin: reproxied';
    is $res->content, "content of b\n", '... body from the source';
    is $res->header('X-Origin-Only'), undef, '... the original\'s fields gone';
    is_deeply [reserved_fields($res)], [], '... no X-Reproxy-* field';
    is $req->{header}{'x-proxy-capabilities'}, 'reproxy-file',
       'the origin got X-Proxy-Capabilities: reproxy-file, not the client\'s';
}
{
    my ($port, $be) = raw_origin(fields => [
        ['X-Reproxy-Url', store('store/b.txt')]]);
    my $res = GET "/rpoff/$port/asset", 'X-Proxy-Capabilities' => 'spoofed';
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    ok !exists $req->{header}{'x-proxy-capabilities'},
       'AllowReproxy Off: a client-sent X-Proxy-Capabilities is still removed';
    is $res->content, 'RAWSTUB', '... and the response passes untouched';
    is $res->header('X-Reproxy-Url'), store('store/b.txt'),
       '... X-Reproxy-Url included';
}

# --- mod_proxy origin ------------------------------------------------------
{
    my ($port, $be) = raw_origin(fields => [
        ['X-Reproxy-Url', store('store/b.txt')]]);
    my $res = GET "/mp/$port/asset", 'X-Proxy-Capabilities' => 'spoofed';
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    is $res->content, "content of b\n", 'mod_proxy origin: reproxied';
    is_deeply [reserved_fields($res)], [], '... no X-Reproxy-* field';
    is $req->{header}{'x-proxy-capabilities'}, 'reproxy-file',
       '... the origin got our X-Proxy-Capabilities, not the client\'s';
}

# --- keep-alive: one response per request, nothing in between ---------------
{
    my ($port, $be) = raw_origin(
        fields => [['X-Reproxy-Url', store('store/b.txt')]],
        pieces => ['STUB-1 ', 'STUB-2'], delay => 0.2);
    my $req = sub {
        my ($path, $last) = @_;
        return "GET $path HTTP/1.1\r\nHost: localhost\r\n"
             . ($last ? "Connection: close\r\n" : '') . "\r\n";
    };
    my ($raw) = raw_http(front_port(), '', pieces => [
        $req->(stub('cgi', u => store('store/a.txt'), slow => 2)),
        $req->("/rp/$port/ka"),
        $req->(stub('cgi', u => store('store/range.txt')), 1)],
        delay => 0.05, timeout => 10);
    $be->stop;
    my @bodies;
    while (my $res = split_response($raw)) {
        push @bodies, $res->{body};
        $raw = $res->{rest};
    }
    is_deeply \@bodies, ["content of a\n", "content of b\n",
                        "0123456789abcdefghijklmnopqrstuvwxyz\n"],
              'three reproxied requests on one connection: three responses';
    is $raw, '', '... and nothing else';
}

# --- X-Proxy-Capabilities as the CGI sees it --------------------------------
{
    my $res = GET stub('cgi'), 'X-Proxy-Capabilities' => 'evil';
    is $res->code, 200, 'no X-Reproxy-* field: the response passes';
    like $res->content, qr/^capabilities=reproxy-file$/m,
         'CGI sees X-Proxy-Capabilities: reproxy-file, the spoofed value gone';
    like $res->content, qr/^STUB 1$/m, '... and its body is served as is';

    $res = GET stub('off', u => store('store/a.txt')),
               'X-Proxy-Capabilities' => 'evil';
    like $res->content, qr/^capabilities=\(none\)$/m,
         'AllowReproxy Off: the CGI sees no X-Proxy-Capabilities at all';
    like $res->content, qr/^STUB 1$/m, '... the response is not reproxied';
    is $res->header('X-Reproxy-Url'), store('store/a.txt'),
       '... and passes untouched';
}

# --- a slowly streamed stub body does not leak --------------------------------
{
    my $t0 = Time::HiRes::time();
    my $res = GET stub('cgi', u => store('store/a.txt'), slow => 5);
    my $took = Time::HiRes::time() - $t0;
    is $res->content, "content of a\n",
       'CGI streaming its stub slowly: only the source\'s body';
    cmp_ok $took, '<', 1.4, '... served without waiting for the stub';
}
{
    my ($port, $be) = raw_origin(
        fields => [['X-Reproxy-Url', store('store/a.txt')]],
        pieces => ['STUB-1 ', 'STUB-2 ', 'STUB-3'], delay => 0.4);
    my ($raw, $how) = raw_http(front_port(), "GET /rp/$port/slow HTTP/1.1\r\n"
        . "Host: localhost\r\nConnection: close\r\n\r\n", timeout => 10);
    $be->stop;
    my $res = split_response($raw);
    is $res->{status}, 200,
       'mod_revproxy origin streaming its stub slowly: reproxied';
    is $res->{body}, "content of a\n", '... only the source\'s body';
    is $res->{rest}, '', '... and nothing after it (no stub, no 2nd response)';
    unlike $raw, qr/STUB/, '... no stub byte anywhere';
}

# --- HEAD --------------------------------------------------------------------
{
    my $res = HEAD stub('cgi', u => store('store/range.txt'));
    is $res->code, 200, 'HEAD: reproxied';
    is $res->header('Content-Length'), 37, '... the source\'s Content-Length';
    is $res->content, '', '... no body';
}

done_testing();
