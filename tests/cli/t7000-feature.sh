#!/bin/sh
# mlops feature: add, materialize, transforms, windows, get, point-in-time join.
. "$(dirname "$0")/lib.sh"

mlops -q init

# Hand-computed values (z agrees with scikit-learn's StandardScaler):
# x = 1, 3, (missing), 7, -1: mean 2.5, population
# std sqrt(8.75), min -1, max 7, median 2; c: red x3, blue, green.
cat >src.csv <<\EOF
id,ts,x,c
a,2024-01-01,1,red
a,2024-01-02,3,blue
b,2024-01-01,,red
b,2024-01-03,7,green
c,2024-01-02,-1,red
EOF

cat >t.json <<\EOF
{"name": "t", "source": "src", "entity": "id", "timestamp": "ts",
 "features": [
  {"name": "x", "column": "x", "transform": "identity"},
  {"name": "z", "column": "x", "transform": "standardize"},
  {"name": "mm", "column": "x", "transform": "minmax"},
  {"name": "lg", "column": "x", "transform": "log1p"},
  {"name": "cl", "column": "x", "transform": "clip", "min": 0, "max": 5},
  {"name": "bk", "column": "x", "transform": "bucketize", "edges": [0, 2, 5]},
  {"name": "bq", "column": "x", "transform": "bucketize", "bins": 4},
  {"name": "c", "column": "c", "transform": "one-hot", "max_categories": 2, "unseen": "other"},
  {"name": "cz", "column": "c", "transform": "one-hot", "vocabulary": ["red", "green"]},
  {"name": "fmean", "column": "x", "transform": "fill-missing", "strategy": "mean"},
  {"name": "fmed", "column": "x", "transform": "fill-missing", "strategy": "median"},
  {"name": "fcon", "column": "c", "transform": "fill-missing", "strategy": "constant", "value": "none"}
 ]}
EOF

test_expect_success 'add a spec and materialize it' '
	mlops -q dataset add src.csv &&
	mlops feature add t.json >out &&
	grep -q "^t spec v1 [0-9a-f]\{8\}  12 features" out &&
	mlops feature materialize t >out &&
	grep -q "^t@v1 [0-9a-f]\{8\}  5 rows, 3 entities from src@v1" out &&
	grep -q "\"features\": {" mlops.lock && grep -q "\"spec_version\":1" mlops.lock
'

test_expect_success 'each transform against hand-computed values' '
	mlops feature get t a --at 2024-01-02 >out &&
	cat >expect <<-\EOF &&
	id                       a
	ts                       2024-01-02T00:00:00Z
	x                        3
	z                        0.1690308509457033
	mm                       0.5
	lg                       1.3862943611198906
	cl                       3
	bk                       2
	bq                       2
	c=blue                   1
	c=red                    0
	c=__other__              0
	cz=green                 0
	cz=red                   0
	fmean                    3
	fmed                     3
	fcon                     blue
	EOF
	test_cmp expect out
'

test_expect_success 'one-hot: an unseen value goes to other or to all zeros' '
	mlops --json feature get t b >out &&
	grep -q "\"c=__other__\":[[:space:]]*1" out &&
	grep -q "\"c=blue\":[[:space:]]*0" out &&
	grep -q "\"cz=green\":[[:space:]]*1" out &&
	grep -q "\"cl\":[[:space:]]*5" out &&
	grep -q "\"bk\":[[:space:]]*3" out &&
	grep -q "\"bq\":[[:space:]]*3" out
'

test_expect_success 'missing values: empty out, filled by mean, median or constant' '
	mlops --json feature get t b --at 2024-01-01 >out &&
	grep -q "\"x\":[[:space:]]*null" out &&
	grep -q "\"z\":[[:space:]]*null" out &&
	grep -q "\"fmean\":[[:space:]]*2.5" out &&
	grep -q "\"fmed\":[[:space:]]*2" out &&
	grep -q "\"c=red\":[[:space:]]*1" out &&
	mlops --json feature get t c >out &&
	grep -q "\"lg\":[[:space:]]*null" out &&
	grep -q "\"cl\":[[:space:]]*0" out &&
	grep -q "\"bk\":[[:space:]]*0" out &&
	grep -q "\"mm\":[[:space:]]*0," out
'

