// The one addon: each concern's binding file registers its own exports.
#include "binding/common.h"

static Napi::Object InitCarclass(Napi::Env env, Napi::Object exports) {
  carclass::InitRuntime(env, exports);
  carclass::InitImage(env, exports);
  carclass::InitLoader(env, exports);
  carclass::InitModel(env, exports);
  carclass::InitFeatures(env, exports);
  carclass::InitDistributed(env, exports);
  return exports;
}

NODE_API_MODULE(carclass, InitCarclass)
