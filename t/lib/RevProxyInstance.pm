package RevProxyInstance;
# t/lib/RevProxyInstance.pm -- a separate httpd and well-behaved HTTP
# members, for the tests of backend groups (t/revproxy/5*_*.t) that need
# what the suite's server cannot give: several child processes (prefork),
# graceful restarts, members that stop and come back on the same port.
#
#   my $dir = File::Temp::tempdir(CLEANUP => 1);
#   my $a = member(name => 'a', dir => $dir);          # 127.0.0.1:$a->{port}
#   my $h = instance(dir => $dir, mpm => 'prefork', servers => 3, conf => [
#       "RevProxyBackend pool http://127.0.0.1:$a->{port} retry=1",
#       'RevProxyPass "^/p/(.*)$" "backend://pool/$1"',
#   ]);
#   my $res = $h->get('/p/x');          # { status, header => {lc => v}, body }
#   $a->stop; $a = member(name => 'a', dir => $dir, port => $a->{port});
#   my $st = $h->status;                # the revproxy-status JSON, decoded
#   $h->graceful([...]);                # apache2 -k graceful with new lines
#
# A member answers every request with 200 "NAME METHOD URI host=... body=N"
# and X-Member: NAME, keeping the connection alive; /health is a 500 while
# the file DIR/NAME.sick exists; a path with /drop/ reads the request and
# hangs up; /slow/SECONDS waits first.  Each request is appended to
# DIR/NAME.log ("METHOD URI").  Everything is bounded in time: members
# exit after `lifetime` seconds, the httpd is stopped (then killed) when
# its object goes away or the test ends.
use strict;
use warnings;

use Exporter 'import';
use Fcntl qw(:flock);
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use JSON::PP ();
use POSIX ();
use Time::HiRes ();

use Apache::Test ();
use RevProxyTest qw(read_request respond);

our @EXPORT_OK = qw(free_port member instance http_request connection
                    wait_until);

my %mine;               # pids of members and httpds this test started

# ---- helpers ----------------------------------------------------------------

# A port nothing listens on right now.
sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, ReuseAddr => 1) or die "$!";
    my $p = $s->sockport;
    close $s;
    return $p;
}

