/**
 * The waiting room's verifiable draw (API.md "Waiting room"): at set-up a secret 32-byte seed is
 * drawn and only its commitment (hex SHA-256) is published; at the opening the PREQUEUE tickets are
 * placed in the order of HMAC-SHA256(seed, ticketId) (hex, ascending), and the seed is revealed, so
 * that anyone can recompute the order from the published list of tickets.
 *
 * Until the reveal the seed is kept sealed (AES-256-GCM under a key derived from the deployment's
 * secret), so a copy of Redis or of the event log does not give the draw away before the opening.
 * Pure: no I/O.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';

export const SEED_BYTES = 32;

export function newSeed(): Buffer {
  return randomBytes(SEED_BYTES);
}

/** The published commitment: hex SHA-256 of the seed. */
export function commitmentOf(seed: Buffer): string {
  return createHash('sha256').update(seed).digest('hex');
}

/** Whether `seedHex` is the seed `commitment` was made for. */
export function seedMatches(seedHex: string, commitment: string): boolean {
  return /^[0-9a-f]{64}$/.test(seedHex) && commitmentOf(Buffer.from(seedHex, 'hex')) === commitment;
}

/** A ticket's draw key: hex HMAC-SHA256(seed, ticketId). */
export function drawKeyOf(seed: Buffer, ticketId: string): string {
  return createHmac('sha256', seed).update(ticketId, 'utf8').digest('hex');
}

/** The PREQUEUE in drawn order: ascending draw key (ties, which SHA-256 makes absurd, by id). */
export function drawOrder(seed: Buffer, ticketIds: readonly string[]): string[] {
  const keyed = ticketIds.map((id) => ({ id, key: drawKeyOf(seed, id) }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.id < b.id ? -1 : 1));
  return keyed.map((entry) => entry.id);
}

/** The key that seals seeds, derived from the deployment's 32-byte secret. */
export function sealKeyFrom(secret: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'cet/queue-seed/v1', 32));
}

/** iv ‖ tag ‖ ciphertext, base64url. */
export function sealSeed(seed: Buffer, sealKey: Buffer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', sealKey, iv);
  const body = Buffer.concat([cipher.update(seed), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

export function unsealSeed(sealed: string, sealKey: Buffer): Buffer {
  const raw = Buffer.from(sealed, 'base64url');
  const decipher = createDecipheriv('aes-256-gcm', sealKey, raw.subarray(0, 12));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]);
}

const TICKET_ID = /^([0-9]{2})-[0-9a-f]{16}$/;

/** A new ticket id: the province code, then 64 random bits (hex). */
export function newTicketId(provinceCode: string): string {
  return `${provinceCode}-${randomBytes(8).toString('hex')}`;
}

/** The province a ticket id belongs to, or null when it is not a ticket id. */
export function provinceOfTicket(ticketId: string): string | null {
  return TICKET_ID.exec(ticketId)?.[1] ?? null;
}
