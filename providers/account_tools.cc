#include "providers/account_tools.h"

#include <chrono>

namespace reconcile::providers {

ExecResult run_account_tool(const Host& host, std::vector<std::string> argv, std::vector<Step>& steps) {
  if (host.root != "/" && !host.root.empty()) argv.insert(argv.begin() + 1, {"--root", host.root.string()});
  ExecRequest request;
  request.argv = std::move(argv);
  request.extra_env = {"LC_ALL=C"};
  request.timeout = std::chrono::minutes(2);
  const ExecResult result = host.exec->run(request);
  steps.push_back(step_of(request.argv, result));
  return result;
}

}  // namespace reconcile::providers
