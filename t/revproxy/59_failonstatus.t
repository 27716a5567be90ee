# t/revproxy/59_failonstatus.t -- failonstatus= and failontimeout= on a
# separate httpd (t/lib/RevProxyInstance.pm).  The members' /health
# answers 500 while they are "sick".  An answer with a status of
# failonstatus marks the member down at once; a GET moves on to the next
# member, a POST's answer goes to the client (it was not safe to send
# again).  failontimeout=on counts a response head that did not come in
# time toward fails=; without it, a timeout does not mark the member down.
use strict;
use warnings;

use File::Temp ();
use Apache::Test qw(-withtestmore);
use RevProxyInstance qw(member instance);

local $SIG{ALRM} = sub { die "59_failonstatus.t: out of time\n" };
alarm 120;

my $dir = File::Temp::tempdir('rvp-59-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my %m;
sub members {
    return map { $m{$_} //= member(name => $_, dir => $dir, lifetime => 100) } @_;
}
sub url { return $m{$_[0]}->url }
sub count {
    my ($line, @names) = @_;
    return map { my $n = $_; scalar grep { $_ eq $line } $m{$n}->requests } @names;
}
sub state_of {
    my ($h, $group, $name) = @_;
    my ($g) = grep { $_->{name} eq $group } @{ $h->status->{backends} };
    my ($mm) = grep { $_->{url} eq url($name) } @{ $g ? $g->{members} : [] };
    return $mm ? $mm->{state} : '?';
}

members(qw(a b c d t u));
$m{$_}->sick(1) for qw(a c d);
my $h = instance(mpm => 'event', servers => 1, conf => [
    'RevProxyBackend g ' . url('a') . ' ' . url('b') . ' failonstatus=500,503 retry=60',
    'RevProxyBackend p ' . url('c') . ' ' . url('d') . ' failonstatus=500 retry=60',
    'RevProxyBackend to ' . url('t') . ' timeout=1 failontimeout=on fails=1 retry=60',
    'RevProxyBackend nt ' . url('u') . ' timeout=1 fails=1 retry=60',
    (map { qq{RevProxyPass "^/$_/(.*)\$" "backend://$_/\$1"} } qw(g p to nt)),
]);

# A GET answered 500 by a moves on to b; a is down at once.
{
    my @r = map { $h->get('/g/health') } 1 .. 4;
    is_deeply [ map { $_->{status} } @r ], [ (200) x 4 ],
        'failonstatus=500: four GETs, the sick member among them: all 200';
    is_deeply [ map { $_->{header}{'x-member'} } @r ], [ ('b') x 4 ], '... all from b';
    is_deeply [ count('GET /health', 'a') ], [ 1 ], '... a received one, then no more';
    is state_of($h, 'g', 'a'), 'down', '... a is marked down at once';
    is state_of($h, 'g', 'b'), 'up', '... b is up';
    like $h->log, qr/RVP0300: .*member \Q${\ url('a')}\E marked down .*answered 500 \(failonstatus\)/,
        '... logged';
}

# Both members sick: a GET tries both, the last answer goes to the client;
# a POST's answer goes to the client at once.
{
    my $r = $h->get('/p/health', method => 'POST', body => 'x=1');
    is $r->{status}, 500, 'a POST answered 500 (failonstatus): the answer goes to the client';
    like $r->{body}, qr/sick/, '... the member\'s own answer';
    my @got = count('POST /health', 'c', 'd');
    is $got[0] + $got[1], 1, "... it reached one member only (@got)";
    like $h->log, qr/RVP0331: .*answered 500 \(failonstatus\); the answer goes to the client/,
        '... logged';
}

# failontimeout=on: a head that does not come in time counts toward fails=.
{
    my $r = $h->get('/to/slow/3');
    is $r->{status}, 504, 'failontimeout=on: no head within timeout=1: 504';
    is state_of($h, 'to', 't'), 'down', '... and with fails=1 the member is down';
    $r = $h->get('/nt/slow/3');
    is $r->{status}, 504, 'without failontimeout: 504 as well';
    is state_of($h, 'nt', 'u'), 'up', '... but the member stays up';
}

$h->stop;
is $h->crash_report, '', 'no child crashed, no sanitizer report';

done_testing();
