-- pandoc Lua filter for the man pages: a table becomes a definition list, the form man
-- pages give option and key lists. (A tbl table of docs/CONFIGURATION.md's five columns
-- with sentences in them does not fit 80 columns: groff warns "table wider than line
-- width" and "cannot adjust line", which lintian reports.)
-- Each row: the first cell is the term; the middle cells are one line "Header: text; ...";
-- the last cell (the meaning) is a paragraph of its own.
function Table(tbl)
  local headers = {}
  if tbl.head and #tbl.head.rows > 0 then
    for i, cell in ipairs(tbl.head.rows[1].cells) do
      headers[i] = pandoc.utils.stringify(cell.contents)
    end
  end
  local items = {}
  for _, body in ipairs(tbl.bodies) do
    for _, row in ipairs(body.body) do
      local cells = row.cells
      local term = pandoc.utils.blocks_to_inlines(cells[1].contents)
      local facts = {}
      for i = 2, #cells - 1 do
        local text = pandoc.utils.blocks_to_inlines(cells[i].contents)
        if #text > 0 then
          if #facts > 0 then
            table.insert(facts, pandoc.Str(";"))
            table.insert(facts, pandoc.Space())
          end
          if headers[i] and headers[i] ~= "" then
            table.insert(facts, pandoc.Emph(headers[i] .. ":"))
            table.insert(facts, pandoc.Space())
          end
          for _, x in ipairs(text) do table.insert(facts, x) end
        end
      end
      local details = {}
      if #facts > 0 then table.insert(details, pandoc.Para(facts)) end
      if #cells > 1 then
        local last = cells[#cells].contents
        if #last > 0 then table.insert(details, pandoc.Para(pandoc.utils.blocks_to_inlines(last))) end
      end
      if #details == 0 then details = {pandoc.Plain({})} end
      table.insert(items, {term, {details}})
    end
  end
  return pandoc.DefinitionList(items)
end
