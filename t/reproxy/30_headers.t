# t/reproxy/30_headers.t -- what goes to a source and what comes back:
# ReproxyForwardHeaders (default, none, a list; never Cookie, Authorization
# or X-Proxy-Capabilities), Host from the URL, the loop marker, GET or
# HEAD; Range -> 206, If-None-Match -> 304, 416, and 304 only when a
# conditional was sent;
# hop-by-hop fields removed; PreserveHeaders (case-insensitive, a missing
# header is not preserved); an HTTPS source.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET HEAD);
use RevProxyTest qw(:all);
use ReproxyTest qw(:all);

Apache::TestRequest::module('rx_front');
Apache::TestRequest::user_agent(keep_alive => 0);

sub source {
    my ($answer) = @_;
    return raw_backend(lifetime => 15, handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        print $sock $answer;
    });
}

my $ok_answer = "HTTP/1.1 200 OK\r\nContent-Type: text/x-source\r\n"
              . "Content-Length: 2\r\n\r\nok";

my @client = (Range => 'bytes=0-0', 'If-Range' => '"etag"',
              'If-Modified-Since' => 'Sat, 01 Jan 2000 00:00:00 GMT',
              'If-None-Match' => '"other"', Cookie => 'session=secret',
              Authorization => 'Basic dXNlcjpwYXNz',
              'X-Proxy-Capabilities' => 'reproxy-file',
              'Accept-Language' => 'fr', 'X-Wanted' => 'yes');

# --- what a source receives --------------------------------------------------
{
    my ($port, $be) = source($ok_answer);
    my $res = GET stub('cgi', u => "http://127.0.0.1:$port/path?q=1"), @client;
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    my $h = $req->{header} || {};
    is $res->content, 'ok', 'default ReproxyForwardHeaders: reproxied';
    is $req->{method}, 'GET', '... with GET';
    is $req->{uri}, '/path?q=1', '... the URL\'s path and query';
    is $h->{host}, "127.0.0.1:$port", '... Host from the URL';
    is $h->{range}, 'bytes=0-0', '... Range forwarded';
    is $h->{'if-range'}, '"etag"', '... If-Range forwarded';
    is $h->{'if-modified-since'}, 'Sat, 01 Jan 2000 00:00:00 GMT',
       '... If-Modified-Since forwarded';
    is $h->{'if-none-match'}, '"other"', '... If-None-Match forwarded';
    ok !exists $h->{$_}, "... $_ not forwarded"
        for qw(cookie authorization x-proxy-capabilities accept-language
               x-wanted);
}
{
    my ($port, $be) = source($ok_answer);
    my $res = GET stub('fwdnone', u => "http://127.0.0.1:$port/none"), @client;
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    my @names = sort map { lc $_->[0] } @{ $req->{headers} || [] };
    is $res->content, 'ok', 'ReproxyForwardHeaders none: reproxied';
    is_deeply \@names, ['host', 'x-reproxy-fetch'],
       '... and only Host is sent (with the loop marker)';
    like $req->{header}{'x-reproxy-fetch'}, qr/^[0-9a-f]{32}$/,
       '... which is a random token';
}
{
    my ($port, $be) = source($ok_answer);
    my $res = GET stub('fwdsome', u => "http://127.0.0.1:$port/some"), @client;
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    my $h = $req->{header} || {};
    is $h->{'x-wanted'}, 'yes', 'ReproxyForwardHeaders X-Wanted: forwarded';
    is $h->{'accept-language'}, 'fr',
       '... repeated directives add (Accept-Language)';
    ok !exists $h->{range}, '... the default list is replaced';
    ok !exists $h->{cookie}, '... and still no Cookie';
}

