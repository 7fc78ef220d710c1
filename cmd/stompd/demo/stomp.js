// stomp.js: a small STOMP 1.2 client over WebSocket, for the stompd demo.
//
// It speaks the protocol of https://stomp.github.io/stomp-specification-1.2.html:
// frames are a command line, header lines, a blank line, a body and a NUL
// byte. Each WebSocket message carries whole frames (stompd sends one frame
// per message); a lone end-of-line is a heart-beat.
//
//   const client = new StompClient("ws://host/ws?ticket=...");
//   await client.connect({ Authorization: "Bearer " + token });
//   client.subscribe("/topic/room.lobby", msg => show(msg.body));
//   await client.send("/topic/room.lobby", "hello", {}, { receipt: true });
//
// Bodies are text (UTF-8). Headers are plain objects; their names and values
// are escaped on the way out and unescaped on the way in, except in CONNECT
// and CONNECTED frames, which the specification leaves unescaped.

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Header value encoding (spec section "Value Encoding").
const ESCAPES = { "\\": "\\\\", "\r": "\\r", "\n": "\\n", ":": "\\c" };
const UNESCAPES = { "\\\\": "\\", "\\r": "\r", "\\n": "\n", "\\c": ":" };

/** StompError is a protocol failure: a malformed frame, an ERROR frame or a lost connection. */
export class StompError extends Error {
  constructor(message, frame = null) {
    super(message);
    this.name = "StompError";
    this.frame = frame; // the ERROR frame, when the server sent one
  }
}

/** escapeHeader escapes backslash, CR, LF and colon in a header name or value. */
export function escapeHeader(s) {
  return String(s).replace(/[\\\r\n:]/g, (c) => ESCAPES[c]);
}

/** unescapeHeader undoes escapeHeader; any other backslash sequence is an error. */
export function unescapeHeader(s) {
  return s.replace(/\\(.|$)/gs, (seq) => {
    const c = UNESCAPES[seq];
    if (c === undefined) throw new StompError(`invalid escape sequence ${JSON.stringify(seq)} in header`);
    return c;
  });
}

function escapes(command) {
  return command !== "CONNECT" && command !== "CONNECTED" && command !== "STOMP";
}

/**
 * encodeFrame returns the text of a frame. A body gets a content-length
 * header (its length in UTF-8 bytes), so it may hold any character.
 */
export function encodeFrame(command, headers = {}, body = "") {
  const esc = escapes(command) ? escapeHeader : String;
  let text = command + "\n";
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || value === null) continue;
    text += esc(name) + ":" + esc(value) + "\n";
  }
  if (body !== "") text += "content-length:" + encoder.encode(body).length + "\n";
  return text + "\n" + body + "\0";
}

// readLine returns the line starting at offset i (without its CR LF or LF)
// and the offset after it.
function readLine(bytes, i) {
  const lf = bytes.indexOf(LF, i);
  if (lf < 0) throw new StompError("incomplete frame: a line has no end");
  const end = lf > i && bytes[lf - 1] === CR ? lf - 1 : lf;
  return [decoder.decode(bytes.subarray(i, end)), lf + 1];
}

// decodeFrame reads the frame starting at offset i, and returns it with the
// offset after its NUL.
function decodeFrame(bytes, i) {
  let [command, next] = readLine(bytes, i);
  const unesc = escapes(command) ? unescapeHeader : (s) => s;
  const headers = Object.create(null); // no prototype: a peer may name a header "__proto__"
  for (;;) {
    let line;
    [line, next] = readLine(bytes, next);
    if (line === "") break;
    const colon = line.indexOf(":");
    if (colon < 0) throw new StompError(`header line without a colon: ${JSON.stringify(line)}`);
    const name = unesc(line.slice(0, colon));
    if (!Object.hasOwn(headers, name)) headers[name] = unesc(line.slice(colon + 1)); // the first one wins
  }
  let end;
  const length = headers["content-length"];
  if (length !== undefined) {
    if (!/^\d+$/.test(length)) throw new StompError(`invalid content-length ${JSON.stringify(length)}`);
    end = next + Number(length);
    if (bytes[end] !== NUL) throw new StompError("the body does not end with NUL where content-length says");
  } else {
    end = bytes.indexOf(NUL, next);
    if (end < 0) throw new StompError("incomplete frame: no NUL after the body");
  }
  const body = decoder.decode(bytes.subarray(next, end));
  return [{ command, headers, body }, end + 1];
}

