#!/usr/bin/env bash
# Creates segflow's topics on a real cluster. segflow also creates missing
# topics at start-up; this script is for clusters where clients may not.
#   BOOTSTRAP=kafka:9092 PARTITIONS=12 REPLICATION=3 deploy/kafka/topics.sh
set -euo pipefail
BOOTSTRAP=${BOOTSTRAP:-localhost:9092}
PARTITIONS=${PARTITIONS:-6}
REPLICATION=${REPLICATION:-1}
for topic in browse cart purchase identify events.invalid profiles profiles.summaries triggers decisions triggers.undelivered; do
	kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
		--topic "$topic" --partitions "$PARTITIONS" --replication-factor "$REPLICATION" \
		--config min.insync.replicas="$(( REPLICATION > 1 ? 2 : 1 ))"
done
