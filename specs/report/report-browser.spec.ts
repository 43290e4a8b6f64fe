// The report as people see it: `connlab demo` writes results.json and a self-contained index.html.
// Opened from disk in headless Chromium, every chart renders with data, every figure on the page
// equals the number in results.json, nothing is fetched from the network and the console stays clean.
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { tempDir } from '../_harness/files.ts';
import { runCli } from '../_harness/cli.ts';
import { launchBrowser, noBrowserReason } from '../_harness/browser.ts';
import { scaled } from '../_harness/time.ts';

/** Reads `a.b.c` out of a JSON document. */
function at(document: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], document);
}

describe.skipIf(noBrowserReason)('report in a browser', () => {
  it('REPORT-001 renders every chart with data and shows the figures of results.json, offline and without console errors', async () => {
    await using temp = await tempDir('connlab-report-');
    const dir = temp.path;
    const demo = await runCli(['demo', '--quick', '--out-dir', dir], { timeout: scaled(90_000) });
    expect(demo.exitCode, demo.stderr).toBe(0);
    const results = JSON.parse(await readFile(path.join(dir, 'results.json'), 'utf8'));

    await using browser = await launchBrowser();
    const page = await browser.context.newPage();
    const consoleErrors: string[] = [];
    const requests: string[] = [];
    page.on('console', (message) => message.type() === 'error' && consoleErrors.push(message.text()));
    page.on('pageerror', (error) => consoleErrors.push(error.message));
    page.on('request', (request) => requests.push(request.url()));
    await page.goto(`file://${path.join(dir, 'index.html')}`);

    const charts = await page.$$eval('svg[data-chart]', (svgs) =>
      svgs.map((svg) => ({
        id: svg.getAttribute('data-chart'),
        points: Number(svg.getAttribute('data-points')),
        marks: svg.querySelectorAll('path[d^="M"], rect.bar').length,
        width: svg.getBoundingClientRect().width,
      })),
    );
    expect(charts.length).toBeGreaterThanOrEqual(3);
    for (const chart of charts) {
      expect(chart.points, `chart ${chart.id} has data`).toBeGreaterThan(0);
      expect(chart.marks, `chart ${chart.id} drew marks`).toBeGreaterThan(0);
      expect(chart.width, `chart ${chart.id} is visible`).toBeGreaterThan(100);
    }

    const figures = await page.$$eval('[data-figure]', (nodes) => nodes.map((node) => [node.getAttribute('data-figure')!, node.textContent!.trim()]));
    expect(figures.length).toBeGreaterThanOrEqual(5);
    for (const [figurePath, shown] of figures) expect(shown, figurePath).toBe(String(at(results, figurePath)));

    expect(consoleErrors).toEqual([]);
    expect(requests.filter((url) => !url.startsWith('file://'))).toEqual([]);
  });
});
