# Drives stompd with Net::Stomp, which speaks STOMP 1.0, as its users do:
# subscribe with a receipt, wait for it, then read. Run by
# broker/interop/scripted_test.go:
#
#   perl net_stomp.pl SCENARIO HOST PORT DESTINATION
#
# SCENARIO is "stored" (a queue message sent before its consumer
# subscribes reaches it) or "redelivered" (a message its client-mode
# consumer left unacknowledged goes to the next consumer, marked
# redelivered, and then leaves the queue once acknowledged). Prints "ok"
# and exits 0 when the scenario holds; otherwise dies saying why.
use strict;
use warnings;
use Net::Stomp;

my $WAIT = 10;    # seconds: a bound on a failure, never a measure of speed

my ($scenario, $host, $port, $dest) = @ARGV;
die "usage: net_stomp.pl SCENARIO HOST PORT DESTINATION\n" unless defined $dest;

sub connect_stomp {
    my $stomp = Net::Stomp->new({ hostname => $host, port => $port, timeout => $WAIT });
    my $f = $stomp->connect({ login => 'interop', passcode => 'secret' });
    die "CONNECT: want CONNECTED, got " . describe($f) . "\n" unless $f && $f->command eq 'CONNECTED';
    return $stomp;
}

sub describe {
    my ($f) = @_;
    return 'nothing' unless $f;
    my $h = $f->headers;
    return $f->command . ' {' . join(', ', map {"$_:$h->{$_}"} sort keys %$h) . '} "' . $f->body . '"';
}

# expect reads the next frame and checks its command, headers and body.
sub expect_frame {
    my ($stomp, $command, $headers, $body) = @_;
    my $f = $stomp->receive_frame({ timeout => $WAIT });
    my $ok = $f && $f->command eq $command && (!defined $body || $f->body eq $body);
    for my $k (keys %$headers) {
        $ok &&= defined $f->headers->{$k} && $f->headers->{$k} eq $headers->{$k};
    }
    die "want $command, got " . describe($f) . "\n" unless $ok;
    return $f;
}

sub send_with_receipt {
    my ($stomp, $body) = @_;
    $stomp->send_with_receipt({ destination => $dest, body => $body })
        or die "SEND of \"$body\": no RECEIPT\n";
}

# subscribe subscribes and waits for the RECEIPT: the next frame must be it.
sub subscribe {
    my ($stomp, $ack) = @_;
    $stomp->subscribe({ destination => $dest, ack => $ack, receipt => 'sub' });
    expect_frame($stomp, 'RECEIPT', { 'receipt-id' => 'sub' });
}

if ($scenario eq 'stored') {
    my $pub = connect_stomp();
    send_with_receipt($pub, 'stored before subscribe');
    my $con = connect_stomp();
    subscribe($con, 'auto');
    expect_frame($con, 'MESSAGE', { destination => $dest }, 'stored before subscribe');
    $con->disconnect;
    $pub->disconnect;
}
elsif ($scenario eq 'redelivered') {
    my $pub   = connect_stomp();
    my $first = connect_stomp();
    subscribe($first, 'client');
    send_with_receipt($pub, 'left unacknowledged');
    my $m = expect_frame($first, 'MESSAGE', {}, 'left unacknowledged');
    die "first delivery marked redelivered: " . describe($m) . "\n"
        if ($m->headers->{redelivered} // '') eq 'true';
    $first->disconnect;

    my $second = connect_stomp();
    subscribe($second, 'client');
    my $again = expect_frame($second, 'MESSAGE',
        { redelivered => 'true', 'message-id' => $m->headers->{'message-id'} }, 'left unacknowledged');
    $second->ack({ frame => $again, receipt => 'acked' });
    expect_frame($second, 'RECEIPT', { 'receipt-id' => 'acked' });
    $second->disconnect;

    # Acknowledged, it is gone: a new consumer's first message is a new one.
    my $third = connect_stomp();
    subscribe($third, 'auto');
    send_with_receipt($pub, 'fence');
    expect_frame($third, 'MESSAGE', {}, 'fence');
    $third->disconnect;
    $pub->disconnect;
}
else {
    die "unknown scenario \"$scenario\": want stored or redelivered\n";
}
print "ok\n";
