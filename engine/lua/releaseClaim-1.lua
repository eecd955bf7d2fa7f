--[[
  Compensation for step 1 (the province refused, or the registration was deleted under R8):
  drop the account's claim if, and only if, it is still the claim made with this token.
  KEYS[1] claims bucket   ARGV[1] accountId  ARGV[2] token
  Returns ok {released = true|false}
]]
local claimsKey = KEYS[1]
local accountId, token = ARGV[1], ARGV[2]

--@include result

local existing = redis.call('HGET', claimsKey, accountId)
if not existing then return ok({ released = false }) end
local claimToken = string.match(existing, '^%a|[^|]*|[^|]*|([^|]*)|')
if claimToken ~= token then return ok({ released = false }) end
redis.call('HDEL', claimsKey, accountId)
return ok({ released = true })
