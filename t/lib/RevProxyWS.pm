package RevProxyWS;
# t/lib/RevProxyWS.pm -- a WebSocket client and an echo backend for the
# tests, on Protocol::WebSocket (Debian libprotocol-websocket-perl).
#
#   my ($port, $be) = ws_backend(conns => 1);        # echo; "tick" on request
#   my $ws = ws_connect("/ws/$port/chat") or die;    # through the front
#   ws_send($ws, 'hello');  my ($msg, $type) = ws_recv($ws, 5);
use strict;
use warnings;

use Exporter 'import';
use Digest::SHA qw(sha1_base64);
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();
use Protocol::WebSocket::Frame ();
use Protocol::WebSocket::Handshake::Client ();

use Apache::Test ();
use RevProxyTest qw(raw_backend read_request);

our @EXPORT_OK = qw(ws_backend ws_echo_handler ws_connect ws_send ws_recv ws_eof);

my $MAX = 4 * 1024 * 1024;

# An echo server: every message comes back as it came; a text message
# "tick N" makes it send N messages of its own after 200 ms each; "bye"
# makes it close (close frame, then the socket).  With idle => S it just
# sits S seconds after the handshake.
sub ws_backend {
    my (%o) = @_;
    return raw_backend(lifetime => $o{lifetime} // 60, conns => $o{conns} // 1,
                       concurrent => 1, handler => ws_echo_handler(%o));
}

# The echo server's connection handler, for raw_backend() or, with a TLS
# socket, RevProxyTLS::tls_backend() (wss through the proxy).
sub ws_echo_handler {
    my (%o) = @_;
    return sub {
        my ($sock) = @_;
        my $req = read_request($sock) or return;
        my $key = $req->{header}{'sec-websocket-key'} // '';
        my $accept = sha1_base64($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . '=';
        print $sock "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  . "Connection: Upgrade\r\nSec-WebSocket-Accept: $accept\r\n\r\n";
        if ($o{idle}) { sleep $o{idle}; return }
        my $frame = Protocol::WebSocket::Frame->new(max_payload_size => $MAX);
        my $sel = IO::Select->new($sock);
        my $deadline = time + ($o{lifetime} // 60);
        # A TLS socket may hold decrypted bytes that select() cannot see.
        my $ready = sub {
            ($sock->can('pending') && $sock->pending)
                || $sel->can_read($deadline - time);
        };
        while (time < $deadline && $ready->()) {
            my $n = sysread $sock, my $buf, 65536;
            last unless $n;
            $frame->append($buf);
            while (defined(my $msg = $frame->next_bytes)) {
                my $type = $frame->is_binary ? 'binary'
                         : $frame->is_close ? 'close' : 'text';
                if ($type eq 'close') {
                    print $sock Protocol::WebSocket::Frame->new(type => 'close')->to_bytes;
                    return;
                }
                if ($type eq 'text' && $msg =~ /^tick (\d+)$/) {
                    for my $i (1 .. $1) {
                        Time::HiRes::sleep(0.2);
                        print $sock Protocol::WebSocket::Frame->new("tick $i")->to_bytes;
                    }
                    next;
                }
                if ($type eq 'text' && $msg eq 'bye') {
                    print $sock Protocol::WebSocket::Frame->new(type => 'close')->to_bytes;
                    return;
                }
                print $sock Protocol::WebSocket::Frame->new(buffer => $msg, type => $type,
                                                          max_payload_size => $MAX)->to_bytes;
            }
        }
    };
}

# Handshake through the test server's port (or $o{port}); returns a handle
# with the response head in ->{head}, or undef.
sub ws_connect {
    my ($path, %o) = @_;
    my $port = $o{port} // Apache::Test::vars('rp_front_port');
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                     Timeout => 5) or return;
    my $hs = Protocol::WebSocket::Handshake::Client->new(url => "ws://127.0.0.1:$port$path");
    print $sock $hs->to_string;
    my ($head, $sel) = ('', IO::Select->new($sock));
    while ($head !~ /\r\n\r\n/ && $sel->can_read($o{timeout} // 5)) {
        sysread($sock, $head, 4096, length $head) or last;
    }
    my ($h, $rest) = split /\r\n\r\n/, $head, 2;
    my $ws = { sock => $sock, head => $h // $head, sel => $sel,
               frame => Protocol::WebSocket::Frame->new(max_payload_size => $MAX) };
    $ws->{frame}->append($rest) if defined $rest && length $rest;
    return $ws;
}

sub ws_send {
    my ($ws, $msg, $type) = @_;
    my $f = Protocol::WebSocket::Frame->new(buffer => $msg, type => $type // 'text',
                                            masked => 1, max_payload_size => $MAX);
    local $SIG{PIPE} = 'IGNORE';
    my $bytes = $f->to_bytes;
    while (length $bytes) {
        my $n = syswrite $ws->{sock}, $bytes;
        return 0 unless $n;
        substr($bytes, 0, $n) = '';
    }
    return 1;
}

# ($message, $type) within $timeout seconds; () on timeout or EOF.
sub ws_recv {
    my ($ws, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 5);
    while (1) {
        my $msg = $ws->{frame}->next_bytes;
        if (defined $msg) {
            my $f = $ws->{frame};
            return ($msg, $f->is_binary ? 'binary' : $f->is_close ? 'close' : 'text');
        }
        my $left = $deadline - Time::HiRes::time();
        return () if $left <= 0 || !$ws->{sel}->can_read($left);
        my $n = sysread $ws->{sock}, my $buf, 65536;
        unless ($n) { $ws->{eof} = 1; return () }
        $ws->{frame}->append($buf);
    }
}

# True once the connection is closed by the other side within $timeout.
sub ws_eof {
    my ($ws, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 5);
    while (!$ws->{eof}) {
        my $left = $deadline - Time::HiRes::time();
        return 0 if $left <= 0 || !$ws->{sel}->can_read($left);
        my $n = sysread $ws->{sock}, my $buf, 65536;
        $ws->{eof} = 1 unless $n;
    }
    return 1;
}

1;
