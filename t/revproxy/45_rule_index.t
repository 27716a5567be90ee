# t/revproxy/45_rule_index.t -- rules indexed by their literal prefix and
# rules without one (case-insensitive, top-level alternation, nocanon,
# RevProxyPassFullURL, methods=, "!") interleaved: the first rule in
# configuration order that matches wins, exactly as if every rule were
# tried (t/conf/ruleindex.conf.in).  A regex that backtracks without end
# stops at a limit, with and without JIT: the rule counts as not matching
# (one RVP0001 line), the request is answered.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET POST);
use RevProxyTest qw(:all);

Apache::TestRequest::module('rp_idx');

local $SIG{ALRM} = sub { die "45_rule_index.t: out of time\n" };
alarm 120;

# A keep-alive backend that answers every request with its target.
my ($port, $be) = raw_backend(lifetime => 100, conns => 200, concurrent => 1,
                              handler => sub {
    my ($sock) = @_;
    for (1 .. 1000) {
        my $req = read_request($sock, timeout => 30) or return;
        respond($sock, 200, ['Content-Type' => 'text/plain'], $req->{uri});
    }
});

# Which backend path a request reached ('-' + status when not proxied).
sub reached {
    my ($res) = @_;
    return $res->code == 200 && $res->content =~ m{^/r\d\d/}
           ? $res->content : '-' . $res->code;
}

my @cases = (
    [GET  => "/i/$port/a/z",        "/r01/z",  'indexed /i/: first rule'],
    [GET  => "/i/$port/bz",         "/r02/z",  'unindexed (?i) rule between indexed ones'],
    [GET  => "/I/$port/Bz",         "/r02/z",  '... in any case'],
    [POST => "/i/$port/post/z",     "/r03/z",  'methods=POST rule for a POST'],
    [GET  => "/i/$port/post/z",     "/r04/z",  '... a GET goes on to the next candidate'],
    [GET  => "/i/$port/c/z",        "/r04/z",  'a later /i/ rule'],
    [GET  => "/i/$port/d",          "/r05/d",  'the rule indexed under "/"'],
    [GET  => "/j/$port/d",          "/r05/d",  '... for another first segment too'],
    [GET  => "/alt/$port/q",        "/r06/q",  'unindexed alternation'],
    [GET  => "/a/$port/q",          "/r07/q",  '^/ab?/: without the optional b'],
    [GET  => "/ab/$port/q",         "/r07/q",  '... and with it'],
    [GET  => "/nc%41/$port/q",      "/r08/q",  'nocanon rule on the raw path wins'],
    [GET  => "/ncA/$port/q",        "/r09/q",  'decoded twin for the decoded path'],
    [GET  => "/full/$port/q",       "/r10/q",  'RevProxyPassFullURL, unindexed'],
    [GET  => "/mainrule/$port/v/q", "/r11/q",  'virtual host rule before the main server rule'],
    [GET  => "/i/$port/x/z",        "-404",    '"!" exclusion: not proxied, served by httpd'],
    [GET  => "/nomatch",            "-404",    'no rule: not proxied'],
);
for my $c (@cases) {
    my ($method, $path, $want, $name) = @$c;
    my $res = $method eq 'POST' ? POST $path, content => 'x' : GET $path;
    is reached($res), $want, "$method $path: $name";
}

# The main server's rule still comes after all of the virtual host's.
{
    my $res = GET "/mainrule/$port/other";
    is $res->code, 200, 'main-server rule reached from the virtual host';
    is $res->content, '/main/other', '... with its own destination';
}

# A path of 3000 a's and a b: ^/(a+)+$ backtracks exponentially.
my $as = 'a' x 3000;
for my $c (['cat',   'r12', 'JIT (where PCRE2 has it)'],
           ['catnj', 'r13', '(*NO_JIT): the interpreter']) {
    my ($prefix, $rule, $what) = @$c;
    my $off = error_log_offset();
    my $res = GET "/$prefix/$port/${as}b";
    is reached($res), '/r14/', "$what: a limit stops the regex, the next rule answers";
    my $log = error_log_wait($off, qr/RVP0001/, 5) // '';
    my @lines = $log =~ /^.*RVP0001.*$/mg;
    is scalar(@lines), 1, "$what: one RVP0001 line";
    like $lines[0] // '', qr{\Q/$prefix/\E.*\(a\+\)\+\$.*counted as no match},
         '... naming the rule';
    $res = GET "/$prefix/$port/$as";
    ok reached($res) eq "/$rule/$as",
       "$what: the same rule matches a path without the b";
}
{
    my $off = error_log_offset();
    my $res = GET "/lone/$port/${as}b";
    is $res->code, 404, 'a limit on the only candidate: not proxied, httpd answers';
    ok error_log_wait($off, qr/RVP0001/, 5), '... and logs it';
}

$be->stop;
done_testing();
