# t/revproxy/70_access_log.t -- what an admin sees per request
# (t/conf/obs.conf.in): the access-log notes of every proxied request (a new
# connection then a reused one, the retry after a pooled connection was
# closed, the member of a group that answered and %f naming it, failover, a
# refused backend's 502, a group's 503, a 400 from the captures, reproxied
# answers), read back from the access log; and the trace lines of
# LogLevel revproxy:trace3 (the rule, the member, reuse or connect, both
# heads).  Times are only checked to be plausible.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET POST);
use Time::HiRes ();
use RevProxyTest qw(:all);

Apache::TestRequest::module('rp_log');
Apache::TestRequest::user_agent(keep_alive => 0);

my $logs = Apache::Test::vars('t_logs');
my $access_log = "$logs/revproxy_access_log";
my $trace_log = "$logs/revproxy_trace_log";
my $port_a = Apache::Test::vars('obs_member_a_port');
my $port_b = Apache::Test::vars('obs_member_b_port');
my $store = Apache::Test::vars('obs_store_port');
my $tag = "t$$";            # the request lines of this run

# The access-log line of the request for $path (it is written after the
# response went out: wait for it), as { code => ..., rp_* => ... }.
sub log_fields {
    my ($path) = @_;
    my $end = Time::HiRes::time() + 5;
    while (1) {
        if (open my $fh, '<', $access_log) {
            my ($line) = grep { /"[A-Z]+ \Q$path\E HTTP\/1\.[01]"/ } <$fh>;
            if ($line) {
                my %f = (line => $line);
                $f{code} = $1 if $line =~ /" (\d{3}) /;
                while ($line =~ /\b(rp_\w+)=(?:"((?:[^"\\]|\\.)*)"|(\S+))/g) {
                    $f{$1} = defined $2 ? $2 : $3;
                }
                return \%f;
            }
        }
        return { line => '' } if Time::HiRes::time() > $end;
        Time::HiRes::sleep(0.1);
    }
}

