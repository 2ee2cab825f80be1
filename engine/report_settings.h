#pragma once
// The `report:` settings section: where a run's report goes once the run is over (engine/delivery.h).
//
//   report:
//     dir: /var/lib/reconcile        # last-report.{txt,json} and reports/ (the history)
//     history: 30                    # reports kept in <dir>/reports; 0 keeps none
//     copies: [{path: /tmp/latest.txt, format: text, mode: "0600"}]
//     mail_to: [root@localhost]      # through /usr/sbin/sendmail -t -oi
//     mail: changes                  # changes (drift, changes, failures, errors) | always
//     s3: {bucket: B, prefix: P, region: R, endpoint: URL}
//     metrics: /var/lib/prometheus/node-exporter/reconcile.prom
//     stdout: auto                   # auto: when no copy, mail, upload or metrics is configured

#include <optional>
#include <string>
#include <vector>

#include "resources/kind.h"
#include "resources/node.h"

namespace reconcile::engine {

/// How a copy of the report is rendered.
enum class ReportFormat { kText, kJson };
/// When the report is mailed.
enum class MailWhen { kChanges, kAlways };
/// When the report is printed on standard output.
enum class StdoutWhen { kAuto, kAlways, kNever };

/// One extra copy of the latest report.
struct ReportCopy {
  std::string path;  // absolute, on the host
  ReportFormat format = ReportFormat::kText;
  unsigned mode = 0600;
};

/// An S3-compatible bucket the JSON report is uploaded to.
struct S3Target {
  std::string bucket;
  std::string prefix;    // object keys are <prefix><host>/<started>.json
  std::string region;    // "": AWS_REGION, AWS_DEFAULT_REGION, the profile's region, else us-east-1
  std::string endpoint;  // "": https://s3.<region>.amazonaws.com (virtual-hosted); else path-style at this URL
};

/// Everything the `report:` section says, with its defaults.
struct ReportSettings {
  bool present = false;  // the state has a report: section
  std::string dir = "/var/lib/reconcile";
  bool dir_given = false;
  int history = 30;
  std::vector<ReportCopy> copies;
  std::vector<std::string> mail_to;
  MailWhen mail = MailWhen::kChanges;
  std::optional<S3Target> s3;
  std::string metrics;  // "": none
  StdoutWhen stdout_when = StdoutWhen::kAuto;
};

/// Reads and checks a `report:` node; errors go to the reader (then the result is incomplete).
ReportSettings read_report_settings(const resources::Node& node, resources::NodeReader& reader);

/// The section as registered in builtin/builtin.cc.
resources::SectionSpec report_section();

}  // namespace reconcile::engine
