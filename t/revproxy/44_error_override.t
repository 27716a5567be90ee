# t/revproxy/44_error_override.t -- RevProxyErrorOverride On: a backend
# answer of 400 or more is answered by httpd itself, so ErrorDocument
# applies; the backend's body is read and dropped so that its connection
# serves the next request when the framing allows (Content-Length, chunked,
# up to 64 KiB), and is closed otherwise (close-delimited, longer).  The
# fields a client needs with the status (WWW-Authenticate, Allow,
# Retry-After) are kept.  Off, a status httpd has no text for: passed on.
# And the proxy's own 400/502/503/504 go through ErrorDocument too.
# Vhost rp_hdr (t/conf/headers.conf.in), ErrorDocument files in
# t/htdocs/errdocs/.
use strict;
use warnings;

use File::Temp ();

use Apache::Test qw(-withtestmore);
use RevProxyTest qw(:all);
use RevProxyInstance qw(instance);

local $SIG{ALRM} = sub { die "44_error_override.t: out of time\n" };
alarm 120;

my $front = Apache::Test::vars('rp_hdr_port');

sub get {
    my ($path, $method) = @_;
    my $raw = raw_http($front, ($method // 'GET') . " $path HTTP/1.1\r\n"
                       . "Host: www.example.org\r\nConnection: close\r\n\r\n",
                       timeout => 15);
    return split_response($raw) // { status => 0, header => {}, body => '' };
}

# A backend that gives these raw answers in turn, one per request, on as
# many connections as the proxy opens (an answer with close => 1 closes its
# connection after it).  Returns ($port, $be).
sub scripted {
    my @answers = @_;
    my $i = 0;
    return raw_backend(conns => scalar(@answers), lifetime => 20,
                       handler => sub {
        my ($sock) = @_;
        while ($i < @answers) {
            read_request($sock, timeout => 8) or return;
            my $a = $answers[$i++];
            print $sock $a->{raw};
            return if $a->{close};
        }
    });
}

my $ok200 = { raw => "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nok-END" };

# Two requests through /eo/: (first response, second response, backend).
sub two {
    my ($first, %o) = @_;
    my ($port, $be) = scripted($first, $ok200);
    my $r1 = get("/eo/$port/one", $o{method});
    my $r2 = get("/eo/$port/two");
    $be->stop;
    return ($r1, $r2, $be);
}

{
    my ($r1, $r2, $be) = two({ raw => "HTTP/1.1 404 Not Found\r\n"
        . "Content-Type: text/plain\r\nX-Backend: yes\r\n"
        . "Content-Length: 22\r\n\r\nbackend 404 body 12345" });
    is $r1->{status}, 404, 'Content-Length 404: the status';
    is $r1->{body}, "errdoc 404 from httpd\n", '... the ErrorDocument';
    is $r1->{header}{'x-backend'}, undef, "... none of the backend's fields";
    is $r2->{status}, 200, 'the next request';
    is $r2->{body}, 'ok-END', '... its answer';
    is $be->connections, 1, '... on the same backend connection';
    is scalar($be->received), 2, '... which got both requests';
}
{
    my ($r1, $r2, $be) = two({ raw => "HTTP/1.1 500 Internal Server Error\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n"
        . "5\r\nbacke\r\n7\r\nnd body\r\n0\r\n\r\n" });
    is $r1->{status}, 500, 'chunked 500: the status';
    is $r1->{body}, "errdoc 500 from httpd\n", '... the ErrorDocument';
    is $r2->{body}, 'ok-END', 'the next request';
    is $be->connections, 1, '... on the same backend connection';
}
{
    my ($r1, $r2, $be) = two({ close => 1, raw => "HTTP/1.1 500 Oops\r\n"
        . "Content-Type: text/plain\r\n\r\nclose-delimited body" });
    is $r1->{status}, 500, 'close-delimited 500: the status';
    is $r1->{body}, "errdoc 500 from httpd\n", '... the ErrorDocument';
    is $r2->{body}, 'ok-END', 'the next request';
    is $be->connections, 2, '... on a new backend connection';
}
{
    my $big = 'x' x 200_000;
    my ($r1, $r2, $be) = two({ close => 1, raw => "HTTP/1.1 404 Not Found\r\n"
        . "Content-Length: " . length($big) . "\r\n\r\n$big" });
    is $r1->{status}, 404, 'a 200 kB error body: the status';
    is $r1->{body}, "errdoc 404 from httpd\n", '... the ErrorDocument';
    is $r2->{body}, 'ok-END', 'the next request';
    is $be->connections, 2, '... on a new connection: not read to its end';
}
{
    my ($r1, $r2, $be) = two({ raw => "HTTP/1.1 401 Unauthorized\r\n"
        . "WWW-Authenticate: Basic realm=\"backend\"\r\nX-Backend: yes\r\n"
        . "Content-Length: 4\r\n\r\nnope" });
    is $r1->{status}, 401, '401: the status';
    is $r1->{body}, "errdoc 401 from httpd\n", '... the ErrorDocument';
    is $r1->{header}{'www-authenticate'}, 'Basic realm="backend"',
        '... the challenge kept';
    is $r1->{header}{'x-backend'}, undef, '... other fields not';
}
{
    my ($r1, $r2, $be) = two({ raw => "HTTP/1.1 404 Not Found\r\n"
        . "Content-Length: 10\r\n\r\n" }, method => 'HEAD');
    is $r1->{status}, 404, 'HEAD, 404: the status';
    is $r2->{body}, 'ok-END', 'the next request';
    is $be->connections, 1, '... on the same backend connection';
}
{
    my ($port, $be) = scripted({ raw => "HTTP/1.1 499 Client Closed\r\n"
        . "Content-Length: 12\r\n\r\nbackend body" });
    my $r = get("/eo/$port/x");
    $be->stop;
    is $r->{status}, 499, 'a status httpd has no text for: passed on';
    is $r->{body}, 'backend body', '... with the backend\'s body';
}
{
    my ($port, $be) = scripted({ raw => "HTTP/1.1 404 Not Found\r\n"
        . "X-Backend: yes\r\nContent-Length: 12\r\n\r\nbackend body" });
    my $r = get("/pass/$port/x");
    $be->stop;
    is $r->{status}, 404, 'Off (the default): the status';
    is $r->{body}, 'backend body', "... the backend's body, not ErrorDocument";
    is $r->{header}{'x-backend'}, 'yes', "... and its fields";
}

# The proxy's own errors use ErrorDocument in any case.
{
    my $r = get('/own/refused');
    is $r->{status}, 502, 'backend refused: 502';
    is $r->{body}, "errdoc 502 from httpd\n", '... the ErrorDocument';
    $r = get('/own/host/a_b/');
    is $r->{status}, 400, 'bad capture in the host: 400';
    is $r->{body}, "errdoc 400 from httpd\n", '... the ErrorDocument';
    my ($port, $be) = raw_backend(lifetime => 10, handler => sub {
        my ($sock) = @_;
        read_request($sock, timeout => 5) or return;
        sleep 4;                        # no answer within timeout=1
    });
    $r = get("/own/slow/$port");
    $be->stop;
    is $r->{status}, 504, 'no answer in time: 504';
    is $r->{body}, "errdoc 504 from httpd\n", '... the ErrorDocument';
}

# A group with every member down: 503, on an httpd of its own (the
# suite's server counts the members of its groups).
{
    my $dir = File::Temp::tempdir('rvp-eo-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $dir;
    open my $fh, '>', "$dir/503.html" or die "$dir/503.html: $!";
    print $fh "errdoc 503 of the instance\n";
    close $fh;
    chmod 0644, "$dir/503.html";
    my $h = instance(dir => $dir, mpm => 'event', servers => 1, conf => [
        'RevProxyBackend dead http://127.0.0.1:1 http://127.0.0.1:3',
        'RevProxyPass "^/own/dead$" "backend://dead/"',
        'ErrorDocument 503 /503.html',
    ]);
    my $r = $h->get('/own/dead');
    $h->stop;
    is $r->{status}, 503, 'every member down: 503';
    is $r->{body}, "errdoc 503 of the instance\n", '... the ErrorDocument';
    ok defined $r->{header}{'retry-after'}, '... Retry-After kept';
}

done_testing();
