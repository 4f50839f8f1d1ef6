#!/bin/sh
# s3server.sh - start and stop a local S3 endpoint (moto) for the tests.
#
#   tests/s3server.sh start DIR   start moto on 127.0.0.1, a free port; keep its
#                                 pid, port and log in DIR; print the port
#   tests/s3server.sh start DIR auth
#                                 the same with signature checking on: an IAM
#                                 user allowed everything is made first and its
#                                 keys written to DIR/credentials (profile moto)
#   tests/s3server.sh stop DIR    stop the server started with DIR
#
# The server binds 127.0.0.1 only.  MLOPS_MOTO_PYTHON names the Python that has
# moto (default: python3).  Exit status 0 on success, 1 when moto is missing
# or does not answer within 20 seconds (the message says which).
set -u

py=${MLOPS_MOTO_PYTHON:-python3}

die() {
	echo "s3server: $*" >&2
	exit 1
}

# Make an IAM user allowed everything; write its keys as profile "moto".
setup_auth() {
	"$py" - "$1" "$2" <<'EOF'
import json, sys, boto3
ep = "http://127.0.0.1:" + sys.argv[1]
iam = boto3.client("iam", endpoint_url=ep, region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName="mlops")
key = iam.create_access_key(UserName="mlops")["AccessKey"]
iam.put_user_policy(UserName="mlops", PolicyName="all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
with open(sys.argv[2], "w") as f:
    f.write("[moto]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
            % (key["AccessKeyId"], key["SecretAccessKey"]))
EOF
}

[ $# -ge 2 ] || die "usage: s3server.sh start|stop DIR [auth]"
dir=$2
auth=${3:-}

case $1 in
start)
	mkdir -p "$dir" || die "unable to create '$dir'"
	"$py" -c 'import moto.server' 2>/dev/null ||
		die "moto is not installed for '$py' (pip install 'moto[server]')"
	tries=0
	while [ $tries -lt 5 ]; do
		tries=$((tries + 1))
		port=$("$py" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()') || die "unable to find a free port"
		if [ "$auth" = auth ]; then
			# The first three requests (the IAM set-up) go unchecked.
			INITIAL_NO_AUTH_ACTION_COUNT=3 "$py" -m moto.server -H 127.0.0.1 -p "$port" \
				>"$dir/log" 2>&1 </dev/null &
		else
			"$py" -m moto.server -H 127.0.0.1 -p "$port" >"$dir/log" 2>&1 </dev/null &
		fi
		pid=$!
		echo "$pid" >"$dir/pid"
		echo "$port" >"$dir/port"
		i=0
		while [ $i -lt 200 ]; do
			if ! kill -0 "$pid" 2>/dev/null; then
				break # exited: the port was taken meanwhile, or moto failed
			fi
			if "$py" -c 'import sys, urllib.request
urllib.request.urlopen("http://127.0.0.1:" + sys.argv[1] + "/moto-api/", timeout=1)' "$port" 2>/dev/null; then
				if [ "$auth" = auth ] && ! setup_auth "$port" "$dir/credentials" 2>>"$dir/log"; then
					kill "$pid" 2>/dev/null
					rm -f "$dir/pid" "$dir/port"
					die "unable to set up signature checking (log: $dir/log)"
				fi
				echo "$port"
				exit 0
			fi
			sleep 0.1
			i=$((i + 1))
		done
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	rm -f "$dir/pid" "$dir/port"
	die "moto did not start (log: $dir/log)"
	;;
stop)
	[ -f "$dir/pid" ] || exit 0
	pid=$(cat "$dir/pid")
	kill "$pid" 2>/dev/null
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	kill -9 "$pid" 2>/dev/null
	rm -f "$dir/pid" "$dir/port"
	;;
*)
	die "usage: s3server.sh start|stop DIR [auth]"
	;;
esac
