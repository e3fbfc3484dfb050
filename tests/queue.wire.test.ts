// The Redis client under BullMQ (runners/redisWire.ts): RESP2 encoding, replies that arrive in pieces, error
// replies (rejections at top level, elements inside an EXEC reply), nil, binary arguments, and URL parsing.
import { createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { UserInputError } from '../engine/errors.js';
import { encodeCommand, parseRedisUrl, parseReply, RedisReplyError, RespConnection } from '../runners/redisWire.js';
import { jobIdOf, checkResultsName } from '../runners/queue.js';

const b = (s: string) => Buffer.from(s, 'utf8');

describe('RESP2 encoding and parsing', () => {
  it('encodes a command as an array of bulk strings, binary arguments byte for byte', () => {
    expect(encodeCommand('SET', ['k', 42]).toString()).toBe('*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\n42\r\n');
    const bin = Buffer.from([0x93, 0x00, 0xff, 0x0d, 0x0a]);
    const enc = encodeCommand('EVALSHA', [bin]);
    expect(enc.subarray(0, 21).toString('latin1')).toBe('*2\r\n$7\r\nEVALSHA\r\n$5\r\n');
    expect(enc.subarray(21, 26)).toEqual(bin);
    expect(enc.subarray(26).toString()).toBe('\r\n');
    expect(encodeCommand('SET', ['é', '']).toString()).toBe('*3\r\n$3\r\nSET\r\n$2\r\né\r\n$0\r\n\r\n'); // byte length, not characters
  });

  it('parses every reply type, nested, with nil and error elements', () => {
    const text = '*6\r\n+OK\r\n:-12\r\n$5\r\nhé\r\n\r\n$-1\r\n*2\r\n-ERR inner\r\n*-1\r\n*0\r\n';
    const r = parseReply(b(text), 0)!;
    expect(r.next).toBe(b(text).length);
    const v = r.value as unknown[];
    expect(v.slice(0, 4)).toEqual(['OK', -12, 'hé\r\n', null]);
    const inner = v[4] as unknown[];
    expect(inner[0]).toBeInstanceOf(RedisReplyError);
    expect((inner[0] as Error).message).toBe('ERR inner');
    expect(inner[1]).toBeNull();
    expect(v[5]).toEqual([]);
  });

  it('reports an incomplete reply as such at every cut point, never a wrong value', () => {
    const full = b('*3\r\n$3\r\nabc\r\n:7\r\n*1\r\n$0\r\n\r\n');
    for (let cut = 0; cut < full.length; cut++) expect(parseReply(full.subarray(0, cut), 0), `cut at ${cut}`).toBeUndefined();
    expect(parseReply(full, 0)!.value).toEqual(['abc', 7, ['']]);
  });
});

describe('RespConnection against a scripted server', () => {
  it('matches replies to commands in order across split packets, and rejects on an error reply', async () => {
    const seen: string[] = [];
    const server = createServer((sock: Socket) => {
      let buf = '';
      sock.on('data', (d) => {
        buf += d.toString('latin1');
        // answer each complete command; split the answers into single bytes to test reassembly
        while (buf.includes('\r\n')) {
          const m = /^\*(\d+)\r\n/.exec(buf);
          if (!m) return;
          let at = m[0].length;
          const parts: string[] = [];
          for (let i = 0; i < Number(m[1]); i++) {
            const lm = /^\$(\d+)\r\n/.exec(buf.slice(at));
            if (!lm) return;
            const len = Number(lm[1]);
            if (buf.length < at + lm[0].length + len + 2) return;
            parts.push(buf.slice(at + lm[0].length, at + lm[0].length + len));
            at += lm[0].length + len + 2;
          }
          buf = buf.slice(at);
          seen.push(parts.join(' '));
          const reply = parts[0] === 'PING' ? '+PONG\r\n' : parts[0] === 'BAD' ? '-ERR unknown command\r\n' : `$${Buffer.byteLength(parts[1] ?? '')}\r\n${parts[1] ?? ''}\r\n`;
          for (const ch of Buffer.from(reply, 'latin1')) sock.write(Buffer.from([ch]));
        }
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const conn = new RespConnection(`redis://127.0.0.1:${port}`);
    let connected = 0;
    conn.onconnect = () => connected++;
    await conn.connect();
    expect(conn.connected).toBe(true);
    expect(connected).toBe(1);
    const replies = await Promise.allSettled([conn.send('PING'), conn.send('ECHO', ['one']), conn.send('BAD'), conn.send('ECHO', ['two'])]);
    expect(replies.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual(['PONG', 'one', 'ERR unknown command', 'two']);
    expect(seen).toEqual(['PING', 'ECHO one', 'BAD', 'ECHO two']);
    const dup = await conn.duplicate();
    expect(dup.connected).toBe(false);
    expect(dup.url).toBe(conn.url);
    conn.close();
    await expect(conn.send('PING')).rejects.toThrow(/Connection closed/);
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('a refused connection rejects with the address and the code', async () => {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    await new Promise<void>((r) => server.close(() => r()));
    await expect(new RespConnection(`redis://127.0.0.1:${port}`).connect()).rejects.toThrow(new RegExp(`127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
  });
});

describe('queue names and URLs', () => {
  it('parses redis:// URLs and refuses anything else with a user error', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6390')).toEqual({ host: '127.0.0.1', port: 6390 });
    expect(parseRedisUrl('redis://gpu-head')).toEqual({ host: 'gpu-head', port: 6379 });
    expect(parseRedisUrl('redis://:s3cret@h:1/2')).toEqual({ host: 'h', port: 1, password: 's3cret', db: 2 });
    expect(parseRedisUrl('redis://[::1]:7000')).toEqual({ host: '::1', port: 7000 });
    for (const bad of ['localhost:6379', 'http://h:1', 'redis://h:1/x', 'nonsense']) expect(() => parseRedisUrl(bad), bad).toThrow(UserInputError);
  });

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
