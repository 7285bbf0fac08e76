// Geometry (TF crop_or_pad, TF half-pixel bilinear, PIL nearest), Keras preprocessing and the
// seed's augmentation. Exact rules: shared/docs/REFERENCE.md section 2.
#pragma once
#include <cstdint>
#include <string>

#include "image/jpeg.h"

namespace carclass::image {

enum class Resize { CropOrPad, Bilinear, Nearest };
enum class Preprocess { Tf, Caffe, None };

Resize ParseResize(const std::string& name);
Preprocess ParsePreprocess(const std::string& name);
Dct ParseDct(const std::string& name);

// Writes `src` resized to outHeight x outWidth x 3 into `dstFloat` (tf, caffe) or `dstU8` (none).
// Bilinear values are rounded to nearest for 'none'. Padding is value 0 before preprocessing.
// crop_or_pad + tf writes around the cache (streaming stores: batches are far larger than the
// caches) unless `keepInCache`, for a caller that reads the sample back at once (augmentation).
void Render(const RgbImage& src, int outHeight, int outWidth, Resize resize, Preprocess preprocess, float* dstFloat,
            uint8_t* dstU8, bool keepInCache = false);

// Per-image augmentation decided from (seed, epoch, index) alone.
struct AugmentDraw {
  bool applied = false;     // with probability p
  bool flip = false;        // p 0.5 when applied
  float brightness = 0.f;   // [-0.1, 0.1)
  float contrast = 1.f;     // [0.8, 1.2)
  bool adjustContrast = true;  // false: the contrast pass is skipped ((x - m) * 1 + m is not always x in float)
};
AugmentDraw DrawAugment(uint64_t seed, int64_t epoch, int64_t index, double probability);
// Flip, then brightness (no clipping), then contrast around each channel's mean; HWC float.
void ApplyAugment(float* hwc, int height, int width, const AugmentDraw& draw);

// uint8 batches: the loader renders with Preprocess::None, flips in uint8 and records each
// sample's brightness, contrast and channel means; the consumer (engine, batchPixels) preprocesses
// and adjusts. The result equals Render(tf/caffe) + ApplyAugment bit for bit for crop_or_pad and
// nearest; for bilinear the uint8 rounding (at most 0.5 before preprocessing) remains.
struct SampleAdjust {
  float brightness = 0.f;
  float contrast = 1.f;
  float mean[3] = {0.f, 0.f, 0.f};  // per output channel, of the preprocessed + brightened sample
  bool applied = false;
  bool adjustContrast = true;  // as AugmentDraw: false skips the contrast pass, as ApplyAugment does
};
void FlipHorizontalU8(uint8_t* hwc, int height, int width);
// The adjustment ApplyAugment would make to this (already flipped) sample once preprocessed:
// the means come from the same float sums in the same order.
SampleAdjust AdjustFor(const uint8_t* hwc, int height, int width, Preprocess p, const AugmentDraw& draw);
// `pixels` RGB uint8 pixels to preprocessed floats (caffe: BGR minus mean), then brightness and
// contrast when `adjust` is applied: ((x + b) - mean) * contrast + mean, ApplyAugment's operations.
void PreprocessU8(const uint8_t* hwc, size_t pixels, Preprocess p, const SampleAdjust* adjust, float* out);
// The tf/caffe constants, for a device that does the same arithmetic: x / 127.5 - 1, x - mean (BGR).
constexpr float kTfScale = 127.5f;
extern const float kCaffeMeanBgr[3];

}  // namespace carclass::image
