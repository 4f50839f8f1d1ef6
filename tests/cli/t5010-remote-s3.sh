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
stop_s3() {
	[ -f "$S3DIR/proxy.pid" ] && kill "$(cat "$S3DIR/proxy.pid")" 2>/dev/null && rm -f "$S3DIR/proxy.pid"
	sh "$TEST_ROOT/tests/s3server.sh" stop "$S3DIR"
}
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

test_expect_success 'a damaged ref on S3 is left alone by push (exit 9) and replaced with --force' '
	cd a && ref=$(keys team/store/refs/datasets/ | head -1) && test -n "$ref" &&
	name=${ref#team/store/refs/} &&
	"$py" -c "import boto3; boto3.client(\"s3\", endpoint_url=\"$EP\", region_name=\"us-east-1\").put_object(Bucket=\"mlops\", Key=\"$ref\", Body=b\"garbage\")" &&
	test_expect_code 9 mlops push >out 2>err &&
	grep -q "^mlops: $name: rejected: the remote.s ref is damaged" err &&
	mlops push --force >out && grep -q "$name: updated" out &&
	mlops push && mlops fsck --remote origin >out && grep -q "0 faults" out
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

# Size and ETag of each pack under prefix $1, one a line ("SIZE ETAG"); the
# ETag of a multipart upload ends in -N, N its parts.
pack_etags() {
	"$py" -c "import boto3, sys
s3 = boto3.client('s3', endpoint_url='$EP', region_name='us-east-1')
for p in s3.get_paginator('list_objects_v2').paginate(Bucket='mlops', Prefix=sys.argv[1]):
    for o in p.get('Contents', []):
        if o['Key'].endswith('.pack'): print(o['Size'], o['ETag'].strip(chr(34)))" "$1"
}

# Multipart uploads under prefix $1 begun and neither completed nor aborted.
open_uploads() {
	"$py" -c "import boto3, sys
s3 = boto3.client('s3', endpoint_url='$EP', region_name='us-east-1')
for u in s3.list_multipart_uploads(Bucket='mlops', Prefix=sys.argv[1]).get('Uploads', []): print(u['Key'])" "$1"
}

# A field of a JSON object in file $1: json_field FILE NAME.
json_field() {
	"$py" -c "import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1" "$2"
}

test_expect_success 'a large file goes to S3 in packs of up to 8 MiB, one PUT each, not a key per chunk' '
	cd a && mkdir L && "$py" -c "import random, sys
sys.stdout.buffer.write(random.Random(5010).randbytes(40 << 20))" >L/big &&
	mlops -q dataset add L &&
	mlops -q remote add large s3://mlops/large --endpoint "$EP" &&
	git add -A && git commit -qm L && mlops --json push large -j 1 >../j &&
	test $(json_field ../j objects_sent) -gt 80 &&
	test $(json_field ../j packs) -ge 5 && test $(json_field ../j packs) -le 9 &&
	keys large/objects/ >k && test $(wc -l <k) -le 2 &&
	pack_etags large/packs/ >p &&
	test $(awk "\$1 > 4194304" p | wc -l) -ge 5 &&
	test $(awk "\$1 > 8388608 || \$2 ~ /-/" p | wc -l) = 0 &&
	test -z "$(open_uploads large/)"
'

test_expect_success 'a clone pulls the packed large file from S3 byte-identical; fsck --remote is clean' '
	git clone -q a l && cd l && mlops -q init && mlops --json pull large >../j &&
	test $(json_field ../j packs) -ge 4 && cmp L/big ../a/L/big && mlops fsck >out && grep -q " 0 faults" out &&
	mlops fsck --remote large >out && grep -q " 0 faults" out
'

# A proxy in front of moto that fails some uploads as $S3DIR/fail says:
# "SKIP FAILS KIND [STATUS]" lets SKIP puts of a pack (KIND pack: whole,
# or a part of one) or of a pack's index (KIND idx) through, then fails
# FAILS attempts, each a line in $S3DIR/failed; STATUS 500 (the default)
# is an InternalError, 404 a NoSuchUpload, 409 an OperationAborted.
# moto lists every multipart upload as begun on 2010-11-10; the proxy
# lists those begun through it as begun when it saw them begin, as S3
# does.
cat >"$S3DIR/proxy.py" <<'EOF'
import http.client, http.server, os, re, sys, threading, time, urllib.parse
upstream, ctl, portfile = int(sys.argv[1]), sys.argv[2], sys.argv[3]
lock = threading.Lock()
begun = {}
def initiated(method, query, data):
    if "uploads" not in urllib.parse.parse_qs(query, keep_blank_values=True):
        return data
    if method == "POST":
        m = re.search(rb"<UploadId>([^<]+)</UploadId>", data)
        if m:
            with lock:
                begun[m.group(1)] = time.time()
        return data
    def fix(u):
        m = re.search(rb"<UploadId>([^<]+)</UploadId>", u.group(0))
        with lock:
            t = begun.get(m.group(1)) if m else None
        if t is None:
            return u.group(0)
        when = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(t)).encode()
        return re.sub(rb"<Initiated>[^<]*</Initiated>", b"<Initiated>" + when + b"</Initiated>", u.group(0))
    return re.sub(rb"<Upload>.*?</Upload>", fix, data, flags=re.S) if method == "GET" else data
