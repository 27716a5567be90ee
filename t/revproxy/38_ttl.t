# t/revproxy/38_ttl.t -- ttl=: an idle pooled backend connection is not
# reused after its rule's (or group's) ttl; the default keeps it for 30 s.
# The test server runs one child (t/conf/core.conf.in), which owns the pool.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use RevProxyTest qw(:all);
use RevProxyInstance qw(instance);
use Time::HiRes ();

Apache::TestRequest::module('rp_ttl');

local $SIG{ALRM} = sub { die "38_ttl.t: out of time\n" };
alarm 90;

# A keep-alive backend that answers on each connection until the client
# closes it, saying which connection and request it was.
sub keepalive_backend {
    return raw_backend(lifetime => 20, conns => 10, concurrent => 1,
                       handler => sub {
        my ($sock, $n) = @_;
        for my $i (1 .. 100) {
            my $req = read_request($sock, timeout => 10) or return;
            respond($sock, 200, ['Content-Type' => 'text/plain'],
                    "conn $n request $i");
        }
    });
}

# Two requests with $idle seconds between them through rule $prefix;
# returns the backend's connection count and the two bodies.
sub two_requests {
    my ($prefix, $idle) = @_;
    my ($port, $be) = keepalive_backend();
    my $r1 = GET "/$prefix/$port/one";
    Time::HiRes::sleep($idle);
    my $r2 = GET "/$prefix/$port/two";
    my @bodies = map { $_->code == 200 ? $_->content : 'status ' . $_->code }
                 $r1, $r2;
    my $conns = $be->connections;
    $be->stop;
    return ($conns, @bodies);
}

{
    my ($conns, $b1, $b2) = two_requests('ttl1', 1.5);
    is $b1, 'conn 1 request 1', 'ttl=1: first request';
    is $b2, 'conn 2 request 1', '... after 1.5 s idle: on a new connection';
    is $conns, 2, '... two connections';
}
{
    my ($conns, $b1, $b2) = two_requests('ttl1', 0);
    is $b2, 'conn 1 request 2', 'ttl=1: no pause, the connection is reused';
    is $conns, 1, '... one connection';
}
{
    my ($conns, $b1, $b2) = two_requests('dflt', 1.5);
    is $b1, 'conn 1 request 1', 'default ttl: first request';
    is $b2, 'conn 1 request 2', '... after 1.5 s idle: reused';
    is $conns, 1, '... one connection';
}

# Groups, on a separate httpd with one child: ttl= of the group, the
# default, and a rule's ttl= over its group's.
{
    my @be = map { [ keepalive_backend() ] } 1 .. 3;
    my ($p1, $p2, $p3) = map { $_->[0] } @be;
    my $h = instance(mpm => 'event', servers => 1, conf => [
        "RevProxyBackend gttl1 http://127.0.0.1:$p1 ttl=1",
        "RevProxyBackend gdflt http://127.0.0.1:$p2",
        "RevProxyBackend gover http://127.0.0.1:$p3",
        'RevProxyPass "^/gttl1/(.*)$" "backend://gttl1/$1"',
        'RevProxyPass "^/gdflt/(.*)$" "backend://gdflt/$1"',
        'RevProxyPass "^/gover/(.*)$" "backend://gover/$1" ttl=1',
    ]);
    my %body;
    for my $g (qw(gttl1 gdflt gover)) {
        $body{$g} = [ $h->get("/$g/one")->{body} ];
    }
    Time::HiRes::sleep(1.5);
    push @{ $body{$_} }, $h->get("/$_/two")->{body} for qw(gttl1 gdflt gover);
    is_deeply $body{gttl1}, ['conn 1 request 1', 'conn 2 request 1'],
        'group ttl=1: after 1.5 s idle, a new connection';
    is_deeply $body{gdflt}, ['conn 1 request 1', 'conn 1 request 2'],
        'group with the default ttl: after 1.5 s idle, reused';
    is_deeply $body{gover}, ['conn 1 request 1', 'conn 2 request 1'],
        "a rule's ttl=1 overrides its group's default";
    $h->stop;
    is $h->crash_report, '', 'no process crashed, no sanitizer report';
    $_->[1]->stop for @be;
}

done_testing();
