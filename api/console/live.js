// The live feed: one websocket, resumed without gaps. Every message carries a strictly increasing `seq`; after a
// drop the link is reopened with `after=<last seq seen>` and the server sends what was missed from its store.
// Reconnects back off exponentially (1 s, 2 s, 4 s ... 30 s, with jitter); silence for three heartbeat
// intervals counts as a dead link. A resume point older than the server keeps messages for is refused with 4410:
// then the console reloads (as on login) instead of retrying.
const HEARTBEAT_S = 15;
const DEAD_AFTER_MS = 3 * HEARTBEAT_S * 1000 + 5000;
const CLOSE_UNAUTHENTICATED = 4401;
const CLOSE_RESUME_TOO_OLD = 4410;

export class LiveLink {
  /**
   * @param {() => string} token the current bearer token
   * @param {number} afterSeq resume point: messages after this seq are wanted
   * @param {{onMessage: Function, onState: Function, onUnauthorized: Function, onResumeTooOld: Function}} handlers
   */
  constructor(token, afterSeq, handlers) {
    this.token = token;
    this.lastSeq = afterSeq;
    this.handlers = handlers;
    this.attempt = 0;
    this.socket = null;
    this.stopped = false;
    this.retryTimer = null;
    this.watchdog = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearTimeout(this.watchdog);
    if (this.socket) this.socket.close(1000, "bye");
    this.socket = null;
  }

  /** Drop the link now (as a network failure would) and resume: for tests and for the operator's "reconnect". */
  drop() {
    if (this.socket) this.socket.close(4000, "dropped by client");
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const params = new URLSearchParams({ access_token: this.token(), after: String(this.lastSeq) });
    const socket = new WebSocket(`${scheme}://${location.host}/ws?${params}`);
    this.socket = socket;
    this.handlers.onState({ state: "connecting" });
    socket.onopen = () => {
      this.attempt = 0;
      this.handlers.onState({ state: "open" });
      this.feedWatchdog();
    };
    socket.onmessage = (event) => {
      this.feedWatchdog();
      const message = JSON.parse(event.data);
      if (message.type === "heartbeat") {
        this.lastSeq = Math.max(this.lastSeq, message.seq);
        return;
      }
      if (message.seq <= this.lastSeq) return; // already seen (a resume overlaps nothing, but be safe)
      this.lastSeq = message.seq;
      this.handlers.onMessage(message);
    };
    socket.onclose = (event) => {
      clearTimeout(this.watchdog);
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (event.code === CLOSE_UNAUTHENTICATED) {
        this.handlers.onUnauthorized();
        return;
      }
      if (event.code === CLOSE_RESUME_TOO_OLD) {
        this.handlers.onResumeTooOld();
        return;
      }
      this.scheduleRetry();
    };
  }

  feedWatchdog() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.drop(), DEAD_AFTER_MS);
  }

  scheduleRetry() {
    const base = Math.min(30, 2 ** this.attempt);
    const delay = base * (0.75 + Math.random() * 0.5);
    this.attempt += 1;
    this.handlers.onState({ state: "retry", seconds: Math.round(delay) });
    this.retryTimer = setTimeout(() => this.connect(), delay * 1000);
  }
}
