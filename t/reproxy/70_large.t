# t/reproxy/70_large.t -- a 50 MiB source is reproxied byte-exact (MD5),
# streamed with flat memory: a client that stops reading for a while holds
# the transfer back (no buffering in httpd), and the httpd children's RSS
# grows by less than 20 MiB over the whole transfer.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use Digest::MD5 ();
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes ();
use RevProxyTest qw(:all);
use ReproxyTest qw(:all);

Apache::TestRequest::module('rx_front');
Apache::TestRequest::user_agent(keep_alive => 0);

my $size = 50 * 1024 * 1024;
my $file = docroot() . '/store/big.bin';
END { unlink $file if $file }

# 50 MiB of reproducible, incompressible-looking bytes.
my $want = Digest::MD5->new;
{
    open my $fh, '>', $file or die "$file: $!";
    binmode $fh;
    my $block = join '', map { pack 'N', (($_ * 2654435761) & 0xffffffff) } 1 .. 16384;
    for my $i (0 .. $size / length($block) - 1) {
        my $b = pack('N', $i) . substr($block, 4);
        print $fh $b;
        $want->add($b);
    }
    close $fh or die "$file: $!";
}
$want = $want->hexdigest;
chmod 0644, $file;

# Warm up: pools, the keep-alive connection to the store, the children.
GET stub('cgi', u => store('store/a.txt')) for 1 .. 5;
my $rss_before = children_rss();
ok $rss_before > 0, "httpd children's RSS measured ($rss_before KiB)";

my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                 PeerPort => front_port(), Timeout => 5)
    or die "connect: $!";
print $sock "GET " . stub('cgi', u => store('store/big.bin'))
    . " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

my ($head, $got, $md5, $rss_paused, $max_rss) = ('', 0, Digest::MD5->new, 0, 0);
my $buf = '';
my $deadline = Time::HiRes::time() + 120;
my $paused = 0;
while (Time::HiRes::time() < $deadline) {
    last unless IO::Select->new($sock)->can_read(30);
    my $n = sysread $sock, $buf, 262144;
    last unless $n;
    if (!defined $head || $head !~ /\r\n\r\n/) {
        $head .= $buf;
        my $i = index $head, "\r\n\r\n";
        next if $i < 0;
        $buf = substr $head, $i + 4;
        $head = substr $head, 0, $i + 4;
    }
    $got += length $buf;
    $md5->add($buf);
    if (!$paused && $got >= 2 * 1024 * 1024) {
        # Stop reading: httpd must wait for us, not buffer the source.
        $paused = 1;
        sleep 2;
        $rss_paused = children_rss();
    }
    if ($got % (8 * 1024 * 1024) < 262144) {
        my $r = children_rss();
        $max_rss = $r if $r > $max_rss;
    }
}
close $sock;
my $rss_after = children_rss();
$max_rss = $rss_paused if $rss_paused > $max_rss;
$max_rss = $rss_after if $rss_after > $max_rss;

like $head, qr{^HTTP/1\.1 200 }, '50 MiB source: 200';
like $head, qr/\r\nContent-Length: $size\r\n/i, '... its Content-Length';
is $got, $size, '... every byte';
is $md5->hexdigest, $want, '... byte-exact (MD5)';
my $growth = ($max_rss - $rss_before) / 1024;
cmp_ok $growth, '<', 20,
       sprintf 'RSS of the children grew by %.1f MiB at most (paused: %d KiB, '
             . 'after: %d KiB)', $growth, $rss_paused, $rss_after;

done_testing();
