#pragma once
// Uploading a report to an S3-compatible bucket: one PUT through libcurl, signed by libcurl's own AWS
// Signature Version 4 (CURLOPT_AWS_SIGV4). libcurl is loaded on first use, like libgit2: a run that
// uploads nothing never pays for loading it and the TLS libraries behind it.

#include <chrono>
#include <expected>
#include <string>

#include "engine/report_settings.h"

namespace reconcile::engine {

/// Credentials and region as the AWS tools find them.
struct AwsCredentials {
  std::string access_key;
  std::string secret_key;
  std::string session_token;  // "" unless temporary credentials
  std::string region;         // "" when nothing says
  std::string source;         // "environment" or the credentials file, for messages
};

/// AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, else the profile (AWS_PROFILE, else
/// "default") of AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials; the region from AWS_REGION,
/// AWS_DEFAULT_REGION, else the profile in AWS_CONFIG_FILE or ~/.aws/config.
std::expected<AwsCredentials, std::string> aws_credentials();

/// The object key of a report: <prefix><host>/<started, as 20261203T140857.123Z>.json.
std::string s3_object_key(const S3Target& target, const std::string& host, const std::string& started);
/// The URL of an object: ENDPOINT/BUCKET/KEY (path-style) with an endpoint, else
/// https://BUCKET.s3.REGION.amazonaws.com/KEY; the key percent-encoded except '/'.
std::string s3_object_url(const S3Target& target, const std::string& region, const std::string& key);

/// PUTs `body` as the object `key`; "s3://bucket/key" on success, else why (the HTTP status and S3's error code).
std::expected<std::string, std::string> s3_put(const S3Target& target, const std::string& key, const std::string& body,
                                               const std::string& content_type,
                                               std::chrono::seconds timeout = std::chrono::seconds(60));

}  // namespace reconcile::engine
