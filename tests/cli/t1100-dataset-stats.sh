#!/bin/sh
# mlops dataset stats: profiles of files and stored versions.
. "$(dirname "$0")/lib.sh"

mlops -q init
printf 'id,score,city,when\n1,10,paris,2024-01-01\n2,20,rome,2024-01-02\n3,,paris,2024-01-03\n4,40,oslo,\n5,50,paris,2024-01-05\n' >small.csv

num() { sed -n "/\"name\":[[:space:]]*\"$1\"/,/\"name\"/p" stats.json | grep "\"$2\":" | head -1 | sed 's/.*:[[:space:]]*//; s/,$//; s/"//g'; }

test_expect_success 'numbers of a small file match hand-computed values' '
	mlops --json dataset stats small.csv >stats.json &&
	test "$(num score type)" = integer &&
	test "$(num score count)" = 4 && test "$(num score missing)" = 1 &&
	test "$(num score mean)" = 30 &&
	awk "BEGIN { exit !($(num score std) > 18.2574 && $(num score std) < 18.2575) }" &&
	test "$(num score p25)" = 17.5 && test "$(num score p50)" = 30 && test "$(num score p75)" = 42.5 &&
	test "$(num score min)" = 10 && test "$(num score max)" = 50 &&
	test "$(num city type)" = categorical && test "$(num city distinct)" = 3 &&
	test "$(num when type)" = datetime && test "$(num when missing)" = 1
'

test_expect_success 'a file is profiled outside a repository too' '
	mkdir -p /tmp/mlops-stats-$$ && cp small.csv /tmp/mlops-stats-$$/ &&
	(cd /tmp/mlops-stats-$$ && mlops --json dataset stats small.csv) >outside.json; rc=$?
	rm -rf /tmp/mlops-stats-$$; test $rc = 0 &&
	grep -q "\"rows\":[[:space:]]*5" outside.json
'

test_expect_success 'the terminal view shows types, quantiles and a histogram' '
	mlops dataset stats small.csv >out &&
	grep -q "^score  integer" out && grep -q "p50 30" out &&
	grep -q "top: paris (3)" out
'

test_expect_success 'a stored version is profiled from the store' '
	mkdir d && cp small.csv d/t.csv && echo notes >d/readme.md &&
	mlops -q dataset add d --name d &&
	rm -rf d &&
	mlops --json dataset stats d >v.json &&
	grep -q "\"path\":[[:space:]]*\"d/t.csv\"" v.json &&
	grep -q "\"rows\":[[:space:]]*5" v.json
'

test_expect_success 'a large compressed chunked file streams through the store' '
	mkdir big && { echo "a,b"; seq 1 300000 | awk "{ print \$1 \",\" \$1 % 7 }"; } >big/t.csv &&
	mlops -q dataset add big &&
	mlops --json dataset stats big >b.json &&
	grep -q "\"rows\":[[:space:]]*300000" b.json &&
	grep -q "\"mean\":[[:space:]]*150000.5" b.json
'

test_expect_success '--html writes one self-contained page' '
	mlops dataset stats small.csv --html report.html 2>err &&
	grep -q "<svg" report.html && ! grep -q "http://\|https://" report.html &&
	grep -q "score" report.html
'

test_expect_success '--html of a version with several tables puts every table in the page, under its path' '
	mkdir multi && cp small.csv multi/a.csv &&
	printf "x\ty\n1\tq<r\n2\ts\n" >multi/b.tsv &&
	printf "{\"k\":1,\"late\":null}\n{\"k\":2,\"late\":\"z\"}\n" >multi/c.jsonl &&
	mlops -q dataset add multi &&
	mlops dataset stats multi --html multi.html 2>err &&
	grep -q "^wrote multi.html (3 tables)$" err &&
	grep -q "<title>multi@v1 " multi.html &&
	for p in a.csv b.tsv c.jsonl; do
		grep -q "<h2 class=\"table\" id=\"table-[0-9]\">multi/$p</h2>" multi.html &&
		grep -q "<li><a href=\"#table-[0-9]\">multi/$p</a>" multi.html || return 1
	done &&
	grep -q "<h3>score<span" multi.html && grep -q "<h3>y<span" multi.html &&
	grep -q "<h3>late<span" multi.html && grep -q "q&lt;r" multi.html &&
	test $(grep -c "<table><thead><tr><th>column</th>" multi.html) = 3 &&
	! grep -q "http://\|https://\|<script" multi.html &&
	mlops dataset stats multi --path multi/b.tsv --html one.html 2>err &&
	grep -q "^wrote one.html$" err && ! grep -q "class=\"table\"" one.html &&
	grep -q "<h2>y<span" one.html
'

