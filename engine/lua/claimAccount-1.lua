--[[
  Step 1 of the binding (R6, I2), on the account's shard: claim the account for one candidate.
  The claim is authoritative for the account side only once the province side confirms it
  (see engine/binding.ts for the whole two-step protocol and its compensation).
  KEYS[1] claims bucket of the account shard
  ARGV[1] accountId  ARGV[2] provinceCode  ARGV[3] candidateId  ARGV[4] token  ARGV[5] now
  Returns ok {claimed = true}
       or ok {claimed = false, existing = "state|provinceCode|candidateId|token|claimedAt"}
]]
local claimsKey = KEYS[1]
local accountId, provinceCode, candidateId, token, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]

--@include result

local existing = redis.call('HGET', claimsKey, accountId)
if existing then
  return ok({ claimed = false, existing = existing })
end
redis.call('HSET', claimsKey, accountId, table.concat({ 'P', provinceCode, candidateId, token, now }, '|'))
return ok({ claimed = true })
