# t/revproxy/61_wss.t -- WebSocket through the proxy to an HTTPS backend
# (wss): the upgrade, messages both ways and the close, over TLS.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use RevProxyTLS qw(tls_backend stop_tls_backend handshakes);
use RevProxyWS qw(ws_echo_handler ws_connect ws_send ws_recv ws_eof);

my ($port, $be) = tls_backend(cert => 'localhost', lifetime => 30,
                              handler => ws_echo_handler(lifetime => 30));
my $ws = ws_connect("/wss/$port/chat", port => Apache::Test::vars('rp_tls_port'));
like $ws->{head}, qr{^HTTP/1\.1 101 }, 'wss: 101 from the HTTPS backend reaches the client';
ws_send($ws, 'over tls');
is_deeply [ws_recv($ws, 5)], ['over tls', 'text'], '... a message echoed through TLS';
ws_send($ws, 'tick 1');
is_deeply [ws_recv($ws, 5)], ['tick 1', 'text'], '... a server-initiated message';
ws_send($ws, '', 'close');
is_deeply [ws_recv($ws, 5)], ['', 'close'], '... close answered';
ok ws_eof($ws, 5), '... and the connection ends';
my ($hs) = handshakes($be);
is $hs->{sni}, 'localhost', '... the backend saw a TLS handshake with SNI';
stop_tls_backend($be);

done_testing();
