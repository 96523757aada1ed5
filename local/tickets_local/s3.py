"""A local S3 server for the lake: S3Proxy (local/s3/pom.xml) over a folder, on loopback.

The first start copies S3Proxy's jar from Maven into .cache/s3proxy/<version>/ (mvn, checksums
checked); every start runs it with `java -jar`, a random access key and secret of its own
(S3Proxy's properties file, 0600; never on a command line), and creates the bucket. What a job
needs to reach it is `env`: the s3a:// locations and the AWS variables of the standard chain.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tickets_local.process import ROOT, StepError, wait_until
from tickets_query.app import s3_options

POM = ROOT / "local" / "s3" / "pom.xml"
VERSION = re.search(r"<s3proxy.version>(.+)</s3proxy.version>", POM.read_text())[1]
REGION = "us-east-1"


def install(cache: Path = ROOT / ".cache" / "s3proxy") -> Path:
    """S3Proxy's jar, fetched with mvn once (idempotent)."""
    folder = cache / VERSION
    [*jars] = folder.glob("s3proxy-*-jar-with-dependencies.jar") if (folder / ".complete").exists() else []
    if jars:
        return jars[0]
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mvn", "-q", "-B", "--strict-checksums", "-Dstyle.color=never", "-f", str(POM),
         "dependency:copy-dependencies", "-DexcludeTransitive=true", f"-DoutputDirectory={folder}"],
        check=True,
    )  # fmt: skip
    (folder / ".complete").touch()
    return next(folder.glob("s3proxy-*-jar-with-dependencies.jar"))


@dataclass
class S3Server:
    """S3Proxy on 127.0.0.1:`port`, its objects under `state_dir`/objects, one bucket `bucket`."""

    port: int
    state_dir: Path
    bucket: str = "tickets-lake"
    access_key: str = field(default_factory=lambda: "local-" + secrets.token_hex(6))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24), repr=False)
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def uri(self, prefix: str) -> str:
        return f"s3a://{self.bucket}/{prefix}"

    @property
    def env(self) -> dict[str, str]:
        """The AWS variables a job (or delta-rs, or tickets_query) reaches this server with."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    @property
    def storage_options(self) -> dict[str, str]:
        """delta-rs's options for this server, as tickets_query derives them from the job's variables."""
        return {**self.env, **s3_options(self.env)}

    def up(self) -> S3Server:
        """Start the server (if it is not running) and create the bucket (if it is missing)."""
        if self.process is not None and self.process.poll() is None:
            return self
        jar = install()
        objects = self.state_dir / "objects"
        objects.mkdir(parents=True, exist_ok=True)
        properties = self.state_dir / "s3proxy.properties"
        descriptor = os.open(properties, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(descriptor, "w", encoding="utf-8") as out:
            out.write(
                f"s3proxy.endpoint={self.endpoint}\n"
                "s3proxy.authorization=aws-v2-or-v4\n"
                f"s3proxy.identity={self.access_key}\n"
                f"s3proxy.credential={self.secret_key}\n"
                "jclouds.provider=filesystem-nio2\n"
                f"jclouds.filesystem.basedir={objects}\n"
            )
        log = (self.state_dir / "s3proxy.log").open("ab")
        self.process = subprocess.Popen(
            ["java", "-Xmx256m", "-XX:+UseSerialGC", "-jar", str(jar), "--properties", str(properties)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_until(self._listening, 60, f"S3Proxy on port {self.port}")
        self._create_bucket()
        return self

    def _listening(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise StepError(
                f"S3Proxy exited ({self.process.returncode}): see {self.state_dir / 's3proxy.log'}"
            )
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0

    def _create_bucket(self) -> None:
        client = self.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=self.bucket)

    def client(self) -> Any:
        """A botocore client with the server's own credentials (not the process's environment)."""
        import botocore.session
        from botocore.config import Config

        return botocore.session.get_session().create_client(
            "s3",
            region_name=REGION,
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path"}),
        )

    def stop(self) -> None:
        """SIGTERM, as `docker stop` would; the objects stay for the next `up`."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=30)
