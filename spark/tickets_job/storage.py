"""Where the job keeps what it writes itself: a local folder or an S3 prefix, one interface for both.

CHECKPOINT_DIR and LAKE_URI each name a location: a local path, or `s3a://bucket/prefix`. Spark
and Delta reach S3 through Hadoop's S3A (tickets_job.session sets it up); the job's own small files
under CHECKPOINT_DIR (pipeline.json, the running counts, the writer's lease) go through botocore,
which the Kafka login already brings, so that they can be read, and a location checked, before Spark
starts. Both use AWS's standard credential chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
AWS_SESSION_TOKEN, a profile, an instance's or a pod's role; AWS_REGION names the region and
AWS_ENDPOINT_URL an S3-compatible store (addressed path-style).

Each file is written whole: a local one by a rename (tickets_job.atomic_file.replace_file), an S3 object
by one PUT, which S3 makes visible whole or not at all. `create_text` writes only if the file is
absent (O_EXCL; S3's conditional write, If-None-Match), `replace_text` only if it is still the
version read (If-Match); both return the new version (None: not written). The writer's lease is
built on them (tickets_job.lease).
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tickets_job.atomic_file import replace_file
from tickets_job.errors import StorageError
from tickets_kafka.settings import FALSE_WORDS, Env

S3A = "s3a://"
# S3A at the Hadoop version Spark bundles (pyspark's hadoop-client-api jar; a test holds them
# together), with the AWS SDK modules it needs instead of the SDK's whole `bundle` jar (686 MB):
# S3 and its transfer manager (S3A's uploads and copies), and STS for the pod roles (web identity)
# and assumed roles of the credential chain.
AWS_SDK = "2.59.1"
S3A_PACKAGES = (
    "org.apache.hadoop:hadoop-aws:3.5.0",
    f"software.amazon.awssdk:s3:{AWS_SDK}",
    f"software.amazon.awssdk:s3-transfer-manager:{AWS_SDK}",
    f"software.amazon.awssdk:apache-client:{AWS_SDK}",
    f"software.amazon.awssdk:sts:{AWS_SDK}",
)
# S3's rules for a bucket's name (general purpose buckets), and a prefix without empty parts.
BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
S3_URI = re.compile(rf"{S3A}(?P<bucket>[^/]+)(?:/(?P<prefix>.*?))?/?")
S3_URI_IS = (
    "a local path or s3a://bucket/prefix (a bucket's name has 3-63 lower-case letters, digits, dots, hyphens)"
)


class Folder(Protocol):
    """A folder of small text files, local or on S3."""

    uri: str  # as Spark and Hadoop address it

    def __truediv__(self, name: str) -> Folder: ...
    def read_text(self, name: str) -> str | None: ...
    def read_versioned(self, name: str) -> tuple[str, str] | None: ...
    def write_text(self, name: str, text: str) -> None: ...
    def create_text(self, name: str, text: str) -> str | None: ...
    def replace_text(self, name: str, text: str, version: str) -> str | None: ...
    def delete(self, name: str) -> None: ...
    def is_empty(self, ignoring: tuple[str, ...] = ()) -> bool: ...


def location(env: Env, name: str, default: str | None, may_be_off: bool = False) -> str | None:
    """A settings reader (tickets_kafka.settings): a local path or an s3a:// URI, checked here; None
    for a false word (off) when `may_be_off`."""
    raw = env.raw(name)
    if raw is None:
        return default
    if may_be_off and raw.lower() in FALSE_WORDS:
        return None
    if "://" in raw:
        match = S3_URI.fullmatch(raw)
        if match is None or not BUCKET.fullmatch(match["bucket"]) or "//" in raw[len(S3A) :]:
            env.problem(f"{name}={raw!r} is not {S3_URI_IS}")
            return default
    return raw


def is_s3(uri: str) -> bool:
    return uri.startswith(S3A)


@dataclass(frozen=True)
class LocalFolder:
    path: Path

    @property
    def uri(self) -> str:
        return str(self.path.resolve())

    def __str__(self) -> str:
        return str(self.path)

    def __truediv__(self, name: str) -> LocalFolder:
        return LocalFolder(self.path / name)

    def read_text(self, name: str) -> str | None:
        try:
            return (self.path / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def _version(self, name: str) -> str | None:
        try:
            stat = (self.path / name).stat()
        except FileNotFoundError:
            return None
        return f"{stat.st_ino}:{stat.st_mtime_ns}"

    def read_versioned(self, name: str) -> tuple[str, str] | None:
        version, text = self._version(name), self.read_text(name)
        return None if version is None or text is None else (text, version)

    def write_text(self, name: str, text: str) -> None:
        replace_file(self.path / name, text)

    def create_text(self, name: str, text: str) -> str | None:
        self.path.mkdir(parents=True, exist_ok=True)
        try:
            descriptor = os.open(self.path / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        except FileExistsError:
            return None
        with open(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
        return self._version(name)

    def replace_text(self, name: str, text: str, version: str) -> str | None:
        # Not atomic: the lease, its one user, holds a local checkpoint with flock as well.
        if self._version(name) != version:
            return None
        self.write_text(name, text)
        return self._version(name)

    def delete(self, name: str) -> None:
        (self.path / name).unlink(missing_ok=True)

    def is_empty(self, ignoring: tuple[str, ...] = ()) -> bool:
        return not self.path.is_dir() or all(path.name in ignoring for path in self.path.iterdir())


@dataclass(frozen=True)
class S3Access:
    """How the job reaches S3: the region and an S3-compatible endpoint, both optional."""

    region: str | None = None
    endpoint: str | None = None

    def client(self) -> Any:
        """A botocore S3 client on AWS's standard credential chain, one per region and endpoint
        in a process (the start-up's checks, the checkpoint's folder and its lease share it)."""
        return _s3_client(self.region, self.endpoint)


@functools.cache
def _s3_client(region: str | None, endpoint: str | None) -> Any:
    import botocore.session  # imported here: only S3 needs it
    from botocore.config import Config

    config = Config(
        s3={"addressing_style": "path"} if endpoint else {},
        retries={"max_attempts": 10, "mode": "standard"},  # about a minute of a store's outage
        connect_timeout=5,
        read_timeout=30,
    )
    session = botocore.session.get_session()
    return session.create_client("s3", region_name=region, endpoint_url=endpoint, config=config)


def chain_credentials() -> dict[str, str]:
    """The key pair (and token) that AWS's standard chain finds now, as AWS_* variables, for a
    reader that knows only the variables and instance roles (delta-rs) where botocore and S3A also
    read profiles and credentials files (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE). Empty when the
    chain finds none."""
    import botocore.session

    found = botocore.session.get_session().get_credentials()
    if found is None:
        return {}
    frozen = found.get_frozen_credentials()
    pair = {"AWS_ACCESS_KEY_ID": frozen.access_key, "AWS_SECRET_ACCESS_KEY": frozen.secret_key}
    return pair | ({"AWS_SESSION_TOKEN": frozen.token} if frozen.token else {})


def _status(err: Exception) -> str:
    return str(getattr(err, "response", {}).get("Error", {}).get("Code", ""))


@dataclass(frozen=True)
class S3Folder:
    bucket: str
    prefix: str  # without a trailing slash; "" for the bucket's root
    client: Any = field(compare=False, repr=False)

    @property
    def uri(self) -> str:
        return f"{S3A}{self.bucket}/{self.prefix}".rstrip("/")

    def __str__(self) -> str:
        return self.uri

    def __truediv__(self, name: str) -> S3Folder:
        return S3Folder(self.bucket, self._key(name), self.client)

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def read_text(self, name: str) -> str | None:
        found = self.read_versioned(name)
        return None if found is None else found[0]

    def read_versioned(self, name: str) -> tuple[str, str] | None:
        try:
            found = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except self.client.exceptions.NoSuchKey:
            return None
        return found["Body"].read().decode("utf-8"), found["ETag"]

    def write_text(self, name: str, text: str) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=text.encode("utf-8"))

    def _put_if(self, name: str, text: str, **condition: str) -> str | None:
        try:
            body = text.encode("utf-8")
            written = self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=body, **condition)
        except self.client.exceptions.ClientError as err:
            if _status(err) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                return None
            raise
        return written["ETag"]

    def create_text(self, name: str, text: str) -> str | None:
        return self._put_if(name, text, IfNoneMatch="*")

    def replace_text(self, name: str, text: str, version: str) -> str | None:
        return self._put_if(name, text, IfMatch=version)

    def delete(self, name: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(name))

    def is_empty(self, ignoring: tuple[str, ...] = ()) -> bool:
        listed = self.client.list_objects_v2(
            Bucket=self.bucket, Prefix=self._key(""), MaxKeys=len(ignoring) + 1
        )
        ignored = {self._key(name) for name in ignoring}
        return all(found["Key"] in ignored for found in listed.get("Contents", []))


def spark_path(uri: str) -> str:
    """A location as Spark is given it: a local path made absolute (Spark's own working directory
    may differ), an s3a:// URI as it is."""
    return uri.rstrip("/") if is_s3(uri) else str(Path(uri).resolve())


