--[[
  Checks an SMS code and uses it up: a right code is deleted (single-use); a wrong one counts an
  attempt, and the code is deleted after too many, so 6 digits cannot be brute-forced.
  KEYS[1] code key (hash: code, attempts)
  ARGV[1] the code given   ARGV[2] wrong attempts allowed per code
  Returns 1: right code, now consumed;  0: wrong, expired, already used or no code sent.
]]
local codeKey = KEYS[1]
local given = ARGV[1]
local maxAttempts = tonumber(ARGV[2])

local expected = redis.call('HGET', codeKey, 'code')
if not expected then return 0 end
if expected == given then
  redis.call('DEL', codeKey)
  return 1
end
if redis.call('HINCRBY', codeKey, 'attempts', 1) >= maxAttempts then redis.call('DEL', codeKey) end
return 0
