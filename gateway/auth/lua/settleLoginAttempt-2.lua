--[[
  Settles a login attempt that beginLoginAttempt-2.lua admitted, and so counted as a failure.
  KEYS[1] the subject's failures from this address (hash: failures, last)
  KEYS[2] the subject's failures from every address (a counter over a window)
  ARGV[1] the outcome: 'failed' | 'succeeded' | 'unchecked'   ARGV[2] now (ms)
  ARGV[3] the address's last failure before the attempt (ms; begin's previousLast)
  ARGV[4] how long an address's failures are kept after its last (ms)
  failed:    the failure stands; the address's backoff counts from now (the password check's end).
  succeeded: the address's failures are forgotten, and the attempt is no failure of the subject's.
  unchecked: no password was checked (the KDF lane shed it): the attempt is taken back.
  Returns 1.
]]
local addressKey, subjectKey = KEYS[1], KEYS[2]
local outcome = ARGV[1]
local now = tonumber(ARGV[2])
local previousLast = tonumber(ARGV[3])
local addressWindowMs = tonumber(ARGV[4])

if outcome == 'failed' then
  -- gone only when a concurrent attempt from the address succeeded meanwhile: nothing to hold
  if redis.call('EXISTS', addressKey) == 1 then
    redis.call('HSET', addressKey, 'last', now)
    redis.call('PEXPIRE', addressKey, addressWindowMs)
  end
  return 1
end

if outcome == 'succeeded' then
  redis.call('DEL', addressKey)
elseif tonumber(redis.call('HGET', addressKey, 'failures') or '0') > 0 then
  redis.call('HINCRBY', addressKey, 'failures', -1)
  redis.call('HSET', addressKey, 'last', previousLast)
end
if tonumber(redis.call('GET', subjectKey) or '0') > 0 then redis.call('DECR', subjectKey) end
return 1
