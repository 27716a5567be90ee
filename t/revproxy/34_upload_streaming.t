# t/revproxy/34_upload_streaming.t -- request bodies stream: a body byte
# the proxy has received never waits for later ones.  The first chunk of a
# slow chunked upload reaches the backend while the client is still
# sending, and goes out chunked; the same for a Content-Length body sent in
# pieces.  The backend (t/lib/RevProxyStrict.pm) records the moment body
# bytes arrive; the client sends the rest only after that report, or after
# a bounded wait for it.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use RevProxyTest qw(split_response);
use RevProxyStrict qw(:all);

my $front = Apache::Test::vars('rp_front_port');
my $wait = 2;       # seconds the client waits for the backend's report

{
    my ($port, $be) = strict_backend(timeout => 10, idle => 0.3);
    my $c = client($front);
    $c->send("POST /raw/$port/chunked HTTP/1.1\r\nHost: front\r\n"
             . "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
             . sprintf("%x\r\n", 1000) . ('u' x 1000) . "\r\n");
    my $early = wait_body($be, 1000, $wait);
    my $before = body_progress($be);
    $c->send(sprintf("%x\r\n", 2000) . ('v' x 2000) . "\r\n0\r\n\r\n");
    my ($raw) = $c->read_all(timeout => 10);
    $c->close;
    $be->wait(5) or $be->stop;
    ok $early, 'a slow chunked upload: the first 1,000-byte chunk reaches the '
             . "backend while the client still sends (backend had $before bytes)";
    my ($req) = requests($be);
    is $req && $req->{framing}, 'chunked', '... the body goes out chunked';
    ok $req && !exists $req->{header}{'content-length'}, '... without a Content-Length';
    ok $req && $req->{body} eq ('u' x 1000) . ('v' x 2000), '... byte-exact';
    my $res = split_response($raw);
    is $res && $res->{status}, 200, '... and the answer comes back';
}
{
    my ($port, $be) = strict_backend(timeout => 10, idle => 0.3);
    my $c = client($front);
    $c->send("POST /raw/$port/pieces HTTP/1.1\r\nHost: front\r\n"
             . "Content-Length: 3000\r\nConnection: close\r\n\r\n"
             . ('p' x 1000));
    my $early = wait_body($be, 1000, $wait);
    my $before = body_progress($be);
    $c->send('q' x 2000);
    my ($raw) = $c->read_all(timeout => 10);
    $c->close;
    $be->wait(5) or $be->stop;
    ok $early, 'a Content-Length body sent in pieces: the first piece reaches '
             . "the backend before the second is sent (backend had $before bytes)";
    my ($req) = requests($be);
    ok $req && $req->{body} eq ('p' x 1000) . ('q' x 2000), '... byte-exact';
    ok $req && ($req->{framing} eq 'chunked'
                || ($req->{header}{'content-length'} // '') eq '3000'),
       '... framed as the client framed it, or chunked ('
       . ($req ? $req->{framing} : 'no request') . ')';
    my $res = split_response($raw);
    is $res && $res->{status}, 200, '... and the answer comes back';
}

done_testing();
