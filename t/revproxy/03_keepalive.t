# t/revproxy/03_keepalive.t -- backend connection reuse: many requests
# over few connections, none with nopipeline, and the one retry on a fresh
# connection when a pooled one turns out closed (only when that is safe).
# The test server runs one child (t/conf/core.conf.in), which owns the pool.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET POST);
use RevProxyTest qw(:all);

Apache::TestRequest::module('rp_front');

# A keep-alive backend: each connection answers requests until the client
# closes it; $drop->($conn_no, $req_no_on_conn) says when to hang up
# instead of answering.
sub keepalive_backend {
    my (%o) = @_;
    my $drop = $o{drop} || sub { 0 };
    return raw_backend(lifetime => 30, conns => 50, concurrent => 1,
                       handler => sub {
        my ($sock, $n) = @_;
        for my $i (1 .. 100) {
            my $req = read_request($sock, timeout => 5) or return;
            return if $drop->($n, $i);
            respond($sock, 200, ['Content-Type' => 'text/plain'],
                    "conn $n request $i $req->{uri}");
        }
    });
}

{
    my ($port, $be) = keepalive_backend();
    my @codes = map { GET("/raw/$port/seq$_")->code } 1 .. 20;
    is_deeply \@codes, [(200) x 20], '20 sequential requests';
    my @got = map { $_->{uri} } $be->received;
    is scalar(@got), 20, '... all reached the backend';
    my $conns = $be->connections;
    ok $conns >= 1 && $conns <= 2, "... over $conns connection(s)";
    $be->stop;
}
{
    my ($port, $be) = keepalive_backend();
    my @codes = map { GET("/rawnp/$port/np$_")->code } 1 .. 5;
    is_deeply \@codes, [(200) x 5], 'nopipeline: 5 requests';
    $be->wait(10) or $be->stop;
    is $be->connections, 5, '... one connection each';
    my @conn = map { lc($_->{header}{connection} // '') } $be->received;
    is_deeply \@conn, [('close') x 5], '... each asking the backend to close';
}

# The backend hangs up on the second request of its first connection, as a
# server whose keep-alive timeout fired at that moment would.
my $drop_second = sub { my ($conn, $i) = @_; return $conn == 1 && $i == 2 };
{
    my ($port, $be) = keepalive_backend(drop => $drop_second);
    my $r1 = GET "/raw/$port/first";
    my $r2 = GET "/raw/$port/second";
    is $r1->code, 200, 'stale pooled connection: first request';
    is $r2->code, 200, '... the GET on the dead connection is retried';
    like $r2->content, qr{^conn 2 request 1 /second$}, '... on a fresh one';
    $be->stop;
    is $be->connections, 2, '... two connections in all';
}
{
    my ($port, $be) = keepalive_backend(drop => $drop_second);
    GET "/raw/$port/first";
    my $r2 = POST "/raw/$port/empty-post", content => '';
    is $r2->code, 502,
       'a POST without body bytes whose head went out is not replayed: 502';
    $be->stop;
    is $be->connections, 1, '... and no second connection was made';
}
{
    my ($port, $be) = keepalive_backend(drop => $drop_second);
    GET "/raw/$port/first";
    my $off = error_log_offset();
    my $r2 = POST "/raw/$port/post", content => 'a=1&b=2';
    is $r2->code, 502, 'a POST whose body went out is not replayed: 502';
    ok error_log_wait($off, qr/RVP\d+: backend http:\/\/127\.0\.0\.1:$port .*closed before any response byte/),
       '... logged with the backend and the cause';
    $be->stop;
    is $be->connections, 1, '... and no second connection was made';
}

done_testing();
