// lib/ is one layered house: lib/net is the floor, lib/results sits on it, the parts on both, lib/report
// turns documents into text and HTML without knowing any part, and only the command line sees everything.
// These specs check that the house stands, and that the check itself catches a house that does not.
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkLayers } from '../../scripts/check-layers.ts';
import { tempDir } from '../_harness/files.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');

async function writeTree(root: string, files: Record<string, string>): Promise<void> {
  for (const [file, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), text);
  }
}

describe('the layers of lib/', () => {
  it('META-020 lib/ has no folder cycle, no part under lib/report or lib/net, and Node\'s TCP binding only in lib/net/libuv.ts', async () => {
    expect(await checkLayers(ROOT)).toEqual([]);
  });

  it('META-021 the layer check names every kind of break: a floor importing a part, a part in the report, a folder cycle, the binding outside lib/net, lib/ importing specs', async () => {
    await using dir = await tempDir('connlab-layers-');
    await writeTree(dir.path, {
      'lib/net/conn.ts': "import { x } from '../tcp/ack-server.ts';\n",
      'lib/tcp/ack-server.ts': "export const x = 1;\n",
      'lib/report/html.ts': "import type { LoadResult } from '../load/load-client.ts';\n",
      'lib/load/load-client.ts': "import { y } from '../capacity/run.ts';\nexport type LoadResult = number;\n",
      'lib/capacity/run.ts': "import { z } from '../load/load-client.ts';\nexport const y = process.binding('tcp_wrap');\n",
      'lib/balancer/pool.ts': "import { probe } from '../../specs/_harness/balancer.ts';\n",
      'lib/load/ok.ts': "import { PRIOR } from '../tcp/ack-protocol.ts';\n",
    });
    const problems = await checkLayers(dir.path);
    const expected = [
      /^lib\/net\/conn\.ts:1: lib\/net\/ imports lib\/tcp\/ack-server\.ts; lib\/net\/ is the floor/,
      /^lib\/report\/html\.ts:1: lib\/report\/ imports lib\/load\/load-client\.ts; lib\/report\/ may import results, net$/,
      /^lib\/load\/load-client\.ts:1: lib\/load\/ imports lib\/capacity\/run\.ts/,
      /^lib\/capacity\/run\.ts:1: lib\/capacity\/ imports lib\/load\/load-client\.ts/,
      /^lib\/capacity\/run\.ts:2: reaches Node's internal TCP API/,
      /^lib\/balancer\/pool\.ts:1: imports \.\.\/\.\.\/specs\/_harness\/balancer\.ts, outside lib\//,
      /^folder cycle: capacity -> load -> capacity$/,
    ];
    for (const pattern of expected) expect(problems, `a problem matching ${pattern}`).toEqual(expect.arrayContaining([expect.stringMatching(pattern)]));
    // The allowed edge (load speaks the ack protocol) is not a problem; nothing else was reported.
    expect(problems.filter((p) => p.includes('lib/load/ok.ts'))).toEqual([]);
    expect(problems).toHaveLength(expected.length);
  });
});
