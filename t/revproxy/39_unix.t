# t/revproxy/39_unix.t -- backends on Unix-domain sockets: DEST
# unix:/PATH|http://HOST/PATH and group members of that form, on a separate
# httpd whose children (www-data when the suite runs as root) connect to a
# Perl backend listening on a socket in a directory they can reach.
#  - the request reaches the socket with the rule's Host and path;
#  - keep-alive: several requests share one backend connection, and a unix
#    backend and a TCP backend of the same Host never share a pool;
#  - a group of a unix member and a TCP member takes turns, the status page
#    names the unix member as configured, the health check reaches it, and
#    failover leaves the unix member when its socket is gone;
#  - a missing socket is a 502 with one tagged error-log line naming it;
#  - a capture reference in the socket path, a relative path, or https
#    after the '|' fails the config test, naming the directive.
use strict;
use warnings;

use File::Temp ();
use IO::Socket::UNIX ();
use POSIX ();
use Socket ();
use Apache::Test qw(-withtestmore);
use RevProxyTest qw(read_request respond config_test);
use RevProxyInstance qw(member instance wait_until);

plan tests => 30;

local $SIG{ALRM} = sub { die "39_unix.t: out of time\n" };
alarm 120;

my $dir = File::Temp::tempdir('rvp-39-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir;
my @mine;
END { kill 'TERM', $_ for @mine }

# A keep-alive HTTP server on the Unix socket $path: answers every request
# with 200 "NAME METHOD URI host=HOST"; each accepted connection appends
# "connection" and each request "METHOD URI host=HOST" to DIR/NAME.log.
sub unix_member {
    my ($name, $path) = @_;
    unlink $path;
    my $listen = IO::Socket::UNIX->new(Type => Socket::SOCK_STREAM(),
                                       Local => $path, Listen => 16)
        or die "listen on $path: $!\n";
    chmod 0666, $path;          # the children connect as www-data
    my $pid = fork // die "fork: $!\n";
    if ($pid) {
        close $listen;
        push @mine, $pid;
        return $pid;
    }
    POSIX::setpgid(0, 0);
    $SIG{CHLD} = 'IGNORE';
    $SIG{TERM} = sub { unlink $path; POSIX::_exit(0) };
    alarm 100;
    while (1) {
        my $sock = $listen->accept or next;
        note_line($name, 'connection');
        my $kid = fork;
        if (defined $kid && $kid == 0) {
            close $listen;
            $sock->autoflush(1);
            while (my $req = read_request($sock, timeout => 30)) {
                my $host = $req->{header}{host} // '';
                note_line($name, "$req->{method} $req->{uri} host=$host");
                respond($sock, 200, ['Content-Type' => 'text/plain',
                                     'X-Member' => $name],
                        "$name $req->{method} $req->{uri} host=$host");
            }
            POSIX::_exit(0);
        }
        close $sock;
    }
}

sub note_line {
    my ($name, $line) = @_;
    open my $fh, '>>', "$dir/$name.log" or return;
    print $fh "$line\n";
    close $fh;
}

sub lines_of {
    my ($name) = @_;
    open my $fh, '<', "$dir/$name.log" or return ();
    chomp(my @l = <$fh>);
    return @l;
}

sub stop_member {
    my ($pid) = @_;
    kill 'TERM', -$pid, $pid;
    waitpid $pid, 0;
}

my $sock = "$dir/app.sock";
my $sock2 = "$dir/grp.sock";
my $upid = unix_member('u', $sock);
my $gpid = unix_member('g', $sock2);
my $t = member(name => 't', dir => $dir);
my $tp = $t->port;
my $gmember = "unix:$sock2|http://grp.example/m";

my $h = instance(dir => $dir, mpm => 'prefork', servers => 1, conf => [
    'LogFormat "%U %{revproxy-backend}n %{revproxy-reused}n" rvp',
    qq{CustomLog "$dir/access_log" rvp},
    qq{RevProxyPass "^/u/(.*)\$" "unix:$sock|http://app.example/base/\$1"},
    # Same Host as the TCP member: the pools must stay apart.
    qq{RevProxyPass "^/same-unix/(.*)\$" "unix:$sock|http://127.0.0.1:$tp/\$1"},
    qq{RevProxyPass "^/same-tcp/(.*)\$" "http://127.0.0.1:$tp/\$1"},
    qq{RevProxyPass "^/gone/(.*)\$" "unix:$dir/missing.sock|http://app/\$1"},
    qq{RevProxyBackend mix $gmember http://127.0.0.1:$tp/tcp retry=5m hcheck=300ms hcheckuri=/health},
    'RevProxyPass "^/g/(.*)$" "backend://mix/$1"',
]);

sub access_lines {
    open my $fh, '<', "$dir/access_log" or return ();
    chomp(my @l = <$fh>);
    return @l;
}

# 1. A request over the socket: the rule's Host and path, the query kept.
{
    my $r = $h->get('/u/hello?x=1');
    is $r->{status}, 200, 'GET over the Unix socket: 200';
    is $r->{body}, 'u GET /base/hello?x=1 host=app.example',
        '... the backend saw the rule\'s path, query and Host';
}

# 2. Keep-alive over the socket: three more requests, still one connection.
{
    my @st = map { $h->get("/u/k$_")->{status} } 1 .. 3;
    is_deeply \@st, [200, 200, 200], 'three more requests: 200';
    my @conns = grep { $_ eq 'connection' } lines_of('u');
    is scalar(@conns), 1, '... all four on one backend connection (pooled)';
    ok wait_until(sub { grep { m{^/u/k3 } } access_lines() }, 5),
        '... access log written';
    my ($line) = grep { m{^/u/k3 } } access_lines();
    is $line, "/u/k3 unix:$sock 1",
        '... revproxy-backend is unix:/PATH, revproxy-reused 1';
}

# 3. A unix backend and a TCP backend with the same Host: separate pools.
{
    my @who;
    for my $i (1 .. 3) {
        push @who, $h->get("/same-unix/s$i")->{header}{'x-member'} // '?';
        push @who, $h->get("/same-tcp/s$i")->{header}{'x-member'} // '?';
    }
    is_deeply \@who, [('u', 't') x 3],
        'same Host over the socket and over TCP: each went where its rule says';
    is_deeply [grep { m{/s\d} } map { (split / /)[1] // "" } lines_of('u')],
        ['/s1', '/s2', '/s3'], '... the socket got only its own requests';
    is_deeply [grep { m{/s\d} } map { (split / /)[1] } $t->requests],
        ['/s1', '/s2', '/s3'], '... the TCP backend only its own';
}

# 4. A group with a unix member and a TCP member.
{
    my @who = map { $h->get("/g/r$_")->{body} } 1 .. 4;
    is scalar(grep { /^g GET \/m\/r\d host=grp\.example$/ } @who), 2,
        'group: two of four requests over the socket, base path and Host of the member';
    is scalar(grep { /^t GET \/tcp\/r\d / } @who), 2, '... two over TCP';
    my $st = $h->status;
    my ($g) = grep { $_->{name} eq 'mix' } @{ $st->{backends} };
    my @urls = map { $_->{url} } @{ $g->{members} };
    is_deeply \@urls, [$gmember, "http://127.0.0.1:$tp/tcp"],
        '... the status page names the unix member as configured';
    ok wait_until(sub { grep { m{^GET /m/health host=grp\.example$} } lines_of('g') }, 5),
        '... the health check reaches the unix member over its socket';
    my ($gl) = grep { m{^/g/r} } access_lines();
    like $gl // '', qr{^/g/r\d (?:unix:\Q$sock2\E|http://127\.0\.0\.1:$tp) [01]$},
        '... access log names the member that answered';

    # The socket goes away: the member is marked down, requests fail over.
    stop_member($gpid);
    ok !-e $sock2, '... unix member stopped, its socket removed';
    my $off = $h->log_offset;
    my @after = map { $h->get("/g/f$_") } 1 .. 4;
    is_deeply [map { $_->{status} } @after], [200, 200, 200, 200],
        '... four requests after: 200';
    is scalar(grep { $_->{body} =~ /^t / } @after), 4, '... all from the TCP member';
    my ($m) = grep { $_->{url} eq $gmember }
        @{ (grep { $_->{name} eq 'mix' } @{ $h->status->{backends} })[0]{members} };
    is $m->{state}, 'down', '... the unix member is down';
    like $h->log($off), qr/RVP\d+: [^\n]*unix:\Q$sock2\E/,
        '... and the error log names its socket';
}

# 5. A missing socket: 502, one tagged line naming it.
{
    my $off = $h->log_offset;
    my $r = $h->get('/gone/x');
    is $r->{status}, 502, 'missing socket: 502';
    ok wait_until(sub { $h->log($off) =~ /RVP\d+: / }, 5), '... logged';
    my @lines = grep { /RVP\d+: / } split /\n/, $h->log($off);
    is scalar(@lines), 1, '... in one line';
    like $lines[0] // '', qr/backend unix:\Q$dir\E\/missing\.sock .*connect to unix:\Q$dir\E\/missing\.sock failed.*answered 502/,
        '... naming the socket';
}

# 6. The socket path comes from the configuration only.
{
    my ($rc, $out) = config_test(['RevProxyPass "^/(.*)$" "unix:/run/$1.sock|http://app/"']);
    ok $rc != 0 && $out =~ /RevProxyPass: .*capture reference/,
        'a capture in the socket path fails the config test, naming the directive'
        or diag $out;
    ($rc, $out) = config_test(['RevProxyPass "^/(.*)$" "unix:/run/\1.sock|http://app/"']);
    ok $rc != 0 && $out =~ /RevProxyPass: .*capture reference/, '... \1 too'
        or diag $out;
    ($rc, $out) = config_test(['RevProxyPass "^/(.*)$" "unix:run/a.sock|http://app/$1"']);
    ok $rc != 0 && $out =~ /RevProxyPass: .*absolute/, 'a relative path fails'
        or diag $out;
    ($rc, $out) = config_test(['RevProxyPass "^/(.*)$" "unix:/run/a.sock|https://app/$1"']);
    ok $rc != 0 && $out =~ /RevProxyPass: .*no https/, 'https after the socket fails'
        or diag $out;
    ($rc, $out) = config_test(['RevProxyBackend g "unix:/run/$1.sock|http://app/"',
                               'RevProxyPass "^/(.*)$" "backend://g/$1"']);
    ok $rc != 0 && $out =~ /RevProxyBackend g: member .*unix:.*capture reference/,
        'a member with a capture in the socket path fails too' or diag $out;
    ($rc, $out) = config_test(['RevProxyBackend g "unix:/run/a.sock|https://app/"',
                               'RevProxyPass "^/(.*)$" "backend://g/$1"']);
    ok $rc != 0 && $out =~ /RevProxyBackend g: member .*no https/,
        '... and https after a member\'s socket' or diag $out;
}

$h->stop;
is $h->crash_report, '', 'no child crashed, no sanitizer report';
stop_member($upid);
