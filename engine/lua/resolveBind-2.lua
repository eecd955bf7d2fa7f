--[[
  Recovery of an abandoned binding attempt (a claim left pending by a crashed caller), on the
  province shard: either the candidate is bound with that token (the attempt succeeded: finalize
  it), or the token is fenced so that a late step 2 with it can never bind (then release it).
  KEYS[1] registrations bucket  KEYS[2] fence
  ARGV[1] candidateId  ARGV[2] accountId  ARGV[3] token  ARGV[4] now
  Returns ok {outcome = "BOUND"|"FENCED"}
]]
local registrationsKey, fenceKey = KEYS[1], KEYS[2]
local candidateId, accountId, token, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4]

--@include result
--@include record

local rec = loadRecord(registrationsKey, candidateId)
if rec and rec.a == accountId and rec.k == token then
  return ok({ outcome = 'BOUND' })
end
redis.call('HSET', fenceKey, token, now)
return ok({ outcome = 'FENCED' })
