# t/revproxy/95_package.t -- the Debian package: build/deb.sh builds
# libapache2-mod-revproxy from this tree (dpkg-buildpackage -us -uc -b in a
# copy of it); the package holds both modules, the mods-available files,
# the docs and the example site; unpacked into a scratch root (dpkg -x),
# `a2enmod reproxy_filter` there enables revproxy as well, and the packaged
# modules, .load/.conf files and example pass `apache2 -t` as Debian's
# apache2.conf includes them.  The test server is not used.  About 15 s,
# most of it the package build.
use strict;
use warnings;

use File::Temp ();
use Time::HiRes ();
use Apache::Test qw(-withtestmore);

my $top = Apache::Test::vars('top_dir');
my $apache2 = '/usr/sbin/apache2';          # Debian's, whatever -httpd is
my $libexec = '/usr/lib/apache2/modules';
my $pkg = 'libapache2-mod-revproxy';
my $doc = "usr/share/doc/$pkg";

plan skip_all => 'dpkg-buildpackage is not installed (sh build/deps.sh deb)'
    unless system('command -v dpkg-buildpackage >/dev/null 2>&1') == 0;
plan tests => 32;

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or die "$file: $!";
    local $/;
    return scalar <$fh>;
}

sub spew {
    my ($file, $text) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $text;
    close $fh or die "$file: $!";
}

# A command's output (stdout and stderr) and exit status.
sub run {
    my ($cmd) = @_;
    my $out = `$cmd 2>&1`;
    return ($out, $? >> 8);
}

# 1. The version: VERSION is its one place; the changelog's top entry
#    must say the same.
chomp(my $version = slurp("$top/VERSION"));
like $version, qr/^\d+\.\d+\.\d+$/, "VERSION holds a version ($version)";
my ($changelog) = run("dpkg-parsechangelog -l $top/debian/changelog -S Version");
chomp $changelog;
is $changelog, $version, 'debian/changelog\'s top entry has the version of VERSION';

# 2. The build, in a copy of the tree: the checkout is not touched.
my $dir = File::Temp::tempdir(CLEANUP => 1);
my ($status_before) = run("git -C $top status --porcelain --ignored");
my $t0 = Time::HiRes::time();
my ($out, $rc) = run("sh $top/build/deb.sh $dir/out");
my $took = Time::HiRes::time() - $t0;
is $rc, 0, sprintf('build/deb.sh builds the package (%.0f s)', $took)
    or diag $out;
my ($status_after) = run("git -C $top status --porcelain --ignored");
is $status_after, $status_before, '... leaving the checkout as it was';

my $deb = (glob "$dir/out/${pkg}_${version}_*.deb")[0];
ok $deb && -f $deb, "${pkg}_${version}_ARCH.deb is there"
    or BAIL_OUT("no package to look at: $out");

# 3. What it declares and holds.
my %field = map { /^(\S+): (.*)$/ ? ($1 => $2) : () }
            split /\n/, (run("dpkg-deb -f $deb Package Version Depends"))[0];
is $field{Package}, $pkg, "Package: $pkg";
is $field{Version}, $version, "Version: $version";
like $field{Depends}, qr/\bapache2-api-\d+\b/,
     'Depends on the apache2 module API (dh_apache2)';

my @files = sort map { m{^-\S+\s+\S+\s+\d+\s+\S+\s+\S+\s+\./(.*)$} ? $1 : () }
                 split /\n/, (run("dpkg-deb -c $deb"))[0];
is_deeply \@files, [sort
    "$libexec/mod_revproxy.so" =~ s{^/}{}r,
    "$libexec/mod_reproxy_filter.so" =~ s{^/}{}r,
    'etc/apache2/mods-available/revproxy.load',
    'etc/apache2/mods-available/revproxy.conf',
    'etc/apache2/mods-available/reproxy_filter.load',
    "$doc/README.gz",
    "$doc/changelog.gz",
    "$doc/copyright",
    "$doc/examples/revproxy-site.conf",
], 'the files: both modules, the mods-available files, docs, the example'
    or diag explain \@files;

my $ctl = "$dir/control";
($out, $rc) = run("dpkg-deb -e $deb $ctl");
is $rc, 0, 'dpkg-deb -e' or diag $out;
is_deeply [sort split /\n/, slurp("$ctl/conffiles")],
    [map { "/etc/apache2/mods-available/$_" }
         qw(reproxy_filter.load revproxy.conf revproxy.load)],
    'the mods-available files are conffiles';
like slurp("$ctl/postinst"), qr/for conf in revproxy reproxy_filter\s*;.*apache2_invoke enmod/s,
     'postinst enables revproxy, then reproxy_filter';
like slurp("$ctl/prerm"), qr/apache2_invoke dismod/, 'prerm disables them';

# 4. Unpacked into a scratch root.
my $root = "$dir/root";
($out, $rc) = run("dpkg -x $deb $root");
is $rc, 0, 'dpkg -x into a scratch root' or diag $out;
my $avail = "$root/etc/apache2/mods-available";

