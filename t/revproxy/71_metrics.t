# t/revproxy/71_metrics.t -- the Prometheus text of the status page
# (?metrics), on a separate httpd with one child process (one connection
# pool): the response-head latency is a histogram per rule and per member
# (cumulative `_bucket{le=...}` series in increasing order of le, `+Inf`
# equal to `_count`, `_sum`), for a plain-URL rule as for a group rule;
# each proxied request adds one to its rule's and its member's `_count` and
# `+Inf`, and one to the counter of new or reused backend connections: new
# for the first request, reused for the next.  A member nothing listens on
# counts no latency.  When promtool is installed (Debian's prometheus
# package; build/deps.sh test), `promtool check metrics` finds nothing
# wrong with the page.
use strict;
use warnings;

use File::Temp ();
use Apache::Test qw(-withtestmore);
use RevProxyInstance qw(member instance);

plan tests => 35;

local $SIG{ALRM} = sub { die "71_metrics.t: out of time\n" };
alarm 120;

my $dir = File::Temp::tempdir('rvp-71-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $ma = member(name => 'a', dir => $dir);
my $url_a = 'http://127.0.0.1:' . $ma->port;
my $h = instance(dir => $dir, mpm => 'prefork', servers => 1, conf => [
    "RevProxyBackend grp $url_a http://127.0.0.1:1 retry=5m",
    'RevProxyPass "^/g/(.*)$" "backend://grp/$1"',
    qq{RevProxyPass "^/u/(.*)\$" "$url_a/\$1"},
]);

# The page, as { name => { labels-without-le => { le => value } or value } }
# and the raw text.
sub scrape {
    my $r = $h->get('/rp-status?metrics');
    die "metrics: $r->{status}\n" unless $r->{status} == 200;
    my %m;
    for (split /\n/, $r->{body}) {
        next if /^#/ || !/\S/;
        my ($name, $labels, $value) = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/
            or die "metrics: bad line '$_'\n";
        $labels //= '';
        if ($name =~ /_bucket$/ && $labels =~ s/,le="([^"]*)"$//) {
            $m{$name}{$labels}{$1} = $value;
        }
        else {
            $m{$name}{$labels} = $value;
        }
    }
    return (\%m, $r->{body});
}

# The labels of the series whose labels match $re.
sub series_of {
    my ($m, $name, $re) = @_;
    my @k = grep { /$re/ } keys %{ $m->{$name} || {} };
    return @k == 1 ? $k[0] : undef;
}

# Whether every histogram of $base on the page has the right shape; '' or
# what is wrong.
sub shape_problems {
    my ($m, $base) = @_;
    my @wrong;
    my $buckets = $m->{"${base}_bucket"} || {};
    push @wrong, 'no series' unless %$buckets;
    for my $labels (sort keys %$buckets) {
        my $bk = $buckets->{$labels};
        my @le = sort { $a <=> $b } grep { $_ ne '+Inf' } keys %$bk;
        push @wrong, "$labels: " . scalar(@le) . ' bounds' unless @le >= 5;
        my $prev = 0;
        for my $le (@le) {
            push @wrong, "$labels: le=$le $bk->{$le} < $prev" if $bk->{$le} < $prev;
            $prev = $bk->{$le};
        }
        my $count = $m->{"${base}_count"}{$labels};
        push @wrong, "$labels: no +Inf" unless defined $bk->{'+Inf'};
        push @wrong, "$labels: no _count" unless defined $count;
        push @wrong, "$labels: no _sum" unless defined $m->{"${base}_sum"}{$labels};
        next unless defined $bk->{'+Inf'} && defined $count;
        push @wrong, "$labels: +Inf $bk->{'+Inf'} < last bound $prev" if $bk->{'+Inf'} < $prev;
        push @wrong, "$labels: +Inf $bk->{'+Inf'} != _count $count" if $bk->{'+Inf'} != $count;
    }
    return join '; ', @wrong;
}

# The numbers of one rule or member: count, +Inf, new, reused, sum.
sub numbers {
    my ($m, $kind, $re) = @_;
    my $base = "revproxy_${kind}_response_header_seconds";
    my $l = series_of($m, "${base}_count", $re);
    return 'none' unless defined $l;
    my $c = $m->{"revproxy_${kind}_backend_connections_total"};
    return join ' ', $m->{"${base}_count"}{$l}, $m->{"${base}_bucket"}{$l}{'+Inf'},
        $c->{"$l,connection=\"new\""} // '-', $c->{"$l,connection=\"reused\""} // '-';
}

my $plain = qr/rule="RevProxyPass \^\/u\//;
my $grule = qr/rule="RevProxyPass \^\/g\//;
my $live = qr/group="grp",member="\Q$url_a\E"/;
my $dead = qr/group="grp",member="http:\/\/127\.0\.0\.1:1"/;

