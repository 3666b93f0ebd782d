"""Drives a bucket's CORS configuration through boto3 for e2e/cors_test.go.

usage: cors_client.py put ORIGIN | get | delete | bad | anonymous
Prints one line: what the server answered.
"""
import os
import sys

import boto3
import botocore
from botocore.config import Config
from botocore.exceptions import ClientError


def client(anonymous=False):
    cfg = Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1})
    if anonymous:
        cfg = cfg.merge(Config(signature_version=botocore.UNSIGNED))
    return boto3.client(
        "s3",
        endpoint_url=os.environ["NB_ENDPOINT"],
        region_name="us-east-1",
        config=cfg,
    )


def main():
    bucket = os.environ["NB_BUCKET"]
    cmd = sys.argv[1]
    s3 = client(anonymous=(cmd == "anonymous"))
    rules = {
        "CORSRules": [
            {
                "ID": "page",
                "AllowedOrigins": [sys.argv[2] if len(sys.argv) > 2 else "https://example.org"],
                "AllowedMethods": ["GET", "HEAD"],
                "AllowedHeaders": ["*"],
                "ExposeHeaders": ["ETag", "x-amz-request-id"],
                "MaxAgeSeconds": 60,
            }
        ]
    }
    try:
        if cmd in ("put", "anonymous"):
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=rules)
            print("put ok")
        elif cmd == "get":
            r = s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]
            print("get", r["ID"], ",".join(r["AllowedOrigins"]), ",".join(r["AllowedMethods"]),
                  ",".join(r.get("AllowedHeaders", [])), ",".join(r.get("ExposeHeaders", [])), r.get("MaxAgeSeconds"))
        elif cmd == "delete":
            s3.delete_bucket_cors(Bucket=bucket)
            print("delete ok")
        elif cmd == "bad":
            rules["CORSRules"][0]["AllowedMethods"] = ["PATCH"]
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=rules)
            print("put ok")
    except ClientError as e:
        err = e.response["Error"]
        print("error", e.response["ResponseMetadata"]["HTTPStatusCode"], err.get("Code"), err.get("Message"))


main()