def inject(path):
    with lock:
        try:
            f = open(ctl).read().split()
        except OSError:
            return False
        skip, fails = int(f[0]), int(f[1])
        kind = f[2] if len(f) > 2 else "pack"
        status = f[3] if len(f) > 3 else "500"
        if "/packs/" not in path or not path.endswith("." + kind):
            return False
        if skip:
            hit, skip = False, skip - 1
        elif fails:
            hit, fails = True, fails - 1
        else:
            return False
        open(ctl, "w").write("%d %d %s %s\n" % (skip, fails, kind, status))
        if hit:
            open(ctl + "ed", "a").write(path + "\n")
        return int(status) if hit else 0
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def relay(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        u = urllib.parse.urlsplit(self.path)
        status = self.command == "PUT" and inject(u.path)
        if status:
            code = {404: b"NoSuchUpload", 409: b"OperationAborted"}.get(status, b"InternalError")
            msg = b"<?xml version=\"1.0\"?><Error><Code>%s</Code></Error>" % code
            self.send_response_only(status)
            self.send_header("Content-Length", str(len(msg)))
            self.end_headers()
            self.wfile.write(msg)
            return
        c = http.client.HTTPConnection("127.0.0.1", upstream)
        c.request(self.command, self.path, body=body, headers=dict(self.headers))
        r = c.getresponse()
        data = initiated(self.command, u.query, r.read())
        self.send_response_only(r.status)
        for k, v in r.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", r.getheader("Content-Length", "0")
                         if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        c.close()
    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = relay
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
open(portfile + ".tmp", "w").write("%d\n" % s.server_address[1])
os.rename(portfile + ".tmp", portfile)
s.serve_forever()
EOF
"$py" "$S3DIR/proxy.py" "$port" "$S3DIR/fail" "$S3DIR/proxy.port" </dev/null >/dev/null 2>"$S3DIR/proxy.log" &
echo $! >"$S3DIR/proxy.pid"
i=0 && while [ ! -f "$S3DIR/proxy.port" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
PROXY=http://127.0.0.1:$(cat "$S3DIR/proxy.port" 2>/dev/null)

test_expect_success 'a pack put the remote answers "not found" fails the push as the remote failing (exit 10)' '
	cd a && mlops -q remote add flaky s3://mlops/flaky --endpoint "$PROXY" &&
	echo "0 1 pack 404" >"$S3DIR/fail" &&
	test_expect_code 10 mlops push flaky -j 1 2>err &&
	grep -q "s3://mlops/flaky/packs/.*\.pack" err &&
	test $(wc -l <"$S3DIR/failed") = 1 &&
	! keys flaky/packs/ | grep -q . && test -z "$(open_uploads flaky/)"
'

test_expect_success 'a pack put that fails after its retries fails the push (exit 10); complete packs stay' '
	cd a && rm "$S3DIR/failed" && echo "2 5 pack" >"$S3DIR/fail" &&
	test_expect_code 10 mlops push flaky -j 1 2>err &&
	grep -q "s3://mlops/flaky/packs/.*\.pack.*HTTP 500" err &&
	test $(wc -l <"$S3DIR/failed") = 5 &&
	pack_etags flaky/packs/ >p && test $(wc -l <p) = 2 &&
	keys flaky/packs/ | grep "\.idx$" >idx && test $(wc -l <idx) = 2 &&
	keys flaky/objects/ >k && ! test -s k &&
	test -z "$(open_uploads flaky/)" && ! keys flaky/refs/ | grep -q .
'

test_expect_success 'the next push, through a pack put failing once, sends only the rest; fsck --remote is clean' '
	cd a && keys flaky/packs/ >before &&
	echo "0 1 pack" >"$S3DIR/fail" && mlops --json push flaky -j 1 >../j 2>err &&
	test $(wc -l <"$S3DIR/failed") = 6 &&
	test $(json_field ../j objects_present) -ge 30 &&
	keys flaky/packs/ >after && test $(comm -23 before after | wc -l) = 0 &&
	test -z "$(open_uploads flaky/)" &&
	mlops fsck --remote flaky >out && grep -q " 0 faults" out
'

test_expect_success 'an index put the remote answers with a conflict fails the push as the remote failing (exit 10)' '
	cd a && rm "$S3DIR/failed" && mkdir e && echo "one more" >e/f && mlops -q dataset add e &&
	echo "0 1 idx 409" >"$S3DIR/fail" &&
	test_expect_code 10 mlops push flaky -j 1 2>err &&
	grep -q "s3://mlops/flaky/packs/.*\.idx.*OperationAborted" err &&
	test $(wc -l <"$S3DIR/failed") = 1 &&
	! keys flaky/refs/ | grep -q "datasets/e" &&
	mlops -q push flaky -j 1 && keys flaky/refs/ | grep -q "datasets/e/v1" &&
	mlops fsck --remote flaky >out && grep -q " 0 faults" out
'

# Begin a multipart upload of key $1 through endpoint $2 and send it a
# part, as a push killed midway leaves it.
begin_upload() {
	"$py" -c "import boto3, sys
s3 = boto3.client('s3', endpoint_url=sys.argv[2], region_name='us-east-1')
u = s3.create_multipart_upload(Bucket='mlops', Key=sys.argv[1])
boto3.client('s3', endpoint_url='$EP', region_name='us-east-1').upload_part(
    Bucket='mlops', Key=sys.argv[1], UploadId=u['UploadId'], PartNumber=1, Body=b'a killed push')" "$1" "$2"
}

test_expect_success 'gc --remote aborts the uploads killed pushes left unfinished under its prefix, only there' '
	cd a && rm -f "$S3DIR/fail" &&
	begin_upload flaky/packs/killed.pack "$EP" && begin_upload elsewhere/packs/other.pack "$EP" &&
	mlops --json gc --remote flaky --grace now --dry-run >../j &&
	test $(json_field ../j tmp_cleaned) = 1 &&
	mlops gc --remote flaky --grace now --dry-run >out &&
	grep -q "^would remove 1 leftover of interrupted pushes (unfinished uploads, temporary files)$" out &&
	test "$(open_uploads flaky/)" = flaky/packs/killed.pack &&
	mlops gc --remote flaky --grace now >out &&
	grep -q "^removed 1 leftover of interrupted pushes (unfinished uploads, temporary files)$" out &&
	test -z "$(open_uploads flaky/)" &&
	test "$(open_uploads elsewhere/)" = elsewhere/packs/other.pack &&
	mlops fsck --remote flaky >out && grep -q " 0 faults" out
'

test_expect_success 'an upload begun within the grace period (default 1 day) is kept' '
	cd a && begin_upload flaky/packs/fresh.pack "$PROXY" && begin_upload flaky/packs/old.pack "$EP" &&
	test $(open_uploads flaky/ | wc -l) = 2 &&
	mlops --json gc --remote flaky >../j && test $(json_field ../j tmp_cleaned) = 1 &&
	test "$(open_uploads flaky/)" = flaky/packs/fresh.pack &&
	mlops -q gc --remote flaky --grace now >out && ! test -s out && test -z "$(open_uploads flaky/)"
'

cd "$TRASH" && stop_s3
trap - EXIT
test_done
