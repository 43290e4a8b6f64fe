// Headless Chromium for specs that look at the report as a person would: Debian's /usr/bin/chromium
// driven by playwright-core, started with the flags that keep it off the network and a fresh profile.
// scripts/install-chromium.sh installs it; without it, browser specs are skipped with that reason.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { announceSkip } from './skip.ts';

export const CHROMIUM = '/usr/bin/chromium';
export const noBrowserReason = announceSkip(existsSync(CHROMIUM) ? undefined : `browser specs need ${CHROMIUM}: run scripts/install-chromium.sh`);

export interface Browser {
  context: BrowserContext;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const profile = await mkdtemp(path.join(tmpdir(), 'connlab-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return {
    context,
    [Symbol.asyncDispose]: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
