#!/bin/sh
# push, pull, concurrent pushes, gc and fsck against an S3 endpoint (moto,
# started here on 127.0.0.1 and stopped at the end).
. "$(dirname "$0")/lib.sh"

S3DIR=$TRASH/s3server
port=$(sh "$TEST_ROOT/tests/s3server.sh" start "$S3DIR" 2>"$TRASH/s3err")
if [ -z "$port" ]; then
	test_skip "moto could not be started ($(head -1 "$TRASH/s3err")); S3 remotes untested"
	test_done
fi
stop_s3() { sh "$TEST_ROOT/tests/s3server.sh" stop "$S3DIR"; }
trap stop_s3 EXIT
EP=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE
py=${MLOPS_MOTO_PYTHON:-python3}
"$py" -c "import boto3; boto3.client('s3', endpoint_url='$EP', region_name='us-east-1').create_bucket(Bucket='mlops')" ||
	{ stop_s3; test_skip "unable to create a bucket at $EP"; test_done; }

# The sizes of the packs under prefix $1, one a line, sorted.
pack_sizes() {
	"$py" -c "import boto3, sys
s3 = boto3.client('s3', endpoint_url='$EP', region_name='us-east-1')
for p in s3.get_paginator('list_objects_v2').paginate(Bucket='mlops', Prefix=sys.argv[1]):
    for o in p.get('Contents', []):
        if o['Key'].endswith('.pack'): print(o['Size'])" "$1" | sort -n
}

keys() {
	"$py" -c "import boto3, sys
s3 = boto3.client('s3', endpoint_url='$EP', region_name='us-east-1')
for p in s3.get_paginator('list_objects_v2').paginate(Bucket='mlops', Prefix=sys.argv[1]):
    for o in p.get('Contents', []): print(o['Key'])" "$1"
}

test_expect_success 'push to s3://bucket/prefix with an endpoint' '
	git init -q a && cd a && mlops -q init &&
	mkdir d && i=0 && while [ $i -lt 200 ]; do echo "small $i" >d/s$i; i=$((i + 1)); done &&
	head -c 3000000 /dev/urandom >d/big && mlops -q dataset add d &&
	mlops remote add origin s3://mlops/team/store --endpoint "$EP" --region us-east-1 --default &&
	! grep -q testing .mlops/config &&
	mlops push >out 2>err && grep -q "datasets/d/v1: new" out &&
	keys team/store/ >k && grep -q "^team/store/refs/datasets/d/v1$" k &&
	grep -q "^team/store/packs/.*\.idx$" k && grep -q "^team/store/MLOPS_REMOTE$" k &&
	! grep -q testing out err &&
	git add -A && git commit -qm v1
'

test_expect_success 'clone and pull from S3: identical bytes' '
	git clone -q a b && cd b && mlops -q init && mlops -q pull &&
	(cd ../a/d && sha256sum * | sort) >../want && (cd d && sha256sum * | sort) >../got &&
	test_cmp ../want ../got
'

test_expect_success 'the pull stored the packs it wanted whole, as they were on S3' '
	cd b && pack_sizes team/store/packs/ >../remote-packs && test -s ../remote-packs &&
	stat -c %s .mlops/objects/pack/*.pack | sort -n >../local-packs &&
	test_cmp ../remote-packs ../local-packs &&
	test -z "$(ls .mlops/tmp | grep "^fetch-")" && mlops fsck >out && grep -q " 0 faults" out
'

test_expect_success 'a second push sends nothing' '
	cd a && mlops --json push >../j && grep -q "\"objects_sent\":[[:space:]]*0" ../j
'

test_expect_success 'two clones push versions of one dataset: both survive (conditional writes)' '
	git clone -q a c1 && git clone -q a c2 &&
	(cd c1 && mlops -q init && mkdir e && echo one >e/f && mlops -q dataset add e) &&
	(cd c2 && mlops -q init && mkdir e && echo two >e/f && mlops -q dataset add e) || return 1
	(cd c1 && mlops -q push 2>../e1) & p1=$!
	(cd c2 && mlops -q push 2>../e2) & p2=$!
	wait $p1 && wait $p2 &&
	keys team/store/refs/datasets/e/ >k && test $(wc -l <k) = 2 &&
	grep -q "renumbered\|now datasets/e/v2" e1 e2
'

test_expect_success 'fsck and gc of the S3 remote' '
	cd a && mlops fsck --remote origin >out && grep -q "0 faults" out &&
	mlops gc --remote origin --dry-run --grace now >out && grep -q "would remove 0 objects" out
'

test_expect_success 'gc of the S3 remote keeps recent keys (LastModified) for the grace period' '
	cd a && mkdir g && head -c 100000 /dev/urandom >g/big && mlops -q dataset add g &&
	mlops -q push && big=$(sha256sum g/big | cut -c1-64) &&
	key=team/store/objects/$(echo $big | cut -c1-2)/$(echo $big | cut -c3-) &&
	keys "$key" >k && test -s k &&
	mlops -q dataset rm g@v1 && git checkout -q mlops.lock &&
	"$py" -c "import boto3; boto3.client(\"s3\", endpoint_url=\"$EP\", region_name=\"us-east-1\").delete_object(Bucket=\"mlops\", Key=\"team/store/refs/datasets/g/v1\")" &&
	mlops --json gc --remote origin >j &&
	grep -q "\"removed_objects\":[[:space:]]*0" j && grep -q "\"recent\":[[:space:]]*[1-9]" j &&
	mlops --json gc --remote origin --grace 1h >j &&
	grep -q "\"removed_objects\":[[:space:]]*0" j &&
	keys "$key" >k && test -s k &&
	sleep 2 && mlops -v gc --remote origin --grace 1s >out &&
	grep -q "$(echo $big | cut -c3-)" out &&
	keys "$key" >k && ! test -s k &&
	mlops fsck --remote origin >out && grep -q "0 faults" out
'

test_expect_success 'a missing bucket is a clear remote error' '
	cd a && mlops -q remote add nobucket s3://no-such-bucket-here --endpoint "$EP" &&
	test_expect_code 10 mlops push nobucket 2>err && grep -q "bucket .no-such-bucket-here. not found" err &&
	test_expect_code 10 mlops fetch nobucket 2>err && grep -q "no-such-bucket-here" err &&
	test_expect_code 10 mlops gc --remote nobucket 2>err && grep -q "no-such-bucket-here" err &&
	test_expect_code 10 mlops fsck --remote nobucket 2>err && grep -q "no-such-bucket-here" err &&
	! grep -q testing err
'
test_expect_success 'a reply larger than mlops reads is the remote failing (exit 10)' '
	cd a && "$py" -c "import boto3; boto3.client(\"s3\", endpoint_url=\"$EP\", region_name=\"us-east-1\").put_object(Bucket=\"mlops\", Key=\"big/MLOPS_REMOTE\", Body=b\" \" * 70000)" &&
	mlops -q remote add oversize s3://mlops/big --endpoint "$EP" &&
	test_expect_code 10 mlops fetch oversize 2>err &&
	grep -q "s3://mlops/big/MLOPS_REMOTE.: response larger than 65536 bytes" err &&
	test_expect_code 10 mlops push oversize 2>err && grep -q "larger than" err &&
	mlops -q remote remove oversize
'

test_expect_success 'missing credentials are the remote failure, with what to set' '
	cd a && (unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY &&
		AWS_SHARED_CREDENTIALS_FILE=$TRASH/none HOME=$TRASH/nohome test_expect_code 10 mlops push 2>../err) &&
	grep -q "no s3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" ../err
'

cd "$TRASH" && stop_s3
trap - EXIT
test_done
