-- Loaded by busted (.busted's helper) before any spec file, so outside the
-- insulation busted puts around each file: a module required here stays in
-- package.loaded for the whole run. luv must: its luaopen makes a new event
-- loop and lets the old one be collected, so a second `require "luv"` after
-- a file's insulation unloaded it (spec/45's uv host, then spec/92) would
-- leave the handles of the first loop pointing at freed memory.
pcall(require, "luv")
