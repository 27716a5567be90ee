# t/revproxy/04_errors.t -- what a client sees when the backend fails:
# 502 for refused/reset/invalid responses, 504 for timeouts, each with one
# error-log line naming the rule, the backend and the cause; limits on the
# response head; conflicting framing never passed on ambiguous.
use strict;
use warnings;

use IO::Socket::INET ();
use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use RevProxyTest qw(:all);

Apache::TestRequest::module('rp_front');
my $front = Apache::Test::vars('rp_front_port');

sub scripted {
    my ($bytes, %o) = @_;
    return raw_backend(lifetime => 20, handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        print $sock ref $bytes ? $bytes->() : $bytes;
        sleep $o{linger} if $o{linger};
    });
}

sub get_raw {
    my ($path) = @_;
    my ($raw, $how) = raw_http($front, "GET $path HTTP/1.1\r\nHost: x\r\n"
                               . "Connection: close\r\n\r\n", timeout => 15);
    return split_response($raw) || { status => 0, raw => $raw };
}

# A port nothing listens on.
my $closed_port = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die;
    my $p = $s->sockport;
    close $s;
    $p;
};

{
    my $off = error_log_offset();
    my $res = GET "/raw/$closed_port/x";
    is $res->code, 502, 'connection refused: 502';
    my $log = error_log_wait($off, qr/RVP\d+: /);
    like $log, qr/RVP\d+: backend http:\/\/127\.0\.0\.1:$closed_port \(RevProxyPass "\^\/raw\/.*" at .*core\.conf:\d+\): connect to 127\.0\.0\.1:$closed_port failed; answered 502/,
         '... one log line with backend, rule and cause';
}
{
    my ($port, $be) = scripted('', linger => 4);
    my $off = error_log_offset();
    my $res = GET "/rawt/$port/slow";
    is $res->code, 504, 'no response head within timeout=1: 504';
    like error_log_wait($off, qr/RVP\d+: /), qr/timed out waiting for the response head; answered 504/,
         '... logged';
    $be->stop;
}
{
    # A listener whose accept queue is full: the SYN goes unanswered.
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 0) or die;
    my $port = $l->sockport;
    my @fill = grep { defined } map {
        IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                              Blocking => 0)
    } 1 .. 8;
    my $res = GET "/rawt/$port/never";
    is $res->code, 504, 'connect or response past its limit: 504';
    close $_ for @fill;
    close $l;
}
{
    my ($port, $be) = scripted('');
    my $off = error_log_offset();
    my $res = GET "/raw/$port/hangup";
    $be->wait(5) or $be->stop;
    is $res->code, 502, 'backend closes without answering: 502';
    like error_log_wait($off, qr/RVP\d+: /), qr/closed before any response byte/, '... logged';
}

