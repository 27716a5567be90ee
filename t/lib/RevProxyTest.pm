package RevProxyTest;
# t/lib/RevProxyTest.pm -- helpers shared by the .t files (t/TEST.PL puts
# t/lib on PERL5LIB, so a test just says `use RevProxyTest qw(...)`).
#
# Misbehaving backends are one-shot daemons forked by the test, scripted byte
# by byte, on 127.0.0.1 and an ephemeral port, reporting what they received:
#
#   my ($port, $be) = raw_backend(handler => sub {
#       my ($sock, $n) = @_;              # client socket, connection number
#       my $req = read_request($sock) or return;
#       print $sock "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
#   });
#   my $res = GET "/raw/$port/path";      # rule "^/raw/(\d+)/(.*)$" -> port $1
#   ok wait_backend($be);                 # it exited (conns connections done)
#   my @reqs = received($be);             # what read_request() saw, in order
#   is $reqs[0]{uri}, '/path';
#   is connections($be), 0, 'backend never contacted';
#
# Everything here is bounded in time: a backend exits after `lifetime`
# seconds whatever happens, reads give up after `timeout` seconds.
use strict;
use warnings;

use Exporter 'import';
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use POSIX ();
use Socket ();
use Storable ();
use Time::HiRes ();

use Apache::Test ();

our @EXPORT_OK = qw(raw_backend wait_backend stop_backend received
                    connections backend_errors read_request respond
                    raw_http split_response
                    error_log_path error_log_offset error_log_since
                    error_log_wait config_test worker_pid);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

my %live;               # pid of each running backend => pid of its test
my $record_dir;         # set in a backend child: where events are written
my $record_seq = 0;
my $conn_no = 0;

# ---- raw backends ---------------------------------------------------------

# raw_backend(handler => CODE, conns => 1, lifetime => 30, concurrent => 0)
# Forks a server on 127.0.0.1:0.  It accepts `conns` connections (one after
# the other, or each in its own process with concurrent => 1), runs
# handler->($sock, $n) for each, closes the socket, and exits; or exits after
# `lifetime` seconds.  A handler that dies is recorded (backend_errors()).
# Returns ($port, $backend).
sub raw_backend {
    my %o = (conns => 1, lifetime => 30, concurrent => 0, @_);
    my $handler = $o{handler} or die "raw_backend: handler => sub {...} needed\n";

    my $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => 0, Proto => 'tcp',
                                       Listen => 64, ReuseAddr => 1)
        or die "raw_backend: listen: $!\n";
    my $port = $listen->sockport;
    my $dir = File::Temp::tempdir('rvp-backend-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);

    STDOUT->flush;
    STDERR->flush;
    my $pid = fork;
    die "raw_backend: fork: $!\n" unless defined $pid;
    if ($pid) {
        close $listen;
        $live{$pid} = $$;
        return ($port, bless { pid => $pid, port => $port, dir => $dir,
                               owner => $$ }, 'RevProxyTest::Backend');
    }

    # The child: never return into the test, never run its END blocks.
    eval { serve($listen, $dir, $handler, %o) };
    POSIX::_exit(0);
}

sub serve {
    my ($listen, $dir, $handler, %o) = @_;
    %live = ();
    $record_dir = $dir;
    my @kids;
    $SIG{PIPE} = 'IGNORE';
    $SIG{TERM} = sub { kill 'TERM', @kids; POSIX::_exit(0) };
    $SIG{ALRM} = sub {
        record(event => 'lifetime');
        kill 'TERM', @kids;
        POSIX::_exit(0);
    };
    alarm $o{lifetime};
    for my $n (1 .. $o{conns}) {
        my $sock = $listen->accept or last;
        $conn_no = $n;
        record(event => 'connection');
        if ($o{concurrent}) {
            my $kid = fork;
            if (defined $kid && $kid == 0) {
                @kids = ();
                alarm $o{lifetime};         # alarms are not inherited
                close $listen;
                eval { run_handler($handler, $sock, $n) };
                POSIX::_exit(0);
            }
            push @kids, $kid if $kid;
            close $sock;
        }
        else {
            run_handler($handler, $sock, $n);
        }
    }
    close $listen;
    waitpid $_, 0 for @kids;
}

sub run_handler {
    my ($handler, $sock, $n) = @_;
    $sock->autoflush(1);
    eval { $handler->($sock, $n); 1 }
        or record(event => 'error', error => "$@");
    close $sock;
}

