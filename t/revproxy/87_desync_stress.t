# t/revproxy/87_desync_stress.t -- 20,000 keep-alive requests
# (REVPROXY_STRESS_REQUESTS) from 16 concurrent clients through one rule to
# a backend that, at random, sends bytes beyond the framing of its answers
# (a few ms late or at once; after a 200, a HEAD answer with Content-Length,
# a 204 or a 304; beyond a Content-Length shorter than what it writes), most
# of them a whole response of their own, or closes a keep-alive connection
# soon after an answer.  The backend echoes the request's id (in the path)
# in ETag and in the body: every answer a client gets must be the one for
# its own request.  A 502 is acceptable, someone else's answer never is.
#
# The random choices are seeded: REVPROXY_STRESS_SEED=N replays the same
# misbehaviour for the same requests (the interleaving is the scheduler's).
#
# Late stray bytes and the race that is nobody's fault: a proxy can prove a
# pooled connection empty only at the moment it reuses it, and a request
# already on its way when the backend writes late bytes gets them as its
# answer whatever the proxy does.  So each client puts the time it sends a
# request into the path (a monotonic clock, the same in every process),
# and the backend notes when it wrote late bytes (TCP_NODELAY: they leave
# at once).  When the next request comes on that connection, sent before
# the bytes were written (or less than $margin after: time for the kernel
# to deliver them), the backend closes the connection unanswered: "racy",
# the stray answer that request may have got is excused and nothing is
# left to shift.  Sent after, the proxy reused a connection that held
# unread bytes: its fault, as is every answer from another request.
use strict;
use warnings;

use Digest::MD5 ();
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use POSIX ();
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Storable ();
use Time::HiRes qw(time sleep clock_gettime CLOCK_MONOTONIC);

use Apache::Test qw(-withtestmore);
use RevProxyTest qw(raw_backend);

my $asan = Apache::Test::vars('httpd') =~ /asan/;
my $total = $ENV{REVPROXY_STRESS_REQUESTS} // 20000;
my $clients = 16;
my $seed = $ENV{REVPROXY_STRESS_SEED} // int(rand(2**31));
my $margin = 0.005;                     # see above
my $wall = $asan ? 300 : 120;           # every client stops by then
my $front = Apache::Test::vars('rp_front_port');

plan tests => 5;
diag "seed $seed (REVPROXY_STRESS_SEED=$seed replays it), $total requests, "
   . "$clients clients";

# A number in [0, 1) fixed by the seed, the request id and what it decides.
sub roll {
    my ($id, $what) = @_;
    return unpack('N', Digest::MD5::md5("$seed/$what/$id")) / 2**32;
}

# The body for request $id: its id, and 0-199 bytes more.
sub body_of {
    my ($id) = @_;
    return "answer for $id\n" . ('.' x int(roll($id, 'len') * 200));
}

my $dir = File::Temp::tempdir('rvp-87-XXXXXX', TMPDIR => 1, CLEANUP => 1);

# ---- the backend -----------------------------------------------------------
# Each connection in its own process: a keep-alive loop over requests
# GET|HEAD /id/ID/STATUS/SENT, answered with STATUS, ETag "ID" and
# body_of(ID), and for some ids (roll) one misbehaviour:
#  10 %  late: the answer, 0.5-3 ms later bytes beyond it, unless the next
#        request is there already (then they would be its answer)
#   4 %  at once: the answer and bytes beyond it in one write (a body after
#        a HEAD answer, a 204 or a 304; more than the Content-Length)
#   3 %  close: the answer, 0.5-3 ms later the connection closed
# The bytes beyond are a whole 200 response for this id (tagged X-Stray) or,
# one time in five, the body a GET would have had.  Events go to a file per
# connection, a line each: "late TAG", "skip", "now", "close", and
# "racy TAG ID MS" or "after TAG ID MS" (ID sent MS ms after the late bytes
# TAG were written).

sub now { return clock_gettime(CLOCK_MONOTONIC) }

sub read_head {
    my ($sock, $buf, $timeout) = @_;
    my $deadline = time + $timeout;
    my $i;
    while (($i = index $$buf, "\r\n\r\n") < 0) {
        my $left = $deadline - time;
        return undef if $left <= 0 || !IO::Select->new($sock)->can_read($left);
        sysread($sock, $$buf, 65536, length $$buf) or return undef;
    }
    return substr $$buf, 0, $i + 4, '';
}

