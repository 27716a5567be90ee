# t/revproxy/56_lb.t -- choosing a member: weight= (smooth weighted
# round-robin across two child processes), lbmethod=leastbusy, standby
# members, and status=drain|disabled from the configuration, on a
# separate httpd (t/lib/RevProxyInstance.pm) whose members count what
# they received.  Bad values of the new options fail the configuration
# test, naming the directive and the group.
use strict;
use warnings;

use File::Temp ();
use JSON::PP ();
use Apache::Test qw(-withtestmore);
use RevProxyTest qw(config_test);
use RevProxyInstance qw(member instance wait_until);

local $SIG{ALRM} = sub { die "56_lb.t: out of time\n" };
alarm 150;

my $dir = File::Temp::tempdir('rvp-56-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my %m;
sub members {
    return map { $m{$_} //= member(name => $_, dir => $dir, lifetime => 120) } @_;
}
sub url { return $m{$_[0]}->url }

# How many requests for a URI starting with $prefix each of @names got.
sub hits {
    my ($prefix, @names) = @_;
    return map { $m{$_}->hits($prefix) } @names;
}

members(qw(w1 w2 w3 l1 l2 l3 p1 s1 s2 d1 d2 d3 f1 f2 f3 t1 t2 t3));
$m{f3}->stop;
my $h = instance(mpm => 'prefork', servers => 2, conf => [
    'RevProxyBackend w',
    'RevProxyMember w ' . url('w1') . ' weight=3',
    'RevProxyMember w ' . url('w2') . ' weight=1',
    'RevProxyMember w ' . url('w3') . ' weight=1',
    'RevProxyBackend lb ' . join(' ', map { url($_) } qw(l1 l2 l3))
        . ' lbmethod=leastbusy',
    'RevProxyBackend sb ' . url('p1') . ' retry=60',
    'RevProxyMember sb ' . url('s1') . ' standby',
    'RevProxyMember sb ' . url('s2') . ' standby',
    'RevProxyBackend d',
    'RevProxyMember d ' . url('d1') . ' status=drain',
    'RevProxyMember d ' . url('d2'),
    'RevProxyMember d ' . url('d3') . ' status=disabled',
    'RevProxyBackend f ' . join(' ', map { url($_) } qw(f1 f2 f3)) . ' retry=60',
    'RevProxyBackend t ' . url('t1'),
    'RevProxyMember t ' . url('t2') . ' weight=2',
    'RevProxyMember t ' . url('t3') . ' weight=3 standby',
    (map { qq{RevProxyPass "^/$_/(.*)\$" "backend://$_/\$1"} } qw(w lb sb d f t)),
    '<Location /st>', 'SetHandler revproxy-status', '</Location>',
]);

# The status page's in_flight of each member of group lb.
sub in_flight {
    my $j = JSON::PP::decode_json($h->get('/st?json')->{body});
    my ($g) = grep { $_->{name} eq 'lb' } @{ $j->{backends} };
    my %by = map { $_->{url} => $_->{in_flight} } @{ $g->{members} };
    return map { $by{ url($_) } } @_;
}

# --- weights: 100 requests (20 x the sum of the weights), two children --------
{
    my @codes = map { $h->get("/w/r$_")->{status} } 1 .. 100;
    is scalar(grep { $_ == 200 } @codes), 100, 'weights 3:1:1, 100 GETs: all 200';
    my @got = hits('/r', qw(w1 w2 w3));
    ok abs($got[0] - 60) <= 1 && abs($got[1] - 20) <= 1 && abs($got[2] - 20) <= 1,
        "... shares 60/20/20 within one request (got @got)";
    # Any window of 10 x 5 consecutive requests holds the shares as well.
    @codes = map { $h->get("/w/s$_")->{status} } 1 .. 50;
    @got = hits('/s', qw(w1 w2 w3));
    ok abs($got[0] - 30) <= 1 && abs($got[1] - 10) <= 1 && abs($got[2] - 10) <= 1,
        "... the next 50: 30/10/10 within one (got @got)";
}

# --- a member down: the others share its part evenly ------------------------
{
    my @codes = map { $h->get("/f/r$_")->{status} } 1 .. 60;
    is scalar(grep { $_ == 200 } @codes), 60, 'one of three members stopped: 60 GETs, all 200';
    my @got = hits('/r', qw(f1 f2));
    ok abs($got[0] - 30) <= 1 && abs($got[1] - 30) <= 1,
        "... the other two take 30/30 within one (got @got)";
}

# --- a standby member does not bend the primaries' shares --------------------
{
    my @codes = map { $h->get("/t/r$_")->{status} } 1 .. 30;
    is_deeply [ hits('/r', qw(t1 t2 t3)) ], [ 10, 20, 0 ],
        'weights 1:2 and a standby member of weight 3: 10/20/0 of 30';
}

# --- leastbusy: two slow requests held, the rest go to the idle member ---------
{
    my @held;
    for my $i (1 .. 2) {
        my $c = $h->connection or die "connect: $!";
        $c->send('GET', "/lb/slow/3/h$i");
        push @held, $c;
        # Each is at its member before the next one is chosen.
        wait_until(sub { (grep { $_ } hits("/slow/3/h$i", qw(l1 l2 l3))) == 1 }, 10);
    }
    my @busy = map { [ hits('/slow/3/', $_) ]->[0] } qw(l1 l2 l3);
    is scalar(grep { $_ } @busy), 2, 'leastbusy: two slow requests went to two different members'
        or diag "@busy";
    my ($idle) = grep { !$busy[$_] } 0 .. 2;
    my $name = (qw(l1 l2 l3))[$idle // 0];
    is_deeply [ in_flight(qw(l1 l2 l3)) ], [ map { $_ ? 1 : 0 } @busy ],
        '... the status page shows them in flight (in_flight 1, 1, 0)';
    my @codes = map { $h->get("/lb/q$_")->{status} } 1 .. 6;
    is_deeply \@codes, [ (200) x 6 ], '... six quick GETs meanwhile: 200';
    my @q = hits('/q', qw(l1 l2 l3));
    is $q[$idle // 0], 6, "... all six went to the idle member $name (got @q)";
    for my $c (@held) {
        is $c->response('GET', timeout => 15)->{status}, 200, '... a slow one ends 200';
        $c->close;
    }
    is_deeply [ in_flight(qw(l1 l2 l3)) ], [ 0, 0, 0 ],
        '... and none in flight once they ended';
    @codes = map { $h->get("/lb/e$_")->{status} } 1 .. 6;
    @q = hits('/e', qw(l1 l2 l3));
    is_deeply \@q, [ 2, 2, 2 ], '... with nothing in flight, ties go round-robin (2/2/2)';
}

# --- standby: only while no other member is usable ----------------------------
{
    my @codes = map { $h->get("/sb/a$_")->{status} } 1 .. 5;
    is_deeply [ hits('/a', qw(p1 s1 s2)) ], [ 5, 0, 0 ],
        'standby: while the primary is up it takes every request';
    $m{p1}->stop;
    @codes = map { $h->get("/sb/b$_")->{status} } 1 .. 6;
    is_deeply \@codes, [ (200) x 6 ], '... the primary stopped: GETs still 200';
    my @sb = hits('/b', qw(s1 s2));
    is $sb[0] + $sb[1], 6, "... answered by the standby members (got @sb)";
}

# --- status=drain and status=disabled from the configuration ------------------
{
    my @codes = map { $h->get("/d/x$_")->{status} } 1 .. 6;
    is_deeply \@codes, [ (200) x 6 ], 'status=drain / disabled: GETs 200';
    is_deeply [ hits('/x', qw(d1 d2 d3)) ], [ 0, 6, 0 ],
        '... neither the drained nor the disabled member gets a new request';
}

$h->stop;
is $h->crash_report, '', 'no child crashed, no sanitizer report';

# --- configuration test ------------------------------------------------------------
my $u = 'http://127.0.0.1:1';
my @bad = (
    [ 'weight=0', ["RevProxyBackend g", "RevProxyMember g $u weight=0"], qr/RevProxyMember g: weight=/ ],
    [ 'weight=101', ["RevProxyBackend g", "RevProxyMember g $u weight=101"], qr/RevProxyMember g: weight=/ ],
    [ 'an unknown lbmethod', ["RevProxyBackend g $u lbmethod=random"], qr/RevProxyBackend g: lbmethod=/ ],
    [ 'RevProxyMember before its group', ["RevProxyMember g $u", "RevProxyBackend g $u"],
      qr/RevProxyMember g: no RevProxyBackend g/ ],
    [ 'a duplicate member', ["RevProxyBackend g $u", "RevProxyMember g $u/"],
      qr/RevProxyMember g: member .* already a member/ ],
    [ 'a duplicate URL in RevProxyBackend', ["RevProxyBackend g $u http://127.0.0.1:1"],
      qr/RevProxyBackend g: member .* already a member/ ],
    [ 'a malformed hcexpect', ["RevProxyBackend g $u hcexpect=200-"], qr/RevProxyBackend g: hcexpect=/ ],
    [ 'hcexpect out of range', ["RevProxyBackend g $u hcexpect=99,200"], qr/RevProxyBackend g: hcexpect=/ ],
    [ 'a bad hcmethod', ["RevProxyBackend g $u hcmethod=POST"], qr/RevProxyBackend g: hcmethod=/ ],
    [ 'hcfails=0', ["RevProxyBackend g $u hcfails=0"], qr/RevProxyBackend g: hcfails=/ ],
    [ 'a bad failonstatus', ["RevProxyBackend g $u failonstatus=5xx"], qr/RevProxyBackend g: failonstatus=/ ],
    [ 'a bad status=', ["RevProxyBackend g", "RevProxyMember g $u status=off"], qr/RevProxyMember g: status=/ ],
    [ 'weight= on RevProxyBackend', ["RevProxyBackend g $u weight=2"], qr/RevProxyBackend g: unknown option/ ],
    [ 'a group without members', ["RevProxyBackend g"], qr/RevProxyBackend g: no member URL/ ],
    [ 'maxconns=-1', ["RevProxyBackend g $u maxconns=-1"], qr/RevProxyBackend g: maxconns=/ ],
    [ "RevProxyMember in a virtual host for the main server's group",
      ["RevProxyBackend g $u", 'Listen 127.0.0.1:2', '<VirtualHost 127.0.0.1:2>',
       "RevProxyMember g http://127.0.0.1:3", '</VirtualHost>'],
      qr/RevProxyMember g: no RevProxyBackend g is defined before it in this server/ ],
);
for my $t (@bad) {
    my ($what, $lines, $re) = @$t;
    my ($rc, $out) = config_test($lines);
    ok $rc != 0, "httpd -t rejects $what";
    like $out, $re, '... naming the directive and the group' or diag $out;
}
my ($rc, $out) = config_test([
    "RevProxyBackend g lbmethod=leastbusy sticky=JSESSIONID stickyinsert maxconns=5 acquire=2s "
        . 'failonstatus=500,503 failontimeout=on hcmethod=HEAD hcexpect=200,204,300-302 hcfails=2 hcpasses=3',
    "RevProxyMember g $u weight=100 route=a maxconns=2",
    "RevProxyMember g http://127.0.0.1:2 standby status=drain",
    "RevProxyMember g http://127.0.0.1:3 weight=1 status=disabled",
]);
is $rc, 0, 'httpd -t accepts every new option' or diag $out;

done_testing();
