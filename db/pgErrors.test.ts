/**
 * The writer's failure classification (issue 16 item 9): only bad data (SQLSTATE classes 22, 23, a
 * programming error on one event) may be dead-lettered; every kind of outage is waited out; the
 * outage summary that is logged never carries `detail`.
 */
import { DatabaseError } from 'pg';
import { describe, expect, it } from 'vitest';
import { failureKind, outageOf, PostgresOutageError } from './pgErrors.ts';

function pgError(code: string, message = 'x', detail?: string): DatabaseError {
  return Object.assign(new DatabaseError(message, 1, 'error'), { code, detail });
}

const socketError = (code: string): Error => Object.assign(new Error(`connect ${code}`), { code });

describe('failureKind', () => {
  it.each([
    ['08000', 'connection exception'],
    ['08001', 'cannot establish connection'],
    ['08006', 'connection failure'],
    ['08P01', 'protocol violation'],
    ['25006', 'read-only transaction (failover)'],
    ['53000', 'insufficient resources'],
    ['53100', 'disk full'],
    ['53300', 'too many connections'],
    ['57P01', 'admin shutdown'],
    ['57P03', 'cannot connect now'],
    ['57014', 'query canceled'],
    ['58000', 'system error'],
    ['58030', 'io error'],
    ['42501', 'insufficient privilege'],
    ['28000', 'invalid authorization'],
    ['28P01', 'invalid password'],
    ['42P01', 'undefined table'],
    ['42703', 'undefined column'],
    ['42883', 'undefined function'],
    ['3F000', 'invalid schema name'],
    ['3D000', 'invalid catalog name'],
    ['40001', 'serialization failure'],
    ['40P01', 'deadlock'],
    ['55P03', 'lock not available'],
    ['XX000', 'a SQLSTATE nobody planned for'],
  ])('%s (%s) is an outage', (code) => {
    expect(failureKind(pgError(code))).toBe('outage');
  });

  it.each([
    ['22001', 'string too long'],
    ['22003', 'numeric out of range'],
    ['22P02', 'invalid text representation'],
    ['23502', 'not null violation'],
    ['23503', 'foreign key violation'],
    ['23505', 'unique violation'],
    ['23514', 'check violation'],
  ])('%s (%s) is bad data', (code) => {
    expect(failureKind(pgError(code))).toBe('data');
  });

  it('takes errors without a SQLSTATE from the socket or from pg for outages', () => {
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'])
      expect(failureKind(socketError(code)), code).toBe('outage');
    expect(failureKind(new Error('Connection terminated unexpectedly'))).toBe('outage');
    expect(failureKind(new Error('timeout exceeded when trying to connect'))).toBe('outage');
  });

  it('takes a programming error on one event for bad data', () => {
    expect(failureKind(new TypeError("Cannot read properties of undefined (reading 'holdId')"))).toBe('data');
    expect(failureKind(new RangeError('Invalid time value'))).toBe('data');
  });
});

describe('outageOf', () => {
  it('keeps the SQLSTATE, its condition and the message, never the detail', () => {
    const outage = outageOf(
      pgError('42501', 'permission denied for table events', 'Key (candidate_id)=(110105200001010011)'),
    );
    expect(outage).toBeInstanceOf(PostgresOutageError);
    expect(outage.code).toBe('42501');
    expect(outage.condition).toBe('insufficient privilege');
    expect(outage.message).toBe(
      'PostgreSQL outage (42501 insufficient privilege): permission denied for table events',
    );
    expect(outage).not.toHaveProperty('detail');
    expect(JSON.stringify({ ...outage, message: outage.message })).not.toContain('110105200001010011');
  });

  it('names a class when the exact SQLSTATE is not listed', () => {
    expect(outageOf(pgError('57P03', 'the database system is starting up')).condition).toBe(
      'operator intervention',
    );
    expect(outageOf(pgError('XX000')).condition).toBe('unexpected SQLSTATE');
  });

  it('keeps the socket code of a connection failure', () => {
    const outage = outageOf(socketError('ECONNREFUSED'));
    expect(outage.code).toBe('ECONNREFUSED');
    expect(outage.condition).toBe('connection');
    expect(outageOf(new Error('Connection terminated unexpectedly')).code).toBeUndefined();
  });
});
