#!/usr/bin/env python3
"""boto3 at its defaults against S3 checksums (e2e/boto3_checksums_test.go).

    NB_ENDPOINT=http://127.0.0.1:PORT NB_BUCKET=name \
    AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... python3 boto3_checksums.py

boto3 >= 1.36 sends a CRC32 with every upload (request_checksum_calculation
"when_supported"), s3transfer names CRC32 on CreateMultipartUpload and
completes with each part's, and get_object validates the body against the
checksum the server returns (response_checksum_validation "when_supported").
Every expected value is computed here, so a missing or wrong checksum fails.
Prints "PASS name" or "FAIL: name: why" per check, then "ALL PASSED n".
"""

import base64
import os
import struct
import sys
import traceback
import zlib

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["NB_ENDPOINT"]
BUCKET = os.environ["NB_BUCKET"]
MIB = 1 << 20


def client(**cfg):
    return boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, **cfg),
    )


s3 = client()


def b64(b):
    return base64.b64encode(b).decode()


def crc32(data):
    return struct.pack(">I", zlib.crc32(data))


def _crc64nvme_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x9A6C9329AC4BC9B5 if c & 1 else c >> 1
        table.append(c)
    return table


CRC64_TABLE = _crc64nvme_table()


def crc64nvme(data):
    c = 0xFFFFFFFFFFFFFFFF
    for b in data:
        c = CRC64_TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return struct.pack(">Q", c ^ 0xFFFFFFFFFFFFFFFF)


def composite_crc32(parts):
    return "%s-%d" % (b64(crc32(b"".join(crc32(p) for p in parts))), len(parts))


def expect(what, got, want):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what, got, want))


def check_get(key, body, field, want, typ, validated):
    """get_object with ChecksumMode ENABLED returns the checksum; a
    full-object CRC32 is validated by botocore as the body is read."""
    resp = s3.get_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    stream = resp["Body"]
    expect(key + " get_object body", stream.read(), body)
    expect(key + " get_object " + field, resp.get(field), want)
    expect(key + " get_object ChecksumType", resp.get("ChecksumType"), typ)
    # botocore wraps the body in a validating stream only when it checks
    # the checksum: proof that validation ran (or, for a composite value,
    # rightly did not).
    expect(key + " body validated", type(stream).__name__ == "StreamingChecksumBody", validated)
    head = s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
    expect(key + " head_object " + field, head.get(field), want)
    expect(key + " head_object ChecksumType", head.get("ChecksumType"), typ)


def put_object():
    body = os.urandom(256 << 10)
    resp = s3.put_object(Bucket=BUCKET, Key="single", Body=body)
    want = b64(crc32(body))
    expect("put_object ChecksumCRC32", resp.get("ChecksumCRC32"), want)
    expect("put_object ChecksumType", resp.get("ChecksumType"), "FULL_OBJECT")
    check_get("single", body, "ChecksumCRC32", want, "FULL_OBJECT", True)


def put_object_without_checksum():
    # A client that sends no checksum gets S3's default CRC64NVME.
    legacy = client(request_checksum_calculation="when_required")
    body = os.urandom(48 << 10)
    resp = legacy.put_object(Bucket=BUCKET, Key="legacy", Body=body)
    want = b64(crc64nvme(body))
    expect("put_object ChecksumCRC64NVME", resp.get("ChecksumCRC64NVME"), want)
    # botocore validates CRC64NVME only with awscrt installed.
    try:
        import awscrt  # noqa: F401

        crt = True
    except ImportError:
        crt = False
    check_get("legacy", body, "ChecksumCRC64NVME", want, "FULL_OBJECT", crt)


def upload_file_multipart(tmp):
    parts = [os.urandom(5 * MIB) for _ in range(4)] + [os.urandom(MIB + 3)]
    body = b"".join(parts)
    path = os.path.join(tmp, "big")
    with open(path, "wb") as f:
        f.write(body)
    cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)
    s3.upload_file(path, BUCKET, "big", Config=cfg)
    want = composite_crc32(parts)
    # A COMPOSITE value is not the body's checksum: botocore does not
    # validate it, but it must be the one S3 computes.
    check_get("big", body, "ChecksumCRC32", want, "COMPOSITE", False)
    # Downloading with s3transfer (ranged GETs) returns the same bytes.
    out = os.path.join(tmp, "big.out")
    s3.download_file(BUCKET, "big", out, Config=cfg)
    with open(out, "rb") as f:
        expect("download_file", f.read() == body, True)


