#!/usr/bin/perl
# bench/callgrind_top.pl -- per-request figures from a callgrind.out file.
#
#   perl bench/callgrind_top.pl FILE REQUESTS [TOP] [WATCH_REGEX]
#
# Reads the (name-compressed) callgrind output, and prints:
#   - instructions (Ir) per request in total;
#   - the TOP (25) functions by self Ir per request, with their inclusive
#     Ir and calls per request and their object file;
#   - the functions of mod_revproxy / mod_reproxy_filter (objects matching
#     mod_re) by inclusive Ir per request;
#   - calls per request of the functions matching WATCH_REGEX (allocation,
#     table, regex, resolver, socket and lock calls by default).
# Inclusive cost is self cost plus the cost of the calls a function makes
# (recursion counts twice; rare here).  Only the first event (Ir) is read.
use strict;
use warnings;

my ($file, $nreq, $top, $watch) = @ARGV;
die "usage: $0 FILE REQUESTS [TOP] [WATCH_REGEX]\n" unless $file && $nreq;
$top ||= 25;
$watch ||= '^(malloc|calloc|realloc|free|apr_palloc|apr_pcalloc|apr_pstrdup|apr_pstrndup'
         . '|apr_pstrmemdup|apr_pstrcat|apr_psprintf|apr_pvsprintf|apr_table_make'
         . '|apr_table_copy|apr_table_clone|apr_table_overlay|apr_table_do|apr_table_vdo'
         . '|apr_table_get|apr_table_set|apr_table_setn|apr_table_add|apr_table_addn'
         . '|apr_table_unset|apr_table_merge|apr_table_mergen|apr_array_make|apr_array_push'
         . '|apr_array_append|apr_hash_get|apr_hash_set|apr_pool_create_ex'
         . '|apr_pool_create_unmanaged_ex|apr_pool_destroy|apr_pool_clear|apr_allocator_alloc'
         . '|apr_bucket_alloc|apr_bucket_free|apr_brigade_create|apr_brigade_cleanup'
         . '|apr_brigade_destroy|apr_brigade_length|apr_bucket_heap_create|apr_bucket_copy'
         . '|pcre2_match_8|pcre2_match_data_create_8|pcre2_match_data_free_8|ap_regexec'
         . '|ap_regexec_len|ap_pregsub|ap_pregsub_ex|strcasecmp|strlen|memcpy|memset'
         . '|__memcpy_avx_unaligned_erms|__memset_avx2_unaligned_erms|__strlen_avx2'
         . '|apr_time_now|apr_thread_mutex_lock|apr_thread_mutex_unlock|pthread_mutex_lock'
         . '|apr_sockaddr_info_get|getaddrinfo|apr_socket_create|apr_socket_connect'
         . '|apr_socket_recv|apr_socket_send|apr_socket_sendv|apr_poll|poll|epoll_wait'
         . '|epoll_ctl|apr_pollset_poll|writev|read|write|recv|send|sendmsg|recvmsg'
         . '|apr_vformatter|apr_snprintf|ap_log_rerror_|ap_log_error_|ap_pass_brigade'
         . '|ap_get_brigade|ap_proxy_.*|ap_run_.*)$';

open(my $fh, '<', $file) or die "$file: $!\n";
my (%name, %obname, %obof, $ob, $fn, $cfn, $cob, $in_call);
my (%self, %incl, %calls);
while (my $l = <$fh>) {
    chomp $l;
    if ($l =~ /^ob=\((\d+)\)(?: (.*))?$/) {
        $obname{$1} = $2 if defined $2;
        $ob = $obname{$1};
        next;
    }
    if ($l =~ /^cob=\((\d+)\)(?: (.*))?$/) {
        $obname{$1} = $2 if defined $2;
        $cob = $obname{$1};
        next;
    }
    if ($l =~ /^fn=\((\d+)\)(?: (.*))?$/) {
        $name{$1} = $2 if defined $2;
        $fn = $name{$1};
        $obof{$fn} //= $ob // '?';
        $cob = undef;
        next;
    }
    if ($l =~ /^cfn=\((\d+)\)(?: (.*))?$/) {
        $name{$1} = $2 if defined $2;
        $cfn = $name{$1};
        $obof{$cfn} //= $cob // $ob // '?';
        next;
    }
    if ($l =~ /^calls=(\d+)/) {
        $calls{$cfn} += $1 if defined $cfn;
        $in_call = 1;
        next;
    }
    if ($l =~ /^[0-9+*-]/ && defined $fn) {
        my @v = split ' ', $l;
        my $ir = $v[1] // 0;
        if ($in_call) {
            $incl{$fn} += $ir;
            $in_call = 0;
            $cob = undef;       # cob= names the callee of one call only
        }
        else {
            $self{$fn} += $ir;
            $incl{$fn} += $ir;
        }
        next;
    }
}
close $fh;
my $total = 0;
$total += $_ for values %self;

my $short = sub { my $o = shift // '?'; $o =~ s{.*/}{}; $o };
printf "instructions per request: %.0f  (%s requests, %.0f Ir in all)\n", $total / $nreq, $nreq, $total;
print "\n";
printf "top %d by self Ir / request:\n", $top;
printf "  %10s %10s %8s  %-44s %s\n", 'self', 'inclusive', 'calls', 'function', 'object';
my @bySelf = sort { $self{$b} <=> $self{$a} } keys %self;
for my $f (@bySelf[0 .. ($top < @bySelf ? $top - 1 : $#bySelf)]) {
    printf "  %10.0f %10.0f %8.2f  %-44s %s\n", $self{$f} / $nreq, ($incl{$f} // 0) / $nreq,
           ($calls{$f} // 0) / $nreq, substr($f, 0, 44), $short->($obof{$f});
}
print "\n";
my @mine = grep { ($obof{$_} // '') =~ m{/mod_re[a-z_]*\.so$} } keys %incl;
if (@mine) {
    print "functions of our modules by inclusive Ir / request:\n";
    printf "  %10s %10s %8s  %s\n", 'inclusive', 'self', 'calls', 'function';
    for my $f (sort { $incl{$b} <=> $incl{$a} } @mine) {
        next if $incl{$f} / $nreq < 1;
        printf "  %10.0f %10.0f %8.2f  %s\n", $incl{$f} / $nreq, ($self{$f} // 0) / $nreq,
               ($calls{$f} // 0) / $nreq, $f;
    }
    print "\n";
}
print "calls / request of watched functions:\n";
for my $f (sort { ($calls{$b} // 0) <=> ($calls{$a} // 0) } grep { /$watch/ } keys %calls) {
    my $c = $calls{$f} / $nreq;
    next if $c < 0.005;
    printf "  %8.2f  %-36s incl Ir/call %7.0f\n", $c, $f, $calls{$f} ? ($incl{$f} // 0) / $calls{$f} : 0;
}