def s3a_conf(access: S3Access) -> dict[str, str]:
    """Hadoop's S3A settings for Spark: AWS's standard credential chain, and the endpoint and
    region when they are given (an S3-compatible store is addressed path-style)."""
    conf = {
        "spark.hadoop.fs.s3a.aws.credentials.provider": (
            "software.amazon.awssdk.auth.credentials.DefaultCredentialsProvider"
        ),
    }
    if access.region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = access.region
    if access.endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = access.endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(access.endpoint.startswith("https:")).lower()
    return conf


def open_folder(uri: str, access: S3Access) -> Folder:
    """The folder a location names (local paths relative to the working directory)."""
    if not is_s3(uri):
        return LocalFolder(Path(uri))
    match = S3_URI.fullmatch(uri)
    assert match is not None, uri  # checked by `location` when the settings were read
    return S3Folder(match["bucket"], (match["prefix"] or "").rstrip("/"), access.client())


def check_reachable(setting: str, uri: str, access: S3Access) -> None:
    """StorageError, in one line naming `setting`, unless the bucket of an s3a:// `uri` exists and
    takes the job's credentials (a local path is always usable: its folders are made as needed)."""
    if not is_s3(uri):
        return
    import botocore.exceptions

    folder = open_folder(uri, access)
    assert isinstance(folder, S3Folder)
    where = f"{setting}={uri}"
    try:
        folder.client.head_bucket(Bucket=folder.bucket)
        folder.is_empty()  # listing needs the prefix's permission, which the bucket's head does not
    except botocore.exceptions.NoCredentialsError:
        raise StorageError(
            f"{where}: no AWS credentials found (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, a profile, "
            "or an instance or pod role)"
        ) from None
    except botocore.exceptions.ClientError as err:
        code = _status(err)
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise StorageError(f"{where}: bucket {folder.bucket!r} does not exist") from None
        if code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            raise StorageError(
                f"{where}: S3 refuses the job's credentials for bucket {folder.bucket!r} ({code})"
            ) from None
        raise StorageError(f"{where}: S3 answered {code or err}") from None
    except botocore.exceptions.BotoCoreError as err:  # unreachable endpoint, bad region...
        raise StorageError(f"{where}: S3 cannot be reached: {err}") from None
