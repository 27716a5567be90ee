# t/revproxy/30_request_head.t -- the request head the backend receives
# when the client sends many fields: up to LimitRequestFields (100, Host
# included) distinct end-to-end fields, and values close to
# LimitRequestFieldSize (8190).  However many fields the client sent, the
# proxy's own fields (Host, X-Forwarded-For/-Host/-Proto, the framing)
# reach the backend exactly once with the right values, and so does every
# end-to-end field of the client.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use RevProxyTest qw(:all);

my $front = Apache::Test::vars('rp_front_port');

local $SIG{ALRM} = sub { die "30_request_head.t: out of time\n" };
alarm 120;

# A backend that answers one request and closes, recording it.
sub one_shot {
    return raw_backend(lifetime => 15, handler => sub {
        my ($sock) = @_;
        read_request($sock, timeout => 10) or return;
        respond($sock, 200, [Connection => 'close'], 'ok-END');
    });
}

# Sends "$method /$prefix/PORT/$path" with Host: client.test and @fields
# (name => value pairs, in order) to the front; returns (the response as
# split_response gives it, the request the backend received, its port).
# No Connection: close, which would be one more field: the answer is
# awaited until its body is in.
sub through {
    my ($prefix, $path, $fields, %o) = @_;
    my ($port, $be) = one_shot();
    my $head = ($o{method} // 'GET') . " /$prefix/$port/$path HTTP/1.1\r\n"
               . "Host: client.test\r\n";
    my @f = @$fields;
    while (my ($k, $v) = splice @f, 0, 2) {
        $head .= "$k: $v\r\n";
    }
    my $raw = raw_http($front, "$head\r\n" . ($o{body} // ''),
                       wait_for => qr/ok-END|^HTTP\/1\.1 [45]\d\d/m,
                       timeout => 10);
    $be->wait(5) or $be->stop;
    my ($req) = $be->received;
    return (split_response($raw), $req, $port);
}

# The values of field $name (case-insensitive) in the backend's request,
# one per field line.
sub values_of {
    my ($req, $name) = @_;
    return map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $req->{headers} };
}

# $n distinct end-to-end fields X-Field-1 .. X-Field-$n; $len makes each
# value that long.
sub many {
    my ($n, $len) = @_;
    return map {
        my $v = "value-$_-";
        ("X-Field-$_" => $len ? $v . ('v' x ($len - length $v)) : $v . 'x')
    } 1 .. $n;
}

# The checks every case shares: the proxy's fields exactly once with the
# right values, each of the client's end-to-end fields exactly once and
# unchanged (except those in %o{dropped}).
sub check_head {
    my ($what, $res, $req, $port, $fields, %o) = @_;
    is $res && $res->{status}, 200, "$what: 200";
    ok $req, "$what: the backend got the request" or return;
    my @host = values_of($req, 'Host');
    is_deeply \@host, [ $o{host} // "127.0.0.1:$port" ],
        "$what: Host exactly once, the destination's";
    my @xff = values_of($req, 'X-Forwarded-For');
    is_deeply \@xff, [ $o{xff} // '127.0.0.1' ],
        "$what: X-Forwarded-For exactly once"
        . ($o{xff} ? ', the client\'s extended' : ', the client address');
    is_deeply [ values_of($req, 'X-Forwarded-Host') ], [ 'client.test' ],
        "$what: X-Forwarded-Host exactly once";
    is_deeply [ values_of($req, 'X-Forwarded-Proto') ], [ 'http' ],
        "$what: X-Forwarded-Proto exactly once";
    my %drop = map { lc($_) => 1 } @{ $o{dropped} || [] };
    my (@missing, @wrong);
    my @f = @$fields;
    while (my ($k, $v) = splice @f, 0, 2) {
        next if $k =~ /^(?:X-Forwarded-(?:For|Host|Proto)|Connection|Content-Length)$/i;
        my @got = values_of($req, $k);
        if ($drop{lc $k}) {
            push @wrong, "$k (should be dropped)" if @got;
        }
        elsif (!@got) {
            push @missing, $k;
        }
        elsif (@got != 1 || $got[0] ne $v) {
            push @wrong, $k;
        }
    }
    ok !@missing, "$what: every end-to-end field of the client arrives"
        or diag scalar(@missing) . " missing: @missing[0 .. ($#missing > 5 ? 5 : $#missing)]";
    ok !@wrong, "$what: ... each exactly once, unchanged"
        or diag "wrong: @wrong[0 .. ($#wrong > 5 ? 5 : $#wrong)]";
}

# 1. 97 end-to-end fields (98 with Host): the builder's old limit.
{
    my @f = many(97);
    check_head('97 fields', through('raw', 'f97', \@f), \@f);
}

# 2. 97 fields and the client's own X-Forwarded-For (99 with Host).
{
    my @f = (many(97), 'X-Forwarded-For' => '192.0.2.7');
    check_head('97 fields + X-Forwarded-For', through('raw', 'f97x', \@f),
               \@f, xff => '192.0.2.7, 127.0.0.1');
}

# 2b. The client's own X-Forwarded-Host and -Proto (99 with Host): the
#     backend gets the proxy's, once.
{
    my @f = (many(96), 'X-Forwarded-Host' => 'spoof.test',
             'X-Forwarded-Proto' => 'https');
    check_head('96 fields + spoofed X-Forwarded-Host/-Proto',
               through('raw', 'f96s', \@f), \@f);
}

# 3. 99 end-to-end fields: with Host exactly LimitRequestFields (100).
{
    my @f = many(99);
    check_head('99 fields', through('raw', 'f99', \@f), \@f);
}

# 4. 98 fields and X-Forwarded-For: 100 with Host.
{
    my @f = (many(98), 'X-Forwarded-For' => '198.51.100.1, 192.0.2.7');
    check_head('98 fields + X-Forwarded-For', through('raw', 'f98x', \@f),
               \@f, xff => '198.51.100.1, 192.0.2.7, 127.0.0.1');
}

# 5. keephost: the client's Host, still exactly once.
{
    my @f = many(99);
    check_head('keephost, 99 fields', through('rawkh', 'kh99', \@f), \@f,
               host => 'client.test');
}

# 6. A POST with a body and 98 fields (100 with Host and Content-Length):
#    the framing reaches the backend too.
{
    my @f = (many(98), 'Content-Length' => 11);
    my ($res, $req, $port) = through('raw', 'post98', \@f, method => 'POST',
                                     body => 'hello world');
    check_head('POST, 98 fields', $res, $req, $port, \@f);
    is_deeply [ $req ? values_of($req, 'Content-Length') : () ], [ 11 ],
        'POST, 98 fields: Content-Length exactly once';
    is $req && $req->{body}, 'hello world', '... and the whole body';
}

# 7. Fields named by the client's Connection are still removed, the
#    proxy's fields still added (97 + Connection + Host = 99).
{
    my @f = (many(97), Connection => 'X-Field-3, X-Field-60, X-Forwarded-For');
    check_head('97 fields, Connection naming two', through('raw', 'conn97', \@f),
               \@f, dropped => ['X-Field-3', 'X-Field-60']);
}

# 8. Values near LimitRequestFieldSize: 97 lines of 8180 bytes, and a long
#    X-Forwarded-For of the client's, extended all the same.
{
    my @f = map { ($_ => 'v' x (8180 - length("$_: "))) }
            map { "X-Long-$_" } 1 .. 97;
    my $xff = join ', ', map { "192.0.2." . ($_ % 250) } 1 .. 700;
    $xff = substr $xff, 0, 8150 - length('X-Forwarded-For: ');
    $xff =~ s/[ ,]+$//;
    push @f, 'X-Forwarded-For' => $xff;
    check_head('97 long fields + a long X-Forwarded-For',
               through('raw', 'long97', \@f), \@f, xff => "$xff, 127.0.0.1");
}

# 9. A few long fields (a head well over 64 KiB in few vectors).
{
    my @f = map { ($_ => 'w' x (8190 - length("$_: "))) }
            map { "X-Big-$_" } 1 .. 10;
    check_head('10 fields of 8190 bytes', through('raw', 'big10', \@f), \@f);
}

done_testing();
