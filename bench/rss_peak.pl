#!/usr/bin/perl
# bench/rss_peak.pl -- peak resident memory of a server's children.
#
#   perl bench/rss_peak.pl PARENT_PID [INTERVAL_MS] &   ...   kill -TERM $!
#
# Every INTERVAL_MS (50) it sums VmRSS of PARENT_PID's direct children
# (httpd's or nginx's worker processes; the list is read again when one
# disappears).  The first sample is the idle baseline.  On SIGTERM, SIGINT
# or after 600 s it prints one line and exits:
#
#   baseline_kb=B peak_kb=P growth_kb=G samples=N children=C
use strict;
use warnings;
use Time::HiRes qw(sleep);

my ($ppid, $ms) = @ARGV;
die "usage: $0 PARENT_PID [INTERVAL_MS]\n" unless $ppid && $ppid =~ /^\d+$/;
$ms ||= 50;

sub children {
    my @kids;
    opendir(my $d, '/proc') or return ();
    for my $p (grep { /^\d+$/ } readdir $d) {
        open(my $f, '<', "/proc/$p/stat") or next;
        my $st = <$f> // next;
        # pid (comm) state ppid ...; comm may hold spaces and parentheses
        push @kids, $p if $st =~ /\)\s+\S+\s+(\d+)/ && $1 == $ppid;
    }
    return @kids;
}

sub rss {
    my ($kids) = @_;
    my ($sum, $gone) = (0, 0);
    for my $p (@$kids) {
        my $f;
        if (!open($f, '<', "/proc/$p/status")) { $gone = 1; next; }
        while (<$f>) {
            if (/^VmRSS:\s+(\d+)/) { $sum += $1; last; }
        }
    }
    return ($sum, $gone);
}

my @kids = children();
my ($base, $peak, $n) = (undef, 0, 0);
my $done = 0;
$SIG{TERM} = $SIG{INT} = sub { $done = 1 };
my $deadline = time + 600;

while (!$done && time < $deadline) {
    my ($sum, $gone) = rss(\@kids);
    if ($gone) {
        @kids = children();
        ($sum) = rss(\@kids);
    }
    $base //= $sum;
    $peak = $sum if $sum > $peak;
    $n++;
    sleep $ms / 1000;
}
$base //= 0;
printf "baseline_kb=%d peak_kb=%d growth_kb=%d samples=%d children=%d\n",
       $base, $peak, $peak - $base, $n, scalar @kids;
