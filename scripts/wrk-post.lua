-- wrk: POST the JSON in $WRK_BODY; one JSON line of figures at the end.
wrk.method = "POST"
wrk.body = os.getenv("WRK_BODY")
wrk.headers["Content-Type"] = "application/json"
dofile("scripts/wrk-report.lua")
