"""The Lua scripts behind the Redis job tracker: each state change is one atomic script.

Redis runs a script as one step, with no other client's command in between, so "is this id
free, then queue it", "find a job whose lease ran out, then take it" and "does this worker
still hold the job, then finish it" cannot race between workers on different hosts. Time
comes from the server (``TIME``) and leases from the stream's pending-entries list, whose
idle times the server keeps: workers whose clocks disagree still agree on who holds what.

Keys: ``UPLOAD_STATUS:<id>`` holds the seed's status string; ``UPLOAD_JOB:<id>`` a hash with
the rest (``staged_key``, ``asset_id``, ``attempts``, ``progress``, ``worker``, ``message_id``,
``lease_ms``, ``leased_at_ms``, ``created_at``, ``updated_at``); the stream queues one
message ``{upload_id}`` per unfinished job; the consumer group's pending-entries list (PEL)
records which worker holds which message and for how long it has been silent.

Why claim reads the PEL with ``XPENDING`` rather than calling ``XAUTOCLAIM``: a lease is the
holder's (``claim``/``renew`` set it), not the claimer's. ``XAUTOCLAIM`` takes one min-idle
time for every entry, so a worker claiming with a 60 s lease could not take over a job whose
holder asked for 5 s. Claim therefore walks the PEL (oldest first; it holds only the jobs in
flight) and compares each entry's idle time with its job's ``lease_ms``. Entries whose stream
message was deleted (``XAUTOCLAIM`` would report them as deleted ids) are dropped from the PEL.
"""

from __future__ import annotations

_PRELUDE = """
local function server_time()
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  return string.format('%.0f', ms), t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
end

-- The job's message id if `worker` holds the job, and whether the message is in the group's
-- PEL. The PEL's owner decides; the job's own `worker` field only when the entry is missing
-- because the group or the stream was deleted under the job (claim sets both together).
local function held_by(stream, group, job, worker)
  local held = redis.call('HMGET', job, 'message_id', 'worker')
  if not held[1] then return nil, false end
  local entry = redis.pcall('XPENDING', stream, group, held[1], held[1], 1)
  if not entry.err and #entry > 0 then
    if entry[1][2] == worker then return held[1], true end
    return nil, false
  end
  if held[2] == worker then return held[1], false end
  return nil, false
end
"""

SUBMIT = """
-- KEYS: stream, status key, job key. ARGV: upload_id, staged_key, token.
-- Returns created_at, or false if the id is taken. The token makes a retried call (its first
-- answer was lost on the wire) find its own job instead of reporting a conflict.
if redis.call('EXISTS', KEYS[2]) == 1 then
  if redis.call('HGET', KEYS[3], 'submit_token') == ARGV[3] then
    return redis.call('HGET', KEYS[3], 'created_at')
  end
  return false
end
local _, now = server_time()
-- XADD first: if it fails (the stream key holds something else) nothing has been written.
local id = redis.call('XADD', KEYS[1], '*', 'upload_id', ARGV[1])
redis.call('SET', KEYS[2], 'queued')
redis.call('DEL', KEYS[3])
redis.call('HSET', KEYS[3], 'staged_key', ARGV[2], 'attempts', 0, 'message_id', id,
  'created_at', now, 'updated_at', now, 'submit_token', ARGV[3])
return now
"""

