# t/revproxy/63_manager.t -- the status page as a manager
# (RevProxyStatusManage, t/conf/manager.conf.in): a POST is 405 where
# management is off, 403 without this generation's nonce, 400 for an
# unknown group, member or state, else the member's state changes (one
# notice line in the error log), 303 back to the page or 200 with the new
# JSON; the nonce shows only where management is on; a drained member gets
# no new requests and a disabled one none, `up` brings them back but not a
# member that is down for failures; members' states show in the HTML, the
# JSON, the metrics and mod_status.  Then, on a separate httpd: drain and
# disabled survive graceful restarts that keep the member (even when the
# group's line changes), the nonce is new in each generation, and a change
# of the configuration's status= wins over the manager's state.
use strict;
use warnings;

use File::Temp ();
use JSON::PP ();
use Apache::Test qw(-withtestmore);
use RevProxyTest qw(:all);
use RevProxyInstance qw(member instance http_request wait_until);

local $SIG{ALRM} = sub { die "63_manager.t: out of time\n" };
alarm 240;

my $port = Apache::Test::vars('rp_manager_port');
my %mport = map { $_ => Apache::Test::vars("rp_mgr_${_}_port") } qw(a b c);
my %url = (a => "http://127.0.0.1:$mport{a}", b => "http://127.0.0.1:$mport{b}",
           c => "http://127.0.0.1:$mport{c}/");
my $logs = Apache::Test::vars('t_logs');

sub req { http_request($port, @_) }

