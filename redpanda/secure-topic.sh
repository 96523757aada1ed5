#!/bin/sh
# One-shot set-up of the secured stack (its topic-init service), as the superuser admin, once the
# users service has given each service's SCRAM user the password of its Docker secret:
#   - only the ACLs each service needs: the producer writes the topic; the Spark job reads it,
#     writes the dead-letter topic and commits its consumer group's offsets (READ on the group);
#     Console reads and describes;
#   - then the topic, as in the default stack (create-topic.sh).
# rpk reads the broker, TLS and user settings from the RPK_* variables of the service.
set -eu
RPK_PASS=$(cat /run/secrets/admin_password)
export RPK_PASS
topic=${KAFKA_TOPIC:-client_tickets}
dlq=${DLQ_TOPIC:-$topic.dlq}
group=${KAFKA_GROUP_ID:-client-tickets-spark}

rpk security acl create --allow-principal User:producer --operation write,describe --topic "$topic"
rpk security acl create --allow-principal User:spark --operation read,describe --topic "$topic"
rpk security acl create --allow-principal User:spark --operation write,describe --topic "$dlq"
rpk security acl create --allow-principal User:spark --operation read --group "$group"
rpk security acl create --allow-principal User:console --operation read,describe,describe_configs --topic '*'
rpk security acl create --allow-principal User:console --operation describe --group '*'
rpk security acl create --allow-principal User:console --operation describe,describe_configs --cluster
exec /usr/local/bin/create-topic.sh