CLAIM = """
-- KEYS: stream. ARGV: group, worker, lease_ms, key prefix.
-- Returns {upload_id, job hash fields...} of the job now held by `worker`, false if there is
-- none, or 1 if the group had to be made again (the caller requeues, then claims again).
local stream, group, worker, lease_ms, prefix = KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local PAGE, MAX_PENDING, MAX_NEW = 100, 1000, 100
local now_ms, now = server_time()

local function status_key(upload_id) return prefix .. 'UPLOAD_STATUS:' .. upload_id end
local function job_key(upload_id) return prefix .. 'UPLOAD_JOB:' .. upload_id end

local function upload_id_of(fields)
  if type(fields) ~= 'table' then return nil end
  for i = 1, #fields, 2 do
    if fields[i] == 'upload_id' then return fields[i + 1] end
  end
  return nil
end

-- 'queued' or 'processing' for a job still to be done; nil for a message no job stands behind.
local function open_status(upload_id)
  if not upload_id or redis.call('EXISTS', job_key(upload_id)) == 0 then return nil end
  local status = redis.call('GET', status_key(upload_id))
  if status == 'queued' or status == 'processing' then return status end
  return nil
end

local function drop(id)
  redis.call('XACK', stream, group, id)
  redis.call('XDEL', stream, id)
end

local function take(id, upload_id)
  local job = job_key(upload_id)
  redis.call('SET', status_key(upload_id), 'processing')
  redis.call('HINCRBY', job, 'attempts', 1)
  redis.call('HSET', job, 'worker', worker, 'message_id', id, 'lease_ms', lease_ms,
    'leased_at_ms', now_ms, 'updated_at', now)
  local fields = redis.call('HGETALL', job)
  table.insert(fields, 1, upload_id)
  return fields
end

-- 1. A held job whose holder fell silent for longer than its lease (the holder's own lease,
--    as renewed last). The group (or the whole stream) may have been deleted: make it again,
--    from the stream's first entry, so every unfinished job in it is delivered again.
local pending = redis.pcall('XPENDING', stream, group, '-', '+', PAGE)
if pending.err then
  if not string.find(pending.err, 'NOGROUP', 1, true) then return redis.error_reply(pending.err) end
  redis.call('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')
  return 1  -- the caller queues again the jobs whose messages went with a deleted stream
end
local scanned = 0
while #pending > 0 do
  for _, entry in ipairs(pending) do
    local id, idle = entry[1], tonumber(entry[3])
    local message = redis.call('XRANGE', stream, id, id)
    local upload_id = message[1] and upload_id_of(message[1][2])
    if not open_status(upload_id) then
      drop(id)  -- deleted from the stream, or its job is gone or finished
    elseif idle >= tonumber(redis.call('HGET', job_key(upload_id), 'lease_ms') or '0') then
      redis.call('XCLAIM', stream, group, worker, 0, id, 'JUSTID')
      return take(id, upload_id)
    end
  end
  scanned = scanned + #pending
  if #pending < PAGE or scanned >= MAX_PENDING then break end
  pending = redis.call('XPENDING', stream, group, '(' .. pending[#pending][1], '+', PAGE)
end

-- 2. The oldest message never delivered to this group.
for _ = 1, MAX_NEW do
  local reply = redis.call('XREADGROUP', 'GROUP', group, worker, 'COUNT', 1, 'STREAMS', stream, '>')
  if not reply or not reply[1] or #reply[1][2] == 0 then return false end
  local id, fields = reply[1][2][1][1], reply[1][2][1][2]
  local upload_id = upload_id_of(fields)
  local status = open_status(upload_id)
  if status == 'queued' then return take(id, upload_id) end
  if status == 'processing' then
    -- Delivered again because the group was made anew under a running job: while the
    -- holder's lease lasts, hand the message back to it, as silent as it was.
    local held = redis.call('HMGET', job_key(upload_id), 'worker', 'lease_ms', 'leased_at_ms')
    local silent = tonumber(now_ms) - tonumber(held[3] or now_ms)
    if held[1] and silent < tonumber(held[2] or '0') then
      redis.call('XCLAIM', stream, group, held[1], 0, id, 'IDLE', string.format('%.0f', silent), 'JUSTID')
    else
      return take(id, upload_id)
    end
  else
    drop(id)
  end
end
return false
"""

RENEW = """
-- KEYS: stream, status key, job key. ARGV: group, worker, lease_ms, progress JSON ('' keeps it).
if redis.call('GET', KEYS[2]) ~= 'processing' then return 0 end
local id, pending = held_by(KEYS[1], ARGV[1], KEYS[3], ARGV[2])
if not id then return 0 end
-- Claiming the message again for the same worker sets its idle time to 0: the lease restarts.
if pending then redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'JUSTID') end
local now_ms, now = server_time()
redis.call('HSET', KEYS[3], 'lease_ms', ARGV[3], 'leased_at_ms', now_ms, 'updated_at', now)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], 'progress', ARGV[4]) end
return 1
"""

FINISH = """
-- KEYS: stream, status key, job key. ARGV: group, worker, status, asset_id ('' keeps it),
-- ttl in seconds ('' keeps the job until deleted).
if redis.call('GET', KEYS[2]) ~= 'processing' then return 0 end
local id, pending = held_by(KEYS[1], ARGV[1], KEYS[3], ARGV[2])
if not id then return 0 end
if pending then redis.call('XACK', KEYS[1], ARGV[1], id) end
redis.call('XDEL', KEYS[1], id)
local _, now = server_time()
redis.call('HDEL', KEYS[3], 'worker', 'lease_ms', 'leased_at_ms')
redis.call('HSET', KEYS[3], 'updated_at', now)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[3], 'asset_id', ARGV[4]) end
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[5])
  redis.call('EXPIRE', KEYS[3], ARGV[5])
else
  redis.call('SET', KEYS[2], ARGV[3])
end
return 1
"""

REQUEUE = """
-- KEYS: stream, status key, job key. ARGV: upload_id.
-- Queue the job again if it is unfinished and its message is no longer in the stream.
local status = redis.call('GET', KEYS[2])
if status ~= 'queued' and status ~= 'processing' then return 0 end
local id = redis.call('HGET', KEYS[3], 'message_id')
if id and #redis.call('XRANGE', KEYS[1], id, id) > 0 then return 0 end
redis.call('HSET', KEYS[3], 'message_id', redis.call('XADD', KEYS[1], '*', 'upload_id', ARGV[1]))
return 1
"""

SCRIPTS = {
    "submit": _PRELUDE + SUBMIT,
    "claim": _PRELUDE + CLAIM,
    "renew": _PRELUDE + RENEW,
    "finish": _PRELUDE + FINISH,
    "requeue": REQUEUE,
}
"""Each script with the shared helpers in front (Redis scripts cannot import one another)."""
