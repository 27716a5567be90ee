# t/revproxy/33_request_body.t -- the backend receives exactly the body
# framing the proxy announced, whatever an input filter does to the body:
# a filter that changes the length (mod_sed, t/conf/bodies.conf.in) makes
# the body go chunked, so a client cannot splice a second request into the
# backend connection by growing or shrinking its body; a body that ends
# short of what was announced aborts the backend connection, which is
# never reused.  The backends (t/lib/RevProxyStrict.pm) parse requests as
# a real server does and report every request line they parsed.
use strict;
use warnings;

use Time::HiRes ();
use Apache::Test qw(-withtestmore);
use RevProxyTest qw(split_response);
use RevProxyStrict qw(:all);

my $front = Apache::Test::vars('rp_body_port');

# Lines of 'y' (no 'a', no 'x': the filters leave them alone).
sub filler { return ('y' x 99 . "\n") x ($_[0] / 100) }

# Every response in $raw, in order.
sub responses {
    my ($raw) = @_;
    my @res;
    while (length $raw) {
        my $res = split_response($raw) or last;
        push @res, $res;
        $raw = $res->{rest} // '';
    }
    return @res;
}

# A request the backend would read as a request of its own.
my $smuggled = "GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

# --- a body that grows: "s/a/aa/g" -------------------------------------------
{
    # As many 'a's as the hidden request is long: announced with the
    # client's Content-Length, the body's last bytes would be a request.
    my $body = ('a' x length $smuggled) . "\n" . filler(30000) . $smuggled;
    (my $filtered = $body) =~ s/a/aa/g;
    my ($port, $be) = strict_backend(idle => 1);
    my $c = client($front);
    $c->send("POST /grow/$port/first HTTP/1.1\r\nHost: front\r\n"
             . 'Content-Length: ' . length($body) . "\r\nConnection: close\r\n\r\n"
             . substr($body, 0, 20000));
    Time::HiRes::sleep(0.3);   # the end of the body comes later
    $c->send(substr $body, 20000);
    my ($raw) = $c->read_all(timeout => 10);
    $c->close;
    $be->wait(5) or $be->stop;
    my ($res) = responses($raw);
    is $res && $res->{status}, 200, 'a body grown by an input filter: 200';
    is_deeply [request_lines($be)], ["POST /first HTTP/1.1"],
        '... the backend parsed one request, no hidden one';
    my ($req) = requests($be);
    is $req && $req->{framing}, 'chunked', '... the body went chunked';
    ok $req && !exists $req->{header}{'content-length'}, '... without a Content-Length';
    ok $req && $req->{body} eq $filtered,
        '... and the backend got the filtered body, byte-exact ('
        . length($req ? $req->{body} : '') . ' of ' . length($filtered) . ' bytes)';
}

# --- a body that shrinks: "s/x//g" ---------------------------------------------
{
    # How long the head of the second request is once proxied: a probe of
    # the same shape on a backend of its own (ports have the same width).
    my $second = sub {
        my ($port) = @_;
        return "POST /shrink/$port/second HTTP/1.1\r\nHost: front\r\n"
             . 'Content-Length: ' . length($smuggled)
             . "\r\nConnection: close\r\n\r\n$smuggled";
    };
    my ($pport, $probe) = strict_backend(idle => 0.2);
    my $p = client($front);
    $p->send($second->($pport));
    $p->read_all(timeout => 10);
    $p->close;
    $probe->wait(5) or $probe->stop;
    my ($preq) = requests($probe);
    my $hlen = $preq ? length $preq->{head} : 200;

    # The first body loses as many bytes as that head has: announced with
    # the client's Content-Length, the backend would take the second head
    # as the end of the first body, and the second body as a request.  The
    # backend answers as soon as it has a head (as many do) and reads the
    # body after.
    my $body = filler(20000) . ('x' x $hlen) . "\n";
    (my $filtered = $body) =~ s/x//g;
    my ($port, $be) = strict_backend(early => 1, idle => 1, conns => 2);
    my $c = client($front);
    $c->send("POST /shrink/$port/first HTTP/1.1\r\nHost: front\r\n"
             . 'Content-Length: ' . length($body) . "\r\n\r\n"
             . substr($body, 0, 18000));
    Time::HiRes::sleep(0.3);
    $c->send(substr($body, 18000) . $second->($port));
    my ($raw) = $c->read_all(timeout => 10);
    $c->close;
    wait_event($be, sub { 2 <= grep { $_->{event} eq 'request' } @_ }, 5);
    $be->stop;
    my @res = responses($raw);
    is_deeply [request_lines($be)],
        ["POST /first HTTP/1.1", "POST /second HTTP/1.1"],
        'a body shrunk by an input filter: the backend parsed the two requests sent, no hidden one';
    my ($req) = grep { $_->{uri} eq '/first' } requests($be);
    is $req && $req->{framing}, 'chunked', '... the shrunk body went chunked';
    ok $req && $req->{body} eq $filtered, '... byte-exact';
    is scalar(@res), 2, '... the client got two answers';
    like $res[1] ? $res[1]{body} : '', qr{^seen /second }, '... the second one for its second request';
}

# --- a body that ends short of what was announced ---------------------------------
for my $case (['plain', 'no input filter'], ['shrink', 'through an input filter']) {
    my ($path, $what) = @$case;
    my ($port, $be) = strict_backend(conns => 2, idle => 1, timeout => 8);
    my $c = client($front);
    $c->send("POST /$path/$port/short HTTP/1.1\r\nHost: front\r\n"
             . "Content-Length: 40000\r\n\r\n" . filler(20000));
    # Once the backend has the head and most of those bytes (mod_sed holds
    # a line back until it knows whether it is the last), the client gives
    # up.
    wait_body($be, 19000, 5);
    $c->half_close;
    my ($raw, $how) = $c->read_all(timeout => 10);
    $c->close;
    my $res = split_response($raw);
    ok !$res || $res->{status} == 502 || $res->{status} == 400,
       "a client body short of its Content-Length ($what): no answer, or an error ("
       . ($res ? $res->{status} : $how) . ')';
    ok wait_event($be, sub { grep { $_->{event} eq 'short' } @_ }, 5),
       '... the backend connection is closed before the end of the body';
    my ($short) = short_bodies($be);
    is $short && $short->{why}, 'eof', '... by the proxy (EOF), not left waiting';
    ok !grep({ $_->{uri} eq '/short' } requests($be)),
       '... the backend never saw a complete request';

    # The next request to that backend goes on a new connection.
    my $n = client($front);
    $n->send("GET /$path/$port/after HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n");
    my ($raw2) = $n->read_all(timeout => 10);
    $n->close;
    my $res2 = split_response($raw2);
    is $res2 && $res2->{status}, 200, '... a later request is answered';
    my ($after) = grep { $_->{uri} eq '/after' } requests($be);
    is $after && $after->{conn}, 2, '... over a new backend connection';
    $be->wait(5) or $be->stop;
}

done_testing();
