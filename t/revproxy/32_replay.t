# t/revproxy/32_replay.t -- a request is sent again automatically only when
# its method is idempotent or no byte of it (head included) was written to
# any backend connection (RFC 9110 9.2.2).
#
# 1. A pooled connection whose backend reads the next request fully and
#    hangs up without answering: a POST (with a body, with Content-Length:
#    0, with no body at all) or a PATCH is delivered exactly once and the
#    client gets 502; a GET, DELETE or PUT goes out again on a fresh
#    connection and gets that one's answer.
# 2. A group (separate httpd, t/lib/RevProxyInstance.pm): a POST whose
#    member read it and hung up is not sent to another member (502); a GET
#    moves on.
# 3. A backend that closes each connection right after its answer (FIN, no
#    Connection: close): a POST sent right after gets 200 on a fresh
#    connection, delivered once -- the pooled connection is checked for a
#    close right before its reuse, every time.
use strict;
use warnings;

use File::Temp ();
use Time::HiRes ();
use Apache::Test qw(-withtestmore);
use RevProxyTest qw(:all);
use RevProxyInstance qw(member instance);

my $front = Apache::Test::vars('rp_front_port');

local $SIG{ALRM} = sub { die "32_replay.t: out of time\n" };
alarm 150;

# One request on its own connection to the front; $body undef: no body
# and no Content-Length; '' sends Content-Length: 0.
sub front {
    my ($method, $path, $body) = @_;
    my $raw = raw_http($front, "$method $path HTTP/1.1\r\nHost: x\r\n"
                       . (defined $body ? 'Content-Length: ' . length($body) . "\r\n" : '')
                       . "Connection: close\r\n\r\n" . ($body // ''),
                       timeout => 10);
    return split_response($raw) // { status => 0, body => '' };
}

# A keep-alive backend: connection 1 answers its first request, then reads
# the second one whole and hangs up; every other connection answers each
# request with "conn N: URI".
sub hangup_second {
    return raw_backend(lifetime => 15, conns => 6, concurrent => 1,
                       handler => sub {
        my ($sock, $n) = @_;
        for my $i (1 .. 20) {
            my $req = read_request($sock, timeout => 5) or return;
            return if $n == 1 && $i == 2;
            respond($sock, 200, ['Content-Type' => 'text/plain'],
                    "conn $n: $req->{uri}");
        }
    });
}

# --- 1. a pooled connection that the backend closes without answering ------
my @once = (
    [ 'POST with a body',            'POST',  'a=1&b=2' ],
    [ 'POST with Content-Length: 0', 'POST',  '' ],
    [ 'POST without a body',         'POST',  undef ],
    [ 'PATCH with Content-Length: 0', 'PATCH', '' ],
);
for my $c (@once) {
    my ($what, $method, $body) = @$c;
    my ($port, $be) = hangup_second();
    my $r1 = front('GET', "/raw/$port/first");
    is "$r1->{status} $r1->{body}", "200 conn 1: /first",
        "$what: a first request leaves a pooled connection";
    my $off = error_log_offset();
    my $r2 = front($method, "/raw/$port/once", $body);
    is $r2->{status}, 502,
        "... the $method read whole by the backend, which hung up: 502";
    $be->stop;
    my @got = grep { $_->{uri} eq '/once' } $be->received;
    is scalar(@got), 1, "... the $method was delivered exactly once";
    is $be->connections, 1, '... no second connection was made';
    ok error_log_wait($off, qr/RVP\d+: backend http:\/\/127\.0\.0\.1:$port /, 2),
        '... logged with the backend';
}

my @again = (
    [ 'GET',                        'GET',    undef ],
    [ 'DELETE',                     'DELETE', undef ],
    [ 'PUT with a body',            'PUT',    'data' ],
);
for my $c (@again) {
    my ($what, $method, $body) = @$c;
    my ($port, $be) = hangup_second();
    my $r1 = front('GET', "/raw/$port/first");
    is "$r1->{status} $r1->{body}", "200 conn 1: /first",
        "$what: a first request leaves a pooled connection";
    my $r2 = front($method, "/raw/$port/again", $body);
    is "$r2->{status} $r2->{body}", "200 conn 2: /again",
        "... the $method is sent again, on a fresh connection: 200";
    $be->stop;
    my @got = grep { $_->{uri} eq '/again' } $be->received;
    is scalar(@got), 2, '... delivered twice (idempotent)';
    is_deeply [ map { $_->{body} } @got ], [ ($body // '') x 2 ],
        '... the same request both times';
}

# --- 2. a group: a POST is not moved to another member, a GET is --------------
{
    my $dir = File::Temp::tempdir('rvp-32-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    # a and b get only /drop/ paths here: they read the request and hang up.
    my ($a, $b, $c, $d) = map { member(name => $_, dir => $dir, lifetime => 120) }
                          qw(a b c d);
    my ($ua, $ub) = map { 'http://127.0.0.1:' . $_->port } $a, $b;
    my @conf;
    for my $g (qw(pz pn pb gd)) {
        push @conf, "RevProxyBackend $g $ua $ub",
                    qq{RevProxyPass "^/$g/(.*)\$" "backend://$g/\$1"};
    }
    # c hangs up on everything (its base path is /drop), d answers.
    push @conf, 'RevProxyBackend mx http://127.0.0.1:' . $c->port . '/drop'
                . ' http://127.0.0.1:' . $d->port,
                'RevProxyPass "^/mx/(.*)$" "backend://mx/$1"';
    my $h = instance(mpm => 'prefork', servers => 1, conf => \@conf);

    # The lines "METHOD URI" the members a and b logged for $uri.
    my $lines = sub {
        my ($line) = @_;
        return scalar grep { $_ eq $line } $a->requests, $b->requests;
    };

    my $r = $h->get('/pz/drop/z1', method => 'POST', body => '');
    is $r->{status}, 502, 'group: a POST with Content-Length: 0 that a member read and hung up on: 502';
    is $lines->('POST /drop/z1'), 1, '... it reached exactly one member, once';

    $r = $h->get('/pn/drop/n1', method => 'POST');
    is $r->{status}, 502, 'group: a POST without a body: 502';
    is $lines->('POST /drop/n1'), 1, '... it reached exactly one member, once';

    $r = $h->get('/pb/drop/b1', method => 'POST', body => 'x=1');
    is $r->{status}, 502, 'group: a POST with a body: 502';
    is $lines->('POST /drop/b1'), 1, '... it reached exactly one member, once';

    $r = $h->get('/gd/drop/g1');
    is $r->{status}, 502, 'group: a GET on which both members hang up: 502';
    is_deeply [ map { scalar grep { $_ eq 'GET /drop/g1' } $_->requests } $a, $b ],
        [ 1, 1 ], '... it moved on: each member got it once';

    my @codes = map { $h->get("/mx/m$_")->{status} } 1 .. 2;
    is_deeply \@codes, [ 200, 200 ],
        'group: two GETs, one of them first on the member that hangs up: both 200';
    is scalar(grep { /^GET / } $c->requests), 1,
        '... that member got one of them; it moved on to the other';

    $h->stop;
    is $h->crash_report, '', 'no child crashed, no sanitizer report';
}

# --- 3. the check before reuse ------------------------------------------------
{
    # Each connection: one request, the answer (keep-alive by its head),
    # then the backend closes it and says so in $dir ("closed-N").
    my $dir = File::Temp::tempdir('rvp-32-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my ($port, $be) = raw_backend(lifetime => 20, conns => 25, handler => sub {
        my ($sock, $n) = @_;
        my $req = read_request($sock, timeout => 5) or return;
        respond($sock, 200, ['Content-Type' => 'text/plain'],
                "conn $n: $req->{uri}");
        close $sock;
        open my $fh, '>', "$dir/closed-$n" or die "$dir/closed-$n: $!";
        close $fh;
    });
    my @res;
    for my $i (1 .. 20) {
        my $r = front('POST', "/raw/$port/p$i", $i % 2 ? "n=$i" : '');
        push @res, $r->{status} == 200 ? "200 $r->{body}" : $r->{status};
        # The next POST goes out once the backend has closed the
        # connection that answered (FIN sent).
        my ($n) = $r->{body} =~ /^conn (\d+):/ or next;
        my $end = Time::HiRes::time() + 5;
        Time::HiRes::sleep(0.002)
            until -e "$dir/closed-$n" || Time::HiRes::time() > $end;
    }
    is_deeply \@res, [ map { "200 conn $_: /p$_" } 1 .. 20 ],
        'a backend closing each connection after its answer: 20 POSTs sent right after, each 200 on a fresh connection'
        or diag explain \@res;
    $be->stop;
    is_deeply [ map { $_->{uri} } $be->received ], [ map { "/p$_" } 1 .. 20 ],
        '... each delivered exactly once';
}

done_testing();
