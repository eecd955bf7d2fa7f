/**
 * Headless Chromium for the browser tests: the Debian package `chromium` (or CHROMIUM_PATH),
 * driven by playwright-core; and the folder the tests save their pictures in.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const HAS_CHROMIUM = existsSync(CHROMIUM);
/** Why a browser test cannot run, and what to do about it. */
export const NO_CHROMIUM =
  `no headless Chromium at ${CHROMIUM}: the browser tests need the Debian package "chromium" ` +
  '(apt-get update && apt-get install -y chromium), or set CHROMIUM_PATH';
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

/** Chromium without a sandbox, a GPU or any traffic of its own (updates, sync, QUIC). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--headless',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
  });
}
