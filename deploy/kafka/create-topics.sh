#!/bin/sh
# Create the revocation queue topics on a real Kafka cluster (3+ brokers).
# cutover never creates topics (allow.auto.create.topics=false). With
# plan.flip.rollbackWindow set, the rollback stream uses "<topic>.rollback":
# create it too. Choose the partition count now and never change it during a
# cutover (keys would move partitions; the seal could miss one).
set -eu
BOOTSTRAP=${BOOTSTRAP:-kafka-1.internal:9093}
TOPIC=${TOPIC:-cutover-revocations}
PARTITIONS=${PARTITIONS:-6}
ADMIN_CONFIG=${ADMIN_CONFIG:-/etc/kafka/admin-client.properties}   # SASL_SSL settings of an admin principal

for t in "$TOPIC" "$TOPIC.rollback"; do
  kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" \
    --create --if-not-exists --topic "$t" \
    --partitions "$PARTITIONS" --replication-factor 3 \
    --config min.insync.replicas=2 \
    --config unclean.leader.election.enable=false \
    --config cleanup.policy=delete \
    --config retention.ms=1209600000
  # 1209600000 ms = 14 days: longer than the longest cutover window + rollback window + slack
done
kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --command-config "$ADMIN_CONFIG" --describe --topic "$TOPIC"
