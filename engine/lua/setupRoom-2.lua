--[[
  Operators: set up or change a province's waiting room (PUT /api/v1/admin/queue).
  The lottery's commitment and sealed seed are set once, when the room is first set up, and never
  change after (API.md: published before the opening, revealed after the draw); a later call
  changes only the settings. A room's first mode decides its phase: `opening` starts in PRE
  (joiners are PREQUEUE until the opening), `auto` and `off` in OPEN (arrival order only).
  KEYS[1] room  KEYS[2] stream
  ARGV[1] mode off|auto|opening  ARGV[2] preMs  ARGV[3] passMs  ARGV[4] maxAdmitPerMinute ('' none)
  ARGV[5] commitment hex  ARGV[6] sealed seed  ARGV[7] now
  Returns ok {commitment, created}
  Emits QUEUE_CONFIGURED (payloads declared in engine/outbox.ts)
]]
local roomKey, streamKey = KEYS[1], KEYS[2]
local mode, preMs, passMs, cap, commitment, sealed, nowText =
  ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]

--@include result
--@include events

local existing = redis.call('HGET', roomKey, 'commit')
local created = existing == false
if created then
  redis.call('HSET', roomKey, 'commit', commitment, 'sealed', sealed,
    'phase', mode == 'opening' and 'PRE' or 'OPEN', 'n', 0, 'drawn', 0, 'late', 0, 'head', 0)
else
  commitment = existing
end
redis.call('HSET', roomKey, 'mode', mode, 'preMs', preMs, 'passMs', passMs, 'cap', cap)
emit(streamKey, 'QUEUE_CONFIGURED', nowText, {
  mode = mode, preQueueMs = tonumber(preMs), passMs = tonumber(passMs),
  maxAdmitPerMinute = cap == '' and cjson.null or tonumber(cap), commitment = commitment,
})
return ok({ commitment = commitment, created = created })
