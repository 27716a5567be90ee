# t/reproxy/20_failover.t -- the URLs of X-Reproxy-Url are tried in order
# until one succeeds: a refused, 404, non-http or hanging (past
# ReproxyTimeout) source hands over to the next one; none left is a 502
# through httpd's error path with one log line naming every URL and why;
# at most 16 URLs count; a source failing after bytes reached the client
# aborts the connection; an empty field is no field; non-2xx origins and
# a reproxied answer's own X-Reproxy-Url are not followed.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use Time::HiRes ();
use RevProxyTest qw(:all);
use ReproxyTest qw(:all);

Apache::TestRequest::module('rx_front');
Apache::TestRequest::user_agent(keep_alive => 0);

# A port nothing listens on (bound, then closed).
sub closed_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "listen: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# A source that accepts and never answers (until its lifetime ends).
sub hanging_source {
    return raw_backend(lifetime => 8, handler => sub {
        my ($sock) = @_;
        read_request($sock);
        sleep 6;
    });
}

# A source with a scripted answer.
sub source {
    my ($answer, %o) = @_;
    return raw_backend(lifetime => 15, conns => $o{conns} // 1,
                       handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        ref $answer ? $answer->($sock) : print $sock $answer;
    });
}

# --- first URL refused / 404 / not http, the next one served ---------------
{
    my $closed = closed_port();
    my $off = error_log_offset();
    my $res = GET stub('cgi', u => ["http://127.0.0.1:$closed/x",
                                    store('store/a.txt')]);
    is $res->code, 200, 'first URL refused: the second is served';
    is $res->content, "content of a\n", '... its body';
    ok error_log_wait($off, qr/RVP0203: .*127\.0\.0\.1:$closed\/x: connect/),
       '... and the failed one is logged';

    $res = GET stub('cgi', u => [store('store/missing.txt'),
                                 store('store/b.txt')]);
    is $res->content, "content of b\n", 'first URL 404: the second is served';

    $res = GET stub('cgi', u => ['ftp://127.0.0.1/x', 'not-a-url',
                                 store('store/a.txt')]);
    is $res->content, "content of a\n",
       'non-http URLs are skipped, the next one is served';

    $res = GET stub('cgi', u => [store('store/a.txt'), store('store/b.txt')],
                    sep => 1);
    is $res->content, "content of a\n",
       'URLs in repeated X-Reproxy-Url fields: the first is served';
}

# --- a hanging source past ReproxyTimeout (1s under /t1/) -------------------
{
    my ($port, $be) = hanging_source();
    my $t0 = Time::HiRes::time();
    my $res = GET stub('t1', u => ["http://127.0.0.1:$port/hang",
                                   store('store/b.txt')]);
    my $took = Time::HiRes::time() - $t0;
    $be->stop;
    is $res->code, 200, 'first URL hangs past ReproxyTimeout 1: 200';
    is $res->content, "content of b\n", '... from the second URL';
    cmp_ok $took, '>=', 0.9, '... after waiting for the timeout';
    cmp_ok $took, '<', 4, '... and not much longer';
}
{
    # Head sent, then silence: the first body read times out, nothing went
    # to the client yet, so the next URL still answers.
    my ($port2, $be2) = source(sub {
        my ($sock) = @_;
        print $sock "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        sleep 4;
    });
    my $res = GET stub('t1', u => ["http://127.0.0.1:$port2/slowbody",
                                   store('store/a.txt')]);
    $be2->stop;
    is $res->content, "content of a\n",
       'a source silent after its head: the next URL is served';
}

