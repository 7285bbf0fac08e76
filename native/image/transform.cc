#include "image/transform.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#elif defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "image/random.h"

namespace carclass::image {

Resize ParseResize(const std::string& name) {
  if (name == "crop_or_pad") return Resize::CropOrPad;
  if (name == "bilinear") return Resize::Bilinear;
  if (name == "nearest") return Resize::Nearest;
  throw ImageError("INVALID_ARGUMENT", "unknown resize '" + name + "'");
}

Preprocess ParsePreprocess(const std::string& name) {
  if (name == "tf") return Preprocess::Tf;
  if (name == "caffe") return Preprocess::Caffe;
  if (name == "none") return Preprocess::None;
  throw ImageError("INVALID_ARGUMENT", "unknown preprocess '" + name + "'");
}

Dct ParseDct(const std::string& name) {
  if (name == "fast") return Dct::Fast;
  if (name == "accurate") return Dct::Accurate;
  throw ImageError("INVALID_ARGUMENT", "unknown dct '" + name + "'");
}

const float kCaffeMeanBgr[3] = {103.939f, 116.779f, 123.68f};

namespace {

// Output channel c reads source channel SourceChannel(c): caffe wants BGR.
int SourceChannel(Preprocess p, int c) { return p == Preprocess::Caffe ? 2 - c : c; }

// Same float32 operations as Keras: x / 127.5 - 1, or x - mean.
float PreprocessValue(Preprocess p, int outChannel, float x) {
  if (p == Preprocess::Tf) return x / kTfScale - 1.0f;
  return x - kCaffeMeanBgr[outChannel];
}

// Lookup table per output channel for integer inputs.
struct Table {
  std::array<std::array<float, 256>, 3> values;
  explicit Table(Preprocess p) {
    for (int c = 0; c < 3; ++c)
      for (int v = 0; v < 256; ++v) values[c][v] = PreprocessValue(p, c, float(v));
  }
};

const Table& TableFor(Preprocess p) {
  static const Table tf(Preprocess::Tf), caffe(Preprocess::Caffe);
  return p == Preprocess::Caffe ? caffe : tf;
}

// Axis plan for resize_with_crop_or_pad: crop first, then pad; odd extra goes bottom/right.
struct Span {
  int srcStart, dstStart, count;
};
Span CropOrPadSpan(int in, int out) {
  if (in >= out) return {(in - out) / 2, 0, out};
  return {0, (out - in) / 2, in};
}

// Writes pixels from a per-output-pixel source index (nearest resize) through the table.
void WriteMapped(const RgbImage& src, const std::vector<int>& rows, const std::vector<int>& cols, Preprocess p,
                 float* dstF, uint8_t* dstU8) {
  const int outW = int(cols.size());
  if (p == Preprocess::None) {
    for (size_t y = 0; y < rows.size(); ++y) {
      uint8_t* d = dstU8 + y * outW * 3;
      const uint8_t* srcRow = src.Row(rows[y]);
      for (int x = 0; x < outW; ++x, d += 3) {
        const uint8_t* s = srcRow + size_t(cols[x]) * 3;
        d[0] = s[0]; d[1] = s[1]; d[2] = s[2];
      }
    }
    return;
  }
  const Table& table = TableFor(p);
  const int c0 = SourceChannel(p, 0), c2 = SourceChannel(p, 2);
  for (size_t y = 0; y < rows.size(); ++y) {
    float* d = dstF + y * outW * 3;
    const uint8_t* srcRow = src.Row(rows[y]);
    for (int x = 0; x < outW; ++x, d += 3) {
      const uint8_t* s = srcRow + cols[x] * 3;
      d[0] = table.values[0][s[c0]];
      d[1] = table.values[1][s[1]];
      d[2] = table.values[2][s[c2]];
    }
  }
}

// tf preprocessing of one contiguous run: same float32 expression as the table (division, then
// subtraction: bit-identical), simple enough for the compiler to vectorise.
void TfRun(const uint8_t* __restrict src, size_t count, float* __restrict dst) {
  for (size_t i = 0; i < count; ++i) dst[i] = float(src[i]) / 127.5f - 1.0f;
}

#if defined(__x86_64__) && defined(__GNUC__)
// Batch buffers are far larger than the caches: streaming stores skip the read-for-ownership of
// every output line, which otherwise costs more than the arithmetic.
__attribute__((target("avx2"))) void TfRunStreamAvx2(const uint8_t* __restrict src, size_t count, float* __restrict dst) {
  size_t i = 0;
  for (; i < count && (reinterpret_cast<uintptr_t>(dst + i) & 31) != 0; ++i) dst[i] = float(src[i]) / 127.5f - 1.0f;
  const __m256 divisor = _mm256_set1_ps(127.5f), one = _mm256_set1_ps(1.0f);
  for (; i + 8 <= count; i += 8) {
    const __m128i bytes = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(src + i));
    const __m256 values = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
    _mm256_stream_ps(dst + i, _mm256_sub_ps(_mm256_div_ps(values, divisor), one));
  }
  for (; i < count; ++i) dst[i] = float(src[i]) / 127.5f - 1.0f;
}
bool HasAvx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#endif

// caffe preprocessing of one contiguous run of pixels (RGB -> BGR minus the mean).
void CaffeRun(const uint8_t* __restrict src, size_t pixels, float* __restrict dst) {
  for (size_t i = 0; i < pixels; ++i, src += 3, dst += 3)
    for (int c = 0; c < 3; ++c) dst[c] = PreprocessValue(Preprocess::Caffe, c, float(src[SourceChannel(Preprocess::Caffe, c)]));
}

// Padding (source value 0, preprocessed) for `pixels` float pixels.
void FillPadding(Preprocess p, float* dst, size_t pixels) {
  const float pad[3] = {PreprocessValue(p, 0, 0.0f), PreprocessValue(p, 1, 0.0f), PreprocessValue(p, 2, 0.0f)};
  for (size_t i = 0; i < pixels; ++i, dst += 3) {
    dst[0] = pad[0];
    dst[1] = pad[1];
    dst[2] = pad[2];
  }
}

// crop_or_pad rows are one contiguous source run between two pads: a copy ('none') or one
// preprocessing pass per row, no per-pixel index.
void RenderCropOrPad(const RgbImage& src, int outH, int outW, Preprocess p, float* dstF, uint8_t* dstU8, bool keepInCache) {
  const Span rows = CropOrPadSpan(src.height, outH), cols = CropOrPadSpan(src.width, outW);
  const size_t rowValues = size_t(outW) * 3, left = size_t(cols.dstStart), run = size_t(cols.count);
  const size_t right = size_t(outW) - left - run;
  for (int y = 0; y < outH; ++y) {
    const int sy = y - rows.dstStart;
    const bool padRow = sy < 0 || sy >= rows.count;
    const uint8_t* s = padRow ? nullptr : src.Row(rows.srcStart + sy) + size_t(cols.srcStart) * 3;
    if (p == Preprocess::None) {
      uint8_t* d = dstU8 + y * rowValues;
      if (padRow) {
        std::memset(d, 0, rowValues);
      } else {
        std::memset(d, 0, left * 3);
        std::memcpy(d + left * 3, s, run * 3);
        std::memset(d + (left + run) * 3, 0, right * 3);
      }
      continue;
    }
    float* d = dstF + y * rowValues;
    if (padRow) {
      FillPadding(p, d, size_t(outW));
      continue;
    }
    FillPadding(p, d, left);
    float* body = d + left * 3;
    if (p == Preprocess::Caffe) {
      CaffeRun(s, run, body);
    } else {
#if defined(__x86_64__) && defined(__GNUC__)
      if (HasAvx2() && !keepInCache) TfRunStreamAvx2(s, run * 3, body);
      else TfRun(s, run * 3, body);
#else
      TfRun(s, run * 3, body);
#endif
    }
    FillPadding(p, body + run * 3, right);
  }
#if defined(__x86_64__) && defined(__GNUC__)
  _mm_sfence();  // streaming stores become visible before the batch is handed over
#endif
}

// PIL's NEAREST resize (ImagingScaleAffine): source = floor of an accumulated (i + 0.5) * scale.
std::vector<int> NearestIndex(int in, int out) {
  std::vector<int> index(out);
  const double scale = double(in) / out;
  double position = scale * 0.5;
  for (int i = 0; i < out; ++i, position += scale) index[i] = std::min(int(position), in - 1);
  return index;
}

// TF half-pixel bilinear coefficients for one axis, in float32 as TF computes them.
struct Lerp {
  int lo, hi;
  float t;
};
std::vector<Lerp> BilinearAxis(int in, int out) {
  std::vector<Lerp> axis(out);
  const float scale = float(in) / float(out);
  for (int i = 0; i < out; ++i) {
    const float src = (float(i) + 0.5f) * scale - 0.5f;
    const float floorSrc = std::floor(src);
    axis[i].lo = std::max(int(floorSrc), 0);
    axis[i].hi = std::min(int(std::ceil(src)), in - 1);
    axis[i].t = src - floorSrc;
  }
  return axis;
}

// Separable: each source row is interpolated horizontally once (into a cache of two rows, as
// consecutive output rows share source rows), then each output row blends two of those. The float32
// operations and their order are TF's, per value: upper = tl + (tr - tl) * tx, the same for lower,
// value = upper + (lower - upper) * ty. One instance per preprocessing keeps branches out of the loops.
template <Preprocess P>
void RenderBilinearAs(const RgbImage& src, int outH, int outW, float* dstF, uint8_t* dstU8) {
  const std::vector<Lerp> ys = BilinearAxis(src.height, outH), xs = BilinearAxis(src.width, outW);
  const size_t values = size_t(outW) * 3;
  // Per output value: where its two source samples are (caffe reads BGR) and the weight.
  std::vector<uint32_t> left(values), right(values);
  std::vector<float> weight(values);
  for (int x = 0; x < outW; ++x) {
    for (int c = 0; c < 3; ++c) {
      const int sc = SourceChannel(P, c);
      const size_t j = size_t(x) * 3 + c;
      left[j] = uint32_t(xs[x].lo * 3 + sc);
      right[j] = uint32_t(xs[x].hi * 3 + sc);
      weight[j] = xs[x].t;
    }
  }
  // An output row's two source rows are equal or adjacent, so caching row r in slot r % 2 never
  // evicts the other one in use.
  std::vector<float> cache(2 * values);
  int cachedRow[2] = {-1, -1};
  const auto horizontal = [&](int row) -> const float* {
    const int k = row & 1;
    float* h = cache.data() + size_t(k) * values;
    if (cachedRow[k] == row) return h;
    const uint8_t* s = src.Row(row);
    for (size_t j = 0; j < values; ++j) {
      const float a = s[left[j]], b = s[right[j]];
      h[j] = a + (b - a) * weight[j];
    }
    cachedRow[k] = row;
    return h;
  };
  for (int y = 0; y < outH; ++y) {
    const float* upper = horizontal(ys[y].lo);
    const float* lower = horizontal(ys[y].hi);
    const float ty = ys[y].t;
    const size_t rowBase = size_t(y) * values;
    for (size_t j = 0; j < values; ++j) {
      const float value = upper[j] + (lower[j] - upper[j]) * ty;
      if constexpr (P == Preprocess::None) {
        dstU8[rowBase + j] = uint8_t(std::clamp(std::lround(value), 0L, 255L));
      } else {
        dstF[rowBase + j] = PreprocessValue(P, int(j % 3), value);
      }
    }
  }
}

void RenderBilinear(const RgbImage& src, int outH, int outW, Preprocess p, float* dstF, uint8_t* dstU8) {
  switch (p) {
    case Preprocess::Tf: return RenderBilinearAs<Preprocess::Tf>(src, outH, outW, dstF, dstU8);
    case Preprocess::Caffe: return RenderBilinearAs<Preprocess::Caffe>(src, outH, outW, dstF, dstU8);
    case Preprocess::None: return RenderBilinearAs<Preprocess::None>(src, outH, outW, dstF, dstU8);
  }
}

}  // namespace

