--[[
  Step 3 of the binding: the province side bound the candidate with this token; mark the claim bound.
  KEYS[1] claims bucket   ARGV[1] accountId  ARGV[2] token
  Returns ok {finalized = true|false} (false: the claim is gone or belongs to another attempt)
]]
local claimsKey = KEYS[1]
local accountId, token = ARGV[1], ARGV[2]

--@include result

local existing = redis.call('HGET', claimsKey, accountId)
if not existing then return ok({ finalized = false }) end
local state, provinceCode, candidateId, claimToken, claimedAt = string.match(existing, '^(%a)|([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
if claimToken ~= token then return ok({ finalized = false }) end
if state ~= 'B' then
  redis.call('HSET', claimsKey, accountId, table.concat({ 'B', provinceCode, candidateId, token, claimedAt }, '|'))
end
return ok({ finalized = true })
