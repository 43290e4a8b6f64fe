// Benchmark of the bounded servers: what the durable journal costs the prime server, and whether wrk
// is happy with the hello server. The prime server runs as `connlab prime-server` in a child process,
// with the journal off and on, alternating rounds in one run; the figure is the ratio of their request
// rates (the target: 0.5 or better, thanks to group commit), with the journal's records per
// sync. Run: npm run bench:pool [-- --requests 20000 --concurrency 100 --rounds 3 --workers 10]
import { execa } from 'execa';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startCliServer } from '../specs/_harness/cli.ts';
import { runPrimeLoad } from '../lib/tcp/prime-client.ts';
import { readJournal } from '../lib/tcp/journal.ts';
import { renderTable } from '../lib/report/table.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '100' },
    rounds: { type: 'string', default: '3' },
    workers: { type: 'string', default: '10' },
    'wrk-duration': { type: 'string', default: '5s' },
  },
});
const requests = Number(values.requests);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
const workers = Number(values.workers);

interface Round {
  journal: boolean;
  perSecond: number;
  answered: number;
  failed: number;
  records?: number;
  batches?: number;
}

async function primeRound(journalFile: string | undefined): Promise<Round> {
  const args = ['prime-server', '--port', '0', '--workers', String(workers), '--queue', String(concurrency * 2)];
  if (journalFile) args.push('--journal', journalFile);
  const server = await startCliServer(args);
  try {
    const message = (i: number): string => `bench ${i} abcabc\n`;
    await runPrimeLoad({ port: server.port, requests: Math.min(2000, requests), concurrency, message }); // warm-up
    const load = await runPrimeLoad({ port: server.port, requests, concurrency, message, timeoutMs: 30_000 });
    await server.stop('SIGTERM');
    const summary = server.stderrLines.find((line) => line.startsWith('[SERVER] {'));
    const stats = summary ? (JSON.parse(summary.slice('[SERVER] '.length)) as { journal?: { records: number; batches: number } }) : {};
    if (journalFile) {
      const reading = await readJournal(journalFile);
      if (reading.corrupt.length > 0 || reading.tornTail) throw new Error(`journal ${journalFile} is damaged`);
    }
    return { journal: Boolean(journalFile), perSecond: load.requestsPerSecond, answered: load.answered, failed: load.failed, records: stats.journal?.records, batches: stats.journal?.batches };
  } finally {
    await server[Symbol.asyncDispose]();
  }
}

async function wrkHello(): Promise<string> {
  await execa('bash', [path.join(here, 'install-tools.sh')], { stdio: 'inherit' });
  const server = await startCliServer(['hello-server', '--port', '0', '--workers', '10', '--queue', '100', '--work', '0ms']);
  try {
    const wrk = await execa('wrk', ['-t2', '-c50', `-d${values['wrk-duration']}`, `http://${server.host}:${server.port}/`], { reject: false });
    return wrk.stdout;
  } finally {
    await server.stop('SIGTERM');
    await server[Symbol.asyncDispose]();
  }
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'connlab-bench-'));
try {
  process.stderr.write(`prime-server --workers ${workers}: ${requests} requests, ${concurrency} in flight, ${rounds} rounds of journal off / on\n`);
  const results: Round[] = [];
  for (let round = 0; round < rounds; round++) {
    results.push(await primeRound(undefined));
    results.push(await primeRound(path.join(dir, `journal-${round}.jsonl`)));
    const [off, on] = results.slice(-2);
    process.stderr.write(`  round ${round + 1}: off ${off.perSecond.toFixed(0)}/s, on ${on.perSecond.toFixed(0)}/s, ratio ${(on.perSecond / off.perSecond).toFixed(2)}\n`);
  }
  const best = (journal: boolean): Round => results.filter((r) => r.journal === journal).sort((a, b) => b.perSecond - a.perSecond)[0];
  const off = best(false);
  const on = best(true);
  process.stdout.write(
    `${renderTable(
      ['journal', 'requests/s (best round)', 'answered', 'failed', 'records per sync'],
      [
        ['off', off.perSecond.toFixed(0), String(off.answered), String(off.failed), '-'],
        ['on (O_DSYNC writes, group commit)', on.perSecond.toFixed(0), String(on.answered), String(on.failed), on.batches ? (on.records! / on.batches).toFixed(1) : '?'],
      ],
    )}\n`,
  );
  // Each round pairs an off run with the on run right after it, so a noisy neighbour hits both alike.
  const ratios = Array.from({ length: rounds }, (_, i) => results[2 * i + 1].perSecond / results[2 * i].perSecond).sort((a, b) => a - b);
  const median = ratios[Math.floor(ratios.length / 2)];
  process.stdout.write(
    `durable journal / no journal: median of paired rounds ${median.toFixed(2)} (rounds: ${ratios.map((r) => r.toFixed(2)).join(', ')}), ` +
      `best / best ${(on.perSecond / off.perSecond).toFixed(2)}; target 0.5 or better\n\n`,
  );
  process.stdout.write(`wrk against hello-server --work 0ms:\n${await wrkHello()}\n`);
} finally {
  await rm(dir, { recursive: true, force: true });
}
