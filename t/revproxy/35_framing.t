# t/revproxy/35_framing.t -- response framing leftovers, each from a raw
# backend scripted byte by byte: repeated equal Content-Length fields reach
# the client as one field; a transfer coding other than chunked is a 502; a
# close-delimited body from an HTTPS backend that ends without close_notify
# is a truncation (the client connection is aborted); interim (1xx) heads:
# ten pass, eleven are a 502, and they never pile up in memory; the tunnel
# behind a 101 moves every byte in order, also when one read of the
# client's connection filters returns more buckets than one writev takes.
use strict;
use warnings;

use Digest::MD5 ();
use Digest::SHA qw(sha1_base64);
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();
use Apache::Test qw(-withtestmore);
use RevProxyTest qw(:all);
use RevProxyTLS qw(tls_backend stop_tls_backend send_all);
use RevProxyInstance qw(instance);

my $front = Apache::Test::vars('rp_front_port');
my $tls = Apache::Test::vars('rp_tls_port');
my $asan = Apache::Test::vars('httpd') =~ /asan/;

# A backend that reads one request, then plays @steps: bytes to send, or a
# number of seconds to wait.
sub scripted {
    my (@steps) = @_;
    return raw_backend(lifetime => 20, handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        for my $s (@steps) {
            if (ref $s eq 'CODE') { $s->($sock) }
            elsif ($s =~ /^\d+(?:\.\d+)?$/) { Time::HiRes::sleep($s) }
            else { print $sock $s or last }
        }
    });
}

sub get_raw {
    my ($port, $path, %o) = @_;
    return raw_http($port, "GET $path HTTP/1.1\r\nHost: front\r\n"
                    . ($o{keepalive} ? '' : "Connection: close\r\n") . "\r\n",
                    timeout => 10, %o);
}

# The final response in $raw: interim heads the proxy passed on skipped.
sub final_response {
    my ($raw) = @_;
    $raw =~ s/\A(?:HTTP\/1\.[01] 1(?!01)\d\d[^\r\n]*\r\n(?:[^\r\n]+\r\n)*\r\n)+//;
    return split_response($raw) // {};
}

# --- repeated equal Content-Length ------------------------------------------------
{
    my ($port, $be) = scripted("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                               . "Content-Length: 5\r\nContent-Length: 5\r\n\r\n",
                               0.2, 'hello');
    my $raw = get_raw($front, "/raw/$port/twice");
    $be->wait(5) or $be->stop;
    my ($head) = split /\r\n\r\n/, $raw, 2;
    my $res = split_response($raw) // {};
    is $res->{status}, 200, 'Content-Length: 5 twice, the body later: 200';
    my @cl = $head =~ /^Content-Length:[ \t]*([^\r]*)/mig;
    is_deeply \@cl, ['5'], '... exactly one Content-Length field reaches the client';
    is $res->{body}, 'hello', '... and the body';
}

