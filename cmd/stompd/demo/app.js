// app.js: the stompd demo chat. It walks the whole authentication flow and
// shows each step in the "What happens" panel as it runs:
//
//   login (POST /auth/login, refresh token in an HttpOnly cookie)
//   → ticket (POST /auth/ticket with the access token)
//   → WebSocket upgrade (/ws?ticket=…)
//   → CONNECT with Authorization: Bearer, SUBSCRIBE, SEND with Bearer
//   → at 75% of the token's lifetime: POST /auth/refresh (cookie), then
//     SEND /sys/auth/refresh with the new token and a receipt, on the live
//     connection
//   → on a lost connection: reconnect with backoff, a fresh token and ticket,
//     and resubscribe to the room from the last message seen
//     (x-stream-offset and x-stream-epoch), so that nothing sent meanwhile
//     is missed; the RECEIPT says whether the server still had it all
//     (x-recovered).
//
// Who is in the room comes from the server: the page subscribes to the
// room's presence (/presence/topic/room.<name>), which sends the members
// first, then every join and leave.
//
// Tokens are never shown whole: a prefix and the claims.

import { StompClient } from "./stomp.js";

const $ = (id) => document.getElementById(id);

const REFRESH_AT = 0.75; // of the access token's lifetime
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000];
const ROOM_NAME = /^[A-Za-z0-9_-]{1,40}$/;

// session is everything the page knows about the logged-in user.
const session = {
  email: "",
  token: "", // the current access token
  claims: null, // its decoded payload
  room: "lobby",
  client: null, // the live StompClient, if any
  roomSub: null, // subscription id of the room
  presenceSub: null, // subscription id of the room's presence
  positions: new Map(), // room -> { epoch, offset }: the last message seen there
  people: new Map(), // user id -> name, from the room's presence
  refreshTimer: 0,
  reconnectTimer: 0,
  attempt: 0,
  leaving: false, // set while logging out: no reconnect
};

// ---- The flow log -------------------------------------------------------

const clock = (d = new Date()) => d.toTimeString().slice(0, 8);

/**
 * step appends one entry to the flow log: kind names the step for styling
 * and tests. A detail (headers, claims) unfolds from the entry's line, and
 * starts unfolded when open is set.
 */
function step(kind, what, detail, { open = false } = {}) {
  const line = document.createElement(detail ? "summary" : "div");
  line.className = "line";
  const time = document.createElement("time");
  time.textContent = clock();
  const tag = document.createElement("span");
  tag.className = "tag";
  tag.textContent = kind;
  const text = document.createElement("span");
  text.className = "what";
  text.textContent = what;
  line.append(time, tag, text);

  const li = document.createElement("li");
  li.dataset.step = kind;
  if (detail) {
    const details = document.createElement("details");
    details.open = open;
    const pre = document.createElement("pre");
    pre.textContent = detail;
    details.append(line, pre);
    li.append(details);
  } else {
    li.append(line);
  }
  const log = $("log");
  log.append(li);
  while (log.children.length > 300) log.firstElementChild.remove();
  log.scrollTop = log.scrollHeight;
}

// prefix shows the start of a secret, never the whole of it.
const prefix = (secret, n = 12) => secret.slice(0, n) + "…";

// redact replaces a bearer token in a header value by its prefix.
const redact = (value) => (value.startsWith("Bearer ") ? "Bearer " + prefix(value.slice(7)) : value);

function logFrame(direction, frame) {
  if (frame.command === "MESSAGE") return; // the chat shows those
  const arrow = direction === "out" ? "→ " : "← ";
  const headers = Object.entries(frame.headers)
    .map(([k, v]) => `${k}:${redact(v)}`)
    .join("\n");
  step(frame.command.toLowerCase(), arrow + frame.command + frameSummary(frame.headers), headers);
}

function frameSummary(h) {
  if (h.destination) return " " + h.destination;
  if (h["receipt-id"]) return " " + h["receipt-id"];
  if (h.message) return " " + h.message;
  if (h.id) return " " + h.id;
  return "";
}

// ---- Tokens -------------------------------------------------------------