sub uenc {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

sub form { join '&', map { uenc($_) . '=' . uenc($_[0]{$_}) } sort keys %{ $_[0] } }

sub post {
    my ($path, $fields, %o) = @_;
    return req('POST', $path, body => ref $fields ? form($fields) : $fields,
               headers => [ 'Content-Type' => $o{type}
                            // 'application/x-www-form-urlencoded' ]);
}

sub json_of {
    my ($path) = @_;
    my $r = req('GET', $path);
    return $r->{status} == 200 ? JSON::PP::decode_json($r->{body}) : undef;
}

sub member_of {
    my ($st, $group, $url) = @_;
    my ($g) = grep { $_->{name} eq $group } @{ $st->{backends} };
    my ($m) = grep { $_->{url} eq $url } @{ $g->{members} };
    return $m // {};
}

sub state_of { member_of(json_of('/status?json'), @_)->{state} // '?' }

# What each member received so far (its access log).
sub received_by {
    my ($who) = @_;
    open my $fh, '<', "$logs/rp_mgr_${who}_log" or return 0;
    my @l = grep { m{^GET /mgr/} } <$fh>;
    return scalar @l;
}

# n requests to the group; what each member received meanwhile.
sub spread {
    my ($n) = @_;
    my %before = map { $_ => received_by($_) } qw(a b c);
    my $ok = 0;
    for (1 .. $n) {
        $ok++ if req('GET', "/g/mgr/hello.txt?$_")->{status} == 200;
    }
    # The members log after they answered.
    my %after;
    wait_until(sub {
        %after = map { $_ => received_by($_) - $before{$_} } qw(a b c);
        $after{a} + $after{b} + $after{c} >= $n;
    }, 5);
    return join ' ', "ok=$ok", map { "$_=$after{$_}" } qw(a b c);
}

# ---- 1. the nonce shows only where management is on ---------------------

my $st = json_of('/manage?json');
my $nonce = $st->{nonce} // '';
like $nonce, qr/^[0-9a-f]{32}$/, 'the manager\'s JSON carries a nonce';
ok !exists json_of('/status?json')->{nonce}, '... the page without management has none';
ok !exists json_of('/manage/off?json')->{nonce}, '... nor where RevProxyStatusManage Off is nested';
my $html = req('GET', '/manage')->{body};
like $html, qr{<form method="post" action="/manage"><input type="hidden" name="server" value="[^"]+"><input type="hidden" name="group" value="mgr"><input type="hidden" name="member" value="\Q$url{b}\E"><input type="hidden" name="nonce" value="$nonce"><button type="submit" name="state" value="up">up</button><button type="submit" name="state" value="drain">drain</button><button type="submit" name="state" value="disabled">disabled</button></form>},
    '... its HTML has a form per member with the nonce';
my $plain = req('GET', '/status')->{body};
unlike $plain, qr{<form|\Q$nonce\E}, '... the plain page has no form and no nonce';
unlike req('GET', '/status?metrics')->{body}, qr/\Q$nonce\E/, '... nor do the metrics';
is_deeply [ map { state_of('mgr', $url{$_}) } qw(a b c) ], [ qw(up up up) ],
    'every member starts up';
is spread(6), 'ok=6 a=2 b=2 c=2', '... and gets its share';

# ---- 2. refusals ----------------------------------------------------------

my %drain_b = (group => 'mgr', member => $url{b}, state => 'drain', nonce => $nonce);
my $off = post('/status', \%drain_b);
is $off->{status}, 405, 'POST without RevProxyStatusManage: 405';
like $off->{header}{allow} // '', qr/\bGET\b/, '... Allow: GET';
unlike $off->{header}{allow} // '', qr/\bPOST\b/, '... not POST';
is post('/manage/off', \%drain_b)->{status}, 405, '... also where it is nested Off';
is req('PUT', '/manage', body => 'x')->{status}, 405, 'PUT to the manager: 405';
like req('PUT', '/manage', body => 'x')->{header}{allow} // '', qr/\bPOST\b/,
    '... Allow names POST there';

my $off0 = error_log_offset();
is post('/manage', { %drain_b, nonce => 'f' x 32 })->{status}, 403, 'a wrong nonce: 403';
my %no_nonce = %drain_b;
delete $no_nonce{nonce};
is post('/manage', \%no_nonce)->{status}, 403, 'no nonce: 403';
is post('/manage', { %drain_b, nonce => substr($nonce, 1) })->{status}, 403,
    'a nonce one character short: 403';
is post('/manage', { %drain_b, group => 'nosuch' })->{status}, 400, 'an unknown group: 400';
is post('/manage', { %drain_b, member => 'http://127.0.0.1:1' })->{status}, 400,
    'a member of another group: 400';
is post('/manage', { %drain_b, member => $url{b} . '/' })->{status}, 400,
    'a member URL not as configured (a slash added): 400';
is post('/manage', { %drain_b, member => $url{c} =~ s{/$}{}r })->{status}, 400,
    '... (a slash left out): 400';
is post('/manage', { %drain_b, server => 'elsewhere:1' })->{status}, 400,
    'the group in a server that has none of that name: 400';
is post('/manage', { %drain_b, state => 'down' })->{status}, 400, 'state=down: 400';
is post('/manage', { %drain_b, state => 'DRAIN' })->{status}, 400, 'state=DRAIN: 400';
my %no_state = %drain_b;
delete $no_state{state};
is post('/manage', \%no_state)->{status}, 400, 'no state: 400';
is post('/manage', form(\%drain_b), type => 'text/plain')->{status}, 415,
    'a body that is not a form: 415';
is post('/manage', form(\%drain_b) . '&pad=' . ('x' x 5000))->{status}, 413,
    'a body over 4 KB: 413';
is state_of('mgr', $url{b}), 'up', '... none of them changed b';
unlike error_log_since($off0), qr/RVP0350/, '... nor logged a change';

# ---- 3. drain -------------------------------------------------------------

$off0 = error_log_offset();
my $r = post('/manage', \%drain_b);
is $r->{status}, 303, 'drain b: 303 See Other';
like $r->{header}{location} // '', qr{^http://[^/]+/manage$}, '... back to the page';
my $log = error_log_wait($off0, qr/RVP0350/);
like $log // '', qr/\[revproxy:notice\].*RVP0350: .*client 127\.0\.0\.1 set member \Q$url{b}\E of group mgr \(server [^)]+\) from up to drain$/m,
    '... one notice line naming the client, the member and both states';
is scalar(() = ($log // '') =~ /RVP0350/g), 1, '... only one';
is state_of('mgr', $url{b}), 'drain', '... the JSON says drain';
like spread(6), qr/^ok=6 a=[1-5] b=0 c=[1-5]$/, '... b gets no new requests, a and c share them';
like req('GET', '/status')->{body}, qr{<td>\Q$url{b}\E</td><td>drain</td>},
    '... the HTML says drain';
my $metrics = req('GET', '/status?metrics')->{body};
like $metrics, qr/^revproxy_member_state\{[^}]*group="mgr",member="\Q$url{b}\E",state="drain"\} 1$/m,
    '... the metrics too';
like $metrics, qr/^revproxy_member_state\{[^}]*group="mgr",member="\Q$url{b}\E",state="up"\} 0$/m,
    '... and not up';
like $metrics, qr/^# TYPE revproxy_member_state gauge$/m, '... a gauge';
like req('GET', '/server-status?auto')->{body}, qr/^RevProxyMembersDrain: 1$/m,
    'mod_status ?auto counts it';
like req('GET', '/server-status')->{body}, qr/Draining: mgr \Q$url{b}\E/,
    'mod_status HTML names it';

# ---- 4. disabled, with ?json ----------------------------------------------

$off0 = error_log_offset();
$r = post('/manage?json', { %drain_b, member => $url{c}, state => 'disabled' });
is $r->{status}, 200, 'disable c with ?json: 200';
like $r->{header}{'content-type'} // '', qr{^application/json}, '... JSON';
my $new = eval { JSON::PP::decode_json($r->{body}) } // {};
is member_of($new, 'mgr', $url{c})->{state}, 'disabled', '... with the new state';
is $new->{nonce}, $nonce, '... and the nonce';
like error_log_wait($off0, qr/RVP0350/) // '', qr/set member \Q$url{c}\E of group mgr .*from up to disabled$/m,
    '... logged';
is spread(6), 'ok=6 a=6 b=0 c=0', '... c gets none, b none: a serves all';
like req('GET', '/server-status?auto')->{body}, qr/^RevProxyMembersDisabled: 1$/m,
    'mod_status ?auto counts it';

# Form fields in another order, with '+' and a parameter on the type.
$r = post('/manage', 'state=drain&nonce=' . $nonce . '&member=' . uenc($url{c}) . '&group=mgr',
          type => 'application/x-www-form-urlencoded; charset=utf-8');
is $r->{status}, 303, 'disabled -> drain, fields in any order';
my ($server) = $html =~ m{name="server" value="([^"]+)"><input type="hidden" name="group" value="mgr">};
is post('/manage', { %drain_b, member => $url{c}, state => 'drain', server => $server,
                     group => 'MGR' })->{status}, 303,
    '... with server= as the form sends it, the group name in any case';
is state_of('mgr', $url{c}), 'drain', '... c drains';

# ---- 5. up ------------------------------------------------------------------

$off0 = error_log_offset();
is post('/manage', { %drain_b, state => 'up' })->{status}, 303, 'b up';
is post('/manage', { %drain_b, member => $url{c}, state => 'up' })->{status}, 303, 'c up';
like error_log_wait($off0, qr/RVP0350.*\n.*RVP0350/) // '',
    qr/\Q$url{b}\E of group mgr .*from drain to up$/m, '... logged';
is_deeply [ map { state_of('mgr', $url{$_}) } qw(a b c) ], [ qw(up up up) ],
    '... every member up';
is spread(6), 'ok=6 a=2 b=2 c=2', '... and each gets its share again';

# A member down for failures stays down when `up` ends its drain.
is req('GET', "/dead/mgr/hello.txt?$_")->{status}, 200, "the dead group answers ($_)" for 1 .. 2;
is state_of('mgrdead', 'http://127.0.0.1:1'), 'down', '127.0.0.1:1 is down';
my %dead = (group => 'mgrdead', member => 'http://127.0.0.1:1', nonce => $nonce);
is post('/manage', { %dead, state => 'drain' })->{status}, 303, '... drained';
is state_of('mgrdead', 'http://127.0.0.1:1'), 'drain', '... shown as drain';
like req('GET', '/status')->{body}, qr{<td>http://127\.0\.0\.1:1</td><td>drain, down \(by request},
    '... the HTML says it is down too';
$off0 = error_log_offset();
is post('/manage', { %dead, state => 'up' })->{status}, 303, '... up';
is state_of('mgrdead', 'http://127.0.0.1:1'), 'down', '... still down (until its retry)';
like error_log_wait($off0, qr/RVP0350/) // '', qr/from drain to up; it stays down/,
    '... and the log line says so';

# ---- 6. graceful restarts (a separate httpd) --------------------------------

SKIP: {
    skip 'graceful restarts need the separate httpd', 22 unless -x Apache::Test::vars('httpd');
    my $dir = File::Temp::tempdir('rvp-63-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my %m = map { $_ => member(name => $_, dir => $dir) } qw(a b c);
    my %u = map { $_ => 'http://127.0.0.1:' . $m{$_}->port } qw(a b c);
    my @manage = ('<Location "/mgr">', 'SetHandler revproxy-status',
                  'RevProxyStatusManage On', '</Location>',
                  'RevProxyPass "^/p/(.*)$" "backend://pool/$1"');
    my @conf = ("RevProxyBackend pool $u{a} $u{b} $u{c} retry=5", @manage);
    my $h = instance(dir => $dir, mpm => 'prefork', servers => 2, conf => \@conf);
    my $mst = sub { JSON::PP::decode_json($h->get('/mgr?json')->{body}) };
    my $state = sub {
        my $s = $h->status;
        join ' ', map { member_of($s, 'pool', $u{$_})->{state} // '?' } qw(a b c);
    };
    my $count = sub {
        my %before = map { $_ => scalar(my @l = $m{$_}->requests) } qw(a b c);
        $h->get("/p/x$_") for 1 .. 6;
        join ' ', map { "$_=" . (scalar(my @l = $m{$_}->requests) - $before{$_}) } qw(a b c);
    };
    my $set = sub {
        my ($n, $who, $to) = @_;
        $h->get('/mgr', method => 'POST', headers => [
            'Content-Type' => 'application/x-www-form-urlencoded' ],
            body => form({ group => 'pool', member => $u{$who}, state => $to,
                           nonce => $n }))->{status};
    };

    my $n1 = $mst->()->{nonce};
    is $set->($n1, 'a', 'drain'), 303, 'separate httpd: a drained';
    is $set->($n1, 'b', 'disabled'), 303, '... b disabled';
    is $state->(), 'drain disabled up', '... as the page says';
    is $count->(), 'a=0 b=0 c=6', '... c serves all';

    ok $h->graceful, 'graceful restart, same configuration';
    is $state->(), 'drain disabled up', '... drain and disabled kept';
    is $count->(), 'a=0 b=0 c=6', '... and obeyed by the new children';
    my $n2 = $mst->()->{nonce};
    like $n2, qr/^[0-9a-f]{32}$/, '... a nonce';
    isnt $n2, $n1, '... new in the new generation';
    is $set->($n1, 'a', 'up'), 403, '... the old one is refused';

    $conf[0] = "RevProxyBackend pool $u{a} $u{b} $u{c} retry=7 max=4";
    ok $h->graceful(\@conf), 'graceful restart, the group\'s options changed';
    is $state->(), 'drain disabled up', '... the members keep their states';

    $conf[0] = "RevProxyBackend pool $u{c} $u{b} $u{a} retry=7 max=4";
    ok $h->graceful(\@conf), 'graceful restart, the members reordered';
    is $state->(), 'drain disabled up', '... each member keeps its own state';

    my $n3 = $mst->()->{nonce};
    is $set->($n3, 'a', 'up'), 303, 'a up again';
    is $set->($n3, 'b', 'up'), 303, 'b up again';
    is $count->(), 'a=2 b=2 c=2', '... all three serve';

    # The configuration's status= (RevProxyMember) wins when it changes.
    {
        is $set->($n3, 'a', 'drain'), 303, 'a drained by the manager';
        @conf = ("RevProxyBackend pool $u{c} $u{b} retry=7",
                 "RevProxyMember pool $u{a} status=disabled", @manage);
        ok $h->graceful(\@conf), 'graceful restart, a now status=disabled in the configuration';
        is $state->(), 'disabled up up', '... the configuration wins';
        is $set->($mst->()->{nonce}, 'a', 'up'), 303, 'a up by the manager';
        ok $h->graceful(\@conf) && $state->() eq 'up up up',
            'graceful restart with status= unchanged: the manager\'s up is kept';
    }

    $h->stop;
    is $h->crash_report, '', 'no child crashed, no sanitizer report';
}

done_testing();
