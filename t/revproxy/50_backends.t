# t/revproxy/50_backends.t -- RevProxyBackend groups on the suite's server
# (t/conf/backends.conf.in): the config test accepts backend://NAME only for
# a group the server can see, requests alternate over the members, the base
# path and Host come from the member, a member that refuses connections is
# skipped and reported down, a group with every member down answers 503
# with Retry-After, and the status page (HTML, ?json, ?metrics, mod_status)
# shows it all.
use strict;
use warnings;

use File::Temp ();
use JSON::PP ();
use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use RevProxyTest qw(:all);

Apache::TestRequest::module('rp_groups');

my $vars = Apache::Test::vars();
my $top = $vars->{top_dir};
my $httpd = $vars->{httpd};
my $port_a = Apache::Test::vars('rp_member_a_port');
my $port_b = Apache::Test::vars('rp_member_b_port');

# ---- 1. httpd -t ---------------------------------------------------------


my $group = 'RevProxyBackend pool http://127.0.0.1:8081 https://[::1]:8443/app/ '
          . 'retry=10s max=4 connecttimeout=1 timeout=30 sendtimeout=5 '
          . 'tlsverify=off hcheck=5 hcheckuri=/health?deep=1';
my @good = (
    [ 'group and rule in the main server',
      $group, 'RevProxyPass "^/a/(.*)$" "backend://pool/$1"' ],
    [ 'a virtual host uses a main-server group',
      $group, '<VirtualHost 127.0.0.1:1>',
      'RevProxyPass "^/a/(.*)$" "backend://POOL/x/$1"', '</VirtualHost>' ],
    [ 'a virtual host uses its own group, shadowing the main one',
      $group, '<VirtualHost 127.0.0.1:1>',
      'RevProxyBackend pool http://10.0.0.1', 
      'RevProxyPass "^/a/(.*)$" "backend://pool/$1"', '</VirtualHost>' ],
);
my @bad = (   # [ what, [lines], qr/the message names/ ]
    [ 'backend:// of another virtual host\'s group',
      [ '<VirtualHost 127.0.0.1:1>', 'ServerName one',
        'RevProxyBackend mine http://127.0.0.1:8081', '</VirtualHost>',
        '<VirtualHost 127.0.0.1:1>', 'ServerName two',
        'RevProxyPass "^/a/(.*)$" "backend://mine/$1"', '</VirtualHost>' ],
      qr/RevProxyPass.*backend:\/\/mine.*RevProxyBackend mine/ ],
    [ 'a main-server rule cannot see a virtual host\'s group',
      [ 'RevProxyPass "^/a/(.*)$" "backend://vh/$1"',
        '<VirtualHost 127.0.0.1:1>', 'RevProxyBackend vh http://127.0.0.1:8081',
        '</VirtualHost>' ],
      qr/RevProxyPass.*backend:\/\/vh/ ],
    [ 'no member',         [ 'RevProxyBackend pool retry=5' ],
      qr/RevProxyBackend pool: no member URL/ ],
    [ 'unknown option',    [ 'RevProxyBackend pool http://h bogus=1' ],
      qr/RevProxyBackend pool: unknown option 'bogus=1'/ ],
    [ 'bad duration',      [ 'RevProxyBackend pool http://h retry=soon' ],
      qr/RevProxyBackend pool: invalid duration in 'retry=soon'/ ],
    [ 'bad max',           [ 'RevProxyBackend pool http://h max=-1' ],
      qr/RevProxyBackend pool: max=/ ],
    [ 'not http(s)',       [ 'RevProxyBackend pool ftp://h/' ],
      qr/RevProxyBackend pool: member 'ftp:\/\/h\/' must start with http/ ],
    [ 'bad port',          [ 'RevProxyBackend pool http://h:70000/' ],
      qr/RevProxyBackend pool: member .* invalid port/ ],
    [ 'query in a member', [ 'RevProxyBackend pool http://h/x?y=1' ],
      qr/RevProxyBackend pool: member .* query/ ],
    [ 'bad hcheckuri',     [ 'RevProxyBackend pool http://h hcheckuri=health' ],
      qr/RevProxyBackend pool: hcheckuri=/ ],
    [ 'bad name',          [ 'RevProxyBackend po_ol http://h' ],
      qr/RevProxyBackend: 'po_ol' cannot be a group name/ ],
    [ 'defined twice',     [ 'RevProxyBackend pool http://h', 'RevProxyBackend Pool http://i' ],
      qr/RevProxyBackend: group 'Pool' is already defined at .*httpd\.conf:\d+/ ],
);

# ---- 2. requests -----------------------------------------------------------

sub status_json {
    my $res = GET '/rp-status?json';
    return $res->code == 200 ? JSON::PP::decode_json($res->content) : undef;
}

