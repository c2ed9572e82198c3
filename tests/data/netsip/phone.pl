#!/usr/bin/perl
# An independent SIP phone for the registrar tests (Debian's libnet-sip-perl):
# registers USER@DOMAIN through PROXY (answering a digest challenge with
# PASSWORD), prints "registered", answers one call, prints "established",
# and exits 0 when that call has ended. Exits 1 on any failure or after
# TIMEOUT seconds.
use strict;
use warnings;
use Net::SIP;

my ($proxy, $domain, $user, $pass, $bind, $timeout) = @ARGV;
die "usage: phone.pl PROXY DOMAIN USER PASSWORD BIND_IP:PORT [TIMEOUT]\n" unless $bind;
$timeout ||= 30;
$| = 1;

my $ua = Net::SIP::Simple->new(
    registrar      => $proxy,
    outgoing_proxy => $proxy,
    domain         => $domain,
    from           => "sip:$user\@$domain",
    leg            => $bind,
    auth           => [ $user, $pass ],
);
$ua->register(expires => 600) or do { print "register failed: ", $ua->error, "\n"; exit 1 };
print "registered\n";

my ($established, $done);
$ua->listen(
    cb_established => sub { $established = 1; print "established\n"; },
    cb_cleanup     => sub { $done = 1 },
);
$ua->loop($timeout, \$done);
exit($established && $done ? 0 : 1);