# Invalid or oversized response heads: 502, the child survives.
my @bad = (
    ['invalid status line', "HTTX/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"],
    ['status 99',           "HTTP/1.1 099 Odd\r\n\r\n"],
    ['NUL in a header',     "HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n"],
    ['bare CR in a header', "HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n"],
    ['obs-fold',            "HTTP/1.1 200 OK\r\nX-A: a\r\n  b\r\nContent-Length: 0\r\n\r\n"],
    ['64 KiB header line',  "HTTP/1.1 200 OK\r\nX-Big: " . ('a' x 65536) . "\r\n\r\n"],
    ['8191-byte line',      "HTTP/1.1 200 OK\r\nX-Big: " . ('a' x (8191 - 7)) . "\r\n\r\n"],
    ['101 header lines',    "HTTP/1.1 200 OK\r\n" . join('', map { "X-$_: v\r\n" } 1 .. 101) . "\r\n"],
    ['two Content-Lengths', "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd"],
    ['negative Content-Length', "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"],
    ['overflowing Content-Length', "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n"],
);
for my $case (@bad) {
    my ($what, $bytes) = @$case;
    my ($port, $be) = scripted($bytes);
    my $off = error_log_offset();
    my $res = get_raw("/raw/$port/bad");
    $be->wait(5) or $be->stop;
    is $res->{status}, 502, "$what: 502";
    like error_log_wait($off, qr/RVP\d+: /) // '', qr/invalid response: /, '... logged as invalid';
}
{
    # Exactly at the limits: accepted.
    my $line = "X-Big: " . ('a' x (8190 - 7));
    my ($port, $be) = scripted("HTTP/1.1 200 OK\r\n$line\r\n"
        . join('', map { "X-$_: v\r\n" } 1 .. 98) . "Content-Length: 2\r\n\r\nok");
    my $res = get_raw("/raw/$port/limits");
    $be->wait(5) or $be->stop;
    is $res->{status}, 200, '8190-byte line and 100 fields: accepted';
    is length($res->{header}{'x-big'}), 8190 - 7, '... passed on whole';
}
{
    my ($port, $be) = scripted("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
        . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    my $res = get_raw("/raw/$port/te-cl");
    $be->wait(5) or $be->stop;
    is $res->{status}, 200, 'Content-Length with Transfer-Encoding';
    is $res->{body}, 'hello', '... Transfer-Encoding wins';
    isnt $res->{header}{'content-length'}, 3, '... the backend\'s Content-Length is not passed on';
}
{
    my ($port, $be) = scripted("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA-BYTES");
    my $res = get_raw("/raw/$port/longer");
    $be->wait(5) or $be->stop;
    is $res->{body}, 'hello', 'a body longer than Content-Length is cut at the length';
}

{
    my ($port, $be) = scripted("HTTP/1.1 200 OK\r\n" . join('', map { "X-$_: v\r\n" } 1 .. 10000) . "\r\n");
    my $res = get_raw("/raw/$port/many");
    $be->wait(5) or $be->stop;
    is $res->{status}, 502, '10,000 header lines: 502';
}
{
    # A head dripped a byte at a time: each wait is short, the whole is not.
    my ($port, $be) = raw_backend(lifetime => 20, handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        for my $c (split //, "HTTP/1.1 200 OK\r\n" . ('X-Drip: ' . ('d' x 200) . "\r\n") x 5) {
            print $sock $c or last;
            select undef, undef, undef, 0.1;
        }
    });
    my $off = error_log_offset();
    my $res = get_raw("/rawt/$port/drip");
    $be->stop;
    is $res->{status}, 504, 'a response head dripped past timeout=1: 504';
    like error_log_wait($off, qr/RVP\d+: /) // '', qr/timed out waiting for the response head/, '... logged';
}
{
    my ($port, $be) = scripted("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                               . "5\r\nhello\r\nfffffffffffffffffffff\r\n");
    my $off = error_log_offset();
    my ($raw, $how) = raw_http($front, "GET /raw/$port/ovf HTTP/1.1\r\nHost: x\r\n\r\n", timeout => 10);
    $be->wait(5) or $be->stop;
    unlike $raw, qr/\r\n0\r\n\r\n$/, 'chunk size overflow after the head: no clean end for the client';
    is $how, 'eof', '... the client connection is aborted';
    like error_log_wait($off, qr/RVP\d+: /) // '', qr/chunk size overflow/, '... logged with the cause';
}
{
    # The backend answers before reading the 1 MiB body, and hangs up.
    my ($port, $be) = raw_backend(lifetime => 20, handler => sub {
        my ($sock) = @_;
        my $head = '';
        while ($head !~ /\r\n\r\n/) {
            sysread($sock, $head, 4096, length $head) or return;
        }
        print $sock "HTTP/1.1 413 Too Large\r\nContent-Length: 8\r\nConnection: close\r\n\r\ntoo big\n";
        shutdown $sock, 1;
        select undef, undef, undef, 0.5;
    });
    my $body = 'z' x (1024 * 1024);
    my $raw = raw_http($front, "POST /raw/$port/early HTTP/1.1\r\nHost: x\r\nContent-Length: "
                       . length($body) . "\r\nConnection: close\r\n\r\n$body", timeout => 20);
    $be->wait(5) or $be->stop;
    my $res = split_response($raw) // {};
    ok(($res->{status} // 0) == 413 || ($res->{status} // 0) == 502,
       "an answer before the request body was read: passed on or 502 ($res->{status})");
}
{
    # No memory growth: the hostile heads again, 30 times over.
    my $kid = worker_pid();
    my $rss = sub {
        open my $st, '<', "/proc/$kid/status" or return 0;
        my ($kb) = map { /^VmRSS:\s+(\d+)/ ? $1 : () } <$st>;
        return $kb;
    };
    my $run = sub {
        for my $case (@bad) {
            my ($port, $be) = scripted($case->[1]);
            get_raw("/raw/$port/bad");
            $be->wait(5) or $be->stop;
        }
    };
    # (Under AddressSanitizer, RSS grows by design: freed memory waits in
    # its quarantine; leaks are LeakSanitizer's job in that round.)
    my $asan = Apache::Test::vars('httpd') =~ /asan/;
    $run->() for 1 .. 3;           # warm-up
    my $before = $rss->();
    $run->() for 1 .. 30;
    my $after = $rss->();
    ok $kid && ($asan || $after - $before < 4096),
       "no memory growth over 330 hostile responses: $before kB -> $after kB"
       . ($asan ? ' (not judged under ASan)' : '');
}

# The child is alive and well after all that.
my $res = GET '/b/fallback/page.txt';
is $res->code, 200, 'the server still answers';
ok !error_log_wait(0, qr/child pid \d+ exit signal|AH00052/, 0.1),
   'no child crashed';

done_testing();
