# t/reproxy/94_file_fifo.t -- X-Reproxy-File never blocks on a FIFO, also
# one swapped in for a regular file between any check and the open: while
# another process puts a regular file and a FIFO at the same path in turn,
# as fast as it can, every request is answered at once, either with the
# regular file or 502.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use Fcntl qw(O_WRONLY O_NONBLOCK);
use POSIX ();
use Time::HiRes ();
use RevProxyTest qw(:all);
use ReproxyTest qw(:all);

Apache::TestRequest::module('rx_front');
# Apache::TestRequest sets a ten-minute timeout of its own: bound each wait.
Apache::TestRequest::user_agent(keep_alive => 0)->timeout(3);

my $files = docroot() . '/files';
my $path = "$files/race.txt";
my $reg = "$files/.race-regular";
my $fifo = "$files/.race-fifo";
my $content = "the regular one\n";
my $swapper;

# A worker blocked opening the FIFO (what this test must never see) is let
# go by a writer opening it: the test must not leave one behind.
sub release {
    for (1 .. 3) {
        for my $name ($fifo, $path) {
            my $w;
            close $w if sysopen $w, $name, O_WRONLY | O_NONBLOCK;
        }
        Time::HiRes::sleep(0.05);
    }
}

sub stop_swapper {
    return unless $swapper;
    kill 'TERM', $swapper;
    waitpid $swapper, 0;
    undef $swapper;
}

END {
    local ($?, $!, $@);
    stop_swapper();
    release() if $fifo;
    unlink grep { defined } $path, "$path.r", "$path.f", $reg, $fifo;
}

unlink $path, "$path.r", "$path.f", $reg, $fifo;
{
    open my $fh, '>', $reg or die "$reg: $!";
    print $fh $content;
    close $fh;
    chmod 0644, $reg;
}
POSIX::mkfifo($fifo, 0644) or die "mkfifo $fifo: $!";
link $reg, $path or die "link $path: $!";

# The swapper: the regular file, then the FIFO, at $path (each rename
# replaces it atomically, so the path always exists), for at most 20 s.
$swapper = fork // die "fork: $!";
if (!$swapper) {
    $SIG{TERM} = sub { POSIX::_exit(0) };
    my $end = time + 20;
    while (time < $end) {
        for (1 .. 500) {
            link $reg, "$path.r";
            rename "$path.r", $path;
            link $fifo, "$path.f";
            rename "$path.f", $path;
        }
    }
    POSIX::_exit(0);
}

my (%codes, $slowest, $bad);
my $deadline = Time::HiRes::time() + 8;
my $n = 0;
while ($n < 300 && Time::HiRes::time() < $deadline) {
    $n++;
    my $t0 = Time::HiRes::time();
    my $res = GET stub('file', f => $path);
    my $took = Time::HiRes::time() - $t0;
    $slowest = $took if !defined $slowest || $took > $slowest;
    $codes{$res->code}++;
    if ($took > 2) {
        $bad = "request $n took $took s (" . $res->code . ')';
        last;
    }
    if ($res->code == 200 && $res->content ne $content) {
        $bad = "request $n: 200 with '" . $res->content . "'";
        last;
    }
}
stop_swapper();
release();

ok !$bad, "$n requests while a FIFO and a regular file take turns at the path: "
          . 'each answered at once' or diag $bad;
is_deeply [grep { $_ != 200 && $_ != 502 } keys %codes], [],
   '... with the regular file or 502'
   or diag explain \%codes;
ok $codes{502}, '... (the FIFO was met)' or diag explain \%codes;
diag sprintf 'answers: %s; slowest %.3f s',
    join(', ', map { "$_ x $codes{$_}" } sort keys %codes), $slowest // 0;

done_testing();
