// A batch as the loader produces it and the engine consumes it.
// Layout contract: pixels are NHWC, contiguous, float32, or uint8: raw for preprocessing 'none', or
// with `preprocess` (tf/caffe) and `adjust` still to apply (uint8 batches: the engine does it on the
// device). The engine views float NHWC as NCHW in channels_last memory format, so no copy is needed.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "image/transform.h"

namespace carclass {

struct Batch {
  int64_t size = 0;      // samples actually present (skipped files are not counted)
  int64_t height = 0, width = 0, channels = 3;
  bool isUint8 = false;  // pixels are in pixelsU8
  image::Preprocess preprocess = image::Preprocess::None;  // still to apply to pixelsU8
  bool features = false; // pixels hold cached head inputs (feature cache): height x width x channels is their shape
  std::vector<float> pixels;        // size * height * width * channels when !isUint8
  std::vector<uint8_t> pixelsU8;    // same when isUint8
  std::vector<int32_t> labels;      // size entries, -1 when unknown
  std::vector<float> sampleWeights; // empty, or size entries
  std::vector<image::SampleAdjust> adjust;  // uint8 batches with augmentation: size entries, else empty
  std::vector<std::string> files;   // size entries
  std::vector<int64_t> indices;     // position of each sample in the loader's file list
  int64_t epoch = 0;
  int64_t number = 0;               // batch number within the epoch

  const float* data() const { return pixels.data(); }
};

using BatchPtr = std::shared_ptr<Batch>;

}  // namespace carclass
