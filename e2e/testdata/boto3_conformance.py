#!/usr/bin/env python3
"""boto3 checks of AWS's answers where S3 conformance suites found
nixbucket's to differ (issue #13). Run by e2e/conformance_test.go:

    NB_ENDPOINT=http://127.0.0.1:PORT NB_BUCKET=name \
    AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… python3 boto3_conformance.py

Prints one "PASS name" or "FAIL: name: why" line per check and
"ALL PASSED n" at the end; exits 1 if any check failed.
"""

import base64
import datetime
import hashlib
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from boto3_checks import ENDPOINT, MIB, check, client, summary

BUCKET = os.environ["NB_BUCKET"]

s3 = client()
s3v4 = client(signature_version="s3v4")


def eq(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def want_error(what, code, status, fn, *args, **kw):
    """Calls fn, which must fail with code and status; returns the error."""
    try:
        fn(*args, **kw)
    except ClientError as e:
        err = e.response["Error"]
        eq(what, (err.get("Code"), e.response["ResponseMetadata"]["HTTPStatusCode"]), (code, status))
        return err
    raise AssertionError(f"{what}: succeeded, want {code} {status}")


def fetch(url, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def body(n, seed):
    out = bytearray()
    block = hashlib.sha256(seed.encode()).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])


s3.create_bucket(Bucket=BUCKET)


@check
def unimplemented_subresources():
    want_error("put_bucket_versioning", "NotImplemented", 501, s3.put_bucket_versioning,
               Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    want_error("put_bucket_versioning of a missing bucket", "NoSuchBucket", 404, s3.put_bucket_versioning,
               Bucket="never-made-by-versioning", VersioningConfiguration={"Status": "Enabled"})
    eq("bucket made by ?versioning",
       [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"] == "never-made-by-versioning"], [])
    want_error("get_bucket_policy_status", "NotImplemented", 501, s3.get_bucket_policy_status, Bucket=BUCKET)
    want_error("get_bucket_encryption", "NotImplemented", 501, s3.get_bucket_encryption, Bucket=BUCKET)
    want_error("put_bucket_website", "NotImplemented", 501, s3.put_bucket_website, Bucket=BUCKET,
               WebsiteConfiguration={"IndexDocument": {"Suffix": "index.html"}})


@check
def create_bucket_again():
    # us-east-1: AWS's legacy behaviour answers 200 to the owner.
    s3.create_bucket(Bucket=BUCKET)
    want_error("LocationConstraint us-east-1", "InvalidLocationConstraint", 400, s3.create_bucket,
               Bucket=BUCKET + "-lc", CreateBucketConfiguration={"LocationConstraint": "us-east-1"})
    want_error("LocationConstraint eu-west-1", "IllegalLocationConstraintException", 400, s3.create_bucket,
               Bucket=BUCKET + "-lc", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})


@check
def list_buckets_paged():
    names = [f"{BUCKET}-page-{i}" for i in range(3)]
    for n in names:
        s3.create_bucket(Bucket=n)
    got, pages = [], 0
    for page in s3.get_paginator("list_buckets").paginate(Prefix=BUCKET + "-page-", PaginationConfig={"PageSize": 2}):
        pages += 1
        eq("page Prefix", page.get("Prefix"), BUCKET + "-page-")
        got += [b["Name"] for b in page["Buckets"]]
    eq("paged names", got, names)
    eq("pages", pages, 2)
    want_error("MaxBuckets=10001", "InvalidArgument", 400, s3.list_buckets, MaxBuckets=10001)
    want_error("bad token", "InvalidArgument", 400, s3.list_buckets, ContinuationToken="!!")
    for n in names:
        s3.delete_bucket(Bucket=n)


@check
def delete_bucket_with_uploads():
    b = BUCKET + "-uploads"
    s3.create_bucket(Bucket=b)
    up = s3.create_multipart_upload(Bucket=b, Key="pending")
    s3.upload_part(Bucket=b, Key="pending", UploadId=up["UploadId"], PartNumber=1, Body=b"part")
    s3.delete_bucket(Bucket=b)
    try:
        s3.head_bucket(Bucket=b)
    except ClientError as e:
        eq("head deleted bucket", e.response["ResponseMetadata"]["HTTPStatusCode"], 404)
    else:
        raise AssertionError("bucket still there after delete_bucket")


@check
def complete_twice():
    key = "mp/twice"
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    p1, p2 = body(5 * MIB, "p1"), body(1000, "p2")
    e1 = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up["UploadId"], PartNumber=1, Body=p1)["ETag"]
    e2 = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up["UploadId"], PartNumber=2, Body=p2)["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]}
    first = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=up["UploadId"], MultipartUpload=parts)
    again = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=up["UploadId"], MultipartUpload=parts)
    eq("repeated ETag", again["ETag"], first["ETag"])
    eq("Location", first["Location"], f"{ENDPOINT}/{BUCKET}/{key}")