# --- every URL fails: 502 and one log line --------------------------------
{
    my $closed = closed_port();
    my ($port, $be) = hanging_source();
    my @urls = ("http://127.0.0.1:$closed/refused", store('store/missing.txt'),
                "http://127.0.0.1:$port/hang", 'gopher://127.0.0.1/x');
    my $off = error_log_offset();
    my $res = GET stub('t1', u => \@urls);
    $be->stop;
    is $res->code, 502, 'every URL fails: 502';
    like $res->content, qr/Bad Gateway/, '... httpd\'s own error page';
    unlike $res->content, qr/STUB/, '... no stub byte';
    is_deeply [reserved_fields($res)], [], '... no X-Reproxy-* field';
    is $res->header('X-Seen-Capabilities'), undef,
       '... nor any other field of the original';
    my $log = error_log_wait($off, qr/RVP0200: /) // '';
    my @lines = grep { /RVP0200: / } split /\n/, $log;
    is scalar @lines, 1, '... one log line';
    my $line = $lines[0] // '';
    like $line, qr/\Q$urls[0]\E: connect to 127\.0\.0\.1:$closed failed/,
         '... naming the refused URL and why';
    like $line, qr/\Q$urls[1]\E: answered 404/, '... the 404 one';
    like $line, qr/\Q$urls[2]\E: timed out/, '... the hanging one';
    like $line, qr/\Q$urls[3]\E: not an http or https URL/, '... the gopher one';
}

# --- at most 16 URLs ---------------------------------------------------------
{
    my $closed = closed_port();
    my @urls = ((map { "http://127.0.0.1:$closed/u$_" } 1 .. 16),
                store('store/a.txt'));
    my $res = GET stub('cgi', u => \@urls);
    is $res->code, 502, 'the 17th URL is never tried';
    @urls = ((map { "http://127.0.0.1:$closed/u$_" } 1 .. 15),
             store('store/a.txt'));
    $res = GET stub('cgi', u => \@urls);
    is $res->content, "content of a\n", '... the 16th is';
}

# --- empty value, non-2xx origin, an answer's own X-Reproxy-* ---------------
{
    my $res = GET stub('cgi', h => 'X-Reproxy-Url: ', ct => 'text/plain');
    is $res->code, 200, 'an empty X-Reproxy-Url counts as absent';
    like $res->content, qr/^STUB 1$/m, '... the original is served';
    is_deeply [reserved_fields($res)], [], '... without the empty field';

    $res = GET stub('cgi', u => store('store/a.txt'), st => 404);
    is $res->code, 404, 'a 404 origin is not reproxied';
    like $res->content, qr/^STUB 1$/m, '... its own body';
    is_deeply [reserved_fields($res)], [], '... and no X-Reproxy-* field';

    $res = GET '/static/missing.txt';
    is $res->code, 404, 'an error answer (ap_die) is not reproxied';
    is_deeply [reserved_fields($res)], [],
       '... and "Header always set X-Reproxy-Url" does not reach the client';

    my ($port, $be) = source("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n"
        . "X-Reproxy-Url: " . store('store/b.txt') . "\r\n"
        . "X-Reproxy-File: /etc/passwd\r\n"
        . "X-Reproxy-Expected-Size: 99\r\n\r\nsource");
    $res = GET stub('cgi', u => "http://127.0.0.1:$port/x");
    $be->stop;
    is $res->content, 'source',
       'a reproxied answer\'s own X-Reproxy-Url is not followed';
    is_deeply [reserved_fields($res)], [],
       '... and its X-Reproxy-* fields do not reach the client';
}

# --- failure after bytes reached the client: the connection is aborted ------
{
    my ($port, $be) = source(sub {
        my ($sock) = @_;
        print $sock "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",
                    'x' x 5000;
        Time::HiRes::sleep(0.3);
    });
    my $off = error_log_offset();
    my ($raw, $how) = raw_http(front_port(),
        "GET " . stub('cgi', u => "http://127.0.0.1:$port/short")
        . " HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout => 10);
    $be->stop;
    my $res = split_response($raw);
    is $res->{status}, 200, 'a source dying mid-body: the head went out';
    is $how, 'eof', '... then the connection is closed (keep-alive or not)';
    cmp_ok length($res->{body}), '<', 100000, '... before the announced length';
    ok error_log_wait($off, qr/RVP0204: .*short.*aborted/),
       '... and the failure is logged';

    ($port, $be) = source(sub {
        my ($sock) = @_;
        print $sock "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                    "5\r\nhello\r\n";
        Time::HiRes::sleep(0.3);
    });
    ($raw, $how) = raw_http(front_port(),
        "GET " . stub('cgi', u => "http://127.0.0.1:$port/chunks")
        . " HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout => 10);
    $be->stop;
    is $how, 'eof', 'a chunked source dying mid-body: connection closed';
    unlike $raw, qr/\r\n0\r\n\r\n$/, '... without a last chunk';
}

done_testing();
