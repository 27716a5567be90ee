package RevProxyTLS;
# t/lib/RevProxyTLS.pm -- certificates and TLS backends for the HTTPS tests.
#
# Certificates: the CA Apache::Test generates (t/conf/ssl/ca/asf, @SSLCA@ in
# .conf.in files) exists before httpd reads its configuration, so
# t/conf/tls.conf.in trusts it and presents its client_ok certificate.
# Whatever the configuration need not name is made at test time by
# test_certs() with the openssl CLI, into a temporary directory:
#
#   my $c = test_certs();
#   $c->{localhost}{cert}, {key}  # asf CA's server cert, DNS:localhost
#   $c->{other}                   # asf CA, DNS:other.example (wrong name)
#   $c->{ip}                      # asf CA, IP:127.0.0.1
#   $c->{rogue}                   # DNS:localhost from a CA nobody trusts
#   $c->{ca}                      # the asf CA certificate file
#
# Backends: raw_backend() (t/lib/RevProxyTest.pm) with a TLS handshake first.
#
#   my ($port, $be) = tls_backend(cert => 'localhost', conns => 5,
#       handler => sub { my ($ssl, $n) = @_; ... read_request($ssl) ... });
#   my @hs = handshakes($be);   # { sni, reused, client, version, alpn }
#   my @bad = tls_failures($be);  # handshakes that failed: error text
#   stop_tls_backend($be);        # also its per-connection processes
#
# Options: cert => NAME (of test_certs) , client_ca => FILE (then a client
# certificate is required and verified), stall => 1 (accept TCP, never
# answer the handshake: the handler is not run), plus raw_backend's conns,
# concurrent, lifetime.  One SSL context serves every connection, so TLS
# session tickets issued on one are accepted on the next.
use strict;
use warnings;

use Exporter 'import';
use File::Temp ();
use IO::Select ();
use IO::Socket::SSL ();
use Net::SSLeay ();
use Time::HiRes ();

use Apache::Test ();
use RevProxyTest ();

our @EXPORT_OK = qw(asf_dir test_certs tls_backend stop_tls_backend
                    handshakes tls_failures send_all);

# t/conf/ssl/ca/asf: Apache::Test's CA, certificates and keys.
sub asf_dir {
    my $vars = Apache::Test::vars();
    return "$vars->{sslca}/$vars->{sslcaorg}";
}

my $certs;

sub openssl {
    my (@args) = @_;
    my $out = `openssl @args 2>&1`;
    die "openssl @args: $out\n" if $?;
    return $out;
}

# A key and a certificate for $san, signed by ($ca_cert, $ca_key, $pass),
# or self-signed as a CA when $ca_cert is undef.
sub make_cert {
    my ($dir, $name, $cn, $san, $ca_cert, $ca_key, $pass) = @_;
    my ($key, $crt, $csr) = map { "$dir/$name.$_" } qw(key crt csr);
    openssl("genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $key");
    if (!$ca_cert) {
        openssl("req -new -x509 -key $key -out $crt -days 2 -subj '/CN=$cn'"
              . " -addext basicConstraints=critical,CA:TRUE"
              . " -addext keyUsage=critical,keyCertSign,cRLSign");
        return { cert => $crt, key => $key };
    }
    openssl("req -new -key $key -out $csr -subj '/CN=$cn'");
    open my $fh, '>', "$dir/$name.ext" or die "$dir/$name.ext: $!\n";
    print $fh "subjectAltName = $san\nbasicConstraints = CA:FALSE\n"
            . "extendedKeyUsage = serverAuth\n";
    close $fh;
    openssl("x509 -req -in $csr -CA $ca_cert -CAkey $ca_key"
          . ($pass ? " -passin pass:$pass" : '')
          . " -CAcreateserial -days 2 -sha256 -extfile $dir/$name.ext"
          . " -out $crt");
    return { cert => $crt, key => $key };
}

