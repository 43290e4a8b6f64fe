// How a run tells the TIME_WAIT sockets it left from those that were there before it: a run right
// after another, from ports it deals itself, takes over the pairs the first one left in TIME_WAIT, so
// the same pairs are there before and after and only their timers say which are new. The kernel's
// table is mocked here, so each socket's timer can be shown as the kernel would at the worst of its
// 10 ms ticks and its jiffies; the real table, with real pairs taken over, is CAP-PORT-004's.
import { describe, expect, it, vi } from 'vitest';
import type { TimedSocketEntry } from '../../lib/net/socket-table.ts';
import { countTimeWait, timeWaitBaseline } from '../../lib/capacity/limits.ts';

const table = vi.hoisted(() => ({ entries: [] as TimedSocketEntry[] }));
vi.mock('../../lib/net/socket-table.ts', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../lib/net/socket-table.ts')>();
  return { ...actual, readSocketTable: () => Promise.resolve(table.entries), readSocketTableTimed: () => table.entries };
});

const TARGET = 5000;
/** The length of one read of the table: the interval in which the kernel wrote a line. */
const READ_MS = 1;

/**
 * Our side of a connection to TARGET in TIME_WAIT, as the kernel shows it when read at `at`: what is
 * left until `expires`, counted from jiffies that trail the clock by `lagMs`, truncated to 10 ms ticks.
 */
function timeWait(expires: number, at: number, lagMs: number): TimedSocketEntry {
  return {
    localAddress: '127.0.0.9', localPort: 40000, remoteAddress: '127.0.0.1', remotePort: TARGET, state: 'TIME_WAIT',
    txQueue: 0, rxQueue: 0, inode: 0,
    timerMs: Math.floor((expires - (at - lagMs)) / 10) * 10,
    readFrom: at - READ_MS / 2, readTo: at + READ_MS / 2,
  };
}

/** The client-side count of a run whose baseline read `first` and whose count read `second`, on the same pair. */
async function count(first: TimedSocketEntry, second: TimedSocketEntry): Promise<number> {
  table.entries = [first];
  const baseline = await timeWaitBaseline(TARGET);
  table.entries = [second];
  return (await countTimeWait(TARGET, baseline)).client;
}

// Where each expiry falls in its 10 ms tick, where the count's read falls in the baseline's ticks,
// and how far the kernel's jiffies trail the clock (0, one jiffy at HZ=250 as here, one at HZ=100).
const offsets = [0, 3, 9.9];
const countReads = [1200, 1202.5, 1205, 1209.9];
const lags = [0, 4, 10];

/** Every case: expiry at the baseline, when the count reads, and the two lags. */
function* cases(maxLag: number): Generator<{ expires: number; at: number; lagBefore: number; lagAfter: number; label: string }> {
  for (const offset of offsets) {
    for (const at of countReads) {
      for (const lagBefore of lags.filter((lag) => lag <= maxLag)) {
        for (const lagAfter of lags.filter((lag) => lag <= maxLag)) {
          yield { expires: 61_000 + offset, at, lagBefore, lagAfter, label: `offset ${offset}, count read at ${at}, lags ${lagBefore}/${lagAfter}` };
        }
      }
    }
  }
}

describe('capacity: TIME_WAIT left by the run', () => {
  it('CAP-TW-003 takes a pair in TIME_WAIT at the baseline whose timer has only run down for the same socket, at every tick offset and jiffy lag (kernel table mocked)', async () => {
    for (const { expires, at, lagBefore, lagAfter, label } of cases(10)) {
      expect(await count(timeWait(expires, 1000, lagBefore), timeWait(expires, at, lagAfter)), label).toBe(0);
    }
  });

  it('CAP-TW-004 counts a pair whose 60 s started over 45 ms or more after the baseline socket\'s as one the run left, at every tick offset and jiffy lag up to HZ=250\'s (kernel table mocked)', async () => {
    for (const { expires, at, lagBefore, lagAfter, label } of cases(4)) {
      expect(await count(timeWait(expires, 1000, lagBefore), timeWait(expires + 45, at, lagAfter)), label).toBe(1);
      // Read long after the baseline: the timer tells, not the time between the reads.
      expect(await count(timeWait(expires, 1000, lagBefore), timeWait(expires + 45, at + 30_000, lagAfter)), label).toBe(1);
    }
  });
});