# 1. Before any request: every series there, at zero.
my ($m0, $text0) = scrape();
is numbers($m0, 'rule', $plain), '0 0 0 0', 'a plain-URL rule: histogram and connection counters at 0';
is numbers($m0, 'rule', $grule), '0 0 0 0', 'a group rule: the same series';
is numbers($m0, 'member', $live), '0 0 0 0', 'a member: the same series';
is shape_problems($m0, 'revproxy_rule_response_header_seconds'), '', '... rule histograms well formed';
is shape_problems($m0, 'revproxy_member_response_header_seconds'), '', '... member histograms well formed';
like $text0, qr/^# TYPE revproxy_rule_response_header_seconds histogram$/m, 'TYPE histogram for rules';
like $text0, qr/^# TYPE revproxy_member_response_header_seconds histogram$/m, '... and for members';
like $text0, qr/^# TYPE revproxy_rule_backend_connections_total counter$/m, 'TYPE counter for connections';
my @le = sort { $a <=> $b } grep { $_ ne '+Inf' }
    keys %{ $m0->{revproxy_rule_response_header_seconds_bucket}{series_of($m0, 'revproxy_rule_response_header_seconds_count', $plain)} };
is "@le[0, -1]", '0.001 60', 'bounds from 1 ms to 60 s';
ok @le <= 20, 'a small set of bounds (' . scalar(@le) . ')';

# 2. The plain-URL rule: the first request on a new connection, the next
#    one on the pooled one.
is $h->get('/u/one')->{status}, 200, 'a request over the plain-URL rule';
my ($m1) = scrape();
is numbers($m1, 'rule', $plain), '1 1 1 0', '... counted once, on a new connection';
is $h->get('/u/two')->{status}, 200, 'a second one';
my ($m2) = scrape();
is numbers($m2, 'rule', $plain), '2 2 1 1', '... counted on the reused connection';
ok $m2->{revproxy_rule_response_header_seconds_sum}{series_of($m2, 'revproxy_rule_response_header_seconds_sum', $plain)} > 0,
    '... a sum above 0 seconds';
is numbers($m2, 'member', $live), '0 0 0 0', 'the member did not count the plain rule\'s requests';

# 3. The group: the live member's first head over a new connection (a
#    member's connections are pooled apart from a plain URL's), the next
#    ones over the pooled one; the dead member never answers.
my @codes = map { $h->get("/g/x$_")->{status} } 1 .. 3;
is "@codes", '200 200 200', 'three requests over the group (one member dead)';
my ($m3, $text3) = scrape();
is numbers($m3, 'rule', $grule), '3 3 1 2', 'the group rule: 3 heads, 1 over a new connection, 2 reused';
is numbers($m3, 'member', $live), '3 3 1 2', 'the live member: the same';
is numbers($m3, 'member', $dead), '0 0 0 0', 'the dead member: nothing';
is numbers($m3, 'rule', $plain), '2 2 1 1', 'the plain rule unchanged';
is shape_problems($m3, 'revproxy_rule_response_header_seconds'), '', 'rule histograms well formed after requests';
is shape_problems($m3, 'revproxy_member_response_header_seconds'), '', 'member histograms well formed after requests';

# 4. A new connection again: the member stops (its pooled connection
#    closes) and comes back on the same port.
my $port = $ma->port;
$ma->stop;
$ma = member(name => 'a', dir => $dir, port => $port);
is $h->get('/u/three')->{status}, 200, 'after the backend restarted';
my ($m4) = scrape();
like numbers($m4, 'rule', $plain), qr/^3 3 2 1$/, '... a new connection was counted';

# 5. Every bucket moved by the requests (sums of the differences).
my $b2 = $m2->{revproxy_rule_response_header_seconds_bucket}{series_of($m2, 'revproxy_rule_response_header_seconds_count', $plain)};
my $b4 = $m4->{revproxy_rule_response_header_seconds_bucket}{series_of($m4, 'revproxy_rule_response_header_seconds_count', $plain)};
my @moved = grep { $b4->{$_} - $b2->{$_} != 0 && $b4->{$_} - $b2->{$_} != 1 } keys %$b4;
is "@moved", '', 'one request moves each bucket by 0 or 1';
is $b4->{'+Inf'} - $b2->{'+Inf'}, 1, '... and +Inf by 1';
ok $b4->{60} >= 3, '... 3 requests within 60 s';

# 6. The page stays small, and the labels of a bucket are the series' own.
my @bucket_lines = $text3 =~ /^revproxy_\w+_bucket\{/mg;
is scalar(@bucket_lines), 4 * (scalar(@le) + 1),
    'bucket lines: bounds + 1 for each of 2 rules and 2 members';
like $text3, qr/^revproxy_member_response_header_seconds_bucket\{server="[^"]+",group="grp",member="\Q$url_a\E",le="\+Inf"\} 3$/m,
    'a member\'s +Inf line';
like $text3, qr/^revproxy_member_backend_connections_total\{server="[^"]+",group="grp",member="\Q$url_a\E",connection="reused"\} 2$/m,
    'a member\'s reused connections line';

# 7. promtool.
SKIP: {
    skip 'promtool is not installed (Debian package prometheus)', 3
        unless system('command -v promtool >/dev/null 2>&1') == 0;
    my $file = "$dir/metrics.txt";
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text3;
    close $fh;
    my $out = `promtool check metrics < $file 2>&1`;
    is $?, 0, 'promtool check metrics: exit 0';
    is $out, '', '... and nothing to say' or diag $out;
    ok length($text3) < 64 * 1024, '... on a page of ' . length($text3) . ' bytes';
}

$h->stop;
is $h->crash_report, '', 'no crash or sanitizer report';
