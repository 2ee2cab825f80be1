#pragma once
// The composition root: every kind and provider a reconcile binary has, registered in one function. The engine
// compiles without any of them; a new kind is one block here.

#include "engine/registry.h"

namespace reconcile::builtin {

/// The registry with every built-in kind and provider.
engine::Registry registry();

}  // namespace reconcile::builtin
