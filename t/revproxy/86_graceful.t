# t/revproxy/86_graceful.t -- `apachectl graceful` while requests are
# flowing loses none of them: a separate httpd (event, two children)
# proxies 20,000 requests on fresh connections while it is gracefully
# restarted three times.
use strict;
use warnings;

use File::Temp ();
use POSIX ();
use Time::HiRes ();
use Apache::Test qw(-withtestmore);
use RevProxyInstance qw(member instance);

plan skip_all => 'ab (apache2-utils) not installed' unless `ab -V 2>&1` =~ /ApacheBench/;

my $dir = File::Temp::tempdir(CLEANUP => 1);
chmod 0755, $dir;
my $m = member(name => 'g', dir => $dir, lifetime => 300);
my @conf = (qq{RevProxyPass "^/g/(.*)\$" "http://127.0.0.1:${\ $m->port}/\$1"});
my $h = instance(dir => $dir, mpm => 'event', servers => 2, conf => \@conf);

my $out_file = "$dir/ab.out";
my $ab = fork;
die "fork: $!" unless defined $ab;
if (!$ab) {
    { exec "ab -q -r -s 20 -n 20000 -c 8 http://127.0.0.1:${\ $h->port}/g/x > $out_file 2>&1" };
    POSIX::_exit(127);
}
my $restarts = 0;
for (1 .. 3) {
    Time::HiRes::sleep(1);
    $restarts++ if $h->graceful(\@conf);
}
waitpid $ab, 0;
is $restarts, 3, 'three graceful restarts under load';
open my $fh, '<', $out_file or die;
my $out = do { local $/; <$fh> };
like $out, qr/^Complete requests:\s+20000$/m, 'all 20000 requests completed' or diag $out;
like $out, qr/^Failed requests:\s+0$/m, '... none failed' or diag $out;
unlike $out, qr/^Non-2xx responses:/m, '... every one answered 200' or diag $out;

done_testing();
