// Lock files, so that several sweep processes can share one results folder: a lock per run (held while the run
// trains: no run is trained twice at once) and one for the results files (held for an append + CSV rewrite).
//
// Protocol: the lock file is created whole — its content (owner pid, host, process start time, a random token)
// is written to a private temporary file that is then hard-linked to the lock path; link(2) fails with EEXIST
// when the lock exists, so exactly one process wins and nobody ever sees a half-written lock. A lock whose
// owner is gone (same host, pid not running, or running but started at another time: a reused pid) is stale:
// it is renamed away (one process wins the rename), checked to be the stale one, and deleted. Locks of other
// hosts are never judged stale (a shared folder over NFS: delete them by hand if their host is gone).
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, readdirSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';

export interface LockOwner {
  pid: number;
  host: string;
  /** Start time of the owning process (Linux: clock ticks since boot, /proc/<pid>/stat field 22). */
  startTime?: string;
  token: string;
  acquiredAt: string;
}

const HOST = hostname();

/** Fields 3.. of /proc/<pid>/stat (Linux), or undefined where there is no such file. */
function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) is in parentheses and may contain spaces: split after the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/** Start time of a process, to tell a live owner from a new process that reuses its pid (Linux only). */
export function processStartTime(pid: number): string | undefined {
  return procStat(pid)?.[19];
}

const OWN_START = processStartTime(process.pid);
/** Tokens of the locks this process holds: a lock file naming our pid with another token was left by an earlier
 * process that had our pid (pid reuse), not by us. */
const heldTokens = new Set<string>();

/** Is the process that wrote this lock still running? */
function ownerAlive(owner: LockOwner): boolean {
  if (owner.host !== HOST) return true;
  if (owner.pid === process.pid) return heldTokens.has(owner.token);
  try {
    process.kill(owner.pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    // EPERM: it exists, owned by someone else
  }
  const stat = procStat(owner.pid);
  // a killed process whose parent has not reaped it yet is a zombie: it answers kill(0) but is gone
  if (stat?.[0] === 'Z' || stat?.[0] === 'X') return false;
  if (owner.startTime === undefined || stat === undefined) return true;
  return stat[19] === owner.startTime;
}

function readOwner(path: string): { raw: string; owner?: LockOwner } | undefined {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const owner = JSON.parse(raw) as LockOwner;
    if (typeof owner.pid === 'number' && typeof owner.host === 'string' && typeof owner.token === 'string') return { raw, owner };
  } catch {
    // not a lock we wrote
  }
  return { raw };
}

/** The live owner of a lock, or undefined when it is free or stale. */
export function lockOwner(path: string): LockOwner | undefined {
  const found = readOwner(path);
  return found?.owner && ownerAlive(found.owner) ? found.owner : undefined;
}

export class FileLock {
  constructor(readonly path: string, readonly owner: LockOwner) {}

  /** Remove the lock if it is still ours. */
  release(): void {
    const found = readOwner(this.path);
    heldTokens.delete(this.owner.token);
    if (found?.owner?.token !== this.owner.token) return;
    try {
      unlinkSync(this.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/** Remove a stale lock whose content was `raw`, without ever removing a lock that another process just took. */
function breakStale(path: string, raw: string): void {
  const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // another process broke it first
    throw e;
  }
  let moved = '';
  try {
    moved = readFileSync(aside, 'utf8');
  } catch {
    // gone: nothing to put back
  }
  if (moved !== raw && moved !== '') {
    // between our read and our rename the stale lock was broken and taken afresh: give it back
    try {
      linkSync(aside, path);
    } catch {
      // taken again meanwhile: that holder wins (the results lock still prevents a duplicate record)
    }
  }
  try {
    unlinkSync(aside);
  } catch {
    // already gone
  }
}

/** Take the lock at `path` if it is free (or stale); undefined when a live process holds it. */
export function tryLock(path: string): FileLock | undefined {
  mkdirSync(dirname(path), { recursive: true });
  const owner: LockOwner = { pid: process.pid, host: HOST, ...(OWN_START ? { startTime: OWN_START } : {}), token: randomBytes(8).toString('hex'), acquiredAt: new Date().toISOString() };
  const tmp = `${path}.new-${process.pid}-${owner.token}`;
  writeFileSync(tmp, JSON.stringify(owner));
  try {
    for (let attempt = 0; attempt < 8; attempt++) {
      try {
        linkSync(tmp, path);
        heldTokens.add(owner.token);
        return new FileLock(path, owner);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const found = readOwner(path);
      if (!found) continue; // released meanwhile: try again
      if (found.owner && ownerAlive(found.owner)) return undefined;
      if (!found.owner) return undefined; // not ours to judge (a foreign file): treat as held
      breakStale(path, found.raw);
    }
    return undefined;
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing to clean
    }
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
/** Block this thread for `ms` (the results lock is held for milliseconds; callers stay synchronous). */
function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

/** Run `fn` holding the lock at `path`, waiting for it (up to `timeoutMs`) when another process holds it. */
export function withLock<T>(path: string, fn: () => T, timeoutMs = 120_000): T {
  const started = Date.now();
  let lock = tryLock(path);
  while (!lock) {
    if (Date.now() - started > timeoutMs) {
      const owner = lockOwner(path);
      throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${path}${owner ? ` (held by pid ${owner.pid} on ${owner.host})` : ''}`);
    }
    sleepSync(5 + Math.floor(Math.random() * 20));
    lock = tryLock(path);
  }
  try {
    return fn();
  } finally {
    lock.release();
  }
}

/** Leftovers of dead writers in a folder: temporary files named `*.tmp-<pid>`, `*.new-<pid>-*`, `*.stale-<pid>-*`. */
export function removeDeadTempFiles(dir: string): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = /\.(?:tmp|new|stale)-(\d+)(?:-[0-9a-f]+)?$/.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && !ownerAlive({ pid, host: HOST, token: '', acquiredAt: '' })) {
      try {
        unlinkSync(join(dir, name));
        removed++;
      } catch {
        // raced with another cleaner
      }
    }
  }
  return removed;
}

/** Delete the lock files in `dir` whose owners are gone (leftovers of killed processes); returns how many. */
export function removeStaleLocks(dir: string): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    if (!name.endsWith('.lock')) continue;
    const path = join(dir, name);
    const found = readOwner(path);
    if (found?.owner && !ownerAlive(found.owner)) {
      breakStale(path, found.raw);
      removed++;
    }
  }
  return removed;
}
