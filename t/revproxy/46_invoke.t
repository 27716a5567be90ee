# t/revproxy/46_invoke.t -- revproxy_invoke, the optional function that lets
# another module proxy the current request (include/mod_revproxy.h),
# through t/modules/mod_rvp_invoke.c, built here with apxs and loaded into
# a separate httpd: its handler passes a URL and rule options from its
# RvpInvoke directive.
#  - the client gets the backend's answer streamed (its first piece before
#    the backend wrote the rest);
#  - the backend sees the URL's request line and Host (the client's with
#    keephost), the client's query not added;
#  - a bad URL, a bad option or an option that chooses requests is 500
#    with one tagged line, no backend contacted; an unreachable backend is
#    502 as for a rule.
use strict;
use warnings;

use File::Copy ();
use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();
use Apache::Test qw(-withtestmore);
use RevProxyTest qw(raw_backend wait_backend received read_request);
use RevProxyInstance qw(member instance free_port wait_until);

plan tests => 17;

local $SIG{ALRM} = sub { die "46_invoke.t: out of time\n" };
alarm 120;

my $vars = Apache::Test::vars();
my $top = $vars->{top_dir};
my $dir = File::Temp::tempdir('rvp-46-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir;

# The module, built outside the tree.
File::Copy::copy("$top/t/modules/mod_rvp_invoke.c", "$dir/mod_rvp_invoke.c")
    or die "copy: $!\n";
my $out = `cd $dir && $vars->{apxs} -c -I $top/include -Wc,"-Wall -Wextra -Werror" mod_rvp_invoke.c 2>&1`;
my $so = "$dir/.libs/mod_rvp_invoke.so";
ok -e $so, 'mod_rvp_invoke built with apxs' or diag $out;
chmod 0755, "$dir/.libs";

# The streaming backend: the head and a first chunk, then the rest only
# once the test says so (the file "go").
my ($sport, $sbe) = raw_backend(handler => sub {
    my ($sock) = @_;
    read_request($sock) or return;
    print $sock "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n5\r\npart1\r\n";
    wait_until(sub { -e "$dir/go" }, 20);
    print $sock "5\r\npart2\r\n0\r\n\r\n";
});
my $m = member(name => 'm', dir => $dir);
my $mp = $m->port;
my $dead = free_port();

sub loc {
    my ($path, @args) = @_;
    return (qq{<Location "$path">}, '    SetHandler rvp-invoke-test',
            '    RvpInvoke ' . join(' ', map { qq{"$_"} } @args), '</Location>');
}

my $h = instance(dir => $dir, mpm => 'prefork', servers => 1, conf => [
    qq{LoadModule rvp_invoke_module "$so"},
    loc('/inv/stream', "http://127.0.0.1:$sport/s/t?a=1"),
    loc('/inv/plain', "http://127.0.0.1:$mp/back/end?x=1", 'timeout=5s'),
    loc('/inv/keep', "http://127.0.0.1:$mp/kept", 'keephost nopipeline'),
    loc('/inv/badurl', 'ftp://127.0.0.1/x'),
    loc('/inv/badopt', "http://127.0.0.1:$mp/x", 'bogus=1'),
    loc('/inv/methods', "http://127.0.0.1:$mp/x", 'methods=GET'),
    loc('/inv/dead', "http://127.0.0.1:$dead/x", 'connecttimeout=2s'),
]);

# 1. Streamed: the first piece reaches the client while the backend holds
#    the rest.
{
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $h->port,
                                  Timeout => 5) or die "connect: $!\n";
    print $c "GET /inv/stream?client=q HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    my $got = '';
    my $sel = IO::Select->new($c);
    my $end = Time::HiRes::time() + 10;
    while ($got !~ /part1/ && Time::HiRes::time() < $end) {
        next unless $sel->can_read(1);
        my $n = sysread $c, my $b, 4096;
        last if defined $n && $n == 0;
        $got .= $b if $n;
    }
    like $got, qr{^HTTP/1\.1 200 .*part1}s, 'invoked: the first piece arrives before the backend wrote the rest';
    unlike $got, qr/part2/, '... and the rest is not there yet';
    open my $go, '>', "$dir/go" or die; close $go;
    $end = Time::HiRes::time() + 10;
    while (Time::HiRes::time() < $end) {
        last unless $sel->can_read(1);
        my $n = sysread $c, my $b, 4096;
        last unless $n;
        $got .= $b;
    }
    like $got, qr/part2/, '... then the rest';
    ok wait_backend($sbe), 'backend done';
    my ($req) = received($sbe);
    is "$req->{method} $req->{uri}", 'GET /s/t?a=1',
        '... it saw the URL\'s request line (the client\'s query not added)';
    is $req->{header}{host}, "127.0.0.1:$sport", '... and the URL\'s Host';
}

# 2. Options: timeout= accepted; keephost sends the client's Host.
{
    my $r = $h->get('/inv/plain');
    is $r->{status}, 200, 'invoked with timeout=5s: 200';
    is $r->{body}, "m GET /back/end?x=1 host=127.0.0.1:$mp body=0", '... backend saw the request line and Host';
    $r = $h->get('/inv/keep');
    is $r->{body}, 'm GET /kept host=localhost body=0', 'keephost: the client\'s Host';
}

# 3. Bad URL / options: 500, one tagged line, no backend contacted.
for my $case (['/inv/badurl', qr/ftp:.*must start with/],
              ['/inv/badopt', qr/unknown option 'bogus=1'/],
              ['/inv/methods', qr/option 'methods=GET' cannot be used here/]) {
    my ($path, $re) = @$case;
    my $n0 = () = $m->requests;
    my $off = $h->log_offset;
    my $r = $h->get($path);
    my @lines = grep { /RVP0020: / } split /\n/, $h->log($off);
    ok $r->{status} == 500 && @lines == 1 && $lines[0] =~ $re,
        "$path: 500 and one RVP0020 line saying why"
        or diag "status $r->{status}: ", $h->log($off);
}
is scalar(() = $m->requests), 2, '... the member saw only the two good requests';

# 4. An unreachable backend: 502, as for a rule.
{
    my $off = $h->log_offset;
    my $r = $h->get('/inv/dead');
    is $r->{status}, 502, 'unreachable backend: 502';
    like $h->log($off), qr/RVP0003: backend http:\/\/127\.0\.0\.1:$dead \(revproxy_invoke /,
        '... logged naming the backend and revproxy_invoke';
}
$h->stop;
is $h->crash_report, '', 'no child crashed, no sanitizer report';
