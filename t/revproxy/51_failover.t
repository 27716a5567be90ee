# t/revproxy/51_failover.t -- failover between the members of a group, on a
# separate httpd with three prefork children (the state is shared by all of
# them): requests alternate; a stopped member is skipped and reported down
# (logged once), every request still 200; both stopped: 503 with
# Retry-After; a member that comes back is used again after retry; a POST
# whose body went out is not sent to another member, a GET is, and so is
# a POST whose connection was refused.
use strict;
use warnings;

use File::Temp ();
use Apache::Test qw(-withtestmore);
use RevProxyInstance qw(member instance wait_until);

plan tests => 34;

local $SIG{ALRM} = sub { die "51_failover.t: out of time\n" };
alarm 180;

my $dir = File::Temp::tempdir('rvp-51-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $a = member(name => 'a', dir => $dir);
my $b = member(name => 'b', dir => $dir);
my $d = member(name => 'd', dir => $dir);
my ($pa, $pb, $pd) = ($a->port, $b->port, $d->port);
my $url_a = "http://127.0.0.1:$pa";
my $url_b = "http://127.0.0.1:$pb";

my $h = instance(mpm => 'prefork', servers => 3, conf => [
    "RevProxyBackend ab $url_a $url_b retry=3",
    # d hangs up on every request (its paths start with /drop/).
    "RevProxyBackend post http://127.0.0.1:$pd/drop $url_b retry=1",
    'RevProxyPass "^/ab/(.*)$" "backend://ab/$1"',
    'RevProxyPass "^/post/(.*)$" "backend://post/$1"',
]);

sub member_state {
    my ($group, $url) = @_;
    my ($g) = grep { $_->{name} eq $group } @{ $h->status->{backends} };
    my ($m) = grep { $_->{url} eq $url } @{ $g->{members} };
    return $m;
}

sub who { my ($r) = @_; return $r->{status} == 200 ? $r->{header}{'x-member'} : "status $r->{status}" }

# 1. Round-robin, shared by all children (each request on a new connection
#    lands on whichever child accepts it).
{
    my @who = map { who($h->get("/ab/rr$_")) } 1 .. 10;
    my $alternating = !grep { $who[$_] eq $who[$_ - 1] } 1 .. $#who;
    ok $alternating && (grep { $_ eq 'a' } @who) == 5,
        "10 requests alternate over a and b (@who)";
}

# 2. a stops: every request still 200, a is down, logged once.
{
    $a->stop;
    my $off = $h->log_offset;
    my @who = map { who($h->get("/ab/one$_")) } 1 .. 10;
    is_deeply \@who, [ ('b') x 10 ], 'a stopped: 10 requests, all 200 from b';
    my $m = member_state('ab', $url_a);
    is $m->{state}, 'down', '... a is reported down';
    is $m->{down_by}, 'request', '... by a failed request';
    ok $m->{failures}{refused} >= 1, "... refused counted ($m->{failures}{refused})";
    my @lines = $h->log($off) =~ /(RVP0300: backend group ab .* member \Q$url_a\E marked down[^\n]*)/g;
    is scalar(@lines), 1, '... one log line for the transition' or diag $h->log($off);
    like $lines[0] // '', qr/retry=3s: connect to 127\.0\.0\.1:$pa failed/,
        '... naming the cause';
}

# 3. b stops too: 503 with Retry-After.
{
    $b->stop;
    my $r = $h->get('/ab/both');
    is $r->{status}, 503, 'both stopped: 503';
    my $ra = $r->{header}{'retry-after'} // '';
    ok $ra =~ /^\d+$/ && $ra >= 1 && $ra <= 3, "... Retry-After: $ra (retry=3)";
    is member_state('ab', $url_b)->{state}, 'down', '... b is reported down';
    like $h->log, qr/RVP0302: backend group ab .*every member is down[^;]*; answered 503 with Retry-After: \d/,
        '... logged';
}

# 4. a comes back on its port: used again once its retry has passed, by
#    the one request that probes it.
{
    my $off = $h->log_offset;
    $a = member(name => 'a', dir => $dir, port => $pa);
  SKIP: {
        # Only meaningful while a's retry has some time left.
        my $left = member_state('ab', $url_a)->{retry_in} // 0;
        skip "a's retry passed already ($left s left)", 1 if $left < 0.5;
        my $early = $h->get('/ab/early');
        is $early->{status}, 503, 'a restarted: not used before its retry passed';
    }
    ok wait_until(sub { (member_state('ab', $url_a)->{retry_in} // 0) <= 0 }, 6),
        '... retry=3 passes';
    my @who = map { who($h->get("/ab/back$_")) } 1 .. 4;
    is_deeply \@who, [ ('a') x 4 ], '... then a serves again (b still down)';
    my $m = member_state('ab', $url_a);
    is $m->{state}, 'up', '... reported up';
    ok time - $m->{since} < 10, '... since just now';
    like $h->log($off), qr/RVP0301: backend group ab .*member \Q$url_a\E is back up \(a request succeeded\) after \d+s down/,
        '... logged';

    $b = member(name => 'b', dir => $dir, port => $pb);
    ok wait_until(sub {
        my @w = map { who($h->get("/ab/both$_")) } 1 .. 2;
        "@w" eq 'a b' || "@w" eq 'b a';
    }, 8, 0.3), 'b restarted: back in the rotation after its retry';
    @who = map { who($h->get("/ab/again$_")) } 1 .. 6;
    my $alternating = !grep { $who[$_] eq $who[$_ - 1] } 1 .. $#who;
    ok $alternating, "... requests alternate again (@who)";
}

# 5. A POST whose bytes went out is not sent again; a GET is.
{
    my $off = $h->log_offset;
    my $r = $h->get('/post/form', method => 'POST', body => 'name=value',
                    headers => ['Content-Type' => 'application/x-www-form-urlencoded']);
    is $r->{status}, 502, 'POST: the member hangs up after reading it: 502';
    is_deeply [ $d->requests ], [ 'POST /drop/form' ], '... d got the POST once';
    is scalar(grep { /^POST/ } $b->requests), 0,
        '... and it was not replayed on b';
    like $h->log($off), qr/RVP0303: backend http:\/\/127\.0\.0\.1:$pd of group post .*connection closed before any response byte; bytes of the request reached it and the method is not idempotent: not sent to another member; answered 502/,
        '... logged, saying why';
    is member_state('post', "http://127.0.0.1:$pd/drop")->{failures}{bad}, 1,
        '... a bad response counted for d';

    # d is down for retry=1; after that a GET probes it, d hangs up, and
    # the GET goes to b.
    ok wait_until(sub { (member_state('post', "http://127.0.0.1:$pd/drop")->{retry_in} // 0) <= 0 }, 4),
        'd\'s retry passes';
    my @codes;
    wait_until(sub {
        push @codes, $h->get('/post/page')->{status};
        grep { /^GET/ } $d->requests;
    }, 5);
    is scalar(grep { /^GET/ } $d->requests), 1, 'a GET probes d, which hangs up';
    is_deeply \@codes, [ (200) x @codes ], '... every GET answered 200: sent again to b';
}

# 6. A POST whose connection is refused is sent to the next member: no
#    byte of it went out.
{
    $d->stop;
    ok wait_until(sub { (member_state('post', "http://127.0.0.1:$pd/drop")->{retry_in} // 0) <= 0 }, 4),
        'd stopped, its retry passes';
    my $before = member_state('post', "http://127.0.0.1:$pd/drop")->{failures}{refused};
    my @codes = map { $h->get("/post/f$_", method => 'POST', body => "n=$_")->{status} } 1 .. 2;
    is_deeply \@codes, [200, 200], 'two POSTs: both 200';
    is member_state('post', "http://127.0.0.1:$pd/drop")->{failures}{refused}, $before + 1,
        '... one of them tried d first (refused)';
    is_deeply [ grep { /^POST/ } $b->requests ], [ 'POST /f1', 'POST /f2' ],
        '... and b got both';
}

# 7. The counters add up.
{
    my $st = $h->status;
    my ($ab) = grep { $_->{name} eq 'ab' } @{ $st->{backends} };
    my $total = 0;
    $total += $_->{requests} for @{ $ab->{members} };
    my ($rule) = grep { $_->{pattern} eq '^/ab/(.*)$' } @{ $st->{rules} };
    ok $rule->{hits} >= 30 && $ab->{requests} == $rule->{hits},
        "group ab: $ab->{requests} requests, its rule $rule->{hits} hits";
    ok $total > $ab->{requests} - $ab->{unavailable},
        "... $total attempts on members (failovers included)";
}

$h->stop;
is $h->crash_report, '', 'no child crashed, no sanitizer report';
