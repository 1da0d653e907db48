-- wrk script for bench/ingest.py: POST a webhook body whose "@ID@" marks are replaced by an
-- id unique to the run, the wrk thread and the request (so every request is a new event
-- of a new alert), to the paths given in turn; print the figures as one JSON line.
--   wrk ... -s bench/unique_events.lua URL -- BODY_FILE TAG PATH[,PATH...]

local threads = 0
local counter = 0
local template, tag, paths

function setup(thread)
   threads = threads + 1
   thread:set("thread_number", threads)
end

function init(args)
   local file = assert(io.open(args[1], "rb"))
   template = file:read("*a")
   file:close()
   tag = args[2] .. "-" .. tostring(thread_number)
   paths = {}
   for path in string.gmatch(args[3], "[^,]+") do
      paths[#paths + 1] = path
   end
   wrk.method = "POST"
   wrk.headers["Content-Type"] = "application/json"
end

function request()
   counter = counter + 1
   local body = template:gsub("@ID@", tag .. "-" .. counter)
   return wrk.format(nil, paths[(counter % #paths) + 1], nil, body)
end

function done(summary, latency, requests)
   local errors = summary.errors
   io.write(string.format(
      'WRK_JSON {"requests": %d, "duration_us": %d, "non_2xx": %d, "connect": %d, ' ..
      '"read": %d, "write": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, ' ..
      '"p99_us": %d, "max_us": %d}\n',
      summary.requests, summary.duration, errors.status, errors.connect, errors.read,
      errors.write, errors.timeout, latency:percentile(50), latency:percentile(90),
      latency:percentile(99), latency.max))
end
