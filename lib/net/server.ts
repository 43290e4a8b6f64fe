// What every server in lib/ is: a listening handle `{ host, port, close(graceMs), [Symbol.asyncDispose] }`.
// close() stops accepting, gives open connections a grace period, then ends what is left, so neither a
// spec nor a command-line run ever leaves a socket behind. A server class says how it stops accepting,
// how many connections are open and how to end them; the order of the steps is written here, once.
import { setTimeout as delay } from 'node:timers/promises';
import type { ServerHandle } from './types.ts';

export abstract class ServerBase implements ServerHandle {
  host = '';
  port = 0;
  private closing: Promise<void> | undefined;

  /** The grace close() gives when called without one (ms). */
  protected defaultGraceMs(): number {
    return 0;
  }

  /** Stops accepting; resolves once the listening socket is closed. */
  protected abstract stopAccepting(): Promise<void>;
  /** Connections open now. */
  protected abstract openCount(): number;
  /** Ends every connection still open. */
  protected abstract cutAll(): void;
  /** Called once when close() begins, after accepting stopped: ask open connections to finish. */
  protected onStop(): void {}
  /** Called after every connection is gone and the listener is closed. */
  protected async onClosed(): Promise<void> {}

  /** Stops accepting, lets open connections finish for up to `graceMs`, then ends them. */
  readonly close = (graceMs = this.defaultGraceMs()): Promise<void> => (this.closing ??= this.shutdown(graceMs));

  /** An own property like close(), so a handle spread into another object keeps it. */
  readonly [Symbol.asyncDispose] = (): Promise<void> => this.close();

  private async shutdown(graceMs: number): Promise<void> {
    const closed = this.stopAccepting();
    this.onStop();
    const deadline = Date.now() + graceMs;
    while (this.openCount() > 0 && Date.now() < deadline) await delay(Math.min(25, deadline - Date.now()));
    this.cutAll();
    await closed;
    await this.onClosed();
  }
}
