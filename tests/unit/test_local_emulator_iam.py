"""The emulator with IAM enforced answers as AWS does where the local cloud would notice; each test here fails
without its patch in local/emulator/ (iam.py, dynamodb.py, sqs.py, kms.py):

- credentials are checked: unknown keys are refused, the administrator may do anything (GETs of the REST-protocol
  services included, which moto refused with SignatureDoesNotMatch);
- a role's policy is evaluated on the exact resource: the table (or index) ARN, a batch read's one table, the queue
  ARN; an explicit Deny beats an Allow; a denied DynamoDB or SQS call reads AccessDeniedException, not moto's bare
  '403';
- SQS batch actions are authorised as their single actions, as SQS documents;
- the Lambda service (the emulator's /_local/assume-role) assumes a role whose trust names lambda.amazonaws.com,
  and an IAM caller's own AssumeRole of it is AccessDenied, not moto's HTTP 500;
- a DynamoDB stream is authorised by its ARN (GetRecords by its iterator's stream), a KMS key by its key ARN;
- KMS Sign with MessageType=DIGEST signs the digest itself, so that the public key alone verifies it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import serialization

from local.emulator.access import EmulatorAccess
from local.emulator.credentials import Credentials
from local.emulator.server import Emulator
from local.ops.verify import offline_check
from tests.e2e.cloud import free_port

ACCOUNT = "123456789012"
TRUST_LAMBDA = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorAccess]:
    running = Emulator(free_port(), enforce_iam=True)
    running.start()
    try:
        yield EmulatorAccess(running.endpoint, running.admin)
    finally:
        running.stop()  # enforcement is process-wide in moto: it must not outlive this module


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


@pytest.fixture(scope="module")
def world(emulator: EmulatorAccess) -> dict[str, Any]:
    """A table with an index, two queues, and a role allowed exact actions on exact ARNs only."""
    dynamodb, sqs, iam = emulator.client("dynamodb"), emulator.client("sqs"), emulator.client("iam")
    for table in ("allowed", "other"):
        dynamodb.create_table(
            TableName=table,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "g")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "byG",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
    queues = {name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("mine", "theirs")}
    table_arn = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/allowed"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["dynamodb:PutItem", "dynamodb:Query", "dynamodb:BatchGetItem"],
                "Resource": [table_arn],
            },
            {"Effect": "Allow", "Action": ["dynamodb:Query"], "Resource": [f"{table_arn}/index/byG"]},
            {
                "Effect": "Allow",
                "Action": ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage"],
                "Resource": [f"arn:aws:sqs:us-east-1:{ACCOUNT}:mine"],
            },
        ],
    }
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=TRUST_LAMBDA)["Role"]
    iam.put_role_policy(RoleName="fn-role", PolicyName="exact", PolicyDocument=json.dumps(policy))
    credentials = emulator.role_credentials(role["Arn"], "fn")
    return {"role": role, "credentials": credentials, "queues": queues, "iam": iam}


def _as(emulator: EmulatorAccess, credentials: Credentials, service: str) -> Any:
    return emulator.client(service, credentials)


def test_unknown_credentials_are_refused_and_the_administrator_may_do_anything(emulator: EmulatorAccess) -> None:
    with pytest.raises(ClientError) as refused:
        _as(emulator, Credentials("testing", "testing"), "dynamodb").list_tables()
    assert _code(refused) == "InvalidClientTokenId"
    # GETs of REST-protocol services: moto signed them over its parsed query parameters, not the empty body sent.
    assert "Functions" in emulator.client("lambda").list_functions()
    assert "items" in emulator.client("apigateway").get_rest_apis(limit=10)
    assert "Roles" in emulator.client("iam").list_roles()


def test_a_batch_read_is_authorised_on_the_table_it_names(emulator: EmulatorAccess, world: dict[str, Any]) -> None:
    # IAM authorises a BatchGetItem on each table in RequestItems; moto asked for "*", so an exact grant was refused.
    dynamodb = _as(emulator, world["credentials"], "dynamodb")
    dynamodb.put_item(TableName="allowed", Item={"pk": {"S": "batch"}, "g": {"S": "y"}})
    keys = {"Keys": [{"pk": {"S": "batch"}}, {"pk": {"S": "missing"}}]}
    found = dynamodb.batch_get_item(RequestItems={"allowed": keys})["Responses"]["allowed"]
    assert [item["pk"]["S"] for item in found] == ["batch"]
    with pytest.raises(ClientError) as denied:
        dynamodb.batch_get_item(RequestItems={"other": keys})
    assert _code(denied) == "AccessDeniedException"


def test_a_role_may_write_and_read_its_table_and_index_and_nothing_else(
    emulator: EmulatorAccess, world: dict[str, Any]
) -> None:
    dynamodb = _as(emulator, world["credentials"], "dynamodb")
    dynamodb.put_item(TableName="allowed", Item={"pk": {"S": "a"}, "g": {"S": "x"}})
    query = {"KeyConditionExpression": "g = :g", "ExpressionAttributeValues": {":g": {"S": "x"}}}
    assert dynamodb.query(TableName="allowed", IndexName="byG", **query)["Count"] == 1
    for call in (
        lambda: dynamodb.put_item(TableName="other", Item={"pk": {"S": "a"}}),
        lambda: dynamodb.delete_item(TableName="allowed", Key={"pk": {"S": "a"}}),
        lambda: dynamodb.query(TableName="other", IndexName="byG", **query),
    ):
        with pytest.raises(ClientError) as denied:
            call()
        assert _code(denied) == "AccessDeniedException"
        assert "is not authorized to perform" in str(denied.value)


def test_a_role_may_use_its_queue_batches_included_and_no_other(
    emulator: EmulatorAccess, world: dict[str, Any]
) -> None:
    sqs = _as(emulator, world["credentials"], "sqs")
    mine, theirs = world["queues"]["mine"], world["queues"]["theirs"]
    sqs.send_message(QueueUrl=mine, MessageBody="m")
    [message] = sqs.receive_message(QueueUrl=mine, WaitTimeSeconds=0)["Messages"]
    # DeleteMessageBatch is authorised by sqs:DeleteMessage: there is no IAM action of its own.
    entries = [{"Id": "0", "ReceiptHandle": message["ReceiptHandle"]}]
    assert sqs.delete_message_batch(QueueUrl=mine, Entries=entries)["Successful"]
    with pytest.raises(ClientError) as denied:
        sqs.send_message(QueueUrl=theirs, MessageBody="m")
    assert _code(denied) == "AccessDeniedException"


def test_an_explicit_deny_beats_an_allow_until_it_is_removed(emulator: EmulatorAccess, world: dict[str, Any]) -> None:
    dynamodb = _as(emulator, world["credentials"], "dynamodb")
    deny = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Action": "dynamodb:PutItem", "Resource": "*"}]}
    world["iam"].put_role_policy(RoleName="fn-role", PolicyName="deny", PolicyDocument=json.dumps(deny))
    try:
        with pytest.raises(ClientError) as denied:
            dynamodb.put_item(TableName="allowed", Item={"pk": {"S": "b"}})
        assert _code(denied) == "AccessDeniedException"
    finally:
        world["iam"].delete_role_policy(RoleName="fn-role", PolicyName="deny")
    dynamodb.put_item(TableName="allowed", Item={"pk": {"S": "b"}})


def test_only_the_lambda_service_assumes_a_lambda_role(emulator: EmulatorAccess, world: dict[str, Any]) -> None:
    identity = _as(emulator, world["credentials"], "sts").get_caller_identity()
    assert identity["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/fn-role/fn"
    with pytest.raises(ClientError) as refused:
        emulator.client("sts").assume_role(RoleArn=world["role"]["Arn"], RoleSessionName="me")
    assert _code(refused) == "AccessDenied"


def test_the_emulator_says_how_to_reach_it(emulator: EmulatorAccess) -> None:
    found = EmulatorAccess.discover(emulator.endpoint)
    assert found.enforced and found.admin == emulator.admin
    assert not EmulatorAccess.discover("http://127.0.0.1:9").enforced  # nothing there: a foreign emulator's answer


@pytest.fixture(scope="module")
def signer(emulator: EmulatorAccess) -> dict[str, Any]:
    """Two signing keys and a stream each on two tables, and a role allowed one key and one stream only."""
    kms, dynamodb, iam = emulator.client("kms"), emulator.client("dynamodb"), emulator.client("iam")
    keys = [kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"] for _ in range(2)]
    kms.create_alias(AliasName="alias/mine", TargetKeyId=keys[0]["KeyId"])
    streams = []
    for table in ("streamed", "other-streamed"):
        streams.append(
            dynamodb.create_table(
                TableName=table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
            )["TableDescription"]["LatestStreamArn"]
        )
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["kms:Sign", "kms:GetPublicKey"], "Resource": [keys[0]["Arn"]]},
            {
                "Effect": "Allow",
                "Action": ["dynamodb:DescribeStream", "dynamodb:GetShardIterator", "dynamodb:GetRecords"],
                "Resource": [streams[0]],
            },
        ],
    }
    role = iam.create_role(RoleName="signer-role", AssumeRolePolicyDocument=TRUST_LAMBDA)["Role"]
    iam.put_role_policy(RoleName="signer-role", PolicyName="exact", PolicyDocument=json.dumps(policy))
    return {"keys": keys, "streams": streams, "credentials": emulator.role_credentials(role["Arn"], "signer")}


def test_a_digest_signed_by_kms_verifies_offline_with_the_public_key(
    emulator: EmulatorAccess, signer: dict[str, Any]
) -> None:
    kms = _as(emulator, signer["credentials"], "kms")
    digest = hashlib.sha256(b"a period's digest").digest()
    signature = kms.sign(KeyId="alias/mine", Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    der = kms.get_public_key(KeyId=signer["keys"][0]["Arn"])["PublicKey"]
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    check = offline_check(pem.decode())
    encoded = base64.b64encode(signature["Signature"]).decode()
    assert check(digest, encoded) is True  # moto alone signed sha256(digest): this failed
    assert check(hashlib.sha256(b"another").digest(), encoded) is False
    with pytest.raises(ClientError) as short:  # KMS refuses a "digest" that is not one
        kms.sign(KeyId="alias/mine", Message=b"short", MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")
    assert _code(short) == "ValidationException"


def test_a_role_may_use_its_own_key_and_no_other(emulator: EmulatorAccess, signer: dict[str, Any]) -> None:
    kms = _as(emulator, signer["credentials"], "kms")
    message = {"Message": b"m" * 32, "MessageType": "DIGEST", "SigningAlgorithm": "ECDSA_SHA_256"}
    assert kms.sign(KeyId=signer["keys"][0]["KeyId"], **message)["Signature"]
    with pytest.raises(ClientError) as denied:
        kms.sign(KeyId=signer["keys"][1]["KeyId"], **message)
    assert _code(denied) == "AccessDeniedException"


def test_a_role_may_read_its_own_stream_and_no_other(emulator: EmulatorAccess, signer: dict[str, Any]) -> None:
    streams = _as(emulator, signer["credentials"], "dynamodbstreams")
    mine, theirs = signer["streams"]
    [shard] = streams.describe_stream(StreamArn=mine)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=mine, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [record["eventName"] for record in records] == ["INSERT"]
    with pytest.raises(ClientError) as denied:
        streams.describe_stream(StreamArn=theirs)
    assert _code(denied) == "AccessDeniedException"
