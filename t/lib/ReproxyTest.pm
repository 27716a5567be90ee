package ReproxyTest;
# t/lib/ReproxyTest.pm -- helpers for t/reproxy/*.t (mod_reproxy_filter).
#
# The test server's rx_front has AllowReproxy On; t/conf/reproxy.conf.in
# explains its prefixes.  The usual origin is the CGI stub, told by its
# query what to answer:
#
#   my $res = GET stub('cgi', u => [store('store/a.txt')], s => 13);
#   # /cgi/stub.cgi?u=http%3A%2F%2F127.0.0.1%3APORT%2Fstore%2Fa.txt&s=13
#
# store($path): a URL on rx_store (well-behaved httpd: static files, Range,
# ETag, redirect.cgi).  docroot(): t/htdocs/reproxy.  reserved_fields($res):
# the X-Reproxy-* fields a response carries (there must be none).
# children_rss(): the summed VmRSS (KiB) of httpd's child processes.
use strict;
use warnings;

use Exporter 'import';
use Apache::Test ();
use Apache::TestRequest ();

our @EXPORT_OK = qw(stub store store_port front_port docroot esc
                    reserved_fields children_rss httpd_children);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

sub store_port { Apache::Test::vars('rx_store_port') }
sub front_port { Apache::Test::vars('rx_front_port') }
sub docroot    { Apache::Test::vars('documentroot') . '/reproxy' }

sub store { my ($path) = @_; return 'http://127.0.0.1:' . store_port() . "/$path" }

sub esc {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge;
    return $s;
}

# stub($prefix, key => value | [values], ...): the CGI origin's path under
# /$prefix/ with its query; see t/htdocs/reproxy/cgi/stub.cgi.
sub stub {
    my ($prefix, @q) = @_;
    my @pairs;
    while (my ($k, $v) = splice @q, 0, 2) {
        push @pairs, map { "$k=" . esc($_) } ref $v ? @$v : ($v);
    }
    return "/$prefix/stub.cgi" . (@pairs ? '?' . join '&', @pairs : '');
}

# The X-Reproxy-* field names of an HTTP::Response (or split_response hash).
sub reserved_fields {
    my ($res) = @_;
    my @names = ref $res eq 'HASH'
        ? map { $_->[0] } @{ $res->{headers} }
        : $res->headers->header_field_names;
    return grep { /^x-reproxy-/i } @names;
}

# The httpd children (pids whose parent is the pid file's process).
sub httpd_children {
    my $pidfile = Apache::Test::vars('t_logs') . '/httpd.pid';
    open my $fh, '<', $pidfile or return ();
    chomp(my $parent = <$fh> // '');
    my @kids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $s, '<', $stat or next;
        my $line = <$s> // next;
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        my ($pid, $ppid) = $line =~ /^(\d+) \(.*\) \S+ (\d+)/s or next;
        push @kids, $pid if $ppid == $parent;
    }
    return @kids;
}

sub children_rss {
    my $kib = 0;
    for my $pid (httpd_children()) {
        open my $fh, '<', "/proc/$pid/status" or next;
        while (<$fh>) {
            $kib += $1 if /^VmRSS:\s+(\d+)\s+kB/;
        }
    }
    return $kib;
}

1;
