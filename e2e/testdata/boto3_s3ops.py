#!/usr/bin/env python3
"""boto3 case for the operations modern clients use without asking.

Run by e2e/s3ops_test.go (TestBoto3ModernOps) against a live server:

    NB_ENDPOINT=http://127.0.0.1:PORT AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… \
    python3 boto3_s3ops.py

Prints one "PASS name" or "FAIL: name: why" line per check and
"ALL PASSED n" at the end; exits 1 if any check failed.
"""

import hashlib
import os

from botocore.exceptions import ClientError

from boto3_checks import MIB, check, client, summary

SRC, DST = "boto-ops-src", "boto-ops-dst"

s3 = client()


def error_code(fn):
    try:
        fn()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    return None, 200


s3.create_bucket(Bucket=SRC)
s3.create_bucket(Bucket=DST)
BIG = os.urandom(20 * MIB + 123)


@check
def managed_copy_uses_upload_part_copy():
    # upload_fileobj splits at boto3's 8 MiB default; copy() then copies
    # in 8 MiB ranges with UploadPartCopy.
    import io

    s3.upload_fileobj(io.BytesIO(BIG), SRC, "big")
    s3.copy({"Bucket": SRC, "Key": "big"}, DST, "big")
    got = s3.get_object(Bucket=DST, Key="big")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(BIG).digest(), "copied bytes differ"
    assert s3.head_object(Bucket=DST, Key="big")["ETag"] == s3.head_object(Bucket=SRC, Key="big")["ETag"]


@check
def upload_part_copy_ranges():
    up = s3.create_multipart_upload(Bucket=DST, Key="ranged")["UploadId"]
    parts = []
    for n, (a, b) in enumerate([(0, 5 * MIB - 1), (5 * MIB, 5 * MIB + 99)], 1):
        r = s3.upload_part_copy(Bucket=DST, Key="ranged", UploadId=up, PartNumber=n,
                                CopySource={"Bucket": SRC, "Key": "big"}, CopySourceRange=f"bytes={a}-{b}")
        want = '"' + hashlib.md5(BIG[a:b + 1]).hexdigest() + '"'
        assert r["CopyPartResult"]["ETag"] == want, (r["CopyPartResult"]["ETag"], want)
        parts.append({"PartNumber": n, "ETag": r["CopyPartResult"]["ETag"]})
    s3.complete_multipart_upload(Bucket=DST, Key="ranged", UploadId=up, MultipartUpload={"Parts": parts})
    got = s3.get_object(Bucket=DST, Key="ranged")["Body"].read()
    assert got == BIG[:5 * MIB + 100]
    code = error_code(lambda: s3.upload_part_copy(Bucket=DST, Key="ranged2", UploadId=up, PartNumber=1,
                                                  CopySource={"Bucket": SRC, "Key": "big"}))
    assert code == ("NoSuchUpload", 404), code


@check
def tagging():
    s3.put_object(Bucket=SRC, Key="t", Body=b"x", Tagging="a=1&b=2")
    got = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=SRC, Key="t")["TagSet"]}
    assert got == {"a": "1", "b": "2"}, got
    assert s3.get_object(Bucket=SRC, Key="t")["TagCount"] == 2
    tags = [{"Key": f"k{i}", "Value": "v"} for i in range(11)]
    code = error_code(lambda: s3.put_object_tagging(Bucket=SRC, Key="t", Tagging={"TagSet": tags}))
    assert code == ("BadRequest", 400), code
    code = error_code(lambda: s3.put_object_tagging(Bucket=SRC, Key="t", Tagging={"TagSet": [{"Key": "k" * 129, "Value": "v"}]}))
    assert code == ("InvalidTag", 400), code
    # The aws: prefix is AWS's own; S3 refuses it on every way of tagging.
    code = error_code(lambda: s3.put_object_tagging(Bucket=SRC, Key="t", Tagging={"TagSet": [{"Key": "aws:cloudformation:stack-name", "Value": "v"}]}))
    assert code == ("InvalidTag", 400), code
    code = error_code(lambda: s3.put_object(Bucket=SRC, Key="t-aws", Body=b"x", Tagging="aws%3Ax=1"))
    assert code == ("InvalidTag", 400), code
    assert error_code(lambda: s3.head_object(Bucket=SRC, Key="t-aws"))[1] == 404
    s3.delete_object_tagging(Bucket=SRC, Key="t")
    assert s3.get_object_tagging(Bucket=SRC, Key="t")["TagSet"] == []


@check
def list_object_versions_paginates():
    for i in range(7):
        s3.put_object(Bucket=DST, Key=f"v/{i}", Body=b"v")
    keys = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=DST, Prefix="v/", PaginationConfig={"PageSize": 3}):
        for v in page.get("Versions", []):
            assert v["VersionId"] == "null" and v["IsLatest"], v
            keys.append(v["Key"])
        assert not page.get("DeleteMarkers"), page
    assert keys == [f"v/{i}" for i in range(7)], keys
    assert "Status" not in s3.get_bucket_versioning(Bucket=DST)
    code = error_code(lambda: s3.put_bucket_versioning(Bucket=DST, VersioningConfiguration={"Status": "Enabled"}))
    assert code == ("NotImplemented", 501), code


@check
def cleanup_by_versions_empties_a_bucket():
    # What SDK and Terraform cleanup code does before DeleteBucket.
    b = "boto-ops-cleanup"
    s3.create_bucket(Bucket=b)
    for i in range(5):
        s3.put_object(Bucket=b, Key=f"k{i}", Body=b"x")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=b):
        objs = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", [])]
        if objs:
            s3.delete_objects(Bucket=b, Delete={"Objects": objs})
    s3.delete_bucket(Bucket=b)


@check
def object_attributes():
    r = s3.get_object_attributes(Bucket=SRC, Key="big", ObjectAttributes=["ETag", "ObjectParts", "ObjectSize", "StorageClass"])
    assert r["ObjectSize"] == len(BIG), r
    assert r["ObjectParts"]["TotalPartsCount"] == 3, r["ObjectParts"]
    assert r["StorageClass"] == "STANDARD"
    assert '"' + r["ETag"] + '"' == s3.head_object(Bucket=SRC, Key="big")["ETag"]


@check
def acls_disabled():
    acl = s3.get_bucket_acl(Bucket=SRC)
    assert [g["Permission"] for g in acl["Grants"]] == ["FULL_CONTROL"], acl["Grants"]
    code = error_code(lambda: s3.put_object(Bucket=SRC, Key="pub", Body=b"x", ACL="public-read"))
    assert code == ("AccessControlListNotSupported", 400), code
    s3.put_object(Bucket=SRC, Key="owned", Body=b"x", ACL="bucket-owner-full-control")
    code = error_code(lambda: s3.put_object(Bucket=SRC, Key="locked", Body=b"x", ObjectLockLegalHoldStatus="ON"))
    assert code == ("InvalidRequest", 400), code
    code = error_code(lambda: s3.head_bucket(Bucket=SRC, ExpectedBucketOwner="111122223333"))
    assert code[1] == 403, code


summary()
