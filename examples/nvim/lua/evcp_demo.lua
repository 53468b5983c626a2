--- evcp_demo: a small Neovim plugin over evcp (transport "nvim").
-- :EvcpStatus <location id> looks the location up without blocking the
-- editor (the lookup runs in a coroutine and yields to Neovim's loop) and
-- shows each EVSE's status in a floating window; q or <Esc> closes it.
-- Configuration: vim.g.evcp = { base_url = ..., api_key = ... }, else the
-- environment evcp reads (EVCP_URL for the base URL here, HERE's API key
-- or credentials as evcp.new finds them).
local M = {}

local client

local function get_client()
  if client == nil then
    local cfg = vim.g.evcp or {}
    client = require("evcp").new({
      transport = "nvim",
      base_url = cfg.base_url or os.getenv("EVCP_URL"),
      api_key = cfg.api_key or os.getenv("EVCP_API_KEY"),
    })
  end
  return client
end

local function kw(w)
  return w and string.format("%g kW", w / 1000) or "?"
end

--- M.lines(loc) -> the window's lines for a Location
function M.lines(loc)
  local a = loc.address or {}
  local out = {
    loc.name or "EV charging location",
    a.label or table.concat({ a.street or "?", a.city or "?" }, ", "),
    "",
    string.format("%-20s %-12s %s", "EVSE", "status", "connectors"),
  }
  for evse in loc:evses() do
    local cs = {}
    for c in evse:connectors() do cs[#cs + 1] = (c.standard or "?") .. " " .. kw(c.maxPower) end
    out[#out + 1] = string.format("%-20s %-12s %s", evse.evseId or evse.uid or "?", evse.status or "?",
      table.concat(cs, ", "))
  end
  if #out == 4 then out[#out + 1] = "(no EVSEs)" end
  return out
end

--- M.show(lines, title) -> win, buf: a floating scratch window
function M.show(lines, title)
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_lines(buf, 0, -1, false, lines)
  vim.bo[buf].modifiable = false
  vim.bo[buf].bufhidden = "wipe"
  local width = 20
  for _, l in ipairs(lines) do width = math.max(width, vim.fn.strdisplaywidth(l)) end
  width = math.min(width, vim.o.columns - 4)
  local height = math.min(#lines, math.max(1, vim.o.lines - 4))
  local win = vim.api.nvim_open_win(buf, true, {
    relative = "editor", style = "minimal", border = "rounded",
    width = width, height = height,
    row = math.floor((vim.o.lines - height) / 2) - 1, col = math.floor((vim.o.columns - width) / 2),
  })
  for _, key in ipairs({ "q", "<Esc>" }) do
    vim.keymap.set("n", key, function() pcall(vim.api.nvim_win_close, win, true) end, { buffer = buf, nowait = true })
  end
  M.last = { win = win, buf = buf, title = title }
  return win, buf
end

--- M.status(id [, done]): looks the location up and shows its EVSEs; done(ok, err) is
-- called at the end (for scripts and tests)
function M.status(id, done)
  coroutine.wrap(function()
    -- the call yields to the editor loop; it goes on in the main loop, where the
    -- editor API may be called
    local ok, loc, err = pcall(function() return get_client():location(id, { fields = { "address", "evses" } }) end)
    if ok and loc then
      M.show(M.lines(loc), id)
      if done then done(true) end
    else
      local msg = "evcp: " .. tostring(ok and err or loc)
      vim.notify(msg, vim.log.levels.ERROR)
      if done then done(false, msg) end
    end
  end)()
end

--- M.close(): closes the client (its connections)
function M.close()
  if client then client:close() end
  client = nil
end

return M
