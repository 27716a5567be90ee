#!/usr/bin/perl
# bench/sse_client.pl -- event delay through a front, for bench/run.sh.
#
#   perl bench/sse_client.pl PORT PATH [TIMEOUT_S]
#
# GETs http://127.0.0.1:PORT/PATH and reads server-sent events written by
# bench/sse_backend.pl.  For each "data: T" line (T: send time in
# microseconds since the epoch) it notes the arrival time of the read that
# completed the line, and prints one line:
#
#   events=N median_ms=M max_ms=X status=S
#
# The byte stream is scanned as it comes (chunk-size lines of a chunked
# body are skipped by the pattern), so any framing the front chooses works.
# Exits 1 when no event arrived.
use strict;
use warnings;
use IO::Socket::INET;
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Time::HiRes qw(time);

my ($port, $path, $limit) = @ARGV;
die "usage: $0 PORT PATH [TIMEOUT_S]\n" unless $port && $path;
$limit ||= 30;

$SIG{ALRM} = sub { print "events=0 median_ms=- max_ms=- status=timeout\n"; exit 1 };
alarm $limit;

my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                              Proto => 'tcp')
    or die "sse_client: cannot connect to 127.0.0.1:$port: $!\n";
setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
syswrite($s, "GET $path HTTP/1.1\r\nHost: 127.0.0.1:$port\r\n"
           . "Accept: text/event-stream\r\nConnection: close\r\n\r\n");

my ($buf, @delays, $status) = ('');
while (1) {
    my $n = sysread($s, $buf, 65536, length $buf);
    last unless $n;
    my $now = time * 1e6;
    if (!defined $status) {
        next unless $buf =~ /\r\n\r\n/;
        ($status) = $buf =~ m{^HTTP/1\.\d (\d+)};
        $buf =~ s/^.*?\r\n\r\n//s;
    }
    while ($buf =~ s/^.*?data: (\d+)\n//s) {
        push @delays, ($now - $1) / 1000;
    }
}
alarm 0;
if (!@delays) {
    printf "events=0 median_ms=- max_ms=- status=%s\n", $status // 'none';
    exit 1;
}
my @s = sort { $a <=> $b } @delays;
my $median = @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
printf "events=%d median_ms=%.3f max_ms=%.3f status=%s\n",
       scalar @s, $median, $s[-1], $status // 'none';
