-- Seat counters (I1): capacity and used (held + paid) per "campusId|subject" field of two
-- province hashes. Every change is published on the province's seat channel for dashboards.
local function seatField(campusId, subject)
  return campusId .. '|' .. subject
end

local function publishSeats(channel, campusId, subject, used, capacity, now)
  redis.call('PUBLISH', channel, cjson.encode({
    campusId = campusId, subject = subject, remaining = capacity - used, capacity = capacity, at = now,
  }))
end

-- The used and capacity counts of a campus's subject, read only.
local function seatCounts(capacityKey, usedKey, campusId, subject)
  local field = seatField(campusId, subject)
  return tonumber(redis.call('HGET', usedKey, field)) or 0, tonumber(redis.call('HGET', capacityKey, field)) or 0
end

-- Returns a refusal code, or nil and the new used count, after taking one seat.
local function takeSeat(capacityKey, usedKey, campusId, subject)
  local field = seatField(campusId, subject)
  local capacity = tonumber(redis.call('HGET', capacityKey, field))
  if capacity == nil then return CODE.SUBJECT_NOT_OFFERED end
  local used = tonumber(redis.call('HGET', usedKey, field)) or 0
  if used >= capacity then return CODE.SOLD_OUT end
  return nil, redis.call('HINCRBY', usedKey, field, 1), capacity
end

local function releaseSeat(capacityKey, usedKey, campusId, subject)
  local field = seatField(campusId, subject)
  local used = redis.call('HINCRBY', usedKey, field, -1)
  local capacity = tonumber(redis.call('HGET', capacityKey, field)) or 0
  return used, capacity
end
