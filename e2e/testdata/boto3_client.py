#!/usr/bin/env python3
"""boto3 client case of nixbucket's end-to-end suite.

Run by e2e/clients_test.go (testBoto3) against a live server:

    NB_ENDPOINT=http://127.0.0.1:PORT NB_BUCKET=name \
    AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… python3 boto3_client.py

NB_QUIRKS is a comma-separated list of reference-server gaps to tolerate
(names from e2e/server_test.go; versitygw only). Prints one "PASS name" or "FAIL: name: why"
line per check and "ALL PASSED n" at the end; exits 1 if any check failed.
"""

import hashlib
import os
import sys
import traceback
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["NB_ENDPOINT"]
BUCKET = os.environ["NB_BUCKET"]
QUIRKS = set(filter(None, os.environ.get("NB_QUIRKS", "").split(",")))
MIB = 1 << 20


def client(**cfg):
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **cfg),
    )


s3 = client()
s3v4 = client(signature_version="s3v4")
failures = []
passed = 0


def check(fn):
    """Runs one named check, recording PASS or FAIL."""
    global passed
    name = fn.__name__
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failures.append(name)
        print(f"FAIL: {name}: {e!r}")
        if not isinstance(e, AssertionError):  # assertion messages say it all
            traceback.print_exc(limit=4, file=sys.stdout)
    else:
        passed += 1
        print(f"PASS {name}")
    return fn


def eq(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def error_code(fn, *args, **kw):
    """Calls fn and returns (error code, HTTP status) of the ClientError it must raise."""
    try:
        fn(*args, **kw)
    except ClientError as e:
        return e.response["Error"].get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError(f"{fn.__name__} succeeded, want an error")


def want_error(what, code, status, fn, *args, **kw):
    try:
        got = error_code(fn, *args, **kw)
    except AssertionError:
        raise
    except Exception as e:  # noqa: BLE001 - botocore choking on the response
        raise AssertionError(f"{what}: want {code} {status}, client raised {e!r}") from e
    eq(what, got, (code, status))


def md5hex(b):
    return hashlib.md5(b).hexdigest()


def data(n, seed):
    """n deterministic pseudo-random bytes."""
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])


def fetch(url, method="GET", body=None):
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


HELLO = b"hello from boto3\n" * 3
HELLO_KEY = "obj/hello.txt"
LIST_KEYS = ["list/a/1", "list/a/2", "list/b/1", "list/c", "list/d", "list/e", "list/f"]
ODD_KEY = "enc/sp ace+plus%pct&amp/\u00e9\u00e8 \u2603.txt"


@check
def create_bucket():
    s3.create_bucket(Bucket=BUCKET)
    s3.head_bucket(Bucket=BUCKET)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    if BUCKET not in names:
        raise AssertionError(f"list_buckets: {names} lacks {BUCKET}")
    eq("LocationConstraint", s3.get_bucket_location(Bucket=BUCKET).get("LocationConstraint"), None)
    if "ownedagain" in QUIRKS:
        want_error("create_bucket again", "BucketAlreadyOwnedByYou", 409, s3.create_bucket, Bucket=BUCKET)
    else:
        # AWS's legacy us-east-1 behaviour: the owner creating its bucket
        # again gets 200 (elsewhere BucketAlreadyOwnedByYou).
        s3.create_bucket(Bucket=BUCKET)
    want_error("create_bucket bad name", "InvalidBucketName", 400, s3.create_bucket, Bucket="Bad_Name")