# --- transfer codings other than chunked ---------------------------------------------
for my $case (
    ['Transfer-Encoding: gzip, chunked',
     "Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
    ['Transfer-Encoding: gzip, then Transfer-Encoding: chunked',
     "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"],
    ['Transfer-Encoding: gzip (close-delimited)',
     "Transfer-Encoding: gzip\r\nConnection: close\r\n\r\nhello"],
) {
    my ($what, $rest) = @$case;
    my ($port, $be) = scripted("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n$rest");
    my $off = error_log_offset();
    my $res = split_response(get_raw($front, "/raw/$port/te")) // {};
    $be->wait(5) or $be->stop;
    is $res->{status}, 502, "$what from the backend: 502";
    like error_log_wait($off, qr/RVP\d+: /, 2) // '', qr/RVP\d+: .*answered 502/,
         '... logged';
}

# --- close-delimited HTTPS bodies --------------------------------------------------
SKIP: {
    skip 'mod_ssl is not loaded', 4 unless Apache::Test::need_module('ssl');
    for my $notify (1, 0) {
        my $body = join '', map { sprintf "%05d-close-delimited\n", $_ } 1 .. 400;
        my ($port, $be) = tls_backend(lifetime => 20, handler => sub {
            my ($ssl) = @_;
            read_request($ssl) or return;
            send_all($ssl, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                           . substr($body, 0, 4000));
            Time::HiRes::sleep(0.1);
            send_all($ssl, substr $body, 4000);
            Time::HiRes::sleep(0.1);
            unless ($notify) {
                # TCP FIN without the TLS close_notify: what a truncation
                # by an attacker on the path looks like.
                open my $raw, '+<&=', fileno($ssl) or die "dup: $!";
                shutdown $raw, 2;
            }
            # (else the handler's close sends close_notify, then FIN)
        });
        # HTTP/1.1 and keep-alive: the client's framing is chunked, so a
        # complete response ends with the last chunk.
        my ($raw, $how) = get_raw($tls, "/tls/$port/body", keepalive => 1,
                                  wait_for => qr/\r\n0\r\n\r\n\z/);
        stop_tls_backend($be);
        my $res = split_response($raw) // {};
        if ($notify) {
            is $how, 'match', 'close-delimited HTTPS body ended with close_notify: complete';
            is $res->{body}, $body, '... byte-exact';
        }
        else {
            isnt $how, 'match', 'close-delimited HTTPS body ended without close_notify: '
                               . 'no complete response reaches the client';
            is $how, 'eof', '... the client connection is aborted';
        }
    }
}

# --- interim (1xx) heads -------------------------------------------------------------
# $n interim heads of 100 fields each, values of $size bytes.
sub interim {
    my ($n, $size) = @_;
    my $v = 'h' x $size;
    return join '', map {
        ($_ % 2 ? "HTTP/1.1 100 Continue\r\n" : "HTTP/1.1 103 Early Hints\r\n")
        . join('', map { "X-Hint-$_: $v\r\n" } 1 .. 100) . "\r\n"
    } 1 .. $n;
}
{
    my ($port, $be) = scripted(interim(10, 20),
        "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
    my $res = final_response(get_raw($front, "/raw/$port/ten"));
    $be->wait(5) or $be->stop;
    is $res->{status}, 200, '10 interim heads of 100 fields, then 200: the 200 reaches the client';
    is $res->{body}, 'done', '... with its body';
}
{
    my ($port, $be) = scripted(interim(11, 20),
        "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone");
    my $res = final_response(get_raw($front, "/raw/$port/eleven"));
    $be->wait(5) or $be->stop;
    is $res->{status}, 502, '11 interim heads: 502';
}
SKIP: {
    # Interim heads never accumulate memory: $n requests at once, each
    # after 10 heads of 100 fields of 8000 bytes (8 MB of heads), held in
    # their body (the 200 head and half of the body reached the client)
    # while the child's RSS is measured.  Kept in the request's pool, the
    # heads would add 8 MB per request.
    my $n = 8;
    my $kid = worker_pid();
    skip 'no httpd child found', 2 unless $kid;
    my $rss = sub {
        open my $st, '<', "/proc/$kid/status" or return 0;
        my ($kb) = map { /^VmRSS:\s+(\d+)/ ? $1 : () } <$st>;
        return $kb;
    };
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    my $heads = interim(10, 8000);
    my ($port, $be) = raw_backend(conns => $n, concurrent => 1, lifetime => 30,
                                  handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        print $sock $heads, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello";
        my $end = Time::HiRes::time() + 15;
        Time::HiRes::sleep(0.05) until -e "$dir/go" || Time::HiRes::time() > $end;
        print $sock 'world';
    });
    my $before = $rss->();
    my @c = map {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $front,
                                      Proto => 'tcp', Timeout => 5) or die "connect: $!";
        syswrite $s, "GET /raw/$port/mem$_ HTTP/1.1\r\nHost: front\r\nConnection: close\r\n\r\n";
        { sock => $s, buf => '' };
    } 1 .. $n;
    # Read from all of them until $done is true for each (or EOF).
    my $pump = sub {
        my ($done, $timeout) = @_;
        my $end = Time::HiRes::time() + $timeout;
        while (grep { !$done->($_) } @c) {
            my $left = $end - Time::HiRes::time();
            last if $left <= 0;
            my $sel = IO::Select->new(map { $_->{sock} } grep { !$_->{eof} } @c);
            last unless $sel->count;
            for my $s ($sel->can_read($left)) {
                my ($c) = grep { $_->{sock} == $s } @c;
                my $got = sysread $s, $c->{buf}, 1 << 20, length $c->{buf};
                $c->{eof} = 1 unless $got;
            }
        }
    };
    $pump->(sub { $_[0]{buf} =~ /^HTTP\/1\.1 200 .*?\r\n\r\nhello\z/ms || $_[0]{eof} }, 20);
    my $held = grep { $_->{buf} =~ /^HTTP\/1\.1 200 .*?\r\n\r\nhello\z/ms } @c;
    my $during = $rss->();
    open my $go, '>', "$dir/go" or die "$dir/go: $!";
    close $go;
    $pump->(sub { $_[0]{eof} }, 10);
    my $complete = grep { $_->{buf} =~ /\r\n\r\nhelloworld\z/ } @c;
    close $_->{sock} for @c;
    $be->wait(5) or $be->stop;
    is "$held/$complete", "$n/$n", "$n requests after 10 interim heads of 100 fields of 8000 bytes: "
                                 . 'each held in its body, then complete';
    # (Under AddressSanitizer RSS grows by design: freed memory waits in
    # its quarantine.)
    ok $asan || $during - $before < 20 * 1024,
       "... the interim heads did not pile up in memory: RSS $before kB -> $during kB"
       . ($asan ? ' (not judged under ASan)' : '');
}

