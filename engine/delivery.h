#pragma once
// Report delivery: once a run is over (apply or dry run, valid input or not), its report goes where the
// `report:` section says (engine/report_settings.h). Each channel is tried on its own; a failure is recorded
// in the report (`delivery` in the JSON, a line in `failures`, so the exit code gains the failure bit 4),
// logged on stderr, and never undoes or stops anything: the run's changes stay, the other channels go on.
//
// Order: copies, metrics, mail, the S3 upload, standard output, then the history and the latest report
// (<dir>/last-report.{txt,json}), which therefore hold the outcome of every other channel. Files are written
// atomically (temporary file, fsync, rename), only over regular files, under the host's root.

#include <string>

#include "engine/report.h"
#include "engine/report_settings.h"
#include "providers/exec.h"
#include "providers/host.h"

namespace reconcile::engine {

/// What the caller of a run wants of delivery (RunOptions::delivery).
struct DeliveryRequest {
  bool enabled = true;        // false: deliver nothing (`--no-deliver`)
  bool caller_prints = false; // the caller prints the report on stdout itself (the CLI): no stdout channel
  bool always = false;        // deliver every run even without a report: section (the daemon: its dry runs and
                              // its invalid states are reported too)
};

/// Whether a run with these settings delivers at all: when the state has a report: section (or had, for an
/// invalid state: see settings_for_run) or the caller asks, every run; otherwise only an apply of a valid state
/// (the latest report and history in the default directory). Without a section a preview, and a run whose
/// input is invalid, write nothing.
bool delivers(const Report& report, const ReportSettings& settings, const DeliveryRequest& request);

/// Delivers `report` (see the header comment); the outcome of each channel is appended to report.deliveries.
void deliver(Report& report, const ReportSettings& settings, const providers::Host& host, providers::Exec& exec,
             const DeliveryRequest& request);

/// The settings a run delivers with: the state's section when it is valid; when the state is invalid, the
/// last valid settings this process saw (a daemon keeps mailing while an edit is broken), else the defaults.
ReportSettings settings_for_run(const resources::Node* section, bool section_valid);

/// Something drifted, changed or failed, or the input was invalid: what `mail: changes` mails.
bool worth_mailing(const Report& report);
/// "reconcile on web1: 2 changed, 1 failed, 30 in sync"
std::string mail_subject(const Report& report);
/// The whole message for `sendmail -t -oi`: headers (To, Subject, Date, Auto-Submitted, MIME) and the text report.
std::string render_mail(const Report& report, const std::vector<std::string>& to);
/// node_exporter's textfile-collector format: HELP and TYPE lines, gauges of the run.
std::string render_metrics(const Report& report);
/// Seconds since the epoch of one of the report's ISO 8601 UTC times; 0 when it does not parse.
double epoch_seconds(const std::string& iso8601);

}  // namespace reconcile::engine
