"""SCRAM-SHA-256 and SCRAM-SHA-512 through confluent-kafka (librdkafka's SCRAM client): the super
user creates SCRAM users with AlterUserScramCredentials (KIP-554) and describes them; they
authenticate and produce; a wrong password is refused; deleted credentials stop working."""

import time

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from conftest import _free_port, running_broker

TIMEOUT_S = 20


@pytest.fixture(scope="module")
def scram_broker(tmp_path_factory):
    work = tmp_path_factory.mktemp("oxbow-scram")
    port = _free_port()
    config = work / "oxbow.toml"
    config.write_text(
        '[security]\nsasl_mechanisms = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]\n'
        'super_users = ["admin"]\nallow_everyone_if_no_acl_found = true\n\n'
        '[security.plain_users]\nadmin = "admin-secret"\n'
    )
    args = ["--config", str(config), "--listen", f"127.0.0.1:{port}"]
    with running_broker(work, args, port) as log_path:
        yield {"bootstrap": f"127.0.0.1:{port}", "log": log_path, "data": work / "data"}


def sasl(b, mechanism, user, password, **extra):
    return {"bootstrap.servers": b["bootstrap"], "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password, **extra}


def produce_one(b, mechanism, user, password):
    p = Producer(sasl(b, mechanism, user, password, **{"message.timeout.ms": 5000}))
    errors = []
    p.produce(f"scram-{int(time.time() * 1000)}", value=b"v", on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    return errors[0] if errors else "no delivery report"


def test_given_scram_users_when_authenticating_should_accept_only_their_passwords(scram_broker):
    b = scram_broker
    admin = AdminClient(sasl(b, "PLAIN", "admin", "admin-secret"))
    upserts = [
        UserScramCredentialUpsertion("ana", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"ana-pw"),
        UserScramCredentialUpsertion("ben", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192), b"ben-pw"),
    ]
    for f in admin.alter_user_scram_credentials(upserts).values():
        f.result(timeout=TIMEOUT_S)
    described = {u: f.result(timeout=TIMEOUT_S)
                 for u, f in admin.describe_user_scram_credentials(["ana", "ben"]).items()}
    assert described["ana"].scram_credential_infos[0].mechanism == ScramMechanism.SCRAM_SHA_256
    assert described["ben"].scram_credential_infos[0].iterations == 8192

    assert produce_one(b, "SCRAM-SHA-256", "ana", "ana-pw") is None
    assert produce_one(b, "SCRAM-SHA-512", "ben", "ben-pw") is None
    assert produce_one(b, "SCRAM-SHA-256", "ana", "wrong") is not None
    assert produce_one(b, "SCRAM-SHA-512", "ana", "ana-pw") is not None, "ana has no SHA-512 credential"
    # Never the password on disk: only salts and keys.
    stored = (b["data"] / "meta" / "scram-credentials.json").read_text()
    assert "ana-pw" not in stored and "stored_key" in stored

    deletion = admin.alter_user_scram_credentials([UserScramCredentialDeletion("ana", ScramMechanism.SCRAM_SHA_256)])
    for f in deletion.values():
        f.result(timeout=TIMEOUT_S)
    assert produce_one(b, "SCRAM-SHA-256", "ana", "ana-pw") is not None
    log = b["log"].read_text(errors="replace")
    assert "authentication failed" in log and "SCRAM credentials changed" in log