@check
def ranges():
    data = body(100, "ranges")
    s3.put_object(Bucket=BUCKET, Key="r/k", Body=data)
    s3.put_object(Bucket=BUCKET, Key="r/empty", Body=b"")
    for rng in ("bytes= -1", "bytes=--1", "bytes=5-3"):
        g = s3.get_object(Bucket=BUCKET, Key="r/k", Range=rng)
        eq(f"{rng} status", g["ResponseMetadata"]["HTTPStatusCode"], 200)
        eq(f"{rng} body", g["Body"].read(), data)
    # An empty object has no first byte: 416, as AWS answers; its suffix
    # is its (empty) whole.
    want_error("range on an empty object", "InvalidRange", 416, s3.get_object,
               Bucket=BUCKET, Key="r/empty", Range="bytes=0-9")
    g = s3.get_object(Bucket=BUCKET, Key="r/empty", Range="bytes=-1")
    eq("suffix of an empty object", (g["ResponseMetadata"]["HTTPStatusCode"], g["Body"].read()), (200, b""))
    h = s3.head_object(Bucket=BUCKET, Key="r/k", Range="bytes=10-19")
    eq("HEAD range", (h["ResponseMetadata"]["HTTPStatusCode"], h["ContentLength"], h["ContentRange"]),
       (206, 10, "bytes 10-19/100"))
    want_error("range with partNumber", "InvalidRequest", 400, s3.get_object,
               Bucket=BUCKET, Key="r/k", Range="bytes=0-1", PartNumber=1)
    g = s3.get_object(Bucket=BUCKET, Key="r/k", PartNumber=1)
    eq("part 1 of a simple object", (g["Body"].read(), "PartsCount" in g), (data, False))
    want_error("part 2 of a simple object", "InvalidPartNumber", 416, s3.get_object,
               Bucket=BUCKET, Key="r/k", PartNumber=2)


@check
def content_length_with_encoding():
    data = body(200_000, "encoded")
    s3.put_object(Bucket=BUCKET, Key="enc/k", Body=data, ContentEncoding="gzip")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "enc/k"}, ExpiresIn=300)
    st, hdr, got = fetch(url, {"Accept-Encoding": "gzip"})
    eq("status", st, 200)
    eq("Content-Length", hdr.get("Content-Length"), str(len(data)))
    eq("Content-Encoding", hdr.get("Content-Encoding"), "gzip")
    eq("body", got, data)


@check
def conditional_write_on_etag():
    etag = s3.put_object(Bucket=BUCKET, Key="cond/k", Body=b"v")["ETag"]
    want_error("If-None-Match etag", "NotImplemented", 501, s3.put_object,
               Bucket=BUCKET, Key="cond/k", Body=b"w", IfNoneMatch=etag)
    want_error("If-None-Match *", "PreconditionFailed", 412, s3.put_object,
               Bucket=BUCKET, Key="cond/k", Body=b"w", IfNoneMatch="*")


