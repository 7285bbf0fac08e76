// Placeholder until the loader binding lands; replaced by its own issue's work.
#include "binding/common.h"

namespace carclass {
void InitLoader(Napi::Env, Napi::Object) {}
}  // namespace carclass