test_expect_success 'show lists fitted parameters and statistics; --json has them' '
	mlops feature show t >out &&
	grep -q "mean=2.5" out && grep -q "std=2.958039891549808" out &&
	grep -q "vocabulary=\[\"blue\",\"red\"\]" out &&
	grep -q "edges=\[1,3,5\]" out &&
	grep -q "^  fmed .*value=2$" out &&
	mlops --json feature show t >out.json &&
	grep -q "\"type\":[[:space:]]*\"feature-set\"" out.json &&
	grep -q "\"stats\":" out.json && grep -q "\"histogram\":" out.json
'

test_expect_success 're-materializing the same spec on the same source is a no-op' '
	mlops feature materialize t >out &&
	grep -q "t@v1 .* is up to date" out &&
	mlops feature log t >log && test $(grep -c "^version v" log) = 1 &&
	mlops feature add t.json >out && grep -q "up to date" out
'

test_expect_success 'a new source version makes a new feature version; --source picks one' '
	echo "d,2024-01-05,2,red" >>src.csv &&
	mlops -q dataset add src.csv &&
	mlops feature materialize t >out && grep -q "^t@v2 .* 6 rows, 4 entities from src@v2" out &&
	mlops feature materialize t --source src@v1 >out && grep -q "^t@v3 .* 5 rows, 3 entities from src@v1" out &&
	mlops feature get t@v2 d >/dev/null &&
	test_expect_code 3 mlops feature get t@v3 d 2>err && grep -q "entity .d. not found" err &&
	mlops feature list >out && grep -q "^t  *spec v1  *v3" out
'

# Windows: (t - 7d, t]; rows at the same time see each other.
cat >ev.csv <<\EOF
user,time,created,v
e,2024-03-01T00:00:00Z,2024-03-01T00:00:00Z,1
e,2024-03-04T00:00:00Z,2024-03-04T00:00:00Z,2
e,2024-03-08T00:00:00Z,2024-03-08T12:00:00Z,4
e,2024-03-08T00:00:00Z,2024-03-08T06:00:00Z,8
e,2024-03-21T00:00:00Z,2024-03-21T00:00:00Z,16
f,1709251200,1709251200,100
EOF

cat >w.json <<\EOF
{"name": "w", "source": "ev", "entity": ["user"], "timestamp": "time", "created": "created", "ttl": "10d",
 "features": [
  {"name": "v", "column": "v", "transform": "identity"},
  {"name": "n7", "transform": "count", "window": "7d"},
  {"name": "s7", "column": "v", "transform": "sum", "window": "7d"},
  {"name": "m7", "column": "v", "transform": "mean", "window": "7d"},
  {"name": "lo7", "column": "v", "transform": "min", "window": "7d"},
  {"name": "hi7", "column": "v", "transform": "max", "window": "7d"}
 ]}
EOF

test_expect_success 'windowed aggregates at the window edges' '
	mlops -q dataset add ev.csv &&
	mlops -q feature add w.json && mlops -q feature materialize w &&
	cat >ents.csv <<-\EOF &&
	user,time
	e,2024-03-01
	e,2024-03-04
	e,2024-03-08
	e,2024-03-21
	EOF
	mlops -q feature join w --entities ents.csv --out j.csv &&
	cat >expect <<-\EOF &&
	user,time,v,n7,s7,m7,lo7,hi7
	e,2024-03-01,1,1,1,1,1,1
	e,2024-03-04,2,2,3,1.5,1,2
	e,2024-03-08,4,3,14,4.666666666666667,2,8
	e,2024-03-21,16,1,16,16,16,16
	EOF
	test_cmp expect j.csv
'

