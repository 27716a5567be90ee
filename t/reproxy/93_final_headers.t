# t/reproxy/93_final_headers.t -- the head of a reproxied answer: the
# source's fields (never its Set-Cookie), the original's PreserveHeaders
# over them, and then what the admin's configuration sets, as on any other
# answer: mod_headers' `Header set` and `Header always set`, and fields put
# on every response before the handler ran (here `Header ... early`).  As
# on a proxied answer, the source's fields are those `Header set` replaces.
# The origin's other fields and X-Reproxy-* never reach the client.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use RevProxyTest qw(:all);
use ReproxyTest qw(:all);

Apache::TestRequest::module('rx_headers');
# Apache::TestRequest sets a ten-minute timeout of its own: bound each wait.
Apache::TestRequest::user_agent(keep_alive => 0)->timeout(15);

my $files = docroot() . '/files';

sub source {
    my ($answer) = @_;
    return raw_backend(lifetime => 10, handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        print $sock $answer;
    });
}

sub values_of {
    my ($res, $name) = @_;
    return [ $res->headers->header($name) ];
}

# What the admin configured, on any answer that is not an error.
sub admin_fields {
    my ($res, $what) = @_;
    ok grep({ $_ eq 'DENY' } @{ values_of($res, 'X-Frame-Options') }),
       "$what: Header always set X-Frame-Options";
    is_deeply values_of($res, 'X-Content-Type-Options'), ['nosniff'],
       "$what: Header set X-Content-Type-Options (replacing the source's)";
    is $res->header('Strict-Transport-Security'), 'max-age=600',
       "$what: Header always set Strict-Transport-Security";
    is $res->header('X-Admin-Success'), 'yes', "$what: Header set";
    is $res->header('X-Early-Always'), 'early',
       "$what: a field set before the handler (err_headers_out)";
    is $res->header('X-Early-Success'), 'early',
       "$what: a field set before the handler (headers_out)";
    is_deeply values_of($res, 'Set-Cookie'), ['front=1; Path=/'],
       "$what: the admin's Set-Cookie, once, and no other";
    is scalar(() = ($res->header('Cache-Control') // '') =~ /no-transform/g), 1,
       "$what: Header always append applied once";
    is_deeply [reserved_fields($res)], [], "$what: no X-Reproxy-* field";
}

# --- a URL source ---------------------------------------------------------------
{
    my ($port, $be) = source("HTTP/1.1 200 OK\r\nContent-Type: text/x-source\r\n"
        . "Set-Cookie: store=secret; Path=/\r\nSet-Cookie: store2=secret\r\n"
        . "X-Content-Type-Options: sniff-me\r\nX-Custom: from-source\r\n"
        . "X-Source: yes\r\nCache-Control: public\r\n"
        . "Content-Length: 2\r\n\r\nok");
    my $res = GET stub('cgi', u => "http://127.0.0.1:$port/s",
                       h => ['X-Custom: from-origin', 'Set-Cookie: origin=1',
                             'X-Origin-Only: yes']);
    $be->stop;
    is $res->code, 200, 'a URL source: 200';
    is $res->content, 'ok', '... its body';
    admin_fields($res, 'URL source');
    is $res->header('X-Source'), 'yes', '... the source\'s fields';
    like $res->header('Cache-Control'), qr/public/,
       '... the source\'s Cache-Control with the admin\'s appended';
    is $res->header('X-Custom'), 'from-origin', '... PreserveHeaders win over '
                                                . 'the source';
    is $res->header('X-Origin-Only'), undef, '... the origin\'s other fields '
                                             . 'are gone';
}

# --- a file source --------------------------------------------------------------
{
    my $res = GET stub('cgi', f => "$files/doc.txt", h => 'Set-Cookie: origin=1');
    is $res->code, 200, 'a file source: 200';
    is $res->content, "a document from the file root\n", '... its bytes';
    admin_fields($res, 'file source');
}

# --- a not-modified answer --------------------------------------------------------
{
    my $res = GET stub('cgi', f => "$files/doc.txt");
    my $etag = $res->header('ETag');
    $res = GET stub('cgi', f => "$files/doc.txt"), 'If-None-Match' => $etag;
    is $res->code, 304, 'a 304 from the file source';
    is_deeply values_of($res, 'X-Frame-Options'), ['DENY'],
       '... with the admin\'s Header always set';
}

# --- every source failed: httpd's error answer ----------------------------------------
{
    my $res = GET stub('cgi', u => 'ftp://127.0.0.1/x', h => 'Set-Cookie: origin=1');
    is $res->code, 502, 'no source: 502';
    is_deeply values_of($res, 'X-Frame-Options'), ['DENY'],
       '... with the admin\'s Header always set';
    is $res->header('X-Early-Always'), 'early',
       '... and the "always" field set before the handler';
    is_deeply values_of($res, 'Set-Cookie'), ['front=1; Path=/'],
       '... the admin\'s Set-Cookie only';
    is $res->header('X-Admin-Success'), undef, '... not what is for successes';
    is_deeply [reserved_fields($res)], [], '... no X-Reproxy-* field';
}

# --- a response that is not reproxied, for comparison ----------------------------------
{
    my $res = GET stub('cgi');
    is $res->header('X-Admin-Success'), 'yes', 'not reproxied: Header set';
    is_deeply values_of($res, 'X-Frame-Options'), ['DENY'],
       '... Header always set';
    is $res->header('X-Early-Always'), 'early', '... early fields';
}

done_testing();
