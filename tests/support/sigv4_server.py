#!/usr/bin/python3
"""A minimal S3 endpoint for tests that checks AWS Signature Version 4 of each request independently of libcurl
(Python's hmac and hashlib, after the AWS documentation), which s3rver does not. PUT stores an object, GET returns
it; a bad signature is 403 SignatureDoesNotMatch. Usage: sigv4_server.py ACCESS_KEY SECRET_KEY REGION; prints
"listening on 127.0.0.1:PORT" once ready."""

import hashlib
import hmac
import http.server
import re
import sys

ACCESS, SECRET, REGION = sys.argv[1:4]
OBJECTS = {}


def signature(method, path, headers, signed, payload_hash, date):
    canonical = "\n".join([method, path.split("?")[0], path.split("?")[1] if "?" in path else "",
                           "".join(f"{name}:{headers[name].strip()}\n" for name in signed), ";".join(signed),
                           payload_hash])
    scope = f"{date[:8]}/{REGION}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = ("AWS4" + SECRET).encode()
    for part in (date[:8], REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", content_type="application/xml"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code):
        self.reply(status, f"<Error><Code>{code}</Code><Message>{code}</Message></Error>".encode())

    def verified(self, body):
        headers = {k.lower(): v for k, v in self.headers.items()}
        match = re.fullmatch(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/s3/aws4_request, "
                             r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})", headers.get("authorization", ""))
        if not match:
            self.error(403, "AccessDenied")
            return False
        access, _, region, signed, provided = match.groups()
        if access != ACCESS or region != REGION:
            self.error(403, "InvalidAccessKeyId")
            return False
        signed = signed.split(";")
        payload = headers.get("x-amz-content-sha256")
        if payload is None or "x-amz-content-sha256" not in signed or "host" not in signed:
            self.error(400, "InvalidRequest")
            return False
        if payload != "UNSIGNED-PAYLOAD" and payload != hashlib.sha256(body).hexdigest():
            self.error(400, "XAmzContentSHA256Mismatch")
            return False
        if not hmac.compare_digest(signature(self.command, self.path, headers, signed, payload,
                                             headers.get("x-amz-date", "")), provided):
            self.error(403, "SignatureDoesNotMatch")
            return False
        return True

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.verified(body):
            OBJECTS[self.path] = body
            self.reply(200)

    def do_GET(self):
        if self.verified(b""):
            if self.path in OBJECTS:
                self.reply(200, OBJECTS[self.path], "application/json")
            else:
                self.error(404, "NoSuchKey")


server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
print(f"listening on 127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