test_expect_success 'point-in-time join: before the first event, at an event, ties, TTL' '
	cat >ents.csv <<-\EOF &&
	time,user,label
	2024-02-29T23:59:59Z,e,0
	2024-03-04T00:00:00Z,e,1
	2024-03-03T23:59:59.999Z,e,2
	2024-03-08T00:00:00+00:00,e,3
	2024-03-18T00:00:00Z,e,4
	2024-03-18T00:00:01Z,e,5
	1709251200,f,6
	2024-03-01,nobody,7
	EOF
	mlops feature join w --entities ents.csv --out j.csv >out &&
	grep -q "j.csv: 8 rows, 9 columns" out &&
	cat >expect <<-\EOF &&
	time,user,label,v,n7,s7,m7,lo7,hi7
	2024-02-29T23:59:59Z,e,0,,,,,,
	2024-03-04T00:00:00Z,e,1,2,2,3,1.5,1,2
	2024-03-03T23:59:59.999Z,e,2,1,1,1,1,1,1
	2024-03-08T00:00:00+00:00,e,3,4,3,14,4.666666666666667,2,8
	2024-03-18T00:00:00Z,e,4,4,3,14,4.666666666666667,2,8
	2024-03-18T00:00:01Z,e,5,,,,,,
	1709251200,f,6,100,1,100,100,100,100
	2024-03-01,nobody,7,,,,,,
	EOF
	test_cmp expect j.csv &&
	grep -q "\"rows\":[[:space:]]*8" j.csv.manifest.json &&
	grep -q "\"source_name\":[[:space:]]*\"ev\"" j.csv.manifest.json &&
	sha256sum j.csv | cut -d" " -f1 >sum && grep -q "$(cat sum)" j.csv.manifest.json
'

test_expect_success 'get: latest, --at, TTL, unknown entity' '
	mlops --json feature get w e >out &&
	grep -q "\"time\":[[:space:]]*\"2024-03-21T00:00:00Z\"" out &&
	grep -q "\"s7\":[[:space:]]*16" out &&
	mlops --json feature get w e --at 2024-03-08T00:00:00Z >out &&
	grep -q "\"v\":[[:space:]]*4," out &&
	test_expect_code 3 mlops feature get w e --at 2024-03-19 2>err &&
	grep -q "no value" err &&
	test_expect_code 3 mlops feature get w e --at 2024-02-01 2>err &&
	test_expect_code 3 mlops feature get w zz 2>err && grep -q "not found" err &&
	test_expect_code 4 mlops feature get w e --at yesterday 2>err && grep -q "^mlops: --at: .yesterday. is not a time" err &&
	test_expect_code 3 mlops --json feature get w e --at -1 >out 2>err &&
	grep -q "\"at\":[[:space:]]*\"1969-12-31T23:59:59Z\"" out &&
	mlops --json feature get w e --at 1710979200.5 >out &&
	grep -q "\"at\":[[:space:]]*\"2024-03-21T00:00:00.500Z\"" out
'

test_expect_success 'join of two sets renames a taken column' '
	printf "user,id,time\ne,a,2024-03-05\n" >two.csv &&
	mlops feature join w t --entities two.csv --out j2.csv --timestamp time &&
	head -1 j2.csv | grep -q ",v,n7,s7,m7,lo7,hi7,x,z," &&
	sed -n 2p j2.csv | grep -q "^e,a,2024-03-05,2,2,3,1.5,1,2,3,"
'

test_expect_success 'invalid specs: errors name the field and change nothing' '
	sed "s/\"column\": \"v\", \"transform\": \"identity\"/\"column\": \"nope\", \"transform\": \"identity\"/" w.json >bad1.json &&
	test_expect_code 4 mlops feature add bad1.json 2>err &&
	grep -q "features\[0\].column: unknown column .nope." err &&
	sed "s/\"transform\": \"identity\"/\"transform\": \"square\"/" w.json >bad2.json &&
	test_expect_code 4 mlops feature add bad2.json 2>err &&
	grep -q "features\[0\] (.v.).transform: unknown transform .square." err &&
	sed "s/\"window\": \"7d\"}/\"window\": \"7x\"}/" w.json >bad3.json &&
	test_expect_code 4 mlops feature add bad3.json 2>err &&
	grep -q "\.window: .7x. is not a duration" err &&
	sed "s/\"entity\": \[\"user\"\]/\"entity\": [\"who\"]/" w.json >bad4.json &&
	test_expect_code 4 mlops feature add bad4.json 2>err && grep -q "entity: unknown column .who." err &&
	sed "s/\"source\": \"ev\"/\"source\": \"missing\"/" w.json >bad5.json &&
	test_expect_code 3 mlops feature add bad5.json 2>err && grep -q "dataset .missing. not found" err &&
	sed "s/\"ttl\": \"10d\"/\"ttl\": \"10d\", \"colour\": 1/" w.json >bad6.json &&
	test_expect_code 4 mlops feature add bad6.json 2>err && grep -q "unknown field .colour." err &&
	printf "{\"name\": \"w\",\n\"source\": }\n" >bad7.json &&
	test_expect_code 4 mlops feature add bad7.json 2>err && grep -q "line 2: not valid JSON" err &&
	mlops feature log w >log && test $(grep -c "^spec v" log) = 1
