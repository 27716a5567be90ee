# t/revproxy/52_children_restart.t -- the counters and the state are shared
# by every child process and survive graceful restarts, on a separate httpd
# with three prefork children: three keep-alive connections held at once
# are served by three different children, which proxy and then render the
# status page (HTML, JSON, metrics) with the same numbers; the connections
# pooled in each child are summed per member; `apache2 -k graceful` keeps
# counters and a member's down state (same configuration, or another rule
# added, or the group's options changed: its members are kept by URL).
use strict;
use warnings;

use File::Temp ();
use JSON::PP ();
use Apache::Test qw(-withtestmore);
use RevProxyInstance qw(member instance wait_until);

plan tests => 27;

local $SIG{ALRM} = sub { die "52_children_restart.t: out of time\n" };
alarm 180;

my $dir = File::Temp::tempdir('rvp-52-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $a = member(name => 'a', dir => $dir);
my $b = member(name => 'b', dir => $dir);
my $url_a = 'http://127.0.0.1:' . $a->port;
my $url_b = 'http://127.0.0.1:' . $b->port;
my @conf = (
    "RevProxyBackend ab $url_a $url_b retry=5m",
    'RevProxyPass "^/ab/(.*)$" "backend://ab/$1"',
);
my $h = instance(mpm => 'prefork', servers => 3, conf => \@conf);

sub group_of { my ($st) = @_; my ($g) = grep { $_->{name} eq 'ab' } @{ $st->{backends} }; $g }
sub rule_of { my ($st, $p) = @_; my ($r) = grep { $_->{pattern} eq $p } @{ $st->{rules} }; $r }
sub numbers {
    my ($st) = @_;
    my $g = group_of($st);
    return join ' ', rule_of($st, '^/ab/(.*)$')->{hits}, $g->{requests},
        map { "$_->{url}:$_->{state}:$_->{requests}:$_->{bytes_in}:$_->{bytes_out}" } @{ $g->{members} };
}

# 1. Three connections at once: three children (prefork: a child serves one
#    connection at a time, and keeps it while it is kept alive).
my @c = map { $h->connection } 1 .. 3;
my @codes;
for my $i (1 .. 4) {
    push @codes, map { $_->request('GET', "/ab/c$i")->{status} } @c;
}
is_deeply \@codes, [ (200) x 12 ], '12 requests over three kept-alive connections';
my @st = map { JSON::PP::decode_json($_->request('GET', '/rp-status?json')->{body}) } @c;
my %pids = map { $_->{pid} => 1 } @st;
is scalar(keys %pids), 3, 'the status page rendered by three different children ('
    . join(', ', sort keys %pids) . ')';
ok +(grep { scalar(@{ $_->{children} }) >= 3 } @st) == 3,
    '... each counting at least three children';
is rule_of($st[0], '^/ab/(.*)$')->{hits}, 12, '... the rule\'s 12 hits';
is numbers($st[1]), numbers($st[0]), '... the same numbers in the second child';
is numbers($st[2]), numbers($st[0]), '... and in the third';
my @m = @{ group_of($st[0])->{members} };
is_deeply [ map { $_->{requests} } @m ], [6, 6], '... 6 requests each for a and b';
is_deeply [ map { "$_->{connections}{open}/$_->{connections}{idle}" } @m ], [ '3/3', '3/3' ],
    '... and per member 3 connections open (one pooled in each child), 3 idle';
my @metrics = map { $_->request('GET', '/rp-status?metrics')->{body} } @c;
my ($hits0) = $metrics[0] =~ /^revproxy_rule_requests_total\{[^}]*\^\/ab\/[^}]*\} (\d+)$/m;
my ($hits2) = $metrics[2] =~ /^revproxy_rule_requests_total\{[^}]*\^\/ab\/[^}]*\} (\d+)$/m;
is "$hits0/$hits2", '12/12', '... the metrics of two children agree';
my $html = $c[1]->request('GET', '/rp-status')->{body};
like $html, qr/Child processes counted: [3-9] /, '... and the HTML page too';
$_->close for @c;

# 2. More traffic moves the counters; b stops and is marked down.
$b->stop;
my @who = map { $h->get("/ab/d$_")->{header}{'x-member'} // '?' } 1 .. 4;
is_deeply \@who, [ ('a') x 4 ], 'b stopped: a serves';
my $before = $h->status;
my $gb = group_of($before);
my ($mb) = grep { $_->{url} eq $url_b } @{ $gb->{members} };
is $mb->{state}, 'down', '... b down';
is rule_of($before, '^/ab/(.*)$')->{hits}, 16, '... 16 hits';

# 3. apache2 -k graceful, same configuration: the same counters and state.
ok $h->graceful, 'graceful restart, same configuration';
my $after = $h->status;
is $after->{configurations}, $before->{configurations} + 1,
    '... a new configuration is counted';
is numbers($after), numbers($before), '... the counters are kept';
my ($mb2) = grep { $_->{url} eq $url_b } @{ group_of($after)->{members} };
is "$mb2->{state} $mb2->{since}", "$mb->{state} $mb->{since}",
    '... b is still down, since the same time';
is $h->get('/ab/after')->{header}{'x-member'}, 'a', '... and still skipped';
ok wait_until(sub { @{ $h->status->{children} } == 3 }, 15),
    '... the rows of the old children are freed when they exit';

# 4. Another rule added: the group keeps its state, the new rule starts at 0.
ok $h->graceful([ @conf, 'RevProxyPass "^/other/(.*)$" "' . $url_a . '/$1"' ]),
    'graceful restart with one more rule';
$after = $h->status;
is rule_of($after, '^/ab/(.*)$')->{hits}, 17, '... the old rule\'s hits are kept';
is rule_of($after, '^/other/(.*)$')->{hits}, 0, '... the new rule starts at 0';
($mb2) = grep { $_->{url} eq $url_b } @{ group_of($after)->{members} };
is "$mb2->{state} $mb2->{since}", "$mb->{state} $mb->{since}",
    '... b is still down, since the same time';

# 5. The group's options change: a member is known by its group's name and
# its URL, so each keeps its state and counters.
my $kept = join ', ', map { "$_->{state} $_->{requests}" } @{ group_of($after)->{members} };
$conf[0] =~ s/retry=5m/retry=4m/;
ok $h->graceful([ @conf ]), 'graceful restart with the group changed (retry=4m)';
$after = $h->status;
my $g = group_of($after);
is join(', ', map { "$_->{state} $_->{requests}" } @{ $g->{members} }), $kept,
    "... its members keep their states and requests ($kept)";
is rule_of($after, '^/ab/(.*)$')->{hits}, 17, '... the rule\'s counters are kept';

$h->stop;
is $h->crash_report, '', 'no child crashed, no sanitizer report';
