# t/revproxy/58_maxconns.t -- maxconns=N (member option and group
# option) and acquire=D on a separate httpd (t/lib/RevProxyInstance.pm):
# requests in flight are counted per member across the children; a request
# that finds every usable member full waits up to acquire, then gets 503
# with Retry-After: 1.  The count is given back on every path, an aborted
# client included.
use strict;
use warnings;

use File::Temp ();
use Apache::Test qw(-withtestmore);
use RevProxyInstance qw(member instance wait_until);

local $SIG{ALRM} = sub { die "58_maxconns.t: out of time\n" };
alarm 120;

my $dir = File::Temp::tempdir('rvp-58-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my %m;
sub members {
    return map { $m{$_} //= member(name => $_, dir => $dir, lifetime => 100) } @_;
}
sub url { return $m{$_[0]}->url }
sub hits {
    my ($prefix, @names) = @_;
    return map { $m{$_}->hits($prefix) } @names;
}

# Send a GET and return once the member has it.
sub hold {
    my ($h, $path, $seen, @names) = @_;
    my $c = $h->connection or die "connect: $!";
    $c->send('GET', $path);
    wait_until(sub { (grep { $_ } hits($seen, @names)) >= 1 }, 10);
    return $c;
}

members(qw(a g1 g2 w));
my $h = instance(mpm => 'prefork', servers => 2, conf => [
    'RevProxyBackend one',
    'RevProxyMember one ' . url('a') . ' maxconns=1',
    'RevProxyBackend grp ' . url('g1') . ' ' . url('g2') . ' maxconns=1',
    'RevProxyBackend wait ' . url('w') . ' maxconns=1 acquire=10s',
    (map { qq{RevProxyPass "^/$_/(.*)\$" "backend://$_/\$1"} } qw(one grp wait)),
]);

# Member maxconns=1: a second request while one is in flight (in another
# child, most likely: prefork) is 503 + Retry-After: 1.
{
    my $c = hold($h, '/one/slow/3/h1', '/slow/3/h1', 'a');
    my $r = $h->get('/one/second');
    is $r->{status}, 503, 'maxconns=1: a request while one is in flight: 503';
    is $r->{header}{'retry-after'}, '1', '... with Retry-After: 1';
    is_deeply [ hits('/second', 'a') ], [ 0 ], '... it did not reach the member';
    is $c->response('GET', timeout => 15)->{status}, 200, '... the one in flight: 200';
    $c->close;
    is $h->get('/one/third')->{status}, 200, '... once it is over, the next is 200';
}

# Group maxconns=1 for each of two members: two in flight, the third waits
# not (acquire=0): 503.
{
    my $c1 = hold($h, '/grp/slow/3/x1', '/slow/3/x1', 'g1', 'g2');
    my $c2 = hold($h, '/grp/slow/3/x2', '/slow/3/x2', 'g1', 'g2');
    is_deeply [ hits('/slow/3/', 'g1', 'g2') ], [ 1, 1 ],
        'group maxconns=1: two slow requests, one on each member';
    my $r = $h->get('/grp/third');
    is $r->{status}, 503, '... a third: 503';
    is $r->{header}{'retry-after'}, '1', '... with Retry-After: 1';
    is $_->response('GET', timeout => 15)->{status}, 200, '... a slow one: 200' for $c1, $c2;
    $_->close for $c1, $c2;
}

# acquire=10s: the request waits for the slot instead.
{
    my $c = hold($h, '/wait/slow/2/w1', '/slow/2/w1', 'w');
    my $r = $h->get('/wait/after', timeout => 20);
    is $r->{status}, 200, 'acquire=10s: a request finding the member full waits and gets 200';
    is $c->response('GET', timeout => 15)->{status}, 200, '... the first one too';
    $c->close;
}

# An aborted client gives its count back.
{
    my $c = hold($h, '/one/slow/2/ab', '/slow/2/ab', 'a');
    $c->close;                          # the client goes away
    ok wait_until(sub { $h->get('/one/after-abort')->{status} == 200 }, 15),
        'a client that went away mid-request: its place comes free again';
    my @codes = map { $h->get("/one/n$_")->{status} } 1 .. 5;
    is_deeply \@codes, [ (200) x 5 ], '... and stays free (nothing leaked)';
}

$h->stop;
is $h->crash_report, '', 'no child crashed, no sanitizer report';

# A child killed mid-request: the parent frees its row of the scoreboard,
# and the request's count goes with it (the member is not full for ever).
{
    my ($k) = members('k');
    my $hk = instance(mpm => 'prefork', servers => 2, conf => [
        'RevProxyBackend kill',
        'RevProxyMember kill ' . url('k') . ' maxconns=1',
        'RevProxyPass "^/kill/(.*)$" "backend://kill/$1"',
    ]);
    my $c = hold($hk, '/kill/slow/30/k1', '/slow/30/k1', 'k');
    is $hk->get('/kill/full')->{status}, 503, 'a child holds the only place: 503';
    my @kids = @{ $hk->status->{children} // [] };
    ok @kids >= 1, 'the children are known (' . scalar(@kids) . ')';
    kill 'KILL', @kids;
    $c->close;
    ok wait_until(sub { $hk->get('/kill/again')->{status} == 200 }, 15),
        '... the children killed: the place is free again (the row went with the child)';
    $hk->stop;
}

done_testing();
