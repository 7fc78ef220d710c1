# Drives stompd with ruby-stomp's Stomp::Connection, as its users do:
# subscribe with a receipt, wait for it, then read. Run by
# broker/interop/scripted_test.go:
#
#   ruby ruby_stomp.rb SCENARIO HOST PORT DESTINATION
#
# SCENARIO is "stored" (a queue message sent before its consumer
# subscribes reaches it) or "redelivered" (a message its client-mode
# consumer left unacknowledged goes to the next consumer, marked
# redelivered, and then leaves the queue once acknowledged). Prints "ok"
# and exits 0 when the scenario holds; otherwise exits non-zero saying why.
require "stomp"
require "timeout"

WAIT = 10 # seconds: a bound on a failure, never a measure of speed

scenario, host, port, dest = ARGV
abort "usage: ruby_stomp.rb SCENARIO HOST PORT DESTINATION" unless dest

def connect(host, port)
  Stomp::Connection.new(
    hosts: [{ login: "interop", passcode: "secret", host: host, port: Integer(port), ssl: false }],
    reliable: false, connect_timeout: WAIT, connread_timeout: WAIT,
    connect_headers: { "accept-version" => "1.2", "host" => "stompd", "heart-beat" => "0,0" }
  )
end

# expect reads the next frame and checks its command, headers and body.
def expect(conn, command, headers = {}, body = nil)
  f = Timeout.timeout(WAIT) { conn.receive }
  abort "want #{command}, got the end of the connection" if f.nil?
  unless f.command == command && headers.all? { |k, v| f.headers[k] == v } && (body.nil? || f.body == body)
    abort "want #{command} #{headers} #{body.inspect}, got #{f.command} #{f.headers} #{f.body.inspect}"
  end
  f
end

def send_with_receipt(conn, dest, body)
  conn.publish(dest, body, receipt: "sent")
  expect(conn, "RECEIPT", "receipt-id" => "sent")
end

# subscribe subscribes and waits for the RECEIPT: the next frame must be it.
def subscribe(conn, dest, ack)
  conn.subscribe(dest, id: "1", ack: ack, receipt: "sub")
  expect(conn, "RECEIPT", "receipt-id" => "sub")
end

def disconnect(conn)
  conn.disconnect(receipt: "bye")
  r = conn.disconnect_receipt
  abort "DISCONNECT: want its RECEIPT, got #{r.inspect}" unless r && r.command == "RECEIPT"
end

case scenario
when "stored"
  pub = connect(host, port)
  send_with_receipt(pub, dest, "stored before subscribe")
  con = connect(host, port)
  subscribe(con, dest, "auto")
  expect(con, "MESSAGE", { "destination" => dest }, "stored before subscribe")
  disconnect(con)
  disconnect(pub)
when "redelivered"
  pub = connect(host, port)
  first = connect(host, port)
  subscribe(first, dest, "client")
  send_with_receipt(pub, dest, "left unacknowledged")
  m = expect(first, "MESSAGE", {}, "left unacknowledged")
  abort "first delivery marked redelivered: #{m.headers}" if m.headers["redelivered"] == "true"
  disconnect(first)

  second = connect(host, port)
  subscribe(second, dest, "client")
  again = expect(second, "MESSAGE", { "redelivered" => "true", "message-id" => m.headers["message-id"] }, "left unacknowledged")
  second.ack(again.headers["ack"], receipt: "acked")
  expect(second, "RECEIPT", "receipt-id" => "acked")
  disconnect(second)

  # Acknowledged, it is gone: a new consumer's first message is a new one.
  third = connect(host, port)
  subscribe(third, dest, "auto")
  send_with_receipt(pub, dest, "fence")
  expect(third, "MESSAGE", {}, "fence")
  disconnect(third)
  disconnect(pub)
else
  abort "unknown scenario #{scenario.inspect}: want stored or redelivered"
end
puts "ok"
