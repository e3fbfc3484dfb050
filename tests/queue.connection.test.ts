// Reaching Redis (runners/queue.ts): which --queue URLs are accepted; that BullMQ's own ioredis clients send the
// URL's credentials and database; checkRedis's one-line errors and their time bounds — refused, silent, not
// Redis, wrong password, database out of range; job ids and results folder names. Against scripted servers on
// loopback, so no redis-server is needed (tests/queue.test.ts runs the real one).
import { createServer, type Server, type Socket } from 'node:net';
import { RedisConnection } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { UserInputError } from '../engine/errors.js';
import { checkRedis, checkRedisUrl, checkResultsName, connectionOf, CONNECT_TIMEOUT_MS, jobIdOf } from '../runners/queue.js';
import { freePort } from './queueRedis.js';

/** The complete commands (arrays of bulk strings) at the start of `buf`, and what is left after them. */
function readCommands(buf: string): { commands: string[][]; rest: string } {
  const commands: string[][] = [];
  let at = 0;
  for (;;) {
    const head = /^\*(\d+)\r\n/.exec(buf.slice(at));
    if (!head) break;
    let next = at + head[0].length;
    const parts: string[] = [];
    for (let i = 0; i < Number(head[1]); i++) {
      const len = /^\$(\d+)\r\n/.exec(buf.slice(next));
      if (!len || buf.length < next + len[0].length + Number(len[1]) + 2) return { commands, rest: buf.slice(at) };
      parts.push(buf.slice(next + len[0].length, next + len[0].length + Number(len[1])));
      next += len[0].length + Number(len[1]) + 2;
    }
    commands.push(parts);
    at = next;
  }
  return { commands, rest: buf.slice(at) };
}

interface Scripted {
  url: string;
  /** Every command received, as 'NAME arg ...'. */
  seen: string[];
}

const servers: Server[] = [];
const sockets = new Set<Socket>();
afterEach(async () => {
  for (const s of sockets) s.destroy(); // a silent server's client may still be connected: close() waits for it
  await Promise.all(servers.splice(0).map((s) => new Promise<void>((r) => s.close(() => r()))));
});

