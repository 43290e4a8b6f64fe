// A worker process of a capacity run (see workers.ts): opens its share, streams its gauges to the
// parent over IPC, and sends its result. Started by the parent only, never from the command line.
import { CapacityRun } from './capacity-run.ts';
import type { CapacityEvent, CapacityOptions } from './options.ts';
import type { ParentMessage, WorkerMessage } from './workers.ts';

const send = (message: WorkerMessage): void => {
  if (process.connected) process.send!(message);
};

/** Sends `message` and resolves once it was handed to the IPC channel, so a disconnect cannot lose it. */
const deliver = (message: WorkerMessage): Promise<void> =>
  new Promise((resolve) => {
    if (!process.connected) return resolve();
    process.send!(message, undefined, {}, () => resolve());
  });

let run: CapacityRun | undefined;
let started = false;

process.on('message', (message: ParentMessage) => {
  if (message.type === 'start') void start(message.options, message.verbose);
  else if (message.type === 'go' && run && !started) {
    started = true;
    void go(run);
  } else if (message.type === 'stop') run?.stop(message.reason);
  else if (message.type === 'stop-ramp') run?.stopRamp(message.reason);
});
// The parent going away ends the run: nothing must be left holding connections.
process.on('disconnect', () => {
  run?.stop('signal');
  setTimeout(() => process.exit(1), 2000).unref();
});
// Signals reach the whole process group; the parent decides, through IPC, how the run ends.
process.on('SIGINT', () => {});
process.on('SIGTERM', () => {});

async function start(options: CapacityOptions, verbose: boolean): Promise<void> {
  try {
    const rampEvents = (event: CapacityEvent): void => {
      if (verbose || event.type === 'ramp-stopped') send({ type: 'event', event });
    };
    run = new CapacityRun({ ...options, onEvent: rampEvents }, { census: false });
    await run.prepare();
    send({ type: 'ready' });
  } catch (error) {
    await deliver({ type: 'error', message: (error as Error).message });
    process.exit(1);
  }
}

async function go(current: CapacityRun): Promise<void> {
  const timer = setInterval(() => send({ type: 'progress', progress: current.progress() }), 200);
  try {
    const result = await current.run();
    clearInterval(timer);
    send({ type: 'progress', progress: current.progress() });
    await deliver({ type: 'result', result });
  } catch (error) {
    await deliver({ type: 'error', message: (error as Error).message });
  } finally {
    clearInterval(timer);
    process.disconnect?.();
  }
}