@check
def put_get_head():
    r = s3.put_object(Bucket=BUCKET, Key=HELLO_KEY, Body=HELLO, ContentType="text/plain",
                      Metadata={"color": "blue", "nix-hash": "abc"})
    eq("put ETag", r["ETag"], f'"{md5hex(HELLO)}"')
    g = s3.get_object(Bucket=BUCKET, Key=HELLO_KEY)
    eq("get body", g["Body"].read(), HELLO)
    eq("get ContentType", g["ContentType"], "text/plain")
    eq("get Metadata", g["Metadata"], {"color": "blue", "nix-hash": "abc"})
    h = s3.head_object(Bucket=BUCKET, Key=HELLO_KEY)
    eq("head ContentLength", h["ContentLength"], len(HELLO))
    eq("head ETag", h["ETag"], f'"{md5hex(HELLO)}"')
    eq("head Metadata", h["Metadata"], {"color": "blue", "nix-hash": "abc"})


@check
def get_range():
    g = s3.get_object(Bucket=BUCKET, Key=HELLO_KEY, Range="bytes=6-10")
    eq("range status", g["ResponseMetadata"]["HTTPStatusCode"], 206)
    eq("range body", g["Body"].read(), HELLO[6:11])
    eq("ContentRange", g["ContentRange"], f"bytes 6-10/{len(HELLO)}")
    g = s3.get_object(Bucket=BUCKET, Key=HELLO_KEY, Range="bytes=-5")
    eq("suffix range body", g["Body"].read(), HELLO[-5:])
    want_error("unsatisfiable range", "InvalidRange", 416,
               s3.get_object, Bucket=BUCKET, Key=HELLO_KEY, Range=f"bytes={len(HELLO) + 10}-")


@check
def conditional_gets():
    etag = f'"{md5hex(HELLO)}"'
    eq("If-Match ok", s3.get_object(Bucket=BUCKET, Key=HELLO_KEY, IfMatch=etag)["Body"].read(), HELLO)
    want_error("If-Match wrong", "PreconditionFailed", 412,
               s3.get_object, Bucket=BUCKET, Key=HELLO_KEY, IfMatch='"0123"')
    want_error("If-None-Match same", "304", 304, s3.get_object, Bucket=BUCKET, Key=HELLO_KEY, IfNoneMatch=etag)


@check
def conditional_puts():
    s3.put_object(Bucket=BUCKET, Key="cond/once", Body=b"first", IfNoneMatch="*")
    want_error("put If-None-Match * twice", "PreconditionFailed", 412,
               s3.put_object, Bucket=BUCKET, Key="cond/once", Body=b"second", IfNoneMatch="*")
    eq("body after refused put", s3.get_object(Bucket=BUCKET, Key="cond/once")["Body"].read(), b"first")
    want_error("put If-Match wrong", "PreconditionFailed", 412,
               s3.put_object, Bucket=BUCKET, Key="cond/once", Body=b"third", IfMatch='"0123"')
    s3.put_object(Bucket=BUCKET, Key="cond/once", Body=b"fourth", IfMatch=f'"{md5hex(b"first")}"')
    eq("body after If-Match put", s3.get_object(Bucket=BUCKET, Key="cond/once")["Body"].read(), b"fourth")
    s3.delete_object(Bucket=BUCKET, Key="cond/once")


@check
def list_v2_paging():
    for k in LIST_KEYS:
        s3.put_object(Bucket=BUCKET, Key=k, Body=k.encode())
    keys, prefixes, pages, token = [], [], 0, None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        r = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/", Delimiter="/", MaxKeys=2, **kw)
        pages += 1
        n = len(r.get("Contents", [])) + len(r.get("CommonPrefixes", []))
        eq(f"page {pages} KeyCount", r["KeyCount"], n)
        if n > 2:
            raise AssertionError(f"page {pages}: {n} entries over MaxKeys=2")
        keys += [c["Key"] for c in r.get("Contents", [])]
        prefixes += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
        if not r["IsTruncated"]:
            break
        token = r["NextContinuationToken"]
        if pages > 10:
            raise AssertionError("paging does not end")
    eq("v2 delimited keys", keys, ["list/c", "list/d", "list/e", "list/f"])
    eq("v2 common prefixes", prefixes, ["list/a/", "list/b/"])
    eq("v2 delimited pages", pages, 3)

    got = []
    for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=BUCKET, Prefix="list/", PaginationConfig={"PageSize": 2}):
        got += [c["Key"] for c in page.get("Contents", [])]
    eq("v2 all keys", got, LIST_KEYS)
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="list/", StartAfter="list/c")
    eq("v2 StartAfter", [c["Key"] for c in r["Contents"]], ["list/d", "list/e", "list/f"])
    r = s3.list_objects_v2(Bucket=BUCKET, Prefix="nothing/")
    eq("v2 empty KeyCount", (r["KeyCount"], r.get("Contents")), (0, None))