# One file per event, so that concurrent handlers never interleave.  Never
# dies: the test may be gone (and its temporary directory with it).
sub record {
    my %ev = (@_, conn => $conn_no, pid => $$, time => Time::HiRes::time());
    return unless $record_dir && -d $record_dir;
    my $name = sprintf "%s/%017.6f-%06d-%04d", $record_dir, $ev{time}, $$,
        ++$record_seq;
    eval { Storable::nstore(\%ev, "$name.tmp"); rename "$name.tmp", $name };
}

sub events {
    my ($be) = @_;
    return map { Storable::retrieve($_) } grep { !/\.tmp$/ }
        sort glob "$be->{dir}/*";
}

# Requests read_request() returned, in order (see read_request for fields).
sub received { return map { $_->{request} } grep { $_->{event} eq 'request' } events(@_) }

# How many connections the backend accepted.
sub connections { return scalar grep { $_->{event} eq 'connection' } events(@_) }

# Messages of handlers that died, and 'timeout'/'eof' of read_request in
# the middle of a request.
sub backend_errors {
    return map { $_->{error} } grep { $_->{event} eq 'error' } events(@_);
}

# wait_backend($be, $timeout = 10): true once the backend has exited.
sub wait_backend {
    my ($be, $timeout) = @_;
    return 1 if $be->{done};
    my $end = Time::HiRes::time() + ($timeout // 10);
    while (1) {
        my $r = waitpid $be->{pid}, POSIX::WNOHANG();
        if ($r == $be->{pid} || $r == -1) {
            delete $live{$be->{pid}};
            return $be->{done} = 1;
        }
        return 0 if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.05);
    }
}

# stop_backend($be): ends it now (TERM, then KILL), and reaps it.
sub stop_backend {
    my ($be) = @_;
    return if $be->{done};
    kill 'TERM', $be->{pid};
    wait_backend($be, 3) or kill('KILL', $be->{pid}) && wait_backend($be, 3);
    delete $live{$be->{pid}};
}

# Backends still running when the test ends are stopped before File::Temp
# removes their directories (END blocks run last-defined first).
END {
    local ($?, $!, $@);
    for my $pid (grep { $live{$_} == $$ } keys %live) {
        stop_backend({ pid => $pid });
    }
}

# ---- reading and answering inside a handler --------------------------------

# Bytes read but not used yet stay with the socket (pipelined requests).
sub buf : lvalue { ${*{$_[0]}}{rvp_buf} }

# fill($sock, $deadline): appends what arrives; 0 at EOF, undef on timeout.
sub fill {
    my ($sock, $deadline) = @_;
    my $left = $deadline - Time::HiRes::time();
    return undef if $left <= 0;
    # IO::Socket::SSL may hold decrypted bytes that select() cannot see.
    my $pending = $sock->can('pending') && $sock->pending;
    return undef unless $pending || IO::Select->new($sock)->can_read($left);
    my $n = sysread $sock, my $chunk, 65536;
    return 0 unless $n;
    buf($sock) .= $chunk;
    return $n;
}

