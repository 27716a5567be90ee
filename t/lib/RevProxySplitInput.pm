package RevProxySplitInput;
# t/lib/RevProxySplitInput.pm -- a mod_perl connection input filter for a
# separate test httpd (t/revproxy/35_framing.t): every read of body bytes
# (AP_MODE_READBYTES) returns what the network gave, cut into buckets of
# 50 bytes, so one read of the connection's input filters hands a caller
# many more than 64 buckets.  httpd's own filters never do (the core's
# buckets are the socket's reads of up to 8000 bytes: about nine for the
# 64 KiB the tunnel asks; mod_ssl's, one), third-party connection filters
# may.  Head lines (AP_MODE_GETLINE) pass unchanged.
#
#   LoadModule perl_module /usr/lib/apache2/modules/mod_perl.so
#   PerlSwitches -I/path/to/t/lib
#   PerlModule RevProxySplitInput
#   PerlInputFilterHandler RevProxySplitInput::handler
use strict;
use warnings;

use base qw(Apache2::Filter);

use Apache2::Connection ();
use Apache2::Filter ();
use APR::Brigade ();
use APR::Bucket ();
use Apache2::Const -compile => qw(OK MODE_READBYTES);
use APR::Const -compile => qw(SUCCESS);

my $PIECE = 50;

sub handler : FilterConnectionHandler {
    my ($f, $bb, $mode, $block, $readbytes) = @_;

    my $rv = eval { $f->next->get_brigade($bb, $mode, $block, $readbytes) };
    if (!defined $rv) {
        # mod_perl raises APR::Error for some statuses: hand its code on.
        my $e = $@;
        return ref $e && $e->can('rc') ? $e->rc : die $e;
    }
    return $rv unless $rv == APR::Const::SUCCESS;
    return Apache2::Const::OK unless $mode == Apache2::Const::MODE_READBYTES;

    my $ba = $f->c->bucket_alloc;
    my $b = $bb->first;
    while ($b) {
        my $next = $bb->next($b);
        if (!$b->is_eos && !$b->is_flush && $b->length > $PIECE) {
            $b->read(my $data);
            for (my $off = 0; $off < length $data; $off += $PIECE) {
                $b->insert_before(APR::Bucket->new($ba, substr $data, $off, $PIECE));
            }
            $b->delete;
        }
        $b = $next;
    }
    return Apache2::Const::OK;
}

1;
