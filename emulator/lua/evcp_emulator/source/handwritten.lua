-- evcp_emulator.source.handwritten: the loader shared by the hand-written location files
-- (data/locations/*.json). Each file is a JSON object {about, notes, locations}:
-- `locations` holds v3 ChargingLocation objects, `notes` maps an id (content id, or
-- `@source:id`) to a sentence saying where the location comes from.
--
-- Conventions: an id `here:evcp:charginglocation:@<source>:<source id>` gets a derived
-- content id (convert.content_id); a missing EVSE `id`, `status` or `modified`, operator
-- or suboperator `partnerId`, or `tariffs` list is derived deterministically.

local match = string.match
local cjson = require("cjson").new()
local C = require("evcp_emulator.convert")
local content_id, evse_hrn, read_file, integerize, base_status, partner_id, generate_tariffs =
  C.content_id, C.evse_hrn, C.read_file, C.integerize, C.base_status, C.partner_id,
  C.generate_tariffs

local M = {}

-- Appends the file's locations to `records` and its notes (by content id) to `notes`.
-- Returns the number of locations read (0 when the file is missing).
function M.load(path, records, notes)
  local text = read_file(path)
  if not text then return 0 end
  local doc = integerize(cjson.decode(text))
  local n = 0
  local note_src = doc.notes or {}
  for _, rec in ipairs(doc.locations) do
    local cid = match(rec.id, "([^:]*)$")
    local src, sid = match(rec.id, "@([^:]+):(.+)$")
    if src then cid = content_id(src, sid, rec.location.lat, rec.location.lng) end
    local orig = match(rec.id, "charginglocation:(.*)$")
    rec.id = "here:evcp:charginglocation:" .. cid
    if rec.operator and not rec.operator.partnerId then
      rec.operator.partnerId = partner_id(rec.operator.name)
    end
    if rec.suboperator and not rec.suboperator.partnerId then
      rec.suboperator.partnerId = partner_id(rec.suboperator.name)
    end
    for _, e in ipairs(rec.evses or {}) do
      if not e.id then e.id = evse_hrn(cid, e.uid) end
      if not e.status then e.status = base_status(e.id) end
      if not e.modified then e.modified = "2025-01-15T08:00:00Z" end
    end
    if rec.tariffs == nil then generate_tariffs(rec, cid, nil) end
    if note_src[orig] then notes[cid] = note_src[orig] end
    records[#records + 1] = rec
    n = n + 1
  end
  return n
end

-- A dataset source for one hand-written file.
function M.source(name, file)
  return { name = name, file = file, handwritten = true, load = M.load }
end

return M
