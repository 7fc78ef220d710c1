// A chat front end's use of stompd, as web apps write it: @stomp/stompjs over
// sockjs-client or over a plain WebSocket, tokens and tickets fetched
// cross-origin with the refresh token in the HttpOnly cookie. The Go test
// calls configure, login and open, then reads window.events: one entry per
// thing a client saw, {client, type, ...}.
'use strict';

window.events = [];
const clients = {};
let stompd = ''; // stompd's base URL, another origin than this page's

function record(client, type, detail) {
  window.events.push(Object.assign({client, type}, detail));
}

function configure(url) {
  stompd = url;
}

// post calls the auth API with the cookie; a refused answer throws.
async function post(path, body, bearer) {
  const headers = {};
  if (body) headers['Content-Type'] = 'application/json';
  if (bearer) headers.Authorization = 'Bearer ' + bearer;
  const resp = await fetch(stompd + path, {
    method: 'POST', credentials: 'include', headers, body: body && JSON.stringify(body),
  });
  const out = await resp.json();
  if (!resp.ok) throw new Error(path + ': ' + resp.status + ' ' + out.error);
  return out;
}

// expiry is the exp claim of an access token, in seconds.
function expiry(jwt) {
  const payload = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
  return JSON.parse(atob(payload)).exp;
}

// login signs in with the refresh token kept in the HttpOnly cookie only;
// the access token it returns is what a page holds from then on.
async function login(email, password) {
  try {
    const t = await post('/auth/login', {email, password, use_cookie: true});
    record('page', 'login', {exp: expiry(t.access_token)});
    return t.access_token;
  } catch (e) {
    record('page', 'login-failed', {error: String(e)});
    return '';
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Chat is one client. opts: transport ('sockjs' or 'ws'); reconnect (the
// reconnect delay in ms, 0 for none); subscribe (destinations subscribed on
// every connect); refresh (refresh in band before the token expires);
// token and ticket (fixed credentials instead of fresh ones).
class Chat {
  constructor(name, opts) {
    this.name = name;
    this.opts = opts;
    this.token = opts.token || '';
    this.ticket = opts.ticket || '';
    this.refreshes = 0;
    const config = {
      connectHeaders: {},
      reconnectDelay: opts.reconnect,
      beforeConnect: () => this.beforeConnect(),
      onConnect: (frame) => this.onConnect(frame),
      onStompError: (frame) => record(name, 'stomp-error', {headers: frame.headers, body: frame.body}),
      onWebSocketClose: (evt) => this.onClose(evt),
    };
    if (opts.transport === 'sockjs') {
      config.webSocketFactory = () =>
        new SockJS(stompd + '/ws?ticket=' + this.ticket, null, {transports: ['websocket']});
    }
    this.client = new StompJs.Client(config);
  }

  // beforeConnect fetches a fresh token and ticket, the pattern the stompjs
  // docs recommend; while stompd is unreachable it tries again.
  async beforeConnect() {
    while (this.client.active) {
      try {
        await this.credentials();
        break;
      } catch (e) {
        record(this.name, 'fetch-failed', {error: String(e)});
        await sleep(500);
      }
    }
    this.client.connectHeaders = {Authorization: 'Bearer ' + this.token};
    if (this.opts.transport === 'ws') {
      this.client.brokerURL = stompd.replace(/^http/, 'ws') + '/ws?ticket=' + this.ticket;
    }
  }

  async credentials() {
    if (this.opts.ticket) return;
    if (!this.opts.token) this.token = (await post('/auth/refresh')).access_token;
    this.ticket = (await post('/auth/ticket', null, this.token)).ticket;
    record(this.name, 'ticket', {ticket: this.ticket, exp: expiry(this.token)});
  }

  onConnect(frame) {
    record(this.name, 'connected', {headers: frame.headers, exp: expiry(this.token)});
    for (const destination of this.opts.subscribe || []) {
      this.client.subscribe(destination, (m) =>
        record(this.name, 'message', {headers: m.headers, body: m.body}));
    }
    if (this.opts.refresh) this.scheduleRefresh();
  }

  onClose(evt) {
    clearTimeout(this.refreshTimer);
    record(this.name, 'ws-close', {code: evt.code, reason: evt.reason || ''});
  }

  // scheduleRefresh refreshes two seconds before the token expires.
  scheduleRefresh() {
    const due = expiry(this.token) * 1000 - Date.now() - 2000;
    this.refreshTimer = setTimeout(() => this.refresh(), Math.max(due, 200));
  }

  // refresh gets a new token over HTTP and hands it to the live session
  // with a SEND to /sys/auth/refresh, which stompd answers with a RECEIPT.
  async refresh() {
    try {
      this.token = (await post('/auth/refresh')).access_token;
    } catch (e) {
      record(this.name, 'refresh-failed', {error: String(e)});
      return;
    }
    const receipt = this.name + '-refresh-' + ++this.refreshes;
    const exp = expiry(this.token);
    this.client.watchForReceipt(receipt, () => {
      record(this.name, 'refreshed', {exp});
      this.scheduleRefresh();
    });
    this.client.publish({
      destination: '/sys/auth/refresh',
      headers: {Authorization: 'Bearer ' + this.token, receipt},
    });
  }

  publish(destination, body, headers) {
    this.client.publish({
      destination, body,
      headers: Object.assign({Authorization: 'Bearer ' + this.token}, headers),
    });
  }
}

// open starts a client named name; see Chat for opts.
function open(name, opts) {
  clients[name] = new Chat(name, opts);
  clients[name].client.activate();
}

function publish(name, destination, body, headers) {
  clients[name].publish(destination, body, headers || {});
}

// ticketOf is the ticket the client last connected with.
function ticketOf(name) {
  return clients[name].ticket;
}

function tokenOf(name) {
  return clients[name].token;
}

// probe opens a bare WebSocket at path on stompd, to see whether stompd
// upgrades it, and records whether it opened.
function probe(path) {
  const ws = new WebSocket(stompd.replace(/^http/, 'ws') + path);
  ws.onopen = () => {
    record('probe', 'open', {});
    ws.close();
  };
  ws.onclose = (evt) => record('probe', 'ws-close', {code: evt.code});
}

window.ready = true;
