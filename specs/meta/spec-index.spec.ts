// The spec index (`connlab specs`) is how people find a behavior and how CI names a failure, so every
// spec must carry a unique ID that the index lists.
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { listSpecs } from '../../lib/check/spec-index.ts';

describe('the spec index', () => {
  it('META-010 lists every spec exactly once, each under a unique ID', async () => {
    const specs = await listSpecs();
    const ids = specs.map((s) => s.id);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    for (const file of new Set(specs.map((s) => s.file))) {
      const text = await readFile(file, 'utf8');
      const calls = text.match(/\b(?:it|test)(?:\.(?:skipIf|runIf)\([^)]*\)|\.(?:skip|only|todo|concurrent))?\(\s*['"`]/g) ?? [];
      expect(specs.filter((s) => s.file === file).length, `${file}: specs the index lists vs it() calls`).toBe(calls.length);
    }
    expect(specs.length).toBeGreaterThan(50);
  });
});
