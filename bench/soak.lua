-- wrk script for bench/soak.sh: counts answers by status class (wrk only
-- reports "Non-2xx") and, with the argument `explain NODES PODS`, cycles
-- /api/v1/explain over random pod pairs of a generated cluster
-- (pods are default/web-N-M, N in 1..NODES, M in 1..PODS).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "fixed"
  nodes = tonumber(args[2] or "1000")
  pods = tonumber(args[3] or "110")
  c2xx, c404, c429, c503, c4xx, c5xx = 0, 0, 0, 0, 0, 0
  math.randomseed(os.time() + (id or 0))
end

local function pod()
  return string.format("default/web-%d-%d", math.random(nodes), math.random(pods))
end

function request()
  if mode == "explain" then
    return wrk.format("GET", "/api/v1/explain?src=" .. pod() .. "&dst=" .. pod())
  end
  return wrk.format("GET", wrk.path)
end

function response(status, headers, body)
  if status < 300 then c2xx = c2xx + 1
  elseif status == 404 then c404 = c404 + 1
  elseif status == 429 then c429 = c429 + 1
  elseif status == 503 then c503 = c503 + 1
  elseif status < 500 then c4xx = c4xx + 1
  else c5xx = c5xx + 1 end
end

function done(summary, latency, requests)
  local t = {c2xx = 0, c404 = 0, c429 = 0, c503 = 0, c4xx = 0, c5xx = 0}
  for _, th in ipairs(threads) do
    for k, _ in pairs(t) do t[k] = t[k] + (th:get(k) or 0) end
  end
  io.write(string.format("status 2xx=%d 404=%d 429=%d 503=%d other4xx=%d 5xx=%d\n",
    t.c2xx, t.c404, t.c429, t.c503, t.c4xx, t.c5xx))
end
