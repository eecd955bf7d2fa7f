--[[
  Admits one login attempt for a subject (an account, or a login naming none) from one client
  address, or holds it back (issue 16 item 1). An admitted attempt is counted as a failure at once,
  so that concurrent attempts cannot all pass before the first one's outcome is known;
  settleLoginAttempt-2.lua takes it back when it succeeded or no password was checked.
  KEYS[1] the subject's failures from this address (hash: failures, last)
  KEYS[2] the subject's failures from every address (a counter over a window)
  ARGV[1] now (ms)   ARGV[2] failures an address may make before it backs off
  ARGV[3] the subject's failures from every address past which an address that failed at all
          backs off from its first failure
  ARGV[4] the first backoff (ms), doubled per further failure   ARGV[5] the backoff's cap (ms)
  ARGV[6] how long an address's failures are kept after its last (ms)
  ARGV[7] the window of the subject's failures from every address (ms)
  Returns {1, previousLast}: admitted and counted (previousLast: the address's last failure
          before this attempt, 0 for none);
          {0, retryAfterMs}: held back, no password is to be checked.
]]
local addressKey, subjectKey = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
local freeFailures = tonumber(ARGV[2])
local alarm = tonumber(ARGV[3])
local backoffBaseMs = tonumber(ARGV[4])
local backoffCapMs = tonumber(ARGV[5])
local addressWindowMs = tonumber(ARGV[6])
local subjectWindowMs = tonumber(ARGV[7])

local state = redis.call('HMGET', addressKey, 'failures', 'last')
local failures = tonumber(state[1] or '0')
local last = tonumber(state[2] or '0')
if failures > 0 then
  local free = freeFailures
  -- a guesser spread over many addresses: each address that failed waits from its first failure,
  -- while an address that never failed (the owner's) is not held at all
  if tonumber(redis.call('GET', subjectKey) or '0') > alarm then free = 1 end
  if failures >= free then
    local readyAt = last + math.min(backoffBaseMs * 2 ^ (failures - free), backoffCapMs)
    if now < readyAt then return {0, readyAt - now} end
  end
end

redis.call('HINCRBY', addressKey, 'failures', 1)
redis.call('HSET', addressKey, 'last', now)
redis.call('PEXPIRE', addressKey, addressWindowMs)
if redis.call('INCR', subjectKey) == 1 then redis.call('PEXPIRE', subjectKey, subjectWindowMs) end
return {1, last}
