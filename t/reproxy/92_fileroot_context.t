# t/reproxy/92_fileroot_context.t -- ReproxyFileRoot belongs to the admin:
# server config, virtual host, <Directory> and <Location> take it, while a
# .htaccess naming it is an error for that request (500 and an error-log
# line, as httpd does for what AllowOverride does not permit), so a
# .htaccess author cannot open the file system beyond httpd's access
# control, not even below the .htaccess itself.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use RevProxyTest qw(:all);
use ReproxyTest qw(:all);

Apache::TestRequest::module('rx_front');
# Apache::TestRequest sets a ten-minute timeout of its own: bound each wait.
Apache::TestRequest::user_agent(keep_alive => 0)->timeout(15);

my $d = docroot();

# --- where the directive is accepted -------------------------------------------
{
    my ($rc, $out) = config_test([
        qq{ReproxyFileRoot "$d/files"},
        qq{<VirtualHost 127.0.0.1:1>\n    ReproxyFileRoot "$d/files"\n</VirtualHost>},
        qq{<Directory "$d">\n    ReproxyFileRoot "$d/files"\n</Directory>},
        qq{<Location "/x">\n    ReproxyFileRoot "$d/store"\n</Location>},
    ]);
    is $rc, 0, 'ReproxyFileRoot in server config, virtual host, <Directory> '
               . 'and <Location>' or diag $out;
}

# --- .htaccess (rx_front's document root has AllowOverride FileInfo) -------------
my $dir = "$d/fileroot";
my $ht = "$dir/.htaccess";
END { unlink $ht if $ht }

sub htaccess {
    my (@lines) = @_;
    open my $fh, '>', $ht or die "$ht: $!";
    print $fh map { "$_\n" } @lines;
    close $fh;
    chmod 0644, $ht;
}

for my $case (["$dir", 'its own directory'], ["$d/outside", 'another directory']) {
    my ($root, $what) = @$case;
    htaccess(qq{ReproxyFileRoot "$root"},
             qq{Header set X-Reproxy-File "$root/}
             . ($root eq $dir ? 'page.txt' : 'secret.txt') . '"');
    my $off = error_log_offset();
    my $res = GET '/fileroot/page.txt';
    is $res->code, 500, ".htaccess ReproxyFileRoot ($what): 500";
    unlike $res->content, qr/secret|htaccess author/, '... nothing of the files';
    ok error_log_wait($off, qr{\Q$ht\E: ReproxyFileRoot not allowed here}),
       '... and the error log says the directive is not allowed there';
}

{
    htaccess('AllowReproxy On');
    my $res = GET '/fileroot/page.txt';
    is $res->content, "a file of the .htaccess author\n",
       'the other directives still work in .htaccess';
}

done_testing();
