--[[
  Operators: create or update a campus and its seat capacities. Lowering a capacity below the
  seats already taken is refused for the whole campus row (API.md, I1).
  KEYS[1] campuses  KEYS[2] capacity  KEYS[3] used  KEYS[4] stream  KEYS[5] seat channel
  ARGV[1] campusId  ARGV[2] campus JSON {n name, s schoolId, x 1|0 (R19), o ownSchoolAt, w provinceWideAt|-1 (R20)}
  ARGV[3] capacities JSON {subject: seats}  ARGV[4] now
  Returns ok {}  or CAPACITY_BELOW_TAKEN {subject, used, capacity}
  Emits CAMPUS_UPSERTED (payload declared in engine/outbox.ts)
]]
local campusesKey, capacityKey, usedKey, streamKey, channel = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local campusId, campusJson, capacityJson = ARGV[1], ARGV[2], ARGV[3]
local nowText = ARGV[4]
local now = tonumber(nowText)

--@include result
--@include events
--@include seats

local capacities = cjson.decode(capacityJson)
local subjects = {}
for subject in pairs(capacities) do subjects[#subjects + 1] = subject end
table.sort(subjects)
for _, subject in ipairs(subjects) do
  local used = tonumber(redis.call('HGET', usedKey, seatField(campusId, subject))) or 0
  if capacities[subject] < used then
    return refuse(CODE.CAPACITY_BELOW_TAKEN, { subject = subject, used = used, capacity = capacities[subject] })
  end
end
redis.call('HSET', campusesKey, campusId, campusJson)
for _, subject in ipairs(subjects) do
  local field = seatField(campusId, subject)
  local previous = tonumber(redis.call('HGET', capacityKey, field))
  if previous ~= capacities[subject] then
    redis.call('HSET', capacityKey, field, capacities[subject])
    local used = tonumber(redis.call('HGET', usedKey, field)) or 0
    publishSeats(channel, campusId, subject, used, capacities[subject], now)
  end
end
emit(streamKey, 'CAMPUS_UPSERTED', nowText, { campusId = campusId, campus = cjson.decode(campusJson), capacity = capacities })
return ok({})
