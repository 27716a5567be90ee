# t/revproxy/37_sse_deflate.t -- streaming through compression filters: a
# backend answer with Content-Type: text/event-stream or
# X-Accel-Buffering: no reaches a gzip-accepting client uncompressed and
# event by event, also where mod_deflate (SetOutputFilter or
# AddOutputFilterByType) or mod_brotli is configured; X-Accel-Buffering
# never reaches the client; a normal answer through the same location is
# compressed.  t/conf/deflate.conf.in has the locations.
#
# The backend writes event 1, then holds the connection open until the
# client says it has read event 1 (a flag file; at most 10 s), and only
# then writes event 2: event 1 must reach the client while the backend
# waits, whatever the machine's speed.
use strict;
use warnings;

use File::Temp ();
use IO::Select ();
use IO::Socket::INET ();
use Apache::Test qw(-withtestmore);
use RevProxyTest qw(:all);
use Time::HiRes ();

local $SIG{ALRM} = sub { die "37_sse_deflate.t: out of time\n" };
alarm 150;

my $front = Apache::Test::vars('rp_deflate_port');
my $flags = File::Temp::tempdir('rvp-sse-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $case = 0;

# A backend that streams two events (chunked), the second only once $flag
# exists; @fields are its head's extra fields.
sub stream_backend {
    my ($flag, @fields) = @_;
    return raw_backend(lifetime => 30, handler => sub {
        my ($sock) = @_;
        read_request($sock, timeout => 10) or return;
        my $head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n";
        while (my ($k, $v) = splice @fields, 0, 2) {
            $head .= "$k: $v\r\n";
        }
        my $chunk = sub { sprintf("%x\r\n%s\r\n", length $_[0], $_[0]) };
        print $sock $head, "\r\n", $chunk->("id: 1\ndata: event one\n\n");
        my $end = Time::HiRes::time() + 10;
        Time::HiRes::sleep(0.02) until -e $flag || Time::HiRes::time() > $end;
        die "the client never said it had event 1\n" unless -e $flag;
        print $sock $chunk->("id: 2\ndata: event two\n\n"), "0\r\n\r\n";
    });
}

# GET $path from the front as a client accepting $enc; reads until the
# plain text "event one" arrived (at most 8 s), then sets $flag, then
# reads to the end.  Returns (saw event 1 before the flag, the response).
sub stream_client {
    my ($path, $enc, $flag) = @_;
    my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                     PeerPort => $front, Proto => 'tcp',
                                     Timeout => 5) or die "connect: $!\n";
    syswrite $sock, "GET $path HTTP/1.1\r\nHost: sse.test\r\n"
                  . "Accept-Encoding: $enc\r\nConnection: close\r\n\r\n";
    my ($raw, $seen) = ('', 0);
    my $read_until = sub {
        my ($deadline, $stop) = @_;
        while (!($stop && $raw =~ $stop)) {
            my $left = $deadline - Time::HiRes::time();
            last if $left <= 0 || !IO::Select->new($sock)->can_read($left);
            my $n = sysread $sock, my $buf, 65536;
            last unless $n;
            $raw .= $buf;
        }
    };
    $read_until->(Time::HiRes::time() + 8, qr/data: event one/);
    $seen = $raw =~ /data: event one/ ? 1 : 0;
    open my $fh, '>', $flag or die "$flag: $!\n";
    close $fh;
    $read_until->(Time::HiRes::time() + 10, undef);
    close $sock;
    return ($seen, split_response($raw));
}

sub streamed {
    my ($what, $prefix, $enc, @fields) = @_;
    my $flag = "$flags/flag" . ++$case;
    my ($port, $be) = stream_backend($flag, @fields);
    my ($seen, $res) = stream_client("/$prefix/$port/events", $enc, $flag);
    $be->wait(10) or $be->stop;
    ok $seen, "$what: event 1 reached the client while the backend held "
              . "event 2 back";
    is_deeply [ $be->errors ], [], '... the backend saw the client get it';
    is $res && $res->{status}, 200, '... 200';
    ok !defined $res->{header}{'content-encoding'},
       '... no Content-Encoding' or diag $res->{header}{'content-encoding'};
    ok !defined $res->{header}{'x-accel-buffering'},
       '... no X-Accel-Buffering';
    is $res->{body}, "id: 1\ndata: event one\n\nid: 2\ndata: event two\n\n",
       '... both events, as sent';
}

streamed('event stream, SetOutputFilter DEFLATE', 'set', 'gzip, deflate',
         'Content-Type' => 'text/event-stream', 'Cache-Control' => 'no-cache',
         'X-Accel-Buffering' => 'yes');
streamed('event stream with parameters, AddOutputFilterByType DEFLATE',
         'bytype', 'gzip', 'Content-Type' => 'text/event-stream; charset=utf-8');
streamed('event stream in capitals, SetOutputFilter DEFLATE', 'set', 'gzip',
         'Content-Type' => 'Text/Event-Stream ;charset=utf-8');
streamed('text/plain with X-Accel-Buffering: no, SetOutputFilter DEFLATE',
         'set', 'gzip', 'Content-Type' => 'text/plain',
         'X-Accel-Buffering' => 'no');
streamed('text/plain with X-Accel-Buffering: No, AddOutputFilterByType',
         'bytype', 'gzip', 'Content-Type' => 'text/plain',
         'X-Accel-Buffering' => 'No');
streamed('event stream, BROTLI_COMPRESS', 'br', 'br, gzip',
         'Content-Type' => 'text/event-stream');

# Ordinary answers through the same locations are compressed; a backend's
# X-Accel-Buffering other than "no" changes nothing but is not passed on.
sub plain {
    my ($what, $prefix, $enc, $want, @fields) = @_;
    my $body = "<html><body>" . ("hello compressible world " x 200)
               . "</body></html>";
    my ($port, $be) = raw_backend(lifetime => 15, handler => sub {
        my ($sock) = @_;
        read_request($sock, timeout => 10) or return;
        respond($sock, 200, [@fields, Connection => 'close'], $body);
    });
    my $raw = raw_http($front, "GET /$prefix/$port/page HTTP/1.1\r\n"
                       . "Host: sse.test\r\nAccept-Encoding: $enc\r\n"
                       . "Connection: close\r\n\r\n", timeout => 10);
    $be->wait(5) or $be->stop;
    my $res = split_response($raw);
    is $res && $res->{status}, 200, "$what: 200";
    is $res->{header}{'content-encoding'}, $want, "... Content-Encoding: $want";
    ok !defined $res->{header}{'x-accel-buffering'},
       '... no X-Accel-Buffering';
    ok length($res->{body}) < length($body) / 4, '... compressed';
}

plain('text/html, SetOutputFilter DEFLATE', 'set', 'gzip', 'gzip',
      'Content-Type' => 'text/html');
plain('text/html, AddOutputFilterByType DEFLATE', 'bytype', 'gzip', 'gzip',
      'Content-Type' => 'text/html; charset=utf-8');
plain('text/html with X-Accel-Buffering: yes', 'set', 'gzip', 'gzip',
      'Content-Type' => 'text/html', 'X-Accel-Buffering' => 'yes');
plain('text/html, BROTLI_COMPRESS', 'br', 'br', 'br',
      'Content-Type' => 'text/html');

done_testing();