@check
def write_validation():
    long = "k" * 1025
    want_error("long key put", "KeyTooLongError", 400, s3.put_object, Bucket=BUCKET, Key=long, Body=b"x")
    want_error("long key mpu", "KeyTooLongError", 400, s3.create_multipart_upload, Bucket=BUCKET, Key=long)
    s3.put_object(Bucket=BUCKET, Key="v/src", Body=b"x")
    want_error("long key copy", "KeyTooLongError", 400, s3.copy_object, Bucket=BUCKET, Key=long,
               CopySource={"Bucket": BUCKET, "Key": "v/src"})
    r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": long}]})
    eq("long key delete", [e["Code"] for e in r.get("Errors", [])], ["KeyTooLongError"])
    big = {"big": "m" * 2100}
    want_error("metadata put", "MetadataTooLarge", 400, s3.put_object, Bucket=BUCKET, Key="v/meta", Body=b"x",
               Metadata=big)
    want_error("metadata copy", "MetadataTooLarge", 400, s3.copy_object, Bucket=BUCKET, Key="v/meta",
               CopySource={"Bucket": BUCKET, "Key": "v/src"}, MetadataDirective="REPLACE", Metadata=big)

    def empty_md5(request, **_):
        request.headers["Content-MD5"] = ""
    c = client()
    c.meta.events.register("before-send.s3.PutObject", empty_md5)
    want_error("empty Content-MD5", "InvalidDigest", 400, c.put_object, Bucket=BUCKET, Key="v/md5", Body=b"x")


@check
def presigned_expiry():
    s3.put_object(Bucket=BUCKET, Key="p/k", Body=b"x")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "p/k"}, ExpiresIn=604801)
    st, _, out = fetch(url)
    eq("over a week", st, 400)
    if b"<Code>AuthorizationQueryParametersError</Code>" not in out or b"must be less than 604800 seconds" not in out:
        raise AssertionError(f"over a week: {out!r}")
    url = s3v4.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": "p/k"}, ExpiresIn=1)
    time.sleep(2)
    st, _, out = fetch(url)
    eq("expired", st, 403)
    if b"<Code>AccessDenied</Code>" not in out or b"<Message>Request has expired</Message>" not in out:
        raise AssertionError(f"expired: {out!r}")
    for tag in (b"<Resource>/", b"<RequestId>"):
        if tag not in out:
            raise AssertionError(f"error body lacks {tag!r}: {out!r}")



