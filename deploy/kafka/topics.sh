#!/usr/bin/env bash
# Creates segflow's topics on a real cluster, as segflow creates the missing
# ones at start-up; this script is for clusters where clients may not.
#   BOOTSTRAP=kafka:9092 PARTITIONS=12 REPLICATION=3 deploy/kafka/topics.sh
# RETENTION_MS is how long the event, dead-letter, profile change and trigger
# topics keep a message (segflow's --topic-retention); -1, the default, keeps
# every message forever, so that replays and backfills can read any past.
# profiles.summaries holds each customer's latest segmentation state:
# compacted, it keeps the latest summary of each customer, and every summary
# for a day. COMMAND_CONFIG is kafka-topics.sh's --command-config file (TLS,
# SASL), if the cluster needs one.
set -euo pipefail
BOOTSTRAP=${BOOTSTRAP:-localhost:9092}
PARTITIONS=${PARTITIONS:-6}
REPLICATION=${REPLICATION:-1}
RETENTION_MS=${RETENTION_MS:--1}
auth=()
if [[ -n ${COMMAND_CONFIG:-} ]]; then
	auth=(--command-config "$COMMAND_CONFIG")
fi
create() {
	local topic=$1
	shift
	kafka-topics.sh --bootstrap-server "$BOOTSTRAP" "${auth[@]}" --create --if-not-exists \
		--topic "$topic" --partitions "$PARTITIONS" --replication-factor "$REPLICATION" \
		--config min.insync.replicas="$(( REPLICATION > 1 ? 2 : 1 ))" "$@"
}
for topic in browse cart purchase identify events.invalid profiles triggers decisions triggers.undelivered; do
	create "$topic" --config cleanup.policy=delete --config retention.ms="$RETENTION_MS"
done
create profiles.summaries --config cleanup.policy=compact --config min.compaction.lag.ms=86400000
