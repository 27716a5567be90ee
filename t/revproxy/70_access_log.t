# t/revproxy/70_access_log.t -- what an admin sees per request
# (t/conf/obs.conf.in): the access-log notes of every proxied request (a new
# connection then a reused one, the retry after a pooled connection was
# closed, a refused backend's 502, a 400 from the captures, reproxied
# answers; on a separate httpd, so that the suite's status page counts no
# group of ours: the member of a group that answered and %f naming it,
# failover, a group's 503), read back from the access log; and the trace
# lines of LogLevel revproxy:trace3 (the rule, the member, reuse or
# connect, both heads).  Times are only checked to be plausible.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET POST);
use File::Temp ();
use Time::HiRes ();
use RevProxyTest qw(:all);
use RevProxyInstance qw(member instance);

Apache::TestRequest::module('rp_log');
Apache::TestRequest::user_agent(keep_alive => 0);

my $logs = Apache::Test::vars('t_logs');
my $access_log = "$logs/revproxy_access_log";
my $trace_log = "$logs/revproxy_trace_log";
my $store = Apache::Test::vars('obs_store_port');
my $tag = "t$$";            # the request lines of this run

# The access-log line of the request for $path (it is written after the
# response went out: wait for it), as { code => ..., rp_* => ... }.
sub log_fields {
    my ($path, $file) = @_;
    my $end = Time::HiRes::time() + 5;
    while (1) {
        if (open my $fh, '<', $file // $access_log) {
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
    my @res = map { GET "/obsraw/$port/$_-$tag" } qw(one two three);
    is_deeply [map { $_->code } @res], [200, 200, 200],
              'plain URL: three requests answered';
    my @f = map { log_fields("/obsraw/$port/$_-$tag") } qw(one two three);

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
    like rule_text($f->{rp_rule}), qr{^\s*RevProxyPass "\^/obsraw/},
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

# ---- 2. failures --------------------------------------------------------
{
    my $res = GET "/obsrefused/x-$tag";
    my $f = log_fields("/obsrefused/x-$tag");
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
    my $res = GET "/obshost/a_b/x-$tag";
    my $f = log_fields("/obshost/a_b/x-$tag");
    is $res->code, 400, 'a capture that is no host: 400';
    is join(' ', map { $f->{"rp_$_"} // 'undef' }
                     qw(backend attempts status reused connect_us header_us)),
       '- 0 - 0 - -', '... no backend contacted';
    like rule_text($f->{rp_rule}), qr{RevProxyPass "\^/obshost/}, '... the rule';
}

# ---- 3. reproxied answers: the source's notes ------------------------------
{
    my $res = GET "/obsrx/stub.txt?$tag";
    my $f = log_fields("/obsrx/stub.txt?$tag");
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
    my $res = GET "/obsraw/$port/rx-$tag";
    my $f = log_fields("/obsraw/$port/rx-$tag");
    is $res->code, 200, 'reproxied answer of a proxied request';
    is $f->{rp_backend}, "http://127.0.0.1:$store",
       '... the source gave the final answer';
    is $f->{rp_status}, 200, '... its status';
    is $f->{rp_attempts}, 2, '... two connections: the backend\'s, the source\'s';
    like rule_text($f->{rp_rule}), qr{RevProxyPass "\^/obsraw/},
         '... the rule that proxied it';
    $be->stop;
}

# ---- 4. trace lines ---------------------------------------------------------
{
    Apache::TestRequest::module('rp_trace');
    my $off = -s $trace_log || 0;
    my ($port, $be) = keepalive_backend();
    my $secret = "body-not-logged-$tag";
    is GET("/obstr/$port/a-$tag")->code, 200, 'trace: requests';
    GET "/obstr/$port/b-$tag";
    POST "/obstr/$port/c-$tag", content => $secret;
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
    like $text, qr{\[revproxy:trace1\] .* RevProxyPass "\^/obstr/\(\\\\d\+\)/\(\.\*\)\$" at \S+/obs\.conf:\d+ matched /obstr/$port/a-$tag: http://127\.0\.0\.1:$port/a-$tag},
         '... trace1: the rule that matched (httpd doubles its backslash), '
         . 'where, and the destination';
    like $text, qr{\[revproxy:trace1\] .* no rule matched /none-$tag},
         '... trace1: no rule matched';
    like $text, qr{\Q$b\E: new connection, connected in \d+ us \(attempt 1\)},
         '... trace1: a new connection';
    like $text, qr{\Q$b\E: reusing a pooled connection \(attempt 1\)},
         '... trace1: a reused one';
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

# ---- 5. groups, on a separate httpd ------------------------------------------
{
    my $dir = File::Temp::tempdir('rvp-log-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    chmod 0755, $dir;
    my $ma = member(name => 'a', dir => $dir);
    my $mb = member(name => 'b', dir => $dir);
    my ($pa, $pb) = ($ma->{port}, $mb->{port});
    my $log = "$dir/access_log";
    my $h = instance(dir => $dir, mpm => 'event', servers => 1, conf => [
        'LogLevel notice revproxy:trace1',
        'LogFormat "%h %l %u %t \"%r\" %>s %b rp_backend=%{revproxy-backend}n '
        . 'rp_attempts=%{revproxy-attempts}n rp_reused=%{revproxy-reused}n '
        . 'rp_status=%{revproxy-status}n rp_connect_us=%{revproxy-connect-us}n '
        . 'rp_header_us=%{revproxy-header-us}n rp_rule=\"%{revproxy-rule}n\" '
        . 'rp_file=\"%f\"" revproxy',
        qq{CustomLog "$log" revproxy},
        "RevProxyBackend ab http://127.0.0.1:$pa http://127.0.0.1:$pb/base retry=1m",
        "RevProxyBackend fo http://127.0.0.1:1 http://127.0.0.1:$pa retry=1m",
        'RevProxyBackend dead http://127.0.0.1:1 http://127.0.0.1:3 retry=1m',
        'RevProxyPass "^/ab/(.*)$" "backend://ab/$1"',
        'RevProxyPass "^/fo/(.*)$" "backend://fo/$1"',
        'RevProxyPass "^/dead/(.*)$" "backend://dead/$1"',
    ]);

    my %seen;
    for my $n (1, 2) {
        my $res = $h->get("/ab/m$n");
        my $f = log_fields("/ab/m$n", $log);
        my $m = $res->{header}{'x-member'} // '?';
        $seen{$m}++;
        my ($port, $base) = $m eq 'a' ? ($pa, '') : ($pb, '/base');
        is $f->{rp_backend}, "http://127.0.0.1:$port",
           "group, request $n: the member that answered ($m)";
        is $f->{rp_file}, "revproxy:http://127.0.0.1:$port$base/m$n",
           '... %f names it (not backend://ab:0/...)';
        is $f->{rp_status}, 200, '... its status';
        is $f->{rp_attempts}, 1, '... one attempt';
        is $f->{rp_reused}, 0, '... a new connection (one per member)';
        ok plausible_us($f->{rp_connect_us}, 0), '... connect-us plausible';
        ok plausible_us($f->{rp_header_us}, 1), '... header-us plausible';
        like rule_text($f->{rp_rule}), qr{^RevProxyPass "\^/ab/},
             '... the group\'s rule';
    }
    is_deeply [sort keys %seen], ['a', 'b'], '... both members took a turn';
    $h->get('/ab/m3');
    my $f = log_fields('/ab/m3', $log);
    is $f->{rp_reused}, 1, '... the next one reuses a member\'s connection';
    is $f->{rp_connect_us}, 0, '... connect-us 0';

    # Whichever member comes first in turn, one of two requests meets the
    # refused one first (which is then down): two attempts, then one.
    my @f = map { $h->get("/fo/f$_"); log_fields("/fo/f$_", $log) } 1, 2;
    is_deeply [map { $_->{rp_backend} } @f], [("http://127.0.0.1:$pa") x 2],
              'failover: the live member answered both';
    is_deeply [sort map { $_->{rp_attempts} } @f], [1, 2],
              '... the one that met the refused member first: two attempts';
    is_deeply [map { $_->{rp_status} } @f], [200, 200], '... its status';

    @f = ();
    for my $n (1, 2) {
        is $h->get("/dead/d$n")->{status}, 503,
           "every member down, request $n: 503";
        push @f, log_fields("/dead/d$n", $log);
        is join(' ', map { $f[-1]{"rp_$_"} // 'undef' }
                         qw(backend status reused connect_us header_us)),
           '- - 0 - -', '... no backend answered';
        is $f[-1]{rp_file}, "revproxy:backend://dead/d$n", '... %f: the group';
    }
    is $f[0]{rp_attempts}, 2, '... the first tried both members';
    is $f[1]{rp_attempts}, 0, '... the next one none (both down)';

    my $text = $h->log;
    like $text, qr{\[revproxy:trace1\] .* backend group ab: member http://127\.0\.0\.1:$pa chosen \(0 tried before\)},
         'trace1: the member chosen';
    like $text, qr{\[revproxy:trace1\] .* backend group fo: member http://127\.0\.0\.1:$pa chosen \(1 tried before\)},
         '... and the next one after a failure';
    like $text, qr{backend http://127\.0\.0\.1:1: connect failed after \d+ us: .* \(attempt 1\)},
         '... a failed connect';
    $h->stop;
}

done_testing();