@check
def complete_part_list_checked_first():
    # Unsorted parts are InvalidPartOrder whatever their sizes, and a list
    # without parts is MalformedXML (ceph's test_multipart_upload_empty).
    key = "mp/order"
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key)
    e = [s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=b"tiny")["ETag"]
         for n in (1, 2)]
    want_error("unsorted small parts", "InvalidPartOrder", 400, s3.complete_multipart_upload,
               Bucket=BUCKET, Key=key, UploadId=up["UploadId"],
               MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": e[1]}, {"PartNumber": 1, "ETag": e[0]}]})
    want_error("no parts", "MalformedXML", 400, s3.complete_multipart_upload,
               Bucket=BUCKET, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": []})
    s3.abort_multipart_upload(Bucket=BUCKET, Key=key, UploadId=up["UploadId"])


def corrupting(header, value):
    """A client whose XML and policy bodies carry header: value instead of
    the checksum boto3 computed (set before signing, so the signature holds)."""
    c = client()

    def corrupt(request, **_):
        for name in [h for h in request.headers
                     if h.lower().startswith("x-amz-checksum-") or h.lower() in ("content-md5", "x-amz-sdk-checksum-algorithm")]:
            del request.headers[name]
        request.headers[header] = value
    for op in ("DeleteObjects", "PutBucketPolicy", "PutObjectTagging"):
        c.meta.events.register(f"before-sign.s3.{op}", corrupt)
    return c


@check
def small_bodies_checked_against_digests():
    s3.put_object(Bucket=BUCKET, Key="dig/k", Body=b"x")
    wrong_md5 = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    for header, value, what in (("Content-MD5", wrong_md5, "Content-MD5"),
                                ("x-amz-checksum-crc32", "AAAAAA==", "CRC32"),
                                ("x-amz-checksum-sha256", base64.b64encode(b"0" * 32).decode(), "SHA256")):
        c = corrupting(header, value)
        want_error(f"delete_objects with a wrong {what}", "BadDigest", 400, c.delete_objects,
                   Bucket=BUCKET, Delete={"Objects": [{"Key": "dig/k"}]})
        eq(f"object after the refused delete ({what})", s3.get_object(Bucket=BUCKET, Key="dig/k")["Body"].read(), b"x")
        want_error(f"put_bucket_policy with a wrong {what}", "BadDigest", 400, c.put_bucket_policy,
                   Bucket=BUCKET, Policy='{"Version":"2012-10-17","Statement":[]}')
        want_error(f"put_object_tagging with a wrong {what}", "BadDigest", 400, c.put_object_tagging,
                   Bucket=BUCKET, Key="dig/k", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    # The right digests pass, whichever kind the client sends.
    ok = corrupting("Content-MD5", base64.b64encode(hashlib.md5(
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>dig/none</Key></Object></Delete>').digest()).decode())
    r = ok.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "dig/none"}]})
    eq("delete_objects with the right Content-MD5", [d["Key"] for d in r.get("Deleted", [])], ["dig/none"])


@check
def delete_objects_version_ids():
    # Buckets are unversioned: "null" names the one version there is, any
    # other version ID is refused for that key, which stays.
    for k in ("ver/a", "ver/b"):
        s3.put_object(Bucket=BUCKET, Key=k, Body=b"x")
    r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "ver/a", "VersionId": "null"},
                                                             {"Key": "ver/b", "VersionId": "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd"}]})
    eq("deleted", [(d["Key"], d.get("VersionId")) for d in r.get("Deleted", [])], [("ver/a", "null")])
    eq("errors", [(e["Key"], e.get("VersionId"), e["Code"]) for e in r.get("Errors", [])],
       [("ver/b", "3HL4kqtJlcpXroDTDmjVBH40Nrjfkd", "InvalidArgument")])
    eq("ver/b kept", s3.get_object(Bucket=BUCKET, Key="ver/b")["Body"].read(), b"x")


@check
def if_range_same_for_head_and_get():
    # A Range whose If-Range names another version is served whole (RFC
    # 9110), and HEAD announces what GET sends.
    data = body(100, "if-range")
    etag = s3.put_object(Bucket=BUCKET, Key="ifr/k", Body=data)["ETag"]
    c = client()
    sent = {}

    def add(request, **_):
        request.headers["If-Range"] = sent["v"]
    for op in ("GetObject", "HeadObject"):
        c.meta.events.register(f"before-sign.s3.{op}", add)
    for v, partial in ((etag, True), ('"0123456789abcdef0123456789abcdef"', False)):
        sent["v"] = v
        g = c.get_object(Bucket=BUCKET, Key="ifr/k", Range="bytes=10-19")
        h = c.head_object(Bucket=BUCKET, Key="ifr/k", Range="bytes=10-19")
        want = (206, 10) if partial else (200, 100)
        eq(f"GET If-Range {v}", (g["ResponseMetadata"]["HTTPStatusCode"], len(g["Body"].read())), want)
        eq(f"HEAD If-Range {v}", (h["ResponseMetadata"]["HTTPStatusCode"], h["ContentLength"]), want)


