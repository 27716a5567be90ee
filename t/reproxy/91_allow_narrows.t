# t/reproxy/91_allow_narrows.t -- ReproxyAllow lists only narrow: where an
# outer section and an inner section or .htaccess both set lists, a URL must
# match one entry of each, so a .htaccess author (AllowOverride FileInfo)
# cannot widen the admin's list into a way to reach any URL.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use RevProxyTest qw(:all);
use ReproxyTest qw(:all);

Apache::TestRequest::module('rx_front');
# Apache::TestRequest sets a ten-minute timeout of its own: bound each wait.
Apache::TestRequest::user_agent(keep_alive => 0)->timeout(15);

# A source the lists do not allow: it must never be contacted.
sub untouchable {
    return raw_backend(lifetime => 10, handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        print $sock "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nforbidden";
    });
}

my $dir = docroot() . '/narrow';
my $ht = "$dir/.htaccess";
END { unlink $ht if $ht }

sub htaccess {
    my (@lines) = @_;
    open my $fh, '>', $ht or die "$ht: $!";
    print $fh map { "$_\n" } @lines;
    close $fh;
    chmod 0644, $ht;
}

# --- <Directory> (store only) + .htaccess ---------------------------------------
{
    my ($port, $be) = untouchable();
    htaccess(qq{Header set X-Reproxy-Url "http://127.0.0.1:$port/x"},
             'ReproxyAllow "."');
    my $off = error_log_offset();
    my $res = GET '/narrow/page.txt';
    $be->stop;
    is $res->code, 502, '.htaccess ReproxyAllow "." does not widen the '
                        . '<Directory> list: 502';
    is $be->connections, 0, '... the URL is never fetched';
    ok error_log_wait($off, qr{RVP0200: .*127\.0\.0\.1:$port/x: refused by ReproxyAllow}),
       '... logged as refused by ReproxyAllow';
    unlike $res->content, qr/forbidden|narrow page/, '... nothing of either';
}
{
    htaccess(sprintf('Header set X-Reproxy-Url "%s"', store('store/a.txt')),
             'ReproxyAllow "."');
    my $res = GET '/narrow/page.txt';
    is $res->content, "content of a\n",
       '... a URL both lists allow is served';
}
{
    htaccess(sprintf('Header set X-Reproxy-Url "%s"', store('store/a.txt')),
             'ReproxyAllow "/store/b\.txt$"');
    my $res = GET '/narrow/page.txt';
    is $res->code, 502,
       '.htaccess narrowing the <Directory> list: a URL only the outer allows: 502';
    htaccess(sprintf('Header set X-Reproxy-Url "%s"', store('store/b.txt')),
             'ReproxyAllow "/store/b\.txt$"');
    $res = GET '/narrow/page.txt';
    is $res->content, "content of b\n", '... one both allow is served';
}
{
    # Without a list of its own the .htaccess inherits the outer one.
    my ($port, $be) = untouchable();
    htaccess(qq{Header set X-Reproxy-Url "http://127.0.0.1:$port/y"});
    my $res = GET '/narrow/page.txt';
    $be->stop;
    is $res->code, 502, '.htaccess without ReproxyAllow: the outer list holds';
    is $be->connections, 0, '... not fetched';
}

# --- two <Location>s -------------------------------------------------------------
{
    my ($port, $be) = untouchable();
    my $res = GET stub('narrowloc', u => "http://127.0.0.1:$port/z");
    $be->stop;
    is $res->code, 502, 'an inner <Location> with ReproxyAllow "." does not '
                        . 'widen the outer one\'s list: 502';
    is $be->connections, 0, '... not fetched';

    $res = GET stub('narrowloc', u => store('store/a.txt'));
    is $res->content, "content of a\n", '... a URL both allow is served';
}

done_testing();
