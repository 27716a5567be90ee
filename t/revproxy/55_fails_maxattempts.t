# t/revproxy/55_fails_maxattempts.t -- RevProxyBackend fails=N and
# maxattempts=N, on separate httpds (t/lib/RevProxyInstance.pm).  A
# "poison" GET makes every member it reaches read it and hang up (the
# members' /drop/ paths).
#
# Defaults (fails=3, maxattempts=3): the poison GET reaches exactly 3 of 4
# members, the client gets 502, and no member is marked down by it (the
# next GET is 200), also when the members have pooled connections.  Three
# poison GETs in a row on a member mark it down; a good answer in between
# resets the count.  fails=1 marks down at once; maxattempts=2 tries 2
# members; a member that cannot be connected to does not count toward
# maxattempts and is marked down at once.  Bad values fail the
# configuration test, naming RevProxyBackend.
use strict;
use warnings;

use File::Temp ();
use Apache::Test qw(-withtestmore);
use RevProxyTest qw(config_test);
use RevProxyInstance qw(member instance free_port);

local $SIG{ALRM} = sub { die "55_fails_maxattempts.t: out of time\n" };
alarm 150;

my $dir = File::Temp::tempdir('rvp-55-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# Members by name; each scenario has its own, so that what one logged
# belongs to that scenario alone.
my %m;
sub members {
    return map {
        $m{$_} //= member(name => $_, dir => $dir, lifetime => 120);
    } @_;
}
sub url { return $m{$_[0]}->url }

# How many times each of @names logged "GET $uri".
sub hits {
    my ($uri, @names) = @_;
    return map { my $n = $_; scalar grep { $_ eq "GET $uri" } $m{$n}->requests } @names;
}

sub member_of {
    my ($h, $group, $url) = @_;
    my ($g) = grep { $_->{name} eq $group } @{ $h->status->{backends} };
    my ($mm) = grep { $_->{url} eq $url } @{ $g ? $g->{members} : [] };
    return $mm // {};
}

sub states {
    my ($h, $group, @names) = @_;
    return join ' ', map { member_of($h, $group, url($_))->{state} // '?' } @names;
}

# --- the defaults --------------------------------------------------------------
{
    my @four = qw(a1 a2 a3 a4);
    my @warm = qw(w1 w2 w3 w4);
    members(@four, @warm, 's1', 'r1');
    my $h = instance(mpm => 'event', servers => 1, conf => [
        'RevProxyBackend four ' . join(' ', map { url($_) } @four),
        'RevProxyBackend warm ' . join(' ', map { url($_) } @warm),
        'RevProxyBackend one ' . url('s1'),
        'RevProxyBackend reset ' . url('r1'),
        (map { qq{RevProxyPass "^/$_/(.*)\$" "backend://$_/\$1"} }
         qw(four warm one reset)),
    ]);

    # 1. One poison GET, four members.
    my $r = $h->get('/four/drop/p1');
    is $r->{status}, 502, 'defaults: a GET on which every member hangs up: 502';
    my @hits = hits('/drop/p1', @four);
    is scalar(grep { $_ } @hits), 3, '... it reached exactly 3 of the 4 members (maxattempts=3)'
        or diag "hits: @hits";
    is_deeply [ sort { $a <=> $b } @hits ], [ 0, 1, 1, 1 ], '... each of them once';
    is states($h, 'four', @four), 'up up up up', '... no member is marked down by one such request';
    $r = $h->get('/four/ok1');
    is $r->{status}, 200, '... a normal GET right after: 200';

    # 2. The same with a pooled connection to every member: a pooled try
    #    and its retry on a fresh connection count once.
    my @codes = map { $h->get("/warm/w$_")->{status} } 1 .. 8;
    is_deeply \@codes, [ (200) x 8 ], 'members with pooled connections';
    $r = $h->get('/warm/drop/p2');
    is $r->{status}, 502, '... a poison GET: 502';
    @hits = hits('/drop/p2', @warm);
    is scalar(grep { $_ } @hits), 3, '... reaching exactly 3 members' or diag "hits: @hits";
    is states($h, 'warm', @warm), 'up up up up', '... none marked down';
    is $h->get('/warm/ok2')->{status}, 200, '... a normal GET right after: 200';

    # 3. fails=3: three in a row on one member mark it down.
    my @seen;
    for my $i (1 .. 3) {
        push @seen, $h->get("/one/drop/s$i")->{status} . ' '
                    . states($h, 'one', 's1');
    }
    is_deeply \@seen, [ '502 up', '502 up', '502 down' ],
        'a one-member group: three poison GETs in a row, each 502; the third marks it down';
    is_deeply [ hits('/drop/s3', 's1') ], [ 1 ], '... the third did reach it';
    $r = $h->get('/one/ok');
    is $r->{status}, 503, '... then 503';
    like $r->{header}{'retry-after'} // '', qr/^\d+$/, '... with Retry-After';

    # 4. A good answer resets the count.
    @seen = ();
    for my $path (qw(drop/r1 drop/r2 ok drop/r3 drop/r4 ok2)) {
        push @seen, $h->get("/reset/$path")->{status} . ' '
                    . states($h, 'reset', 'r1');
    }
    is_deeply \@seen, [ '502 up', '502 up', '200 up', '502 up', '502 up', '200 up' ],
        'two poison GETs, a good answer, two more: the member stays up';

    $h->stop;
    is $h->crash_report, '', 'no child crashed, no sanitizer report';
}

# --- fails=1, maxattempts=2, members that cannot be connected to ----------------
{
    my @ma = qw(b1 b2 b3 b4);
    my @live = qw(k1 k2 k3);
    members(@ma, @live, 't1');
    my $dead = 'http://127.0.0.1:' . free_port();
    my $h = eval { instance(mpm => 'event', servers => 1, conf => [
        'RevProxyBackend f1 ' . url('t1') . ' fails=1',
        'RevProxyBackend ma2 ' . join(' ', map { url($_) } @ma) . ' maxattempts=2',
        "RevProxyBackend dead $dead " . join(' ', map { url($_) } @live)
            . ' maxattempts=2 fails=10',
        (map { qq{RevProxyPass "^/$_/(.*)\$" "backend://$_/\$1"} }
         qw(f1 ma2 dead)),
    ]) };
    ok $h, 'an httpd with fails=1 and maxattempts=2 starts' or diag $@;
  SKIP: {
        skip 'no httpd', 10 unless $h;

        my $r = $h->get('/f1/drop/t1');
        is $r->{status} . ' ' . states($h, 'f1', 't1'), '502 down',
            'fails=1: one poison GET marks the member down';
        is $h->get('/f1/ok')->{status}, 503, '... the next GET: 503';

        $r = $h->get('/ma2/drop/p1');
        is $r->{status}, 502, 'maxattempts=2: a poison GET, 502';
        my @hits = hits('/drop/p1', @ma);
        is_deeply [ sort { $a <=> $b } @hits ], [ 0, 0, 1, 1 ],
            '... it reached exactly 2 of the 4 members, once each';
        is states($h, 'ma2', @ma), 'up up up up', '... none marked down';

        # The turn decides whether the dead member comes up in a request;
        # within four requests it does.
        my ($codes, $reached, $tried) = ('', '', 0);
        for my $i (1 .. 4) {
            my $code = $h->get("/dead/drop/d$i")->{status};
            $codes .= " $code";
            $reached .= ' ' . scalar(grep { $_ } hits("/drop/d$i", @live));
            last if $tried = member_of($h, 'dead', $dead)->{failures}{refused};
        }
        ok $tried, 'a member that refuses connections is tried';
        like $codes, qr/^( 502)+$/, "... every poison GET 502 ($codes)";
        like $reached, qr/^( 2)+$/,
            "... each reached 2 live members: the refused one does not count ($reached)";
        is member_of($h, 'dead', $dead)->{state}, 'down',
            '... it is marked down at once (fails=10 notwithstanding)';

        $h->stop;
        is $h->crash_report, '', 'no child crashed, no sanitizer report';
    }
}

# --- configuration test ------------------------------------------------------------
for my $opt ('fails=0', 'maxattempts=0', 'fails=abc', 'maxattempts=abc', 'fails=-1') {
    my ($rc, $out) = config_test(["RevProxyBackend g http://127.0.0.1:1 $opt"]);
    ok $rc != 0, "httpd -t rejects $opt";
    like $out, qr/RevProxyBackend/, '... naming RevProxyBackend' or diag $out;
}
for my $opt ('fails=1 maxattempts=1', 'fails=5 maxattempts=10') {
    my ($rc, $out) = config_test(["RevProxyBackend g http://127.0.0.1:1 $opt"]);
    is $rc, 0, "httpd -t accepts $opt" or diag $out;
}

done_testing();
