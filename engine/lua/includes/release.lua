-- Ends a HELD item (cancel or expiry): status, seat back, event, dashboard update; an oral item
-- that depends on a written item being ended goes with it (R18). Returns the ended subjects.
-- Emits `eventType` (CANCELLED or EXPIRED; payload declared in engine/outbox.ts) per ended item.
local function endItem(ctx, rec, subject, newStatus, eventType, reason)
  local item = rec.i[subject]
  item[I_STATUS] = newStatus
  item[I_SETTLED] = ctx.now
  local used, capacity = releaseSeat(ctx.capacity, ctx.used, item[I_CAMPUS], subject)
  emit(ctx.stream, eventType, ctx.nowText, {
    candidateId = rec.c, subject = subject, holdId = item[I_HOLD], campusId = item[I_CAMPUS], reason = reason,
  })
  publishSeats(ctx.channel, item[I_CAMPUS], subject, used, capacity, ctx.now)
end

local function endItemWithDependents(ctx, rec, subject, newStatus, eventType, reason)
  local ended = { subject }
  endItem(ctx, rec, subject, newStatus, eventType, reason)
  if rec.i[subject][I_KIND] == 'W' then
    for other, item in pairs(rec.i) do
      if item[I_KIND] == 'O' and item[I_REQUIRES] == subject and item[I_STATUS] == 'H' then
        endItem(ctx, rec, other, newStatus, eventType, 'WRITTEN_ENDED')
        ended[#ended + 1] = other
      end
    end
  end
  return ended
end