# read_request($sock, timeout => 10): one request, body decoded.
# Returns { method, uri, version, headers => [[name, value], ...],
#   header => { lc name => values joined with ", " }, body, chunked,
#   trailers => [[name, value], ...], raw => bytes as received }, or undef at
# EOF before a request or on timeout (recorded as an error 'eof'/'timeout').
sub read_request {
    my ($sock, %o) = @_;
    my $deadline = Time::HiRes::time() + ($o{timeout} // 10);
    buf($sock) //= '';
    my $raw = '';                       # this request's bytes so far
    my $fail = sub {
        my ($why) = @_;
        # Nothing of a request yet: the peer is just done (keep-alive loop).
        my $started = length($raw) || length(buf($sock));
        record(event => $started ? 'error' : 'idle', error => $why,
               partial => $raw . buf($sock));
        return undef;
    };

    my $end;
    until (($end = index buf($sock), "\r\n\r\n") >= 0) {
        my $n = fill($sock, $deadline);
        return $fail->(defined $n ? 'eof' : 'timeout') unless $n;
    }
    my $head = $raw = substr buf($sock), 0, $end + 4, '';
    my ($line, @lines) = split /\r\n/, $head;
    my ($method, $uri, $version) = split / /, $line, 3;
    my $req = { method => $method, uri => $uri, version => $version,
                headers => [parse_fields(@lines)], body => '', chunked => 0,
                trailers => [], raw => $head };
    $req->{header} = fold_fields($req->{headers});

    my $need = sub {                    # the next $n bytes of the body
        my ($n) = @_;
        while (length buf($sock) < $n) {
            my $got = fill($sock, $deadline);
            return $fail->(defined $got ? 'eof' : 'timeout') unless $got;
        }
        my $bytes = substr buf($sock), 0, $n, '';
        $raw .= $bytes;
        $req->{raw} .= $bytes;
        return $bytes;
    };
    my $line_of = sub {
        my $i;
        until (($i = index buf($sock), "\r\n") >= 0) {
            my $got = fill($sock, $deadline);
            return $fail->(defined $got ? 'eof' : 'timeout') unless $got;
        }
        my $l = $need->($i + 2);
        return substr $l, 0, -2;
    };

    if (($req->{header}{'transfer-encoding'} // '') =~ /chunked\s*$/i) {
        $req->{chunked} = 1;
        while (1) {
            my $size = $line_of->() // return undef;
            $size =~ /^([0-9a-fA-F]+)/ or return $fail->("bad chunk size '$size'");
            my $n = hex $1;
            last if $n == 0;
            $req->{body} .= $need->($n) // return undef;
            $need->(2) // return undef;
        }
        while (1) {
            my $t = $line_of->() // return undef;
            last if $t eq '';
            push @{$req->{trailers}}, parse_fields($t);
        }
    }
    elsif (defined(my $cl = $req->{header}{'content-length'})) {
        $req->{body} = $need->($cl) // return undef if $cl =~ /^\d+$/ && $cl > 0;
    }
    record(event => 'request', request => $req);
    return $req;
}

sub parse_fields {
    return map { /^([^:]*):[ \t]*(.*?)[ \t]*$/s ? [$1, $2] : [$_, undef] } @_;
}

sub fold_fields {
    my ($fields) = @_;
    my %h;
    for my $f (@$fields) {
        my $k = lc $f->[0];
        $h{$k} = defined $h{$k} ? "$h{$k}, $f->[1]" : $f->[1];
    }
    return \%h;
}

# respond($sock, 200, ['Content-Type' => 'text/plain'], $body): a whole
# response; Content-Length is added unless the headers frame it already.
sub respond {
    my ($sock, $status, $headers, $body) = @_;
    my @h = @{ $headers || [] };
    my %has = map { lc($_) => 1 } @h[grep { !($_ % 2) } 0 .. $#h];
    push @h, 'Content-Length' => length($body // '')
        unless $has{'content-length'} || $has{'transfer-encoding'};
    my $out = "HTTP/1.1 $status X\r\n";
    while (my ($k, $v) = splice @h, 0, 2) {
        $out .= "$k: $v\r\n";
    }
    print $sock $out, "\r\n", $body // '';
}

# ---- raw client ----------------------------------------------------------

# raw_http($port, $bytes, %o): sends $bytes (or the pieces of
# o{pieces} => [...] with o{delay} seconds between them) to 127.0.0.1:$port
# ($port undef: the test server) and returns what comes back until EOF,
# o{timeout} (10 s) or a match of o{wait_for} => qr/.../.  Send
# "Connection: close" or the keep-alive timeout decides when it ends.
# In list context also returns how it ended: 'eof', 'timeout', 'match'.
sub raw_http {
    my ($port, $bytes, %o) = @_;
    $port //= Apache::Test::vars('port');
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                     Proto => 'tcp', Timeout => 5)
        or die "raw_http: connect 127.0.0.1:$port: $!\n";
    local $SIG{PIPE} = 'IGNORE';
    my @pieces = $o{pieces} ? @{ $o{pieces} } : ($bytes);
    for my $i (0 .. $#pieces) {
        Time::HiRes::sleep($o{delay} // 0.1) if $i;
        syswrite $sock, $pieces[$i] or last;
    }
    shutdown $sock, 1 if $o{half_close};
    my $deadline = Time::HiRes::time() + ($o{timeout} // 10);
    my ($out, $how) = ('', 'timeout');
    while (1) {
        if ($o{wait_for} && $out =~ $o{wait_for}) { $how = 'match'; last }
        my $left = $deadline - Time::HiRes::time();
        last if $left <= 0 || !IO::Select->new($sock)->can_read($left);
        my $n = sysread $sock, my $chunk, 65536;
        unless ($n) { $how = 'eof'; last }
        $out .= $chunk;
    }
    close $sock;
    return wantarray ? ($out, $how) : $out;
}

# split_response($raw): { version, status, reason, headers => [[n, v]],
# header => { lc name => v }, body (de-chunked when chunked), rest }.
sub split_response {
    my ($raw) = @_;
    my $end = index $raw, "\r\n\r\n";
    return undef if $end < 0;
    my ($line, @lines) = split /\r\n/, substr $raw, 0, $end;
    my ($version, $status, $reason) = split / /, $line, 3;
    my $res = { version => $version, status => $status, reason => $reason,
                headers => [parse_fields(@lines)] };
    $res->{header} = fold_fields($res->{headers});
    my $body = substr $raw, $end + 4;
    if (($res->{header}{'transfer-encoding'} // '') =~ /chunked/i) {
        my $plain = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r]*\r\n//) {
            my $n = hex $1;
            if ($n == 0) { $body =~ s/^(?:[^\r\n]+\r\n)*\r\n//; last }
            $plain .= substr $body, 0, $n, '';
            $body =~ s/^\r\n//;
        }
        ($res->{body}, $res->{rest}) = ($plain, $body);
    }
    elsif (defined(my $cl = $res->{header}{'content-length'})) {
        $res->{body} = substr $body, 0, $cl, '';
        $res->{rest} = $body;
    }
    else {
        ($res->{body}, $res->{rest}) = ($body, '');
    }
    return $res;
}

# ---- httpd -t on a configuration of its own --------------------------------

# config_test(\@lines, no_revproxy => 0): `httpd -t` on a small configuration
# that loads an MPM and our two modules from this tree, then @lines; returns
# (exit code, output).
sub config_test {
    my ($lines, %o) = @_;
    my $vars = Apache::Test::vars();
    my $top = $vars->{top_dir};
    my $libexec = `$vars->{apxs} -q LIBEXECDIR` =~ s/\s+$//r;
    my ($mpm) = grep { -e } map { "$libexec/mod_mpm_$_.so" } qw(event worker prefork);
    my ($mpm_name) = $mpm =~ /mod_(mpm_\w+)\.so$/;
    my $dir = File::Temp::tempdir(CLEANUP => 1);
    open my $fh, '>', "$dir/httpd.conf" or die "$dir/httpd.conf: $!";
    print $fh join "\n",
        qq{ServerRoot "$dir"}, 'ServerName localhost',
        qq{DefaultRuntimeDir "$dir"}, qq{PidFile "$dir/httpd.pid"},
        qq{ErrorLog "$dir/error_log"}, 'Listen 127.0.0.1:1',
        qq{LoadModule ${mpm_name}_module "$mpm"},
        ($o{no_revproxy} ? ()
            : qq{LoadModule revproxy_module "$top/.libs/mod_revproxy.so"}),
        qq{LoadModule reproxy_filter_module "$top/.libs/mod_reproxy_filter.so"},
        @$lines, '';
    close $fh;
    my $out = `$vars->{httpd} -t -f $dir/httpd.conf 2>&1`;
    return ($? >> 8, $out);
}

# ---- the test server's error_log -------------------------------------------

sub error_log_path { return Apache::Test::vars('t_logs') . '/error_log' }

# error_log_offset(): the current end; pass it to the functions below.
sub error_log_offset { return -s error_log_path() || 0 }

# error_log_since($offset): the text written after $offset.
sub error_log_since {
    my ($off) = @_;
    open my $fh, '<', error_log_path() or return '';
    seek $fh, $off // 0, 0;
    local $/;
    return scalar(<$fh>) // '';
}

# error_log_wait($offset, qr/.../, $timeout = 5): the text after $offset as
# soon as it matches (httpd may log after the response went out), or undef.
sub error_log_wait {
    my ($off, $re, $timeout) = @_;
    my $end = Time::HiRes::time() + ($timeout // 5);
    while (1) {
        my $text = error_log_since($off);
        return $text if $text =~ $re;
        return undef if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.1);
    }
}

# worker_pid(): the pid of the test server's child that serves requests:
# of the parent's children, the one with the most threads (mod_cgid's
# daemon is a child too, with one thread).  undef when none is found.
sub worker_pid {
    my $pidfile = Apache::Test::vars('t_logs') . '/httpd.pid';
    open my $pf, '<', $pidfile or return undef;
    chomp(my $parent = <$pf>);
    my $threads = sub {
        open my $st, '<', "/proc/$_[0]/status" or return 0;
        my ($t) = map { /^Threads:\s+(\d+)/ ? $1 : () } <$st>;
        return $t // 0;
    };
    my ($kid) = sort { $threads->($b) <=> $threads->($a) }
                grep { $_ != $parent } map { /(\d+)/ ? $1 : () } `pgrep -P $parent`;
    return $kid;
}

package RevProxyTest::Backend;
# The handle raw_backend() returns; the functions above work as methods too.
sub port { $_[0]{port} }
sub pid { $_[0]{pid} }
sub received { RevProxyTest::received(@_) }
sub connections { RevProxyTest::connections(@_) }
sub errors { RevProxyTest::backend_errors(@_) }
sub wait { RevProxyTest::wait_backend(@_) }
sub stop { RevProxyTest::stop_backend(@_) }
sub DESTROY {
    local ($?, $!, $@);
    RevProxyTest::stop_backend($_[0]) if $_[0]{owner} == $$;
}

1;
