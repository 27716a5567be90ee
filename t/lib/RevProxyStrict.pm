package RevProxyStrict;
# t/lib/RevProxyStrict.pm -- a strict HTTP/1.1 backend for the request body
# tests, and a raw client that sends a request in steps.
#
# The backend is a raw_backend() (t/lib/RevProxyTest.pm) that serves every
# request of a connection the way a careful origin server does: each
# request is parsed by exactly the framing its head announces, so bytes
# beyond that framing become the next request, as they would on a real
# server.  Each step is recorded the moment it happens:
#
#   my ($port, $be) = strict_backend(early => 1, idle => 1);
#   ...
#   request_lines($be)    # every request line it parsed, in order
#   requests($be)         # complete requests: { line, method, uri, head,
#                         #   headers, header, framing, body, conn }
#   short_bodies($be)     # bodies that ended early: { why => 'eof' or
#                         #   'timeout', framing, want, got, conn }
#   wait_body($be, 1000, 2)   # true once 1000 body bytes have arrived
#                             # (waits at most 2 s)
#
# framing is 'chunked', 'length' or 'none'; a Transfer-Encoding other than
# a lone "chunked" is recorded as framing 'bad' and ends the connection.
# Every request gets 200 with "seen URI LENGTH\n" (early => 1: as soon as
# its head is parsed, before its body is read, as servers that answer
# early do; they still read the body to find the next request).  Reads give
# up after `timeout` seconds per request, and after `idle` seconds of
# waiting for a next request on the connection.
#
#   my $c = client($port);            # 127.0.0.1, the test server's port
#   $c->send($bytes);                 # written whole
#   $c->half_close;
#   my ($raw, $how) = $c->read_all(timeout => 5, wait_for => qr/.../);
use strict;
use warnings;

use Exporter 'import';
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();

use RevProxyTest ();

our @EXPORT_OK = qw(strict_backend request_lines requests short_bodies
                    body_progress wait_body wait_event client);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

sub strict_backend {
    my (%o) = (early => 0, idle => 1, timeout => 5, conns => 1,
               lifetime => 20, @_);
    my %rb = map { exists $o{$_} ? ($_ => $o{$_}) : () }
             qw(conns lifetime concurrent);
    return RevProxyTest::raw_backend(%rb, handler => sub {
        my ($sock, $n) = @_;
        serve_connection($sock, %o);
    });
}

# Appends what arrives on $sock to $$buf: 1, 0 at EOF, undef at $deadline.
sub fill {
    my ($sock, $buf, $deadline) = @_;
    my $left = $deadline - Time::HiRes::time();
    return undef if $left <= 0 || !IO::Select->new($sock)->can_read($left);
    my $n = sysread $sock, $$buf, 65536, length $$buf;
    return $n ? 1 : 0;
}

sub answer {
    my ($sock, $uri, $len) = @_;
    my $body = "seen $uri $len\n";
    local $SIG{PIPE} = 'IGNORE';
    print $sock "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
              . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
}

