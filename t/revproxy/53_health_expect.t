# t/revproxy/53_health_expect.t -- hcmethod=, hcexpect=, hcfails= and
# hcpasses= on a separate httpd (t/lib/RevProxyInstance.pm): the members
# receive the method asked for; the status list decides whether a check
# passes; a member goes down only after hcfails failed checks in a row and
# comes back only after hcpasses passed ones.
use strict;
use warnings;

use File::Temp ();
use Apache::Test qw(-withtestmore);
use RevProxyInstance qw(member instance wait_until);

local $SIG{ALRM} = sub { die "53_health_expect.t: out of time\n" };
alarm 150;

my $dir = File::Temp::tempdir('rvp-53e-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my %m = map { $_ => member(name => $_, dir => $dir, lifetime => 140) } qw(a e);
sub url { return $m{$_[0]}->url }
sub count {
    my ($line, $name) = @_;
    return scalar grep { $_ eq $line } $m{$name}->requests;
}

my $h = instance(mpm => 'prefork', servers => 2, conf => [
    'RevProxyBackend hh ' . url('a') . ' hcheck=700ms hcheckuri=/health hcmethod=HEAD '
        . 'hcfails=3 hcpasses=2 retry=5m',
    'RevProxyBackend hx ' . url('e') . ' hcheck=300ms hcheckuri=/health hcexpect=204,500-503',
    (map { qq{RevProxyPass "^/$_/(.*)\$" "backend://$_/\$1"} } qw(hh hx)),
]);

sub member_of {
    my ($group, $name, $st) = @_;
    $st //= $h->status;
    my ($g) = grep { $_->{name} eq $group } @{ $st->{backends} };
    my ($mm) = grep { $_->{url} eq url($name) } @{ $g->{members} };
    return $mm // {};
}

# hcmethod=HEAD: what the member receives.
ok wait_until(sub { count('HEAD /health', 'a') >= 2 }, 10), 'hcmethod=HEAD: the member receives HEAD /health';
is count('GET /health', 'a'), 0, '... and no GET';
is member_of('hh', 'a')->{state}, 'up', '... it passes (200)';

# hcfails=3: one or two failed checks leave it up; the third takes it out.
{
    $m{a}->sick(1);
    my ($seen_up_after_fail, $first_down);
    wait_until(sub {
        my $mm = member_of('hh', 'a');
        my $failed = $mm->{health_check}{failed} // 0;
        $seen_up_after_fail = 1 if $failed >= 1 && $failed < 3 && $mm->{state} eq 'up';
        $first_down = $failed if !defined $first_down && $mm->{state} eq 'down';
        defined $first_down;
    }, 15, 0.05);
    ok $seen_up_after_fail, 'hcfails=3: after one or two failed checks the member is still up';
    ok defined $first_down && $first_down >= 3,
        '... it is down after three (' . ($first_down // 'never') . ' failed)';
    is $h->get('/hh/x')->{status}, 503, '... requests then get 503';
}

# hcpasses=2: one passed check is not enough to come back.
{
    $m{a}->sick(0);
    my ($seen_down_after_pass, $up);
    wait_until(sub {
        my $mm = member_of('hh', 'a');
        my $ok = $mm->{health_check}{ok};
        $seen_down_after_pass = 1 if $ok && $mm->{state} eq 'down';
        $up = $mm->{state} eq 'up';
    }, 15, 0.05);
    ok $seen_down_after_pass, 'hcpasses=2: after one passed check the member is still down';
    ok $up, '... it comes back after the second';
    is $h->get('/hh/y')->{status}, 200, '... and answers requests again';
}

# hcexpect=204,500-503: a 200 fails the check, a 500 passes it.
{
    ok wait_until(sub { member_of('hx', 'e')->{state} eq 'down' }, 10),
        'hcexpect=204,500-503: a member answering 200 is taken out';
    is count('GET /health', 'e') > 0 ? 1 : 0, 1, '... checked with GET (the default)';
    $m{e}->sick(1);
    ok wait_until(sub { member_of('hx', 'e')->{state} eq 'up' }, 10),
        '... answering 500, it passes and is back';
}

$h->stop;
is $h->crash_report, '', 'no child crashed, no sanitizer report';

done_testing();
