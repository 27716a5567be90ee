# t/revproxy/02_streaming.t -- bodies both ways, byte-exact and streamed:
# 20 MiB downloads (Content-Length and chunked), 1 MiB uploads (both
# framings), Expect: 100-continue, a server-sent event reaching the client
# while the backend still waits, HEAD / 204 / 304 / 1xx, and a backend
# that dies in the middle of a body.
use strict;
use warnings;

use Digest::MD5 qw(md5_hex);
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();
use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET POST);
use RevProxyTest qw(:all);

Apache::TestRequest::module('rp_front');
my $front = Apache::Test::vars('rp_front_port');
my $docroot = Apache::Test::vars('documentroot') . '/rpb';

# Deterministic, not trivially repetitive content.
sub pattern {
    my ($len) = @_;
    my $s = '';
    my $i = 0;
    $s .= sprintf("%08x:%s\n", $i++, 'abcdefghijklmnopqrstuvwxyz0123456789' x 3)
        while length $s < $len;
    return substr $s, 0, $len;
}

# A keep-alive-less backend answering every request with $code->($req).
sub backend {
    my ($code, %o) = @_;
    return raw_backend(lifetime => 60, conns => $o{conns} // 1,
                       handler => sub {
        my ($sock) = @_;
        my $req = read_request($sock, timeout => 30) or return;
        $code->($sock, $req);
    });
}

# --- downloads ------------------------------------------------------------------
my $big = pattern(20 * 1024 * 1024);
{
    open my $fh, '>', "$docroot/big.bin" or die "$docroot/big.bin: $!";
    print $fh $big;
    close $fh;
    my $res = GET '/b/big.bin';
    is $res->code, 200, '20 MiB with Content-Length';
    is length($res->content), length($big), '... every byte';
    is md5_hex($res->content), md5_hex($big), '... byte-exact';
    unlink "$docroot/big.bin";
}
{
    my ($port, $be) = backend(sub {
        my ($sock) = @_;
        print $sock "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                  . "Connection: close\r\n\r\n";
        my ($off, $n) = (0, 1);
        while ($off < length $big) {
            my $len = ($n++ * 7919) % 70001 + 1;
            $len = length($big) - $off if $off + $len > length $big;
            print $sock sprintf("%x\r\n", $len), substr($big, $off, $len), "\r\n";
            $off += $len;
        }
        print $sock "0\r\nX-Trailer: t\r\n\r\n";
    });
    my $res = GET "/raw/$port/chunked";
    $be->wait(30) or $be->stop;
    is $res->code, 200, '20 MiB chunked from the backend';
    is md5_hex($res->content), md5_hex($big), '... byte-exact';
}

# --- uploads -------------------------------------------------------------------------
my $up = pattern(1024 * 1024 + 17);
my $digest_reply = sub {
    my ($sock, $req) = @_;
    respond($sock, 200, [Connection => 'close'],
            join ' ', md5_hex($req->{body}), length $req->{body},
            ($req->{chunked} ? 'chunked' : 'length'),
            ($req->{header}{expect} // 'no-expect'));
};
{
    my ($port, $be) = backend($digest_reply);
    my $res = POST "/raw/$port/upload", content => $up;
    $be->wait(10) or $be->stop;
    is $res->content, join(' ', md5_hex($up), length $up, 'length', 'no-expect'),
       '1 MiB upload with Content-Length: byte-exact, sent with a length';
}
{
    my ($port, $be) = backend($digest_reply);
    my $body = '';
    for (my $off = 0; $off < length $up; $off += 65000) {
        my $piece = substr $up, $off, 65000;
        $body .= sprintf("%x\r\n", length $piece) . $piece . "\r\n";
    }
    my $raw = raw_http($front, "POST /raw/$port/upload HTTP/1.1\r\nHost: x\r\n"
                       . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                       . $body . "0\r\n\r\n", timeout => 20);
    $be->wait(10) or $be->stop;
    my $res = split_response($raw);
    is $res->{body}, join(' ', md5_hex($up), length $up, 'chunked', 'no-expect'),
       '1 MiB chunked upload: byte-exact, streamed chunked';
}
{
    my ($port, $be) = backend($digest_reply);
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $front)
        or die "connect: $!";
    print $sock "POST /raw/$port/expect HTTP/1.1\r\nHost: x\r\n"
              . "Content-Length: " . length($up) . "\r\n"
              . "Expect: 100-continue\r\nConnection: close\r\n\r\n";
    my $got = '';
    my $sel = IO::Select->new($sock);
    while ($got !~ /\r\n\r\n/ && $sel->can_read(10)) {
        sysread($sock, $got, 4096, length $got) or last;
    }
    like $got, qr{^HTTP/1\.1 100 Continue\r\n}, 'Expect: 100-continue answered';
    print $sock $up;
    my $deadline = time + 20;
    while ($sel->can_read(10) && time < $deadline) {
        sysread($sock, $got, 65536, length $got) or last;
    }
    $be->wait(10) or $be->stop;
    my $res = split_response(substr $got, index($got, "\r\n\r\n") + 4);
    is $res->{body}, join(' ', md5_hex($up), length $up, 'length', 'no-expect'),
       '... then the body arrives whole; Expect is not forwarded';
}

# --- a server-sent event reaches the client while the backend waits ----------
{
    my $marker = File::Temp->new->filename;
    my ($port, $be) = backend(sub {
        my ($sock) = @_;
        print $sock "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  . "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
        my $ev = "data: one\n\n";
        print $sock sprintf("%x\r\n%s\r\n", length $ev, $ev);
        # Wait for the client to say it has the first event.
        my $seen = 0;
        for (1 .. 200) {
            if (-e $marker) { $seen = 1; last }
            Time::HiRes::sleep(0.05);
        }
        $ev = $seen ? "data: two after the client saw one\n\n"
                    : "data: two, the client never saw one\n\n";
        print $sock sprintf("%x\r\n%s\r\n0\r\n\r\n", length $ev, $ev);
    });
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $front)
        or die "connect: $!";
    print $sock "GET /raw/$port/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    my $got = '';
    my $sel = IO::Select->new($sock);
    while ($got !~ /data: one/ && $sel->can_read(15)) {
        sysread($sock, $got, 4096, length $got) or last;
    }
    like $got, qr/data: one/, 'first event arrived while the backend waits';
    open my $m, '>', $marker or die;
    close $m;
    while ($sel->can_read(15)) {
        sysread($sock, $got, 4096, length $got) or last;
    }
    like $got, qr/data: two after the client saw one/,
         '... the backend only went on after the client had it';
    $be->wait(5) or $be->stop;
    unlink $marker;
}

