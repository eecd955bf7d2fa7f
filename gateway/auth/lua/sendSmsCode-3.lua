--[[
  Stores a fresh SMS code for one phone if its rate limits allow (R1: phone binding, registration).
  KEYS[1] code key (hash: code, attempts)      KEYS[2] interval key      KEYS[3] daily counter key
  ARGV[1] code (6 digits)   ARGV[2] code lifetime ms   ARGV[3] minimum interval ms
  ARGV[4] codes allowed per day window   ARGV[5] day window ms
  Returns {1, 0}: stored (replacing any pending code);
          {0, retryAfterMs}: refused, the interval or the daily limit is not over yet.
]]
local codeKey, intervalKey, dailyKey = KEYS[1], KEYS[2], KEYS[3]
local code = ARGV[1]
local codeTtlMs = tonumber(ARGV[2])
local intervalMs = tonumber(ARGV[3])
local dailyLimit = tonumber(ARGV[4])
local dayWindowMs = tonumber(ARGV[5])

local intervalLeft = redis.call('PTTL', intervalKey)
if intervalLeft > 0 then return {0, intervalLeft} end

local sentToday = tonumber(redis.call('GET', dailyKey) or '0')
if sentToday >= dailyLimit then
  local dayLeft = redis.call('PTTL', dailyKey)
  if dayLeft < 0 then dayLeft = dayWindowMs end
  return {0, dayLeft}
end

redis.call('SET', intervalKey, '1', 'PX', intervalMs)
if redis.call('INCR', dailyKey) == 1 then redis.call('PEXPIRE', dailyKey, dayWindowMs) end
redis.call('DEL', codeKey)
redis.call('HSET', codeKey, 'code', code, 'attempts', 0)
redis.call('PEXPIRE', codeKey, codeTtlMs)
return {1, 0}
