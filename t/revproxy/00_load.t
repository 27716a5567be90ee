# t/revproxy/00_load.t -- the server starts with both modules from the build
# tree, and `httpd -t` rejects bad directives with a message naming them.
use strict;
use warnings;

use File::Temp ();
use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use RevProxyTest qw(config_test);

my $vars = Apache::Test::vars();
my $top = $vars->{top_dir};
my $httpd = $vars->{httpd};

my @good = (
    q{RevProxyPass "^/a/(.*)$" "http://127.0.0.1:8080/$1"},
    q{RevProxyPass "^/static/" "!"},
    q{RevProxyPass "^/slow/(.*)$" "http://127.0.0.1:8080/$1" timeout=1m connecttimeout=250ms},
    q{RevProxyPassFullURL "^http://(\w+)\.example\.org:(\d+)/(.*)$" "http://$1.example.net:$2/$3" methods=GET,HEAD},
    q{RevProxyPass "^/short/(.*)$" "http://127.0.0.1:8080/$1" ttl=4s},
    q{RevProxyBackend shortlived http://127.0.0.1:8081 ttl=500ms},
    q{RevProxyForwarded On},
    qq{<Location "/reproxied">\n    AllowReproxy On\n</Location>},
);
my @bad = (   # [ config line, what the message must name ]
    [ q{RevProxyPass "^/(" "http://127.0.0.1/"},              qr/RevProxyPass/ ],
    [ q{RevProxyPass "^/a" "http://127.0.0.1/" bogus=1},       qr/RevProxyPass/ ],
    [ q{RevProxyPass "^/(a)" "http://127.0.0.1/$2"},           qr/RevProxyPass/ ],
    [ q{RevProxyPass "^/a" "not a url"},                       qr/RevProxyPass/ ],
    [ q{RevProxyPassFullURL "^http://(" "http://127.0.0.1/"},  qr/RevProxyPassFullURL/ ],
    [ q{RevProxyPass "^/a" "backend://nosuchgroup/x"},         qr/nosuchgroup/ ],
    [ q{RevProxyPass "^/a" "http://127.0.0.1/" timeout=2x},    qr/RevProxyPass/ ],
    [ q{RevProxyTimeout soon},                                 qr/RevProxyTimeout/ ],
    [ q{RevProxyTimeout 0},                          qr/RevProxyTimeout: '0' must be more than 0/ ],
    [ q{RevProxyPass "^/a" "http://127.0.0.1/" timeout=0},     qr/RevProxyPass: 'timeout=0' must be more than 0/ ],
    [ q{RevProxyBackend g http://127.0.0.1:1 connecttimeout=0ms}, qr/RevProxyBackend g: 'connecttimeout=0ms' must be more than 0/ ],
    [ q{RevProxyPass "^/a" "http://127.0.0.1/" ttl=0},         qr/RevProxyPass: 'ttl=0' must be more than 0/ ],
    [ q{RevProxyPass "^/a" "http://127.0.0.1/" ttl=soon},      qr/RevProxyPass: invalid duration in 'ttl=soon'/ ],
    [ q{RevProxyBackend g http://127.0.0.1:1 ttl=0},           qr/RevProxyBackend g: 'ttl=0' must be more than 0/ ],
    [ q{RevProxyBackend g http://127.0.0.1:1 ttl=-1s},         qr/RevProxyBackend g: .*'ttl=-1s'/ ],
    [ q{RevProxyForwarded yes},                                qr/RevProxyForwarded/ ],
    [ q{RevProxyForwarded},                                    qr/RevProxyForwarded/ ],
    [ q{RevProxyTLSCACertificateFile /etc/hostname},           qr/RevProxyTLSCACertificateFile/ ],
    [ q{RevProxyTLSClientCertificate /etc/hostname},           qr/RevProxyTLSClientCertificate/ ],
);

plan tests => 4 + 2 * @bad + 2;

# 1. The running server answers, and has our modules from .libs/.
my $res = GET '/';
is $res->code, 200, 'GET / on the test server';

my $modules = `$httpd -d $vars->{serverroot} -f $vars->{t_conf_file} -M 2>&1`;
like $modules, qr/^\s*revproxy_module \(shared\)/m, 'mod_revproxy loaded';
like $modules, qr/^\s*reproxy_filter_module \(shared\)/m,
     'mod_reproxy_filter loaded';

# 2. `httpd -t` on a tiny config of its own: good lines pass, each bad one
#    fails naming the culprit.

my ($rc, $out) = config_test(\@good);
is $rc, 0, 'httpd -t accepts the good directives' or diag $out;

for my $case (@bad) {
    my ($line, $names) = @$case;
    my ($rc, $out) = config_test([$line]);
    ok $rc != 0, "httpd -t rejects: $line";
    like $out, $names, '... and names the culprit';
}

# 3. AllowReproxy needs mod_revproxy (the fetches use its client).
($rc, $out) = config_test([qq{<Location "/r">\n    AllowReproxy On\n</Location>}],
                          no_revproxy => 1);
ok $rc != 0, 'AllowReproxy On without mod_revproxy fails the config test';
like $out, qr/mod_revproxy/, '... saying so';
