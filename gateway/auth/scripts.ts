/**
 * The auth module's Lua scripts (gateway/auth/lua/<verbNoun>-<numKeys>.lua), loaded the engine's
 * way (engine/luaScripts.ts) as `auth_v1_<verbNoun>`: key counts come from the file names and every
 * call is checked against them.
 */
import type { ClientContext, Result } from 'ioredis';
import { ScriptSet, type ScriptArg } from '../../engine/luaScripts.ts';

export const AUTH_SCRIPTS = new ScriptSet({
  dir: new URL('./lua/', import.meta.url),
  prefix: 'auth',
  version: 1,
  names: ['sendSmsCode', 'consumeSmsCode', 'authorize', 'beginLoginAttempt', 'settleLoginAttempt'] as const,
});

declare module 'ioredis' {
  interface RedisCommander<Context extends ClientContext = { type: 'default' }> {
    auth_v1_sendSmsCode(...args: ScriptArg[]): Result<[number, number], Context>;
    auth_v1_consumeSmsCode(...args: ScriptArg[]): Result<number, Context>;
    auth_v1_authorize(numberOfKeys: number, ...args: ScriptArg[]): Result<(string | number)[], Context>;
    auth_v1_beginLoginAttempt(...args: ScriptArg[]): Result<[number, number], Context>;
    auth_v1_settleLoginAttempt(...args: ScriptArg[]): Result<number, Context>;
  }
}