/**
 * decodeFrames parses the data of one WebSocket message (a string or an
 * ArrayBuffer) into frames, skipping heart-beats. It throws a StompError on
 * malformed input.
 */
export function decodeFrames(data) {
  const bytes = typeof data === "string" ? encoder.encode(data) : new Uint8Array(data);
  const frames = [];
  let i = 0;
  while (i < bytes.length) {
    if (bytes[i] === LF) i += 1;
    else if (bytes[i] === CR && bytes[i + 1] === LF) i += 2;
    else {
      let frame;
      [frame, i] = decodeFrame(bytes, i);
      frames.push(frame);
    }
  }
  return frames;
}

/**
 * negotiateHeartBeat applies the spec's rule: each side sends every
 * max(what it can, what the other wants) ms, and 0 on either side means never.
 * It returns [outgoing, incoming] intervals in milliseconds.
 */
export function negotiateHeartBeat(ours, theirs) {
  const [cx, cy] = ours;
  const [sx, sy] = (theirs || "0,0").split(",").map(Number);
  const outgoing = cx > 0 && sy > 0 ? Math.max(cx, sy) : 0;
  const incoming = cy > 0 && sx > 0 ? Math.max(cy, sx) : 0;
  return [outgoing, incoming];
}

/**
 * StompClient is one STOMP session over one WebSocket. It does not
 * reconnect: the page makes a new client (with a new ticket) when onClose
 * fires.
 *
 * Callbacks (all optional):
 *   onOpen(protocol)           the WebSocket upgrade succeeded with this subprotocol
 *   onFrame(direction, frame)  every frame sent ("out") or received ("in"), heart-beats aside
 *   onClose({ code, reason, error })  the connection ended; error is null after a clean
 *                              close, else a StompError (with .frame if an ERROR frame said why)
 *
 * An ERROR frame ends the session: the server closes the connection after it.
 */
export class StompClient {
  constructor(url, { heartBeat = [10000, 10000], onOpen, onFrame, onClose } = {}) {
    this.url = url;
    this.heartBeat = heartBeat;
    this.onOpen = onOpen || (() => {});
    this.onFrame = onFrame || (() => {});
    this.onClose = onClose || (() => {});
    this.ws = null;
    this.connected = false;
    this.nextId = 1;
    this.subscriptions = new Map(); // id -> callback
    this.receipts = new Map(); // receipt id -> { resolve, reject }
    this.lastError = null;
    this.timers = [];
    this.lastReceived = 0;
  }

  /**
   * connect opens the WebSocket (subprotocol v12.stomp), sends CONNECT with
   * the given extra headers and resolves with the CONNECTED frame. It rejects
   * if the upgrade fails or the server answers ERROR.
   */
  connect(headers = {}) {
    return new Promise((resolve, reject) => {
      this.pendingConnect = { resolve, reject };
      const ws = new WebSocket(this.url, ["v12.stomp"]);
      ws.binaryType = "arraybuffer";
      ws.onopen = () => {
        this.onOpen(ws.protocol);
        this.transmit("CONNECT", {
          "accept-version": "1.2",
          host: location.hostname,
          "heart-beat": this.heartBeat.join(","),
          ...headers,
        });
      };
      ws.onmessage = (ev) => this.receive(ev.data);
      ws.onclose = (ev) => this.closed(ev.code, ev.reason);
      this.ws = ws;
    });
  }

  /**
   * subscribe registers onMessage for the MESSAGE frames of destination. It
   * returns { id, done }: the subscription id, and a promise that resolves
   * when the server confirmed the subscription ({ receipt: true }) or sent it.
   */
  subscribe(destination, onMessage, headers = {}, { receipt = false } = {}) {
    const id = "sub-" + this.nextId++;
    this.subscriptions.set(id, onMessage);
    const done = this.request("SUBSCRIBE", { id, destination, ack: "auto", ...headers }, "", receipt);
    return { id, done };
  }

