// The specs are only worth something if they fail on a broken implementation. These run the ack
// family, through the external-target switch, against servers that repeat the prior art's defects,
// and check that exactly the specs about that defect fail.
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { tempDir } from '../_harness/files.ts';
import { createAckPerReadServer, createTextDecodingAckServer } from '../../fixtures/broken-ack-servers.ts';
import { scaled } from '../_harness/time.ts';

interface VitestJson {
  testResults: Array<{ assertionResults: Array<{ title: string; status: string }> }>;
}

/** Runs one spec file against host:port and returns the IDs of the specs that failed and passed. */
async function runAckSpecsAgainst(port: number): Promise<{ failed: string[]; passed: string[] }> {
  await using dir = await tempDir('connlab-meta-');
  const outputFile = dir.file('result.json');
  await execa('npx', ['vitest', 'run', 'specs/tcp/ack-server.spec.ts', '--reporter=json', `--outputFile=${outputFile}`], {
    // Failing reads wait out their deadline: shorten them, this run expects failures.
    env: { CONNLAB_TARGET_ACK: `127.0.0.1:${port}`, CONNLAB_TIME_SCALE: '0.2' },
    reject: false,
    timeout: scaled(60_000),
  });
  const report = JSON.parse(await readFile(outputFile, 'utf8')) as VitestJson;
  const results = report.testResults.flatMap((file) => file.assertionResults);
  const ids = (status: string): string[] => results.filter((r) => r.status === status).map((r) => r.title.split(' ')[0]).sort();
  return { failed: ids('failed'), passed: ids('passed') };
}

describe('the ack specs catch broken implementations', () => {
  it('META-001 fail on a server that acks each read instead of each line (the prior art\'s framing bug)', async () => {
    await using broken = await createAckPerReadServer();
    const { failed } = await runAckSpecsAgainst(broken.port);
    expect(failed).toEqual(expect.arrayContaining(['TCP-ACK-001', 'TCP-ACK-002']));
  });

  it('META-002 fail on a server that decodes bytes as text, and only on the binary spec', async () => {
    await using broken = await createTextDecodingAckServer();
    const { failed, passed } = await runAckSpecsAgainst(broken.port);
    expect(failed).toEqual(['TCP-ACK-004']);
    expect(passed).toEqual(expect.arrayContaining(['TCP-ACK-001', 'TCP-ACK-002', 'TCP-ACK-003', 'TCP-ACK-005']));
  });
});