# --- Range, conditionals, HEAD through a real httpd source -------------------
{
    my $res = GET stub('cgi', u => store('store/range.txt')),
                  Range => 'bytes=2-5';
    is $res->code, 206, 'Range: 206 from the source';
    is $res->content, '2345', '... the right bytes';
    is $res->header('Content-Range'), 'bytes 2-5/37', '... Content-Range';

    $res = GET stub('cgi', u => store('store/range.txt'));
    my $etag = $res->header('ETag');
    ok $etag, 'the source\'s ETag reaches the client';
    $res = GET stub('cgi', u => store('store/range.txt')),
               'If-None-Match' => $etag;
    is $res->code, 304, 'If-None-Match with it: 304';
    is $res->content, '', '... without a body';
    is $res->header('ETag'), $etag, '... with the ETag';

    $res = GET stub('cgi', u => store('store/range.txt')),
               Range => 'bytes=1000-2000';
    is $res->code, 416, 'an unsatisfiable Range: the source\'s 416';

    $res = GET stub('fwdnone', u => store('store/range.txt')),
               Range => 'bytes=2-5';
    is $res->code, 206,
       'Range not forwarded: httpd cuts the range from the full answer';
    is $res->content, '2345', '... the right bytes';
}
{
    # A 304 answering nothing we sent is no success.
    my ($port, $be) = source("HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n");
    my $res = GET stub('fwdnone', u => ["http://127.0.0.1:$port/c",
                                        store('store/b.txt')]),
                  'If-None-Match' => '"x"';
    $be->stop;
    is $res->content, "content of b\n",
       'a 304 to a request without conditionals fails over';
}
{
    my ($port, $be) = source("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n"
                             . "Content-Type: text/x-head\r\n\r\n");
    my $res = HEAD stub('cgi', u => "http://127.0.0.1:$port/head");
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    is $req->{method}, 'HEAD', 'HEAD: the source gets HEAD';
    is $res->code, 200, '... 200';
    is $res->header('Content-Length'), 6, '... the source\'s Content-Length';
    is $res->header('Content-Type'), 'text/x-head', '... and Content-Type';
}

# --- hop-by-hop fields of the answer ----------------------------------------
{
    my ($port, $be) = source("HTTP/1.1 200 OK\r\nConnection: X-Hop\r\n"
        . "X-Hop: secret\r\nKeep-Alive: timeout=5\r\nX-End: kept\r\n"
        . "Content-Length: 2\r\n\r\nok");
    my $res = GET stub('cgi', u => "http://127.0.0.1:$port/hop");
    $be->stop;
    is $res->content, 'ok', 'hop-by-hop fields: reproxied';
    is $res->header('X-Hop'), undef, '... a field named by Connection dropped';
    is $res->header('Keep-Alive'), undef, '... Keep-Alive dropped';
    is $res->header('X-End'), 'kept', '... end-to-end fields kept';
}

# --- PreserveHeaders -------------------------------------------------------
{
    my ($port, $be) = source("HTTP/1.1 200 OK\r\nContent-Type: text/x-source\r\n"
        . "X-Custom: from-source\r\nCache-Control: public\r\n"
        . "X-Missing: from-source\r\nX-Source: yes\r\n"
        . "Content-Length: 2\r\n\r\nok");
    my $res = GET stub('pres', u => "http://127.0.0.1:$port/p",
                       ct => 'application/x-original',
                       h => ['X-Custom: from-origin', 'Cache-Control: no-store',
                             'X-Not-Listed: origin']);
    $be->stop;
    is $res->content, 'ok', 'PreserveHeaders: the source\'s body';
    is $res->header('Content-Type'), 'application/x-original',
       '... "content-type" keeps the original Content-Type';
    is $res->header('X-Custom'), 'from-origin',
       '... "X-CUSTOM" keeps X-Custom (names are case-insensitive)';
    is $res->header('Cache-Control'), 'no-store',
       '... repeated directives add (Cache-Control)';
    is $res->header('X-Missing'), 'from-source',
       '... a header the original lacks is the source\'s';
    is $res->header('X-Not-Listed'), undef, '... unlisted ones are dropped';
    is $res->header('X-Source'), 'yes', '... the source\'s others kept';
}

# --- an HTTPS source (verified against the test CA) --------------------------
{
    my $tls = Apache::Test::vars('tls_backend_port');
    my $res = GET stub('cgi',
        u => "https://localhost:$tls/reproxy/store/a.txt");
    is $res->code, 200, 'an https:// source';
    is $res->content, "content of a\n", '... its body';
}

done_testing();
