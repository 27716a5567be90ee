#!/usr/bin/perl
# bench/sse_backend.pl -- a server-sent-events backend for bench/run.sh.
#
#   perl bench/sse_backend.pl PORT [INTERVAL_MS]
#
# Listens on 127.0.0.1:PORT.  GET /ANY?n=N answers 200 text/event-stream,
# chunked, then writes N events (default 30, at most 1000), one every
# INTERVAL_MS (100), each "data: T\n\n" with T the send time in
# microseconds since the epoch, written in its own chunk and flushed at
# once (TCP_NODELAY).  The response ends with the last chunk; the
# connection then closes.  One process per connection (fork); each child
# lives at most 120 s.  SIGTERM ends the listener and its children.
use strict;
use warnings;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time sleep);
use POSIX ();

my $port = shift or die "usage: $0 PORT [INTERVAL_MS]\n";
my $interval = (shift // 100) / 1000;

my $ls = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                               Listen => 128, ReuseAddr => 1, Proto => 'tcp')
    or die "sse_backend: cannot listen on 127.0.0.1:$port: $!\n";

my %kids;
$SIG{CHLD} = sub { while ((my $p = waitpid(-1, POSIX::WNOHANG())) > 0) { delete $kids{$p} } };
$SIG{TERM} = $SIG{INT} = sub { kill 'TERM', keys %kids; exit 0 };
$SIG{PIPE} = 'IGNORE';

while (1) {
    my $c = $ls->accept or next;        # EINTR from SIGCHLD: go on
    my $pid = fork;
    if (!defined $pid) { close $c; next; }
    if ($pid) { $kids{$pid} = 1; close $c; next; }

    # the child
    $SIG{TERM} = $SIG{INT} = 'DEFAULT';
    $SIG{CHLD} = 'DEFAULT';
    alarm 120;
    close $ls;
    setsockopt($c, IPPROTO_TCP, TCP_NODELAY, 1);
    my $head = '';
    while ($head !~ /\r?\n\r?\n/) {
        my $n = sysread($c, $head, 8192, length $head);
        POSIX::_exit(0) unless $n;
    }
    my ($target) = $head =~ /^\S+\s+(\S+)/;
    my $n = ($target // '') =~ /[?&]n=(\d+)/ ? $1 : 30;
    $n = 1000 if $n > 1000;
    syswrite($c, "HTTP/1.1 200 OK\r\n"
               . "Content-Type: text/event-stream\r\n"
               . "Cache-Control: no-cache\r\n"
               . "X-Accel-Buffering: no\r\n"
               . "Transfer-Encoding: chunked\r\n"
               . "Connection: close\r\n\r\n") or POSIX::_exit(0);
    my $next = time;
    for my $i (1 .. $n) {
        my $wait = $next - time;
        sleep $wait if $wait > 0;
        $next += $interval;
        my $ev = sprintf "id: %d\ndata: %.0f\n\n", $i, time * 1e6;
        syswrite($c, sprintf("%x\r\n%s\r\n", length $ev, $ev)) or POSIX::_exit(0);
    }
    syswrite($c, "0\r\n\r\n");
    shutdown($c, 1);
    POSIX::_exit(0);
}