# The configuration line a revproxy-rule note points at.
sub rule_text {
    my ($where) = @_;
    my ($file, $line) = ($where // '') =~ /^(.+):(\d+)$/ or return '';
    open my $fh, '<', $file or return '';
    my @lines = <$fh>;
    return $lines[$line - 1] // '';
}

sub plausible_us {
    my ($v, $min) = @_;
    return defined $v && $v =~ /^\d+$/ && $v >= $min && $v < 10_000_000;
}

# A keep-alive backend: each connection answers until the client closes
# it; the first one hangs up on its third request (a backend whose
# keep-alive timeout fired just then).
sub keepalive_backend {
    my (%o) = @_;
    return raw_backend(lifetime => 30, conns => 20, concurrent => 1,
                       handler => sub {
        my ($sock, $n) = @_;
        for my $i (1 .. 100) {
            my $req = read_request($sock, timeout => 5) or return;
            return if $o{drop} && $n == 1 && $i == 3;
            respond($sock, 200, ['Content-Type' => 'text/plain',
                                 @{ $o{fields} || [] }], "conn $n req $i");
        }
    });
}

# ---- 1. a plain-URL rule: new, reused, closed pooled connection ----------
{
    my ($port, $be) = keepalive_backend(drop => 1);
    my @res = map { GET "/raw/$port/$_-$tag" } qw(one two three);
    is_deeply [map { $_->code } @res], [200, 200, 200],
              'plain URL: three requests answered';
    my @f = map { log_fields("/raw/$port/$_-$tag") } qw(one two three);

    my $f = $f[0];
    ok $f->{line}, '... each logged' or diag "no line in $access_log";
    is $f->{rp_backend}, "http://127.0.0.1:$port", 'first: backend';
    is $f->{rp_attempts}, 1, '... one attempt';
    is $f->{rp_reused}, 0, '... a new connection';
    is $f->{rp_status}, 200, '... the backend\'s status';
    ok plausible_us($f->{rp_connect_us}, 0),
       "... connect-us plausible ($f->{rp_connect_us})";
    ok plausible_us($f->{rp_header_us}, 1),
       "... header-us plausible ($f->{rp_header_us})";
    like $f->{rp_rule}, qr{/t/conf/obs\.conf:\d+$}, '... rule: FILE:LINE';
    like rule_text($f->{rp_rule}), qr{^\s*RevProxyPass "\^/raw/},
         '... the line of its directive';
    is $f->{rp_file}, "revproxy:http://127.0.0.1:$port/one-$tag",
       '... %f: the backend and path';

    $f = $f[1];
    is $f->{rp_reused}, 1, 'second: the pooled connection reused';
    is $f->{rp_connect_us}, 0, '... connect-us 0';
    is $f->{rp_attempts}, 1, '... one attempt';
    ok plausible_us($f->{rp_header_us}, 1),
       "... header-us plausible ($f->{rp_header_us})";

    $f = $f[2];
    is $f->{rp_attempts}, 2, 'third: the pooled connection was closed, '
                           . 'sent again: two attempts';
    is $f->{rp_reused}, 0, '... answered on a new connection';
    is $f->{rp_status}, 200, '... status';
    $be->stop;
}

# ---- 2. a group: the member that answered -------------------------------
{
    my %seen;
    for my $n (1, 2) {
        my $res = GET "/ab/m$n-$tag";
        my $f = log_fields("/ab/m$n-$tag");
        my $m = $res->header('X-Member') // '?';
        $seen{$m}++;
        my ($port, $base) = $m eq 'a' ? ($port_a, '') : ($port_b, '/base');
        is $f->{rp_backend}, "http://127.0.0.1:$port",
           "group, request $n: the member that answered ($m)";
        is $f->{rp_file}, "revproxy:http://127.0.0.1:$port$base/m$n-$tag",
           '... %f names it (no backend://, no :0)';
        is $f->{rp_status}, $res->code, '... its status';
        is $f->{rp_attempts}, 1, '... one attempt';
        like $f->{rp_reused}, qr/^[01]$/, '... reused 0 or 1';
        ok plausible_us($f->{rp_header_us}, 1), '... header-us plausible';
        like rule_text($f->{rp_rule}), qr{RevProxyPass "\^/ab/},
             '... the group\'s rule';
    }
    is_deeply [sort keys %seen], ['a', 'b'], '... both members took a turn';
}

# ---- 3. failover: a refused member, then the next one ----------------------
{
    my @f = map { GET "/fo/f$_-$tag"; log_fields("/fo/f$_-$tag") } 1, 2;
    is_deeply [map { $_->{rp_backend} } @f],
              [("http://127.0.0.1:$port_a") x 2],
              'failover: the live member answered both';
    is_deeply [sort map { $_->{rp_attempts} } @f], [1, 2],
              '... the one that met the refused member first: two attempts';
    is_deeply [map { $_->{rp_status} } @f], [map { $_->{code} } @f],
              '... the status';
}

# ---- 4. failures --------------------------------------------------------
{
    my $res = GET "/refused/x-$tag";
    my $f = log_fields("/refused/x-$tag");
    is $res->code, 502, 'refused: 502';
    is $f->{code}, 502, '... logged';
    is $f->{rp_backend}, 'http://127.0.0.1:1', '... the backend that failed';
    is $f->{rp_status}, '-', '... no backend status';
    is $f->{rp_attempts}, 1, '... one attempt';
    is $f->{rp_reused}, 0, '... not reused';
    ok plausible_us($f->{rp_connect_us}, 0),
       "... connect-us: the time it took to fail ($f->{rp_connect_us})";
    is $f->{rp_header_us}, '-', '... no head';
    is $f->{rp_file}, "revproxy:http://127.0.0.1:1/x-$tag", '... %f';
}
{
    my @f;
    for my $n (1, 2) {
        my $res = GET "/dead/d$n-$tag";
        is $res->code, 503, "every member down, request $n: 503";
        push @f, log_fields("/dead/d$n-$tag");
    }
    for my $f (@f) {
        is join(' ', map { $f->{"rp_$_"} // 'undef' }
                         qw(backend status reused connect_us header_us)),
           '- - 0 - -', '... no backend answered';
        like rule_text($f->{rp_rule}), qr{RevProxyPass "\^/dead/},
             '... the rule';
        is $f->{rp_file}, "revproxy:backend://obsdead/" . ($f == $f[0] ? 'd1' : 'd2')
                        . "-$tag", '... %f: the group';
    }
    is $f[0]{rp_attempts}, 2, '... the first tried both members';
    is $f[1]{rp_attempts}, 0, '... the next one none (both down)';
}
{
    my $res = GET "/host/a_b/x-$tag";
    my $f = log_fields("/host/a_b/x-$tag");
    is $res->code, 400, 'a capture that is no host: 400';
    is join(' ', map { $f->{"rp_$_"} // 'undef' }
                     qw(backend attempts status reused connect_us header_us)),
       '- 0 - 0 - -', '... no backend contacted';
    like rule_text($f->{rp_rule}), qr{RevProxyPass "\^/host/}, '... the rule';
}

# ---- 5. reproxied answers: the source's notes ------------------------------
{
    my $res = GET "/rxs/stub.txt?$tag";
    my $f = log_fields("/rxs/stub.txt?$tag");
    is $res->code, 200, 'reproxied static page';
    is $f->{rp_backend}, "http://127.0.0.1:$store", '... the source';
    is $f->{rp_status}, 200, '... its status';
    is $f->{rp_attempts}, 1, '... one attempt';
    ok plausible_us($f->{rp_header_us}, 1), '... header-us plausible';
    is $f->{rp_rule}, '-', '... no rule (not proxied)';
}
{
    my ($port, $be) = keepalive_backend(
        fields => ['X-Reproxy-Url' => "http://127.0.0.1:$store/store/a.txt"]);
    my $res = GET "/raw/$port/rx-$tag";
    my $f = log_fields("/raw/$port/rx-$tag");
    is $res->code, 200, 'reproxied answer of a proxied request';
    is $f->{rp_backend}, "http://127.0.0.1:$store",
       '... the source gave the final answer';
    is $f->{rp_status}, 200, '... its status';
    is $f->{rp_attempts}, 2, '... two connections: the backend\'s, the source\'s';
    like rule_text($f->{rp_rule}), qr{RevProxyPass "\^/raw/},
         '... the rule that proxied it';
    $be->stop;
}

# ---- 6. trace lines ---------------------------------------------------------
{
    Apache::TestRequest::module('rp_trace');
    my $off = -s $trace_log || 0;
    my ($port, $be) = keepalive_backend();
    my $secret = "body-not-logged-$tag";
    is GET("/tr/$port/a-$tag")->code, 200, 'trace: requests';
    GET "/tr/$port/b-$tag";
    POST "/tr/$port/c-$tag", content => $secret;
    GET "/grp/g-$tag";
    GET "/none-$tag";

    my $text = '';
    my $end = Time::HiRes::time() + 5;
    until ($text =~ /no rule matched \/none-\Q$tag\E/
           || Time::HiRes::time() > $end) {
        Time::HiRes::sleep(0.1);
        open my $fh, '<', $trace_log or next;
        seek $fh, $off, 0;
        local $/;
        $text = <$fh> // '';
    }
    my $b = "backend http://127.0.0.1:$port";
    like $text, qr{\[revproxy:trace1\] .* RevProxyPass "\^/tr/\(\\\\d\+\)/\(\.\*\)\$" at \S+/obs\.conf:\d+ matched /tr/$port/a-$tag: http://127\.0\.0\.1:$port/a-$tag},
         '... trace1: the rule that matched, where, and the destination';
    like $text, qr{\[revproxy:trace1\] .* no rule matched /none-$tag},
         '... trace1: no rule matched';
    like $text, qr{\Q$b\E: new connection, connected in \d+ us \(attempt 1\)},
         '... trace1: a new connection';
    like $text, qr{\Q$b\E: reusing a pooled connection \(attempt 1\)},
         '... trace1: a reused one';
    like $text, qr{\[revproxy:trace1\] .* backend group obstr: member http://127\.0\.0\.1:$port_a chosen},
         '... trace1: the member chosen';
    like $text, qr{\[revproxy:trace3\] .*\Q$b\E: > GET /a-$tag HTTP/1\.1},
         '... trace3: the request line sent';
    like $text, qr{\Q$b\E: > Host: 127\.0\.0\.1:$port\b},
         '... and its fields';
    like $text, qr{\Q$b\E: > Content-Length: \d+}, '... the framing sent';
    like $text, qr{\[revproxy:trace3\] .*\Q$b\E: < 200 X}, '... trace3: the status received';
    like $text, qr{\Q$b\E: < Content-Type: text/plain}, '... and the fields';
    unlike $text, qr{\Q$secret\E}, '... never a body';
    $be->stop;
}

done_testing();