sub serve_connection {
    my ($sock, %o) = @_;
    my $buf = '';
    my $first = 1;
    while (1) {
        # The head.
        my $deadline = Time::HiRes::time() + ($first ? $o{timeout} : $o{idle});
        my $end;
        until (($end = index $buf, "\r\n\r\n") >= 0) {
            my $r = fill($sock, \$buf, $deadline);
            next if $r;
            RevProxyTest::record(event => 'end', partial => $buf,
                                 why => defined $r ? 'eof' : 'timeout');
            return;
        }
        $first = 0;
        my $head = substr $buf, 0, $end + 4, '';
        my ($line, @lines) = split /\r\n/, $head;
        RevProxyTest::record(event => 'line', line => $line);
        my ($method, $uri) = split / /, $line;
        my @headers = map { /^([^:]*):[ \t]*(.*?)[ \t]*$/s ? [$1, $2] : [$_, ''] }
                      @lines;
        my %h;
        for (@headers) {
            my $k = lc $_->[0];
            $h{$k} = defined $h{$k} ? "$h{$k}, $_->[1]" : $_->[1];
        }
        my $framing = defined $h{'transfer-encoding'}
                          ? (lc $h{'transfer-encoding'} eq 'chunked'
                             ? 'chunked' : 'bad')
                    : defined $h{'content-length'} ? 'length' : 'none';
        my $want = $framing eq 'length' ? $h{'content-length'} : undef;
        my $req = { line => $line, method => $method, uri => $uri,
                    head => $head, headers => \@headers, header => \%h,
                    framing => $framing, body => '' };
        if ($framing eq 'bad'
            || ($framing eq 'length' && $want !~ /^\d+$/)) {
            RevProxyTest::record(event => 'bad', request => $req);
            return;
        }
        answer($sock, $uri, $want // '?') if $o{early};

        # The body, by exactly that framing.
        $deadline = Time::HiRes::time() + $o{timeout};
        my $got = 0;
        my $short = sub {
            my ($r) = @_;
            RevProxyTest::record(event => 'short', framing => $framing,
                                 want => $want, got => length $req->{body},
                                 uri => $uri,
                                 why => defined $r ? 'eof' : 'timeout');
        };
        my $progress = sub {
            return if length $req->{body} == $got;
            $got = length $req->{body};
            RevProxyTest::record(event => 'body', got => $got, uri => $uri);
        };
        if ($framing eq 'length') {
            while (1) {
                my $take = $want - length $req->{body};
                $req->{body} .= substr $buf, 0, $take, '';
                $progress->();
                last if length $req->{body} == $want;
                my $r = fill($sock, \$buf, $deadline);
                unless ($r) { $short->($r); return }
            }
        }
        elsif ($framing eq 'chunked') {
            my $size;           # undef: at a chunk-size line
            my $done = 0;
            until ($done) {
                if (!defined $size) {
                    my $i = index $buf, "\r\n";
                    if ($i >= 0) {
                        my $l = substr $buf, 0, $i + 2, '';
                        unless ($l =~ /^([0-9a-fA-F]+)(?:;[^\r\n]*)?\r\n$/) {
                            RevProxyTest::record(event => 'bad',
                                                 error => "chunk size '$l'",
                                                 request => $req);
                            return;
                        }
                        $size = hex $1;
                        if ($size == 0) {
                            # Trailer fields, then the empty line.
                            while (1) {
                                my $j = index $buf, "\r\n";
                                if ($j >= 0) {
                                    my $t = substr $buf, 0, $j + 2, '';
                                    if ($t eq "\r\n") { $done = 1; last }
                                    next;
                                }
                                my $r = fill($sock, \$buf, $deadline);
                                unless ($r) { $short->($r); return }
                            }
                            last;
                        }
                        next;
                    }
                }
                elsif (length $buf >= $size + 2) {
                    $req->{body} .= substr $buf, 0, $size, '';
                    my $crlf = substr $buf, 0, 2, '';
                    if ($crlf ne "\r\n") {
                        RevProxyTest::record(event => 'bad', request => $req,
                                             error => 'no CRLF after chunk data');
                        return;
                    }
                    $size = undef;
                    $progress->();
                    next;
                }
                elsif (length $buf) {
                    # Part of a chunk: count it as it comes.
                    my $part = substr $buf, 0, $size, '';
                    $req->{body} .= $part;
                    $size -= length $part;
                    $progress->();
                }
                my $r = fill($sock, \$buf, $deadline);
                unless ($r) { $short->($r); return }
            }
        }
        RevProxyTest::record(event => 'request', request => $req);
        answer($sock, $uri, length $req->{body}) unless $o{early};
    }
}

# ---- what the backend recorded ------------------------------------------------

sub request_lines {
    return map { $_->{line} } grep { $_->{event} eq 'line' }
        RevProxyTest::events($_[0]);
}

sub requests {
    return map { { %{ $_->{request} }, conn => $_->{conn} } }
        grep { $_->{event} eq 'request' } RevProxyTest::events($_[0]);
}

sub short_bodies {
    return grep { $_->{event} eq 'short' } RevProxyTest::events($_[0]);
}

# The largest body byte count reported so far (all requests).
sub body_progress {
    my ($be) = @_;
    my $max = 0;
    for (grep { $_->{event} eq 'body' } RevProxyTest::events($be)) {
        $max = $_->{got} if $_->{got} > $max;
    }
    return $max;
}

# wait_event($be, sub { my @events = @_; ... }, $timeout): true once the
# code returns true for the events recorded so far.
sub wait_event {
    my ($be, $code, $timeout) = @_;
    my $end = Time::HiRes::time() + ($timeout // 5);
    while (1) {
        return 1 if $code->(RevProxyTest::events($be));
        return 0 if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.02);
    }
}

sub wait_body {
    my ($be, $bytes, $timeout) = @_;
    return wait_event($be, sub {
        grep { $_->{event} eq 'body' && $_->{got} >= $bytes } @_;
    }, $timeout);
}

# ---- a raw client ------------------------------------------------------------------

sub client {
    my ($port) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $port, Proto => 'tcp',
                                     Timeout => 5)
        or die "client: connect 127.0.0.1:$port: $!\n";
    return bless { sock => $sock }, 'RevProxyStrict::Client';
}

package RevProxyStrict::Client;

sub send {
    my ($c, $bytes) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite $c->{sock}, $bytes, length($bytes) - $off, $off;
        return 0 unless $n;
        $off += $n;
    }
    return 1;
}

sub half_close { shutdown $_[0]{sock}, 1 }

# What comes back until EOF, `timeout` seconds (5), or a match of
# `wait_for`; in list context also how it ended: 'eof', 'timeout', 'match'.
sub read_all {
    my ($c, %o) = @_;
    my $deadline = Time::HiRes::time() + ($o{timeout} // 5);
    my ($out, $how) = ($c->{pending} // '', 'timeout');
    $c->{pending} = '';
    my $sel = IO::Select->new($c->{sock});
    while (1) {
        if ($o{wait_for} && $out =~ $o{wait_for}) { $how = 'match'; last }
        my $left = $deadline - Time::HiRes::time();
        last if $left <= 0 || !$sel->can_read($left);
        my $n = sysread $c->{sock}, my $chunk, 65536;
        unless ($n) { $how = 'eof'; last }
        $out .= $chunk;
    }
    return wantarray ? ($out, $how) : $out;
}

sub close { close $_[0]{sock} }

1;
