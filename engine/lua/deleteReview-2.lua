--[[
  Delete a rejected CET6 review (R11).
  KEYS[1] reviews bucket  KEYS[2] account shard stream   ARGV[1] accountId  ARGV[2] now
  Returns ok {}  or REVIEW_NOT_FOUND | REVIEW_APPROVED_FINAL | REVIEW_PENDING
  Emits REVIEW_DELETED (payload declared in engine/outbox.ts)
]]
local reviewsKey, streamKey = KEYS[1], KEYS[2]
local accountId = ARGV[1]
local nowText = ARGV[2]

--@include result
--@include events
--@include review

local review = loadReview(reviewsKey, accountId)
local refusal = reviewChangeRefusal(review)
if refusal then return refuse(refusal) end
redis.call('HDEL', reviewsKey, accountId)
emit(streamKey, 'REVIEW_DELETED', nowText, { reviewId = review.id, accountId = accountId })
return ok({})