# wait_until(sub { ... }, $timeout = 10, $step = 0.1): true once the code
# returns true.
sub wait_until {
    my ($code, $timeout, $step) = @_;
    my $end = Time::HiRes::time() + ($timeout // 10);
    while (1) {
        my $v = $code->();
        return $v if $v;
        return 0 if Time::HiRes::time() > $end;
        Time::HiRes::sleep($step // 0.1);
    }
}

# ---- members ----------------------------------------------------------------

sub member {
    my (%o) = (lifetime => 300, port => 0, @_);
    my $name = $o{name} or die "member: name needed\n";
    my $dir = $o{dir} or die "member: dir needed\n";
    my $listen;
    # A port just given up may take a moment to be free again.
    wait_until(sub {
        $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                        LocalPort => $o{port}, Proto => 'tcp',
                                        Listen => 64, ReuseAddr => 1);
    }, 10) or die "member $name: listen on $o{port}: $!\n";
    my $port = $listen->sockport;

    STDOUT->flush;
    STDERR->flush;
    my $pid = fork;
    die "member: fork: $!\n" unless defined $pid;
    if ($pid) {
        close $listen;
        $mine{$pid} = $$;
        return bless { pid => $pid, port => $port, name => $name,
                       dir => $dir, owner => $$ }, 'RevProxyInstance::Member';
    }
    # The member: its own process group, so that stop() ends its
    # connection processes too.
    eval {
        %mine = ();
        POSIX::setpgid(0, 0);
        $SIG{CHLD} = 'IGNORE';
        $SIG{PIPE} = 'IGNORE';
        $SIG{TERM} = sub { POSIX::_exit(0) };
        alarm $o{lifetime};
        while (1) {
            my $sock = $listen->accept or next;
            my $kid = fork;
            if (defined $kid && $kid == 0) {
                close $listen;
                eval { serve_member($sock, $name, $dir) };
                POSIX::_exit(0);
            }
            close $sock;
        }
    };
    POSIX::_exit(0);
}

sub serve_member {
    my ($sock, $name, $dir) = @_;
    $sock->autoflush(1);
    while (my $req = read_request($sock, timeout => 60)) {
        if (open my $fh, '>>', "$dir/$name.log") {
            flock $fh, LOCK_EX;
            print $fh "$req->{method} $req->{uri}\n";
            close $fh;
        }
        my $uri = $req->{uri};
        return if $uri =~ m{/drop/};
        if ($uri =~ m{/slow/(\d+(?:\.\d+)?)}) {
            Time::HiRes::sleep($1);
        }
        if ($uri =~ m{^(?:/[^/]*)?/health} && -e "$dir/$name.sick") {
            respond($sock, 500, ['Content-Type' => 'text/plain'], "sick\n");
        }
        else {
            respond($sock, 200, ['Content-Type' => 'text/plain',
                                 'X-Member' => $name],
                    "$name $req->{method} $uri host="
                    . ($req->{header}{host} // '') . ' body='
                    . length($req->{body}));
        }
        return if lc($req->{header}{connection} // '') eq 'close';
    }
}

package RevProxyInstance::Member;

sub port { $_[0]{port} }
sub url { 'http://127.0.0.1:' . $_[0]{port} }

# The requests it received so far: ("METHOD URI", ...).
sub requests {
    my ($m) = @_;
    open my $fh, '<', "$m->{dir}/$m->{name}.log" or return ();
    chomp(my @l = <$fh>);
    return @l;
}

# How many GETs for a URI starting with $prefix it received.
sub hits {
    my ($m, $prefix) = @_;
    return scalar grep { index($_, "GET $prefix") == 0 } $m->requests;
}

sub sick {
    my ($m, $on) = @_;
    my $f = "$m->{dir}/$m->{name}.sick";
    if ($on) { open my $fh, '>', $f or die "$f: $!"; close $fh }
    else { unlink $f }
}

sub stop {
    my ($m) = @_;
    return if $m->{done}++;
    kill 'TERM', -$m->{pid};
    kill 'TERM', $m->{pid};
    for (1 .. 50) {
        last if waitpid($m->{pid}, POSIX::WNOHANG()) != 0;
        Time::HiRes::sleep(0.05);
    }
    kill 'KILL', -$m->{pid};
    waitpid $m->{pid}, 0;
    delete $mine{$m->{pid}};
    # Until the last connection process is gone the port is still open.
    RevProxyInstance::wait_until(sub { !kill 0, -$m->{pid} }, 5);
}

sub DESTROY {
    local ($?, $!, $@);
    $_[0]->stop if $_[0]{owner} == $$;
}

# ---- the separate httpd --------------------------------------------------------

package RevProxyInstance;

# instance(dir => DIR, conf => [lines], mpm => 'prefork'|'event',
#          servers => N): apache2 with mod_revproxy from this tree on its
# own port, started and answering.
sub instance {
    my (%o) = (mpm => 'prefork', servers => 3, @_);
    my $vars = Apache::Test::vars();
    my $self = bless { %o, owner => $$, httpd => $vars->{httpd},
                       top => $vars->{top_dir}, port => free_port(),
                       generation => 0 }, 'RevProxyInstance::Httpd';
    $self->{dir} //= File::Temp::tempdir('rvp-httpd-XXXXXX', TMPDIR => 1,
                                         CLEANUP => 1);
    chmod 0755, $self->{dir};
    $self->write_conf($o{conf});
    $self->start;
    return $self;
}

package RevProxyInstance::Httpd;

use File::Spec ();

sub port { $_[0]{port} }
sub dir { $_[0]{dir} }

sub write_conf {
    my ($self, $lines) = @_;
    my $libexec = '/usr/lib/apache2/modules';
    my $dir = $self->{dir};
    my $mpm = $self->{mpm};
    my $n = $self->{servers};
    my @mpm = $mpm eq 'prefork'
        ? ("StartServers $n", "MinSpareServers $n", "MaxSpareServers $n",
           "ServerLimit " . ($n + 2), "MaxRequestWorkers " . ($n + 2))
        : ("StartServers $n", "ServerLimit " . ($n + 1),
           'ThreadsPerChild 16', 'MaxRequestWorkers ' . (16 * $n),
           'MinSpareThreads 1', 'MaxSpareThreads ' . (16 * ($n + 1)));
    my @user = $> == 0 ? ('User www-data', 'Group www-data') : ();
    open my $fh, '>', "$dir/httpd.conf" or die "$dir/httpd.conf: $!";
    print $fh join "\n",
        qq{ServerRoot "$dir"}, 'ServerName localhost',
        qq{DefaultRuntimeDir "$dir"}, qq{PidFile "$dir/httpd.pid"},
        qq{ErrorLog "$dir/error_log"}, qq{DocumentRoot "$dir"},
        'LogLevel notice revproxy:info',
        "Listen 127.0.0.1:$self->{port}", @user,
        qq{LoadModule mpm_${mpm}_module "$libexec/mod_mpm_$mpm.so"},
        qq{LoadModule authz_core_module "$libexec/mod_authz_core.so"},
        qq{LoadModule status_module "$libexec/mod_status.so"},
        qq{LoadModule revproxy_module "$self->{top}/.libs/mod_revproxy.so"},
        @mpm,
        'KeepAlive On', 'KeepAliveTimeout 20', 'MaxKeepAliveRequests 0',
        'Timeout 20', 'GracefulShutdownTimeout 5',
        '<Location "/rp-status">', '    SetHandler revproxy-status',
        '</Location>',
        '<Location "/server-status">', '    SetHandler server-status',
        '</Location>',
        @$lines, '';
    close $fh;
}

sub ctl {
    my ($self, @args) = @_;
    my $out = `$self->{httpd} -f $self->{dir}/httpd.conf @args 2>&1`;
    return ($? >> 8, $out);
}

sub pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/httpd.pid" or return undef;
    my $pid = <$fh>;
    return $pid && $pid =~ /^(\d+)/ ? $1 : undef;
}

sub start {
    my ($self) = @_;
    my ($rc, $out) = $self->ctl('-k', 'start');
    die "apache2 -k start failed ($rc): $out\n" . $self->log if $rc;
    RevProxyInstance::wait_until(sub { $self->pid }, 10)
        or die "apache2 did not start:\n" . $self->log;
    $self->{pid} = $self->pid;
    $mine{$self->{pid}} = $$;
    RevProxyInstance::wait_until(sub {
        my $r = eval { $self->get('/rp-status?json') };
        $r && $r->{status} == 200;
    }, 10) or die "apache2 does not answer:\n" . $self->log;
}

# apache2 -k graceful, with new configuration lines when given; returns once
# the new generation answers (the status page counts configurations).
sub graceful {
    my ($self, $lines) = @_;
    my $before = $self->status->{configurations};
    $self->write_conf($lines) if $lines;
    my ($rc, $out) = $self->ctl('-k', 'graceful');
    die "apache2 -k graceful failed ($rc): $out\n" if $rc;
    return RevProxyInstance::wait_until(sub {
        my $st = eval { $self->status };
        $st && $st->{configurations} > $before;
    }, 15);
}

sub stop {
    my ($self) = @_;
    return if $self->{stopped}++ || !$self->{pid};
    my $pid = $self->{pid};
    kill 'TERM', $pid;
    RevProxyInstance::wait_until(sub { !kill 0, $pid }, 10)
        or kill 'KILL', -$pid, $pid;
    delete $mine{$pid};
}

sub DESTROY {
    local ($?, $!, $@);
    $_[0]->stop if $_[0]{owner} == $$;
}

sub log {
    my ($self, $offset) = @_;
    open my $fh, '<', "$self->{dir}/error_log" or return '';
    seek $fh, $offset // 0, 0;
    local $/;
    return scalar(<$fh>) // '';
}

sub log_offset { return -s "$_[0]{dir}/error_log" || 0 }

# What t/bin/sanitizer-check finds in the error_log (a child that died of a
# signal, an ASan/UBSan report, a leak in our modules), or ''.  Call it
# after stop(), so that reports written at exit are in.
sub crash_report {
    my ($self) = @_;
    my $out = `$self->{top}/t/bin/sanitizer-check $self->{dir} 2>&1`;
    return $? ? ($out || "sanitizer-check failed: $?") : '';
}

# One request on a fresh connection ("Connection: close").
sub get {
    my ($self, $path, %o) = @_;
    return RevProxyInstance::http_request($self->{port}, $o{method} // 'GET',
                                          $path, %o);
}

# The status page as JSON, decoded.
sub status {
    my ($self) = @_;
    my $r;
    # A connection a dying child accepted breaks: ask again.
    for (1 .. 3) {
        $r = $self->get('/rp-status?json');
        last if $r->{status};
        Time::HiRes::sleep(0.1);
    }
    die "status page: $r->{status}\n" unless $r->{status} == 200;
    return JSON::PP::decode_json($r->{body});
}

# A keep-alive connection to the instance.
sub connection { RevProxyInstance::connection($_[0]{port}) }

package RevProxyInstance;

# http_request($port, $method, $path, headers => [...], body => $b):
# one request on its own connection.
sub http_request {
    my ($port, $method, $path, %o) = @_;
    my $c = connection($port) or return { status => 0 };
    my $r = $c->request($method, $path, %o, close => 1);
    $c->close;
    return $r;
}

# A persistent HTTP/1.1 connection to 127.0.0.1:$port.
sub connection {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 5)
        or return undef;
    $s->autoflush(1);
    return bless { sock => $s, buf => '' }, 'RevProxyInstance::Conn';
}