/** claimsOf decodes a JWT's payload. It does not verify it: the server does. */
function claimsOf(jwt) {
  const b64 = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

function describeClaims(c) {
  const shown = { ...c };
  for (const k of ["jti", "sid"]) if (c[k]) shown[k] = prefix(c[k], 8);
  shown.exp = `${c.exp} (${clock(new Date(c.exp * 1000))})`;
  shown.iat = `${c.iat} (${clock(new Date(c.iat * 1000))})`;
  return JSON.stringify(shown, null, 1);
}

/** useToken takes a new access token and schedules its refresh from its exp. */
function useToken(token, how) {
  session.token = token;
  session.claims = claimsOf(token);
  const lifetime = session.claims.exp - session.claims.iat;
  const delay = lifetime * REFRESH_AT * 1000;
  step("token", `${how}: access token ${prefix(token)}, lifetime ${lifetime} s; refresh in ${Math.round(delay / 1000)} s`,
    describeClaims(session.claims), { open: true });
  clearTimeout(session.refreshTimer);
  session.refreshTimer = setTimeout(refreshInBand, delay);
  $("me-id").textContent = session.claims.sub;
  $("token-prefix").textContent = prefix(token);
  showExpiry();
}

function showExpiry() {
  if (!session.claims) return;
  const left = Math.round(session.claims.exp - Date.now() / 1000);
  $("token-exp").textContent = `${clock(new Date(session.claims.exp * 1000))} (${left > 0 ? "in " + left + " s" : "expired"})`;
}

// ---- HTTP API -----------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.status = status;
    this.code = body.error;
  }
}

/** api POSTs JSON to the auth API; the browser adds the refresh cookie on /auth paths. */
async function api(path, { body, token } = {}) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = "Bearer " + token;
  const res = await fetch(path, {
    method: "POST",
    headers,
    body: body ? JSON.stringify(body) : undefined,
    credentials: "same-origin",
  });
  const json = res.status === 204 ? {} : await res.json();
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

// The refresh cookie is rotated on every use, and presenting a rotated one
// revokes the whole login. So refreshes never overlap: within this tab
// (one promise) and across tabs of this browser (a Web Lock, where the
// browser has them).
let refreshing = null;
const withLock = (f) => (navigator.locks ? navigator.locks.request("stompd-refresh", f) : f());

function refreshTokens() {
  refreshing ??= withLock(async () => {
    step("refresh", "POST /auth/refresh (the browser sends the stompd_refresh cookie)");
    const res = await api("/auth/refresh");
    if (claimsOf(res.access_token).sub !== session.claims.sub) {
      throw new ApiError(409, { message: "this browser's refresh cookie now belongs to another login: use a private window for the second user" });
    }
    useToken(res.access_token, "200, cookie rotated");
  }).finally(() => (refreshing = null));
  return refreshing;
}

// ---- Connection ---------------------------------------------------------

function setStatus(state, text = state) {
  const el = $("status");
  el.dataset.state = state;
  el.textContent = text;
  $("send").disabled = state !== "connected";
}

/** connect runs ticket → upgrade → CONNECT → SUBSCRIBE on a new WebSocket. */
async function connect() {
  setStatus("connecting", "connecting…");
  step("ticket", `POST /auth/ticket, Authorization: Bearer ${prefix(session.token)}`);
  const { ticket, expires_in } = await api("/auth/ticket", { token: session.token });
  step("ticket", `200: ticket ${prefix(ticket, 6)}, single use, expires in ${expires_in} s`);

  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const url = `${scheme}//${location.host}/ws?ticket=${encodeURIComponent(ticket)}`;
  step("upgrade", `GET /ws?ticket=${prefix(ticket, 6)}, Sec-WebSocket-Protocol: v12.stomp`);
  const client = new StompClient(url, {
    onOpen: (protocol) => step("upgrade", `101 Switching Protocols, subprotocol ${protocol}`),
    onFrame: logFrame,
    onClose: (info) => closed(client, info),
  });
  session.client = client;
  await client.connect({ Authorization: "Bearer " + session.token });
  await client.subscribe("/user/queue/dm", directMessage, {}, { receipt: true }).done;
  await joinRoom(session.room);
  session.attempt = 0;
  setStatus("connected");
}

