# t/reproxy/80_config.t -- the directives' arguments are checked by
# `httpd -t` (each message names the directive), AllowReproxy On without
# mod_revproxy fails the config test saying so, and .htaccess (FileInfo)
# can turn reproxying on and off but open no file root (more of that in
# 92_fileroot_context.t).
use strict;
use warnings;

use File::Temp ();
use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use RevProxyTest qw(:all);
use ReproxyTest qw(:all);

my $vars = Apache::Test::vars();
my $top = $vars->{top_dir};
my $httpd = $vars->{httpd};


my $d = docroot();
my @good = (
    'AllowReproxy On',
    'PreserveHeaders Content-Type Content-Disposition',
    'PreserveHeaders Cache-Control',
    'ReproxyAllow "^https?://storage[0-9]+\.internal/"',
    'ReproxyMaxRedirects 0',
    'ReproxyForwardHeaders none',
    'ReproxyTimeout 250ms',
    'ReproxyTimeout 1m',
    qq{ReproxyFileRoot "$d/files"},
    qq{<Directory "$d">\n    AllowReproxy Off\n    ReproxyTimeout 2s\n</Directory>},
    qq{<Location "/x">\n    AllowReproxy On\n    ReproxyForwardHeaders Range X-Y\n</Location>},
);
my ($rc, $out) = config_test(\@good);
is $rc, 0, 'httpd -t accepts the directives in every context' or diag $out;

my @bad = (
    ['ReproxyAllow "^http://(unclosed"',        qr/ReproxyAllow/],
    ['ReproxyMaxRedirects -1',                  qr/ReproxyMaxRedirects/],
    ['ReproxyMaxRedirects 21',                  qr/ReproxyMaxRedirects/],
    ['ReproxyMaxRedirects lots',                qr/ReproxyMaxRedirects/],
    ['ReproxyTimeout soon',                     qr/ReproxyTimeout/],
    ['ReproxyTimeout 0',                        qr/ReproxyTimeout/],
    ['ReproxyForwardHeaders Range Cookie',      qr/ReproxyForwardHeaders: Cookie/],
    ['ReproxyForwardHeaders Authorization',     qr/ReproxyForwardHeaders: Authorization/],
    ['ReproxyForwardHeaders X-Proxy-Capabilities', qr/ReproxyForwardHeaders/],
    ['ReproxyForwardHeaders X-Reproxy-Fetch',   qr/ReproxyForwardHeaders: X-Reproxy-Fetch/],
    ['ReproxyForwardHeaders Range none',        qr/ReproxyForwardHeaders/],
    ['PreserveHeaders Content-Length',          qr/PreserveHeaders: Content-Length/],
    ['PreserveHeaders X-Reproxy-Url',           qr/PreserveHeaders/],
    ['PreserveHeaders "bad name"',              qr/PreserveHeaders/],
    ['ReproxyFileRoot /nonexistent/reproxy/root', qr/ReproxyFileRoot/],
    [qq{ReproxyFileRoot "$d/files/doc.txt"},    qr/ReproxyFileRoot: .* not a directory/],
    ['AllowReproxy maybe',                      qr/AllowReproxy/],
);
for my $case (@bad) {
    my ($line, $names) = @$case;
    my ($rc, $out) = config_test([$line]);
    ok $rc != 0, "httpd -t rejects: $line";
    like $out, $names, '... naming the directive';
}

($rc, $out) = config_test([qq{<Directory "/srv">\n    AllowReproxy On\n</Directory>}],
                          no_revproxy => 1);
ok $rc != 0, 'AllowReproxy On without mod_revproxy fails the config test';
like $out, qr/AllowReproxy On .*needs mod_revproxy/, '... saying so';
($rc, $out) = config_test(['ReproxyTimeout 1s', 'AllowReproxy Off'],
                          no_revproxy => 1);
is $rc, 0, '... while AllowReproxy Off needs nothing' or diag $out;

# --- .htaccess (rx_front's document root has AllowOverride FileInfo) --------
Apache::TestRequest::module('rx_front');
Apache::TestRequest::user_agent(keep_alive => 0);
my $ht = "$d/ht";
mkdir $ht;
END { unlink "$ht/.htaccess", "$ht/page.txt"; rmdir $ht }
sub write_file {
    my ($path, $text) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    chmod 0644, $path;
}
write_file("$ht/page.txt", "stub page\n");
my $url = store('store/a.txt');

write_file("$ht/.htaccess", qq{Header set X-Reproxy-Url "$url"\nAllowReproxy Off\n});
my $res = GET '/ht/page.txt';
is $res->content, "stub page\n", '.htaccess AllowReproxy Off: not reproxied';
is $res->header('X-Reproxy-Url'), $url, '... the response passes untouched';

write_file("$ht/.htaccess", qq{Header set X-Reproxy-Url "$url"\nAllowReproxy On\n});
$res = GET '/ht/page.txt';
is $res->content, "content of a\n", '.htaccess AllowReproxy On: reproxied';

write_file("$ht/.htaccess", qq{AllowReproxy On\nReproxyFileRoot /\n});
$res = GET '/ht/page.txt';
is $res->code, 500, '.htaccess: ReproxyFileRoot is an error';

done_testing();
