// Error tallies: failures counted by code with the first few messages kept, as every result document
// and every server's gauges report them. Counting, never throwing, is what lets a run end with a full
// result however many of its connections failed.
import { errorCode } from '../net/errors.ts';
import type { ErrorCounts } from '../net/types.ts';

export type { ErrorCounts };

/** Counts errors by code and keeps the first few messages, for the result JSON. */
export class ErrorTally {
  readonly counts: ErrorCounts = {};
  readonly samples: string[] = [];
  constructor(private readonly keepSamples = 5) {}

  add(error: unknown, context?: string): string {
    const code = errorCode(error);
    this.counts[code] = (this.counts[code] ?? 0) + 1;
    if (this.samples.length < this.keepSamples) {
      const message = error instanceof Error ? error.message : String(error);
      this.samples.push(context ? `${context}: ${message}` : message);
    }
    return code;
  }

  get total(): number {
    return Object.values(this.counts).reduce((sum, n) => sum + n, 0);
  }
}
