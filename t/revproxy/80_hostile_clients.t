# t/revproxy/80_hostile_clients.t -- what a hostile client can (not) make
# the backend see: smuggling attempts (CL+TE, TE variants, bad chunk
# sizes), encoded CR/LF/NUL/slash/dot-segments in captured paths,
# absolute-form targets, oversized headers.  The rule for each: rejected,
# or forwarded exactly and unambiguously (RFC 9112), never a second
# request hidden in the first.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use RevProxyTest qw(:all);

my $front = Apache::Test::vars('rp_front_port');

# Send $bytes (with "PORT" replaced) through the front; returns the
# client's response and every request the backend saw.
sub attempt {
    my ($bytes) = @_;
    my ($port, $be) = raw_backend(lifetime => 30, conns => 3, handler => sub {
        my ($sock) = @_;
        while (my $req = read_request($sock, timeout => 2)) {
            respond($sock, 200, [], "seen $req->{method} $req->{uri}");
        }
    });
    $bytes =~ s/PORT/$port/g;
    my $raw = raw_http($front, $bytes, timeout => 10);
    $be->stop;     # it has recorded what reached it by now
    return (split_response($raw) // { status => 0 }, [$be->received]);
}

# Nothing the backend saw may be ambiguous or smuggled.
sub unambiguous {
    my ($reqs, $what) = @_;
    my $bad = grep {
        ($_->{header}{'content-length'} && $_->{header}{'transfer-encoding'})
        || $_->{uri} =~ /smuggled/
    } @$reqs;
    ok !$bad && @$reqs <= 1, "$what: the backend saw no ambiguous or smuggled request";
}

{
    my ($res, $reqs) = attempt("POST /raw/PORT/cl-te HTTP/1.1\r\nHost: x\r\n"
        . "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    unambiguous($reqs, 'CL + TE');
    if (@$reqs) {
        is $reqs->[0]{body}, 'hello', '... forwarded with the chunked body (TE wins)';
    }
    else {
        ok $res->{status} >= 400, '... or rejected';
    }
}
for my $te ('xchunked', 'chunked, identity', 'identity', "chunked\x0b", 'gzip') {
    my ($res, $reqs) = attempt("POST /raw/PORT/te HTTP/1.1\r\nHost: x\r\n"
        . "Transfer-Encoding: $te\r\nContent-Length: 5\r\n\r\n"
        . "5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    (my $name = $te) =~ s/[^\w, ]/?/g;
    unambiguous($reqs, "Transfer-Encoding: $name");
}
for my $size ('zz', '-1', '0x5', 'fffffffffffffffffff', '5 5') {
    my ($res, $reqs) = attempt("POST /raw/PORT/chunk HTTP/1.1\r\nHost: x\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n$size\r\nhello\r\n0\r\n\r\n");
    ok $res->{status} == 400 || $res->{status} == 413,
       "chunk size '$size': rejected ($res->{status})";
    is scalar(@$reqs), 0, '... before anything reached the backend';
}
{
    my ($res, $reqs) = attempt("GET /raw/PORT/a%0d%0aX-Evil:%201 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    is $reqs->[0]{uri}, '/a%0D%0AX-Evil:%201', 'encoded CR/LF stay encoded';
    ok !exists $reqs->[0]{header}{'x-evil'}, '... no header injected';

    ($res, $reqs) = attempt("GET /raw/PORT/a%00b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ok $res->{status} == 400 || $res->{status} == 404 || ($reqs->[0]{uri} // '') eq '/a%00b',
       '%00: rejected, or forwarded encoded';
    unlike join('', map { $_->{raw} } @$reqs), qr/\0/, '... never a raw NUL';

    ($res, $reqs) = attempt("GET /raw/PORT/a%2fb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    is $res->{status}, 404, '%2f in the path: httpd refuses it (AllowEncodedSlashes Off)';
    is scalar(@$reqs), 0, '... the backend is not contacted';

    ($res, $reqs) = attempt("GET /raw/PORT/a/%2e%2e/%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ok !grep({ $_->{uri} =~ /\.\./ } @$reqs), 'encoded dot-segments never reach the backend as ..';

    ($res, $reqs) = attempt("GET /raw/PORT/../../raw/1/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ok !grep({ $_->{uri} =~ /\.\./ } @$reqs), 'raw dot-segments are resolved before matching';
}
{
    my ($res, $reqs) = attempt("GET http://evil.test/raw/PORT/abs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    is $reqs->[0]{uri}, '/abs', 'absolute-form target: origin-form to the backend';
    like $reqs->[0]{header}{host}, qr/^127\.0\.0\.1:\d+$/, '... with DEST\'s Host, not the target\'s';
}
{
    my ($res, $reqs) = attempt("GET /raw/PORT/big HTTP/1.1\r\nHost: x\r\nX-Big: "
                               . ('a' x 9000) . "\r\nConnection: close\r\n\r\n");
    is $res->{status}, 400, 'oversized request header: 400';
    is scalar(@$reqs), 0, '... the backend is not contacted';

    ($res, $reqs) = attempt("GET /raw/PORT/h HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\nConnection: close\r\n\r\n");
    ok $res->{status} == 400 || !grep({ $_->{raw} =~ /a\rb/ } @$reqs),
       'bare CR in a request header: rejected, never passed on';
}
{
    my ($res, $reqs) = attempt("GET /host/evil.test%2f/PORT/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ok $res->{status} >= 400 && !@$reqs, 'a host capture with an encoded slash: refused';
    ($res, $reqs) = attempt("GET /host/127.0.0.1%20/PORT/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    is $res->{status}, 400, 'a host capture with a space: 400';
    ($res, $reqs) = attempt("GET /host/127.0.0.1/PORT%2e/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ok !@$reqs, 'a port capture with junk: no backend contacted';
}

done_testing();