'

test_expect_success 'specs: trailing text, a key given twice and a wrong type are refused' '
	{ cat w.json; echo "}"; } >bad8.json &&
	test_expect_code 4 mlops feature add bad8.json 2>err &&
	grep -q "bad8.json. line 1[0-9]: unexpected text after the JSON object" err &&
	sed "s/\"ttl\": \"10d\"/\"ttl\": \"10d\", \"name\": \"w9\"/" w.json >bad9.json &&
	test_expect_code 4 mlops feature add bad9.json 2>err &&
	grep -q "bad9.json.: key .name. is given twice" err &&
	sed "s/\"window\": \"7d\"}/\"window\": \"7d\", \"window\": \"1d\"}/" w.json >bad10.json &&
	test_expect_code 4 mlops feature add bad10.json 2>err &&
	grep -q "features\[1\]: key .window. is given twice" err &&
	sed "s/\"name\": \"w\"/\"name\": 5/" w.json >bad11.json &&
	test_expect_code 4 mlops feature add bad11.json 2>err &&
	grep -q "name: must be a string" err &&
	sed "s/\"name\": \"v\"/\"name\": [\"v\"]/" w.json >bad12.json &&
	test_expect_code 4 mlops feature add bad12.json 2>err &&
	grep -q "features\[0\].name: must be a string" err &&
	sed "s/\"window\": \"7d\"}/\"window\": 7}/" w.json >bad13.json &&
	test_expect_code 4 mlops feature add bad13.json 2>err &&
	grep -q "features\[1\] (.n7.).window: must be a string" err &&
	sed "s/\"source\": \"ev\"/\"source\": 1/" w.json >bad14.json &&
	test_expect_code 4 mlops feature add bad14.json 2>err &&
	grep -q "source: must be a string" err &&
	{ cat w.json; printf "\n  \n"; } >ok15.json && mlops -q feature add ok15.json &&
	mlops feature log w >log && test $(grep -c "^spec v" log) = 1
'

test_expect_success 'text in a numeric column is an error naming the line' '
	printf "user,time,v\nq,2024-01-01,1\nq,2024-01-02,abc\n" >badsrc.csv &&
	mlops -q dataset add badsrc.csv &&
	sed "s/\"source\": \"ev\"/\"source\": \"badsrc\"/; s/\"created\": \"created\", //; s/\"name\": \"w\"/\"name\": \"bad\"/" w.json >bs.json &&
	mlops -q feature add bs.json &&
	test_expect_code 4 mlops feature materialize bad 2>err &&
	grep -q "line 3: column .v.: .abc. is not a number" err &&
	test_expect_code 3 mlops feature show bad@v1
'

test_expect_success 'a number beyond the range of a double is an error naming the line' '
	printf "user,time,v\nq,2024-01-01,1\nq,2024-01-02,-1e400\n" >ovf.csv &&
	mlops -q dataset add ovf.csv &&
	sed "s/\"source\": \"badsrc\"/\"source\": \"ovf\"/; s/\"name\": \"bad\"/\"name\": \"ovf\"/" bs.json >ovf.json &&
	mlops -q feature add ovf.json &&
	test_expect_code 4 mlops feature materialize ovf 2>err &&
	grep -q "line 3: column .v.: .-1e400. is out of the range of a double" err &&
	cat >ovf2.json <<-\EOF &&
	{"name": "ovf2", "source": "ovf", "entity": "user", "timestamp": "time",
	 "features": [{"name": "z", "column": "v", "transform": "standardize"}]}
	EOF
	mlops -q feature add ovf2.json &&
	test_expect_code 4 mlops feature materialize ovf2 2>err &&
	grep -q "line 3: column .v.: .-1e400. is out of the range of a double" err
'

test_expect_success 'sorting in spilled runs gives the same table' '
	sed "s/\"name\": \"w\"/\"name\": \"w2\"/" w.json >w2.json &&
	mlops -q feature add w2.json &&
	MLOPS_FEATURE_SORT_MEMORY=100 mlops -q feature materialize w2 &&
	mlops -q feature join w2 --entities ents.csv --out j3.csv &&
	test_cmp j.csv j3.csv &&
	! ls .mlops/tmp | grep -q feature
