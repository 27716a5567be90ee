# t/revproxy/36_forwarded.t -- RevProxyForwarded On: the backend gets one
# Forwarded field, for=CLIENT;host=HOST;proto=SCHEME appended to the
# client's own Forwarded (or starting one); a Host that is not a token is
# quoted; a client cannot strip it through Connection; Off (the default)
# passes the client's field unchanged; independent of RevProxyAddForwarded.
# The test server listens on IPv4 only: the IPv6 form (for="[::1]") is
# proven in t/unit/test_head.c.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use RevProxyTest qw(:all);

local $SIG{ALRM} = sub { die "36_forwarded.t: out of time\n" };
alarm 60;

# One request to vhost $vhost through /raw/PORT/p with @fields; returns
# (the status the client got, the request the backend received).
sub through {
    my ($vhost, @fields) = @_;
    my ($port, $be) = raw_backend(lifetime => 15, handler => sub {
        my ($sock) = @_;
        read_request($sock, timeout => 10) or return;
        respond($sock, 200, [Connection => 'close'], 'ok-END');
    });
    my $head = "GET /raw/$port/p HTTP/1.1\r\n";
    while (my ($k, $v) = splice @fields, 0, 2) {
        $head .= "$k: $v\r\n";
    }
    my $raw = raw_http(Apache::Test::vars("${vhost}_port"),
                       "$head\r\n", wait_for => qr/ok-END|^HTTP\/1\.1 [45]\d\d/m,
                       timeout => 10);
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    my $res = split_response($raw);
    return ($res && $res->{status}, $req);
}

sub values_of {
    my ($req, $name) = @_;
    return [ map { $_->[1] } grep { lc $_->[0] eq lc $name }
             @{ $req ? $req->{headers} : [] } ];
}

{
    my ($status, $req) = through('rp_fwd', Host => 'client.test');
    is $status, 200, 'On, no client Forwarded: 200';
    is_deeply values_of($req, 'Forwarded'),
        ['for=127.0.0.1;host=client.test;proto=http'],
        '... one Forwarded element starts the field';
    is_deeply values_of($req, 'X-Forwarded-For'), ['127.0.0.1'],
        '... X-Forwarded-For as before';
}
{
    my ($status, $req) = through('rp_fwd', Host => 'client.test',
        Forwarded => 'for=192.0.2.60;proto=https;by=203.0.113.43');
    is_deeply values_of($req, 'Forwarded'),
        ['for=192.0.2.60;proto=https;by=203.0.113.43, '
         . 'for=127.0.0.1;host=client.test;proto=http'],
        "On: appended to the client's Forwarded";
}
{
    my ($status, $req) = through('rp_fwd', Host => 'client.test',
        Forwarded => 'for=192.0.2.1', Forwarded => 'for="[2001:db8::7]"');
    is_deeply values_of($req, 'Forwarded'),
        ['for=192.0.2.1, for="[2001:db8::7]", '
         . 'for=127.0.0.1;host=client.test;proto=http'],
        "On: two client fields, joined, then ours: one field";
}
{
    my ($status, $req) = through('rp_fwd', Host => 'client.test:8080');
    is_deeply values_of($req, 'Forwarded'),
        ['for=127.0.0.1;host="client.test:8080";proto=http'],
        'On: a Host with a port is not a token: quoted';
}
{
    my ($status, $req) = through('rp_fwd', Host => 'client.test',
        Connection => 'Forwarded', Forwarded => 'for=198.51.100.9');
    is $status, 200, 'On, Connection: Forwarded';
    is_deeply values_of($req, 'Forwarded'),
        ['for=127.0.0.1;host=client.test;proto=http'],
        '... the hop-by-hop client field is gone, ours is there';
}
{
    my ($status, $req) = through('rp_fwd_only', Host => 'client.test',
        Forwarded => 'for=192.0.2.60', 'X-Forwarded-For' => '192.0.2.60');
    is_deeply values_of($req, 'Forwarded'),
        ['for=192.0.2.60, for=127.0.0.1;host=client.test;proto=http'],
        'On with RevProxyAddForwarded Off: Forwarded added';
    is_deeply values_of($req, 'X-Forwarded-For'), ['192.0.2.60'],
        '... X-Forwarded-For left as the client sent it';
    is_deeply values_of($req, 'X-Forwarded-Host'), [],
        '... and no X-Forwarded-Host';
}
{
    my ($status, $req) = through('rp_front', Host => 'client.test',
        Forwarded => 'for=192.0.2.60');
    is $status, 200, 'Off (the default)';
    is_deeply values_of($req, 'Forwarded'), ['for=192.0.2.60'],
        "... the client's Forwarded passes unchanged";
    my ($status2, $req2) = through('rp_front', Host => 'client.test');
    is_deeply values_of($req2, 'Forwarded'), [], '... and none is made';
}

done_testing();
