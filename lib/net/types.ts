// Types shared by every part: the disposable handle servers resolve to, and error counts.

/** What every server and balancer factory resolves to once it is listening. */
export interface ServerHandle {
  readonly host: string;
  readonly port: number;
  /** Stops accepting, lets open connections finish for up to `graceMs` (default 0), then ends them. */
  close(graceMs?: number): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Error counts by code, e.g. `{ ECONNREFUSED: 3 }`. */
export type ErrorCounts = Record<string, number>;
