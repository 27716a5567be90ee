# t/revproxy/41_expr.t -- rule option expr=: an httpd expression (ap_expr)
# evaluated after the regex matched; false tries the next rule (also for a
# "!" exclusion); an expression that fails for the request (a missing
# variable is just empty; a function that fails is an error) is false with
# one trace line of ours naming the rule, never a 500 (httpd's expression
# engine logs its own evaluation error too); a syntax error fails
# `httpd -t` naming the directive.  Vhost rp_expr (t/conf/headers.conf.in).
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use RevProxyTest qw(:all);

local $SIG{ALRM} = sub { die "41_expr.t: out of time\n" };
alarm 90;

# One request through rp_expr: (status, the path the backend got or undef).
sub through {
    my ($path, @fields) = @_;
    my ($port, $be) = raw_backend(lifetime => 15, handler => sub {
        my ($sock) = @_;
        read_request($sock, timeout => 10) or return;
        respond($sock, 200, [Connection => 'close'], 'ok-END');
    });
    $path =~ s/PORT/$port/;
    my $head = "GET $path HTTP/1.1\r\nHost: expr.test\r\nConnection: close\r\n";
    while (my ($k, $v) = splice @fields, 0, 2) {
        $head .= "$k: $v\r\n";
    }
    my $raw = raw_http(Apache::Test::vars('rp_expr_port'), "$head\r\n",
                       timeout => 10);
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    my $res = split_response($raw);
    return ($res && $res->{status}, $req && $req->{uri});
}

{
    # The captures of the rule stay its own while the expression runs a
    # sub-request whose rule walk matches other ones.
    my ($status, $uri) = through('/u/PORT/x');
    is $status, 200, 'expr= with a sub-request lookup (-U): 200';
    is $uri, '/sub/x', '... the destination made from the rule\'s own captures';
}

{
    my ($status, $uri) = through('/c/PORT/x', Cookie => 'a=b; canary=1');
    is $status, 200, 'canary cookie: 200';
    is $uri, '/canary/x', '... the condition holds: the first rule';
    ($status, $uri) = through('/c/PORT/x', Cookie => 'a=b; canary=10');
    is $uri, '/stable/x', 'another cookie value: the next rule';
    ($status, $uri) = through('/c/PORT/x');
    is $uri, '/stable/x', 'no cookie: the next rule';
}
{
    my $off = error_log_offset();
    my ($status, $uri) = through('/m/PORT/y');
    is $status, 200, 'a request header that is missing: 200';
    is $uri, '/missing/y', '... it is empty, the condition false';
    ($status, $uri) = through('/m/PORT/y', 'X-Missing' => 'yes');
    is $uri, '/never/y', '... and true when the header is there';
    unlike error_log_since($off), qr/could not be evaluated/,
        '... no evaluation error logged';
}
{
    my $off = error_log_offset();
    my ($status, $uri) = through('/f/PORT/z');
    is $status, 200, 'an expression that fails at request time: not a 500';
    is $uri, '/failed/z', '... it is false: the next rule';
    my $log = error_log_wait($off, qr/could not be evaluated/);
    ok $log, '... one trace line says so';
    my @lines = grep { /could not be evaluated/ } split /\n/, $log // '';
    is scalar(@lines), 1, '... exactly one';
    like $lines[0] // '', qr/\[revproxy:trace1\].*RevProxyPass "\^\/f\//,
        '... naming the rule';
}
{
    my ($status, $uri) = through('/q/PORT/file?local');
    is $status, 404, '"!" with a true condition: httpd serves it (404 here)';
    is $uri, undef, '... the backend is not contacted';
    ($status, $uri) = through('/q/PORT/file?other');
    is $uri, '/proxied/file?other', '"!" with a false condition: next rule';
}
{
    my ($status, $uri) = through('/ip/PORT/a');
    is $uri, '/local/a', '-R and in {...}: true for a local GET';
}

# A syntax error fails the config test, naming the directive.
{
    my ($rc, $out) = config_test([
        q{RevProxyPass "^/a/(.*)$" "http://127.0.0.1:8080/$1" "expr=%{HTTP_HOST} =="}]);
    isnt $rc, 0, 'expr= with a syntax error: httpd -t fails';
    like $out, qr/RevProxyPass: cannot parse expr=/, '... naming the directive';
    ($rc, $out) = config_test([
        q{RevProxyPass "^/a/(.*)$" "http://127.0.0.1:8080/$1" "expr=%{NO_SUCH_VARIABLE} == 'x'"}]);
    isnt $rc, 0, 'expr= with an unknown variable: httpd -t fails';
    ($rc, $out) = config_test([
        q{RevProxyPassFullURL "^http://(.*)$" "http://127.0.0.1:8080/$1" "expr=%{HTTP_COOKIE} =~ /canary=1/" keephost}]);
    is $rc, 0, 'a valid expr= on RevProxyPassFullURL passes' or diag $out;
}

done_testing();
