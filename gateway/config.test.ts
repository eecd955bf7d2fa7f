/**
 * The configuration is read once and validated: defaults, overrides, and a bad value stops the
 * start with a message naming the variable.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.ts';

describe('loadConfig', () => {
  it('defaults: npm start runs the writer and the sweeper beside the gateway', () => {
    const config = loadConfig({});
    expect(config.startWriter).toBe(true);
    expect(config.startSweeper).toBe(true);
    expect(config.port).toBe(8080);
    expect(config.testMode).toBe(false);
    expect(config.adminTokenGenerated).toBe(true);
  });

  it('START_WRITER / START_SWEEPER = 0 leave them to other processes', () => {
    expect(loadConfig({ START_WRITER: '0' })).toMatchObject({ startWriter: false, startSweeper: true });
    expect(loadConfig({ START_SWEEPER: 'false', START_WRITER: '1' })).toMatchObject({
      startWriter: true,
      startSweeper: false,
    });
  });

  it("the writer's settings are the same for npm start and npm run writer, from WRITER_*", () => {
    expect(loadConfig({}).writer).toEqual({
      consumer: '',
      insertWith: 'unnest',
      batchSize: 1000,
      lanes: 1,
      claimIdleMs: 30_000,
      claimIntervalMs: 5_000,
      maxAttempts: 3,
      retainMs: 600_000,
    });
    expect(
      loadConfig({
        WRITER_INSERT: 'copy',
        WRITER_BATCH_SIZE: '5000',
        WRITER_LANES: '4',
        WRITER_CONSUMER: 'w1',
      }).writer,
    ).toMatchObject({ insertWith: 'copy', batchSize: 5000, lanes: 4, consumer: 'w1' });
    expect(() => loadConfig({ WRITER_INSERT: 'bulk' })).toThrow(/WRITER_INSERT must be one of unnest, copy/);
    expect(() => loadConfig({ WRITER_LANES: '0' })).toThrow(/lanes/);
  });

  it('refuses a bad value, naming the variable', () => {
    expect(() => loadConfig({ START_WRITER: 'no' })).toThrow(ConfigError);
    expect(() => loadConfig({ START_WRITER: 'no' })).toThrow(/START_WRITER/);
    expect(() => loadConfig({ MAX_IN_FLIGHT: '12.5' })).toThrow(/MAX_IN_FLIGHT/);
    expect(() => loadConfig({ MAX_IN_FLIGHT: '0' })).toThrow(/maxInFlight/);
  });
});
