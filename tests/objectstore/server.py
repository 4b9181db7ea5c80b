"""A real S3 API on loopback for the object storage tests: moto's server (``moto[server]``, in the ``dev``
extra), started as a subprocess on a free port with request signing checked (moto's IAM), so wrong
credentials and missing rights fail as they do on AWS.

moto checks credentials only after its first ``INITIAL_NO_AUTH_ACTION_COUNT`` requests; the fixture spends
exactly those on creating an administrator (user, access key, policy). Every later request is signed and
checked against the policies of the key that signed it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

START_TIMEOUT_SECONDS = 60
_UNSIGNED_SETUP_CALLS = 3  # create_user, create_access_key, put_user_policy of the administrator
REGION = "us-east-1"
READ_ONLY_ACTIONS = ["s3:GetObject", "s3:ListBucket"]
"""What a worker needs besides is listed in docs/deployment.md; this set lacks PutObject/DeleteObject."""
WORKER_ACTIONS = ["s3:ListBucket", "s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
"""The actions docs/deployment.md#object-storage tells users to grant a worker."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Key:
    access_key_id: str
    secret_access_key: str


@dataclass
class S3Server:
    """The running server: its endpoint and an administrator's key; makes buckets and scoped users."""

    endpoint: str
    admin: Key
    process: subprocess.Popen[bytes]
    #: the server's request log (one line per request)
    log: Path

    def client(self, service: str, key: Key | None = None) -> Any:
        import boto3

        k = key or self.admin
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            aws_access_key_id=k.access_key_id,
            aws_secret_access_key=k.secret_access_key,
            region_name=REGION,
        )

    def new_bucket(self) -> str:
        name = f"sfsync-{uuid.uuid4().hex[:12]}"
        self.client("s3").create_bucket(Bucket=name)
        return name

    def user(self, actions: list[str], bucket: str) -> Key:
        """A user whose policy allows ``actions`` on ``bucket`` and its objects only."""
        iam = self.client("iam")
        name = f"worker-{uuid.uuid4().hex[:8]}"
        iam.create_user(UserName=name)
        created = iam.create_access_key(UserName=name)["AccessKey"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": actions,
                    "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
                }
            ],
        }
        iam.put_user_policy(UserName=name, PolicyName="sfsync", PolicyDocument=json.dumps(policy))
        return Key(created["AccessKeyId"], created["SecretAccessKey"])

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every object key in ``bucket`` under ``prefix``, sorted (without the empty ``dir/`` markers
        ``pyarrow.fs`` leaves to keep a directory that it emptied)."""
        s3 = self.client("s3")
        out: list[str] = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            out += [o["Key"] for o in page.get("Contents", []) if not o["Key"].endswith("/")]
        return sorted(out)

    def read(self, bucket: str, key: str) -> bytes:
        return bytes(self.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def start() -> S3Server:
    """Start moto's server on a free loopback port; raise if it does not answer in time."""
    port = _free_port()
    log = Path(tempfile.mkdtemp(prefix="sfsync-moto-")) / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MOTO_"))}
    env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(_UNSIGNED_SETUP_CALLS)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from moto.server import main; main()",
                "-H",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto server did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    bootstrap = S3Server(endpoint, Key("bootstrap", "bootstrap"), proc, log)
    iam = bootstrap.client("iam")
    iam.create_user(UserName="admin")
    created = iam.create_access_key(UserName="admin")["AccessKey"]
    everything = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
    iam.put_user_policy(UserName="admin", PolicyName="all", PolicyDocument=json.dumps(everything))
    return S3Server(endpoint, Key(created["AccessKeyId"], created["SecretAccessKey"]), proc, log)


__all__ = ["READ_ONLY_ACTIONS", "REGION", "WORKER_ACTIONS", "Key", "S3Server", "start"]
