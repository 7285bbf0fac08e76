// Placeholder until the model binding lands; replaced by its own issue's work.
#include "binding/common.h"

namespace carclass {
void InitModel(Napi::Env, Napi::Object) {}
}  // namespace carclass