test_expect_success 'a malformed CSV gets an error with its line number and changes nothing' '
	printf "a,b\n1,2\n3,\"x\n" >bad.csv &&
	ls -R .mlops >before &&
	test_expect_code 4 mlops dataset stats bad.csv 2>err &&
	grep -q "bad.csv.*line 3" err &&
	printf "a,b\n1,2\n3\n" >ragged.csv &&
	test_expect_code 4 mlops dataset stats ragged.csv 2>err &&
	grep -q "line 3: expected 2 fields, found 1" err &&
	ls -R .mlops >after && test_cmp before after
'

test_expect_success 'a version without a table says so' '
	mkdir notable && echo x >notable/a.bin && mlops -q dataset add notable &&
	test_expect_code 3 mlops dataset stats notable 2>err && grep -q "no table" err
'

test_expect_success 'agrees with pandas describe() on the breast-cancer data' '
	if ! /usr/bin/python3 -c "import pandas" 2>/dev/null; then say "pandas not installed: skipped"; return 0; fi
	cp "$TEST_ROOT/examples/data/breast_cancer.csv" bc.csv &&
	mlops --json dataset stats bc.csv >bc.json &&
	/usr/bin/python3 - bc.csv bc.json <<-\PY
	import json, sys, pandas as pd
	df = pd.read_csv(sys.argv[1]); st = json.load(open(sys.argv[2]))
	d = df.describe()
	for col in st["columns"]:
	    n = col["name"]
	    for ours, theirs in (("mean", "mean"), ("std", "std"), ("min", "min"), ("p25", "25%"), ("p50", "50%"), ("p75", "75%"), ("max", "max")):
	        a, b = col[ours], d[n][theirs]
	        assert abs(a - b) <= 1e-9 * max(1, abs(b)), (n, ours, a, b)
	    assert col["count"] == d[n]["count"], n
	    assert col["distinct"] == df[n].nunique(), n
	print("ok", len(st["columns"]), "columns")
	PY
'

test_expect_success 'beyond exact counting: distinct at most count, top values only the surely frequent' '
	{ echo k; seq 1 300000 | sed "s/^/r/"; } >uniq.csv &&
	mlops --json dataset stats uniq.csv >stats.json &&
	test "$(num k distinct_exact)" = false && test "$(num k distinct)" -le 300000 &&
	test "$(num k top_error)" = 1167 && grep -q "\"top\":[[:space:]]*\[\]" stats.json &&
	awk "BEGIN { print \"k\"; for (i = 0; i < 100000; i++) print \"u\" i;
		for (i = 0; i < 5000; i++) print \"hot\"; for (i = 0; i < 3000; i++) print \"warm\";
		for (i = 0; i < 300; i++) print \"cool\" }" >hh.csv &&
	mlops --json dataset stats hh.csv >stats.json &&
	test "$(num k top_exact)" = false && test "$(num k top_error)" = 421 &&
	tr -d " \t\n" <stats.json >flat &&
	grep -q "\"top\":\[{\"value\":\"hot\",\"count\":5000},{\"value\":\"warm\",\"count\":3000}\]" flat &&
	mlops dataset stats hh.csv >out && grep -q "top: hot (>=5000) warm (>=3000)$" out
'

test_expect_success 'JSON lines: a key first seen after line 1 is a column, missing in the rows before' '
	printf "{\"a\":1,\"c\":null}\n{\"a\":2}\n{\"a\":3,\"c\":4}\n" >ok.jsonl &&
	mlops --json dataset stats ok.jsonl >stats.json &&
	test "$(num c count)" = 1 && test "$(num c missing)" = 2 &&
	printf "{\"a\":1}\n{\"a\":2}\n{\"a\":3,\"c\":4}\n{\"b\":\"x\",\"a\":5,\"c\":6}\n" >new.jsonl &&
	mlops --json dataset stats new.jsonl >stats.json &&
	tr -d " \t\n" <stats.json | grep -o "\"name\":\"[a-z]*\"" >names &&
	printf "\"name\":\"%s\"\n" a c b >expect && test_cmp expect names &&
	test "$(num a count)" = 4 && test "$(num a missing)" = 0 &&
	test "$(num c count)" = 2 && test "$(num c missing)" = 2 && test "$(num c mean)" = 5 &&
	test "$(num b count)" = 1 && test "$(num b missing)" = 3 &&
	mlops dataset stats new.jsonl >out && grep -q "^c  integer" out &&
	grep -q "count 1  missing 3 (75.0%)" out
'

