# t/reproxy/90_no_loops.t -- a reproxy URL that leads back to this server
# (the same virtual host or another one where reproxying is On) costs one
# fetch: the fetch carries a marker, gets no X-Proxy-Capabilities, and its
# answer's X-Reproxy-* fields are dropped, so the client gets that answer
# within a second.  A marker a client sends (X-Reproxy-Fetch) is never
# believed, and never reaches the origin.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use Time::HiRes ();
use RevProxyTest qw(:all);
use ReproxyTest qw(:all);

Apache::TestRequest::module('rx_front');
# Apache::TestRequest sets a ten-minute timeout of its own: bound each wait.
Apache::TestRequest::user_agent(keep_alive => 0)->timeout(15);

my $front = front_port();
my $loop = Apache::Test::vars('rx_loop_port');

# A mod_revproxy origin that answers every request for PATH with an
# X-Reproxy-Url of $next->(PATH, its own port) and the body "answer to
# PATH".  A nesting
# loop ends when its connections are used up (the next one is refused).
sub looping_origin {
    my ($next) = @_;
    return raw_backend(lifetime => 12, conns => 8, concurrent => 1,
                       handler => sub {
        my ($sock) = @_;
        my $req = read_request($sock) or return;
        my $body = "answer to $req->{uri}";
        print $sock "HTTP/1.1 200 OK\r\n"
            . "X-Reproxy-Url: " . $next->($req->{uri}, $sock->sockport)
            . "\r\n"
            . "Content-Type: text/x-origin\r\nConnection: close\r\n"
            . "Content-Length: " . length($body) . "\r\n\r\n$body";
    });
}

sub timed_get {
    my ($path, @headers) = @_;
    my $t0 = Time::HiRes::time();
    my $res = GET $path, @headers;
    return ($res, Time::HiRes::time() - $t0);
}

# The reserved fields of a request the origin received.
sub reserved_in {
    my ($req) = @_;
    return grep { /^x-reproxy-/i } map { $_->[0] } @{ $req->{headers} || [] };
}

# --- the same virtual host ----------------------------------------------------
{
    my ($port, $be) = looping_origin(sub {
        my (undef, $port) = @_;
        return "http://127.0.0.1:$front/rp/$port/again";
    });
    my ($res, $took) = timed_get("/rp/$port/first");
    $be->wait(1) or $be->stop;
    my @reqs = $be->received;
    is $res->code, 200, 'a URL pointing back at the same virtual host: 200';
    is $res->content, 'answer to /again', '... the second hop\'s answer';
    ok $took < 1, '... within a second' or diag "took $took s";
    is scalar @reqs, 2, '... the origin is asked twice: the client\'s '
                        . 'request and one fetch';
    is_deeply [reserved_fields($res)], [], '... no X-Reproxy-* field';
    ok $reqs[0] && $reqs[0]{header}{'x-proxy-capabilities'},
       '... the client\'s request carries X-Proxy-Capabilities';
    ok $reqs[1] && !exists $reqs[1]{header}{'x-proxy-capabilities'},
       '... the fetch does not';
    is_deeply [$reqs[1] ? reserved_in($reqs[1]) : ('no fetch')], [],
       '... and its marker stays with this server';
}

# --- through another virtual host and back ------------------------------------
{
    my ($port, $be) = looping_origin(sub {
        my ($uri, $port) = @_;
        return $uri =~ m{^/(first|ping)}
            ? "http://127.0.0.1:$loop/rp/$port/pong"
            : "http://127.0.0.1:$front/rp/$port/ping";
    });
    my ($res, $took) = timed_get("/rp/$port/first");
    $be->wait(1) or $be->stop;
    my @reqs = $be->received;
    is $res->code, 200, 'a URL leading to another virtual host and back: 200';
    is $res->content, 'answer to /pong', '... the other host\'s answer';
    ok $took < 1, '... within a second' or diag "took $took s";
    is scalar @reqs, 2, '... one fetch';
    ok $reqs[1] && !exists $reqs[1]{header}{'x-proxy-capabilities'},
       '... without X-Proxy-Capabilities';
}

# --- a static page that names itself (mod_headers) -----------------------------
{
    my $id = 'id' . int rand 1e9;
    my $log = Apache::Test::vars('t_logs') . '/access_log';
    my ($res, $took) = timed_get("/loop/page.txt?$id");
    is $res->code, 200, 'a static page whose X-Reproxy-Url is itself: 200';
    is $res->content, "loop page\n", '... the page';
    ok $took < 1, '... within a second' or diag "took $took s";
    is_deeply [reserved_fields($res)], [], '... no X-Reproxy-* field';

    # Each request is logged when it ends; the fetch ends first.
    my $count = sub {
        open my $fh, '<', $log or return 0;
        return scalar grep { m{"GET /loop/page\.txt\?$id } } <$fh>;
    };
    my $end = Time::HiRes::time() + 3;
    Time::HiRes::sleep(0.1) while $count->() < 2 && Time::HiRes::time() < $end;
    Time::HiRes::sleep(0.3);
    is $count->(), 2, '... requested twice: by the client and by one fetch';
}

# --- a marker sent by a client ------------------------------------------------
{
    my ($port, $be) = raw_backend(lifetime => 10, handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        print $sock "HTTP/1.1 200 OK\r\nX-Reproxy-Url: " . store('store/a.txt')
            . "\r\nContent-Length: 4\r\n\r\nSTUB";
    });
    my $res = GET "/rp/$port/forged",
                  'X-Reproxy-Fetch' => '0123456789abcdef0123456789abcdef';
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    is $res->content, "content of a\n",
       'a client claiming to be a fetch is still reproxied';
    is $req->{header}{'x-proxy-capabilities'}, 'reproxy-file',
       '... its origin gets X-Proxy-Capabilities';
    is_deeply [reserved_in($req)], [],
       '... and not the X-Reproxy-Fetch the client sent';
}

done_testing();