@check
def list_v1_marker():
    keys, marker, pages = [], "", 0
    while True:
        r = s3.list_objects(Bucket=BUCKET, Prefix="list/", MaxKeys=2, Marker=marker)
        pages += 1
        keys += [c["Key"] for c in r.get("Contents", [])]
        if not r["IsTruncated"]:
            break
        if "NextMarker" not in r:
            raise AssertionError(f"page {pages}: truncated without NextMarker")
        marker = r["NextMarker"]
        if pages > 10:
            raise AssertionError("paging does not end")
    eq("v1 keys", keys, LIST_KEYS)
    eq("v1 pages", pages, 4)
    r = s3.list_objects(Bucket=BUCKET, Prefix="list/", Delimiter="/", MaxKeys=3)
    eq("v1 delimited page", ([p["Prefix"] for p in r.get("CommonPrefixes", [])],
                             [c["Key"] for c in r.get("Contents", [])]), (["list/a/", "list/b/"], ["list/c"]))
    eq("v1 delimited NextMarker", (r["IsTruncated"], r.get("NextMarker")), (True, "list/c"))


@check
def odd_key_names():
    s3.put_object(Bucket=BUCKET, Key=ODD_KEY, Body=b"odd")
    eq("get odd key", s3.get_object(Bucket=BUCKET, Key=ODD_KEY)["Body"].read(), b"odd")
    # boto3 asks for encoding-type=url and decodes the listing itself.
    eq("v1 odd key", [c["Key"] for c in s3.list_objects(Bucket=BUCKET, Prefix="enc/")["Contents"]], [ODD_KEY])
    eq("v2 odd key", [c["Key"] for c in s3.list_objects_v2(Bucket=BUCKET, Prefix="enc/")["Contents"]], [ODD_KEY])
    s3.delete_object(Bucket=BUCKET, Key=ODD_KEY)


@check
def copy_object():
    s3.copy_object(Bucket=BUCKET, Key="obj/copy.txt", CopySource={"Bucket": BUCKET, "Key": HELLO_KEY})
    g = s3.get_object(Bucket=BUCKET, Key="obj/copy.txt")
    eq("copy body", g["Body"].read(), HELLO)
    eq("copy metadata", g["Metadata"], {"color": "blue", "nix-hash": "abc"})
    eq("copy content type", g["ContentType"], "text/plain")
    s3.copy_object(Bucket=BUCKET, Key="obj/copy2.txt", CopySource={"Bucket": BUCKET, "Key": HELLO_KEY},
                   MetadataDirective="REPLACE", ContentType="application/x-test", Metadata={"new": "yes"})
    h = s3.head_object(Bucket=BUCKET, Key="obj/copy2.txt")
    eq("replaced metadata", (h["ContentType"], h["Metadata"]), ("application/x-test", {"new": "yes"}))
    want_error("copy missing source", "NoSuchKey", 404, s3.copy_object, Bucket=BUCKET, Key="obj/x",
               CopySource={"Bucket": BUCKET, "Key": "obj/missing"})


