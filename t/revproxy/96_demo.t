# t/revproxy/96_demo.t -- build/demo.sh (make -f Makefile.apxs demo): with
# one of its ports busy it refuses at once, naming the variable to change,
# before printing anything else; on free ports it starts, prints its list of
# curl commands on one screen, each of which works (run here in the order
# printed, each answer checked), and Ctrl-C (SIGTERM here) stops the server
# and removes its directory.  The test server is not used; the demo uses the
# build this suite runs (SANITIZE as build/.flags says, the suite's httpd).
use strict;
use warnings;

use File::Temp ();
use IO::Socket::INET ();
use POSIX ();
use Time::HiRes ();
use Apache::Test qw(-withtestmore);
use RevProxyInstance qw(free_port wait_until);

my $top = Apache::Test::vars('top_dir');
my $demo = "$top/build/demo.sh";

plan skip_all => 'curl is not installed (sh build/deps.sh demo)'
    unless system('command -v curl >/dev/null 2>&1') == 0;
plan tests => 33;

local $SIG{ALRM} = sub { die "96_demo.t: out of time\n" };
alarm 240;

# The demo builds with `make all`: the same flags as this suite's build, so
# that nothing is rebuilt under the running suite.
if (open my $fh, '<', "$top/build/.flags") {
    my $flags = <$fh> // '';
    $ENV{SANITIZE} = $1 if $flags =~ /^SANITIZE=(\d)/;
}
$ENV{HTTPD} = Apache::Test::vars('httpd');

my $dir = File::Temp::tempdir('rvp-96-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return scalar(<$fh>) // '';
}

# Start the demo with these variables, stdout and stderr to files; returns
# its pid (the leader of its own process group).
sub start_demo {
    my (%env) = @_;
    unlink "$dir/out", "$dir/error_log";
    my $pid = fork;
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        POSIX::setsid();
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/out";
        open STDERR, '>', "$dir/error_log";
        @ENV{keys %env} = values %env;
        { exec 'sh', $demo }
        POSIX::_exit(127);
    }
    return $pid;
}

# Wait (bounded) for pid to exit: its exit status, or undef.
sub wait_exit {
    my ($pid, $timeout) = @_;
    my $st;
    wait_until(sub {
        my $w = waitpid($pid, POSIX::WNOHANG());
        $st = $? >> 8 if $w == $pid;
        $w == $pid;
    }, $timeout) or return undef;
    return $st;
}

sub stop_demo {
    my ($pid) = @_;
    kill 'TERM', $pid;
    my $st = wait_exit($pid, 20);
    unless (defined $st) {
        kill 'KILL', -$pid;
        waitpid $pid, 0;
    }
    # Whatever the demo started is gone with it.
    wait_until(sub { !kill 0, -$pid }, 10) or kill 'KILL', -$pid;
    return $st;
}

# ---- 1. a busy port: refused before anything is printed ---------------------

my %ports = (DEMO_PORT => free_port(), DEMO_BACKEND_PORT => free_port(),
             DEMO_STORAGE_PORT => free_port(), DEMO_DEAD_PORT => free_port());
for my $busy (qw(DEMO_PORT DEMO_STORAGE_PORT)) {
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                  LocalPort => $ports{$busy}, Listen => 1,
                                  ReuseAddr => 1) or die "listen: $!";
    my $t0 = Time::HiRes::time();
    my $pid = start_demo(%ports);
    my $st = wait_exit($pid, 30);
    stop_demo($pid) unless defined $st;
    close $l;
    is $st, 1, "$busy busy: the demo exits with 1";
    is slurp("$dir/out"), '', '... having printed nothing';
    like slurp("$dir/error_log"), qr/port $ports{$busy} .*\($busy\) is in use.*DEMO_PORT=\d+ make -f Makefile\.apxs demo/s,
        '... saying which port and variable, and how to choose others';
    ok Time::HiRes::time() - $t0 < 10, '... at once';
}

# ---- 2. the demo on free ports ---------------------------------------------------

my $pid = start_demo(%ports);
# Never leave it running, whatever happens below.
END { kill 'TERM', $pid if $pid }
my $ready = wait_until(sub { slurp("$dir/out") =~ /^Ctrl-C stops/m
                             || !kill(0, $pid) }, 180)
    && slurp("$dir/out") =~ /^Ctrl-C stops/m;
