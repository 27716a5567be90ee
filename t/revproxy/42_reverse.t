# t/revproxy/42_reverse.t -- rule option reverse: a Location,
# Content-Location or URI field that starts with the rule's backend base
# (DEST up to its first capture; for backend:// each member's URL and the
# path up to the first capture) gets that part replaced by the client's
# base (scheme and Host as the client used them, then the literal prefix
# of the regex); other values pass unchanged; RevProxyRewriteHeader applies
# after it.  Vhost rp_hdr, backend rp_hdr_be echoes X-Loc/X-CLoc/X-Uri
# back as Location/Content-Location/URI (t/conf/headers.conf.in).
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use RevProxyTest qw(:all);
use RevProxyInstance qw(instance);

local $SIG{ALRM} = sub { die "42_reverse.t: out of time\n" };
alarm 60;

my $be = '127.0.0.1:' . Apache::Test::vars('rp_hdr_be_port');

# The response fields (lc name => value) of GET $path with @fields.
sub fields_for {
    my ($path, @fields) = @_;
    my $head = "GET $path HTTP/1.1\r\nHost: www.example.org\r\n"
             . "Connection: close\r\n";
    while (my ($k, $v) = splice @fields, 0, 2) {
        $head .= "$k: $v\r\n";
    }
    my $res = split_response(raw_http(Apache::Test::vars('rp_hdr_port'),
                                      "$head\r\n", timeout => 10));
    return $res ? $res->{header} : {};
}

sub location_for {
    my ($path, $loc) = @_;
    return fields_for($path, 'X-Loc' => $loc)->{location};
}

is location_for('/app/x', "http://$be/internal/login?x=1"),
    'http://www.example.org/app/login?x=1',
    'Location into the backend base: mapped to the client base';
{
    my $h = fields_for('/app/x', 'X-CLoc' => "http://$be/internal/doc.html",
                       'X-Uri' => "http://$be/internal/u");
    is $h->{'content-location'}, 'http://www.example.org/app/doc.html',
        'Content-Location mapped';
    is $h->{uri}, 'http://www.example.org/app/u', 'URI mapped';
}
is location_for('/app/x', "HTTP://$be/internal/a"),
    'http://www.example.org/app/a', 'scheme and host compare without case';
is location_for('/app/x', "http://$be/Internal/a"), "http://$be/Internal/a",
    'the path compares exactly: not mapped';
is location_for('/app/x', "http://$be/internalx"), "http://$be/internalx",
    'a value that only starts like the base without its /: unchanged';
is location_for('/app/x', 'http://other.example/internal/a'),
    'http://other.example/internal/a', 'another host: unchanged';
is location_for('/app/x', '/internal/a'), '/internal/a',
    'a relative value: unchanged';
is location_for('/norev/x', "http://$be/internal/a"), "http://$be/internal/a",
    'a rule without reverse: unchanged';
is location_for('/rw/x', "http://$be/internal/a"),
    'https://www.example.org/rw/a', 'RevProxyRewriteHeader applies after it';
is location_for('/full/x', "http://$be/internal/login"),
    'http://www.example.org/login',
    'RevProxyPassFullURL: the client base is scheme and host';

# backend://: the base of every member, whichever answered.  A group is
# tried on an httpd of its own (the suite's counts its members).  Each
# member answers Location: its own URL + base path + /g/login?from=URI,
# and one that points at the other member's base.
{
    my $member = sub {
        return raw_backend(conns => 3, lifetime => 20, handler => sub {
            my ($sock) = @_;
            while (my $req = read_request($sock, timeout => 5)) {
                my $host = $req->{header}{host};
                my ($base) = $req->{uri} =~ m{^(/m\d)/};
                respond($sock, 302, [Location => "http://$host$base/g/login?from=$req->{uri}",
                                     'Content-Location' => "http://$host/elsewhere/g/x"],
                        'moved');
            }
        });
    };
    my ($p1, $b1) = $member->();
    my ($p2, $b2) = $member->();
    my $h = instance(mpm => 'event', servers => 1, conf => [
        "RevProxyBackend hdrgrp http://127.0.0.1:$p1/m1 http://127.0.0.1:$p2/m2/",
        'RevProxyPass "^/grp/(.*)$" "backend://hdrgrp/g/$1" reverse',
    ]);
    my @r = map { $h->get("/grp/x$_") } 1, 2;
    $h->stop;
    $b1->stop;
    $b2->stop;
    is scalar($b1->received), 1, 'backend://: the first member answered once';
    is scalar($b2->received), 1, '... the second once';
    is_deeply [ sort map { $_->{header}{location} // '' } @r ],
        [ 'http://localhost/grp/login?from=/m1/g/x1',
          'http://localhost/grp/login?from=/m2/g/x2' ],
        '... each member\'s base mapped to the client base';
    is_deeply [ map { $_->{header}{'content-location'} } @r ],
        [ "http://127.0.0.1:$p1/elsewhere/g/x", "http://127.0.0.1:$p2/elsewhere/g/x" ],
        '... a value outside the bases unchanged';
}

# A base that a capture would make cannot be mapped: config test fails.
{
    my ($rc, $out) = config_test([
        q{RevProxyPass "^/(\d+)/(.*)$" "http://127.0.0.1:$1/$2" reverse}]);
    isnt $rc, 0, 'reverse with a capture in the port: httpd -t fails';
    like $out, qr/RevProxyPass .*reverse needs a destination/,
        '... naming the directive';
    ($rc, $out) = config_test([
        q{RevProxyPass "^/app/(.*)$" "http://10.0.0.5:8080/internal/$1" reverse}]);
    is $rc, 0, 'the contract\'s example passes' or diag $out;
}

done_testing();