def copy_keeps_checksum():
    resp = s3.copy_object(Bucket=BUCKET, Key="single-copy", CopySource={"Bucket": BUCKET, "Key": "single"})
    head = s3.head_object(Bucket=BUCKET, Key="single", ChecksumMode="ENABLED")
    expect("copy_object ChecksumCRC32", resp["CopyObjectResult"].get("ChecksumCRC32"), head["ChecksumCRC32"])


def refused(what, fn, code, message):
    try:
        fn()
    except ClientError as e:
        err = e.response["Error"]
        # AWS names the algorithms in lower case; versitygw, the reference
        # server, in upper case.
        expect(what + " error", (err.get("Code"), (err.get("Message") or "").lower()), (code, message.lower()))
        return
    raise AssertionError(what + ": succeeded, want " + code)


def algorithm_without_checksum_refused():
    # An x-amz-sdk-checksum-algorithm with neither an x-amz-checksum-*
    # value nor a trailer is what an SDK sends when it failed to attach the
    # checksum it meant to (aws-sdk-cpp issue 3859): S3 refuses it rather
    # than computing one, so nixbucket does too. Here boto3's CRC32 header
    # is dropped before signing, leaving the algorithm alone.
    c = client()

    def drop_value(request, **_):
        for name in [h for h in request.headers if h.lower().startswith("x-amz-checksum-")]:
            del request.headers[name]
    c.meta.events.register("before-sign.s3.PutObject", drop_value)
    refused("put_object with only x-amz-sdk-checksum-algorithm",
            lambda: c.put_object(Bucket=BUCKET, Key="algorithm-only", Body=b"body"),
            "InvalidRequest",
            "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.")
    try:
        s3.head_object(Bucket=BUCKET, Key="algorithm-only")
    except ClientError:
        return
    raise AssertionError("the refused put_object stored algorithm-only")


def composite_part_without_checksum_refused():
    # An upload created with SHA256 keeps a COMPOSITE checksum made of the
    # parts' checksums as the client computed them: a part sent without
    # one is refused, as S3 does. A FULL_OBJECT CRC32 upload's part may
    # come without; its checksum is computed.
    legacy = client(request_checksum_calculation="when_required")
    up = s3.create_multipart_upload(Bucket=BUCKET, Key="composite-bare", ChecksumAlgorithm="SHA256")
    refused("upload_part without a checksum to a SHA256 upload",
            lambda: legacy.upload_part(Bucket=BUCKET, Key="composite-bare", UploadId=up["UploadId"], PartNumber=1, Body=b"part"),
            "InvalidRequest", "Checksum Type mismatch occurred, expected checksum Type: sha256, actual checksum Type: null")
    s3.abort_multipart_upload(Bucket=BUCKET, Key="composite-bare", UploadId=up["UploadId"])

    body = b"full-object part"
    up = s3.create_multipart_upload(Bucket=BUCKET, Key="full-bare", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    part = legacy.upload_part(Bucket=BUCKET, Key="full-bare", UploadId=up["UploadId"], PartNumber=1, Body=body)
    expect("checksum of a bare part of a FULL_OBJECT upload", part.get("ChecksumCRC32"), b64(crc32(body)))
    done = s3.complete_multipart_upload(Bucket=BUCKET, Key="full-bare", UploadId=up["UploadId"], MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumCRC32": part["ChecksumCRC32"]}]})
    expect("FULL_OBJECT upload of a bare part ChecksumCRC32", done.get("ChecksumCRC32"), b64(crc32(body)))


def main():
    tmp = sys.argv[1] if len(sys.argv) > 1 else "."
    s3.create_bucket(Bucket=BUCKET)
    checks = [
        ("put_object", put_object),
        ("put_object_without_checksum", put_object_without_checksum),
        ("upload_file_multipart", lambda: upload_file_multipart(tmp)),
        ("copy_keeps_checksum", copy_keeps_checksum),
        ("algorithm_without_checksum_refused", algorithm_without_checksum_refused),
        ("composite_part_without_checksum_refused", composite_part_without_checksum_refused),
    ]
    failed = 0
    for name, fn in checks:
        try:
            fn()
            print("PASS", name, flush=True)
        except Exception as e:  # report every check, then fail
            failed += 1
            print("FAIL: %s: %s" % (name, e), flush=True)
            traceback.print_exc()
    if failed:
        sys.exit(1)
    print("ALL PASSED", len(checks))


if __name__ == "__main__":
    main()