void Render(const RgbImage& src, int outH, int outW, Resize resize, Preprocess p, float* dstF, uint8_t* dstU8,
            bool keepInCache) {
  if (outH <= 0 || outW <= 0) throw ImageError("INVALID_ARGUMENT", "output size must be positive");
  if (src.height <= 0 || src.width <= 0) throw ImageError("INVALID_ARGUMENT", "empty source image");
  switch (resize) {
    case Resize::CropOrPad:
      return RenderCropOrPad(src, outH, outW, p, dstF, dstU8, keepInCache);
    case Resize::Nearest:
      WriteMapped(src, NearestIndex(src.height, outH), NearestIndex(src.width, outW), p, dstF, dstU8);
      return;
    case Resize::Bilinear:
      RenderBilinear(src, outH, outW, p, dstF, dstU8);
      return;
  }
}

namespace {
float UniformBelow(CounterRng& rng, float lo, float hi) {
  float v = float(lo + (double(hi) - lo) * rng.NextUnit());
  return v < hi ? v : std::nextafter(hi, lo);  // float rounding must not reach the open end
}
}  // namespace

AugmentDraw DrawAugment(uint64_t seed, int64_t epoch, int64_t index, double probability) {
  CounterRng rng(StreamKey(seed, kDomainAugment, uint64_t(epoch), uint64_t(index)));
  AugmentDraw draw;
  // Always consume the same draws so each one keeps its meaning whatever p is.
  const double gate = rng.NextUnit();
  const double flip = rng.NextUnit();
  const float brightness = UniformBelow(rng, -0.1f, 0.1f);
  const float contrast = UniformBelow(rng, 0.8f, 1.2f);
  draw.applied = gate < probability;
  if (draw.applied) {
    draw.flip = flip < 0.5;
    draw.brightness = brightness;
    draw.contrast = contrast;
  }
  return draw;
}