# The certificates above, made once per test process.
sub test_certs {
    return $certs if $certs;
    my $asf = asf_dir();
    die "no Apache::Test CA in $asf (is mod_ssl in t/conf/modules.inherit?)\n"
        unless -e "$asf/certs/ca.crt";
    my $dir = File::Temp::tempdir('rvp-tls-XXXXXX', TMPDIR => 1, CLEANUP => 1);
    my @ca = ("$asf/certs/ca.crt", "$asf/keys/ca.pem", 'httpd');
    my $rogue_ca = make_cert($dir, 'rogue-ca', 'Rogue Test CA');
    $certs = {
        ca        => "$asf/certs/ca.crt",
        localhost => { cert => "$asf/certs/server.crt",
                       key  => "$asf/keys/server.pem" },
        other     => make_cert($dir, 'other', 'other.example',
                               'DNS:other.example', @ca),
        ip        => make_cert($dir, 'ip', '127.0.0.1', 'IP:127.0.0.1', @ca),
        rogue     => make_cert($dir, 'rogue', 'localhost', 'DNS:localhost',
                               $rogue_ca->{cert}, $rogue_ca->{key}),
        client_ok => { cert => "$asf/certs/client_ok.crt",
                       key  => "$asf/keys/client_ok.pem" },
    };
    return $certs;
}

sub tls_backend {
    my (%o) = @_;
    my $handler = delete $o{handler} || sub {};
    my $stall = delete $o{stall};
    my $c = test_certs()->{ delete $o{cert} || 'localhost' }
        or die "tls_backend: unknown cert\n";
    my $client_ca = delete $o{client_ca};

    if ($stall) {
        # TCP only: hold the connection without a byte of TLS until the
        # client gives up (or the backend's lifetime ends).
        return RevProxyTest::raw_backend(%o, handler => sub {
            my ($sock) = @_;
            my $end = Time::HiRes::time() + ($o{lifetime} || 30);
            while (Time::HiRes::time() < $end) {
                next unless IO::Select->new($sock)->can_read(0.2);
                last unless sysread $sock, my $b, 4096;     # client gone
            }
            RevProxyTest::record(event => 'stalled',
                                 held => Time::HiRes::time());
        });
    }

    # Made before the fork: every connection, in whatever process, shares
    # its ticket keys, so resumption works across connections.
    my $ctx = IO::Socket::SSL::SSL_Context->new(
        SSL_server      => 1,
        SSL_cert_file   => $c->{cert},
        SSL_key_file    => $c->{key},
        SSL_alpn_protocols => ['http/1.1'],
        $client_ca
            ? (SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_PEER()
                   | IO::Socket::SSL::SSL_VERIFY_FAIL_IF_NO_PEER_CERT(),
               SSL_ca_file => $client_ca)
            : (SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_NONE()),
    ) or die "tls_backend: $IO::Socket::SSL::SSL_ERROR\n";

    return RevProxyTest::raw_backend(%o, handler => sub {
        my ($sock, $n) = @_;
        my $ssl = IO::Socket::SSL->start_SSL($sock, SSL_server => 1,
                                             SSL_reuse_ctx => $ctx,
                                             Timeout => 10);
        unless ($ssl) {
            RevProxyTest::record(event => 'tls_failure',
                                 error => "$IO::Socket::SSL::SSL_ERROR");
            return;
        }
        my $raw = $ssl->_get_ssl_object;
        RevProxyTest::record(
            event   => 'handshake',
            sni     => $ssl->get_servername,
            reused  => Net::SSLeay::session_reused($raw) ? 1 : 0,
            version => $ssl->get_sslversion,
            alpn    => $ssl->alpn_selected,
            client  => $ssl->peer_certificate
                       ? $ssl->peer_certificate('subject') : undef,
        );
        $handler->($ssl, $n);
    });
}

# Successful handshakes, in order.
sub handshakes {
    my ($be) = @_;
    return grep { $_->{event} eq 'handshake' } RevProxyTest::events($be);
}

sub tls_failures {
    my ($be) = @_;
    return map { $_->{error} }
        grep { $_->{event} eq 'tls_failure' } RevProxyTest::events($be);
}

# stop_tls_backend($be): ends the backend and, with concurrent => 1, the
# processes still serving connections the proxy keeps open (stop() alone
# ends only the accepting one).
sub stop_tls_backend {
    my ($be) = @_;
    my %pids = map { $_->{pid} => 1 } grep { $_->{pid} != $be->pid }
        RevProxyTest::events($be);
    kill 'TERM', keys %pids if %pids;
    $be->stop;
    return $be;
}

# send_all($sock, $bytes): syswrite until everything is out (TLS writes
# go record by record).
sub send_all {
    my ($sock, $bytes) = @_;
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite $sock, $bytes, 65536, $off;
        die "send_all: $!\n" unless defined $n && $n > 0;
        $off += $n;
    }
    return $off;
}

1;
