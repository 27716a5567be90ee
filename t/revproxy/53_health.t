# t/revproxy/53_health.t -- active health checks (hcheck=, hcheckuri=) on a
# separate httpd with three prefork children: the checks run in one process
# only; a member that stops is taken out by the check before any client
# request fails on it; a failing check (500) takes a member out too, and a
# passing one brings it back long before retry; when the process doing the
# checks goes away, another child takes over.
use strict;
use warnings;

use File::Temp ();
use JSON::PP ();
use Apache::Test qw(-withtestmore);
use RevProxyInstance qw(member instance wait_until);

plan tests => 21;

local $SIG{ALRM} = sub { die "53_health.t: out of time\n" };
alarm 180;

my $dir = File::Temp::tempdir('rvp-53-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $a = member(name => 'a', dir => $dir);
my $b = member(name => 'b', dir => $dir);
my ($pa, $pb) = ($a->port, $b->port);
my $url_a = "http://127.0.0.1:$pa";
my $url_b = "http://127.0.0.1:$pb";
my $h = instance(mpm => 'prefork', servers => 3, conf => [
    "RevProxyBackend hc $url_a $url_b hcheck=500ms hcheckuri=/health retry=5m",
    'RevProxyPass "^/hc/(.*)$" "backend://hc/$1"',
]);

sub member_state {
    my ($url, $st) = @_;
    $st //= $h->status;
    my ($g) = grep { $_->{name} eq 'hc' } @{ $st->{backends} };
    my ($m) = grep { $_->{url} eq $url } @{ $g->{members} };
    return $m;
}
sub health_gets { my ($m) = @_; return scalar grep { $_ eq 'GET /health' } $m->requests }

# 1. The checks run, in one process.
ok wait_until(sub { (member_state($url_a)->{health_check}{checks} // 0) >= 2 }, 5),
    'health checks run';
my $st = $h->status;
my $owner = $st->{health_check_pid};
ok $owner && grep({ $_ == $owner } @{ $st->{children} }),
    "... in one child process (pid $owner)";
my $n0 = health_gets($a);
sleep 2;
my $n = health_gets($a) - $n0;
ok $n >= 2 && $n <= 6, "... every 500ms: $n checks of a in 2s (one process checking)";
is member_state($url_a)->{health_check}{ok}, JSON::PP::true(), '... a passes';

# 2. a stops: the check takes it out before a client request fails on it.
{
    my $off = $h->log_offset;
    $a->stop;
    ok wait_until(sub { member_state($url_a)->{state} eq 'down' }, 3),
        'a stopped: taken out by the health check';
    my $m = member_state($url_a);
    is $m->{down_by}, 'health check', '... reported as such';
    my @who = map { my $r = $h->get("/hc/x$_"); $r->{status} == 200 ? $r->{header}{'x-member'} : $r->{status} } 1 .. 10;
    is_deeply \@who, [ ('b') x 10 ], '... 10 requests, all 200 from b';
    $m = member_state($url_a);
    is $m->{failures}{refused} + $m->{failures}{bad} + $m->{failures}{timeout}, 0,
        '... no client request failed on a';
    my @lines = $h->log($off) =~ /(RVP0305: [^\n]*)/g;
    is scalar(@lines), 1, '... logged once';
    like $lines[0] // '', qr/backend group hc .*member \Q$url_a\E marked down by the health check: GET \/health: (?:connect to 127\.0\.0\.1:$pa failed|connection closed before the response head)/,
        '... naming group, member and cause';
}

# 3. b's check answers 500: b is out too; every member down: 503, and
#    Retry-After is the next check.  b healthy again: back up.
{
    $b->sick(1);
    ok wait_until(sub { member_state($url_b)->{state} eq 'down' }, 3),
        'b\'s check answers 500: b taken out';
    like $h->log, qr/RVP0305: .*member \Q$url_b\E marked down by the health check: GET \/health: GET \/health answered 500/,
        '... logged with the status';
    my $r = $h->get('/hc/none');
    is $r->{status}, 503, '... every member out: 503';
    is $r->{header}{'retry-after'}, 1, '... Retry-After: 1 (the next check)';
    $b->sick(0);
    ok wait_until(sub { member_state($url_b)->{state} eq 'up' }, 3),
        'b healthy again: back up by the check, long before retry=5m';
    like $h->log, qr/RVP0306: backend group hc .*member \Q$url_b\E is back up \(health check passed\)/,
        '... logged';
}

# 4. a comes back: the check brings it back too.
{
    $a = member(name => 'a', dir => $dir, port => $pa);
    ok wait_until(sub { member_state($url_a)->{state} eq 'up' }, 3),
        'a restarted: back up by the check';
    my @who = map { $h->get("/hc/y$_")->{header}{'x-member'} // '?' } 1 .. 4;
    is join('', sort @who), 'aabb', "... and in use again (@who)";
}

# 5. The child doing the checks goes away: another one takes over.
{
    my $old = $h->status->{health_check_pid};
    kill 'TERM', $old;
    my $new;
    ok wait_until(sub {
        my $st = eval { $h->status } or return 0;
        $new = $st->{health_check_pid};
        $new && $new != $old && grep { $_ == $new } @{ $st->{children} };
    }, 5), "the checking child ($old) exits: another child takes over";
    my $c0 = member_state($url_a)->{health_check}{checks};
    ok wait_until(sub { member_state($url_a)->{health_check}{checks} >= $c0 + 2 }, 3),
        "... and the checks go on (pid $new)";
}

$h->stop;
is $h->crash_report, '', 'no child crashed, no sanitizer report';
