#!/usr/bin/perl
# bench/reqloop.pl -- an exact number of keep-alive GETs, for profiling.
#
#   perl bench/reqloop.pl PORT PATH N [CONNS]
#
# Sends N requests for PATH to 127.0.0.1:PORT over CONNS (1) keep-alive
# connections, one request in flight per connection, the connections
# taking turns.  Each response must be 200 with a Content-Length body; the
# loop stops at the first that is not.  Prints "requests=N ok=K seconds=S".
# Gives up after 600 s.
use strict;
use warnings;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);

my ($port, $path, $n, $conns) = @ARGV;
die "usage: $0 PORT PATH N [CONNS]\n" unless $port && $path && $n;
$conns ||= 1;
alarm 600;

my @s = map {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp')
        or die "reqloop: cannot connect to 127.0.0.1:$port: $!\n";
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    $s
} 1 .. $conns;

my $req = "GET $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\nUser-Agent: reqloop\r\n"
        . "Accept: */*\r\n\r\n";
my ($ok, $t0) = (0, time);
REQ: for my $i (1 .. $n) {
    my $s = $s[$i % $conns];
    syswrite($s, $req) == length $req or last;
    my $buf = '';
    while ($buf !~ /\r\n\r\n/) {
        sysread($s, $buf, 65536, length $buf) or last REQ;
    }
    my ($head, $body) = split /\r\n\r\n/, $buf, 2;
    last unless $head =~ m{^HTTP/1\.1 200 } && $head =~ /^Content-Length:\s*(\d+)/mi;
    my $len = $1;
    while (length $body < $len) {
        sysread($s, $body, $len - length $body, length $body) or last REQ;
    }
    $ok++;
}
printf "requests=%d ok=%d seconds=%.3f\n", $n, $ok, time - $t0;
exit($ok == $n ? 0 : 1);