namespace {

// ApplyAugment's sums run over flat runs of 12 values (4 pixels, a multiple of the 3 channels:
// value k of a run is channel k % 3) so that the compiler vectorises them.
constexpr size_t kRun = 12;

// Adds `brightness` to one row in place and adds the row's values to `sums` (per run position).
// Each row is summed in float while it is in L1 (at most a few thousand values), and the row sums
// are added up in double. ApplyAugment and AdjustFor share it, so their means agree bit for bit.
void BrightenAndSumRow(float* row, size_t rowValues, float brightness, double sums[kRun]) {
  float rowSums[kRun] = {};
  size_t i = 0;
#if defined(__SSE2__)
  // The same additions in the same order as the loop below, four lanes at a time.
  const __m128 add = _mm_set1_ps(brightness);
  __m128 sum0 = _mm_setzero_ps(), sum1 = _mm_setzero_ps(), sum2 = _mm_setzero_ps();
  for (; i + kRun <= rowValues; i += kRun) {
    const __m128 v0 = _mm_add_ps(_mm_loadu_ps(row + i), add);
    const __m128 v1 = _mm_add_ps(_mm_loadu_ps(row + i + 4), add);
    const __m128 v2 = _mm_add_ps(_mm_loadu_ps(row + i + 8), add);
    _mm_storeu_ps(row + i, v0);
    _mm_storeu_ps(row + i + 4, v1);
    _mm_storeu_ps(row + i + 8, v2);
    sum0 = _mm_add_ps(sum0, v0);
    sum1 = _mm_add_ps(sum1, v1);
    sum2 = _mm_add_ps(sum2, v2);
  }
  _mm_storeu_ps(rowSums, sum0);
  _mm_storeu_ps(rowSums + 4, sum1);
  _mm_storeu_ps(rowSums + 8, sum2);
#endif
  for (; i + kRun <= rowValues; i += kRun) {
    for (size_t k = 0; k < kRun; ++k) {
      const float v = row[i + k] + brightness;
      row[i + k] = v;
      rowSums[k] += v;
    }
  }
  for (size_t k = 0; i < rowValues; ++i, ++k) {
    row[i] += brightness;
    rowSums[k] += row[i];
  }
  for (size_t k = 0; k < kRun; ++k) sums[k] += rowSums[k];
}

// Per-channel means of the brightened image, repeated over a run.
void MeansFromSums(const double sums[kRun], size_t pixels, float means[kRun]) {
  for (int c = 0; c < 3; ++c) {
    double sum = 0;
    for (size_t k = size_t(c); k < kRun; k += 3) sum += sums[k];
    means[c] = float(sum / double(pixels));
  }
  for (size_t k = 3; k < kRun; ++k) means[k] = means[k % 3];
}

}  // namespace

