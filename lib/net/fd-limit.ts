// Knowing when a process is at its file-descriptor limit. When accept() hits EMFILE, libuv closes the
// pending connections itself and Node's server never hears of it, so a server that wants to say why
// clients are being dropped has to watch its own descriptor count against its limit.
import { readFileSync, readdirSync } from 'node:fs';

/** The soft limit on open files of this process (RLIMIT_NOFILE), from /proc/self/limits. */
export function fileDescriptorLimit(): number | undefined {
  try {
    const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    return match && match[1] !== 'unlimited' ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** How many descriptors this process has open now. */
export function openFileDescriptors(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return undefined;
  }
}

/**
 * Tells, cheaply on every accept, whether the process has reached its descriptor limit: it counts
 * for real only when the estimate (descriptors at start plus open sockets) nears the limit.
 * check() returns true once per episode, when the limit is first reached.
 */
export class FdLimitWatch {
  private readonly limit = fileDescriptorLimit();
  private readonly baseline = openFileDescriptors() ?? 0;
  private atLimit = false;

  get softLimit(): number | undefined {
    return this.limit;
  }

  check(openSockets: number): boolean {
    if (this.limit === undefined) return false;
    if (this.baseline + openSockets < this.limit * 0.9 - 2) {
      this.atLimit = false;
      return false;
    }
    const open = openFileDescriptors() ?? 0;
    // Leave one for the descriptor the next accept needs.
    const reached = open >= this.limit - 1;
    const firstTime = reached && !this.atLimit;
    this.atLimit = reached || (this.atLimit && open >= this.limit * 0.9);
    return firstTime;
  }
}
