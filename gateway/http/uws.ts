/**
 * Loads uWebSockets.js's native binary, and only that. The npm package we depend on
 * (@trufflesuite/uws-js-unofficial under the name uWebSockets.js) silently falls back to a slow
 * pure-JS server when its binary cannot load; a gateway on the fallback would pass every test and
 * collapse at opening time. So we load the binary ourselves and refuse to start without it.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Uws from 'uWebSockets.js';

export type UwsModule = typeof Uws;

export class UwsUnavailable extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'UwsUnavailable';
  }
}

let loaded: UwsModule | undefined;

export function binaryName(): string {
  return `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
}

export function loadNativeUws(): UwsModule {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const packageDir = path.dirname(require.resolve('uWebSockets.js/package.json'));
  const binary = path.join(packageDir, 'binaries', binaryName());
  try {
    loaded = require(binary) as UwsModule;
  } catch (cause) {
    throw new UwsUnavailable(
      `uWebSockets.js native binary ${binaryName()} cannot load on this machine (Node ${process.version}, ` +
        `${process.platform}/${process.arch}); refusing to start on the pure-JS fallback. ` +
        'Use Node.js 20 (ABI 115) on glibc Linux x64/arm64, macOS or Windows.',
      { cause },
    );
  }
  if (typeof loaded.App !== 'function' || typeof loaded.us_listen_socket_close !== 'function') {
    throw new UwsUnavailable(`${binary} is not the uWebSockets.js native module`);
  }
  return loaded;
}