sub pending {
    my ($sock, $buf, $wait) = @_;
    return length($$buf) || IO::Select->new($sock)->can_read($wait);
}

my ($port, $be) = raw_backend(concurrent => 1, conns => 1_000_000,
                              lifetime => $wall + 60, handler => sub {
    my ($sock, $n) = @_;
    setsockopt $sock, IPPROTO_TCP, TCP_NODELAY, 1;  # late bytes leave now
    open my $log, '>>', "$dir/backend-$n" or die "$dir/backend-$n: $!";
    $log->autoflush(1);
    my ($buf, $k, $dirty, $written) = ('', 0);
    while (defined(my $head = read_head($sock, \$buf, 10))) {
        my ($method, $id, $want, $sent) = $head =~
            m{^(GET|HEAD) /id/([\w-]+)/(200|204|304)/([\d.]+) HTTP/1\.1\r\n}
            or die "unexpected request: $head";
        if ($dirty) {
            my $racy = $sent < $written + $margin;
            printf $log "%s %s %s %.1f\n", $racy ? 'racy' : 'after', $dirty, $id,
                1000 * ($sent - $written);
            return if $racy;
            $dirty = undef;
        }
        my $body = body_of($id);
        my $answer = $want == 200
            ? "HTTP/1.1 200 OK\r\nETag: \"$id\"\r\nContent-Type: text/plain\r\n"
              . 'Content-Length: ' . length($body) . "\r\n\r\n"
              . ($method eq 'HEAD' ? '' : $body)
            : "HTTP/1.1 $want " . ($want == 204 ? 'No Content' : 'Not Modified')
              . "\r\nETag: \"$id\"\r\n\r\n";
        my $tag = "$n." . ++$k;
        my $extra = roll($id, 'junk') < 0.2 ? $body
            : "HTTP/1.1 200 OK\r\nETag: \"$id\"\r\nX-Stray: $tag\r\n"
              . 'Content-Length: ' . length($body) . "\r\n\r\n$body";
        my $what = roll($id, 'what');
        my $delay = 0.0005 + 0.0025 * roll($id, 'delay');
        if ($what < 0.10) {
            syswrite $sock, $answer;
            sleep $delay;
            if (pending($sock, \$buf, 0)) {
                print $log "skip\n";
                next;
            }
            syswrite $sock, $extra;
            $written = now();
            $dirty = $tag;
            print $log "late $tag\n";
        }
        elsif ($what < 0.14) {
            syswrite $sock, $answer . $extra;
            print $log "now\n";
        }
        elsif ($what < 0.17) {
            syswrite $sock, $answer;
            sleep $delay;
            print $log "close\n";
            return;
        }
        else {
            syswrite $sock, $answer;
        }
    }
});

# ---- the clients -----------------------------------------------------------
# Each sends its share one request at a time over a keep-alive connection
# to the front (a new one when the server closes it): 70 % GET for 200, 10 %
# HEAD, 10 % GET for 204, 10 % GET for 304, and now and then pauses up to
# 30 ms, so that pooled connections sit idle for all sorts of times.

