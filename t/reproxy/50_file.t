# t/reproxy/50_file.t -- X-Reproxy-File: served as httpd's default handler
# would (Content-Type from mod_mime, Last-Modified/ETag, Range, conditional
# requests, HEAD) only below a ReproxyFileRoot after symlinks are resolved;
# otherwise a failed source with a log line naming the path.  The file is
# tried first, then the URLs.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);
use Apache::TestRequest qw(GET HEAD);
use HTTP::Date ();
use POSIX ();
use RevProxyTest qw(:all);
use ReproxyTest qw(:all);

Apache::TestRequest::module('rx_front');
Apache::TestRequest::user_agent(keep_alive => 0);

my $root = docroot();
my $files = "$root/files";

# Symlinks made here (git need not carry them); removed at the end.
my %links = ("$files/escape.txt" => '../outside/secret.txt',
             "$files/outdir"     => '../outside',
             "$files/alias.txt"  => 'doc.txt');
for my $l (keys %links) {
    unlink $l;
    symlink $links{$l}, $l or die "symlink $l: $!";
}
mkdir "$files/subdir";
unlink "$files/fifo";
POSIX::mkfifo("$files/fifo", 0644) or die "mkfifo: $!";
END { unlink keys %links, "$files/fifo"; rmdir "$files/subdir" }

# --- inside the root ----------------------------------------------------------
{
    my $res = GET stub('file', f => "$files/doc.txt");
    is $res->code, 200, 'a file below ReproxyFileRoot';
    is $res->content, "a document from the file root\n", '... its bytes';
    is $res->header('Content-Type'), 'text/plain', '... type from mod_mime';
    is $res->header('Content-Length'), 30, '... Content-Length';
    ok $res->header('Last-Modified'), '... Last-Modified';
    my $etag = $res->header('ETag');
    ok $etag, '... ETag';
    is $res->header('Accept-Ranges'), 'bytes', '... Accept-Ranges';
    is_deeply [reserved_fields($res)], [], '... no X-Reproxy-* field';
    unlike $res->content, qr/STUB/, '... no stub byte';

    $res = GET stub('file', f => "$files/page.html");
    is $res->header('Content-Type'), 'text/html', 'page.html is text/html';

    $res = GET stub('file', f => "$files/doc.txt"), Range => 'bytes=2-9';
    is $res->code, 206, 'Range: 206';
    is $res->content, 'document', '... the right bytes';
    is $res->header('Content-Range'), 'bytes 2-9/30', '... Content-Range';

    $res = GET stub('file', f => "$files/doc.txt"), 'If-None-Match' => $etag;
    is $res->code, 304, 'If-None-Match with its ETag: 304';
    is $res->content, '', '... no body';

    $res = GET stub('file', f => "$files/doc.txt"),
               'If-Modified-Since' => HTTP::Date::time2str(time);
    is $res->code, 304, 'If-Modified-Since not before its mtime: 304';
    $res = GET stub('file', f => "$files/doc.txt"),
               'If-Modified-Since' => 'Sat, 01 Jan 2000 00:00:00 GMT';
    is $res->code, 200, 'If-Modified-Since before its mtime: 200';

    $res = GET stub('file', f => "$files/doc.txt"), 'If-Match' => '"nope"';
    is $res->code, 412, 'If-Match not matching: 412';

    $res = HEAD stub('file', f => "$files/doc.txt");
    is $res->code, 200, 'HEAD: 200';
    is $res->header('Content-Length'), 30, '... Content-Length';
    is $res->content, '', '... no body';

    $res = GET stub('file', f => "$files/alias.txt");
    is $res->content, "a document from the file root\n",
       'a symlink that resolves inside the root';
}

# --- the file first, then the URLs -----------------------------------------
{
    my ($port, $be) = raw_backend(lifetime => 10, handler => sub {
        my ($sock) = @_;
        read_request($sock) or return;
        print $sock "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nurl";
    });
    my $res = GET stub('file', f => "$files/doc.txt",
                       u => "http://127.0.0.1:$port/x");
    $be->stop;
    is $res->content, "a document from the file root\n",
       'X-Reproxy-File is tried before X-Reproxy-Url';
    is $be->connections, 0, '... the URL is not fetched';

    my $off = error_log_offset();
    $res = GET stub('file', f => "$files/missing.txt", u => store('store/a.txt'));
    is $res->content, "content of a\n", 'a missing file: the URL is served';
    ok error_log_wait($off, qr/RVP0203: .*\Q$files\E\/missing\.txt: cannot resolve/),
       '... the path is logged';
}

# --- outside the root -------------------------------------------------------
{
    my @cases = (
        ["$root/outside/secret.txt", 'outside every ReproxyFileRoot',
         'a file outside every root'],
        ["$files/escape.txt", 'resolves to \S+/outside/secret\.txt, outside',
         'a symlink pointing outside'],
        ["$files/outdir/secret.txt", 'resolves to \S+/outside/secret\.txt',
         'a path through a symlinked directory outside'],
        ["$files/../outside/secret.txt", 'resolves to',
         'a path with ".."'],
        ['files/doc.txt', 'not an absolute path', 'a relative path'],
        ["$files/subdir", 'not a regular file', 'a directory'],
        ["$files/fifo", 'not a regular file', 'a FIFO (opened without blocking)'],
    );
    for my $c (@cases) {
        my ($path, $why, $name) = @$c;
        my $off = error_log_offset();
        my $res = GET stub('file', f => $path);
        is $res->code, 502, "$name: 502";
        unlike $res->content, qr/secret/, '... nothing of the file';
        ok error_log_wait($off, qr/RVP0200: .*\Q$path\E: $why/),
           '... logged with the path and why';
    }

    my $off = error_log_offset();
    my $res = GET stub('cgi', f => "$files/doc.txt");
    is $res->code, 502, 'no ReproxyFileRoot in this location: 502';
    ok error_log_wait($off, qr/no ReproxyFileRoot/), '... logged';
}

done_testing();