@check
def encryption_with_keys_refused():
    # AES256 is S3's default and accepted; KMS and customer keys are not
    # kept, so they are refused rather than dropped, on every write.
    s3.put_object(Bucket=BUCKET, Key="sse/src", Body=b"x", ServerSideEncryption="AES256")
    kms = {"ServerSideEncryption": "aws:kms"}
    ssec = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": "k" * 32}
    for what, kw in (("SSE-KMS", kms), ("SSE-C", ssec)):
        want_error(f"put_object {what}", "NotImplemented", 501, s3.put_object, Bucket=BUCKET, Key="sse/k", Body=b"x", **kw)
        want_error(f"create_multipart_upload {what}", "NotImplemented", 501, s3.create_multipart_upload,
                   Bucket=BUCKET, Key="sse/k", **kw)
        want_error(f"copy_object {what}", "NotImplemented", 501, s3.copy_object, Bucket=BUCKET, Key="sse/k",
                   CopySource={"Bucket": BUCKET, "Key": "sse/src"}, **kw)
    want_error("put_object with an unknown method", "InvalidArgument", 400, s3.put_object,
               Bucket=BUCKET, Key="sse/k", Body=b"x", ServerSideEncryption="rot13")
    want_error("nothing stored", "404", 404, s3.head_object, Bucket=BUCKET, Key="sse/k")


