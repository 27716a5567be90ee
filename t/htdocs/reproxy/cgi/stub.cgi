#!/usr/bin/perl
# t/htdocs/reproxy/cgi/stub.cgi -- a CGI origin that asks for reproxying
# (t/reproxy/*.t).  Its headers land in r->err_headers_out, as every CGI's.
#
# Query (values percent-encoded):
#   u=URL     an X-Reproxy-Url URL (repeatable: one field, space-separated;
#             with sep=1 one field per URL)
#   f=PATH    X-Reproxy-File            s=N   X-Reproxy-Expected-Size
#   st=CODE   Status                    ct=T  Content-Type (text/x-stub)
#   h=N:V     another response field (repeatable)
#   slow=N    the stub body comes in N pieces, 0.3 s apart
# The body is the stub: lines "STUB n", which must never reach a client
# when the response is reproxied, then what the request carried.
use strict;
use warnings;

my (%q, @u, @h);
for (split /[&;]/, $ENV{QUERY_STRING} // '') {
    my ($k, $v) = split /=/, $_, 2;
    $v //= '';
    $v =~ s/\+/ /g;
    $v =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    if    ($k eq 'u') { push @u, $v }
    elsif ($k eq 'h') { push @h, $v }
    else              { $q{$k} = $v }
}

$| = 1;
my $cap = $ENV{HTTP_X_PROXY_CAPABILITIES} // '(none)';
print "Status: $q{st}\r\n" if $q{st};
print "Content-Type: ", ($q{ct} // 'text/x-stub'), "\r\n";
if ($q{sep}) {
    print "X-Reproxy-Url: $_\r\n" for @u;
}
elsif (@u) {
    print "X-Reproxy-Url: @u\r\n";
}
print "X-Reproxy-File: $q{f}\r\n" if defined $q{f};
print "X-Reproxy-Expected-Size: $q{s}\r\n" if defined $q{s};
print "$_\r\n" for @h;
print "X-Seen-Capabilities: $cap\r\n";
print "\r\n";
my $pieces = $q{slow} || 1;
for my $i (1 .. $pieces) {
    select undef, undef, undef, 0.3 if $q{slow};
    print "STUB $i\n";
}
print "capabilities=$cap\n";
