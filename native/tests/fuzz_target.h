// The decoder fuzz target shared by the libFuzzer harness and the mutation fuzzer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "image/decode.h"
#include "image/jpeg.h"
#include "image/png.h"
#include "image/transform.h"

namespace carclass::fuzz {

// PNG input: libpng through DecodePng, strict and lenient. A strict success must give the same
// pixels in lenient mode (lenient only accepts more, never changes what strict accepted).
inline void PngTarget(const uint8_t* data, size_t size, const image::DecodeOptions& base) {
  image::DecodeOptions strict = base, lenient = base;
  strict.lenient = false;
  lenient.lenient = true;
  image::RgbImage a, b;
  bool strictOk = true;
  try { image::DecodePng(data, size, strict, a); } catch (const image::ImageError&) { strictOk = false; }
  try { image::DecodePng(data, size, lenient, b); } catch (const image::ImageError&) {
    if (strictOk) std::abort();
    return;
  }
  if (strictOk) {
    if (a.height != b.height || a.width != b.width) std::abort();
    for (int y = 0; y < a.height; ++y) if (std::memcmp(a.Row(y), b.Row(y), size_t(a.width) * 3) != 0) std::abort();
  }
}

// Decodes arbitrary bytes with options picked from the data, then resizes and preprocesses.
// Only ImageError may escape the decoder; anything else (or a sanitizer report) is a bug.
inline int DecodeTarget(const uint8_t* data, size_t size) {
  image::DecodeOptions options;
  const uint8_t selector = size ? data[size - 1] : 0;
  options.dct = (selector & 1) ? image::Dct::Accurate : image::Dct::Fast;
  options.lenient = (selector & 2) != 0;
  options.maxPixels = 4'000'000;  // keeps each run fast and memory small
  if (image::IsPng(data, size)) PngTarget(data, size, options);
  // The row-skipping decode for crop_or_pad must give the central rows of the full decode (or the
  // whole image when it fell back), or exactly the same error.
  {
    const int maxRows = 1 + (selector >> 4);
    image::RgbImage full, rows;
    std::string fullError, rowsError;
    try { image::DecodeJpeg(data, size, options, full); } catch (const image::ImageError& e) { fullError = e.what(); }
    try { image::DecodeJpegCenterRows(data, size, options, maxRows, rows); } catch (const image::ImageError& e) { rowsError = e.what(); }
    if (fullError != rowsError) std::abort();
    if (fullError.empty()) {
      const bool whole = rows.height == full.height;
      const int first = whole ? 0 : (full.height - maxRows) / 2;
      if (rows.width != full.width || (!whole && (full.height <= maxRows || rows.height != maxRows))) std::abort();
      for (int y = 0; y < rows.height; ++y) {
        if (std::memcmp(rows.Row(y), full.Row(first + y), size_t(full.width) * 3) != 0) std::abort();
      }
    }
  }
  try {
    image::RgbImage rgb = image::DecodeImageBytes(data, size, options);
    static const image::Resize kResize[] = {image::Resize::CropOrPad, image::Resize::Bilinear, image::Resize::Nearest};
    std::vector<float> out(17 * 23 * 3);
    image::Render(rgb, 17, 23, kResize[(selector >> 2) % 3], image::Preprocess::Tf, out.data(), nullptr);
    image::AugmentDraw draw = image::DrawAugment(selector, 0, size, 1.0);
    image::ApplyAugment(out.data(), 17, 23, draw);
  } catch (const image::ImageError&) {
  }
  return 0;
}

}  // namespace carclass::fuzz
