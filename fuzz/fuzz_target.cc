// One libFuzzer binary per target of fuzz/targets.h, chosen at compile time by RECONCILE_FUZZ_TARGET.

#include <cstddef>
#include <cstdint>

#include "fuzz/targets.h"

#define RECONCILE_FUZZ_STRINGIFY2(x) #x
#define RECONCILE_FUZZ_STRINGIFY(x) RECONCILE_FUZZ_STRINGIFY2(x)

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto& target = reconcile::fuzz::targets().at(RECONCILE_FUZZ_STRINGIFY(RECONCILE_FUZZ_TARGET));
  target(reconcile::fuzz::as_text(data, size));
  return 0;
}
