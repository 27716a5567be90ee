# t/revproxy/31_reuse_empty.t -- a pooled backend connection is reused only
# when it holds no unread byte.  A keep-alive backend sends bytes after a
# complete answer, a moment late (after a HEAD answer with Content-Length,
# after 204, after 304, beyond a too-short Content-Length), shaped as a
# whole response: the next requests through the same rule get the
# backend's real answers to them, on a new connection (the polluted one is
# discarded, it never carries another request), and no stray byte ever
# reaches a client.  Each case runs with the next request sent a few ms
# after the stray bytes arrived (a connection given back a moment ago) and
# again with it sent well after.
use strict;
use warnings;

use File::Temp ();
use Time::HiRes ();
use Apache::Test qw(-withtestmore);
use RevProxyTest qw(:all);

my $front = Apache::Test::vars('rp_front_port');

local $SIG{ALRM} = sub { die "31_reuse_empty.t: out of time\n" };
alarm 120;

# What the backend sends late: a whole response of its own, so that a
# connection reused with it unread would hand it to the next client.
my $fake = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Stray: 1\r\n"
         . "Content-Length: 11\r\n\r\nSTRAY-BYTES";

# One dir per backend: "stray" appears once the late bytes went out, and
# "log" has a line "CONN URI" per request read.
sub backend {
    my (%o) = @_;
    my $dir = File::Temp::tempdir('rvp-31-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my ($port, $be) = raw_backend(lifetime => 15, conns => 8, concurrent => 1,
                                  handler => sub {
        my ($sock, $n) = @_;
        for my $i (1 .. 20) {
            my $req = read_request($sock, timeout => 5) or return;
            if (open my $fh, '>>', "$dir/log") {
                print $fh "$n $req->{uri}\n";
                close $fh;
            }
            if ($n == 1 && $i == 1) {
                print $sock $o{answer};
                Time::HiRes::sleep($o{delay});
                print $sock $o{stray};
                open my $fh, '>', "$dir/stray" or die "$dir/stray: $!";
                close $fh;
                next;
            }
            respond($sock, 200, ['Content-Type' => 'text/plain'],
                    "conn $n: $req->{uri}");
        }
    });
    return ($port, $be, $dir);
}

sub requests_seen {
    my ($dir) = @_;
    open my $fh, '<', "$dir/log" or return ();
    chomp(my @l = <$fh>);
    return @l;
}

# One request on its own connection to the front; (parsed, raw).
sub front {
    my ($method, $path, @fields) = @_;
    my $raw = raw_http($front, "$method $path HTTP/1.1\r\nHost: x\r\n"
                       . join('', map { "$_\r\n" } @fields)
                       . "Connection: close\r\n\r\n", timeout => 10);
    return (split_response($raw) // { status => 0, body => '' }, $raw);
}

my @cases = (
    { name => 'HEAD with Content-Length, then the body anyway',
      method => 'HEAD',
      answer => "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                . 'Content-Length: ' . length($fake) . "\r\n\r\n",
      stray => $fake, status => 200, body => '' },
    { name => '204, then bytes', method => 'GET',
      answer => "HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
      stray => $fake, status => 204, body => '' },
    { name => '304, then bytes', method => 'GET',
      fields => ['If-None-Match: "v1"'],
      answer => "HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n",
      stray => $fake, status => 304, body => '' },
    { name => 'a too-short Content-Length, then the rest', method => 'GET',
      answer => "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                . "Content-Length: 2\r\n\r\nok",
      stray => $fake, status => 200, body => 'ok' },
);

# quick: the next request a few ms after the late bytes arrived (the
# connection was given back to the pool a moment before); slow: 150 ms
# after.
my @timings = (
    { name => 'quick', delay => 0.015, wait => 0 },
    { name => 'slow',  delay => 0.040, wait => 0.150 },
);

my $case_no = 0;
for my $t (@timings) {
    for my $c (@cases) {
        $case_no++;
        my $what = "$c->{name} ($t->{name})";
        my ($port, $be, $dir) = backend(answer => $c->{answer},
                                        stray => $c->{stray},
                                        delay => $t->{delay});
        my ($r1, $raw1) = front($c->{method}, "/raw/$port/first$case_no",
                                @{ $c->{fields} || [] });
        is $r1->{status}, $c->{status}, "$what: first answer $c->{status}";
        is $r1->{body}, $c->{body}, '... with its own body';

        # The late bytes are on their way (loopback: arrived) once the
        # backend made its mark.
        my $end = Time::HiRes::time() + 5;
        Time::HiRes::sleep(0.002) until -e "$dir/stray" || Time::HiRes::time() > $end;
        ok -e "$dir/stray", '... the backend sent its stray bytes';
        Time::HiRes::sleep($t->{wait}) if $t->{wait};

        my @raw;
        my @bodies;
        for my $k (qw(second third fourth)) {
            my ($r, $raw) = front('GET', "/raw/$port/$k$case_no");
            push @raw, $raw;
            push @bodies, "$r->{status} $r->{body}";
        }
        my @conns = map { m{^200 conn (\d+): /\w+$} ? $1 : 0 } @bodies;
        is_deeply \@bodies,
            [ map { "200 conn $conns[$_]: /" . (qw(second third fourth))[$_] . $case_no } 0 .. 2 ],
            '... the next three requests get the backend\'s answers to them'
            or diag explain \@bodies;
        ok $conns[0] > 1, "... the next request went out on a new connection (conn $conns[0])";
        ok !grep({ /STRAY/ } $raw1, @raw), '... no stray byte reached any client';
        $be->stop;
        my @conn1 = grep { /^1 / } requests_seen($dir);
        is_deeply \@conn1, [ "1 /first$case_no" ],
            '... the polluted connection carried no other request';
    }
}

done_testing();