ok $ready, 'the demo starts and prints its list'
    or diag slurp("$dir/out") . slurp("$dir/error_log");
my $f = "http://127.0.0.1:$ports{DEMO_PORT}";
ok wait_until(sub {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $ports{DEMO_PORT});
        $s ? 1 : 0;
    }, 30), '... and its front answers';

my $out = slurp("$dir/out");
my ($tmp) = $out =~ /\(config: (\S+)\/httpd\.conf\)/;
ok $tmp && -d $tmp, "its directory: " . ($tmp // 'none');
my ($list) = $out =~ /^(mod_revproxy demo:.*?^Ctrl-C stops[^\n]*\n)/ms;
my @lines = split /\n/, $list // '';
ok @lines > 10 && @lines <= 24, 'the list fits on one screen (' . scalar(@lines) . ' lines)';

# What each printed command must show, in the order printed.
my $dead = $ports{DEMO_DEAD_PORT};
my @expect = (
    [ qr{^curl -i \S+/app/$}, qr{\AHTTP/1\.1 200 .*hello from the backend}s ],
    [ qr{events\.cgi}, qr{data: tick 1 .*data: tick 5 }s ],
    [ qr{big\.bin}, qr{^10485760 bytes$}m ],
    [ qr{/app/static/local\.txt}, qr{\AHTTP/1\.1 200 .*served by the front itself}s ],
    [ qr{/app/dir$}, qr{\AHTTP/1\.1 301 .*^Location: \Q$f\E/app/dir/\r?$}ms ],
    [ qr{-d hello \S+/app/cgi/echo\.cgi}, qr{method: POST.*body bytes: 5.*X-Forwarded-For: 127\.0\.0\.1}s ],
    [ qr{/ro/cgi/echo\.cgi}, qr{\AHTTP/1\.1 404 } ],
    [ qr{docs\.localhost}, qr{\Adocs\.localhost was mapped to /docs/} ],
    [ qr{/pool/ \S+/pool/ \S+/pool/$}, qr{\A(?:hello from the backend\n){3}\z} ],
    [ qr{state=drain&nonce=\$\(curl}, qr{\A303\n\z} ],
    [ qr{^curl \S+/pool/$}, qr{\Ahello from the standby member} ],
    [ qr{/download/report\.txt}, qr{\AHTTP/1\.1 200 (?!.*own body).*^Content-Disposition: attachment; filename="report\.txt"\r?\n.*from the storage server}ms ],
    [ qr{status\?json'$}, qr{"url":"http://127\.0\.0\.1:$dead","state":"down"} ],
    [ qr{\?metrics' \| grep _count$}, qr/^revproxy_rule_response_header_seconds_count\{[^}]*\^\/pool\/[^}]*\} 4$/m ],
    [ qr{grep -o 'href}, qr{\Ahref="\?json"\nhref="\?metrics"\n\z} ],
    [ qr{server-status\?auto' \| grep RevProxy$}, qr{^RevProxyMembersDown: 1\n.*^RevProxyMembersDrain: 1$}ms ],
);
my @cmds = map { /^  (curl .+?) +# [^#]*$/ ? $1 : () } @lines;
is scalar(@cmds), scalar(@expect), 'as many commands as this test knows';
my $i = 0;
for my $cmd (@cmds) {
    my $e = $expect[$i++] || [ qr/(?!)/, qr/(?!)/ ];
    local $ENV{DEMO_CMD} = $cmd;
    my $res = `timeout 30 sh -c "\$DEMO_CMD" 2>/dev/null`;
    ok $cmd =~ $e->[0] && $res =~ $e->[1], "works: $cmd"
        or diag "got: " . substr($res, 0, 600);
}

my $st = stop_demo($pid);
$pid = 0;
ok defined $st, 'SIGTERM stops the demo';
ok !-e "$tmp/httpd.conf", '... and its directory is removed';
ok !IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $ports{DEMO_PORT}),
    '... and its port is closed';
# Its stderr (httpd's error log) as the suite's: t/bin/sanitizer-check.
my $report = `$top/t/bin/sanitizer-check $dir 2>&1`;
is $report, '', 'no crash or sanitizer report in its error log';
