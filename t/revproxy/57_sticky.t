# t/revproxy/57_sticky.t -- sticky=COOKIE, route= and stickyinsert on a
# separate httpd (t/lib/RevProxyInstance.pm): a request whose cookie names
# a member's route (ROUTE or ....ROUTE) goes to that member while it is up,
# drained included; a disabled or down member, or an unknown route, is no
# valid route: the member is chosen as usual and, with stickyinsert, the
# answer sets the cookie to the route of the member that answered.
use strict;
use warnings;

use File::Temp ();
use Apache::Test qw(-withtestmore);
use RevProxyInstance qw(member instance);

local $SIG{ALRM} = sub { die "57_sticky.t: out of time\n" };
alarm 120;

my $dir = File::Temp::tempdir('rvp-57-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my %m;
sub members {
    return map { $m{$_} //= member(name => $_, dir => $dir, lifetime => 100) } @_;
}
sub url { return $m{$_[0]}->url }
sub hits {
    my ($prefix, @names) = @_;
    return map { $m{$_}->hits($prefix) } @names;
}

members(qw(a b c x y z));
my $h = instance(mpm => 'event', servers => 1, conf => [
    'RevProxyBackend s sticky=JSESSIONID stickyinsert retry=60',
    'RevProxyMember s ' . url('a') . ' route=alpha',
    'RevProxyMember s ' . url('b') . ' route=beta',
    'RevProxyMember s ' . url('c') . ' route=gamma',
    'RevProxyBackend d sticky=ROUTEID stickyinsert',
    'RevProxyMember d ' . url('x') . ' status=drain',
    'RevProxyMember d ' . url('y'),
    'RevProxyMember d ' . url('z') . ' status=disabled',
    (map { qq{RevProxyPass "^/$_/(.*)\$" "backend://$_/\$1"} } qw(s d)),
]);

sub get_with {
    my ($path, $cookie) = @_;
    return $h->get($path, $cookie ? (headers => [ Cookie => $cookie ]) : ());
}

# A valid route: the member, and no Set-Cookie.
{
    my @r = map { get_with("/s/t$_", "other=1; JSESSIONID=ABC123.beta") } 1 .. 5;
    is_deeply [ map { $_->{header}{'x-member'} } @r ], [ ('b') x 5 ],
        'JSESSIONID=ABC123.beta: every request goes to route beta';
    is scalar(grep { defined $_->{header}{'set-cookie'} } @r), 0, '... no Set-Cookie';
    my $r = get_with('/s/u', 'JSESSIONID=gamma');
    is $r->{header}{'x-member'}, 'c', 'JSESSIONID=gamma (the route alone): route gamma';
}

# No route, an unknown route: the usual choice, and the cookie set.
{
    my $r = get_with('/s/n1');
    my $who = $r->{header}{'x-member'} // '';
    my %route = (a => 'alpha', b => 'beta', c => 'gamma');
    is $r->{header}{'set-cookie'}, "JSESSIONID=$route{$who}; Path=/; HttpOnly",
        "no cookie: Set-Cookie names the route of the member that answered ($who)";
    $r = get_with('/s/n2', 'JSESSIONID=ABC.delta');
    $who = $r->{header}{'x-member'} // '';
    is $r->{header}{'set-cookie'}, "JSESSIONID=$route{$who}; Path=/; HttpOnly",
        'an unknown route: the cookie is set anew';
    my $back = ($r->{header}{'set-cookie'} // '') =~ s/;.*//r;
    my @r = map { get_with("/s/v$_", $back) } 1 .. 3;
    is_deeply [ map { $_->{header}{'x-member'} } @r ], [ ($who) x 3 ],
        '... sending it back sticks to that member';
}

# Drained: sticky requests still reach it, others do not; disabled: none.
{
    my @r = map { get_with("/d/k$_", 'ROUTEID=1') } 1 .. 4;
    is_deeply [ map { $_->{header}{'x-member'} } @r ], [ ('x') x 4 ],
        'a drained member still gets the sticky requests for its route';
    is scalar(grep { defined $_->{header}{'set-cookie'} } @r), 0, '... without Set-Cookie';
    @r = map { get_with("/d/f$_") } 1 .. 4;
    is_deeply [ map { $_->{header}{'x-member'} } @r ], [ ('y') x 4 ],
        '... requests without the cookie avoid it (and the disabled one)';
    is $r[0]{header}{'set-cookie'}, 'ROUTEID=2; Path=/; HttpOnly',
        '... and get the default route of the member that answered (its position)';
    @r = map { get_with("/d/z$_", 'ROUTEID=3') } 1 .. 3;
    is_deeply [ map { $_->{header}{'x-member'} } @r ], [ ('y') x 3 ],
        'a disabled member gets no request, sticky ones neither';
    is $r[0]{header}{'set-cookie'}, 'ROUTEID=2; Path=/; HttpOnly',
        '... a route naming it is no valid route: the cookie is set';
    is_deeply [ hits('/z', 'z') ], [ 0 ], '... it received nothing';
}

# A route naming a member that is down: no valid route.
{
    $m{b}->stop;
    my $r = get_with('/s/down1', 'JSESSIONID=XYZ.beta');
    is $r->{status}, 200, 'the member of the route is stopped: 200 from another';
    my $who = $r->{header}{'x-member'} // '';
    isnt $who, 'b', "... ($who)";
    my %route = (a => 'alpha', c => 'gamma');
    is $r->{header}{'set-cookie'}, "JSESSIONID=" . ($route{$who} // '?') . '; Path=/; HttpOnly',
        '... with the cookie for the member that answered';
    $r = get_with('/s/down2', 'JSESSIONID=XYZ.beta');
    is $r->{status}, 200, 'the next request with the stale route (member now down): 200';
    like $r->{header}{'set-cookie'} // '', qr/^JSESSIONID=(alpha|gamma); Path=\/; HttpOnly$/,
        '... and a new cookie';
}

$h->stop;
is $h->crash_report, '', 'no child crashed, no sanitizer report';

# A client on https (as httpd sees it: here a ServerName with the https
# scheme, as behind a TLS-terminating balancer; mod_ssl sets the same):
# the inserted cookie is Secure.
{
    my $hs = instance(mpm => 'event', servers => 1, conf => [
        'ServerName https://sticky.test',
        'RevProxyBackend s sticky=JSESSIONID stickyinsert',
        'RevProxyMember s ' . url('a') . ' route=alpha',
        qq{RevProxyPass "^/s/(.*)\$" "backend://s/\$1"},
    ]);
    my $r = $hs->get('/s/secure');
    is $r->{status}, 200, 'https: 200';
    is $r->{header}{'set-cookie'}, 'JSESSIONID=alpha; Path=/; HttpOnly; Secure',
        '... and the inserted cookie is Secure';
    $hs->stop;
    is $hs->crash_report, '', 'no child crashed, no sanitizer report';
}

done_testing();
