--[[
  Hold a written seat (R15–R17, R22; I1, I3) at the candidate's own written campus.
  Eligibility (R4, R9–R12) is decided by the caller and passed in.
  KEYS[1] registrations bucket  KEYS[2] calendar  KEYS[3] capacity  KEYS[4] used  KEYS[5] sequence
  KEYS[6] due set  KEYS[7] due list of payBy  KEYS[8] stream  KEYS[9] seat channel
  KEYS[10] queue room  KEYS[11] queue tickets  KEYS[12] queue accounts  KEYS[13] queue slots
  KEYS[14] the account's `reserve` counter of this window (any key of the province when unguarded)
  ARGV[1] candidateId  ARGV[2] accountId  ARGV[3] subject  ARGV[4] eligible "1"|"0"  ARGV[5] fee
  ARGV[6] now  ARGV[7] payBy  ARGV[8] due bucket member  ARGV[9] its score
  ARGV[10] queue idle ms (how long a pass holder's slot lasts after this write)
  ARGV[11] request tag ('' without an Idempotency-Key): kept in the item; a request with the tag of
           the item's own answers that item again (REL4), whatever changed since
  ARGV[12] the binding's savedAt the caller's eligibility is for ('' not checked): another binding
           of the same account and candidate (deleted under R8, bound anew) is NO_REGISTRATION
  ARGV[13] the counter's window (ms)  ARGV[14] the attempts allowed in it ('' unguarded): checked
           before anything else, past it RATE_LIMITED and nothing changes (includes/guard.lua)
  ARGV[15..] the other written subjects of the same level (R16)
  Returns ok {item = {...}, remaining, capacity, replayed?}
       or RATE_LIMITED | NO_REGISTRATION | REGISTRATION_NOT_OPEN | REGISTRATION_CLOSED
        | QUEUE_PASS_REQUIRED {ticketId?, ticket?, room} (the province's waiting room is active)
        | NOT_ELIGIBLE | ALREADY_REGISTERED | SAME_LEVEL_TAKEN {subject} | SUBJECT_NOT_OFFERED | SOLD_OUT
  Emits HELD (payload declared in engine/outbox.ts)
]]
local registrationsKey, calendarKey, capacityKey, usedKey, sequenceKey, dueSetKey, dueListKey, streamKey, channel =
  KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local candidateId, accountId, subject, eligible, fee = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
local nowText = ARGV[6]
local now, payBy, bucketMember, bucketScore = tonumber(nowText), tonumber(ARGV[7]), ARGV[8], ARGV[9]
local roomKey, ticketsKey, queueAccountsKey, slotsKey = KEYS[10], KEYS[11], KEYS[12], KEYS[13]
local idleMs = tonumber(ARGV[10])
local requestTag = ARGV[11]
local boundAt = ARGV[12]
local guardKey, guardWindowMs, guardLimit = KEYS[14], ARGV[13], ARGV[14]

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
if boundAt ~= '' and tonumber(boundAt) ~= tonumber(rec.t) then return refuse(CODE.NO_REGISTRATION) end
local replayed = heldByRequest(rec, subject, requestTag)
if replayed then
  local used, capacity = seatCounts(capacityKey, usedKey, replayed[I_CAMPUS], subject)
  return ok({ subject = subject, item = replayed, remaining = capacity - used, capacity = capacity, replayed = 1 })
end

local closed = windowRefusal(calendarKey, now)
if closed then return refuse(closed) end
local noPass = passRefusal(roomKey, calendarKey, ticketsKey, queueAccountsKey, slotsKey, accountId, now, idleMs)
if noPass then return refuse(CODE.QUEUE_PASS_REQUIRED, noPass) end

if eligible ~= '1' then return refuse(CODE.NOT_ELIGIBLE) end
if isLive(rec.i[subject]) then return refuse(CODE.ALREADY_REGISTERED) end
for n = 15, #ARGV do
  if isLive(rec.i[ARGV[n]]) then return refuse(CODE.SAME_LEVEL_TAKEN, { subject = ARGV[n] }) end
end

local campusId = rec.w
local refusal, used, capacity = takeSeat(capacityKey, usedKey, campusId, subject)
if refusal then return refuse(refusal) end

local holdId = redis.call('INCR', sequenceKey)
local item = { 'W', campusId, 'H', now, payBy, holdId, fee, '', 0 }
if requestTag ~= '' then item[I_TAG] = requestTag end
rec.i[subject] = item
rec.e = 0
saveRecord(registrationsKey, rec)
indexDeadline(dueSetKey, dueListKey, bucketMember, bucketScore, candidateId)
emit(streamKey, 'HELD', nowText, {
  candidateId = candidateId, subject = subject, kind = 'WRITTEN', campusId = campusId, holdId = holdId,
  fee = fee, heldAt = now, payBy = payBy,
})
publishSeats(channel, campusId, subject, used, capacity, now)
return ok({ subject = subject, item = item, remaining = capacity - used, capacity = capacity })
