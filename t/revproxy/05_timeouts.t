# t/revproxy/05_timeouts.t -- the rule's timeouts while the body moves:
# a backend that stops sending in the middle of a response body, and one
# that stops reading in the middle of a request body.  Backend sockets wait
# inside recv(2)/sendmsg(2) with SO_RCVTIMEO/SO_SNDTIMEO; these tests show
# that the limits hold there too and what the client sees.
use strict;
use warnings;

use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();
use Apache::Test qw(-withtestmore);
use RevProxyTest qw(:all);

Apache::TestRequest::module('rp_front');
my $front = Apache::Test::vars('rp_front_port');

{
    # 10 bytes of a 100000-byte body, then silence for longer than
    # timeout=1 (the backend closes only after 6 s).
    my ($port, $be) = raw_backend(lifetime => 20, handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        print $sock "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" . ('x' x 10);
        sleep 6;
    });
    my $off = error_log_offset();
    my ($raw, $how) = raw_http($front, "GET /rawt/$port/stall HTTP/1.1\r\nHost: x\r\n"
                               . "Connection: close\r\n\r\n", timeout => 15);
    my $res = split_response($raw) // {};
    is $res->{status}, 200, 'body stalls after the head: the head went out (200)';
    is $res->{body}, 'x' x 10, '... with the 10 bytes the backend sent';
    is $how, 'eof', '... then the client connection is closed, short of Content-Length';
    like error_log_wait($off, qr/RVP\d+: /) // '', qr/timed out reading the body.*client connection aborted/,
         '... and the log says the body timed out (not that the backend closed)';
    $be->stop;
}

{
    # The backend reads the request head, then nothing of the 64 MiB body;
    # once the socket buffers are full, sendtimeout=1 ends the exchange.
    my ($port, $be) = raw_backend(lifetime => 70, handler => sub {
        my ($sock) = @_;
        my $head = '';
        while ($head !~ /\r\n\r\n/) {
            sysread($sock, $head, 4096, length $head) or return;
        }
        sleep 60;           # longer than the client waits below
    });
    my $size = 64 * 1024 * 1024;
    my $off = error_log_offset();
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $front,
                                     Proto => 'tcp', Timeout => 5) or die "connect: $!";
    $sock->blocking(0);
    local $SIG{PIPE} = 'IGNORE';
    my $out = "POST /raws/$port/upload HTTP/1.1\r\nHost: x\r\nContent-Length: $size\r\n"
            . "Connection: close\r\n\r\n";
    my $left = $size;
    my $chunk = 'u' x 65536;
    my ($in, $deadline) = ('', Time::HiRes::time() + 25);
    my $sel = IO::Select->new($sock);
    # Write while the front reads, read whatever it answers; bounded.
    while (Time::HiRes::time() < $deadline) {
        if (length $out == 0 && $left > 0) {
            my $n = $left < length $chunk ? $left : length $chunk;
            $out = substr $chunk, 0, $n;
            $left -= $n;
        }
        my ($r, $w) = IO::Select::select($sel, length $out ? $sel : undef, undef, 0.5);
        if ($r && @$r) {
            my $n = sysread $sock, my $buf, 65536;
            last unless $n;
            $in .= $buf;
        }
        if ($w && @$w && length $out) {
            my $n = syswrite $sock, $out;
            if (!defined $n) {
                last unless $!{EAGAIN};
            }
            else {
                substr($out, 0, $n) = '';
            }
        }
    }
    close $sock;
    my $res = split_response($in) // {};
    is $res->{status}, 504, 'backend stops reading the request body: 504 after sendtimeout=1';
    like error_log_wait($off, qr/RVP\d+: /) // '',
         qr/RVP\d+: .*\/raws\/.*: timed out writing the request \(the backend stopped reading\); answered 504/,
         '... logged as a write that timed out';
    $be->stop;
}

done_testing();
