#!/bin/sh
# A built-in model trained on a feature set is served behind the feature
# set's fitted transforms: requests carry raw columns, the server turns
# them into the model's inputs with the parameters of training
# (features.json in the model folder, listed in its MANIFEST).  Every
# server binds 127.0.0.1 on a free port and is stopped by the test.
. "$(dirname "$0")/lib.sh"

FIX="$TEST_ROOT/tests/fixtures/serve"

. "$TEST_ROOT/tests/cli/serve-lib.sh"

# CSV (header, then rows) -> {"dataframe_split": ...}; empty fields become
# null, fields of column "country" strings, others numbers.
csv_to_split() {
	awk -F, 'NR == 1 { printf "{\"dataframe_split\": {\"columns\": ["; for (i = 1; i <= NF; i++) { printf "%s\"%s\"", (i > 1 ? "," : ""), $i; name[i] = $i }; printf "], \"data\": ["; next }
		{ printf "%s[", (NR > 2 ? "," : ""); for (i = 1; i <= NF; i++) { v = $i; if (v == "") v = "null"; else if (name[i] == "country") v = "\"" v "\""; printf "%s%s", (i > 1 ? "," : ""), v }; printf "]" }
		END { print "]}}" }' "$1"
}

# CSV -> a KServe V2 request, one tensor per column.
csv_to_v2() {
	awk -F, 'NR == 1 { n = NF; for (i = 1; i <= NF; i++) name[i] = $i; next }
		{ rows++; for (i = 1; i <= n; i++) { v = $i; if (v == "") v = "null"; else if (name[i] == "country") v = "\"" v "\""; col[i] = col[i] (rows > 1 ? "," : "") v } }
		END { printf "{\"inputs\": ["; for (i = 1; i <= n; i++) printf "%s{\"name\": \"%s\", \"shape\": [%d], \"datatype\": \"%s\", \"data\": [%s]}", (i > 1 ? "," : ""), name[i], rows, (name[i] == "country" ? "BYTES" : "FP64"), col[i]; print "]}" }' "$1"
}

# The source: 10 customers, amounts, a country, ages with gaps, a target.
awk 'BEGIN {
	print "cust,t,amount,country,age,y";
	split("FR US DE", cc, " ");
	for (i = 1; i <= 60; i++) {
		a = (i * 37) % 100 + 0.25 * (i % 4); c = cc[i % 3 + 1];
		age = (i % 7 == 0) ? "" : 20 + (i * 13) % 50;
		y = 0.05 * a + (c == "FR" ? 2 : 0) - 0.05 * (age == "" ? 40 : age) + ((i * 7) % 5) / 10;
		printf "c%d,2024-01-%02d,%s,%s,%s,%s\n", i % 10, 1 + i % 28, a, c, age, y
	}
}' >src.csv
cat >cust.json <<'EOS'
{"name": "cust", "source": "src", "entity": "cust", "timestamp": "t",
 "features": [
  {"name": "amount_z", "column": "amount", "transform": "standardize"},
  {"name": "country", "column": "country", "transform": "one-hot"},
  {"name": "age", "column": "age", "transform": "fill-missing", "strategy": "median"},
  {"name": "n_7d", "transform": "count", "window": "7d"},
  {"name": "y", "column": "y", "transform": "identity"}]}
EOS

test_expect_success 'train on a feature set, register, the registry folder carries features.json' '
	git init -q && mlops -q init &&
	mlops -q dataset add src.csv --name src &&
	mlops -q feature add cust.json && mlops -q feature materialize cust &&
	mlops train --builtin linear -f cust --target y --valid-frac 0 -p exclude=cust,t >out &&
	run=$(sed -n "s/^\(r-[0-9a-f]*\) .*succeeded.*/\1/p" out) && test -n "$run" &&
	git add -A && git commit -qm data &&
	mlops -q register cust-model --run $run &&
	start_server cust-model && stop_server &&
	f=$(echo .mlops/tmp/model-*/features.json) && test -f "$f" &&
	grep -q "\"format\":\"mlops-features\"" "$f" &&
	grep -q "\"name\":\"cust\"" "$f" && grep -q "\"params\":{" "$f" &&
	grep -q "\"vocabulary\":\[\"DE\",\"FR\",\"US\"\]" "$f"
'

# The raw rows (amount, country, age as in the source; n_7d, a window,
# from the feature table) and the table's rows for the same entities.
test_expect_success 'raw rows and the feature table rows of the same entities' '
	cut -d, -f1,2 src.csv >ents.csv &&
	mlops -q feature join cust --entities ents.csv --out joined.csv &&
	head -n 1 joined.csv | grep -q "^cust,t,amount_z,country=DE,country=FR,country=US,age,n_7d,y$" &&
	cut -d, -f3,4,5 src.csv >a.csv && cut -d, -f8 joined.csv >b.csv &&
	paste -d, a.csv b.csv >raw.csv && head -n 1 raw.csv | grep -q "^amount,country,age,n_7d$" &&
	csv_to_split raw.csv >raw_split.json && csv_to_v2 raw.csv >raw_v2.json
'

test_expect_success 'metadata lists the raw inputs' '
	start_server cust-model &&
	curl -sf "$(url /v2/models/cust-model)" >meta && stop_server &&
	grep -q "\"inputs\":\[{\"name\":\"amount\",\"datatype\":\"FP64\",\"shape\":\[-1\]},{\"name\":\"country\",\"datatype\":\"BYTES\",\"shape\":\[-1\]},{\"name\":\"age\",\"datatype\":\"FP64\",\"shape\":\[-1\]},{\"name\":\"n_7d\",\"datatype\":\"FP64\",\"shape\":\[-1\]}\]" meta &&
	grep -q "\"features\":{\"name\":\"cust\",\"record\":\"[0-9a-f]*\",\"version\":1}" meta
