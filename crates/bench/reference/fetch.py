"""A plain fetcher of one entity's e-Box, written the way a script would be: boto3 and
requests, one message after the other. `make bench` runs it beside the fetch process, in
the same run against the same kind of mail and stores, so that the fetch process's CPU a
message is judged against it.

It makes the requests the fetch process makes for a message: the listing (hidden
messages too, at the page size the registry answers with), each attachment (its digest
checked), the body where the listing does not hold it; each object to S3, the retrieval
note and the ledger row to DynamoDB, the event to EventBridge. It keeps none of a run's
bookkeeping: no lease, no cursor, no reference data, no retries.

Prints one JSON line: messages delivered, e-Box requests, the process's CPU (user +
system, its start included) and peak RSS.
"""

import base64
import hashlib
import json
import os
import resource
import sys
import time
import uuid
from urllib.parse import urljoin

import boto3
import requests
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

env = os.environ
ENTITY = env["ENTITY"]
session = requests.Session()
ebox_requests = 0


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assertion():
    key = serialization.load_pem_private_key(env["PRIVATE_KEY_PEM"].encode(), password=None)
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT"}
    claims = {"iss": env["CLIENT_ID"], "sub": env["CLIENT_ID"], "aud": env["EBOX_AUDIENCE"],
              "jti": str(uuid.uuid4()), "iat": now, "exp": now + 300}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(signature)


def get(url, **kwargs):
    global ebox_requests
    ebox_requests += 1
    return session.get(url, timeout=30, **kwargs)


def token():
    global ebox_requests
    ebox_requests += 1
    answer = session.post(env["EBOX_TOKEN_URL"], timeout=30, data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(),
        "scope": env["EBOX_SCOPES"],
    })
    answer.raise_for_status()
    return answer.json()["access_token"]


def registries():
    answer = get(env["EBOX_PROVIDER_REGISTRY_URL"])
    answer.raise_for_status()
    today = time.strftime("%Y-%m-%d")
    for item in answer.json()["items"]:
        url = item.get("messageRegistryUrl") or item.get("messageProviderUrl")
        start = item.get("activationDate") or item.get("messageProviderActivationDate") or ""
        end = item.get("deactivationDate") or item.get("messageProviderDeactivationDate")
        if url and start[:10] <= today and not (end and end[:10] <= today):
            yield (item.get("id") or item.get("messageProviderId")), url.rstrip("/") + "/"


def messages(base, **filters):
    page, size, seen = 1, 100, 0
    while True:
        answer = get(base + "ebox/messages", params={"page": page, "pageSize": size, **filters})
        if answer.status_code == 404:  # "no messages found", past the last page
            return
        answer.raise_for_status()
        listing = answer.json()
        items = listing.get("items") or []
        yield from items
        seen += len(items)
        if not items or seen >= listing.get("totalItems", 0):
            return
        if len(items) < size:
            # The registry pages by fewer than asked: go on at its size.
            size = len(items)
            page = seen // size
        page += 1


def put(s3, key, data, content_type):
    sha = hashlib.sha256(data).digest()
    s3.put_object(Bucket=env["VERDEELBAK_BUCKET"], Key=key, Body=data, ContentType=content_type,
                  ChecksumSHA256=base64.b64encode(sha).decode())
    return sha.hex()


def deliver(s3, dynamodb, events, provider, base, m):
    message_id = m["messageId"]
    folder = f"verdeelbak/{ENTITY}/{provider}/{message_id}/"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    dynamodb.put_item(TableName=env["STATE_TABLE"], Item={
        "pk": {"S": ENTITY}, "sk": {"S": f"retrieval#{provider}#{message_id}"},
        "retrieved_at": {"S": now}, "read_before": {"BOOL": bool(m.get("isRead", m.get("readStatus")))}},
        ConditionExpression="attribute_not_exists(pk)")
    stored = []
    attachments = m.get("attachments") or []
    if isinstance(attachments, dict):
        attachments = attachments.get("items") or []
    for a in attachments:
        href = a.get("contentHref") or f"ebox/messages/{message_id}/attachments/{a['attachmentId']}/content"
        content = get(urljoin(base, href))
        content.raise_for_status()
        digest = (a.get("digest") or {}).get("digestValue")
        if digest and b64url(hashlib.sha256(content.content).digest()) != digest.rstrip("="):
            raise ValueError(f"message {message_id}: attachment does not match its digest")
        name = "".join(c if c.isalnum() or c in ".-_" else "_" for c in a.get("fileName", "file"))
        key = f"{folder}{a.get('attachmentId') or len(stored)}-{name}"
        stored.append({"key": key, "sha256": put(s3, key, content.content, a.get("mediaType", "application/octet-stream"))})
    body = m.get("bodyContent")
    if body is None:
        answer = get(base + f"ebox/messages/{message_id}/body")
        body = answer.json() if answer.status_code == 200 else None
    if body is not None:
        put(s3, folder + "body.json", json.dumps(body).encode(), "application/json")
    document = {"message": m, "attachments": stored, "retrieved_at": now}
    message_key = folder + "message.json"
    put(s3, message_key, json.dumps(document).encode(), "application/json")
    events.put_events(Entries=[{"Source": "digipost.ebox", "DetailType": "MessageDelivered",
                                "EventBusName": env["EVENT_BUS_NAME"],
                                "Detail": json.dumps({"entity": ENTITY, "key": message_key})}])
    dynamodb.put_item(TableName=env["STATE_TABLE"], Item={
        "pk": {"S": ENTITY}, "sk": {"S": f"ledger#{provider}#{message_id}"},
        "key": {"S": message_key}, "delivered_at": {"S": now}},
        ConditionExpression="attribute_not_exists(pk)")


def main():
    s3, dynamodb, events = boto3.client("s3"), boto3.client("dynamodb"), boto3.client("events")
    session.headers["Authorization"] = "Bearer " + token()
    delivered = 0
    for provider, base in list(registries()):
        # The default list may leave hidden messages out: they are asked for too.
        for m in list(messages(base)) + list(messages(base, visible="false")):
            deliver(s3, dynamodb, events, provider, base, m)
            delivered += 1
    usage = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"delivered": delivered, "ebox_requests": ebox_requests,
                      "cpu_ms": (usage.ru_utime + usage.ru_stime) * 1000.0,
                      "peak_rss_mb": usage.ru_maxrss / 1024.0}))


if __name__ == "__main__":
    sys.exit(main())