void ApplyAugment(float* hwc, int height, int width, const AugmentDraw& draw) {
  if (!draw.applied) return;
  if (draw.brightness == 0.f && !draw.adjustContrast) {  // flip only: the pixels move, their values stay bit for bit
    if (!draw.flip) return;
    for (int y = 0; y < height; ++y) {
      float* row = hwc + size_t(y) * width * 3;
      for (int a = 0, b = width - 1; a < b; ++a, --b)
        for (int c = 0; c < 3; ++c) std::swap(row[a * 3 + c], row[b * 3 + c]);
    }
    return;
  }
  const float contrast = draw.contrast;  // a local: `hwc` may not alias it
  const size_t pixels = size_t(height) * width, rowValues = size_t(width) * 3;
  double sums[kRun] = {};
  for (int y = 0; y < height; ++y) {
    float* row = hwc + size_t(y) * rowValues;
    if (draw.flip) {
      for (int a = 0, b = width - 1; a < b; ++a, --b)
        for (int c = 0; c < 3; ++c) std::swap(row[a * 3 + c], row[b * 3 + c]);
    }
    BrightenAndSumRow(row, rowValues, draw.brightness, sums);
  }
  if (!draw.adjustContrast) return;
  float means[kRun];
  MeansFromSums(sums, pixels, means);
  const size_t values = pixels * 3;
  size_t i = 0;
#if defined(__SSE2__)
  const __m128 factor = _mm_set1_ps(contrast);
  const __m128 mean0 = _mm_loadu_ps(means), mean1 = _mm_loadu_ps(means + 4), mean2 = _mm_loadu_ps(means + 8);
  for (; i + kRun <= values; i += kRun) {
    float* v = hwc + i;
    _mm_storeu_ps(v, _mm_add_ps(_mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(v), mean0), factor), mean0));
    _mm_storeu_ps(v + 4, _mm_add_ps(_mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(v + 4), mean1), factor), mean1));
    _mm_storeu_ps(v + 8, _mm_add_ps(_mm_mul_ps(_mm_sub_ps(_mm_loadu_ps(v + 8), mean2), factor), mean2));
  }
