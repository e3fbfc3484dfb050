// A small Redis client: RESP2 over one TCP socket, with the surface of Bun's built-in RedisClient (`send`,
// `connect`, `close`, `connected`, `onconnect`, `onclose`, `duplicate`). BullMQ 6 ships no Redis client of
// its own; its adapter for Bun's client (`createBunRedisClient`) turns this into everything BullMQ uses
// (Lua scripts with EVALSHA/EVAL fallback, MULTI/EXEC, blocking BZPOPMIN, reconnects with backoff). So the
// worker needs no native or extra npm package, and the GPU-host bundle stays one file.
//
// Protocol (RESP2): a command is an array of bulk strings `*N\r\n$len\r\narg\r\n...`; a reply is one of
// `+simple\r\n`, `-error\r\n`, `:integer\r\n`, `$len\r\nbytes\r\n` ($-1 = nil), `*N\r\n<N replies>` (*-1 = nil).
// Replies come back in the order commands were sent, so one FIFO of pending promises matches them up.
import { connect as netConnect, type Socket } from 'node:net';
import { UserInputError } from '../engine/errors.js';

export interface RedisTarget {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db?: number;
}

/** redis://[user:password@]host[:port][/db] → target; anything else is a one-line user error. */
export function parseRedisUrl(url: string): RedisTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UserInputError(`--queue: '${url}' is not a Redis URL (expected redis://HOST:PORT)`);
  }
  if (u.protocol !== 'redis:') throw new UserInputError(`--queue: '${url}' is not a Redis URL (expected redis://HOST:PORT; rediss:// and others are not supported)`);
  if (!u.hostname) throw new UserInputError(`--queue: '${url}' names no host (expected redis://HOST:PORT)`);
  const port = u.port ? Number(u.port) : 6379;
  const dbText = u.pathname.replace(/^\//, '');
  if (dbText && !/^\d+$/.test(dbText)) throw new UserInputError(`--queue: '${url}': the path must be a database number, got '/${dbText}'`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(dbText ? { db: Number(dbText) } : {}),
  };
}

/** An error reply of the server (`-ERR ...`). Inside an EXEC reply it is an element, not a rejection. */
export class RedisReplyError extends Error {}

/** Message BullMQ's Bun adapter recognises as "the connection is gone" (it then reconnects or, when closing, resolves null). */
const CLOSED = 'Connection closed';

type Reply = string | number | null | RedisReplyError | Reply[];
type Arg = string | number | Buffer;

const CRLF = Buffer.from('\r\n');