'

test_expect_success 'raw rows through V2 and MLflow predict what the model gives the table rows' '
	start_server cust-model &&
	post /invocations text/csv raw.csv >ans && test "$(cat status)" = 200 &&
	predictions <ans >csv.txt &&
	post /invocations application/json raw_split.json >ans && test "$(cat status)" = 200 &&
	predictions <ans >split.txt &&
	post /v2/models/cust-model/infer application/json raw_v2.json >ans && test "$(cat status)" = 200 &&
	predictions <ans >v2.txt && stop_server &&
	test $(wc -l <csv.txt) = 60 && test_cmp csv.txt split.txt && test_cmp csv.txt v2.txt &&
	start_server .mlops/tmp/model-*/model.json &&
	post /invocations text/csv joined.csv >ans && test "$(cat status)" = 200 &&
	predictions <ans >table.txt && stop_server &&
	test_cmp table.txt csv.txt
'

test_expect_success 'the predictions are the ones the fitted parameters give by hand' '
	same_numbers csv.txt "$FIX/features_expected.txt" &&
	if /usr/bin/python3 -c "import json, csv" 2>/dev/null; then
		/usr/bin/python3 "$FIX/features_predict.py" .mlops/tmp/model-*/features.json \
			.mlops/tmp/model-*/model.json raw.csv >py.txt &&
		same_numbers csv.txt py.txt
	fi
'

# one_row CSV-ROW: the prediction for amount,country,age,n_7d
one_row() {
	printf "amount,country,age,n_7d\n%s\n" "$1" >one.csv &&
	post /invocations text/csv one.csv | predictions
}

test_expect_success 'unseen categories and missing values behave as documented' '
	start_server cust-model &&
	median=$(sed -n "s/.*\"fill-missing\",\"value\":\([0-9.e+-]*\).*/\1/p;s/.*\"strategy\":\"median\",\"transform\":\"fill-missing\",\"value\":\([0-9.e+-]*\).*/\1/p" .mlops/tmp/model-*/features.json) &&
	test -n "$median" &&
	unseen=$(one_row "40,XX,30,1") && none=$(one_row "40,,30,1") && test "$unseen" = "$none" &&
	fr=$(one_row "40,FR,30,1") && test "$fr" != "$unseen" &&
	gap=$(one_row "40,FR,,1") && filled=$(one_row "40,FR,$median,1") && test "$gap" = "$filled" &&
	printf "amount,country,age,n_7d\nabc,FR,30,1\n" >bad.csv &&
	post /invocations text/csv bad.csv >ans && test "$(cat status)" = 400 &&
	grep -q "column .amount.: .abc. is not a number" ans &&
	printf "amount,country,n_7d\n1,FR,1\n" >bad.csv &&
	post /invocations text/csv bad.csv >ans && test "$(cat status)" = 400 &&
	grep -q "missing column .age." ans &&
	printf "amount,country,age\n1,FR,30\n" >bad.csv &&
	post /invocations text/csv bad.csv >ans && test "$(cat status)" = 400 &&
	grep -q "missing column .n_7d.: a windowed aggregate" ans &&
	printf "{\"instances\": [[40, \"FR\", 30, 1]]}" >pos.json &&
	post /invocations application/json pos.json | predictions >p && test "$(cat p)" = "$fr" &&
	stop_server
'

test_expect_success 'a dir target release holds features.json, listed in its MANIFEST' '
	git config -f .mlops/config deploy.prod.type dir &&
	git config -f .mlops/config deploy.prod.path rel &&
	mlops -q deploy cust-model prod &&
	test -f rel/current/features.json &&
	grep -q "^[0-9a-f]\{64\}  features.json$" rel/current/MANIFEST &&
	(cd rel/current && sha256sum -c MANIFEST) &&
	cmp rel/current/features.json .mlops/tmp/model-*/features.json &&
	start_server rel &&
	post /invocations text/csv raw.csv | predictions >dir.txt && stop_server &&
	test_cmp csv.txt dir.txt
'

test_expect_success 'archive releases carry features.json and stay byte for byte the same' '
	git config -f .mlops/config deploy.box.type archive &&
	git config -f .mlops/config deploy.box.path box1 &&
	git config -f .mlops/config deploy.box2.type archive &&
	git config -f .mlops/config deploy.box2.path box2 &&
	rm -rf .mlops/tmp/model-* &&
	mlops -q deploy cust-model box && mlops -q deploy cust-model box2 &&
	cmp box1/cust-model-v0.0.1.tar.gz box2/cust-model-v0.0.1.tar.gz &&
	tar tzf box1/cust-model-v0.0.1.tar.gz >list && grep -q "features.json$" list
'

test_expect_success 'a command target gets features.json in its staged release' '
	git config -f .mlops/config deploy.ship.type command &&
	git config -f .mlops/config deploy.ship.command "sh ship.sh" &&
	printf "cd \"\$MLOPS_MODEL_DIR\" && sha256sum -c MANIFEST >&2 && grep -q \"  features.json\$\" MANIFEST && cp features.json \"\$OLDPWD/shipped.json\"\n" >ship.sh &&
	mlops -q deploy cust-model ship &&
	cmp shipped.json rel/current/features.json
'

test_expect_success 'SIGHUP reloads the transforms with the model' '
	rm -rf m && mkdir m && cp rel/current/* m/ && start_server m &&
	before=$(one_row "40,FR,30,1") &&
	sed "s/\"mean\":[-0-9.e+]*/\"mean\":0/" m/features.json >f && mv f m/features.json &&
	reload_server &&
	after=$(one_row "40,FR,30,1") && stop_server &&
	test -n "$after" && test "$before" != "$after"
'

test_done
