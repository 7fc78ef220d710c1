// Drives @stomp/stompjs clients for stompd's interoperability tests
// (broker/interop). Usage: node driver.mjs <ws-url>
//
// Protocol: one JSON request per line on stdin, {"id", "op", "args"}; one
// JSON response per line on stdout, {"id", "ok": true, "result"} or
// {"id", "ok": false, "error"}. Requests are handled one at a time, in
// order. Bodies travel as base64. The driver exits 0 when stdin closes and
// every session has been deactivated, non-zero on a broken request.
//
// Every WebSocket message, in both directions, is checked to carry exactly
// one STOMP frame (or only heart-beat EOLs); the "stats" op reports it.

import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import { createInterface } from 'node:readline';

const url = process.argv[2];
if (!url) {
  console.error('usage: node driver.mjs <ws-url>');
  process.exit(2);
}

// Bounds every wait for the broker: a failure bound, not a speed test.
const WAIT_MS = 10000;
const PROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

let counter = 0;
const nextId = prefix => `${prefix}-${++counter}`;

// withTimeout rejects if p has not settled within WAIT_MS.
function withTimeout(p, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${WAIT_MS} ms`)), WAIT_MS);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

// frameCount counts the STOMP frames in one WebSocket message. It returns
// 0 for a heart-beat (EOLs only) and -1 for anything that is neither one
// whole frame nor a heart-beat.
function frameCount(data) {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  if (end === 0) return 0;
  if (bytes[end - 1] !== 0x00) return -1;
  const blank = /\r?\n\r?\n/.exec(bytes.toString('latin1'));
  if (!blank) return -1;
  const head = bytes.subarray(0, blank.index).toString('utf8');
  const bodyStart = blank.index + blank[0].length;
  const length = head.match(/^content-length:(\d+)\r?$/m);
  const bodyEnd = length ? bodyStart + Number(length[1]) : bytes.indexOf(0, bodyStart);
  return bodyEnd === end - 1 ? 1 : -1;
}

// lookup returns map's value for key, or throws naming what is missing.
function lookup(map, key, what) {
  if (!map.has(key)) throw new Error(`unknown ${what} ${key}`);
  return map.get(key);
}

// Inbox queues the messages of one subscription until they are asked for.
class Inbox {
  constructor() {
    this.items = [];
    this.waiters = [];
  }
  push(m) {
    const waiter = this.waiters.shift();
    if (waiter) waiter(m);
    else this.items.push(m);
  }
  next() {
    if (this.items.length > 0) return Promise.resolve(this.items.shift());
    let waiter;
    const p = new Promise(resolve => {
      waiter = resolve;
      this.waiters.push(waiter);
    });
    return withTimeout(p, 'MESSAGE').catch(err => {
      this.waiters = this.waiters.filter(w => w !== waiter);
      throw err;
    });
  }
}

// Session is one stompjs Client over one ws socket.
class Session {
  constructor() {
    this.inboxes = new Map();
    this.messages = new Map();
    this.txs = new Map();
    this.stats = { sent: 0, received: 0, bad: [] };
    this.closing = false;
    this.failed = new Promise((_, reject) => {
      this.fail = reason => reject(new Error(reason));
    });
    this.failed.catch(() => {});
  }

  // socket opens the WebSocket and checks every message it carries.
  socket() {
    const ws = new WebSocket(url, PROTOCOLS);
    this.ws = ws;
    const check = (direction, data) => {
      const n = frameCount(data);
      if (n < 0) {
        const shown = Buffer.from(data).subarray(0, 200).toString('latin1');
        this.stats.bad.push(`${direction} ${Buffer.byteLength(data)} bytes: ${JSON.stringify(shown)}`);
      }
      return n;
    };
    const send = ws.send.bind(ws);
    ws.send = (data, ...rest) => {
      this.stats.sent += check('sent', data);
      return send(data, ...rest);
    };
    ws.addEventListener('message', ev => {
      this.stats.received += check('received', ev.data);
    });
    return ws;
  }

  // connect activates a client that offers heart-beats every heartbeatMs
  // both ways.
  connect({ login, passcode, heartbeatMs }) {
    const connected = new Promise((resolve, reject) => {
      this.client = new Client({
        webSocketFactory: () => this.socket(),
        connectHeaders: { login, passcode },
        heartbeatOutgoing: heartbeatMs,
        heartbeatIncoming: heartbeatMs,
        reconnectDelay: 0,
        onConnect: frame => resolve(frame.headers),
        onStompError: frame => {
          const reason = `ERROR frame: ${JSON.stringify(frame.headers)} ${frame.body}`;
          reject(new Error(reason));
          this.fail(reason);
        },
        onWebSocketClose: ev => {
          const reason = `socket closed: code ${ev.code} ${ev.reason}`;
          reject(new Error(reason));
          if (!this.closing) this.fail(reason);
        },
      });
      this.client.activate();
    });
    return this.wait(connected, 'CONNECTED');
  }

  // heartbeat resolves on the next heart-beat from the broker.
  async heartbeat() {
    const beat = new Promise(resolve => {
      this.client.onHeartbeatReceived = resolve;
    });
    try {
      await this.wait(beat, 'heart-beat from the broker');
    } finally {
      this.client.onHeartbeatReceived = () => {};
    }
  }

  // wait settles with p, or fails on an ERROR frame, a closed socket or
  // the time bound.
  wait(p, what) {
    return withTimeout(Promise.race([p, this.failed]), what);
  }

  // receipted transmits through send(headers) with a receipt header and
  // resolves with the RECEIPT's receipt-id.
  receipted(send, headers = {}) {
    const receipt = nextId('receipt');
    const got = new Promise(resolve => {
      this.client.watchForReceipt(receipt, frame => resolve(frame.headers['receipt-id']));
    });
    send({ ...headers, receipt });
    return this.wait(got, `RECEIPT ${receipt}`);
  }

  subscribe({ destination, ack, headers }) {
    const inbox = new Inbox();
    const sub = this.client.subscribe(destination, m => inbox.push(m), { ...headers, ack });
    this.inboxes.set(sub.id, inbox);
    return sub.id;
  }

  async send({ destination, body, binary, headers, transaction, receipt }) {
    const bytes = Buffer.from(body ?? '', 'base64');
    const payload = binary ? { binaryBody: new Uint8Array(bytes) } : { body: bytes.toString('utf8') };
    const hdrs = { ...headers };
    if (transaction) hdrs.transaction = transaction;
    const publish = h => this.client.publish({ destination, headers: h, ...payload });
    if (!receipt) return publish(hdrs);
    return { receiptId: await this.receipted(publish, hdrs) };
  }

  async receive({ subscription }) {
    const inbox = lookup(this.inboxes, subscription, 'subscription');
    const m = await this.wait(inbox.next(), `MESSAGE on ${subscription}`);
    const handle = nextId('message');
    this.messages.set(handle, m);
    return { handle, headers: m.headers, body: Buffer.from(m.binaryBody).toString('base64') };
  }

  acknowledge({ handle, transaction, negative }) {
    const m = lookup(this.messages, handle, 'message');
    const headers = transaction ? { transaction } : {};
    if (negative) m.nack(headers);
    else m.ack(headers);
  }

  begin() {
    const tx = this.client.begin();
    this.txs.set(tx.id, tx);
    return tx.id;
  }

  // end commits or aborts a transaction. stompjs cannot ask for a receipt
  // on COMMIT or ABORT, so a receipted SEND that follows them says the
  // broker has handled them.
  end({ transaction, commit }) {
    const tx = lookup(this.txs, transaction, 'transaction');
    if (commit) tx.commit();
    else tx.abort();
    this.txs.delete(transaction);
    return this.receipted(h => this.client.publish({ destination: '/topic/interop.sync', headers: h }));
  }

  // disconnect deactivates the client: stompjs sends DISCONNECT with a
  // receipt and closes the socket once the RECEIPT arrives, reporting it
  // through onDisconnect.
  async disconnect() {
    this.closing = true;
    let receiptId;
    this.client.onDisconnect = frame => {
      receiptId = frame.headers['receipt-id'];
    };
    await withTimeout(this.client.deactivate(), 'socket close after DISCONNECT');
    if (receiptId === undefined) throw new Error('socket closed without a RECEIPT for DISCONNECT');
    return { receiptId };
  }
}

const sessions = new Map();

const ops = {
  async connect(args) {
    const s = new Session();
    const id = nextId('session');
    sessions.set(id, s);
    const headers = await s.connect(args);
    return { session: id, headers, protocol: s.ws.protocol };
  },
  heartbeat: s => s.heartbeat(),
  subscribe: (s, args) => ({ subscription: s.subscribe(args) }),
  send: (s, args) => s.send(args),
  receive: (s, args) => s.receive(args),
  ack: (s, args) => s.acknowledge(args),
  nack: (s, args) => s.acknowledge({ ...args, negative: true }),
  begin: s => ({ transaction: s.begin() }),
  commit: (s, args) => s.end({ ...args, commit: true }),
  abort: (s, args) => s.end({ ...args, commit: false }),
  disconnect: s => s.disconnect(),
  stats: s => s.stats,
};

async function handle({ op, args = {} }) {
  if (op === 'connect') return ops.connect(args);
  if (!ops[op]) throw new Error(`unknown op ${op}`);
  return ops[op](lookup(sessions, args.session, 'session'), args);
}

for await (const line of createInterface({ input: process.stdin })) {
  let req;
  try {
    req = JSON.parse(line);
  } catch (err) {
    console.error(`driver: request is not JSON: ${line}`);
    process.exit(2);
  }
  let response;
  try {
    response = { id: req.id, ok: true, result: (await handle(req)) ?? null };
  } catch (err) {
    response = { id: req.id, ok: false, error: err.message };
  }
  process.stdout.write(JSON.stringify(response) + '\n');
}

await Promise.all([...sessions.values()].map(s => s.client.deactivate({ force: true })));
