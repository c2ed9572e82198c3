#!/usr/bin/perl
# Net::SIP's StatelessProxy (Debian's libnet-sip-perl) for tests/bench/run.sh.
#
#   perl netsip_proxy.pl IP:PORT[,net=PREFIX] [IP:PORT[,net=PREFIX]]
#
# One leg, or two. Net::SIP sends through the first leg whose
# can_deliver_to() says yes, and its Leg says yes to everything; a leg
# given ",net=PREFIX" (a dotted prefix such as 127.0.0.1) only takes
# destinations starting with it, like edgesip's net=, so that with
#   perl netsip_proxy.pl 127.0.0.1:5072,net=127.0.0.1 127.0.0.2:5072
# a call from 127.0.0.1 to a UAS on 127.0.0.3 leaves through the second
# leg and Net::SIP rewrites its Contacts, as edgesip does with two legs.
# Stops on SIGTERM/SIGINT.
use strict;
use warnings;
use Net::SIP;
use Net::SIP::Util ':all';

package NetLeg;
use base 'Net::SIP::Leg';
use fields qw(bench_net);

sub can_deliver_to {
    my NetLeg $self = shift;
    my $net = $self->{bench_net};
    my %spec;
    if (@_ > 1) {
        %spec = @_;
    } else {
        @spec{qw(proto host port family)} = Net::SIP::Util::sip_uri2sockinfo(shift());
        $spec{addr} = $spec{family} ? $spec{host} : undef;
    }
    my $addr = $spec{addr} || $spec{host} || '';
    return if defined $net && index($addr, $net) != 0;
    return $self->SUPER::can_deliver_to(%spec);
}

package main;

$SIG{TERM} = $SIG{INT} = sub { exit(0) };
@ARGV or die "usage: $0 IP:PORT[,net=PREFIX] ...\n";

my @legs;
for my $spec (@ARGV) {
    my ($addr, @opts) = split /,/, $spec;
    my %o = map { split /=/, $_, 2 } @opts;
    my $leg = NetLeg->new(addr => $addr);
    $leg->{bench_net} = $o{net};
    push @legs, $leg;
}
my $loop = Net::SIP::Dispatcher::Eventloop->new;
my $disp = Net::SIP::Dispatcher->new(\@legs, $loop);
my $proxy = Net::SIP::StatelessProxy->new(dispatcher => $disp);
$disp->set_receiver($proxy);
print STDERR "netsip_proxy: listening on @ARGV\n";
$loop->loop;