#endif
  for (; i + kRun <= values; i += kRun)
    for (size_t k = 0; k < kRun; ++k) hwc[i + k] = (hwc[i + k] - means[k]) * contrast + means[k];
  for (size_t k = 0; i < values; ++i, ++k) hwc[i] = (hwc[i] - means[k]) * contrast + means[k];
}

void FlipHorizontalU8(uint8_t* hwc, int height, int width) {
  for (int y = 0; y < height; ++y) {
    uint8_t* row = hwc + size_t(y) * width * 3;
    for (int a = 0, b = width - 1; a < b; ++a, --b)
      for (int c = 0; c < 3; ++c) std::swap(row[a * 3 + c], row[b * 3 + c]);
  }
}

SampleAdjust AdjustFor(const uint8_t* hwc, int height, int width, Preprocess p, const AugmentDraw& draw) {
  SampleAdjust adjust;
  if (!draw.applied) return adjust;
  if (p == Preprocess::None) throw ImageError("INVALID_ARGUMENT", "augmentation needs preprocess 'tf' or 'caffe'");
  adjust.applied = true;
  adjust.brightness = draw.brightness;
  adjust.contrast = draw.contrast;
  adjust.adjustContrast = draw.adjustContrast;
  const size_t rowValues = size_t(width) * 3;
  std::vector<float> row(rowValues);  // one preprocessed row at a time, as the float path holds it
  double sums[kRun] = {};
  for (int y = 0; y < height; ++y) {
    PreprocessU8(hwc + size_t(y) * rowValues, size_t(width), p, nullptr, row.data());
    BrightenAndSumRow(row.data(), rowValues, draw.brightness, sums);
  }
  float means[kRun];
  MeansFromSums(sums, size_t(height) * width, means);
  for (int c = 0; c < 3; ++c) adjust.mean[c] = means[c];
  return adjust;
}

void PreprocessU8(const uint8_t* hwc, size_t pixels, Preprocess p, const SampleAdjust* adjust, float* out) {
  if (p == Preprocess::None) {
    for (size_t i = 0; i < pixels * 3; ++i) out[i] = float(hwc[i]);
    return;
  }
  const Table& table = TableFor(p);
  const int c0 = SourceChannel(p, 0), c2 = SourceChannel(p, 2);
  if (!adjust || !adjust->applied) {
    for (size_t i = 0; i < pixels; ++i, hwc += 3, out += 3) {
      out[0] = table.values[0][hwc[c0]];
      out[1] = table.values[1][hwc[1]];
      out[2] = table.values[2][hwc[c2]];
    }
    return;
  }
  // Separate float operations in ApplyAugment's order (this file is built without FP contraction).
  const float b = adjust->brightness, k = adjust->contrast;
  const float m0 = adjust->mean[0], m1 = adjust->mean[1], m2 = adjust->mean[2];
  if (!adjust->adjustContrast) {  // brightness only (or a bare flip: + 0 keeps every value)
    for (size_t i = 0; i < pixels; ++i, hwc += 3, out += 3) {
      out[0] = table.values[0][hwc[c0]] + b;
      out[1] = table.values[1][hwc[1]] + b;
      out[2] = table.values[2][hwc[c2]] + b;
    }
    return;
  }
  for (size_t i = 0; i < pixels; ++i, hwc += 3, out += 3) {
    const float v0 = table.values[0][hwc[c0]] + b, v1 = table.values[1][hwc[1]] + b, v2 = table.values[2][hwc[c2]] + b;
    out[0] = (v0 - m0) * k + m0;
    out[1] = (v1 - m1) * k + m1;
    out[2] = (v2 - m2) * k + m2;
  }
}

}  // namespace carclass::image