'

test_expect_success 'thousands of spilled runs merge in passes with a few files open' '
	awk "BEGIN { print \"k,t,v\"; for (i = 0; i < 3000; i++) printf \"e%d,%d,%d\\n\", (i * 7919) % 211, (i * 104729) % 5003, i % 97 }" >runs.csv &&
	mlops -q dataset add runs.csv &&
	for n in runs runs2; do
		cat >$n.json <<-EOF || return 1
		{"name": "$n", "source": "runs", "entity": "k", "timestamp": "t",
		 "features": [{"name": "v", "column": "v", "transform": "identity"},
		              {"name": "s", "column": "v", "transform": "sum", "window": "100s"}]}
		EOF
		mlops -q feature add $n.json || return 1
	done &&
	(ulimit -n 100 && MLOPS_FEATURE_SORT_MEMORY=1 mlops -q feature materialize runs) &&
	mlops -q feature materialize runs2 &&
	mlops --json feature show runs | grep -A3 "\"table\":" | grep "\"id\"" >t1 &&
	mlops --json feature show runs2 | grep -A3 "\"table\":" | grep "\"id\"" >t2 &&
	test_cmp t1 t2 &&
	! ls .mlops/tmp | grep -q feature &&
	(export MLOPS_FEATURE_SORT_MEMORY=abc && test_expect_code 2 mlops feature materialize runs) 2>err &&
	grep -q "MLOPS_FEATURE_SORT_MEMORY: .abc. is not a number of bytes" err &&
	(export MLOPS_FEATURE_SORT_MEMORY=0 && test_expect_code 2 mlops feature materialize runs)
'

test_expect_success 'property: the join equals a brute-force point-in-time join' '
	test -x /usr/bin/python3 || return 0
	/usr/bin/python3 - <<-\EOF &&
	import random
	random.seed(7)
	rows = []
	with open("rnd.csv", "w") as f:
	    f.write("k,t,cr,x\n")
	    for i in range(8000):
	        r = (random.choice("abcdefg"), random.randint(0, 400), random.randint(0, 3), random.randint(-50, 50))
	        rows.append((i,) + r)
	        f.write("%s,%d,%d,%d\n" % r[:4])
	ents = [(random.choice("abcdefgh"), random.randint(-10, 420)) for _ in range(2000)]
	with open("rents.csv", "w") as f:
	    f.write("k,t\n")
	    for k, t in ents:
	        f.write("%s,%d\n" % (k, t))
	ttl, win = 60, 30
	with open("rexpect.csv", "w") as f:
	    f.write("k,t,x,s\n")
	    for k, t in ents:
	        cand = [r for r in rows if r[1] == k and r[2] <= t]
	        if not cand:
	            f.write("%s,%d,,\n" % (k, t)); continue
	        best = max(cand, key=lambda r: (r[2], r[3], r[0]))
	        if t - best[2] > ttl:
	            f.write("%s,%d,,\n" % (k, t)); continue
	        s = sum(r[4] for r in rows if r[1] == k and best[2] - win < r[2] <= best[2])
	        f.write("%s,%d,%d,%d\n" % (k, t, best[4], s))
	with open("rget.txt", "w") as f:
	    for k, t in ents[:12]:
	        cand = [r for r in rows if r[1] == k and r[2] <= t]
	        best = max(cand, key=lambda r: (r[2], r[3], r[0])) if cand else None
	        f.write("%s %d %s\n" % (k, t, best[4] if best and t - best[2] <= ttl else "-"))
	EOF
	mlops -q dataset add rnd.csv &&
	cat >rnd.json <<-\EOF &&
	{"name": "rnd", "source": "rnd", "entity": "k", "timestamp": "t", "created": "cr", "ttl": "60s",
	 "features": [{"name": "x", "column": "x", "transform": "identity"},
	              {"name": "s", "column": "x", "transform": "sum", "window": "30s"}]}
	EOF
	mlops -q feature add rnd.json && mlops -q feature materialize rnd &&
	mlops -q feature join rnd --entities rents.csv --out rout.csv &&
	test_cmp rexpect.csv rout.csv &&
	while read k t want; do
		if test "$want" = -; then
			test_expect_code 3 mlops feature get rnd $k --at $t >/dev/null 2>&1 || return 1
		else
			mlops --json feature get rnd $k --at $t >g.json &&
			grep -q "\"x\":[[:space:]]*$want," g.json || { echo "get $k $t: want $want" >&2; return 1; }
		fi
	done <rget.txt
