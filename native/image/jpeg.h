// JPEG decode/encode with TurboJPEG, following tf.io.decode_jpeg (fancy upsampling, no scaling,
// EXIF orientation ignored). Output is always packed RGB uint8.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "image/image_error.h"

namespace carclass::image {

enum class Dct { Fast, Accurate };

struct DecodeOptions {
  Dct dct = Dct::Fast;
  bool lenient = false;               // accept libjpeg warnings (truncated data, junk bytes)
  int64_t maxPixels = 50'000'000;     // checked from the header before any pixel allocation
};

struct RgbImage {
  int height = 0, width = 0;
  std::vector<uint8_t> pixels;  // height * width * 3
};

// Decodes into `out`, reusing its capacity (the loader keeps one per thread).
void DecodeJpeg(const uint8_t* data, size_t size, const DecodeOptions& options, RgbImage& out);
RgbImage DecodeJpeg(const uint8_t* data, size_t size, const DecodeOptions& options);

// Same image DecodeJpeg gives, but when it is taller than `maxRows` only its central `maxRows` rows
// (crop_or_pad's row crop: offset (height - maxRows) / 2) are kept, and only those are IDCT'd,
// upsampled and colour-converted (the rest is still entropy-decoded, so corrupt or truncated data
// is detected as before). Anything unusual (CMYK, warnings, errors) goes through DecodeJpeg itself,
// so errors and lenient results are the same.
void DecodeJpegCenterRows(const uint8_t* data, size_t size, const DecodeOptions& options, int maxRows, RgbImage& out);

// Reads a whole file into `out`; throws ImageError FILE_NOT_FOUND / FILE_UNREADABLE / FILE_EMPTY.
void ReadFile(const std::string& path, std::vector<uint8_t>& out);
RgbImage DecodeJpegFile(const std::string& path, const DecodeOptions& options);

// Baseline JPEG, 4:2:0 subsampling, from packed RGB.
std::vector<uint8_t> EncodeJpeg(const uint8_t* rgb, int width, int height, int quality);

}  // namespace carclass::image