my $load = slurp("$avail/revproxy.load");
like $load, qr{^LoadModule revproxy_module \Q$libexec\E/mod_revproxy\.so$}m,
     'revproxy.load loads the packaged mod_revproxy.so';
$load = slurp("$avail/reproxy_filter.load");
like $load, qr{^LoadModule reproxy_filter_module \Q$libexec\E/mod_reproxy_filter\.so$}m,
     'reproxy_filter.load loads the packaged mod_reproxy_filter.so';
# a2enmod reads "# Depends:" from the comments before the first directive.
my ($head) = $load =~ /\A((?:[ \t]*(?:#.*)?\n)*)/;
like $head, qr/^# Depends: revproxy$/m, '... after a "# Depends: revproxy" line';

# The .so paths moved to the scratch root, so that what loads is the
# package's copy and not an installed one.
for my $f (glob "$avail/*.load") {
    spew($f, slurp($f) =~ s{ \Q$libexec\E/}{ $root$libexec/}gr);
}
is scalar(() = map { slurp($_) =~ /\Q$root$libexec\E/g } glob "$avail/*.load"), 2,
   'both .load files point into the scratch root';

# 5. a2enmod in the scratch root: enabling reproxy_filter enables revproxy
#    (and its .conf) first; revproxy cannot be disabled while
#    reproxy_filter needs it.
my $env = "APACHE_CONFDIR=$root/etc/apache2 APACHE_STATE_DIRECTORY=$root/var/lib/apache2"
        . " APACHE_ENVVARS=/nonexistent";
mkdir "$root/etc/apache2/mods-enabled" or die "mods-enabled: $!";
($out, $rc) = run("env $env /usr/sbin/a2enmod reproxy_filter");
is $rc, 0, 'a2enmod reproxy_filter' or diag $out;
like $out, qr/Enabling module revproxy/, '... enables revproxy, its dependency';
my $enabled = "$root/etc/apache2/mods-enabled";
is_deeply [sort map { s{.*/}{}r } glob "$enabled/*"],
    [qw(reproxy_filter.load revproxy.conf revproxy.load)],
    'mods-enabled: reproxy_filter.load, revproxy.load, revproxy.conf';
($out, $rc) = run("env $env /usr/sbin/a2dismod revproxy");
isnt $rc, 0, 'a2dismod revproxy refuses while reproxy_filter is enabled';
like $out, qr/depend on revproxy .*reproxy_filter/, '... naming reproxy_filter'
    or diag $out;

# 6. apache2 -t with Debian's apache2.conf layout: mods-enabled/*.load
#    (reproxy_filter.load sorts before revproxy.load: the order does not
#    matter, see build/reproxy_filter.load), then *.conf, then the example
#    site.
my $conf = "$root/etc/apache2/apache2.conf";
sub apache2_conf {
    my ($site) = @_;
    spew($conf, join "\n",
        qq{ServerRoot "$root/etc/apache2"},
        'ServerName localhost',
        qq{DefaultRuntimeDir "$dir"},
        qq{PidFile "$dir/httpd.pid"},
        qq{ErrorLog "$dir/error_log"},
        'Listen 127.0.0.1:80',
        "LoadModule mpm_event_module $libexec/mod_mpm_event.so",
        "LoadModule authz_core_module $libexec/mod_authz_core.so",
        "LoadModule authz_host_module $libexec/mod_authz_host.so",
        'IncludeOptional mods-enabled/*.load',
        'IncludeOptional mods-enabled/*.conf',
        qq{Include "$site"},
        '');
}
apache2_conf("$root/$doc/examples/revproxy-site.conf");
($out, $rc) = run("$apache2 -t -f $conf");
is $rc, 0, 'apache2 -t on the packaged files' or diag $out;
like $out, qr/^Syntax OK$/m, '... Syntax OK';

($out, $rc) = run("$apache2 -t -D DUMP_INCLUDES -f $conf");
like $out, qr{\Q$enabled\E/revproxy\.conf}, '... mods-enabled/revproxy.conf included'
    or diag $out;
like $out, qr{examples/revproxy-site\.conf}, '... and the example site';

($out, $rc) = run("$apache2 -M -f $conf");
like $out, qr/^\s*revproxy_module \(shared\)$/m, 'revproxy_module loaded'
    or diag $out;
like $out, qr/^\s*reproxy_filter_module \(shared\)$/m, 'reproxy_filter_module loaded';

# AllowReproxy On (in the example too) needs mod_revproxy's client: with
# reproxy_filter.load alone it fails the config test.  Hence "# Depends".
spew("$dir/reproxy.conf", qq{<Location "/r">\n    AllowReproxy On\n</Location>\n});
apache2_conf("$dir/reproxy.conf");
($out, $rc) = run("$apache2 -t -f $conf");
is $rc, 0, 'AllowReproxy On passes apache2 -t' or diag $out;
unlink "$enabled/revproxy.load", "$enabled/revproxy.conf";
($out, $rc) = run("$apache2 -t -f $conf");
isnt $rc, 0, '... and fails it without revproxy.load';
like $out, qr/mod_revproxy/, '... saying that mod_revproxy is needed';