@check
def browser_post_refused():
    # POST Object (an HTML form upload, as boto3's generate_presigned_post
    # makes) is not implemented: 501, never 405 or a stored object.
    post = s3v4.generate_presigned_post(BUCKET, "form/k", ExpiresIn=300)
    boundary = "nixbucketformboundary"
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
             for k, v in post["fields"].items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="k"\r\n'
                 f'Content-Type: application/octet-stream\r\n\r\nform body\r\n--{boundary}--\r\n'.encode())
    req = urllib.request.Request(post["url"], data=b"".join(parts), method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            st, out = r.status, r.read()
    except urllib.error.HTTPError as e:
        st, out = e.code, e.read()
    eq("POST form status", st, 501)
    if b"NotImplemented" not in out:
        raise AssertionError(f"POST form body: {out!r}")
    want_error("nothing stored", "404", 404, s3.head_object, Bucket=BUCKET, Key="form/k")


@check
def storage_classes():
    # Every class S3 knows is taken (and kept as STANDARD); another value
    # is InvalidStorageClass, not a silent STANDARD.
    s3.put_object(Bucket=BUCKET, Key="sc/ia", Body=b"x", StorageClass="STANDARD_IA")
    eq("kept as STANDARD", s3.head_object(Bucket=BUCKET, Key="sc/ia").get("StorageClass", "STANDARD"), "STANDARD")
    c = client()

    def typo(request, **_):
        request.headers["x-amz-storage-class"] = "STANDARD-IA"
    c.meta.events.register("before-sign.s3.PutObject", typo)
    c.meta.events.register("before-sign.s3.CreateMultipartUpload", typo)
    want_error("put_object", "InvalidStorageClass", 400, c.put_object, Bucket=BUCKET, Key="sc/typo", Body=b"x")
    want_error("create_multipart_upload", "InvalidStorageClass", 400, c.create_multipart_upload, Bucket=BUCKET, Key="sc/typo")
    want_error("nothing stored", "404", 404, s3.head_object, Bucket=BUCKET, Key="sc/typo")


@check
def modified_since_in_the_future_ignored():
    # A date past the server's clock is invalid and ignored (as S3 does):
    # the object is sent, not "304 unchanged" to a client whose clock runs
    # ahead. The object's own Last-Modified still gives 304.
    s3.put_object(Bucket=BUCKET, Key="ims/k", Body=b"fresh")
    lm = s3.head_object(Bucket=BUCKET, Key="ims/k")["LastModified"]
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    eq("GET", s3.get_object(Bucket=BUCKET, Key="ims/k", IfModifiedSince=future)["Body"].read(), b"fresh")
    eq("HEAD", s3.head_object(Bucket=BUCKET, Key="ims/k", IfModifiedSince=future)["ContentLength"], 5)
    s3.copy_object(Bucket=BUCKET, Key="ims/copy", CopySource={"Bucket": BUCKET, "Key": "ims/k"},
                   CopySourceIfModifiedSince=future)
    eq("copied", s3.get_object(Bucket=BUCKET, Key="ims/copy")["Body"].read(), b"fresh")
    want_error("GET since Last-Modified", "304", 304, s3.get_object, Bucket=BUCKET, Key="ims/k", IfModifiedSince=lm)
    want_error("copy since Last-Modified", "PreconditionFailed", 412, s3.copy_object, Bucket=BUCKET, Key="ims/copy",
               CopySource={"Bucket": BUCKET, "Key": "ims/k"}, CopySourceIfModifiedSince=lm)


@check
def conditional_delete_on_size_and_time():
    # x-amz-if-match-size and x-amz-if-match-last-modified-time (S3
    # documents them for directory buckets; boto3 sends them to any): an
    # object of another size or time stays, 412; a missing one is a 204.
    s3.put_object(Bucket=BUCKET, Key="cdel/k", Body=b"four")
    lm = s3.head_object(Bucket=BUCKET, Key="cdel/k")["LastModified"]
    want_error("other size", "PreconditionFailed", 412, s3.delete_object, Bucket=BUCKET, Key="cdel/k", IfMatchSize=5)
    want_error("other time", "PreconditionFailed", 412, s3.delete_object, Bucket=BUCKET, Key="cdel/k",
               IfMatchLastModifiedTime=lm - datetime.timedelta(seconds=1))
    r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": "cdel/k", "Size": 5}]})
    eq("delete_objects other size", [(e["Key"], e["Code"]) for e in r.get("Errors", [])], [("cdel/k", "PreconditionFailed")])
    eq("still there", s3.get_object(Bucket=BUCKET, Key="cdel/k")["Body"].read(), b"four")
    s3.delete_object(Bucket=BUCKET, Key="cdel/k", IfMatchSize=4, IfMatchLastModifiedTime=lm)
    want_error("deleted", "404", 404, s3.head_object, Bucket=BUCKET, Key="cdel/k")
    eq("missing", s3.delete_object(Bucket=BUCKET, Key="cdel/k", IfMatchSize=4)["ResponseMetadata"]["HTTPStatusCode"], 204)
    c = client()

    def bad_size(request, **_):
        request.headers["x-amz-if-match-size"] = "-1"
    c.meta.events.register("before-sign.s3.DeleteObject", bad_size)
    want_error("bad size", "InvalidArgument", 400, c.delete_object, Bucket=BUCKET, Key="cdel/k")


@check
def complete_checks_object_size():
    # x-amz-mp-object-size names the object's size: another is 400
    # InvalidRequest and the upload stays, to be completed rightly.
    u = s3.create_multipart_upload(Bucket=BUCKET, Key="mpsize/k")["UploadId"]
    p = s3.upload_part(Bucket=BUCKET, Key="mpsize/k", UploadId=u, PartNumber=1, Body=b"x" * 10)
    parts = {"Parts": [{"PartNumber": 1, "ETag": p["ETag"]}]}
    want_error("wrong size", "InvalidRequest", 400, s3.complete_multipart_upload, Bucket=BUCKET, Key="mpsize/k",
               UploadId=u, MultipartUpload=parts, MpuObjectSize=11)
    want_error("nothing stored", "404", 404, s3.head_object, Bucket=BUCKET, Key="mpsize/k")
    s3.complete_multipart_upload(Bucket=BUCKET, Key="mpsize/k", UploadId=u, MultipartUpload=parts, MpuObjectSize=10)
    eq("stored", s3.head_object(Bucket=BUCKET, Key="mpsize/k")["ContentLength"], 10)


@check
def errors_name_their_subject():
    # S3's error documents name what was missing: NoSuchKey its Key,
    # NoSuchBucket and BucketNotEmpty the BucketName, NoSuchUpload the
    # UploadId; boto3 hands them to the caller in the error.
    err = want_error("get", "NoSuchKey", 404, s3.get_object, Bucket=BUCKET, Key="subject/no such key")
    eq("NoSuchKey Key", err.get("Key"), "subject/no such key")
    err = want_error("list", "NoSuchBucket", 404, s3.list_objects_v2, Bucket="subject-no-such-bucket")
    eq("NoSuchBucket BucketName", err.get("BucketName"), "subject-no-such-bucket")
    s3.put_object(Bucket=BUCKET, Key="subject/k", Body=b"x")
    err = want_error("delete bucket", "BucketNotEmpty", 409, s3.delete_bucket, Bucket=BUCKET)
    eq("BucketNotEmpty BucketName", err.get("BucketName"), BUCKET)
    err = want_error("list parts", "NoSuchUpload", 404, s3.list_parts, Bucket=BUCKET, Key="subject/k", UploadId="nosuchupload")
    eq("NoSuchUpload UploadId", err.get("UploadId"), "nosuchupload")


def put_raced(key, cond, body, race):
    """PUTs body to key under the conditional header cond (a dict), and
    calls race() between the server's "100 Continue", which it sends once
    it checked the condition, and the body; returns (status, code)."""
    url = urllib.parse.urlsplit(ENDPOINT)
    path = f"/{BUCKET}/{urllib.parse.quote(key)}"
    req = AWSRequest(method="PUT", url=ENDPOINT + path, data=body, headers={"Content-Length": str(len(body)), **cond})
    S3SigV4Auth(boto3.Session().get_credentials(), "s3", "us-east-1").add_auth(req)
    with socket.create_connection((url.hostname, url.port), timeout=60) as sock:
        head = f"PUT {path} HTTP/1.1\r\nHost: {url.netloc}\r\nExpect: 100-continue\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in req.headers.items()) + "\r\n"
        sock.sendall(head.encode())
        f = sock.makefile("rb")
        status = f.readline()
        if b" 100 " not in status:
            raise AssertionError(f"{key}: answered {status!r} before the body, want 100 Continue")
        while f.readline() not in (b"\r\n", b""):
            pass
        race()
        sock.sendall(body)
        status = int(f.readline().split()[1])
        length = 0
        while (line := f.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        doc = f.read(length).decode()
    code = doc.split("<Code>")[1].split("</Code>")[0] if "<Code>" in doc else ""
    return status, code


@check
def conditional_put_meeting_a_conflicting_write():
    # A conditional PutObject whose condition held when it began but not
    # once its body was in: a conflicting write came first, which S3
    # answers with 409 ConditionalRequestConflict (retry), not 412.
    key = "race/new"
    got = put_raced(key, {"If-None-Match": "*"}, b"mine",
                    lambda: s3.put_object(Bucket=BUCKET, Key=key, Body=b"theirs"))
    eq("If-None-Match", got, (409, "ConditionalRequestConflict"))
    eq("kept", s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(), b"theirs")
    etag = s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
    got = put_raced(key, {"If-Match": etag}, b"mine",
                    lambda: s3.put_object(Bucket=BUCKET, Key=key, Body=b"theirs again"))
    eq("If-Match", got, (409, "ConditionalRequestConflict"))
    eq("kept", s3.get_object(Bucket=BUCKET, Key=key)["Body"].read(), b"theirs again")
    # A retry meets the condition as it now is.
    want_error("retry", "PreconditionFailed", 412, s3.put_object, Bucket=BUCKET, Key=key, Body=b"mine", IfNoneMatch="*")


@check
def append_refused():
    # x-amz-write-offset-bytes appends to an object (S3 Express One Zone
    # only). nixbucket does not append: refused, never taken as a PUT that
    # would replace the object the caller meant to extend.
    s3.put_object(Bucket=BUCKET, Key="append/k", Body=b"first")
    want_error("append", "NotImplemented", 501, s3.put_object, Bucket=BUCKET, Key="append/k", Body=b"second",
               WriteOffsetBytes=5)
    eq("kept", s3.get_object(Bucket=BUCKET, Key="append/k")["Body"].read(), b"first")


@check
def listing_keys_xml_cannot_carry():
    # Keys holding characters XML 1.0 cannot carry (C0 controls, DEL) come
    # back whole with encoding-type=url, which botocore asks for and
    # decodes in ListObjects, ListObjectsV2 and ListObjectVersions; in
    # ListMultipartUploads the caller asks and decodes.
    keys = sorted(["ctl/a\x01b", "ctl/c\x1fd", "ctl/tab\tkey", "ctl/nl\nkey", "ctl/cr\rkey", "ctl/del\x7f", "ctl/sp +"])
    for k in keys:
        s3.put_object(Bucket=BUCKET, Key=k, Body=b"x")
    eq("list_objects", [o["Key"] for o in s3.list_objects(Bucket=BUCKET, Prefix="ctl/")["Contents"]], keys)
    eq("list_objects_v2", [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="ctl/")["Contents"]], keys)
    eq("list_object_versions", [o["Key"] for o in s3.list_object_versions(Bucket=BUCKET, Prefix="ctl/")["Versions"]], keys)
    # Pages of two, through continuation tokens, and a delimiter that is a control character.
    got, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=BUCKET, Prefix="ctl/", MaxKeys=2, **kw)
        got += [o["Key"] for o in page["Contents"]]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    eq("paged", got, keys)
    page = s3.list_objects_v2(Bucket=BUCKET, Prefix="ctl/", Delimiter="\x1f")
    eq("delimiter \\x1f", [p["Prefix"] for p in page["CommonPrefixes"]], ["ctl/c\x1f"])
    up = s3.create_multipart_upload(Bucket=BUCKET, Key="ctl/up\x02load")
    try:
        page = s3.list_multipart_uploads(Bucket=BUCKET, Prefix="ctl/", EncodingType="url")
        eq("list_multipart_uploads", [urllib.parse.unquote(u["Key"]) for u in page["Uploads"]], ["ctl/up\x02load"])
    finally:
        s3.abort_multipart_upload(Bucket=BUCKET, Key="ctl/up\x02load", UploadId=up["UploadId"])