function closed(client, { error }) {
  if (client !== session.client) return;
  session.client = null;
  session.roomSub = null;
  session.presenceSub = null;
  setStatus("offline");
  step("closed", "connection closed" + (error ? ": " + error.message : ""));
  if (!session.leaving) reconnectLater();
}

// reconnectLater retries with exponential backoff and jitter; the room and
// the text being typed stay as they are.
function reconnectLater() {
  if (session.reconnectTimer) return;
  const base = BACKOFF_MS[Math.min(session.attempt, BACKOFF_MS.length - 1)];
  const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
  session.attempt++;
  setStatus("reconnecting", `reconnecting in ${(delay / 1000).toFixed(1)} s`);
  step("reconnect", `attempt ${session.attempt} in ${(delay / 1000).toFixed(1)} s, with a fresh token and ticket`);
  session.reconnectTimer = setTimeout(reconnect, delay);
}

async function reconnect() {
  session.reconnectTimer = 0;
  try {
    await refreshTokens();
    await connect();
    system(`reconnected to #${session.room}`);
  } catch (err) {
    connectFailed(err);
  }
}

function connectFailed(err) {
  if (err instanceof ApiError && err.status !== 429 && err.status < 500) {
    signedOut(err.message);
    return;
  }
  step("error", "failed: " + err.message);
  session.client?.ws?.close();
  session.client = null;
  reconnectLater();
}

// ---- In-band refresh ----------------------------------------------------

/** refreshInBand gets a new access token over HTTP and hands it to the live session. */
async function refreshInBand() {
  const client = session.client;
  if (!client?.open()) {
    // Connecting or reconnecting: a reconnect brings its own token, and
    // useToken then replaces this timer.
    session.refreshTimer = setTimeout(refreshInBand, 2000);
    return;
  }
  try {
    await refreshTokens();
  } catch (err) {
    if (err instanceof ApiError && err.status < 500) return signedOut(err.message);
    step("refresh", `failed: ${err.message}; retrying in 2 s`);
    session.refreshTimer = setTimeout(refreshInBand, 2000);
    return;
  }
  try {
    await client.send("/sys/auth/refresh", "", { Authorization: "Bearer " + session.token }, { receipt: true });
    step("refreshed", `the same connection now lasts until ${clock(new Date(session.claims.exp * 1000))}: no reconnect`);
  } catch {
    // The connection dropped meanwhile; closed() reconnects.
  }
}

// ---- Rooms, history and presence -----------------------------------------
//
// A room is the topic /topic/room.<name>. Every message from it carries its
// place in the room's history: x-stream-offset (1, 2, 3, ...) and
// x-stream-epoch (which changes when the server lost that history). The
// page remembers the last one it showed, per room, and subscribes from
// there: after a reconnect it gets exactly what it missed, and entering a
// room for the first time shows what the room kept (x-stream-offset:first).
//
// Chat messages carry their sender's email and id in x-sender headers; the
// broker authenticates every frame, but these headers are what the sending
// page says: the demo shows them as such. Who is in the room is the
// server's word: its presence destination.

const roomDestination = (room) => "/topic/room." + room;
const presenceDestination = (room) => "/presence/topic/room." + room;

function senderHeaders() {
  return {
    Authorization: "Bearer " + session.token,
    "x-sender": session.email,
    "x-sender-id": session.claims.sub,
  };
}

/** joinRoom subscribes to a room (leaving the previous one) and to its presence. */
async function joinRoom(room) {
  const client = session.client;
  if (session.roomSub && session.room !== room) {
    await client.unsubscribe(session.presenceSub);
    await client.unsubscribe(session.roomSub);
    system(`left #${session.room}`);
  }
  session.room = room;
  session.people.clear();
  renderPeople();
  const from = session.positions.get(room);
  const sub = client.subscribe(roomDestination(room), (frame) => roomMessage(room, frame), resumeHeaders(from), { receipt: true });
  session.roomSub = sub.id;
  const receipt = await sub.done;
  resumed(room, from, receipt.headers);
  const presence = client.subscribe(presenceDestination(room), presenceMessage, {}, { receipt: true });
  session.presenceSub = presence.id;
  await presence.done;
  system(`joined #${room}`);
}

