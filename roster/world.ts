/**
 * Reads a world.json (loadtest/seed writes one; operators may write their own) and checks its shape
 * enough to fail with a clear message before anything is written: the arrays exist, ids are
 * strings, instants and capacities are numbers. Deeper rules (a campus's school exists) are the
 * database's foreign keys.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { World } from '../engine/world.ts';
import { ImportFileError } from './header.ts';

export const WORLD_FILE = 'world.json';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function arrayOf(world: Json, key: string, file: string): Json[] {
  const value = world[key];
  if (!Array.isArray(value) || !value.every(isObject)) {
    throw new ImportFileError('FILE_UNREADABLE', `${file}: "${key}" must be an array of objects`);
  }
  return value;
}

function expectFields(
  items: Json[],
  key: string,
  fields: Record<string, 'string' | 'number' | 'boolean' | 'object'>,
  file: string,
): void {
  items.forEach((item, index) => {
    for (const [field, type] of Object.entries(fields)) {
      if (typeof item[field] !== type || item[field] === null) {
        throw new ImportFileError('FILE_UNREADABLE', `${file}: ${key}[${index}].${field} must be a ${type}`);
      }
    }
  });
}

export async function readWorldFile(file: string): Promise<World> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ImportFileError('FILE_UNREADABLE', `${file}: cannot be read as JSON (${reason})`);
  }
  if (!isObject(parsed)) throw new ImportFileError('FILE_UNREADABLE', `${file}: not a JSON object`);
  expectFields(arrayOf(parsed, 'provinces', file), 'provinces', { code: 'string', name: 'string' }, file);
  expectFields(
    arrayOf(parsed, 'schools', file),
    'schools',
    { schoolId: 'string', name: 'string', provinceCode: 'string' },
    file,
  );
  expectFields(
    arrayOf(parsed, 'campuses', file),
    'campuses',
    {
      campusId: 'string',
      name: 'string',
      provinceCode: 'string',
      schoolId: 'string',
      studentsMayTakeOralElsewhere: 'boolean',
      capacity: 'object',
      oralOpens: 'object',
    },
    file,
  );
  expectFields(
    arrayOf(parsed, 'calendar', file),
    'calendar',
    { provinceCode: 'string', registrationOpensAt: 'number', registrationClosesAt: 'number' },
    file,
  );
  if (!isObject(parsed.fees))
    throw new ImportFileError('FILE_UNREADABLE', `${file}: "fees" must be an object`);
  return parsed as unknown as World;
}

/** The world given with --world, or a world.json beside the first CSV, or none. */
export function findWorldFile(explicit: string | undefined, csvFiles: readonly string[]): string | undefined {
  if (explicit !== undefined) return explicit;
  const first = csvFiles[0];
  if (first === undefined) return undefined;
  const beside = path.join(path.dirname(first), WORLD_FILE);
  return existsSync(beside) ? beside : undefined;
}
