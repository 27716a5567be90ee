# t/revproxy/43_cookies.t -- RevProxyCookieDomain and RevProxyCookiePath:
# in every Set-Cookie from the backend a Domain equal to FROM (without
# case, a leading dot ignored) becomes TO, a Path starting with FROM gets
# that prefix replaced; the first matching pair wins, the innermost
# section's pairs first; everything else -- name, value, other attributes,
# spacing, other fields -- reaches the client byte for byte.  Vhost rp_hdr
# (t/conf/headers.conf.in); raw backends.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use RevProxyTest qw(:all);

local $SIG{ALRM} = sub { die "43_cookies.t: out of time\n" };
alarm 60;

# The backend answers with these Set-Cookie fields (and X-Other); returns
# the client's raw response.
sub through {
    my ($path, @cookies) = @_;
    my ($port, $be) = raw_backend(lifetime => 15, handler => sub {
        my ($sock) = @_;
        read_request($sock, timeout => 10) or return;
        respond($sock, 200, [(map { ('Set-Cookie' => $_) } @cookies),
                             'X-Other' => 'a=1; Path=/internal/; Domain=backend.internal',
                             Connection => 'close'], 'ok-END');
    });
    $path =~ s/PORT/$port/;
    my $raw = raw_http(Apache::Test::vars('rp_hdr_port'),
                       "GET $path HTTP/1.1\r\nHost: www.example.org\r\n"
                       . "Connection: close\r\n\r\n", timeout => 10);
    $be->wait(5) or $be->stop;
    return $raw;
}

# The Set-Cookie lines exactly as the client got them.
sub set_cookies {
    my ($raw) = @_;
    my ($head) = split /\r\n\r\n/, $raw, 2;
    return [ map { /^Set-Cookie: (.*)$/ ? $1 : () } split /\r\n/, $head // '' ];
}

{
    my $raw = through('/ck/PORT/x',
        'a=1; Domain=backend.internal; Path=/internal/app; HttpOnly',
        'b=2; domain=.LEGACY.internal; path=/int/x; Secure; SameSite=Lax',
        'c=Path=/internal/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Max-Age=60',
        'd=x; Domain=other.example; Path=/other',
        'e="quoted value"; Path  =  /internal/deep ;Domain= backend.internal',
        'f=; Domain=backend.internal.evil; Path=/internals');
    is_deeply set_cookies($raw), [
        'a=1; Domain=www.example.org; Path=/app; HttpOnly',
        'b=2; domain=example.org; path=/ck/x; Secure; SameSite=Lax',
        'c=Path=/internal/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Max-Age=60',
        'd=x; Domain=other.example; Path=/other',
        'e="quoted value"; Path  =  /deep ;Domain= www.example.org',
        'f=; Domain=backend.internal.evil; Path=/internals',
    ], 'Domain and Path rewritten, every other byte and the order kept'
        or diag $raw;
    like $raw, qr{\r\nX-Other: a=1; Path=/internal/; Domain=backend\.internal\r\n},
        'other fields untouched';
    is split_response($raw)->{body}, 'ok-END', 'body passed';
}
{
    my $raw = through('/ck/PORT/inner/x',
        'a=1; Path=/internal/x; Domain=backend.internal',
        'b=1; Path=/int/y');
    is_deeply set_cookies($raw), [
        'a=1; Path=/inner/x; Domain=www.example.org',
        'b=1; Path=/ck/y',
    ], "the inner section's pair wins, the outer ones still apply"
        or diag $raw;
}

# Config: the contexts, and values that cannot be cookie attributes.
{
    my ($rc, $out) = config_test([
        'RevProxyCookieDomain backend.internal www.example.org',
        'RevProxyCookiePath /internal/ /',
        '<VirtualHost 127.0.0.1:1>',
        '    RevProxyCookiePath /a/ /b/',
        '    <Location "/x">',
        '        RevProxyCookieDomain .a.internal a.example.org',
        '        RevProxyCookiePath /internal/ /x/',
        '    </Location>',
        '</VirtualHost>']);
    is $rc, 0, 'server, virtual host and <Location> contexts' or diag $out;
    ($rc, $out) = config_test(['RevProxyCookiePath /internal/']);
    isnt $rc, 0, 'RevProxyCookiePath with one argument fails';
    like $out, qr/RevProxyCookiePath/, '... naming the directive';
    ($rc, $out) = config_test(['RevProxyCookieDomain a.internal "b.org; Secure"']);
    isnt $rc, 0, "a TO with ';' fails";
    like $out, qr/RevProxyCookieDomain: .*cannot be a cookie attribute/,
        '... naming the directive';
}

done_testing();