/** resumeHeaders asks for everything after the last message seen, or all the room kept. */
function resumeHeaders(from) {
  if (!from) return { "x-stream-offset": "first" };
  return { "x-stream-offset": `offset=${from.offset}`, "x-stream-epoch": from.epoch };
}

/**
 * resumed reads the SUBSCRIBE's RECEIPT, which comes before any message of
 * the subscription: whether the server had everything asked for, and the
 * room's latest offset.
 */
function resumed(room, from, h) {
  const latest = Number(h["x-stream-offset"] || 0);
  const epoch = h["x-stream-epoch"] ?? "";
  if (h["x-stream-epoch"] === undefined) {
    step("history", "the server keeps no history (--history-size 0): what is sent while away is missed");
    return;
  }
  const seen = session.positions.get(room);
  if (h["x-recovered"] !== "true") {
    // Nothing is replayed: carry on from the room's latest message, unless
    // messages after it (which arrived with the RECEIPT) were shown already.
    if (!seen || seen.epoch !== epoch || seen.offset < latest) session.positions.set(room, { epoch, offset: latest });
    step("history", `history lost: #${room} no longer holds what was sent after offset ${from ? from.offset : 0}`);
    system("history lost: messages sent while you were away may be missing");
    return;
  }
  if (!seen) session.positions.set(room, { epoch, offset: 0 });
  const missed = from ? latest - from.offset : latest;
  if (from) {
    step("history", `recovered ${missed} messages of #${room} (offsets ${from.offset + 1} to ${latest}, epoch ${epoch})`);
    if (missed > 0) system(`recovered ${missed} messages`);
  } else if (missed > 0) {
    step("history", `#${room} kept ${missed} messages: shown first`);
  }
}

function roomMessage(room, frame) {
  const h = frame.headers;
  if (h["x-stream-offset"]) {
    session.positions.set(room, { epoch: h["x-stream-epoch"], offset: Number(h["x-stream-offset"]) });
  }
  const self = h["x-sender-id"] === session.claims.sub;
  message(self ? "mine" : "room", h["x-sender"] || "(unknown)", frame.body);
}

/** presenceMessage applies the room's members, then each join and leave. */
function presenceMessage(frame) {
  const p = JSON.parse(frame.body);
  const me = session.claims.sub;
  if (p.members) {
    session.people = new Map(p.members.filter((m) => m.sub !== me).map((m) => [m.sub, m.name]));
  } else if (p.sub !== me && p.event === "join") {
    session.people.set(p.sub, p.name);
    system(`${p.name} is here`);
  } else if (p.sub !== me && p.event === "leave") {
    session.people.delete(p.sub);
    system(`${p.name} left`);
  }
  renderPeople();
}

function directMessage(frame) {
  message("dm-in", frame.headers["x-sender"] || "(unknown)", frame.body, "direct, to you");
}

function renderPeople() {
  const ul = $("people");
  ul.replaceChildren();
  const target = $("target");
  const chosen = target.value;
  target.replaceChildren(new Option(`#${session.room} (everyone)`, ""));
  for (const [id, name] of session.people) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.className = "person";
    b.textContent = name;
    b.title = `user id ${id}: click to send a direct message`;
    b.onclick = () => {
      target.value = id;
      $("text").focus();
    };
    li.append(b);
    ul.append(li);
    target.append(new Option(`${name} (direct)`, id));
  }
  if (!session.people.size) {
    const li = document.createElement("li");
    li.className = "nobody";
    li.textContent = "nobody else yet";
    ul.append(li);
  }
  target.value = session.people.has(chosen) ? chosen : "";
}

/** message shows a chat line; kind is room, mine, dm-in or dm-out. */
function message(kind, sender, text, note) {
  const li = document.createElement("li");
  li.className = "msg";
  li.dataset.kind = kind;
  li.dataset.sender = sender;
  const meta = document.createElement("div");
  meta.className = "meta";
  const from = document.createElement("span");
  from.className = "from";
  from.textContent = sender;
  from.title = "as the sender's page states it (x-sender header)";
  const time = document.createElement("time");
  time.textContent = clock();
  meta.append(from, time);
  if (note) {
    const n = document.createElement("span");
    n.className = "note";
    n.textContent = note;
    meta.append(n);
  }
  const body = document.createElement("p");
  body.className = "text";
  body.textContent = text;
  li.append(meta, body);
  appendToChat(li);
}

