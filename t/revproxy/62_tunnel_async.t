# t/revproxy/62_tunnel_async.t -- upgraded tunnels that hold no thread
# while idle (the suite runs the event MPM: one child, ThreadsPerChild 64,
# t/conf/core.conf.in).  More idle tunnels than the child has threads stay
# open, a plain request is answered meanwhile, and afterwards every tunnel
# still carries bytes both ways; a tunnel resumes when the backend speaks
# first; the idle limit still closes a silent one; half-close from either
# side; a clean close reaches the backend; a wss backend's bursts of TLS
# records.
#
# The backend is one process multiplexing every connection (not a process
# per tunnel): it answers 101 and then, by path,
#   /echo..     echoes; "later\n" makes it send "late\n" one second on;
#               at EOF from the proxy it sends "eof-seen\n", records it and
#               closes;
#   /beclose..  sends "from-backend\n", shuts its sending side, and records
#               what still arrives until EOF.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest ();
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use POSIX ();
use Socket qw(SHUT_WR);
use Time::HiRes qw(time sleep);
use RevProxyTLS qw(tls_backend stop_tls_backend);
use RevProxyWS qw(ws_echo_handler ws_connect ws_send ws_recv ws_eof);

# 64 threads; the event MPM accepts up to 64 + 2 x idle threads (its
# default AsyncRequestWorkerFactor) connections per child: 150 tunnels
# are more than twice the threads and leave room for the plain request.
my $TUNNELS = 150;

Apache::TestRequest::module('rp_front');
my $front = Apache::Test::vars('rp_front_port');