@check
def encryption_headers_on_reads():
    # No nixbucket object is SSE-C encrypted, so SSE-C parameters on a read
    # are not applicable to it, and x-amz-server-side-encryption is no read
    # header: S3 answers 400 to both. Served anyway, the client would
    # believe its key guarded the object.
    s3.put_object(Bucket=BUCKET, Key="sse/plain", Body=b"plain")
    ssec = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": b"k" * 32}
    want_error("get_object SSE-C", "InvalidRequest", 400, s3.get_object, Bucket=BUCKET, Key="sse/plain", **ssec)
    want_error("head_object SSE-C", "400", 400, s3.head_object, Bucket=BUCKET, Key="sse/plain", **ssec)
    want_error("get_object SSE-C, missing key", "NoSuchKey", 404, s3.get_object, Bucket=BUCKET, Key="sse/none", **ssec)
    sse = client()
    sse.meta.events.register("before-sign.s3.GetObject",
                             lambda request, **_: request.headers.__setitem__("x-amz-server-side-encryption", "AES256"))
    want_error("get_object x-amz-server-side-encryption", "InvalidArgument", 400, sse.get_object,
               Bucket=BUCKET, Key="sse/plain")
    eq("plain read", s3.get_object(Bucket=BUCKET, Key="sse/plain")["Body"].read(), b"plain")


@check
def presigned_urls_of_awkward_keys():
    # SigV2 (what boto3 and the aws CLI v1 presign with by default) and
    # SigV4 URLs of keys whose path needs escaping, fetched as a browser or
    # curl would.
    v2 = client(signature_version="s3")
    for key in ["pre/sp ace.txt", "pre/pl+us.txt", "pre/\u00fcn\u00ef c\u00f8d\u00e9.txt", "pre/a%2Fb",
                "pre/q?x=1&y#z", "pre/tilde~*'()!;,=@$"]:
        s3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
        for name, c in (("v2", v2), ("v4", s3v4)):
            url = c.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=300)
            status, _, got = fetch(url)
            eq(f"{name} GET {key!r}", (status, got), (200, key.encode()))

summary()
