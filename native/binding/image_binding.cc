// Placeholder until the image binding lands; replaced by its own issue's work.
#include "binding/common.h"

namespace carclass {
void InitImage(Napi::Env, Napi::Object) {}
}  // namespace carclass
