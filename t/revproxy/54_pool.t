# t/revproxy/54_pool.t -- connections of group members, on a separate httpd
# with two event-MPM processes: the status page counts open and idle
# connections per member summed over the processes, in flight and after;
# max=N caps the idle connections kept per member in each process; a
# graceful restart of the event MPM keeps the counters.
use strict;
use warnings;

use File::Temp ();
use Apache::Test qw(-withtestmore);
use RevProxyInstance qw(member instance wait_until);

plan tests => 9;

local $SIG{ALRM} = sub { die "54_pool.t: out of time\n" };
alarm 120;

my $dir = File::Temp::tempdir('rvp-54-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $a = member(name => 'a', dir => $dir);
my $url = 'http://127.0.0.1:' . $a->port;
my $h = instance(mpm => 'event', servers => 2, conf => [
    "RevProxyBackend roomy $url max=8",
    "RevProxyBackend capped $url max=1",
    'RevProxyPass "^/roomy/(.*)$" "backend://roomy/$1"',
    'RevProxyPass "^/capped/(.*)$" "backend://capped/$1"',
]);

sub conns {
    my ($group) = @_;
    my ($g) = grep { $_->{name} eq $group } @{ $h->status->{backends} };
    return $g->{members}[0]{connections};
}

# Four requests at once, each needing a backend connection of its own.
sub four_at_once {
    my ($path, $during) = @_;
    my @c = map { $h->connection } 1 .. 4;
    $_->send('GET', $path) for @c;
    my $mid = $during ? $during->() : undef;
    my @codes = map { $_->response('GET')->{status} } @c;
    $_->close for @c;
    return ($mid, @codes);
}

my ($mid, @codes) = four_at_once('/roomy/slow/1.5', sub {
    wait_until(sub { conns('roomy')->{open} == 4 }, 3) && conns('roomy');
});
is_deeply \@codes, [ (200) x 4 ], 'four slow requests at once';
is_deeply $mid, { open => 4, idle => 0 },
    '... while in flight: 4 connections open, none idle';
is_deeply conns('roomy'), { open => 4, idle => 4 },
    '... afterwards all 4 kept idle (max=8), summed over the processes';
my $n = scalar @{ $h->status->{children} };
is $n, 2, '... two processes counted';

(undef, @codes) = four_at_once('/capped/slow/1');
is_deeply \@codes, [ (200) x 4 ], 'four at once to the group with max=1';
my $c = conns('capped');
ok $c->{idle} >= 1 && $c->{idle} <= $n && $c->{open} == $c->{idle},
    "... at most one idle connection kept per process: $c->{open} open, $c->{idle} idle";

my ($rule) = grep { $_->{pattern} eq '^/roomy/(.*)$' } @{ $h->status->{rules} };
ok $h->graceful, 'graceful restart of the event MPM';
my ($rule2) = grep { $_->{pattern} eq '^/roomy/(.*)$' } @{ $h->status->{rules} };
is $rule2->{hits}, $rule->{hits}, "... the counters are kept ($rule->{hits} hits)";

$h->stop;
is $h->crash_report, '', 'no process crashed, no sanitizer report';