'

test_expect_success 'get reads through a table of many pieces and an entity larger than a piece' '
	awk "BEGIN { print \"k,t,x\"; for (i = 0; i < 90000; i++) printf \"big,%d,%d\\n\", i, i % 977;
		for (i = 0; i < 3000; i++) printf \"s%04d,%d,%d\\n\", i, i, i }" >big.csv &&
	mlops -q dataset add big.csv &&
	cat >big.json <<-\EOF &&
	{"name": "big", "source": "big", "entity": "k", "timestamp": "t",
	 "features": [{"name": "x", "column": "x", "transform": "identity"}]}
	EOF
	mlops -q feature add big.json && mlops -q feature materialize big &&
	mlops --json feature show big >show.json && grep -q "\"kind\":[[:space:]]*\"chunks\"" show.json &&
	mlops --json feature get big big --at 45678 >out && grep -q "\"x\":[[:space:]]*736" out &&
	mlops --json feature get big big >out && grep -q "\"x\":[[:space:]]*115$" out &&
	mlops --json feature get big s2999 >out && grep -q "\"x\":[[:space:]]*2999" out &&
	mlops --json feature get big s0000 >out && grep -q "\"x\":[[:space:]]*0" out &&
	printf "k,t\nbig,89999\ns1500,1500\ns1500,1499\nbig,0\n" >be.csv &&
	mlops -q feature join big --entities be.csv --out bo.csv &&
	printf "k,t,x\nbig,89999,115\ns1500,1500,1500\ns1500,1499,\nbig,0,0\n" >expect &&
	test_cmp expect bo.csv
'

test_expect_success 'count of a text column counts its non-missing values' '
	printf "id,ts,c\na,2024-05-01,foo\na,2024-05-02,\na,2024-05-03,bar\na,2024-05-04,NA\n" >cc.csv &&
	mlops -q dataset add cc.csv &&
	cat >cc.json <<-\EOF &&
	{"name": "cc", "source": "cc", "entity": "id", "timestamp": "ts",
	 "features": [{"name": "n", "column": "c", "transform": "count", "window": "7d"},
	              {"name": "rows", "transform": "count", "window": "7d"}]}
	EOF
	mlops -q feature add cc.json && mlops -q feature materialize cc &&
	mlops feature get cc a --at 2024-05-03 >out &&
	grep -q "^n  *2$" out && grep -q "^rows  *3$" out &&
	mlops feature get cc a >out &&
	grep -q "^n  *2$" out && grep -q "^rows  *4$" out
'

# Values leave a window exactly (pandas rolling("1h") gives the same).
test_expect_success 'sliding sum and mean lose nothing to cancellation' '
	cat >adv.csv <<-\EOF &&
	id,ts,v
	a,2024-05-01T00:00:00,1e20
	a,2024-05-01T00:00:01,1.5
	a,2024-05-01T01:00:00,2.25
	a,2024-05-01T01:00:01,-3.75
	a,2024-05-01T02:00:01,1e-30
	EOF
	mlops -q dataset add adv.csv &&
	cat >adv.json <<-\EOF &&
	{"name": "adv", "source": "adv", "entity": "id", "timestamp": "ts",
	 "features": [{"name": "s", "column": "v", "transform": "sum", "window": "1h"},
	              {"name": "m", "column": "v", "transform": "mean", "window": "1h"}]}
	EOF
	mlops -q feature add adv.json && mlops -q feature materialize adv &&
	printf "id,ts\na,2024-05-01T00:00:01\na,2024-05-01T01:00:00\na,2024-05-01T01:00:01\na,2024-05-01T02:00:01\n" >adve.csv &&
	mlops -q feature join adv --entities adve.csv --out advo.csv &&
	cat >expect <<-\EOF &&
	id,ts,s,m
	a,2024-05-01T00:00:01,1e+20,5e+19
	a,2024-05-01T01:00:00,3.75,1.875
	a,2024-05-01T01:00:01,-1.5,-0.75
	a,2024-05-01T02:00:01,1e-30,1e-30
	EOF
	test_cmp expect advo.csv
'

