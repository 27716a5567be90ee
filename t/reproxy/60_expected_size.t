# t/reproxy/60_expected_size.t -- X-Reproxy-Expected-Size: a source whose
# Content-Length (or, for 206/416, the complete length of Content-Range)
# contradicts it fails and the next one is tried; one without a length is
# counted, and a mismatch found at the end aborts the connection.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET HEAD);
use RevProxyTest qw(:all);
use ReproxyTest qw(:all);

Apache::TestRequest::module('rx_front');
Apache::TestRequest::user_agent(keep_alive => 0);

sub chunked_source {
    my ($body) = @_;
    return raw_backend(lifetime => 10, handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        print $sock "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                    sprintf("%x\r\n%s\r\n0\r\n\r\n", length $body, $body);
    });
}

{
    my $res = GET stub('cgi', u => [store('store/range.txt'),
                                    store('store/a.txt')], s => 13);
    is $res->content, "content of a\n",
       'Content-Length 37 contradicts Expected-Size 13: the next URL';

    my $off = error_log_offset();
    $res = GET stub('cgi', u => store('store/range.txt'), s => 36);
    is $res->code, 502, 'no URL with the expected size: 502';
    ok error_log_wait($off, qr/RVP0200: .*Content-Length 37 contradicts X-Reproxy-Expected-Size 36/),
       '... logged';

    $res = GET stub('cgi', u => store('store/range.txt'), s => 37);
    is $res->code, 200, 'a matching Content-Length: 200';

    $res = HEAD stub('cgi', u => store('store/range.txt'), s => 36);
    is $res->code, 502, 'HEAD: the Content-Length is checked too';

    $res = GET stub('cgi', u => store('store/range.txt'), s => 37),
               Range => 'bytes=0-3';
    is $res->code, 206, 'Range: the complete length of Content-Range matches';
    is $res->content, '0123', '... the right bytes';

    $res = GET stub('cgi', u => [store('store/range.txt'), store('store/a.txt')],
                    s => 13), Range => 'bytes=0-3';
    is $res->content, 'cont',
       '... and a contradicting one fails over (a.txt, bytes 0-3)';

    $res = GET stub('cgi', u => store('store/a.txt'), s => 'junk');
    is $res->content, "content of a\n", 'an invalid Expected-Size is ignored';
}
{
    my ($port, $be) = chunked_source('12345');
    my $res = GET stub('cgi', u => "http://127.0.0.1:$port/x", s => 5);
    $be->stop;
    is $res->content, '12345', 'chunked, 5 bytes as expected: served';

    ($port, $be) = chunked_source('1234567');
    my $off = error_log_offset();
    my ($raw, $how) = raw_http(front_port(),
        "GET " . stub('cgi', u => "http://127.0.0.1:$port/x", s => 5)
        . " HTTP/1.1\r\nHost: localhost\r\n\r\n", timeout => 10);
    $be->stop;
    is $how, 'eof', 'chunked, 7 bytes instead of 5: the connection is aborted';
    unlike $raw, qr/\r\n0\r\n\r\n$/, '... without a last chunk';
    ok error_log_wait($off, qr/RVP0204: .*body of 7 bytes contradicts X-Reproxy-Expected-Size 5/),
       '... logged';
}

done_testing();