@check
def delete_objects():
    r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [
        {"Key": "obj/copy.txt"}, {"Key": "obj/copy2.txt"}, {"Key": "obj/never-existed"}]})
    eq("deleted", sorted(d["Key"] for d in r.get("Deleted", [])),
       ["obj/copy.txt", "obj/copy2.txt", "obj/never-existed"])
    eq("errors", r.get("Errors", []), [])
    r = s3.delete_objects(Bucket=BUCKET, Delete={"Quiet": True, "Objects": [{"Key": k} for k in LIST_KEYS]})
    if "quietdelete" not in QUIRKS:
        eq("quiet deleted", r.get("Deleted", []), [])
    eq("quiet errors", r.get("Errors", []), [])
    eq("after delete", s3.list_objects_v2(Bucket=BUCKET, Prefix="list/")["KeyCount"], 0)
    eq("delete missing key status", s3.delete_object(Bucket=BUCKET, Key="obj/never-existed")
       ["ResponseMetadata"]["HTTPStatusCode"], 204)


@check
def multipart_complete():
    parts_data = [data(5 * MIB, "p1"), data(5 * MIB, "p2"), data(MIB + 17, "p3")]
    key = "mp/big.bin"
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ContentType="application/x-nix-nar",
                                    Metadata={"kind": "mp"})
    uid = up["UploadId"]
    etags = []
    for i, body in enumerate(parts_data, 1):
        r = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=i, Body=body)
        eq(f"part {i} ETag", r["ETag"], f'"{md5hex(body)}"')
        etags.append(r["ETag"])
    lp = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=uid)
    eq("list_parts", [(p["PartNumber"], p["Size"], p["ETag"]) for p in lp["Parts"]],
       [(i, len(b), e) for i, (b, e) in enumerate(zip(parts_data, etags), 1)])
    lp = s3.list_parts(Bucket=BUCKET, Key=key, UploadId=uid, MaxParts=2)
    eq("list_parts page", ([p["PartNumber"] for p in lp["Parts"]], lp["IsTruncated"], lp["NextPartNumberMarker"]),
       ([1, 2], True, 2))
    ups = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    eq("list_multipart_uploads", [(u["Key"], u["UploadId"]) for u in ups], [(key, uid)])
    r = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": i, "ETag": e} for i, e in enumerate(etags, 1)]})
    want = hashlib.md5(b"".join(hashlib.md5(b).digest() for b in parts_data)).hexdigest()
    eq("complete ETag", r["ETag"], f'"{want}-3"')
    g = s3.get_object(Bucket=BUCKET, Key=key)
    eq("multipart body", g["Body"].read() == b"".join(parts_data), True)
    eq("multipart attrs", (g["ContentType"], g["Metadata"], g["ETag"]),
       ("application/x-nix-nar", {"kind": "mp"}, f'"{want}-3"'))
    eq("uploads after complete", s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []), [])
    s3.delete_object(Bucket=BUCKET, Key=key)


@check
def multipart_errors_and_abort():
    key = "mp/bad.bin"
    uid = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    sizes = [5 * MIB, 5 * MIB, 1024, 1024]
    etags = [s3.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=n,
                            Body=data(size, f"bad{n}"))["ETag"] for n, size in enumerate(sizes, 1)]

    def complete(numbers, etag_of=lambda n: etags[n - 1]):
        s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": n, "ETag": etag_of(n)} for n in numbers]})

    want_error("wrong part ETag", "InvalidPart", 400, complete, [1, 2],
               lambda n: etags[0] if n == 1 else '"00000000000000000000000000000000"')
    want_error("missing part", "InvalidPart", 400, complete, [1, 2, 5],
               lambda n: etags[n - 1] if n <= 4 else etags[3])
    want_error("parts out of order", "InvalidPartOrder", 400, complete, [2, 1])
    want_error("small middle part", "EntityTooSmall", 400, complete, [1, 3, 4])
    s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid)
    eq("uploads after abort", s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []), [])
    want_error("upload to aborted", "NoSuchUpload", 404, s3.upload_part, Bucket=BUCKET, Key=key,
               UploadId=uid, PartNumber=3, Body=b"x")
    want_error("object after abort", "NoSuchKey", 404, s3.get_object, Bucket=BUCKET, Key=key)