test_expect_success 'JSON lines with keys first seen deep in a large file agree with pandas, on disk and stored' '
	if ! /usr/bin/python3 -c "import pandas" 2>/dev/null; then say "pandas not installed: skipped"; return 0; fi
	awk "BEGIN { for (i = 1; i <= 200000; i++) {
		s = \"\\\"id\\\":\" i;
		if (i > 1 && i % 3) s = (i % 2 ? s \",\" : \"\") \"\\\"x\\\":\" (i % 97) * 0.5 (i % 2 ? \"\" : \",\" s);
		if (i >= 5 && i % 2) s = s \",\\\"tag\\\":\\\"t\" (i % 5) \"\\\"\";
		if (i == 7) s = s \",\\\"nul\\\":null\";
		if (i == 100000) s = s \",\\\"once\\\":42\";
		if (i > 150000) s = s \",\\\"late\\\":\" (i * 7) % 1000;
		print \"{\" s \"}\" } }" >deep.jsonl &&
	head -3 deep.jsonl >head && sed -n 150001p deep.jsonl >>head &&
	cat >expect <<-\EOF &&
	{"id":1}
	{"x":1,"id":2}
	{"id":3}
	{"id":150001,"x":19.5,"tag":"t1","late":7}
	EOF
	test_cmp expect head &&
	mlops --json dataset stats deep.jsonl >deep.json &&
	mkdir jl && cp deep.jsonl jl/ && mlops -q dataset add jl &&
	mlops --json dataset stats jl >stored.json &&
	/usr/bin/python3 - deep.jsonl deep.json stored.json <<-\PY
	import json, math, sys, pandas as pd
	df = pd.read_json(sys.argv[1], lines=True)
	for path in sys.argv[2:]:
	    st = json.load(open(path))
	    assert st["rows"] == len(df), (st["rows"], len(df))
	    assert [c["name"] for c in st["columns"]] == list(df.columns), [c["name"] for c in st["columns"]]
	    for col in st["columns"]:
	        n, s = col["name"], df[col["name"]]
	        assert col["count"] == s.count(), (n, col["count"], s.count())
	        assert col["missing"] == s.isna().sum(), (n, col["missing"])
	        if col["distinct_exact"]:
	            assert col["distinct"] == s.nunique(), (n, col["distinct"], s.nunique())
	        if col["mean"] is None:
	            continue
	        d = s.describe()
	        stats = ["mean", "std", "min", "max"] + (["p25", "p50", "p75"] if col["quantiles_exact"] else [])
	        for ours in stats:
	            theirs = {"p25": "25%", "p50": "50%", "p75": "75%"}.get(ours, ours)
	            a, b = col[ours], d[theirs]
	            if a is None:
	                assert math.isnan(b), (n, ours, b)
	                continue
	            assert abs(a - b) <= 1e-9 * max(1, abs(b)), (n, ours, a, b)
	print("ok", list(df.columns))
	PY
	cp deep.json stats.json && test "$(num late quantiles_exact)" = true && test "$(num id distinct_exact)" = false
'

test_expect_success 'outside a repository a missing table file is "not found" (exit 3)' '
	mkdir -p /tmp/mlops-stats-nf-$$ && cd /tmp/mlops-stats-nf-$$ &&
	{ test_expect_code 3 mlops dataset stats nonexist.csv 2>err &&
	  grep -q "^mlops: unable to open .nonexist.csv.: No such file" err &&
	  test_expect_code 3 mlops dataset stats sub/x.tsv 2>err &&
	  test_expect_code 8 mlops dataset stats train@v1 2>err; }; rc=$?
	cd / && rm -rf /tmp/mlops-stats-nf-$$; return $rc
'

test_expect_success 'terminal view: quoted names, datetime std in seconds, shown under -q' '
	printf "k,t\n\"x\ny\",2024-01-01\n\"x\ny\",2024-01-03\nz,2024-01-02\n" >nl.csv &&
	mlops -q dataset stats nl.csv >out &&
	grep -q "top: \"x\\\\ny\" (2) z (1)$" out && grep -q "std 86400 s$" out &&
	test $(wc -l <out) -gt 5
'

test_expect_success '--json is UTF-8 text: a name or value that is not UTF-8 has U+FFFD for each stray byte' '
	printf "a,caf\351\nx\377\376,1\n\303\251t\303\251,2\n" >latin.csv &&
	mlops --json dataset stats latin.csv >latin.json &&
	iconv -f UTF-8 -t UTF-8 latin.json >/dev/null &&
	r=$(printf "\357\277\275") && e=$(printf "\303\251") &&
	grep -q "\"name\":[[:space:]]*\"caf$r\"" latin.json &&
	grep -q "\"value\":[[:space:]]*\"x$r$r\"" latin.json &&
	grep -q "\"value\":[[:space:]]*\"${e}t$e\"" latin.json
'

test_expect_success 'terminal view: a name or value that is not UTF-8 is quoted, its stray bytes in octal' '
	mlops dataset stats latin.csv >out &&
	grep -q "^\"caf\\\\351\"  integer$" out &&
	grep -q "top: \"x\\\\377\\\\376\" (1) $(printf "\303\251t\303\251") (1)$" out &&
	iconv -f UTF-8 -t UTF-8 out >/dev/null
'

test_done
