#!/bin/sh
# A predictor process for `mlops deploy serve` in shell: each request line
# {"columns": [...], "data": [[1, 2.5], [3, 4]]} is answered with the sum
# of the numbers of each row, {"predictions": [3.5, 7]}.  A model of no
# use but to show the protocol: one JSON line in, one JSON line out, for
# as long as stdin stays open.
while IFS= read -r line; do
	printf '%s\n' "$line" | awk '{
		s = $0
		if (!sub(/.*"data":[[:space:]]*\[/, "", s)) {
			print "{\"error\":\"no data\"}"
			next
		}
		sub(/\][[:space:]]*\}[[:space:]]*$/, "", s)
		out = ""
		n = split(s, rows, /\][[:space:]]*,[[:space:]]*\[/)
		for (i = 1; i <= n; i++) {
			r = rows[i]
			gsub(/[][]/, "", r)
			if (r == "" && n == 1)
				break
			m = split(r, f, ",")
			sum = 0
			for (k = 1; k <= m; k++)
				sum += f[k] + 0
			out = out (out == "" ? "" : ",") sum
		}
		print "{\"predictions\":[" out "]}"
	}'
done
