-- A CET6 review application (R9–R12), one per account (R12), JSON in the account shard's bucket:
--   id, st PENDING|APPROVED|REJECTED, tk ticket, c candidateId, p provinceCode, sa submittedAt, da decidedAt
local function loadReview(reviewsKey, accountId)
  local raw = redis.call('HGET', reviewsKey, accountId)
  if not raw then return nil end
  return cjson.decode(raw)
end

-- R11, R12: the applicant may change an application only after a rejection.
local function reviewChangeRefusal(review)
  if review == nil then return CODE.REVIEW_NOT_FOUND end
  if review.st == 'APPROVED' then return CODE.REVIEW_APPROVED_FINAL end
  if review.st == 'PENDING' then return CODE.REVIEW_PENDING end
  return nil
end
