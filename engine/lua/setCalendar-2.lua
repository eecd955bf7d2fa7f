--[[
  Operators: set a province's online registration window (R5, R6).
  KEYS[1] calendar  KEYS[2] stream   ARGV[1] opensAt  ARGV[2] closesAt  ARGV[3] now
  Returns ok {}
  Emits CALENDAR_SET (payload declared in engine/outbox.ts)
]]
local calendarKey, streamKey = KEYS[1], KEYS[2]
local opensAt, closesAt, nowText = ARGV[1], ARGV[2], ARGV[3]

--@include result
--@include events

redis.call('HSET', calendarKey, 'o', opensAt, 'c', closesAt)
emit(streamKey, 'CALENDAR_SET', nowText, { opensAt = tonumber(opensAt), closesAt = tonumber(closesAt) })
return ok({})
