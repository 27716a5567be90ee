# t/zz_sanitizer.t -- runs last (tests run sorted by path): fails when the
# server's error_log shows an AddressSanitizer/UBSan report (SANITIZE=1, see
# t/bin/httpd-asan) or a crashed child since the server started.
# Makefile.apxs checks once more after the server stopped.
use strict;
use warnings;

use Apache::Test qw(-withtestmore);

plan tests => 1;

my $vars = Apache::Test::vars();
my $report = `$vars->{t_dir}/bin/sanitizer-check --since-start $vars->{t_logs}`;
ok $? == 0, 'no sanitizer report, no crashed child' or diag($report);
