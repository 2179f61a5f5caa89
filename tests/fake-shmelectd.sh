#!/bin/bash
# A stand-in for shmelectd, for testing shmelectctl's client side: speaks
# protocol 1 on stdin/stdout (one connection; run it under
# "socat UNIX-LISTEN:PATH,fork EXEC:fake-shmelectd.sh") with canned answers,
# and appends every request it reads to $FAKE_LOG.
#
# Canned state: segment "fakeseg" with one election "fake", led by
# "fake-leader" (pid 4242, token 9007199254740993, term 7), two members.
# Elections named to misbehave: "garbage" (not JSON), "hangup" (closes
# without answering), "wrongid" (answers another id).

set -u
token=9007199254740993

record='"segment":"fakeseg","election":"fake","has_holder":true,"holder":"fake-leader","holder_pid":4242,"token":'$token',"term":7,"transitions":7,"expired":false'

while IFS= read -r line; do
	printf '%s\n' "$line" >>"${FAKE_LOG:-/dev/null}"
	IFS=$'\t' read -r verb id election to < <(jq -r '[.verb // "-", (.id | tojson), .election // "-", .to // "-"] | @tsv' <<<"$line")
	err() {
		printf '{"id":%s,"ok":false,"error":"%s","errno":%d,"message":"%s"}\n' "$id" "$1" "$2" "$3"
	}
	case $election in
	garbage) echo 'this is not json'; continue ;;
	hangup) exit 0 ;;
	wrongid) printf '{"id":"not-%s","ok":true}\n' "${id//\"/}"; continue ;;
	esac
	case $verb in
	version)
		printf '{"id":%s,"ok":true,"version":"0.1.0","protocol":1}\n' "$id"
		;;
	list)
		printf '{"id":%s,"ok":true,"elections":[{%s,"members":2}]}\n' "$id" "$record"
		;;
	status)
		if [ "$election" != fake ]; then
			err ENOENT 2 "no election '$election' in segment 'fakeseg'"
			continue
		fi
		printf '{"id":%s,"ok":true,"status":{%s,"holder_slot":0,"acquire_ns":1000000000,"renew_ns":2000000000,"expiry_ns":2300000000,"lease_ns":300000000,"observed_ns":2100000000,"locked_until_ns":0,"advert":"10.0.0.1:80","members":[{"identity":"fake-leader","pid":4242,"slot":0,"lease_ns":300000000,"joined_ns":900000000,"priority":0,"is_holder":true},{"identity":"fake-standby","pid":4343,"slot":1,"lease_ns":300000000,"joined_ns":950000000,"priority":5,"is_holder":false}]}}\n' "$id" "$record"
		;;
	handover)
		if [ "$to" = ghost ]; then
			err ESRCH 3 "no member 'ghost' in election '$election'"
		else
			printf '{"id":%s,"ok":true,"done":true}\n' "$id"
		fi
		;;
	resign)
		printf '{"id":%s,"ok":true}\n' "$id"
		;;
	evict)
		err EPERM 1 "evict needs root, the daemon's user or the operator group"
		;;
	watch)
		printf '{"id":%s,"ok":true,"watching":"fake","seq":0}\n' "$id"
		printf '{"event":"leader","seq":1,"segment":"fakeseg","election":"fake","holder":"fake-standby","token":%s,"term":8,"identity":null,"time_ns":2200000000}\n' "$((token + 1))"
		printf '{"event":"left","seq":2,"segment":"fakeseg","election":"fake","holder":"fake-standby","token":%s,"term":8,"identity":"fake-leader","time_ns":2200000001}\n' "$((token + 1))"
		printf '{"event":"overflow","seq":3,"segment":"fakeseg","election":"fake","holder":null,"token":0,"term":0,"identity":null,"time_ns":2200000002}\n'
		# the stream stays open until the client goes
		while IFS= read -r _; do :; done
		exit 0
		;;
	*)
		err EINVAL 22 "unknown verb '$verb'"
		;;
	esac
done