@check
def presigned_urls():
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": HELLO_KEY}, ExpiresIn=300)
    if "AWSAccessKeyId=" not in url:
        raise AssertionError(f"default presign is not SigV2: {url}")
    if "nosigv2" not in QUIRKS:
        eq("v2 presigned GET", fetch(url), (200, HELLO))
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": HELLO_KEY}, ExpiresIn=300)
    if "X-Amz-Signature=" not in url:
        raise AssertionError(f"s3v4 presign is not SigV4: {url}")
    eq("v4 presigned GET", fetch(url), (200, HELLO))
    url = s3v4.generate_presigned_url("put_object", Params={"Bucket": BUCKET, "Key": "obj/presigned-put"},
                                      ExpiresIn=300)
    eq("v4 presigned PUT status", fetch(url, "PUT", b"put by URL")[0], 200)
    eq("presigned PUT body", s3.get_object(Bucket=BUCKET, Key="obj/presigned-put")["Body"].read(), b"put by URL")
    s3.delete_object(Bucket=BUCKET, Key="obj/presigned-put")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": HELLO_KEY})
    head, sig = url.split("X-Amz-Signature=")
    status, body = fetch(head + "X-Amz-Signature=" + ("1" if sig[0] == "0" else "0") + sig[1:])
    eq("tampered presign", (status, b"<Code>SignatureDoesNotMatch</Code>" in body), (403, True))


@check
def error_codes():
    want_error("get missing key", "NoSuchKey", 404, s3.get_object, Bucket=BUCKET, Key="no/such/key")
    eq("head missing key", error_code(s3.head_object, Bucket=BUCKET, Key="no/such/key"), ("404", 404))
    want_error("get missing bucket", "NoSuchBucket", 404, s3.get_object, Bucket="no-such-bucket-e2e", Key="k")
    want_error("list missing bucket", "NoSuchBucket", 404, s3.list_objects_v2, Bucket="no-such-bucket-e2e")
    eq("head missing bucket", error_code(s3.head_bucket, Bucket="no-such-bucket-e2e"), ("404", 404))
    want_error("delete non-empty bucket", "BucketNotEmpty", 409, s3.delete_bucket, Bucket=BUCKET)
    wrong = boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1",
                         aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                         aws_secret_access_key="wrong-secret",
                         config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    want_error("wrong secret", "SignatureDoesNotMatch", 403, wrong.list_buckets)
    unknown = boto3.client("s3", endpoint_url=ENDPOINT, region_name="us-east-1",
                           aws_access_key_id="AKIDUNKNOWN0000000000", aws_secret_access_key="x",
                           config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    if "unknownkey" not in QUIRKS:
        # nixbucket answers an unknown key as a wrong secret, so the
        # answer does not tell which key ids exist.
        want_error("unknown key", "SignatureDoesNotMatch", 403, unknown.list_buckets)


@check
def delete_bucket():
    s3.delete_object(Bucket=BUCKET, Key=HELLO_KEY)
    left = [c["Key"] for c in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    if left:  # left behind by a failed check: clear them so this check stands alone
        print(f"note: removing objects left by failed checks: {left}")
        s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in left]})
    for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=BUCKET, Key=u["Key"], UploadId=u["UploadId"])
    eq("bucket empty", s3.list_objects_v2(Bucket=BUCKET)["KeyCount"], 0)
    s3.delete_bucket(Bucket=BUCKET)
    eq("head deleted bucket", error_code(s3.head_bucket, Bucket=BUCKET), ("404", 404))


if failures:
    print(f"FAILED {len(failures)} of {passed + len(failures)}: {', '.join(failures)}")
    sys.exit(1)
print(f"ALL PASSED {passed}")
