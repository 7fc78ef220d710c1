// A Node.js client of stompd with @stomp/stompjs over the ws package. It
// shows what a long-lived client needs:
//
//   - log in (POST /auth/login), and trade the access token for a
//     single-use ticket (POST /auth/ticket) before every WebSocket upgrade
//     (/ws?ticket=...);
//   - subscribe to a topic with a receipt, remember the last
//     x-stream-offset and x-stream-epoch it read, and after a reconnect
//     resubscribe from there, so that nothing sent meanwhile is lost;
//   - refresh the access token in band before it expires: a new token from
//     POST /auth/refresh, handed to the live session with a SEND to
//     /sys/auth/refresh;
//   - on a reconnect take a fresh token and ticket in beforeConnect.
//
// It sends --count messages to --topic, each with a receipt (sent again
// after a reconnect until its receipt arrives), and exits 0 once it has
// read them all back, printing a JSON summary on stdout; it says what it
// does on stderr. It exits 1 when the session cannot go on (the refresh
// token is refused, the history needed to resume is gone) or --timeout
// passes.
//
//   npm ci
//   STOMPD_PASSWORD=... node client.mjs --url http://127.0.0.1:8080 --email ada@example.com
//
// The password is read from STOMPD_PASSWORD, never from the command line,
// where other users of the machine could read it.

import { Client } from '@stomp/stompjs';
import WebSocket from 'ws';
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';

const USAGE = `usage: STOMPD_PASSWORD=... node client.mjs --email E [flags]
  --url URL        stompd's HTTP address (STOMPD_URL; default http://127.0.0.1:8080)
  --email E        the user to log in as (STOMPD_EMAIL)
  --topic T        the topic to send to and read from (default /topic/example)
  --count N        messages to send and read back (default 20)
  --interval MS    pause between two messages (default 100)
  --timeout S      give up after S seconds (default 60)`;

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      url: { type: 'string', default: process.env.STOMPD_URL || 'http://127.0.0.1:8080' },
      email: { type: 'string', default: process.env.STOMPD_EMAIL || '' },
      topic: { type: 'string', default: '/topic/example' },
      count: { type: 'string', default: '20' },
      interval: { type: 'string', default: '100' },
      timeout: { type: 'string', default: '60' },
      help: { type: 'boolean', default: false },
    },
  }));
} catch (e) {
  console.error(`${e.message}\n${USAGE}`);
  process.exit(2);
}
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}
const password = process.env.STOMPD_PASSWORD || '';
const count = Number(opts.count);
const interval = Number(opts.interval);
if (!opts.email || !password || !(count > 0) || !(interval >= 0) || !(Number(opts.timeout) > 0)) {
  console.error(USAGE);
  process.exit(2);
}

const PROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const log = (event, fields = {}) =>
  console.error([event, ...Object.entries(fields).map(([k, v]) => `${k}=${v}`)].join(' '));

// fatal ends the run with exit code 1.
function fatal(message) {
  log('fatal', { error: JSON.stringify(message) });
  console.log(JSON.stringify({ ok: false, error: message, ...stats() }));
  process.exit(1);
}

// HTTPError is an answer of stompd's HTTP API other than 2xx.
class HTTPError extends Error {
  constructor(path, status, body) {
    super(`${path}: ${status} ${body.error || ''} ${body.message || ''}`.trim());
    this.status = status;
  }
}

async function post(path, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const resp = await fetch(new URL(path, opts.url), {
    method: 'POST', headers, body: JSON.stringify(body || {}), signal: AbortSignal.timeout(5000),
  });
  const answer = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new HTTPError(path, resp.status, answer);
  return answer;
}

// Tokens holds the login's access and refresh tokens. stompd rotates the
// refresh token on every use and treats a second use of an old one as
// theft, revoking the whole login: so one refresh runs at a time, and
// whoever asks meanwhile shares its result.
class Tokens {
  async login(email, password) {
    this.set(await post('/auth/login', { email, password }));
    this.fresh = true; // the first connect needs no refresh
  }

  set(answer) {
    this.access = answer.access_token;
    this.refreshToken = answer.refresh_token;
    this.lifetime = answer.expires_in * 1000;
    this.expiresAt = Date.now() + this.lifetime;
  }

  refresh() {
    this.pending ??= post('/auth/refresh', { refresh_token: this.refreshToken })
      .then((answer) => this.set(answer))
      .finally(() => { this.pending = null; });
    return this.pending;
  }

  async ticket() {
    return (await post('/auth/ticket', null, this.access)).ticket;
  }
}

// Gate is open while the subscription of the current connection is in
// place; senders wait for it.
class Gate {
  constructor() { this.close(); }
  close() {
    if (this.isOpen === false) return;
    this.isOpen = false;
    this.opened = new Promise((resolve) => { this.open = () => { this.isOpen = true; resolve(); }; });
  }
}

const tokens = new Tokens();
const subscribed = new Gate();
const run = randomUUID(); // marks this run's messages among others on the topic
const received = new Set(); // sequence numbers of this run read back
let position = null; // {epoch, offset} of the last message read from the topic
let replayUpTo = 0; // offsets up to this one were replayed on resuming
let connects = 0, refreshes = 0, replayed = 0, others = 0, resent = 0, receipts = 0;
let refreshTimer;
let onClosed = () => {}; // settles the SEND waiting for its receipt

const stats = () => ({
  received: received.size, count, connects, reconnects: Math.max(connects - 1, 0),
  refreshes, replayed, others, resent, position,
});