function system(text) {
  const li = document.createElement("li");
  li.className = "system";
  li.textContent = text;
  appendToChat(li);
}

function appendToChat(li) {
  const ol = $("messages");
  ol.append(li);
  while (ol.children.length > 500) ol.firstElementChild.remove();
  ol.scrollTop = ol.scrollHeight;
}

async function sendTyped(ev) {
  ev.preventDefault();
  const input = $("text");
  const text = input.value.trim();
  const client = session.client;
  if (!text || !client?.open()) return;
  const to = $("target").value;
  const destination = to ? `/user/${to}/queue/dm` : roomDestination(session.room);
  try {
    await client.send(destination, text, senderHeaders(), { receipt: true });
  } catch (err) {
    step("error", `not sent (${err.message}); the text stays in the box`);
    return;
  }
  if (to) message("dm-out", session.email, text, `direct, to ${session.people.get(to) || to}`);
  if (input.value.trim() === text) input.value = "";
}

// ---- Login and logout ---------------------------------------------------

async function logIn(ev) {
  ev.preventDefault();
  const email = $("email").value.trim();
  const error = $("login-error");
  error.hidden = true;
  $("login-button").disabled = true;
  step("login", `POST /auth/login {"email":"${email}","password":"…","use_cookie":true}`);
  try {
    const res = await api("/auth/login", { body: { email, password: $("password").value, use_cookie: true } });
    session.email = email;
    session.leaving = false;
    $("password").value = "";
    useToken(res.access_token, "200, refresh token set as HttpOnly cookie");
    showChat(true);
    await connect();
  } catch (err) {
    if (session.claims) connectFailed(err);
    else {
      step("error", `login failed: ${err.message}`);
      error.textContent = err.message;
      error.hidden = false;
    }
  } finally {
    $("login-button").disabled = false;
  }
}

async function logOut() {
  session.leaving = true;
  const client = session.client;
  try {
    if (client?.open()) await client.disconnect();
    step("logout", "POST /auth/logout: the login is revoked and the refresh cookie deleted");
    await api("/auth/logout", { token: session.token });
  } catch (err) {
    step("error", "logout: " + err.message);
  }
  signedOut("logged out");
}

/** signedOut ends the session on this page and shows the login form. */
function signedOut(reason) {
  session.leaving = true;
  clearTimeout(session.refreshTimer);
  clearTimeout(session.reconnectTimer);
  session.reconnectTimer = 0;
  session.client?.ws?.close();
  session.client = null;
  session.token = "";
  session.claims = null;
  step("logout", reason);
  setStatus("offline");
  showChat(false);
  if (reason !== "logged out") {
    $("login-error").textContent = reason;
    $("login-error").hidden = false;
  }
}

function showChat(on) {
  $("login-view").hidden = on;
  $("chat-view").hidden = !on;
  $("session").hidden = !on;
  $("whoami").hidden = !on;
  $("me-email").textContent = on ? session.email : "";
  if (on) $("text").focus();
}

// ---- Wiring -------------------------------------------------------------

$("login-form").addEventListener("submit", logIn);
$("logout").addEventListener("click", logOut);
$("composer").addEventListener("submit", sendTyped);
for (const b of document.querySelectorAll("[data-email]")) {
  b.addEventListener("click", () => {
    $("email").value = b.dataset.email;
    $("password").focus();
  });
}
$("room-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const room = $("room").value.trim();
  if (!ROOM_NAME.test(room) || room === session.room) return;
  if (!session.client?.open()) {
    session.room = room; // joined on the next connect
    return;
  }
  try {
    await joinRoom(room);
  } catch (err) {
    step("error", `join #${room}: ${err.message}`);
  }
});
setInterval(showExpiry, 1000);
renderPeople();
step("page", "loaded: log in to start (nothing is stored in this page; the refresh token is a cookie)");