# One response off $sock: { status, h => { lc name => value }, body, close }
# or { error => why, none => 1 when not a byte came }.
sub read_response {
    my ($sock, $buf, $head_only, $timeout) = @_;
    my $deadline = time + $timeout;
    my $start = length $$buf;
    my $fill = sub {
        my $left = $deadline - time;
        return -1 if $left <= 0 || !IO::Select->new($sock)->can_read($left);
        return sysread($sock, $$buf, 65536, length $$buf) ? 1 : 0;
    };
    my $fail = sub {
        my ($r) = @_;
        return { error => $r < 0 ? 'timeout' : 'eof', none => !$start && !length $$buf };
    };
    my $i;
    while (($i = index $$buf, "\r\n\r\n") < 0) {
        my $r = $fill->();
        return $fail->($r) if $r <= 0;
    }
    my ($line, @fields) = split /\r\n/, substr($$buf, 0, $i + 4, '');
    my ($status) = $line =~ m{^HTTP/1\.[01] (\d\d\d)}
        or return { error => "bad status line '$line'" };
    my %h;
    for (@fields) {
        my ($k, $v) = /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        $h{lc $k} = defined $h{lc $k} ? "$h{lc $k}, $v" : $v;
    }
    my $res = { status => $status, h => \%h, body => '',
                close => ($h{connection} // '') =~ /close/i };
    return $res if $head_only || $status == 204 || $status == 304;
    my $need = sub {
        my ($n) = @_;
        while (length $$buf < $n) {
            my $r = $fill->();
            return undef if $r <= 0;
        }
        return substr $$buf, 0, $n, '';
    };
    if (($h{'transfer-encoding'} // '') =~ /chunked/i) {
        while (1) {
            my $j;
            while (($j = index $$buf, "\r\n") < 0) {
                return { error => 'cut in a chunk size' } if $fill->() <= 0;
            }
            my $size = hex substr $$buf, 0, $j + 2, '';
            if ($size == 0) {
                $need->(2) // return { error => 'cut in the trailer' };
                last;
            }
            my $data = $need->($size + 2) // return { error => 'cut in a chunk' };
            $res->{body} .= substr $data, 0, $size;
        }
    }
    elsif (defined $h{'content-length'}) {
        $res->{body} = $need->($h{'content-length'})
            // return { error => 'cut in the body' };
    }
    else {
        1 while $fill->() > 0;
        ($res->{body}, $$buf, $res->{close}) = ($$buf, '', 1);
    }
    return $res;
}

sub client {
    my ($c, $count, $deadline) = @_;
    srand($seed + 1009 * $c);
    my %s = (done => 0, ok => 0, bad_gateway => 0, other => 0, error => 0,
             retry => 0, conns => 0);
    my (@mismatch, @other);
    my ($sock, $buf, $used);
    local $SIG{PIPE} = 'IGNORE';
    REQUEST: for my $i (1 .. $count) {
        last if time > $deadline;
        my $id = "c$c-$i";
        my $r = rand;
        my ($method, $want) = $r < 0.7 ? ('GET', 200) : $r < 0.8 ? ('HEAD', 200)
                            : $r < 0.9 ? ('GET', 204) : ('GET', 304);
        sleep rand(0.03) if rand() < 0.05;
        my $res;
        for my $try (1, 2) {
            # Readable before we asked: the server closed the connection,
            # or sent bytes beyond its last answer (an error).
            if ($sock && (length $buf || IO::Select->new($sock)->can_read(0))) {
                if (length $buf || sysread $sock, $buf, 65536) {
                    $s{error}++;
                    push @other, "$id: bytes after the last answer: '"
                        . substr($buf, 0, 60) . "'";
                }
                undef $sock;
            }
            unless ($sock) {
                $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                    PeerPort => $front, Proto => 'tcp', Timeout => 5);
                unless ($sock) {
                    $s{error}++;
                    push @other, "$id: connect: $!";
                    sleep 0.1;
                    next REQUEST;
                }
                ($buf, $used) = ('', 0);
                $s{conns}++;
            }
            syswrite $sock, sprintf "%s /raw/%d/id/%s/%d/%.6f HTTP/1.1\r\n"
                . "Host: localhost\r\n\r\n", $method, $port, $id, $want, now();
            $res = read_response($sock, \$buf, $method eq 'HEAD', $asan ? 30 : 15);
            # A keep-alive connection the server closed as we asked.
            last unless $res->{none} && $res->{error} eq 'eof' && $used && $try == 1;
            $s{retry}++;
            undef $sock;
        }
        $s{done}++;
        $used++;
        if ($res->{error}) {
            $s{error}++;
            push @other, "$id: $res->{error}";
            undef $sock;
            next;
        }
        undef $sock if $res->{close};
        my $st = $res->{status};
        my $etag = $res->{h}{etag} // '';
        if ($st == 502) {
            $s{bad_gateway}++;
        }
        elsif ($st == $want && $etag eq qq{"$id"}
               && ($method eq 'HEAD' || $want != 200 || $res->{body} eq body_of($id))) {
            $s{ok}++;
        }
        elsif ($st =~ /^[23]/) {
            push @mismatch, { id => $id, want => "$method $want", status => $st,
                              etag => $etag, stray => $res->{h}{'x-stray'},
                              body => substr($res->{body}, 0, 40) };
        }
        else {
            $s{other}++;
            push @other, "$id: $st";
        }
    }
    return { stats => \%s, mismatch => \@mismatch, other => \@other };
}

my $t0 = time;
my $deadline = $t0 + $wall;
my %kids;
for my $c (1 .. $clients) {
    my $count = int($total / $clients) + ($c <= $total % $clients ? 1 : 0);
    STDOUT->flush;
    STDERR->flush;
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        my $out = eval { client($c, $count, $deadline) }
            // { stats => {}, other => ["client $c died: $@"], mismatch => [] };
        Storable::nstore($out, "$dir/client-$c");
        POSIX::_exit(0);
    }
    $kids{$pid} = $c;
}
while (%kids) {
    my $pid = waitpid -1, POSIX::WNOHANG();
    if ($pid > 0) {
        delete $kids{$pid};
        next;
    }
    if (time > $deadline + 40) {
        kill 'KILL', keys %kids;
        waitpid $_, 0 for keys %kids;
        last;
    }
    sleep 0.1;
}
my $secs = time - $t0;
$be->stop;
diag "backend: $_" for $be->errors;

# ---- the verdict ------------------------------------------------------------
my %ev;
my %racy;
for my $f (glob "$dir/backend-*") {
    open my $fh, '<', $f or next;
    $ev{conns}++;
    while (<$fh>) {
        my ($what, $tag, $id, $ms) = split;
        $ev{$what}++;
        $racy{$tag} = $ms if $what eq 'racy';
        push @{ $ev{afters} }, "$id sent $ms ms after the late bytes $tag"
            . ' on its connection' if $what eq 'after';
    }
}
my (%s, @mismatch, @other);
for my $c (1 .. $clients) {
    my $out = eval { Storable::retrieve("$dir/client-$c") }
        // { stats => {}, other => ["client $c reported nothing"], mismatch => [] };
    $s{$_} += $out->{stats}{$_} for keys %{ $out->{stats} };
    push @other, @{ $out->{other} };
    for my $m (@{ $out->{mismatch} }) {
        if (defined $m->{stray} && defined $racy{ $m->{stray} }) {
            $s{excusable}++;
        }
        else {
            $s{mismatch}++;
            push @mismatch, $m;
        }
    }
}
$s{$_} //= 0 for qw(done ok bad_gateway mismatch excusable other error retry conns);
diag sprintf "%d requests in %.1f s (%.0f/s): %d ok, %d 502, %d mismatched, "
    . "%d stray answers excused (racy), %d other statuses, %d errors; "
    . "%d client connections, %d resent on a fresh one",
    $s{done}, $secs, $s{done} / ($secs || 1), @s{qw(ok bad_gateway mismatch
    excusable other error conns retry)};
diag sprintf "backend: %d connections; late bytes written %d times (%d of "
    . "them racy), skipped %d times (asked again first), at once %d, closed %d",
    map { $_ // 0 } @ev{qw(conns late racy skip now close)};
if (my @ms = sort { $a <=> $b } values %racy) {
    diag "racy: the next request sent $ms[0] to $ms[-1] ms after the late bytes";
}

# The first ten lines of a list, for diag.
sub some { return join "\n", grep { defined } @_[0 .. 9] }

is $s{done}, $total, "all $total requests done within $wall s";
is $s{mismatch}, 0, 'no client got an answer meant for another request'
    or diag some map {
        "$_->{id} ($_->{want}) got $_->{status} ETag $_->{etag}"
        . ($_->{stray} ? " (stray $_->{stray})" : '') . " body '$_->{body}'"
    } @mismatch;
ok $s{ok} >= 0.9 * $total, "at least 90 % answered right ($s{ok})"
    or diag some @other;
is scalar(@{ $ev{afters} // [] }), 0,
   'no request sent on a backend connection that held stray bytes'
    or diag some @{ $ev{afters} };
is $s{error}, 0, 'no client connection broken, timed out or sent stray bytes'
    or diag some @other;