/** A server on loopback that answers each command with `reply(command)`: raw bytes, or undefined for silence. */
async function scripted(reply: (command: string[]) => string | undefined, auth = ''): Promise<Scripted> {
  const seen: string[] = [];
  const server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    let buf = '';
    sock.on('data', (d) => {
      const { commands, rest } = readCommands(buf + d.toString('latin1'));
      buf = rest;
      for (const c of commands) {
        c[0] = c[0]!.toUpperCase(); // ioredis sends command names in lower case
        seen.push(c.join(' '));
        const r = reply(c);
        if (r !== undefined) sock.write(Buffer.from(r, 'latin1'));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  servers.push(server);
  return { url: `redis://${auth}127.0.0.1:${(server.address() as { port: number }).port}`, seen };
}

/** What checkRedis throws (it must throw a UserInputError, so the CLI prints one line and exits 2), and how fast. */
async function refusal(url: string, timeoutMs: number): Promise<{ message: string; ms: number }> {
  const t0 = Date.now();
  const err = await checkRedis(url, timeoutMs).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(UserInputError);
  const message = (err as Error).message;
  expect(message.split('\n')).toHaveLength(1);
  return { message, ms: Date.now() - t0 };
}

describe('--queue URLs', () => {
  it('accepts redis:// and rediss:// with a host, and a database number as the path', () => {
    for (const ok of ['redis://127.0.0.1:6390', 'redis://gpu-head', 'redis://:s3cret@h:1/2', 'redis://user:pw@h:1/0', 'redis://[::1]:7000', 'rediss://h:6380']) {
      expect(() => checkRedisUrl(ok), ok).not.toThrow();
    }
  });

  it('refuses anything else with a user error that says what was expected', () => {
    const cases: Array<[string, RegExp]> = [
      ['localhost:6379', /'localhost:6379' is not a Redis URL \(expected redis:\/\/HOST:PORT/],
      ['nonsense', /'nonsense' is not a Redis URL/],
      ['http://h:1', /'http:\/\/h:1' is not a Redis URL/],
      ['redis://h:1/x', /the path must be a database number, got '\/x'/],
      ['redis://', /names no host/],
    ];
    for (const [bad, message] of cases) {
      expect(() => checkRedisUrl(bad), bad).toThrow(UserInputError);
      expect(() => checkRedisUrl(bad), bad).toThrow(message);
    }
  });
});

describe("BullMQ's connections", () => {
  it('are built by BullMQ from the URL (credentials, database) with a 5 s connect timeout', async () => {
    expect(connectionOf('redis://h:1')).toEqual({ url: 'redis://h:1', connectTimeout: CONNECT_TIMEOUT_MS });
    expect(CONNECT_TIMEOUT_MS).toBe(5000);
    // enough of a Redis for BullMQ to finish connecting: INFO names a version, everything else is OK
    const info = 'redis_version:7.2.0\r\nloading:0\r\n';
    const s = await scripted((c) => (c[0] === 'INFO' ? `$${info.length}\r\n${info}\r\n` : '+OK\r\n'), 'u:s3cret@');
    const conn = new RedisConnection(connectionOf(`${s.url}/3`), { blocking: false });
    try {
      const client = await conn.client;
      expect(client.options).toMatchObject({ host: '127.0.0.1', username: 'u', password: 's3cret', db: 3, connectTimeout: CONNECT_TIMEOUT_MS });
      expect(s.seen.slice(0, 2)).toEqual(['AUTH u s3cret', 'SELECT 3']);
      expect(s.seen).toContain('INFO');
    } finally {
      await conn.close();
    }
  });
});

describe('checkRedis: one line, within the timeout', () => {
  it('passes on a server that answers PING, after sending the credentials and database of the URL', async () => {
    const s = await scripted((c) => (c[0] === 'PING' ? '+PONG\r\n' : '+OK\r\n'), 'u:s3cret@');
    await checkRedis(`${s.url}/3`, 1000);
    expect(s.seen).toEqual(['AUTH u s3cret', 'SELECT 3', 'PING']);
  });

  it('nothing listening: ECONNREFUSED at once', async () => {
    const port = await freePort();
    const r = await refusal(`redis://127.0.0.1:${port}`, 2000);
    expect(r.message).toBe(`--queue redis://127.0.0.1:${port}: cannot reach Redis: ECONNREFUSED`);
    expect(r.ms).toBeLessThan(1500);
  });

  it('a server that accepts but never answers: fails after the timeout, not later', async () => {
    const s = await scripted(() => undefined);
    const r = await refusal(s.url, 300);
    expect(r.message).toBe(`--queue ${s.url}: no reply to PING within 300 ms`);
    expect(r.ms).toBeGreaterThanOrEqual(250);
    expect(r.ms).toBeLessThan(2000);
    expect(s.seen).toEqual(['PING']);
  });

  it('something other than Redis on the port', async () => {
    const s = await scripted(() => 'HTTP/1.1 400 Bad Request\r\n\r\n');
    const r = await refusal(s.url, 1000);
    expect(r.message).toMatch(new RegExp(`^--queue ${s.url}: no Redis answers there: Protocol error, got "H"`));
  });

  it('a wrong password: the server\'s reply', async () => {
    const s = await scripted((c) => (c[0] === 'AUTH' ? '-WRONGPASS invalid username-password pair or user is disabled.\r\n' : '+PONG\r\n'), ':bad@');
    const r = await refusal(s.url, 1000);
    expect(r.message).toBe(`--queue ${s.url}: Redis refused the connection: WRONGPASS invalid username-password pair or user is disabled.`);
  });

  it('a database the server does not have (ioredis would carry on in database 0)', async () => {
    const s = await scripted((c) => (c[0] === 'SELECT' ? '-ERR DB index is out of range\r\n' : '+PONG\r\n'));
    const r = await refusal(`${s.url}/99`, 1000);
    expect(r.message).toBe(`--queue ${s.url}/99: Redis refused the connection: ERR DB index is out of range`);
    expect(s.seen).toEqual(['SELECT 99', 'PING']);
  });

  it('a bad URL is refused before any connection', async () => {
    const r = await refusal('localhost:6379', 1000);
    expect(r.message).toMatch(/^--queue: 'localhost:6379' is not a Redis URL/);
  });
});

describe('job ids and results folders', () => {
  it('job ids are run ids, except the rare all-digit hash that BullMQ would refuse', () => {
    expect(jobIdOf('9690b048eaf79157')).toBe('9690b048eaf79157');
    expect(jobIdOf('1234567890123456')).toBe('r1234567890123456');
    expect(jobIdOf('0123456789012345')).toBe('0123456789012345'); // a leading zero does not read back as the same integer
  });

  it('a results folder name from a job is one plain folder name', () => {
    expect(checkResultsName('zoology-fig2')).toBe('zoology-fig2');
    for (const bad of ['../x', 'a/b', '..', '', 7]) expect(() => checkResultsName(bad)).toThrow(UserInputError);
  });
});
