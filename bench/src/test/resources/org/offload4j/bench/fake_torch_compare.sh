#!/bin/sh
# A stand-in for torch_compare.py in tests: reads the request, replies with canned
# times: case 0 gets two variants, case 1 a note only, the rest nothing.
cat > /dev/null
cat <<'JSON'
{"torch": "9.9.9-fake", "device": "Fake GPU",
 "results": [{"id": 0, "variants": [{"name": "dequant+mm", "median_ns": 2000.0}, {"name": "bf16 mm", "median_ns": 500}], "note": "a note"},
             {"id": 1, "variants": [], "note": "no grouped_mm here"}]}
JSON
