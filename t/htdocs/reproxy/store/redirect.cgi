#!/usr/bin/perl
# t/htdocs/reproxy/store/redirect.cgi -- a reproxy source that redirects.
#   ?to=URL[&code=302]   Location: URL (relative URLs are sent as they are)
#   ?n=N[&code=302]      a chain: redirect.cgi?n=N-1 (relative), and at
#                        n=0 the body "arrived after the chain\n"
use strict;
use warnings;

my %q;
for (split /[&;]/, $ENV{QUERY_STRING} // '') {
    my ($k, $v) = split /=/, $_, 2;
    $v //= '';
    $v =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
    $q{$k} = $v;
}
my $code = $q{code} || 302;
if (defined $q{to}) {
    print "Status: $code Moved\r\nLocation: $q{to}\r\n",
          "Content-Type: text/plain\r\n\r\nmoved\n";
}
elsif (($q{n} // 0) > 0) {
    my $next = $q{n} - 1;
    print "Status: $code Moved\r\nLocation: redirect.cgi?n=$next&code=$code\r\n",
          "Content-Type: text/plain\r\n\r\nmoved\n";
}
else {
    print "Content-Type: text/plain\r\n\r\narrived after the chain\n";
}