sub find_group {
    my ($st, $name) = @_;
    my ($g) = grep { $_->{name} eq $name } @{ $st->{backends} };
    return $g;
}

sub find_member {
    my ($st, $name, $url) = @_;
    my $g = find_group($st, $name) or return undef;
    my ($m) = grep { $_->{url} eq $url } @{ $g->{members} };
    return $m;
}

sub find_rule {
    my ($st, $pattern) = @_;
    my ($r) = grep { $_->{pattern} eq $pattern } @{ $st->{rules} };
    return $r;
}

plan tests => @good + 2 * @bad + 47;

for my $case (@good) {
    my ($what, @lines) = @$case;
    my ($rc, $out) = config_test(\@lines);
    is $rc, 0, "httpd -t accepts: $what" or diag $out;
}
for my $case (@bad) {
    my ($what, $lines, $names) = @$case;
    my ($rc, $out) = config_test($lines);
    ok $rc != 0, "httpd -t rejects: $what";
    like $out, $names, '... naming the directive and the culprit';
}

my $st0 = status_json();
ok $st0, 'the status page answers JSON';

{
    my @res = map { GET "/ab/x$_?q=$_" } 1 .. 6;
    is_deeply [ map { $_->code } @res ], [ (404) x 6 ],
        'six requests to group ab (the members have no such file: 404)';
    my @who = map { $_->header('X-Member') // '?' } @res;
    my $alternating = !grep { $who[$_] eq $who[$_ - 1] } 1 .. $#who;
    ok $alternating && (grep { $_ eq 'a' } @who) == 3,
        "... alternating over the two members (@who)";
    my ($ra) = grep { $_->header('X-Member') eq 'a' } @res;
    my ($rb) = grep { $_->header('X-Member') eq 'b' } @res;
    like $ra->header('X-Uri'), qr{^/x\d$}, '... member a gets the path';
    like $rb->header('X-Uri'), qr{^/base/x\d$},
        '... member b gets it below its base path /base';
    like $rb->header('X-Query'), qr/^q=\d$/, '... with the query';
    is $rb->header('X-Host'), "127.0.0.1:$port_b", '... and its own Host';
}
{
    my $res = GET '/kh/y', Host => 'front.example';
    is $res->header('X-Host'), 'front.example', 'keephost: the client\'s Host';
}
{
    my $res = GET '/main/z';
    is $res->header('X-Uri'), '/m/z',
        'a main-server group, used from a virtual host (base path /m/)';
}

# A member that refuses connections: skipped, marked down once, reported.
{
    my $off = error_log_offset();
    my @res = map { GET "/half/h$_" } 1 .. 6;
    is_deeply [ map { $_->code } @res ], [ (404) x 6 ],
        'group with one member refusing: every request answered';
    is_deeply [ map { $_->header('X-Member') // '?' } @res ], [ ('a') x 6 ],
        '... by the member that is up';
    my $log = error_log_wait($off, qr/RVP0300/) // '';
    my @down = $log =~ /RVP0300: backend group halfdead .*member http:\/\/127\.0\.0\.1:1 marked down for retry=60s: connect to 127\.0\.0\.1:1 failed \(RevProxyPass "\^\/half\/\(\.\*\)\$" at .*backends\.conf:\d+\)/g;
    is scalar(@down), 1, '... marked down once, logged naming group, member, '
        . 'cause and rule' or diag $log;
    my $st = status_json();
    my $m = find_member($st, 'halfdead', 'http://127.0.0.1:1');
    is $m->{state}, 'down', '... the status page shows it down';
    is $m->{down_by}, 'request', '... because a request failed on it';
    ok $m->{retry_in} > 50 && $m->{retry_in} <= 60, "... for retry=1m ($m->{retry_in}s left)";
    is $m->{failures}{refused}, 1, '... one refused connection: '
        . 'the other requests did not try it';
    my $up = find_member($st, 'halfdead', "http://127.0.0.1:$port_a");
    is $up->{state}, 'up', '... the other member is up';
    is $up->{requests}, 6, '... and served the 6 requests';
    ok defined $up->{latency_ms}{p50} && $up->{latency_ms}{p50} > 0
       && $up->{latency_ms}{p99} >= $up->{latency_ms}{p50},
       "... with response-head latency p50 $up->{latency_ms}{p50} ms, "
       . "p99 $up->{latency_ms}{p99} ms";
    ok $up->{bytes_in} > 0 && $up->{bytes_out} > 0, '... and bytes both ways';
}

# Every member down: 503 with Retry-After, no backend contacted again.
{
    my $off = error_log_offset();
    my $res = GET '/dead/x';
    is $res->code, 503, 'every member down: 503';
    my $ra = $res->header('Retry-After') // '';
    ok $ra =~ /^\d+$/ && $ra >= 1 && $ra <= 45,
        "... Retry-After: $ra (seconds until the first retry, retry=45)";
    like error_log_wait($off, qr/RVP0302/) // '',
        qr/RVP0302: backend group alldead \(RevProxyPass "\^\/dead\/\(\.\*\)\$" at .*\): every member is down \(2 tried\); answered 503 with Retry-After: \d+/,
        '... logged naming the group, the rule and the cause';
    my $res2 = GET '/dead/y';
    is $res2->code, 503, '... again';
    my $g = find_group(status_json(), 'alldead');
    is_deeply [ map { $_->{failures}{refused} } @{ $g->{members} } ], [1, 1],
        '... without trying the members again before their retry';
    is $g->{unavailable}, 2, '... the group counts two 503s';
}

# Counters of plain rules, and moving with traffic.
{
    my $before = find_rule(status_json(), '^/plain/(.*)$');
    my @res = map { GET "/plain/p$_" } 1 .. 3;
    my $after = find_rule(status_json(), '^/plain/(.*)$');
    is $after->{hits} - $before->{hits}, 3,
        'a plain http:// rule counts its hits';
    ok $after->{bytes_in} > $before->{bytes_in}
       && $after->{bytes_out} > $before->{bytes_out}, '... and bytes';
    my $ab = find_rule(status_json(), '^/ab/(.*)$');
    is $ab->{hits}, 6, 'the group rule counted its 6 requests';
    is find_group(status_json(), 'ab')->{requests}, 7,
        '... as did its group (with the keephost request)';
}

# The three renderings.
{
    my $res = GET '/rp-status';
    is $res->code, 200, 'HTML status page';
    like $res->header('Content-Type'), qr{^text/html}, '... text/html';
    my $html = $res->content;
    like $html, qr{<table border="1">}, '... plain tables';
    like $html, qr{<h3>halfdead</h3>.*<td>http://127\.0\.0\.1:1</td><td>down \(by request; retry in \d+s\)</td>}s,
        '... the down member in its group\'s table';
    like $html, qr{<td>\^/plain/\(\.\*\)\$</td>|<td>RevProxyPass \^/plain/\(\.\*\)\$</td>},
        '... the rules';

    my $m = GET '/rp-status?metrics';
    is $m->code, 200, 'Prometheus metrics';
    like $m->header('Content-Type'), qr{^text/plain; version=0\.0\.4},
        '... text format 0.0.4';
    my $t = $m->content;
    like $t, qr/^revproxy_member_up\{server="[^"]+",group="halfdead",member="http:\/\/127\.0\.0\.1:1"\} 0$/m,
        '... member up/down';
    like $t, qr/^revproxy_member_failures_total\{[^}]*group="alldead",member="http:\/\/127\.0\.0\.1:3",kind="refused"\} 1$/m,
        '... failures by kind';
    like $t, qr/^revproxy_rule_requests_total\{server="[^"]+",rule="RevProxyPass \^\/ab\/\(\.\*\)\$",where="[^"]+"\} 6$/m,
        '... rule hits';
    like $t, qr/^revproxy_member_response_header_seconds_bucket\{[^}]*group="halfdead"[^}]*,le="\+Inf"\} \d+$/m,
        '... latency histograms';
    like $t, qr/^revproxy_member_connections\{[^}]*group="ab"[^}]*,state="idle"\} \d+$/m,
        '... connections';
    unlike $t, qr/^(?!#)\S+\{[^}]*\} (?!-?\d)/m, '... every sample a number';

    # Other areas' groups (every server's are counted) as the JSON says.
    my @all = map { @{ $_->{members} } } @{ status_json()->{backends} };
    my $up = grep { $_->{state} eq 'up' } @all;
    my $down = grep { $_->{state} eq 'down' } @all;
    my $s = GET '/server-status?auto';
    like $s->content, qr/^RevProxyMembersDown: $down$/m,
        'mod_status ?auto: a summary line of members down';
    ok $down >= 3, "... this file's three among them ($down)";
    like GET('/server-status')->content,
        qr{<h2>mod_revproxy</h2>.*$up of ${\ scalar @all} members up}s,
        'mod_status HTML: a summary paragraph';
}

my $st = status_json();
my @members = @{ find_group($st, 'ab')->{members} };
my @conns = map { $_->{connections} } @members;
my $text = join ', ', map {; "$_->{open} open/$_->{idle} idle" } @conns;
ok +(grep { $_->{open} >= 1 && $_->{idle} <= $_->{open} } @conns) == 2,
    "pooled connections are counted per member: $text";
