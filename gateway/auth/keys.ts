/**
 * The Redis keys of accounts and sessions are named in engine/keys.ts (`AuthKeys`), with every
 * other key; this module keeps the auth code's import short.
 */
export { AuthKeys, type SmsKeys } from '../../engine/keys.ts';