const client = new Client({
  reconnectDelay: 500,
  heartbeatIncoming: 10000,
  heartbeatOutgoing: 10000,
  debug: () => {},
  beforeConnect,
  onConnect,
  onStompError: (frame) => log('stomp-error', { code: frame.headers.code, message: JSON.stringify(frame.headers.message) }),
  onWebSocketClose: (evt) => {
    clearTimeout(refreshTimer);
    subscribed.close();
    onClosed();
    if (client.active) log('disconnected', { code: evt.code });
  },
});

// beforeConnect runs before every connection attempt: a reconnect takes a
// fresh access token, and every attempt a fresh ticket, since tickets are
// single use and short-lived. While stompd cannot be reached it tries again;
// a refused refresh token means the login is over.
async function beforeConnect() {
  for (let attempt = 1; client.active; attempt++) {
    try {
      if (!tokens.fresh) await tokens.refresh();
      tokens.fresh = false;
      const url = new URL(`/ws?ticket=${encodeURIComponent(await tokens.ticket())}`, opts.url);
      url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
      client.webSocketFactory = () => new WebSocket(url, PROTOCOLS);
      client.connectHeaders = { Authorization: `Bearer ${tokens.access}` };
      return;
    } catch (e) {
      if (e instanceof HTTPError && e.status === 401) fatal(`the login is over: ${e.message}`);
      log('retry', { attempt, error: JSON.stringify(e.cause?.code ?? e.message) }); // fetch's own message says only "fetch failed"
      await sleep(Math.min(250 * attempt, 5000));
    }
  }
}

// onConnect subscribes, from the last offset read when there is one, and
// opens the gate once the RECEIPT says the subscription is in place.
function onConnect() {
  connects++;
  log('connected', { connects });
  scheduleRefresh();
  const receipt = `subscribe-${connects}`;
  const headers = { receipt, 'x-stream-offset': position ? `offset=${position.offset}` : 'next' };
  if (position) headers['x-stream-epoch'] = position.epoch;
  client.watchForReceipt(receipt, (frame) => {
    const latest = Number(frame.headers['x-stream-offset']);
    if (position && frame.headers['x-recovered'] !== 'true') {
      fatal(`cannot resume ${opts.topic} after offset ${position.offset}: the history no longer holds it`);
    }
    position ??= { epoch: frame.headers['x-stream-epoch'], offset: latest };
    replayUpTo = latest;
    log('subscribed', { offset: position.offset, latest, recovered: frame.headers['x-recovered'] });
    subscribed.open();
  });
  client.subscribe(opts.topic, onMessage, headers);
}

// onMessage checks that the offsets follow each other, with no gap and no
// duplicate, and counts this run's messages.
function onMessage(m) {
  const offset = Number(m.headers['x-stream-offset']);
  if (m.headers['x-stream-epoch'] !== position.epoch || offset !== position.offset + 1) {
    fatal(`offset ${m.headers['x-stream-epoch']}/${offset} after ${position.epoch}/${position.offset}: a gap or a duplicate`);
  }
  position.offset = offset;
  if (offset <= replayUpTo) replayed++;
  const [from, seq] = m.body.split(' ');
  if (from !== run) {
    others++;
    return;
  }
  received.add(Number(seq));
  log('received', { seq, offset, of: `${received.size}/${count}` });
  if (received.size === count) finish();
}

// scheduleRefresh refreshes the access token when two thirds of its
// lifetime have passed, in band: the live session takes the new token
// from a SEND to /sys/auth/refresh and answers with a RECEIPT. A failed
// refresh is tried again a second later while the token lasts.
function scheduleRefresh(delay = tokens.expiresAt - tokens.lifetime / 3 - Date.now()) {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(async () => {
    try {
      await tokens.refresh();
    } catch (e) {
      if (e instanceof HTTPError && e.status === 401) fatal(`the login is over: ${e.message}`);
      log('refresh-failed', { error: JSON.stringify(e.message) });
      if (client.connected) scheduleRefresh(1000);
      return;
    }
    if (!client.connected) return;
    const receipt = `refresh-${refreshes + 1}`;
    client.watchForReceipt(receipt, () => {
      refreshes++;
      log('refreshed', { expires: new Date(tokens.expiresAt).toISOString() });
      scheduleRefresh();
    });
    client.publish({ destination: '/sys/auth/refresh', headers: { Authorization: `Bearer ${tokens.access}`, receipt } });
  }, Math.max(delay, 0));
}

// send publishes body and resolves once its RECEIPT says stompd took it;
// when the connection drops first, it sends it again on the next one. A
// message whose RECEIPT was lost is thus sent twice: the reader counts it
// once.
async function send(body) {
  for (let attempt = 0; ; attempt++) {
    await subscribed.opened;
    if (attempt > 0) resent++;
    const receipt = `send-${++receipts}`;
    const taken = await new Promise((resolve) => {
      onClosed = () => resolve(false);
      client.watchForReceipt(receipt, () => resolve(true));
      try {
        client.publish({ destination: opts.topic, body, headers: { receipt, 'content-type': 'text/plain' } });
      } catch {
        resolve(false); // the connection closed under us
      }
    });
    if (taken) return;
  }
}

async function finish() {
  clearTimeout(refreshTimer);
  console.log(JSON.stringify({ ok: true, ...stats() }));
  await client.deactivate();
  process.exit(0);
}

setTimeout(() => fatal(`timed out after ${opts.timeout}s`), Number(opts.timeout) * 1000);
try {
  await tokens.login(opts.email, password);
} catch (e) {
  fatal(`login: ${e.message}`);
}
log('logged-in', { expires_in: tokens.lifetime / 1000 });
client.activate();
for (let seq = 1; seq <= count; seq++) {
  await send(`${run} ${seq}`);
  await sleep(interval);
}