my $dir = File::Temp::tempdir('rvp-tunnel-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($port, $pid) = mux_backend($dir, 90);

sub record {
    my ($name, $data) = @_;
    open my $fh, '>', "$dir/$name.tmp" or return;
    print $fh $data;
    close $fh;
    rename "$dir/$name.tmp", "$dir/$name";
}

sub recorded {
    my ($name, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        if (open my $fh, '<', "$dir/$name") {
            local $/;
            return scalar <$fh>;
        }
        sleep 0.05;
    }
    return undef;
}

# The backend: a select() loop over every connection, for $lifetime s.
sub mux_backend {
    my ($d, $lifetime) = @_;
    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                       Listen => 256, ReuseAddr => 1)
        or die "listen: $!";
    my $p = $listen->sockport;
    STDOUT->flush;
    STDERR->flush;
    my $kid = fork;
    die "fork: $!" unless defined $kid;
    if ($kid) {
        close $listen;
        return ($p, $kid);
    }
    $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new($listen);
    my (%st, @timers);
    my $end = time + $lifetime;
    while (time < $end) {
        my $wait = 0.5;
        for my $t (@timers) {
            my $w = $t->[0] - time;
            $wait = $w if $w < $wait;
        }
        $wait = 0 if $wait < 0;
        my @ready = $sel->can_read($wait);
        my $now = time;
        for my $t (grep { $_->[0] <= $now } @timers) {
            syswrite $t->[1], $t->[2] if $st{$t->[1]};
        }
        @timers = grep { $_->[0] > $now } @timers;
        for my $s (@ready) {
            if ($s == $listen) {
                my $c = $listen->accept or next;
                $st{$c} = { head => '', mode => undef, got => '' };
                $sel->add($c);
                next;
            }
            my $c = $st{$s} or next;
            my $n = sysread $s, my $buf, 65536;
            if (!$n) {
                if (($c->{mode} // '') eq 'echo') {
                    syswrite $s, "eof-seen\n";
                    record("eof-$c->{tag}", 'eof');
                }
                elsif (($c->{mode} // '') eq 'beclose') {
                    record("got-$c->{tag}", $c->{got});
                }
                $sel->remove($s);
                delete $st{$s};
                close $s;
                next;
            }
            if (!defined $c->{mode}) {
                $c->{head} .= $buf;
                next unless $c->{head} =~ /\r\n\r\n/;
                my ($path) = $c->{head} =~ m{^GET /(\S*)};
                (undef, $buf) = split /\r\n\r\n/, $c->{head}, 2;
                $path //= '';
                ($c->{mode}, $c->{tag}) = $path =~ /^(echo|beclose)(\S*)/
                    ? ($1, $2) : ('echo', $path);
                syswrite $s, "HTTP/1.1 101 Switching Protocols\r\n"
                           . "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
                if ($c->{mode} eq 'beclose') {
                    syswrite $s, "from-backend\n";
                    shutdown $s, SHUT_WR;
                }
                next unless length $buf;
            }
            if ($c->{mode} eq 'beclose') {
                $c->{got} .= $buf;
                next;
            }
            push @timers, [time + 1, $s, "late\n"] if $buf eq "later\n";
            syswrite $s, $buf;
        }
    }
    POSIX::_exit(0);
}

# An upgrade through the front; the socket once the 101 head is read.
sub tunnel {
    my ($path) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $front,
                                  Timeout => 5) or return;
    print $s "GET $path HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
           . "Connection: Upgrade\r\n\r\n";
    my $head = '';
    my $sel = IO::Select->new($s);
    while ($head !~ /\r\n\r\n/ && $sel->can_read(5)) {
        sysread($s, $head, 1, length $head) or last;
    }
    return $head =~ m{^HTTP/1\.1 101 } ? $s : undef;
}

# Read until $want bytes arrived (or EOF, or $timeout s).
sub read_bytes {
    my ($s, $want, $timeout) = @_;
    my ($got, $sel) = ('', IO::Select->new($s));
    my $deadline = time + $timeout;
    while (length $got < $want) {
        my $left = $deadline - time;
        last if $left <= 0 || !$sel->can_read($left);
        sysread($s, $got, 65536, length $got) or last;
    }
    return $got;
}

# True when the peer closes within $timeout s (bytes before EOF in $$rest).
sub eof_within {
    my ($s, $timeout, $rest) = @_;
    my $sel = IO::Select->new($s);
    my $deadline = time + $timeout;
    my $got = '';
    while (1) {
        my $left = $deadline - time;
        return 0 if $left <= 0 || !$sel->can_read($left);
        my $n = sysread $s, $got, 65536, length $got;
        if (!$n) {
            $$rest = $got if $rest;
            return 1;
        }
    }
}

{
    my @t = map { tunnel("/wsany/$port/echo-many$_") } 1 .. $TUNNELS;
    my $open = grep { defined } @t;
    is $open, $TUNNELS, "$TUNNELS idle tunnels open at once (64 threads)";
    sleep 0.5;
    my $ua = Apache::TestRequest::user_agent(keep_alive => 0, timeout => 10);
    my $res = $ua->get("http://127.0.0.1:$front/b/fallback/page.txt");
    is $res->code, 200, '... a plain request is answered meanwhile';

    my $echoed = 0;
    for my $i (0 .. $#t) {
        next unless $t[$i];
        syswrite $t[$i], "ping $i\n";
    }
    for my $i (0 .. $#t) {
        next unless $t[$i];
        $echoed++ if read_bytes($t[$i], length("ping $i\n"), 5) eq "ping $i\n";
    }
    is $echoed, $TUNNELS, '... and afterwards every one carries bytes both ways';

    syswrite $t[0], "later\n";
    is read_bytes($t[0], 6, 5), "later\n", 'echo of a request for late data';
    is read_bytes($t[0], 5, 5), "late\n",
       'the backend speaks first into an idle tunnel: it reaches the client';

    my $big = join '', map { chr($_ % 251) } 1 .. 1024 * 1024;
    syswrite $t[1], $big;       # blocking socket: writes all of it
    ok read_bytes($t[1], length $big, 20) eq $big,
       '1 MiB through a resumed tunnel, byte-exact';

    # A peer that echoes while it is sent to: the proxy must take turns
    # between the sides, or both ends wait on each other's full buffers.
    my $total = 16 * 1024 * 1024;
    my ($sent, $back, $same) = (0, 0, 1);
    my $chunk = join '', map { chr($_ % 241) } 1 .. 65536;
    my $s = $t[2];
    $s->blocking(0);
    my $deadline = time + 60;
    while ($back < $total && time < $deadline) {
        my ($r, $w) = IO::Select->select(IO::Select->new($s),
                                         $sent < $total ? IO::Select->new($s) : undef,
                                         undef, 1);
        if ($w && @$w) {
            my $off = $sent % 65536;
            my $n = syswrite $s, $chunk, 65536 - $off, $off;
            $sent += $n if $n;
        }
        if ($r && @$r) {
            my $n = sysread $s, my $buf, 1 << 20;
            last unless $n;
            $same &&= $buf eq substr($chunk x (2 + length($buf) / 65536),
                                     $back % 65536, length $buf);
            $back += $n;
        }
    }
    $s->blocking(1);
    is $back, $total, '16 MiB echoed while still being sent (the sides take turns)';
    ok $same, '... byte-exact';

    close $_ for grep { defined } @t;
    ok defined recorded("eof--many1", 10),
       'a client that closes: the backend sees EOF';
}
{
    my $s = tunnel("/ws/$port/echo-silent");
    ok $s, 'a tunnel under a rule with timeout=2 opens';
    ok eof_within($s, 15), '... and the idle limit closes it while it is parked';
}
{
    my $s = tunnel("/wsany/$port/echo-half");
    syswrite $s, "abc\n";
    is read_bytes($s, 4, 5), "abc\n", 'echo before the client half-closes';
    shutdown $s, SHUT_WR;
    my $rest;
    ok eof_within($s, 10, \$rest), 'client half-close: the tunnel ends after the backend closes';
    is $rest, "eof-seen\n", '... and what the backend sent after the EOF still arrived';
}
{
    my $s = tunnel("/wsany/$port/beclose-b1");
    ok $s, 'a tunnel to a backend that half-closes';
    my $rest;
    ok eof_within($s, 10, \$rest), '... the client sees EOF';
    is $rest, "from-backend\n", '... after the backend\'s bytes';
    syswrite $s, "late-from-client\n";
    shutdown $s, SHUT_WR;
    is recorded('got--b1', 10), "late-from-client\n",
       '... and what the client sends afterwards still reaches the backend';
}
{
    # wss: TLS records the backend sent in one burst are drained before the
    # tunnel is parked (poll cannot see bytes OpenSSL already holds).
    my ($tport, $tbe) = tls_backend(cert => 'localhost', lifetime => 30,
                                    handler => ws_echo_handler(lifetime => 30));
    my $ws = ws_connect("/wss/$tport/async", port => Apache::Test::vars('rp_tls_port'));
    like $ws->{head}, qr{^HTTP/1\.1 101 }, 'wss: a tunnel to an HTTPS backend';
    my $big = join '', map { chr($_ % 253) } 1 .. 512 * 1024;
    ws_send($ws, $big, 'binary');
    my ($got) = ws_recv($ws, 20);
    ok defined $got && $got eq $big, '... 512 KiB echoed byte-exact over TLS';
    sleep 1;
    ws_send($ws, 'tick 3');
    is_deeply [map { (ws_recv($ws, 5))[0] } 1 .. 3], ['tick 1', 'tick 2', 'tick 3'],
        '... messages the backend sends into the idle tunnel, in order';
    ws_send($ws, '', 'close');
    is_deeply [ws_recv($ws, 5)], ['', 'close'], '... close answered';
    ok ws_eof($ws, 5), '... and the connection ends';
    stop_tls_backend($tbe);
}
{
    my $res = Apache::TestRequest::GET('/b/fallback/page.txt');
    is $res->code, 200, 'the server answers after all tunnels ended';
}

kill 'TERM', $pid;
waitpid $pid, 0;
done_testing();