# --- bodiless responses and interim responses --------------------------------
sub raw_get {
    my ($port, $method, $path) = @_;
    return split_response(raw_http($front, "$method /raw/$port$path HTTP/1.1\r\n"
                                   . "Host: x\r\nConnection: close\r\n\r\n"));
}
{
    my ($port, $be) = backend(sub {
        my ($sock, $req) = @_;
        print $sock "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n"
                  . "Content-Type: text/x-head\r\n\r\n";
    });
    my $res = raw_get($port, 'HEAD', '/head');
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    is $req->{method}, 'HEAD', 'HEAD forwarded as HEAD';
    is $res->{status}, 200, '... 200';
    is $res->{header}{'content-length'}, 1234, '... with the backend\'s length';
    is $res->{body} . $res->{rest}, '', '... and no body';
}
for my $case ([204, 'No Content', ''], [304, 'Not Modified', "ETag: \"x\"\r\n"]) {
    my ($code, $reason, $extra) = @$case;
    my ($port, $be) = backend(sub {
        my ($sock) = @_;
        print $sock "HTTP/1.1 $code $reason\r\n$extra\r\n";
    });
    my $res = raw_get($port, 'GET', "/s$code");
    $be->wait(5) or $be->stop;
    is $res->{status}, $code, "$code passed on";
    is $res->{body} . $res->{rest}, '', "... without a body";
}
{
    my ($port, $be) = backend(sub {
        my ($sock) = @_;
        print $sock "HTTP/1.1 100 Continue\r\n\r\n"
                  . "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
                  . "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nfinal";
    });
    my $res = raw_get($port, 'GET', '/interim');
    $be->wait(5) or $be->stop;
    is $res->{status}, 200, 'interim 1xx responses, then the final one';
    is $res->{body}, 'final', '... with its body';

    ($port, $be) = backend(sub {
        my ($sock) = @_;
        print $sock "HTTP/1.1 103 Early Hints\r\n\r\n" x 11,
                    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno";
    });
    my $off = error_log_offset();
    $res = raw_get($port, 'GET', '/interim');
    $be->wait(5) or $be->stop;
    is $res->{status}, 502, 'more than 10 interim responses: 502';
    ok error_log_wait($off, qr/RVP\d+: .*too many interim/), '... logged';
}

# --- a backend dying in the middle of the body -----------------------------------
{
    my ($port, $be) = backend(sub {
        my ($sock) = @_;
        print $sock "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", 'x' x 5000;
    });
    my $off = error_log_offset();
    my ($raw, $how) = raw_http($front, "GET /raw/$port/cut HTTP/1.1\r\nHost: x\r\n\r\n",
                               timeout => 15);
    $be->wait(5) or $be->stop;
    my $res = split_response($raw);
    is $res->{status}, 200, 'cut Content-Length body: the head went out';
    ok length($res->{body}) < 100000, '... the body is short';
    is $how, 'eof', '... and the client connection is closed, not kept alive';
    ok error_log_wait($off, qr/RVP\d+: .*before the end of the body/),
       '... with an error-log line';
}
{
    my ($port, $be) = backend(sub {
        my ($sock) = @_;
        print $sock "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                  . "1000\r\n" . ('y' x 4096) . "\r\n" . "1000\r\n" . ('y' x 100);
    });
    my ($raw, $how) = raw_http($front, "GET /raw/$port/cut HTTP/1.1\r\nHost: x\r\n\r\n",
                               timeout => 15);
    $be->wait(5) or $be->stop;
    unlike $raw, qr/\r\n0\r\n\r\n$/, 'cut chunked body: no last-chunk reaches the client';
    is $how, 'eof', '... and the connection is closed';
}

done_testing();
