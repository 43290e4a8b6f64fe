// The capacity result as people read it on a terminal: counts, connect-time percentiles, errors with
// the OS limit each one hit and how to raise it, TIME_WAIT left behind.
import { formatSize } from '../net/units.ts';
import { renderPairs, renderTable, type Cell } from '../report/table.ts';
import type { CapacityProgress, CapacityResult } from './result.ts';

/** One line of live stats. */
export function renderCapacityProgress(p: CapacityProgress): string {
  return (
    `total ${p.planned} | dialing ${p.dialing} | established ${p.open} open (${p.established} in all) | ` +
    `closed by server ${p.closedByServer} | errors ${p.errors} | not started ${p.notStarted}`
  );
}

export function renderCapacityResult(result: CapacityResult): string {
  const c = result.connections;
  const pairs: Array<[string, Cell]> = [
    ['target', result.target],
    ['connections', `${c.established}/${c.attempted} established, ${c.failed} failed, ${c.closedByServer} closed by the server, ${c.notStarted} not started`],
    ['held', `${c.held} of ${c.planned}`],
    ['max concurrent', c.maxConcurrent],
  ];
  if (result.ramp) pairs.push(['ramp ceiling', `${result.ramp.ceiling} (stopped: ${result.ramp.reason})`]);
  pairs.push(
    ['opening', `${result.opening.established} in ${result.opening.ms} ms (${result.opening.perSecond}/s)`],
    ['memory', `${formatSize(result.memory.rssBytes)} resident, ${formatSize(result.memory.perConnectionBytes)} per held connection`],
    ['processes', `${result.processes}${result.sourceAddresses ? `, ${result.sourceAddresses} source addresses` : ''}`],
    ['TIME_WAIT', `${result.timeWait} left (${result.timeWaitSides.client} on the client side, ${result.timeWaitSides.server} on the server side)`],
  );
  if (result.stoppedBy) pairs.push(['stopped by', result.stoppedBy]);
  pairs.push(['verdict', result.ok ? 'ok' : 'FAILED']);
  const l = result.connectLatency;
  const parts = [renderPairs(pairs), '', renderTable(['connect (ms)', 'count', 'p50', 'p90', 'p99', 'p99.9', 'max'], [['', l.count, l.p50, l.p90, l.p99, l.p999, l.max]])];
  const errors = Object.entries(result.errors);
  if (errors.length > 0) parts.push('', renderTable(['error', 'count'], errors), ...result.errorSamples.map((s) => `  e.g. ${s}`));
  for (const hit of result.limits.hit) parts.push('', `limit hit (${hit.code} ×${hit.count}): ${hit.hint}`);
  return parts.join('\n');
}
