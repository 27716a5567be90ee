# t/revproxy/60_websocket.t -- upgrade=websocket tunnels: echo of text and
# binary messages, a 1 MiB message, server-initiated messages, close from
# either side, the idle limit, an upgrade refused without the option, and
# 50 tunnels open while the server goes on answering plain requests.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use RevProxyTest qw(:all);
use RevProxyWS qw(ws_backend ws_connect ws_send ws_recv ws_eof);

Apache::TestRequest::module('rp_front');

{
    my ($port, $be) = ws_backend();
    my $ws = ws_connect("/ws/$port/chat");
    like $ws->{head}, qr{^HTTP/1\.1 101 }, '101 Switching Protocols reaches the client';
    like $ws->{head}, qr{^Sec-WebSocket-Accept: }mi, '... with the backend\'s handshake headers';
    my ($req) = $be->received;
    is lc $req->{header}{upgrade}, 'websocket', 'the backend saw Upgrade: websocket';
    like $req->{header}{connection}, qr/upgrade/i, '... and Connection: upgrade';

    ws_send($ws, 'hello');
    is_deeply [ws_recv($ws)], ['hello', 'text'], 'text message echoed';
    ws_send($ws, "\x00\x01\xff", 'binary');
    is_deeply [ws_recv($ws)], ["\x00\x01\xff", 'binary'], 'binary message echoed';
    my $big = join '', map { chr($_ % 251) } 1 .. 1024 * 1024;
    ws_send($ws, $big, 'binary');
    my ($got) = ws_recv($ws, 20);
    ok defined $got && $got eq $big, '1 MiB message echoed byte-exact';

    ws_send($ws, 'tick 2');
    is_deeply [ws_recv($ws, 5)], ['tick 1', 'text'], 'server-initiated message while the client is idle';
    is_deeply [ws_recv($ws, 5)], ['tick 2', 'text'], '... and another';

    ws_send($ws, '', 'close');
    is_deeply [ws_recv($ws, 5)], ['', 'close'], 'close from the client: the close frame comes back';
    ok ws_eof($ws, 5), '... and the connection ends';
    $be->stop;
}
{
    my ($port, $be) = ws_backend();
    my $ws = ws_connect("/wsany/$port/x");
    ws_send($ws, 'bye');
    my (undef, $type) = ws_recv($ws, 5);
    is $type, 'close', 'close from the backend reaches the client (upgrade=*)';
    ok ws_eof($ws, 5), '... and the connection ends';
    $be->stop;
}
{
    my ($port, $be) = ws_backend(idle => 20, lifetime => 25);
    my $ws = ws_connect("/ws/$port/silent");
    like $ws->{head}, qr{^HTTP/1\.1 101 }, 'a silent tunnel opens';
    ok ws_eof($ws, 15), '... and the idle limit (timeout=2) closes it';
    $be->stop;
}
{
    my ($port, $be) = raw_backend(lifetime => 10, handler => sub {
        my ($sock) = @_;
        my $req = read_request($sock) or return;
        respond($sock, 200, [Connection => 'close'],
                'upgrade:' . ($req->{header}{upgrade} // 'none'));
    });
    my $ws = ws_connect("/raw/$port/noopt");
    unlike $ws->{head}, qr{^HTTP/1\.1 101 }, 'no upgrade= option: no 101';
    like $ws->{head} . ($ws->{frame}{buffer} // ''), qr/^HTTP\/1\.1 200 /, '... a plain response';
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    ok !exists $req->{header}{upgrade}, '... Upgrade was not passed on';
}
{
    my ($port, $be) = ws_backend(conns => 50, lifetime => 60);
    my @ws = grep { $_ && $_->{head} =~ /^HTTP\/1\.1 101 / }
             map { ws_connect("/wsany/$port/many$_") } 1 .. 50;
    is scalar(@ws), 50, '50 tunnels open at once';
    my $res = GET '/b/fallback/page.txt';
    is $res->code, 200, '... and a plain request is still answered';
    my $echoed = 0;
    for my $i (0 .. $#ws) {
        ws_send($ws[$i], "m$i");
        my ($m) = ws_recv($ws[$i], 5);
        $echoed++ if defined $m && $m eq "m$i";
    }
    is $echoed, 50, '... and every tunnel still echoes';
    ws_send($_, '', 'close') for @ws;
    $be->stop;
}

done_testing();
