--[[
  Hold an oral seat (R18–R21, R22; I1) at a campus of the candidate's province.
  KEYS[1] registrations bucket  KEYS[2] calendar  KEYS[3] campuses  KEYS[4] capacity  KEYS[5] used
  KEYS[6] sequence  KEYS[7] due set  KEYS[8] due list of payBy  KEYS[9] stream  KEYS[10] seat channel
  KEYS[11] queue room  KEYS[12] queue tickets  KEYS[13] queue accounts  KEYS[14] queue slots
  KEYS[15] the account's `reserve` counter of this window (any key of the province when unguarded)
  ARGV[1] candidateId  ARGV[2] accountId  ARGV[3] oral subject  ARGV[4] the written subject it needs
  ARGV[5] campusId  ARGV[6] fee  ARGV[7] now  ARGV[8] payBy  ARGV[9] due bucket member  ARGV[10] score
  ARGV[11] queue idle ms  ARGV[12] request tag (reserveWritten's ARGV[11]: REL4)
  ARGV[13] the counter's window (ms)  ARGV[14] the attempts allowed in it ('' unguarded): checked
           before anything else, past it RATE_LIMITED and nothing changes (includes/guard.lua)
  Returns ok {item = {...}, remaining, capacity, replayed?}
       or RATE_LIMITED | NO_REGISTRATION | REGISTRATION_NOT_OPEN | REGISTRATION_CLOSED
        | QUEUE_PASS_REQUIRED {ticketId?, ticket?, room} (the province's waiting room is active) | ALREADY_REGISTERED
        | WRITTEN_REQUIRED (R18; also when the written hold is past its pay-by) | CAMPUS_NOT_FOUND | EXTERNAL_ORAL_NOT_ALLOWED (R19)
        | CAMPUS_NOT_OPEN {opensAt} (R20) | SUBJECT_NOT_OFFERED | SOLD_OUT (R21)
  Emits HELD (payload declared in engine/outbox.ts)
]]
local registrationsKey, calendarKey, campusesKey, capacityKey, usedKey, sequenceKey, dueSetKey, dueListKey, streamKey, channel =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10]
local candidateId, accountId, subject, requiredWritten, campusId, fee =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local nowText = ARGV[7]
local now, payBy, bucketMember, bucketScore = tonumber(nowText), tonumber(ARGV[8]), ARGV[9], ARGV[10]
local roomKey, ticketsKey, queueAccountsKey, slotsKey = KEYS[11], KEYS[12], KEYS[13], KEYS[14]
local idleMs = tonumber(ARGV[11])
local requestTag = ARGV[12] or ''
local guardKey, guardWindowMs, guardLimit = KEYS[15], ARGV[13], ARGV[14]

--@include result
--@include record
--@include window
--@include events
--@include seats
--@include deadlines
--@include queue
--@include guard

if guardRefuses(guardKey, guardWindowMs, guardLimit) then return refuse(CODE.RATE_LIMITED) end

local rec = loadRecord(registrationsKey, candidateId)
if rec == nil or rec.a ~= accountId then return refuse(CODE.NO_REGISTRATION) end
local replayed = heldByRequest(rec, subject, requestTag)
if replayed then
  local used, capacity = seatCounts(capacityKey, usedKey, replayed[I_CAMPUS], subject)
  return ok({ subject = subject, item = replayed, remaining = capacity - used, capacity = capacity, replayed = 1 })
end

local closed = windowRefusal(calendarKey, now)
if closed then return refuse(closed) end
local noPass = passRefusal(roomKey, calendarKey, ticketsKey, queueAccountsKey, slotsKey, accountId, now, idleMs)
if noPass then return refuse(CODE.QUEUE_PASS_REQUIRED, noPass) end

if isLive(rec.i[subject]) then return refuse(CODE.ALREADY_REGISTERED) end
-- a written hold past its pay-by is as good as expired (R22), even before the sweeper releases it
local written = rec.i[requiredWritten]
if not isLive(written) or (written[I_STATUS] == 'H' and tonumber(written[I_PAY_BY]) <= now) then
  return refuse(CODE.WRITTEN_REQUIRED, { subject = requiredWritten })
end

local targetRaw = redis.call('HGET', campusesKey, campusId)
if not targetRaw then return refuse(CODE.CAMPUS_NOT_FOUND) end
local target = cjson.decode(targetRaw)
local ownCampus = campusId == rec.w
if not ownCampus then
  local writtenRaw = redis.call('HGET', campusesKey, rec.w)
  local written = writtenRaw and cjson.decode(writtenRaw) or nil
  if written == nil or written.x ~= 1 then return refuse(CODE.EXTERNAL_ORAL_NOT_ALLOWED) end
end

-- R20: own students from ownSchoolAt (o); the rest of the province from provinceWideAt (w, -1: never)
local opensAt = nil
if target.w ~= nil and target.w >= 0 then opensAt = target.w end
if ownCampus and (opensAt == nil or target.o < opensAt) then opensAt = target.o end
if opensAt == nil then return refuse(CODE.CAMPUS_NOT_OPEN, { opensAt = cjson.null }) end
if now < opensAt then return refuse(CODE.CAMPUS_NOT_OPEN, { opensAt = opensAt }) end

local refusal, used, capacity = takeSeat(capacityKey, usedKey, campusId, subject)
if refusal then return refuse(refusal) end

local holdId = redis.call('INCR', sequenceKey)
local item = { 'O', campusId, 'H', now, payBy, holdId, fee, requiredWritten, 0 }
if requestTag ~= '' then item[I_TAG] = requestTag end
rec.i[subject] = item
rec.e = 0
saveRecord(registrationsKey, rec)
indexDeadline(dueSetKey, dueListKey, bucketMember, bucketScore, candidateId)
emit(streamKey, 'HELD', nowText, {
  candidateId = candidateId, subject = subject, kind = 'ORAL', campusId = campusId, holdId = holdId,
  fee = fee, heldAt = now, payBy = payBy,
})
publishSeats(channel, campusId, subject, used, capacity, now)
return ok({ subject = subject, item = item, remaining = capacity - used, capacity = capacity })
