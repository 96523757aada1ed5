"""Creates or updates SCRAM users, each with the password in its own file, through the Kafka API
(AlterUserScramCredentials, KIP-554: Apache Kafka 2.7+, Redpanda 25.2+), logged in as a super user
with the usual KAFKA_* settings (tickets_kafka.security). It is the secured Docker stack's users
step: no password is ever in a process's arguments, where every user of the machine reads it (`ps`,
`docker top`), as it would be with `rpk security user create -p` or `kafka-configs --add-config`.

Run:    python -m tickets_kafka.scram_users NAME=FILE [NAME=FILE ...]
        FILE: the password is its first line, up to the newline, as for KAFKA_SASL_PASSWORD_FILE
        (a Docker secret at /run/secrets/NAME).
Environment: SCRAM_MECHANISM (SCRAM-SHA-256, the default, or SCRAM-SHA-512), LOG_LEVEL, and how to
        reach and log in to Kafka: KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_*,
        KAFKA_SSL_*.
Exits:  0 when every user has its password (a user that exists gets the new one: a rotation);
        2 on a bad argument or setting, or when Kafka refuses (the line names the user and why).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from kafka.admin import KafkaAdminClient, UserScramCredentialUpsertion

from tickets_kafka import program
from tickets_kafka.client import ClientSettings
from tickets_kafka.security import Secret, password_in_file
from tickets_kafka.settings import ConfigError, Env

log = logging.getLogger(__name__)

MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
USAGE = "usage: python -m tickets_kafka.scram_users NAME=FILE [NAME=FILE ...]"


def passwords(arguments: Sequence[str], env: Env) -> dict[str, Secret]:
    """Each NAME=FILE argument's user and the password in its file; problems go to `env`."""
    if not arguments:
        env.problem(f"no user given ({USAGE})")
    users: dict[str, Secret] = {}
    for argument in arguments:
        name, equals, file = argument.partition("=")
        if not (name and equals and file):
            env.problem(f"{argument!r} is not NAME=FILE ({USAGE})")
        elif name in users:
            env.problem(f"user {name!r} is given twice")
        elif password := password_in_file(env, Path(file), f"the password file of user {name!r}", USAGE):
            users[name] = password
    return users


def set_passwords(settings: ClientSettings, users: Mapping[str, Secret], mechanism: str) -> dict[str, str]:
    """Each user's password set on Kafka: the users Kafka refused, with its reason."""
    admin = KafkaAdminClient(**settings.kafka_python_args("client-tickets-scram-users"))
    try:
        answers = admin.alter_user_scram_credentials(
            [UserScramCredentialUpsertion(name, mechanism, secret.reveal()) for name, secret in users.items()]
        )
    finally:
        admin.close()
    return {name: reason or "refused" for name, reason in answers.items() if reason is not None}


def main(arguments: Sequence[str], environ: Mapping[str, str]) -> int:
    program.start_logging()
    env = Env(environ)
    mechanism = env.choice("SCRAM_MECHANISM", MECHANISMS, "SCRAM-SHA-256")
    users = passwords(arguments, env)
    try:
        env.check()
        settings = ClientSettings.from_env(environ)
    except ConfigError as err:
        log.error("%s", err)
        return 2
    program.start_logging(settings.log_level, quiet={"kafka": logging.ERROR})
    try:
        refused = set_passwords(settings, users, mechanism)
    except Exception as err:  # any failure of the client: one line, exit 2
        log.error("cannot set the SCRAM users' passwords at %s: %s", settings.bootstrap_servers, err)
        return 2
    for name, reason in refused.items():
        log.error("Kafka refused to set the password of user %r (%s): %s", name, mechanism, reason)
    done = sorted(set(users) - set(refused))
    if done:
        log.info("SCRAM users set (%s): %s", mechanism, ", ".join(done))
    return 2 if refused else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