# --- the tunnel -----------------------------------------------------------------------
# A tunnel backend: the 101, then it reads until the client's half-close
# and answers "LENGTH MD5\n" of everything it received.
sub tunnel_backend {
    return raw_backend(lifetime => 30, handler => sub {
        my ($sock) = @_;
        my $req = read_request($sock) or return;
        my $key = $req->{header}{'sec-websocket-key'} // '';
        print $sock "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  . "Connection: Upgrade\r\nSec-WebSocket-Accept: "
                  . sha1_base64($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . "=\r\n\r\n";
        my $md5 = Digest::MD5->new;
        my $len = 0;
        my $first = ${*$sock}{rvp_buf} // '';
        $md5->add($first);
        $len += length $first;
        my $end = Time::HiRes::time() + 20;
        my $sel = IO::Select->new($sock);
        while ($sel->can_read($end - Time::HiRes::time())) {
            my $n = sysread $sock, my $buf, 65536;
            last unless $n;
            $md5->add($buf);
            $len += $n;
        }
        print $sock "$len " . $md5->hexdigest . "\n";
    });
}

# Through $port: upgrade, send $data in writes of many sizes, half-close,
# and return (how the 101 went, the backend's "LENGTH MD5").
sub tunnel_send {
    my ($port, $path, $data) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5) or die "connect: $!";
    local $SIG{PIPE} = 'IGNORE';
    syswrite $s, "GET $path HTTP/1.1\r\nHost: front\r\nUpgrade: websocket\r\n"
               . "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
               . "Sec-WebSocket-Version: 13\r\n\r\n";
    my ($head, $sel) = ('', IO::Select->new($s));
    while ($head !~ /\r\n\r\n/ && $sel->can_read(5)) {
        sysread($s, $head, 4096, length $head) or last;
    }
    my ($off, $i) = (0, 0);
    my @sizes = (1, 7, 50, 1000, 8000, 65536, 3, 16384, 100000);
    while ($off < length $data) {
        my $n = syswrite $s, $data, $sizes[$i++ % @sizes], $off;
        last unless $n;
        $off += $n;
    }
    shutdown $s, 1;
    my $reply = '';
    while ($sel->can_read(15)) {
        sysread($s, $reply, 4096, length $reply) or last;
    }
    close $s;
    ($head) = split /\r\n/, $head;
    $reply =~ s/^.*?\r\n\r\n//s;
    chomp $reply;
    return ($head // '', $reply);
}

my $data = join '', map { sprintf "%07d:%s\n", $_, 'tunnel' x 10 } 1 .. 50000;  # ~3.4 MB
{
    my ($port, $be) = tunnel_backend();
    my ($status, $reply) = tunnel_send($front, "/ws/$port/bulk", $data);
    $be->wait(5) or $be->stop;
    like $status, qr{^HTTP/1\.1 101 }, 'tunnel: 101';
    is $reply, length($data) . ' ' . Digest::MD5::md5_hex($data),
       '... ' . length($data) . ' bytes in writes of many sizes reach the backend, in order';
}
SKIP: {
    # A connection input filter that returns 50-byte buckets (mod_perl, in a
    # separate httpd): one read of the client connection gives the tunnel
    # far more than 64 buckets.
    my $modperl = '/usr/lib/apache2/modules/mod_perl.so';
    skip 'mod_perl is not installed', 2 unless -e $modperl;
    my $lib = Apache::Test::vars('t_dir') . '/lib';
    my $h = eval {
        instance(mpm => 'prefork', servers => 1, conf => [
            qq{LoadModule perl_module "$modperl"},
            "PerlSwitches -I$lib",
            'PerlModule RevProxySplitInput',
            'PerlInputFilterHandler RevProxySplitInput::handler',
            'RevProxyPass "^/ws/(\d+)/(.*)$" "http://127.0.0.1:$1/$2" upgrade=websocket timeout=5',
        ]);
    };
    skip "the mod_perl httpd did not start: $@", 2 unless $h;
    my $small = substr $data, 0, 300_000;
    my ($port, $be) = tunnel_backend();
    my ($status, $reply) = tunnel_send($h->port, "/ws/$port/split", $small);
    $be->wait(5) or $be->stop;
    like $status, qr{^HTTP/1\.1 101 }, 'tunnel behind a filter that returns 50-byte buckets: 101';
    is $reply, length($small) . ' ' . Digest::MD5::md5_hex($small),
       '... every byte reaches the backend, in order';
    $h->stop;
}

# The child is alive and well after all that.
ok !error_log_wait(0, qr/child pid \d+ exit signal|AH00052/, 0.1), 'no child crashed';

done_testing();
