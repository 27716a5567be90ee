# t/reproxy/40_allow_redirects.t -- redirects are followed (relative and
# absolute Location, 301/302/303/307/308) up to ReproxyMaxRedirects, and
# ReproxyAllow is checked on the URL and on every hop, after normalization
# (scheme/host case, dot-segments, no user info).
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET);
use RevProxyTest qw(:all);
use ReproxyTest qw(:all);

Apache::TestRequest::module('rx_front');
Apache::TestRequest::user_agent(keep_alive => 0);

# redirect.cgi: a chain of $n relative redirects, or one to $url.
sub chain {
    my ($n, $code) = @_;
    return store("store/redirect.cgi?n=$n&code=" . ($code // 302));
}
sub to {
    my ($url, $code) = @_;
    return store('store/redirect.cgi?code=' . ($code // 302)
                 . '&to=' . esc($url));
}

# A source that must never be contacted.
sub untouchable {
    return raw_backend(lifetime => 10, handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        print $sock "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nforbidden";
    });
}

# --- following redirects ------------------------------------------------------
{
    my $res = GET stub('cgi', u => chain(3));
    is $res->code, 200, 'three relative redirects (default limit 5)';
    is $res->content, "arrived after the chain\n", '... end of the chain';

    for my $code (301, 303, 307, 308) {
        $res = GET stub('cgi', u => to(store('store/a.txt'), $code));
        is $res->content, "content of a\n", "$code with an absolute Location";
    }
    $res = GET stub('cgi', u => to('/store/b.txt'));
    is $res->content, "content of b\n", 'an absolute-path Location';
    $res = GET stub('cgi', u => to('a.txt'));
    is $res->content, "content of a\n", 'a relative Location';
    $res = GET stub('cgi', u => to('../store/./x/../b.txt'));
    is $res->content, "content of b\n", 'a Location with dot-segments';
}

# --- the limit -----------------------------------------------------------
{
    my $res = GET stub('redir2', u => chain(2));
    is $res->content, "arrived after the chain\n",
       'ReproxyMaxRedirects 2: two redirects are followed';

    my $off = error_log_offset();
    $res = GET stub('redir2', u => chain(3));
    is $res->code, 502, '... a third is a failure';
    ok error_log_wait($off, qr/RVP0200: .*redirect\.cgi\?n=3.*more than 2 redirect/),
       '... logged as such';

    $res = GET stub('redir2', u => [chain(3), store('store/a.txt')]);
    is $res->content, "content of a\n", '... and the next URL is tried';

    $res = GET stub('cgi', u => [chain(6), store('store/b.txt')]);
    is $res->content, "content of b\n",
       'default limit 5: a sixth redirect fails over';

    $res = GET stub('redir0', u => [chain(1), store('store/b.txt')]);
    is $res->content, "content of b\n",
       'ReproxyMaxRedirects 0: a redirect is a failure';
    $res = GET stub('redir0', u => store('store/a.txt'));
    is $res->content, "content of a\n", '... a direct answer is fine';
}

# --- ReproxyAllow ---------------------------------------------------------
{
    my ($port, $be) = untouchable();
    my $off = error_log_offset();
    my $res = GET stub('allow', u => "http://127.0.0.1:$port/x");
    is $res->code, 502, 'ReproxyAllow: an unlisted URL is refused (502)';
    ok error_log_wait($off, qr/RVP0200: .*:$port\/x: refused by ReproxyAllow/),
       '... logged as refused';

    $res = GET stub('allow', u => ["http://127.0.0.1:$port/x",
                                   store('store/a.txt')]);
    is $res->content, "content of a\n", '... a listed one is served';

    $off = error_log_offset();
    $res = GET stub('allow', u => [to("http://127.0.0.1:$port/hop"),
                                   store('store/b.txt')]);
    is $res->content, "content of b\n",
       'a redirect hop to an unlisted URL is refused, the next URL served';
    my $hop = qr/refused by ReproxyAllow \(after 1 redirect\(s\), at /
            . qr/http:\/\/127\.0\.0\.1:$port\/hop\)/;
    ok error_log_wait($off, qr/RVP0203: .*$hop/), '... logged with the hop';

    my $s = store_port();
    $res = GET stub('allow', u => ["http://127.0.0.1:$s\@127.0.0.1:$port/userinfo",
                                   "HTTP://127.0.0.1:$s/store/a.txt"]);
    is $res->content, "content of a\n",
       'user info is refused; scheme case does not matter';

    my $tls = Apache::Test::vars('tls_backend_port');
    $res = GET stub('allow', u => "https://localhost:$tls/reproxy/store/b.txt");
    is $res->content, "content of b\n", 'a listed https:// prefix';
    $off = error_log_offset();
    $res = GET stub('allow', u => "https://localhost:$tls/reproxy/store/../cgi/stub.cgi");
    is $res->code, 502, 'dot-segments cannot escape a listed prefix';
    $res = GET stub('allow', u => "https://localhost:$tls/reproxy/store/%2e%2e/cgi/stub.cgi");
    is $res->code, 502, '... nor can encoded ones';
    $res = GET stub('allow', u => "https://localhost:$tls/reproxy/store/%%32e%%32e/cgi/stub.cgi");
    is $res->code, 502, '... nor ones a stray % spells on a second reading';

    $be->stop;
    is $be->connections, 0, 'the unlisted source was never contacted';
}

done_testing();