test_expect_success 'property: sliding sums equal an exactly rounded sum of the window' '
	test -x /usr/bin/python3 || return 0
	/usr/bin/python3 - <<-\EOF &&
	import random
	random.seed(11)
	t = 0
	with open("xs.csv", "w") as f:
	    f.write("k,t,v\n")
	    for i in range(3000):
	        t += random.randint(0, 3)
	        v = random.choice([-1, 1]) * random.choice([1e300, 1e20, 1e16, 1.0, 1e-3, 1e-20, 1e-310]) * random.random()
	        f.write("%s,%d,%r\n" % (random.choice("ab"), t, v))
	EOF
	mlops -q dataset add xs.csv &&
	cat >xs.json <<-\EOF &&
	{"name": "xs", "source": "xs", "entity": "k", "timestamp": "t",
	 "features": [{"name": "v", "column": "v", "transform": "identity"},
	              {"name": "s", "column": "v", "transform": "sum", "window": "10s"},
	              {"name": "m", "column": "v", "transform": "mean", "window": "10s"}]}
	EOF
	mlops -q feature add xs.json && mlops -q feature materialize xs &&
	{ echo k,t; tail -n +2 xs.csv | cut -d, -f1,2 | sort -u; } >xse.csv &&
	mlops -q feature join xs --entities xse.csv --out xso.csv &&
	/usr/bin/python3 - <<-\EOF
	import csv, math, sys
	rows = [(r["k"], int(r["t"]), float(r["v"])) for r in csv.DictReader(open("xs.csv"))]
	bad = 0
	for r in csv.DictReader(open("xso.csv")):
	    k, t = r["k"], int(r["t"])
	    w = [v for (kk, tt, v) in rows if kk == k and t - 10 < tt <= t]
	    s = math.fsum(w)
	    if float(r["s"]) != s or float(r["m"]) != s / len(w):
	        bad += 1
	        print(k, t, r["s"], repr(s), file=sys.stderr)
	sys.exit(1 if bad else 0)
	EOF
'

test_expect_success 'a missing entity is an error naming the line; in a join it matches nothing' '
	printf "id,ts,v\na,2024-05-01,1\n,2024-05-02,2\n" >me.csv &&
	mlops -q dataset add me.csv &&
	cat >me.json <<-\EOF &&
	{"name": "me", "source": "me", "entity": "id", "timestamp": "ts",
	 "features": [{"name": "v", "column": "v", "transform": "identity"}]}
	EOF
	mlops -q feature add me.json &&
	test_expect_code 4 mlops feature materialize me 2>err &&
	grep -q "line 3: column .id.: the entity is missing" err &&
	printf "id,ts,v\na,2024-05-01,1\nNA,2024-05-02,2\n" >me.csv &&
	mlops -q dataset add me.csv &&
	test_expect_code 4 mlops feature materialize me 2>err &&
	grep -q "line 3: column .id.: the entity is missing" err &&
	test_expect_code 3 mlops feature show me@v1 &&
	printf "id,ts,v\na,2024-05-01,1\nb,2024-05-02,2\n" >me.csv &&
	mlops -q dataset add me.csv && mlops -q feature materialize me &&
	printf "id,ts\na,2024-05-03\n,2024-05-03\nnull,2024-05-03\nb,2024-05-03\n" >mee.csv &&
	mlops -q feature join me --entities mee.csv --out meo.csv &&
	printf "id,ts,v\na,2024-05-03,1\n,2024-05-03,\nnull,2024-05-03,\nb,2024-05-03,2\n" >expect &&
	test_cmp expect meo.csv &&
	test_expect_code 3 mlops feature get me ""
'