package RevProxyInstance::Conn;

sub close { close $_[0]{sock} if $_[0]{sock}; delete $_[0]{sock} }

sub fill {
    my ($c, $deadline) = @_;
    my $left = $deadline - Time::HiRes::time();
    return 0 if $left <= 0
        || !IO::Select->new($c->{sock})->can_read($left);
    my $n = sysread $c->{sock}, my $chunk, 65536;
    return 0 unless $n;
    $c->{buf} .= $chunk;
    return 1;
}

# request($method, $path, headers => [...], body => $bytes, close => 1,
# timeout => 20): { status, header => {lc name => value}, body }, or
# { status => 0, error } when the connection broke.
sub request {
    my ($c, $method, $path, %o) = @_;
    $c->send($method, $path, %o) or return { status => 0, error => "write: $!" };
    return $c->response($method, %o);
}

# send(...) and response($method, timeout => 20): the two halves of
# request(), for requests in flight on several connections at once.
sub send {
    my ($c, $method, $path, %o) = @_;
    my @h = @{ $o{headers} || [] };
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n";
    $req .= "Connection: close\r\n" if $o{close};
    while (my ($k, $v) = splice @h, 0, 2) { $req .= "$k: $v\r\n" }
    $req .= 'Content-Length: ' . length($o{body}) . "\r\n" if defined $o{body};
    local $SIG{PIPE} = 'IGNORE';
    return syswrite $c->{sock}, $req . "\r\n" . ($o{body} // '');
}

sub response {
    my ($c, $method, %o) = @_;
    my $deadline = Time::HiRes::time() + ($o{timeout} // 20);
    my $end;
    until (($end = index $c->{buf}, "\r\n\r\n") >= 0) {
        $c->fill($deadline) or return { status => 0, error => 'no head',
                                        raw => $c->{buf} };
    }
    my $head = substr $c->{buf}, 0, $end + 4, '';
    my ($line, @lines) = split /\r\n/, $head;
    my (undef, $status) = split / /, $line;
    my %hd;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $hd{lc $k} = defined $hd{lc $k} ? "$hd{lc $k}, $v" : $v;
    }
    my $body = '';
    if ($method eq 'HEAD' || $status =~ /^(1|204|304)/) {
    }
    elsif (($hd{'transfer-encoding'} // '') =~ /chunked/i) {
        while (1) {
            my $i;
            until (($i = index $c->{buf}, "\r\n") >= 0) {
                $c->fill($deadline) or return { status => 0, error => 'chunk' };
            }
            (my $size_line = substr $c->{buf}, 0, $i + 2, '') =~ s/[;\r].*//s;
            my $size = hex $size_line;
            if ($size == 0) {
                until (($i = index $c->{buf}, "\r\n") >= 0) {
                    $c->fill($deadline) or last;
                }
                substr $c->{buf}, 0, $i + 2, '' if $i >= 0;
                last;
            }
            while (length $c->{buf} < $size + 2) {
                $c->fill($deadline) or return { status => 0, error => 'chunk' };
            }
            $body .= substr $c->{buf}, 0, $size, '';
            substr $c->{buf}, 0, 2, '';
        }
    }
    elsif (defined $hd{'content-length'}) {
        while (length $c->{buf} < $hd{'content-length'}) {
            $c->fill($deadline) or return { status => 0, error => 'body' };
        }
        $body = substr $c->{buf}, 0, $hd{'content-length'}, '';
    }
    else {
        1 while $c->fill($deadline);
        $body = $c->{buf};
        $c->{buf} = '';
    }
    return { status => $status, header => \%hd, body => $body };
}

package RevProxyInstance;

# Whatever is still running when the test ends is stopped.
END {
    local ($?, $!, $@);
    for my $pid (grep { $mine{$_} == $$ } keys %mine) {
        kill 'TERM', -$pid;
        kill 'TERM', $pid;
    }
}

1;