export function encodeCommand(command: string, args: readonly Arg[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length + 1}\r\n`)];
  for (const a of [command, ...args]) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return Buffer.concat(parts);
}

/** One complete reply starting at `at`, or undefined when the buffer does not hold all of it yet. */
export function parseReply(buf: Buffer, at: number): { value: Reply; next: number } | undefined {
  if (at >= buf.length) return undefined;
  const eol = buf.indexOf(CRLF, at);
  if (eol < 0) return undefined;
  const type = buf[at];
  const line = buf.toString('utf8', at + 1, eol);
  const after = eol + 2;
  switch (type) {
    case 0x2b: // '+'
      return { value: line, next: after };
    case 0x2d: // '-'
      return { value: new RedisReplyError(line), next: after };
    case 0x3a: // ':'
      return { value: Number(line), next: after };
    case 0x24: { // '$'
      const len = Number(line);
      if (len < 0) return { value: null, next: after };
      if (buf.length < after + len + 2) return undefined;
      return { value: buf.toString('utf8', after, after + len), next: after + len + 2 };
    }
    case 0x2a: { // '*'
      const n = Number(line);
      if (n < 0) return { value: null, next: after };
      const items: Reply[] = [];
      let next = after;
      for (let i = 0; i < n; i++) {
        const item = parseReply(buf, next);
        if (!item) return undefined;
        items.push(item.value);
        next = item.next;
      }
      return { value: items, next };
    }
    default:
      throw new Error(`Redis protocol error: unexpected reply type '${String.fromCharCode(type!)}'`);
  }
}

export interface RespOptions {
  /** Give up connecting after this long (default 5 s). */
  connectTimeoutMs?: number;
}

/** One connection to Redis. Shaped like Bun's RedisClient so BullMQ's `createBunRedisClient` can wrap it. */
export class RespConnection {
  connected = false;
  onconnect?: () => void;
  onclose?: (error?: Error) => void;
  onerror?: (error: Error) => void;
  private socket?: Socket;
  private pending: Array<{ resolve(v: unknown): void; reject(e: Error): void }> = [];
  private buffer: Buffer = Buffer.alloc(0);
  private connecting?: Promise<void>;
  private closedByUs = false;

  constructor(readonly url: string, private readonly opts: RespOptions = {}) {}

  /** Connect (and AUTH / SELECT when the URL asks); resolves once commands can be sent. */
  connect(): Promise<void> {
    if (this.connected) return Promise.resolve();
    if (this.connecting) return this.connecting;
    const target = parseRedisUrl(this.url);
    this.closedByUs = false;
    this.connecting = new Promise<void>((resolve, reject) => {
      const socket = netConnect({ host: target.host, port: target.port });
      this.socket = socket;
      let established = false;
      const timer = setTimeout(() => socket.destroy(new Error(`connect timed out after ${this.opts.connectTimeoutMs ?? 5000} ms`)), this.opts.connectTimeoutMs ?? 5000);
      socket.on('data', (chunk) => this.onData(chunk));
      socket.on('error', (err) => {
        if (established) this.onerror?.(err);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        const wasConnected = this.connected;
        this.connected = false;
        this.socket = undefined;
        this.buffer = Buffer.alloc(0);
        this.failPending(new Error(CLOSED));
        if (!established) {
          this.connecting = undefined;
          reject(new Error(`cannot connect to Redis at ${target.host}:${target.port}`));
          return;
        }
        if (wasConnected && !this.closedByUs) this.onclose?.(new Error(`${CLOSED} by the server`));
      });
      socket.once('error', (err) => {
        if (!established) {
          clearTimeout(timer);
          this.connecting = undefined;
          reject(Object.assign(new Error(`cannot connect to Redis at ${target.host}:${target.port}: ${(err as NodeJS.ErrnoException).code ?? err.message}`), { code: (err as NodeJS.ErrnoException).code }));
        }
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        socket.setKeepAlive(true, 10_000);
        const handshake: Array<Promise<unknown>> = [];
        if (target.password !== undefined) handshake.push(this.write('AUTH', target.username ? [target.username, target.password] : [target.password]));
        if (target.db !== undefined) handshake.push(this.write('SELECT', [target.db]));
        Promise.all(handshake).then(
          () => {
            established = true;
            this.connected = true;
            this.connecting = undefined;
            resolve();
            this.onconnect?.();
          },
          (err: Error) => {
            this.connecting = undefined;
            reject(new Error(`Redis at ${target.host}:${target.port} refused the handshake: ${err.message}`));
            socket.destroy();
          },
        );
      });
    });
    return this.connecting;
  }

  /** Send one command; resolves with its reply, rejects with the server's error reply. */
  send(command: string, args: readonly Arg[] = []): Promise<any> {
    if (!this.connected || !this.socket) return Promise.reject(new Error(CLOSED));
    return this.write(command, args);
  }

  private write(command: string, args: readonly Arg[]): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.pending.push({ resolve, reject });
      this.socket!.write(encodeCommand(command, args));
    });
  }

  close(): void {
    this.closedByUs = true;
    this.connected = false;
    this.socket?.destroy();
    this.failPending(new Error(CLOSED));
  }

  /** A new, unconnected connection to the same server (BullMQ's adapter calls it for blocking and reconnects). */
  async duplicate(): Promise<RespConnection> {
    return new RespConnection(this.url, this.opts);
  }

  private onData(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let at = 0;
    for (;;) {
      let parsed;
      try {
        parsed = parseReply(this.buffer, at);
      } catch (e) {
        this.socket?.destroy(e as Error);
        return;
      }
      if (!parsed) break;
      at = parsed.next;
      const waiter = this.pending.shift();
      if (!waiter) continue; // a reply nobody asked for (cannot happen without pub/sub): drop it
      if (parsed.value instanceof RedisReplyError) waiter.reject(parsed.value);
      else waiter.resolve(parsed.value);
    }
    this.buffer = at >= this.buffer.length ? Buffer.alloc(0) : this.buffer.subarray(at);
  }

  private failPending(err: Error): void {
    const waiting = this.pending;
    this.pending = [];
    for (const w of waiting) w.reject(err);
  }
}

/** Connect, PING, disconnect: a one-line user error when Redis cannot be reached (so the CLI exits 2). */
export async function checkRedis(url: string, timeoutMs = 3000): Promise<void> {
  parseRedisUrl(url);
  const conn = new RespConnection(url, { connectTimeoutMs: timeoutMs });
  try {
    await conn.connect();
    const pong = await Promise.race([
      conn.send('PING'),
      new Promise((_, reject) => setTimeout(() => reject(new Error(`no reply to PING within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    if (pong !== 'PONG') throw new Error(`unexpected reply to PING: ${JSON.stringify(pong)}`);
  } catch (e) {
    throw new UserInputError(`--queue ${url}: ${(e as Error).message.replace(/^cannot connect to Redis at [^:]+:\d+: /, 'cannot reach Redis: ')}`);
  } finally {
    conn.close();
  }
}