  /** unsubscribe ends a subscription made by subscribe. */
  unsubscribe(id) {
    this.subscriptions.delete(id);
    return this.request("UNSUBSCRIBE", { id });
  }

  /**
   * send sends body to destination. With { receipt: true } it asks for a
   * RECEIPT and resolves when it arrives (the server has acted on the frame).
   */
  send(destination, body, headers = {}, { receipt = false } = {}) {
    return this.request("SEND", { destination, "content-type": "text/plain;charset=utf-8", ...headers }, body, receipt);
  }

  /** disconnect ends the session politely: DISCONNECT, its RECEIPT, then close. */
  async disconnect() {
    if (!this.open()) return this.ws?.close();
    try {
      await this.request("DISCONNECT", {}, "", true);
    } finally {
      this.ws.close(1000, "bye");
    }
  }

  // request sends a frame; with receipt it resolves on the matching RECEIPT.
  request(command, headers, body = "", receipt = false) {
    if (!this.open()) return Promise.reject(new StompError("not connected"));
    if (!receipt) {
      this.transmit(command, headers, body);
      return Promise.resolve();
    }
    const id = "r-" + this.nextId++;
    return new Promise((resolve, reject) => {
      this.receipts.set(id, { resolve, reject });
      this.transmit(command, { ...headers, receipt: id }, body);
    });
  }

  // open reports whether frames can be sent: CONNECTED, no ERROR since, and
  // the socket not closing (a browser complains about sends on a closing one).
  open() {
    return this.connected && this.ws.readyState === WebSocket.OPEN;
  }

  transmit(command, headers, body = "") {
    this.onFrame("out", { command, headers, body });
    this.ws.send(encodeFrame(command, headers, body));
  }

  receive(data) {
    this.lastReceived = Date.now();
    let frames;
    try {
      frames = decodeFrames(data);
    } catch (err) {
      this.lastError = err;
      this.ws.close(4000, "malformed frame");
      return;
    }
    for (const frame of frames) {
      this.onFrame("in", frame);
      this.dispatch(frame);
    }
  }

  dispatch(frame) {
    const h = frame.headers;
    switch (frame.command) {
      case "CONNECTED":
        this.connected = true;
        this.startHeartBeat(h["heart-beat"]);
        this.pendingConnect.resolve(frame);
        break;
      case "MESSAGE":
        this.subscriptions.get(h.subscription)?.(frame);
        break;
      case "RECEIPT":
        this.receipts.get(h["receipt-id"])?.resolve(frame);
        this.receipts.delete(h["receipt-id"]);
        break;
      case "ERROR":
        this.connected = false; // the server closes the connection next
        this.lastError = new StompError(h.message || "ERROR frame", frame);
        break;
    }
  }

  // startHeartBeat sends an EOL every outgoing interval and closes the
  // socket when nothing arrived for twice the incoming interval.
  startHeartBeat(serverHeartBeat) {
    const [outgoing, incoming] = negotiateHeartBeat(this.heartBeat, serverHeartBeat);
    if (outgoing > 0) this.timers.push(setInterval(() => this.open() && this.ws.send("\n"), outgoing));
    if (incoming > 0) {
      this.timers.push(setInterval(() => {
        if (Date.now() - this.lastReceived > 2 * incoming) {
          this.lastError = new StompError("no heart-beat from the server");
          this.ws.close(4001, "heart-beat timeout");
        }
      }, incoming));
    }
  }

  closed(code, reason) {
    this.timers.forEach(clearInterval);
    this.connected = false;
    const error = this.lastError || new StompError(`connection closed (${code}${reason ? " " + reason : ""})`);
    this.pendingConnect.reject(error);
    for (const { reject } of this.receipts.values()) reject(error);
    this.receipts.clear();
    this.onClose({ code, reason, error: this.lastError });
  }
}