test_expect_success 'no output has a column twice' '
	printf "user,time,v,w.v\ne,2024-03-05,x,y\n" >dup.csv &&
	mlops -q feature join w --entities dup.csv --out dupo.csv &&
	head -1 dupo.csv >out && echo "user,time,v,w.v,w.v.2,n7,s7,m7,lo7,hi7" >expect &&
	test_cmp expect out &&
	mlops -q feature join w w w --entities ents.csv --out dupo.csv &&
	head -1 dupo.csv | grep -q ",v,n7,s7,m7,lo7,hi7,w.v,w.n7,.*,w.hi7,w.v.2,w.n7.2,.*,w.hi7.2$" &&
	printf "id,ts,c\na,2024-01-01,__other__\na,2024-01-02,x\n" >oth.csv &&
	mlops -q dataset add oth.csv &&
	cat >oth.json <<-\EOF &&
	{"name": "oth", "source": "oth", "entity": "id", "timestamp": "ts",
	 "features": [{"name": "c", "column": "c", "transform": "one-hot", "unseen": "other"}]}
	EOF
	mlops -q feature add oth.json &&
	test_expect_code 4 mlops feature materialize oth 2>err &&
	grep -q "features\[0\] (.c.): the source has the value .__other__." err &&
	sed "s/\"unseen\": \"other\"/\"unseen\": \"other\", \"vocabulary\": [\"x\", \"__other__\"]/" oth.json >oth2.json &&
	test_expect_code 4 mlops feature add oth2.json 2>err &&
	grep -q "vocabulary: .__other__. is the column of unseen values" err &&
	sed "s/\"unseen\": \"other\"/\"unseen\": \"zeros\"/" oth.json >oth3.json &&
	mlops -q feature add oth3.json && mlops -q feature materialize oth &&
	mlops feature get oth a >out && grep -q "^c=__other__  *0$" out &&
	sed "s/\"entity\": \"id\"/\"entity\": \"ts\"/" oth3.json >oth4.json &&
	test_expect_code 4 mlops feature add oth4.json 2>err &&
	grep -q "timestamp: .ts. is also the entity column" err
'

test_expect_success 'get --json: numbers read back the same, identifiers stay as written' '
	cat >js.csv <<-\EOF &&
	id,ts,x,y
	a,2024-01-01,007,0.1
	a,2024-01-02,0x1F,0.2
	b,2024-01-01,12345678901234567890,1
	c,2024-01-01,0.30000000000000004,1
	d,2024-01-01,1.50,1
	EOF
	mlops -q dataset add js.csv &&
	cat >js.json <<-\EOF &&
	{"name": "js", "source": "js", "entity": "id", "timestamp": "ts",
	 "features": [{"name": "x", "column": "x", "transform": "identity"},
	              {"name": "s", "column": "y", "transform": "sum", "window": "7d"}]}
	EOF
	mlops -q feature add js.json && mlops -q feature materialize js &&
	mlops --json feature get js a --at 2024-01-01 >out &&
	grep -q "\"x\":[[:space:]]*\"007\"" out &&
	mlops --json feature get js a >out &&
	grep -q "\"x\":[[:space:]]*\"0x1F\"" out &&
	grep -q "\"s\":[[:space:]]*0.30000000000000004$" out &&
	mlops feature get js a >out && grep -q "^s  *0.30000000000000004$" out &&
	mlops --json feature get js b >out &&
	grep -q "\"x\":[[:space:]]*\"12345678901234567890\"" out &&
	mlops --json feature get js c >out &&
	grep -q "\"x\":[[:space:]]*0.30000000000000004," out &&
	mlops --json feature get js d >out &&
	grep -q "\"x\":[[:space:]]*1.50," out
'

test_expect_success 'JSON output has every documented field, null when there is no value' '
	mlops --json feature get w e >out &&
	grep -q "\"at\":[[:space:]]*null" out &&
	sed "s/\"name\": \"oth\"/\"name\": \"nomat\"/" oth3.json >nomat.json &&
	mlops -q feature add nomat.json &&
	mlops --json feature list >out &&
	grep -q "\"id\":[[:space:]]*null" out &&
	! test -x /usr/bin/python3 || /usr/bin/python3 -c "
import json, sys
sets = {s[\"name\"]: s for s in json.load(open(\"out\"))}
keys = {\"name\", \"spec_version\", \"version\", \"id\", \"rows\", \"entities\", \"time\"}
assert all(set(s) == keys for s in sets.values()), sets
n = sets[\"nomat\"]
assert [n[k] for k in (\"version\", \"id\", \"rows\", \"entities\", \"time\")] == [None] * 5, n
assert sets[\"w\"][\"rows\"] == 6
"
'

test_expect_success 'feature -h works outside a repository' '
	cd / && mlops feature -h >"$TRASH/h" && grep -q "usage: mlops feature add SPEC" "$TRASH/h" &&
	mlops feature join -h >"$TRASH/h" && grep -q -- "--entities FILE" "$TRASH/h"
'

test_done
